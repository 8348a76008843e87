//! `dip denoise`, `dip inpaint`, `dip super-resolve`: the tasks on your own images.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use dip::fit::{self, Control, FinalInput, FitConfig, RollbackCheck, Step};
use dip::image_io::{write_atomically, Image};
use dip::input::InputKind;
use dip::net::{SkipConfig, SkipNet, Upsample};
use dip::rng::Rng;
use dip::stopping::{self, StopRule};
use dip::tasks::{denoising, inpainting, jpeg, super_resolution, Problem};

/// Options every task shares.
#[derive(Args, Clone, Debug)]
pub struct FitOptions {
    /// Where to write the restored image (PNG or JPEG, by extension); a folder when
    /// the input is a folder of images.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Iterations of the fit (default: the paper's for the task).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Adam's learning rate (default: the paper's for the task).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seed of the weights, the input and the noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// auto, cpu, cuda, cuda:N or metal.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// A clean version of the image, to report PSNR against.
    #[arg(long)]
    pub clean: Option<PathBuf>,
    /// Write the per-iteration history (loss, PSNRs) as JSON here.
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Standard deviation of the noise added to the input z at each iteration.
    #[arg(long)]
    pub reg_noise_std: Option<f64>,
    /// When to stop: `auto` (ES-WMV: where the outputs vary least, no clean image
    /// needed; --iterations is then the upper bound) or `fixed` (--iterations).
    /// Default: auto for `dip denoise` of a photo without a clean image, else fixed.
    #[arg(long, value_parser = ["auto", "fixed"])]
    pub stop: Option<String>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// With a folder of images: restore them again even where the output exists.
    #[arg(long)]
    pub force: bool,
    /// Bits per channel of the input (set from the file; the output keeps them).
    #[arg(skip = 8)]
    pub input_bits: u8,
}

#[derive(Args, Clone, Debug)]
pub struct DenoiseArgs {
    /// The noisy photo (or a clean image, with --sigma or --jpeg-quality), or a folder of them.
    pub input: PathBuf,
    /// Add Gaussian noise of this σ (on the 0–255 scale) to the input first; the input is then the clean image.
    #[arg(long)]
    pub sigma: Option<f32>,
    /// Compress the input to JPEG at this quality first; the input is then the clean image.
    #[arg(long, conflicts_with = "sigma")]
    pub jpeg_quality: Option<u8>,
    /// Take the last output rather than the exponential average of the outputs.
    #[arg(long)]
    pub no_average: bool,
    /// Also write the noisy image here.
    #[arg(long)]
    pub save_corrupted: Option<PathBuf>,
    #[command(flatten)]
    pub fit: FitOptions,
}

#[derive(Args, Clone, Debug)]
pub struct InpaintArgs {
    /// The image with holes, or a folder of them.
    pub input: PathBuf,
    /// A mask image: white is known, black is a hole.
    #[arg(long)]
    pub mask: Option<PathBuf>,
    /// Remove this fraction of the pixels at random first (the input is then the clean image).
    #[arg(long, conflicts_with = "mask")]
    pub missing: Option<f64>,
    /// Nearest rather than bilinear upsampling in the decoder (the paper's choice for text and regions).
    #[arg(long)]
    pub nearest: bool,
    /// Also write the masked image here.
    #[arg(long)]
    pub save_corrupted: Option<PathBuf>,
    #[command(flatten)]
    pub fit: FitOptions,
}

#[derive(Args, Clone, Debug)]
pub struct SuperResolveArgs {
    /// The low-resolution photo (or a high-resolution image, with --downscale), or a folder of them.
    pub input: PathBuf,
    /// The enlargement factor.
    #[arg(long, short, default_value_t = 4)]
    pub factor: usize,
    /// Make the input small first (Lanczos), so that it is the clean image of the result.
    #[arg(long)]
    pub downscale: bool,
    /// Also write the low-resolution and the bicubic images here (suffixes _lr and _bicubic).
    #[arg(long)]
    pub save_corrupted: Option<PathBuf>,
    #[command(flatten)]
    pub fit: FitOptions,
}

/// The paper's standard net is 5 scales deep: sides padded to multiples of 32.
const MULTIPLE: usize = 32;

pub fn denoise(args: DenoiseArgs) -> Result<()> {
    if args.input.is_dir() {
        let (dir, out_dir, force) = (args.input.clone(), args.fit.output.clone(), args.fit.force);
        return super::batch::run(&dir, &out_dir, force, &mut |input, output| {
            let mut one = args.clone();
            (one.input, one.fit.output, one.fit.quiet) = (input.to_path_buf(), output.to_path_buf(), true);
            denoise_one(one)
        });
    }
    denoise_one(args)
}

fn denoise_one(mut args: DenoiseArgs) -> Result<()> {
    check_output(&args.fit.output)?;
    let device = dip::device::select(&args.fit.device)?;
    let input = Image::load(&args.input)?;
    args.fit.input_bits = Image::bit_depth(&args.input)?;
    let mut clean = load_clean(&args.fit)?;
    let noisy = if let Some(sigma) = args.sigma {
        if sigma.is_nan() || sigma <= 0.0 {
            bail!("--sigma must be positive, got {sigma}");
        }
        clean.get_or_insert(input.clone());
        denoising::add_noise(
            &input,
            sigma / 255.0,
            &mut Rng::new(args.fit.seed ^ 0x00c0_ffee),
        )
    } else if let Some(q) = args.jpeg_quality {
        clean.get_or_insert(input.clone());
        jpeg::compress(&input, q)?
    } else {
        input
    };
    if let Some(path) = &args.save_corrupted {
        noisy.save(path)?;
    }
    let problem = denoising::problem(&noisy, clean.as_ref(), MULTIPLE, &device)?;
    let mut config = FitConfig::paper_denoising();
    if args.no_average {
        config.exp_weight = None;
    }
    let net = SkipConfig::standard(32, noisy.channels);
    // A photo that is noisy already, with nothing to score against: nobody knows the
    // right number of iterations, so stop where the outputs vary least.
    let auto_by_default = clean.is_none();
    run_fit(&args.fit, net, config, &problem, auto_by_default)
}

pub fn inpaint(args: InpaintArgs) -> Result<()> {
    if args.input.is_dir() {
        let (dir, out_dir, force) = (args.input.clone(), args.fit.output.clone(), args.fit.force);
        return super::batch::run(&dir, &out_dir, force, &mut |input, output| {
            let mut one = args.clone();
            (one.input, one.fit.output, one.fit.quiet) = (input.to_path_buf(), output.to_path_buf(), true);
            inpaint_one(one)
        });
    }
    inpaint_one(args)
}

fn inpaint_one(mut args: InpaintArgs) -> Result<()> {
    check_output(&args.fit.output)?;
    let device = dip::device::select(&args.fit.device)?;
    let input = Image::load(&args.input)?;
    args.fit.input_bits = Image::bit_depth(&args.input)?;
    let mut clean = load_clean(&args.fit)?;
    let mask = if let Some(path) = &args.mask {
        inpainting::mask_from_image(&Image::load(path).with_context(|| "cannot read the mask")?)
    } else if let Some(missing) = args.missing {
        if !(0.0..1.0).contains(&missing) {
            bail!("--missing must be a fraction in [0, 1), got {missing}");
        }
        clean.get_or_insert(input.clone());
        inpainting::bernoulli_mask(
            input.height,
            input.width,
            missing,
            &mut Rng::new(args.fit.seed ^ 0x3a5c),
        )
    } else {
        let mask = inpainting::mask_of_masked_image(&input);
        if mask.data.iter().all(|&m| m == 1.0) {
            bail!(
                "{} has no holes (no pixel is 0 in every channel): give the holes with --mask or --missing",
                args.input.display()
            );
        }
        mask
    };
    if mask.data.iter().all(|&m| m == 1.0) {
        bail!("the mask hides nothing (every pixel is white): there is nothing to inpaint");
    }
    if let Some(path) = &args.save_corrupted {
        inpainting::apply_mask(&input, &mask)?.save(path)?;
    }
    let problem = inpainting::problem(&input, &mask, clean.as_ref(), MULTIPLE, &device)?;
    let config = FitConfig {
        iterations: 3000,
        lr: 0.01,
        reg_noise_std: 0.03,
        input: InputKind::Noise { channels: 32 },
        exp_weight: None,
        rollback_drop_db: Some(5.0),
        rollback_every: 50,
        rollback_check: RollbackCheck::Multiples,
        final_input: FinalInput::Clean,
        seed: 0,
    };
    let mut net = SkipConfig::standard(32, input.channels);
    if args.nearest {
        net = net.with_upsample(Upsample::Nearest);
    }
    run_fit(&args.fit, net, config, &problem, false)
}

pub fn super_resolve(args: SuperResolveArgs) -> Result<()> {
    if args.input.is_dir() {
        let (dir, out_dir, force) = (args.input.clone(), args.fit.output.clone(), args.fit.force);
        return super::batch::run(&dir, &out_dir, force, &mut |input, output| {
            let mut one = args.clone();
            (one.input, one.fit.output, one.fit.quiet) = (input.to_path_buf(), output.to_path_buf(), true);
            super_resolve_one(one)
        });
    }
    super_resolve_one(args)
}

fn super_resolve_one(mut args: SuperResolveArgs) -> Result<()> {
    check_output(&args.fit.output)?;
    let device = dip::device::select(&args.fit.device)?;
    let f = args.factor;
    if f < 2 {
        bail!("--factor must be at least 2, got {f}");
    }
    let input = Image::load(&args.input)?;
    args.fit.input_bits = Image::bit_depth(&args.input)?;
    let mut clean = load_clean(&args.fit)?;
    let low = if args.downscale {
        // Crop to a multiple of the factor, keep that as the clean image.
        let hr = input.crop(
            0,
            0,
            input.height - input.height % f,
            input.width - input.width % f,
        )?;
        let low = super_resolution::low_resolution(&hr, f)?;
        clean.get_or_insert(hr);
        low
    } else {
        input
    };
    if let Some(path) = &args.save_corrupted {
        low.save(path.with_file_name(suffixed(path, "_lr")))?;
        super_resolution::bicubic(&low, f).save(path.with_file_name(suffixed(path, "_bicubic")))?;
    }
    let problem = super_resolution::problem(&low, f, clean.as_ref(), MULTIPLE, &device)?;
    let config = FitConfig {
        iterations: if f >= 8 { 4000 } else { 2000 },
        lr: 0.01,
        reg_noise_std: if f >= 8 { 0.05 } else { 0.03 },
        input: InputKind::Noise { channels: 32 },
        exp_weight: None,
        // Not in the reference's SR notebook: a safety net for people's photos.
        rollback_drop_db: Some(5.0),
        rollback_every: 1,
        rollback_check: RollbackCheck::Multiples,
        final_input: FinalInput::LastPerturbed,
        seed: 0,
    };
    run_fit(
        &args.fit,
        SkipConfig::standard(32, low.channels),
        config,
        &problem,
        false,
    )
}

fn suffixed(path: &Path, suffix: &str) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "png".into());
    format!("{stem}{suffix}.{ext}")
}

fn load_clean(opts: &FitOptions) -> Result<Option<Image>> {
    match &opts.clean {
        Some(p) => Ok(Some(
            Image::load(p).context("cannot read the clean image (--clean)")?,
        )),
        None => Ok(None),
    }
}

/// Fail now, not after an hour of fitting, if the output cannot be written.
fn check_output(path: &Path) -> Result<()> {
    match image::ImageFormat::from_path(path) {
        Ok(image::ImageFormat::Png) | Ok(image::ImageFormat::Jpeg) => {}
        _ => bail!("output {}: use a .png or .jpg file name", path.display()),
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

/// Apply the command-line overrides, fit with a progress bar (stopping on its own with
/// `--stop auto`, or by default where `auto_by_default`), write the results.
fn run_fit(
    opts: &FitOptions,
    net_config: SkipConfig,
    mut config: FitConfig,
    problem: &Problem,
    auto_by_default: bool,
) -> Result<()> {
    if let Some(n) = opts.iterations {
        config.iterations = n;
    }
    if let Some(lr) = opts.lr {
        config.lr = lr;
    }
    if let Some(s) = opts.reg_noise_std {
        config.reg_noise_std = s;
    }
    config.seed = opts.seed;
    let auto = match opts.stop.as_deref() {
        Some(choice) => choice == "auto",
        None => auto_by_default,
    };
    if let Some(path) = &opts.history {
        check_writable(path, "--history")?;
    }
    let device = problem.observed.device();
    let net = SkipNet::new(&net_config, config.seed, device)?;
    let stop = super::interrupt::stop_flag();
    let bar = progress_bar(opts.quiet, config.iterations);
    let mut interrupted = false;
    let mut progress = |s: &Step, detected: Option<usize>| {
        bar.set_position(s.iteration as u64 + 1);
        let mut message = progress_message(s);
        if let Some(d) = detected {
            message.push_str(&format!("  detected {d}"));
        }
        bar.set_message(message);
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            interrupted = true;
            return Control::Stop;
        }
        Control::Continue
    };
    let (result, detected) = if auto {
        let rule = StopRule::WMV;
        let stopped = stopping::fit_auto(net, problem, &config, rule, &mut progress);
        bar.finish_and_clear();
        let stopped = stopped?;
        (stopped.result, stopped.detected)
    } else {
        let result = fit::fit(net, problem, &config, &mut |s| progress(s, None));
        bar.finish_and_clear();
        (result?, None)
    };
    // A 16-bit photo gives a 16-bit result.
    result.restored().save_with_depth(&opts.output, opts.input_bits)?;
    if let Some(path) = &opts.history {
        let json = serde_json::to_vec_pretty(&result.history)?;
        write_atomically(path, &json)?;
    }
    report(&result, detected, auto, interrupted, problem, &opts.output)
}

/// The progress bar of a fit of `iterations` (hidden with --quiet).
fn progress_bar(quiet: bool, iterations: usize) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(iterations as u64)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

/// What the fit did, in a few lines; the last names the output.
fn report(
    result: &fit::FitResult,
    detected: Option<usize>,
    auto: bool,
    interrupted: bool,
    problem: &Problem,
    output: &Path,
) -> Result<()> {
    println!(
        "{} iterations in {:.1} s ({:.3} s/iteration), {} rollback(s){}",
        result.history.len(),
        result.seconds,
        result.seconds_per_iteration(),
        result.rollbacks,
        if interrupted { ", stopped early" } else { "" }
    );
    match (auto, detected) {
        (true, Some(d)) => println!("stopped on its own: the outputs varied least at iteration {d}; that output is the result"),
        (true, None) => println!("no stopping point detected within the iterations; the last output is the result"),
        _ => {}
    }
    if let Some(psnr) = problem.score_against_clean(result.restored())? {
        println!("PSNR against the clean image: {psnr:.2} dB");
    } else if let Some(s) = result.history.last() {
        println!(
            "PSNR against the corrupted image: {:.2} dB",
            s.psnr_corrupted
        );
    }
    println!("wrote {}", output.display());
    Ok(())
}

/// Fail now, not after the fit, if `path` cannot be written.
fn check_writable(path: &Path, what: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| anyhow::anyhow!("cannot write {} ({what}): {e}", path.display()))?;
    Ok(())
}

fn progress_message(s: &Step) -> String {
    let mut m = format!("loss {:.5}  PSNR(x0) {:.2}", s.loss, s.psnr_corrupted);
    if let Some(p) = s.psnr_clean {
        m.push_str(&format!("  PSNR(clean) {p:.2}"));
    }
    if let Some(p) = s.psnr_clean_average {
        m.push_str(&format!("  avg {p:.2}"));
    }
    if s.rolled_back {
        m.push_str("  (rolled back)");
    }
    m
}
