//! What the chapters say in words of the PyTorch twins of our runs
//! (`results/pytorch/`, `benches/torch_twin.py`), checked against the records.

use std::path::Path;

use dip::reproduce::plan::Experiment;
use dip::reproduce::record::Record;
use dip::reproduce::tables::{comparisons, pooled, TWIN_ALPHA};

fn committed() -> (Vec<Record>, Vec<Record>) {
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    (
        dip::reproduce::load_records(&results).unwrap(),
        dip::reproduce::load_twin_records(&results).unwrap(),
    )
}

/// The denoising chapter: on the cpu crops ours and the twin agree within their seed
/// spread, image by image and all nine together, and the twin falls as far short of
/// the authors' outputs as ours (within 0.2 dB, by more than 1 dB).
#[test]
fn denoising_crops_agree_with_the_twin_and_share_the_gap_to_the_authors() {
    let (ours, twins) = committed();
    let images = comparisons(&ours, &twins, Experiment::Denoising, "cpu");
    assert_eq!(images.len(), dip::reproduce::paper::DENOISING_IMAGES.len());
    for c in &images {
        let w = c.test.as_ref().expect("three seeds a side");
        eprintln!(
            "{}: ours − twin {:+.2} dB, p = {:.3}",
            c.image, w.difference, w.p
        );
        assert!(w.p >= TWIN_ALPHA, "{}: p = {}", c.image, w.p);
    }
    let all = pooled(&ours, &twins, Experiment::Denoising, "cpu").expect("nine images");
    let authors = all.authors.expect("the authors' outputs");
    eprintln!(
        "all: ours {:.2}, twin {:.2}, authors {authors:.2}, p = {:.3}",
        all.ours, all.twin, all.test.p
    );
    assert!(all.test.p >= TWIN_ALPHA, "pooled p = {}", all.test.p);
    assert!((all.ours - all.twin).abs() <= 0.2);
    assert!(all.twin - authors < -1.0 && all.ours - authors < -1.0);
}
