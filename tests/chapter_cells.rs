//! The code cells of the chapters, run as tests.
//!
//! A chapter shows its own code (what it runs, as opposed to the crate's code it
//! explains) by including it from here by anchor
//! (`{{#include ../tests/chapter_cells.rs:fitting-fit}}`), and `dip notebooks` makes
//! each such code block a code cell of the chapter's notebook in `code/`. Here, each
//! chapter's cells run in reading order, in one test, so `cargo test` compiles and
//! runs every cell of every notebook (outside the notebook kernel, where `show()`
//! prints a line instead of an image). `tests/notebooks.rs` checks that the order
//! here is the chapters' order.
//!
//! A cell is top-level code in a notebook: so that the book and the notebook show it
//! as written, the cells are not indented (and these functions are not formatted by
//! rustfmt). What a cell defines must be something a notebook can keep from one cell
//! to the next: no references or closures in variables; and a chapter imports each
//! name once.

mod common;

#[allow(dead_code)]
#[path = "../examples/denoise.rs"]
mod denoise_example;

use std::sync::Once;

/// The cells find the images with `dip::notebooks::data_dir()`, which reads
/// `DIP_DATA`: set it to the tests' data folder (once, before any test reads it).
/// `None` when `relative` is missing and the data are not required (the test is skipped).
fn data(relative: &[&str]) -> Option<()> {
    static SET: Once = Once::new();
    SET.call_once(|| {
        if std::env::var_os("DIP_DATA").is_none_or(|v| v.is_empty()) {
            std::env::set_var("DIP_DATA", common::data_dir());
        }
    });
    for r in relative {
        common::data_file(r)?;
    }
    Some(())
}

#[test]
#[rustfmt::skip]
fn deep_image_prior() -> anyhow::Result<()> {
if data(&["dip-repo/denoising/F16_GT.png"]).is_none() {
    return Ok(());
}
// ANCHOR: deep-image-prior-input
use dip::display::Row;
use dip::input::{self, InputKind};
use dip::rng::Rng;
use dip::Image;

// z for a 64 × 64 image, and the input of one iteration: z plus fresh noise, σp = 1/30.
let device = dip::device::auto();
let z = input::network_input(InputKind::Noise { channels: 32 }, 64, 64, &mut Rng::new(0), &device)?;
let perturbed = input::perturbed(&z, 1.0 / 30.0, &mut Rng::new(1))?;
// Their first three channels as a colour image, ×10 to fill [0, 1).
let z_rgb = Image::from_tensor(&(z.narrow(1, 0, 3)? * 10.0)?)?;
let perturbed_rgb = Image::from_tensor(&(perturbed.narrow(1, 0, 3)? * 10.0)?)?;
Row::new().with("z", &z_rgb).with("z + noise", &perturbed_rgb).show();
// ANCHOR_END: deep-image-prior-input

// ANCHOR: deep-image-prior-energy
use dip::metrics;
use dip::tasks::denoising;

// The centre 64 × 64 of F16, and a copy with noise of σ = 25 (on the 8-bit scale).
let data = dip::notebooks::data_dir();
let f16 = Image::load(data.image("dip-repo/denoising/F16_GT.png")?)?;
let clean = f16.crop(224, 224, 64, 64)?;
let noisy = denoising::add_noise(&clean, 25.0 / 255.0, &mut Rng::new(0));

// The denoising energy at the clean image is the mean square of the noise: about σ²
// (a little less, as the noisy image is clipped to [0, 1]).
let problem = denoising::problem(&noisy, Some(&clean), 32, &device)?;
let energy = problem.energy(&clean.to_tensor(&device)?)?.to_scalar::<f32>()? as f64;
println!("E(x; x0) = {energy:.5}, σ² = {:.5}", (25.0f64 / 255.0).powi(2));
// ANCHOR_END: deep-image-prior-energy
assert!((energy - (25.0f64 / 255.0).powi(2)).abs() < 1e-3);

// ANCHOR: deep-image-prior-psnr
// The PSNR of the noisy crop, from the energy and from dip::metrics.
let psnr = metrics::psnr(&clean, &noisy)?;
println!("10·log10(1/E) = {:.2} dB, metrics::psnr = {psnr:.2} dB", -10.0 * energy.log10());
Row::new().with("clean", &clean).with(format!("noisy, {psnr:.2} dB"), &noisy).show();
// ANCHOR_END: deep-image-prior-psnr
assert!((psnr + 10.0 * energy.log10()).abs() < 0.01);
Ok(())
}

#[test]
#[rustfmt::skip]
fn network() -> anyhow::Result<()> {
// ANCHOR: network-random-output
use candle_core::Module;
use dip::input::{self, InputKind};
use dip::net::{SkipConfig, SkipNet};
use dip::rng::Rng;
use dip::Image;

// The standard network, its first layers, and its output for a 128 × 128 input z.
let device = dip::device::auto();
let config = SkipConfig::standard(32, 3);
let net = SkipNet::new(&config, 0, &device)?;
for line in net.describe().iter().take(4) {
    println!("{line}");
}
println!("... {} parameters in all", net.parameter_count());
let noise = InputKind::Noise { channels: 32 };
let z = input::network_input(noise, 128, 128, &mut Rng::new(0), &device)?;
Image::from_tensor(&net.forward(&z)?)?.show();
// ANCHOR_END: network-random-output
// The reference implementation's count for a colour image (the chapter quotes it).
assert_eq!(net.parameter_count(), 2_217_831);
// A colour image of the input's size, in (0, 1) (the last layer is a sigmoid), and not flat.
let out = Image::from_tensor(&net.forward(&z)?)?;
assert_eq!((out.channels, out.height, out.width), (3, 128, 128));
assert!(out.data.iter().all(|v| *v > 0.0 && *v < 1.0));
let mean = out.data.iter().sum::<f32>() / out.data.len() as f32;
let var = out.data.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / out.data.len() as f32;
assert!(var > 1e-6, "a flat output: variance {var}");
Ok(())
}

#[test]
#[rustfmt::skip]
fn fitting() -> anyhow::Result<()> {
if data(&["dip-repo/denoising/F16_GT.png"]).is_none() {
    return Ok(());
}
// ANCHOR: fitting-fit
use dip::fit::{fit, Control, FitConfig};
use dip::net::{SkipConfig, SkipNet};
use dip::rng::Rng;
use dip::tasks::denoising;
use dip::Image;

// Small, to run in under a minute on a CPU. The paper's run: (512, 3000), the whole image.
let (side, iterations) = (64, 150);

let device = dip::device::auto();
let data = dip::notebooks::data_dir();
let image = Image::load(data.image("dip-repo/denoising/F16_GT.png")?)?;
let clean = image.crop((image.height - side) / 2, (image.width - side) / 2, side, side)?;
let noisy = denoising::add_noise(&clean, 25.0 / 255.0, &mut Rng::new(0));
let problem = denoising::problem(&noisy, Some(&clean), 32, &device)?;
// The paper averages the outputs (exp_weight 0.99); over 150 iterations the average
// still holds the first, poor outputs, so this short run shows the last output.
let config = FitConfig { iterations, exp_weight: None, ..FitConfig::paper_denoising() };
let net = SkipNet::new(&SkipConfig::standard(32, 3), config.seed, &device)?;
let result = fit(net, &problem, &config, &mut |_| Control::Continue)?;
result.show();
// ANCHOR_END: fitting-fit
assert_eq!(result.history.len(), iterations);
// On its way, the output gets closer to the clean image than the noisy one is.
let best = result.history.iter().filter_map(|s| s.psnr_clean).fold(f64::MIN, f64::max);
assert!(best > dip::metrics::psnr(&clean, &noisy)?, "best {best}");

// ANCHOR: fitting-impedance
use dip::display::Chart;
use dip::reproduce::plan::{curve_target, CurveTarget};

// Each target fitted for this many iterations (Figure 2 of the paper: 2400), no input
// noise, no averaging; their loss, on a log scale.
let iterations = 20;
let mut chart = Chart::new("Fitting four targets", "iteration", "log10 MSE loss");
for (name, target) in [
    ("image", CurveTarget::Image),
    ("image + noise", CurveTarget::ImageNoise),
    ("shuffled pixels", CurveTarget::Shuffled),
    ("U(0, 1) noise", CurveTarget::Noise),
] {
    let x0 = curve_target(&clean, target, &mut Rng::new(1));
    let problem = denoising::problem(&x0, None, 32, &device)?;
    let config = FitConfig {
        iterations,
        reg_noise_std: 0.0,
        exp_weight: None,
        rollback_drop_db: None,
        ..FitConfig::paper_denoising()
    };
    let net = SkipNet::new(&SkipConfig::standard(32, 3), config.seed, &device)?;
    let result = fit(net, &problem, &config, &mut |_| Control::Continue)?;
    chart = chart.line(name, result.history.iter().map(|s| (s.iteration as f64, s.loss.log10())));
}
chart.show();
// ANCHOR_END: fitting-impedance
assert_eq!(chart.series.len(), 4);
// The natural image is fitted faster than noise.
let last = |i: usize| chart.series[i].points.last().unwrap().1;
assert!(last(0) < last(3), "image {} noise {}", last(0), last(3));
Ok(())
}

#[test]
#[rustfmt::skip]
fn denoising() -> anyhow::Result<()> {
if data(&["denoising-cbm3d9/image_House256rgb.png"]).is_none() {
    return Ok(());
}
// ANCHOR: denoising-run
use dip::display::Row;
use dip::fit::{fit, Control};
use dip::net::SkipNet;
use dip::reproduce::{plan, Experiment, Preset};

// Denoising's own settings, from the plan: the run on House as the quick preset makes it
// (the paper's run on the centre 64 × 64, fewer iterations, a narrower net), beside the
// paper's run. `job = paper` runs the paper's: the whole image (hours on a CPU).
let (experiment, image) = (Experiment::Denoising, "house");
let images = vec![image.to_string()];
let job = plan::jobs(Preset::Quick, &[experiment], &images, None, 1).remove(0);
let paper = plan::jobs(Preset::Paper, &[experiment], &images, None, 1).remove(0);
for (preset, j) in [("quick", &job), ("paper", &paper)] {
    let settings = &j.fit;
    println!(
        "{preset}: {}, {} iterations, lr {}, σp {:.3}, averaging {:?}, {} channels",
        j.cut.describe(), settings.iterations, settings.lr, settings.reg_noise_std,
        settings.exp_weight, j.net.channels_down[0]
    );
}

// The problem, the network and the fit, all from the job; then its PSNR, measured as
// `dip reproduce` measures it, beside the record that command wrote for the same job.
let device = dip::device::auto();
let replay = dip::notebooks::Replay::load()?;
let prepared = job.prepare(&replay.data, &device)?;
let net = SkipNet::new(&job.net, job.seed, &device)?;
let result = fit(net, &prepared.problem, &job.fit, &mut |_| Control::Continue)?;
let clean = prepared.clean.clone().ok_or_else(|| dip::DipError::invalid("no clean image"))?;
let psnr = prepared.problem.score.measure(&clean, result.restored())?;
let recorded = replay.record_of(&job).and_then(|r| r.final_psnr).unwrap_or(f64::NAN);
println!("this run: {psnr:.2} dB; the record of the same job in results/: {recorded:.2} dB");
let input = match &prepared.baseline {
    Some(b) => format!("{}, {:.2} dB", b.name, b.psnr.unwrap_or(f64::NAN)),
    None => "input".to_string(),
};
Row::new()
    .with(input, &prepared.input)
    .with(format!("restored, {psnr:.2} dB"), result.restored())
    .with("clean", &clean)
    .show();
// ANCHOR_END: denoising-run
// The same job gives its record's number: bit for bit with 2 threads and more (README);
// 0.05 dB leaves room for one thread's other order of sums.
assert!((psnr - recorded).abs() < 0.05, "{psnr} against the record's {recorded}");
let noisy = prepared.baseline.as_ref().and_then(|b| b.psnr).unwrap();
assert!(psnr > noisy, "restored {psnr} dB, noisy {noisy} dB");
assert_ne!(job.fit.iterations, paper.fit.iterations);
Ok(())
}

#[test]
#[rustfmt::skip]
fn inpainting() -> anyhow::Result<()> {
if data(&["inpainting-table1/barbara.png"]).is_none() {
    return Ok(());
}
// ANCHOR: inpainting-run
use dip::display::Row;
use dip::fit::{fit, Control};
use dip::net::SkipNet;
use dip::reproduce::{plan, Experiment, Preset};

// Inpainting's own settings, from the plan: Table 1's run on Barbara as the quick preset
// makes it (the published mask on the centre 64 × 64, fewer iterations, a narrower net),
// beside the paper's run. `job = paper` runs the paper's: the whole image (hours on a CPU).
let (experiment, image) = (Experiment::Table1, "barbara");
let images = vec![image.to_string()];
let job = plan::jobs(Preset::Quick, &[experiment], &images, None, 1).remove(0);
let paper = plan::jobs(Preset::Paper, &[experiment], &images, None, 1).remove(0);
for (preset, j) in [("quick", &job), ("paper", &paper)] {
    let settings = &j.fit;
    println!(
        "{preset}: {}, {} iterations, lr {}, σp {:.3}, averaging {:?}, {} channels",
        j.cut.describe(), settings.iterations, settings.lr, settings.reg_noise_std,
        settings.exp_weight, j.net.channels_down[0]
    );
}

// The problem, the network and the fit, all from the job; then its PSNR, measured as
// `dip reproduce` measures it, beside the record that command wrote for the same job.
let device = dip::device::auto();
let replay = dip::notebooks::Replay::load()?;
let prepared = job.prepare(&replay.data, &device)?;
let net = SkipNet::new(&job.net, job.seed, &device)?;
let result = fit(net, &prepared.problem, &job.fit, &mut |_| Control::Continue)?;
let clean = prepared.clean.clone().ok_or_else(|| dip::DipError::invalid("no clean image"))?;
let psnr = prepared.problem.score.measure(&clean, result.restored())?;
let recorded = replay.record_of(&job).and_then(|r| r.final_psnr).unwrap_or(f64::NAN);
println!("this run: {psnr:.2} dB; the record of the same job in results/: {recorded:.2} dB");
let input = match &prepared.baseline {
    Some(b) => format!("{}, {:.2} dB", b.name, b.psnr.unwrap_or(f64::NAN)),
    None => "input".to_string(),
};
Row::new()
    .with(input, &prepared.input)
    .with(format!("restored, {psnr:.2} dB"), result.restored())
    .with("clean", &clean)
    .show();
// ANCHOR_END: inpainting-run
// The same job gives its record's number: bit for bit with 2 threads and more (README);
// 0.05 dB leaves room for one thread's other order of sums.
assert!((psnr - recorded).abs() < 0.05, "{psnr} against the record's {recorded}");
let masked = prepared.baseline.as_ref().and_then(|b| b.psnr).unwrap();
assert!(psnr > masked, "restored {psnr} dB, masked {masked} dB");
assert_eq!(job.fit.lr, 0.01);
assert_eq!(paper.fit.lr, 0.001);
Ok(())
}

#[test]
#[rustfmt::skip]
fn super_resolution() -> anyhow::Result<()> {
// ANCHOR: super-resolution-taps
use dip::display::Chart;
use dip::downsampler::lanczos2_taps;

// The 16 taps of the ×4 filter; the 2-d kernel is their outer product, normalised.
let taps = lanczos2_taps(4);
Chart::new("Lanczos-2 taps, ×4", "tap", "weight")
    .line("w(d)", taps.iter().enumerate().map(|(i, &w)| (i as f64, w)))
    .show();
// ANCHOR_END: super-resolution-taps
assert_eq!(taps.len(), 16);
if data(&["set5/butterfly.png"]).is_none() {
    return Ok(());
}

// ANCHOR: super-resolution-run
use dip::display::Row;
use dip::fit::{fit, Control};
use dip::net::SkipNet;
use dip::reproduce::{plan, Experiment, Preset};

// Super-resolution's own settings, from the plan: the ×4 run on the butterfly as the quick
// preset makes it (the centre 64 × 64 made small, fewer iterations, a narrower net),
// beside the paper's run. `job = paper` runs the paper's: the whole image.
let (experiment, image) = (Experiment::Sr, "set5-x4-butterfly");
let images = vec![image.to_string()];
let job = plan::jobs(Preset::Quick, &[experiment], &images, None, 1).remove(0);
let paper = plan::jobs(Preset::Paper, &[experiment], &images, None, 1).remove(0);
for (preset, j) in [("quick", &job), ("paper", &paper)] {
    let settings = &j.fit;
    println!(
        "{preset}: {}, {} iterations, lr {}, σp {:.3}, averaging {:?}, {} channels",
        j.cut.describe(), settings.iterations, settings.lr, settings.reg_noise_std,
        settings.exp_weight, j.net.channels_down[0]
    );
}

// The problem, the network and the fit, all from the job; then its PSNR, measured as
// `dip reproduce` measures it, beside the record that command wrote for the same job.
let device = dip::device::auto();
let replay = dip::notebooks::Replay::load()?;
let prepared = job.prepare(&replay.data, &device)?;
let net = SkipNet::new(&job.net, job.seed, &device)?;
let result = fit(net, &prepared.problem, &job.fit, &mut |_| Control::Continue)?;
let clean = prepared.clean.clone().ok_or_else(|| dip::DipError::invalid("no clean image"))?;
let psnr = prepared.problem.score.measure(&clean, result.restored())?;
let recorded = replay.record_of(&job).and_then(|r| r.final_psnr).unwrap_or(f64::NAN);
println!("this run: {psnr:.2} dB; the record of the same job in results/: {recorded:.2} dB");
let input = match &prepared.baseline {
    Some(b) => format!("{}, {:.2} dB", b.name, b.psnr.unwrap_or(f64::NAN)),
    None => "input".to_string(),
};
Row::new()
    .with(input, &prepared.input)
    .with(format!("restored, {psnr:.2} dB"), result.restored())
    .with("clean", &clean)
    .show();
// ANCHOR_END: super-resolution-run
// The same job gives its record's number: bit for bit with 2 threads and more (README);
// 0.05 dB leaves room for one thread's other order of sums.
assert!((psnr - recorded).abs() < 0.05, "{psnr} against the record's {recorded}");
let bicubic = prepared.baseline.as_ref().and_then(|b| b.psnr).unwrap();
assert!(psnr.is_finite() && bicubic.is_finite());
Ok(())
}

#[test]
#[rustfmt::skip]
fn running() -> anyhow::Result<()> {
use denoise_example::denoise_crop;
if data(&["denoising-cbm3d9/image_Peppers512rgb.png"]).is_none() {
    return Ok(());
}
// ANCHOR: running-call
use dip::Image;

// The example's function on the centre 64 × 64 of Peppers, for 200 iterations.
let data = dip::notebooks::data_dir();
let peppers = Image::load(data.image("denoising-cbm3d9/image_Peppers512rgb.png")?)?;
let result = denoise_crop(&peppers, 64, 200)?;
result.show();
// ANCHOR_END: running-call
assert_eq!(result.history.len(), 200);
Ok(())
}
