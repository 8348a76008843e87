//! The settings the chapters state in prose are the ones the code runs: each sentence
//! below is rebuilt from the catalogue (`dip::reproduce::plan`) and the metrics, and
//! must appear in its chapter (whitespace and line breaks aside). Change a setting
//! and the chapter's sentence fails here until it is rewritten.

use std::path::Path;

use dip::metrics::PAPER_SR_TRIM;
use dip::reproduce::plan::{self, Experiment, Job, Preset};
use dip::tasks::Framing;

fn chapter(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("chapters")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn assert_states(name: &str, sentence: &str) {
    let text = chapter(name);
    assert!(
        text.contains(sentence),
        "{name} no longer states «{sentence}», what the code runs"
    );
}

fn first_job(preset: Preset, experiment: Experiment, image: &str) -> Job {
    plan::jobs(preset, &[experiment], &[image.to_string()], None, 1)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {experiment:?} job for {image}"))
}

/// Compact decimals as the chapters write them: 0.001, 0.01, 0.03.
fn num(x: f64) -> String {
    format!("{x}")
}

#[test]
fn inpainting_states_the_table1_settings() {
    let job = first_job(Preset::Paper, Experiment::Table1, "barbara");
    let f = &job.fit;
    assert_states(
        "inpainting.md",
        &format!(
            "learning rate {}, {} iterations, $\\sigma_p = {}$",
            num(f.lr),
            f.iterations,
            num(f.reg_noise_std)
        ),
    );
    let Framing::ReflectBorder(border) = job.framing else {
        panic!("Table 1 is framed by a reflected border")
    };
    let side = 512 + 2 * border;
    assert_states(
        "inpainting.md",
        &format!("reflection-padded to {side} × {side}"),
    );
    assert_states(
        "inpainting.md",
        &format!("multiple of {}", f.rollback_every),
    );
    // The cpu preset: the same settings on crops.
    let cpu = first_job(Preset::Cpu, Experiment::Table1, "barbara");
    assert_eq!((cpu.fit.lr, cpu.fit.iterations), (f.lr, f.iterations));
    assert_states(
        "inpainting.md",
        &format!(
            "the paper's {} iterations and learning rate {}",
            cpu.fit.iterations,
            num(cpu.fit.lr)
        ),
    );
}

#[test]
fn denoising_states_the_paper_settings() {
    let job = first_job(Preset::Paper, Experiment::Denoising, "F16");
    let f = &job.fit;
    // σ_p = 1/30, as the reference writes it.
    assert!((f.reg_noise_std - 1.0 / 30.0).abs() < 1e-12);
    assert_states(
        "denoising.md",
        &format!(
            "learning rate {}, {} iterations, $\\sigma_p = 1/30$",
            num(f.lr),
            f.iterations
        ),
    );
}

#[test]
fn super_resolution_states_the_settings_and_the_papers_border() {
    let x4 = first_job(Preset::Paper, Experiment::Sr, "set5-x4-baby");
    let x8 = first_job(Preset::Paper, Experiment::Sr, "set5-x8-baby");
    assert_eq!(x4.fit.lr, x8.fit.lr);
    assert_states(
        "super-resolution.md",
        &format!(
            "learning rate {}, {} iterations and $\\sigma_p = {}$ for ×4, {} iterations and $\\sigma_p = {}$ for ×8",
            num(x4.fit.lr),
            x4.fit.iterations,
            num(x4.fit.reg_noise_std),
            x8.fit.iterations,
            num(x8.fit.reg_noise_std)
        ),
    );
    let t = PAPER_SR_TRIM;
    assert_eq!((t.top, t.bottom), (t.left, t.right));
    let border = format!(
        "{} pixels at the top and left and {} at the bottom and right",
        t.top, t.bottom
    );
    for name in ["super-resolution.md", "deep-image-prior.md", "results.md"] {
        assert_states(name, &border);
    }
}

#[test]
fn the_cpu_presets_crops_and_the_long_stopping_run_are_as_stated() {
    use dip::reproduce::plan::Cut;
    let side = |experiment, image| match first_job(Preset::Cpu, experiment, image).cut {
        Cut::CentreCrop(n) => n,
        other => panic!("the cpu preset's {experiment:?} runs on crops, not {other:?}"),
    };
    let n = side(Experiment::Stopping, "F16");
    assert_eq!(side(Experiment::Denoising, "F16"), n);
    assert_eq!(side(Experiment::Table1, "barbara"), n);
    assert_states(
        "fitting.md",
        &format!(
            "denoising's settings on a {n} × {n} crop, continued well past the paper's iterations"
        ),
    );
    assert_states("discussion.md", &format!("on {n} × {n} centre crops"));
    // "Continued well past the paper's iterations": the watched run is longer.
    let watched = first_job(Preset::Cpu, Experiment::Stopping, "F16")
        .fit
        .iterations;
    let paper = first_job(Preset::Paper, Experiment::Denoising, "F16")
        .fit
        .iterations;
    assert!(
        watched > paper,
        "{watched} iterations watched, the paper's {paper}"
    );
}
