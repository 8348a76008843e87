//! `dip denoise`'s default stopping rule against its targets, on the committed watched
//! runs (`results/cpu/stopping/`, `results/cpu/stopping-sizes/`, and the whole images
//! of `results/paper/stopping/`): every group of runs
//! the book's table shows meets them, and the 64² group holds all nine images. The
//! same for the runs of `dip denoise --fast` (`results/cpu/stopping-fast/`).

use std::path::Path;

use dip::reproduce::record::Record;
use dip::reproduce::tables::{default_groups, fast_groups, Group, TARGETS};

fn committed_records() -> Vec<Record> {
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    dip::reproduce::load_records(&results).unwrap()
}

/// Whether `g` meets the targets, saying its numbers either way.
fn check(g: &Group) {
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

#[test]
fn the_default_meets_its_targets_on_every_recorded_group() {
    let groups = default_groups(&committed_records());
    let crops = groups
        .iter()
        .find(|g| g.label == "64², σ = 25")
        .expect("the cpu stopping runs followed the default");
    assert_eq!(
        crops.runs.len(),
        dip::reproduce::paper::DENOISING_IMAGES.len()
    );
    groups.iter().for_each(check);
}

/// `--fast`'s runs are paired with the standard net's (all nine 64² crops), and the
/// default rule meets its targets on the narrow net too.
#[test]
fn the_default_meets_its_targets_on_the_fast_net() {
    let groups = fast_groups(&committed_records());
    let crops = groups
        .iter()
        .find(|g| g.label == "64², σ = 25")
        .expect("the stopping-fast runs are recorded");
    assert_eq!(
        crops.pairs.len(),
        dip::reproduce::paper::DENOISING_IMAGES.len()
    );
    for g in &groups {
        let (mean, worst) = g.costs();
        eprintln!(
            "--fast on {}: mean cost {mean:+.2} dB, worst {worst:+.2}",
            g.label
        );
        check(&g.fast_runs());
    }
}
