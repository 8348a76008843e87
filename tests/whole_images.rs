//! What the book's chapters say in words of the committed whole-image runs at the paper
//! preset (`results/paper/`), checked against the records.

use std::path::Path;

use dip::reproduce::plan::Experiment;

/// The denoising chapter: on the whole House image the paper's 3000 iterations are too
/// many — the averaged output peaked well before the end and above the authors'
/// output on the same pixels, and the final output has fitted much of the noise back.
#[test]
fn whole_house_denoising_peaks_early_and_fits_the_noise_back() {
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    let records = dip::reproduce::load_records(&results).unwrap();
    let house = records
        .iter()
        .find(|r| {
            r.preset == "paper" && r.experiment == Experiment::Denoising && r.image == "house"
        })
        .expect("the paper preset's denoising record of house");
    let (best, at) = (house.best_psnr.unwrap(), house.best_iteration.unwrap());
    let (last, authors) = (house.final_psnr.unwrap(), house.authors_psnr.unwrap());
    eprintln!(
        "house: best {best:.2} dB at {at} of {}, final {last:.2}, the authors' {authors:.2}",
        house.iterations
    );
    assert!(at < house.iterations / 2, "peaked at {at}");
    assert!(best > authors, "best {best:.2} ≤ the authors' {authors:.2}");
    assert!(last < best - 3.0, "final {last:.2} against best {best:.2}");
}
