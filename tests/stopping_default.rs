//! `dip denoise`'s default stopping rule against its targets, on the committed watched
//! runs (`results/cpu/stopping/`, `results/cpu/stopping-sizes/`): every group of runs
//! the book's table shows meets them, and the 64² group holds all nine images.

use std::path::Path;

use dip::reproduce::tables::{default_groups, TARGETS};

#[test]
fn the_default_meets_its_targets_on_every_recorded_group() {
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    let records = dip::reproduce::load_records(&results).unwrap();
    let groups = default_groups(&records);
    let crops = groups
        .iter()
        .find(|g| g.label == "64², σ = 25")
        .expect("the cpu stopping runs followed the default");
    assert_eq!(
        crops.runs.len(),
        dip::reproduce::paper::DENOISING_IMAGES.len()
    );
    for g in &groups {
        let (mean, worst, fixed) = g.gaps();
        eprintln!(
            "{}: {} runs, mean gap {mean:+.2} dB, worst {worst:+.2}, to the fixed {fixed:+.2}",
            g.label,
            g.runs.len()
        );
        assert!(
            g.meets_targets(),
            "{}: mean {mean:+.2} (target ≥ −{}), worst {worst:+.2} (≥ −{}), fixed {fixed:+.2} (≥ −{})",
            g.label,
            TARGETS.mean_gap,
            TARGETS.worst_gap,
            TARGETS.below_fixed
        );
    }
}
