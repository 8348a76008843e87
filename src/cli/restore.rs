//! `dip denoise`, `dip inpaint`, `dip super-resolve`: the tasks on your own images.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use dip::fit::{self, Control, FinalInput, FitConfig, RollbackCheck, Step};
use dip::image_io::{write_atomically, Image};
use dip::net::{SkipConfig, SkipNet, Upsample};
use dip::rng::Rng;
use dip::stopping::{self, StopRule};
use dip::tasks::{denoising, inpainting, jpeg, super_resolution, Problem, Spec};
use dip::tiling;

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
    /// When to stop: `auto` (ES-WMV: where the outputs vary least once the fit is
    /// down to the estimated noise level; the mean of those outputs is kept; no clean
    /// image needed; --iterations is then the upper bound) or `fixed` (--iterations).
    /// Default: auto for `dip denoise` of a photo without a clean image, else fixed.
    #[arg(long, value_parser = ["auto", "fixed"])]
    pub stop: Option<String>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Restore in tiles of N×N output pixels (overlapping, blended), each fitted on its
    /// own; chosen automatically when the whole image would need more than --max-memory.
    #[arg(long)]
    pub tile: Option<usize>,
    /// The memory a fit may use, in GiB (default: half of the machine's memory).
    #[arg(long)]
    pub max_memory: Option<f64>,
    /// With a folder of images: restore them again even where the output exists.
    #[arg(long)]
    pub force: bool,
    /// Print the plan (the fits, their memory, the expected time on this machine) and stop.
    #[arg(long)]
    pub dry_run: bool,
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
    /// Fit a net half as wide as the paper's at every scale: about a quarter of the work
    /// an iteration; what it costs in PSNR is measured in the book's denoising chapter
    /// ("A faster setting").
    #[arg(long)]
    pub fast: bool,
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

/// The largest super-resolution factor accepted (the paper's are 4 and 8).
const MAX_FACTOR: usize = 32;

/// Restore the image of `args`, or, when its input is a folder, every image in it
/// into the output folder ([`super::batch`]); `paths` says where a task keeps its
/// input and its fit options.
fn one_or_folder<A: Clone>(
    mut args: A,
    paths: fn(&mut A) -> (&mut PathBuf, &mut FitOptions),
    one: fn(A) -> Result<()>,
) -> Result<()> {
    let (dir, out_dir, force) = {
        let (input, fit) = paths(&mut args);
        if !input.is_dir() {
            return one(args);
        }
        (input.clone(), fit.output.clone(), fit.force)
    };
    super::batch::run(&dir, &out_dir, force, &mut |input, output| {
        let mut each = args.clone();
        let (each_input, fit) = paths(&mut each);
        (*each_input, fit.output, fit.quiet) = (input.to_path_buf(), output.to_path_buf(), true);
        one(each)
    })
}

/// A task's corrupted image, from which the problem of any region is made (the
/// whole image, or one tile of it).
enum Corrupted {
    Noisy(Image),
    Masked { image: Image, mask: Image },
    Low { image: Image, factor: usize },
}

impl Corrupted {
    fn input(&self) -> &Image {
        match self {
            Corrupted::Noisy(image)
            | Corrupted::Masked { image, .. }
            | Corrupted::Low { image, .. } => image,
        }
    }

    /// How much larger the result is than the input.
    fn scale(&self) -> usize {
        match self {
            Corrupted::Low { factor, .. } => *factor,
            _ => 1,
        }
    }

    /// The problem of the region `rect` of the input (all of it if `None`).
    fn problem(
        &self,
        rect: Option<tiling::Rect>,
        clean: Option<&Image>,
        device: &candle_core::Device,
    ) -> Result<Problem> {
        let cut = |image: &Image| -> Result<Image> {
            Ok(match rect {
                Some((y, x, h, w)) => image.crop(y, x, h, w)?,
                None => image.clone(),
            })
        };
        Ok(match self {
            Corrupted::Noisy(noisy) => denoising::problem(&cut(noisy)?, clean, MULTIPLE, device)?,
            Corrupted::Masked { image, mask } => {
                inpainting::problem(&cut(image)?, &cut(mask)?, clean, MULTIPLE, device)?
            }
            Corrupted::Low { image, factor } => {
                super_resolution::problem(&cut(image)?, *factor, clean, MULTIPLE, device)?
            }
        })
    }
}

pub fn denoise(args: DenoiseArgs) -> Result<()> {
    one_or_folder(args, |a| (&mut a.input, &mut a.fit), denoise_one)
}

fn denoise_one(mut args: DenoiseArgs) -> Result<()> {
    let (device, input, mut clean) = open(&mut args.fit, &args.input)?;
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
    let Spec { net, mut fit, .. } = if args.fast {
        denoising::fast(noisy.channels)
    } else {
        denoising::paper(noisy.channels)
    };
    // A long restoration on the standard net is offered `--fast`, timed.
    let nets = Nets {
        faster: (!args.fast).then(|| denoising::fast(noisy.channels).net),
        fit: net,
    };
    if args.no_average {
        fit.exp_weight = None;
    }
    // A photo that is noisy already, with nothing to score against: nobody knows the
    // right number of iterations, so stop where the outputs vary least.
    let auto_by_default = clean.is_none();
    let corrupted = Corrupted::Noisy(noisy);
    restore(
        &args.fit,
        nets,
        fit,
        &corrupted,
        clean.as_ref(),
        auto_by_default,
        &device,
    )
}

pub fn inpaint(args: InpaintArgs) -> Result<()> {
    one_or_folder(args, |a| (&mut a.input, &mut a.fit), inpaint_one)
}

fn inpaint_one(mut args: InpaintArgs) -> Result<()> {
    let (device, input, mut clean) = open(&mut args.fit, &args.input)?;
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
    // Table 1's settings, shorter and faster for a photo (3000 iterations at 0.01),
    // the result read off the clean `z`.
    let spec = inpainting::paper();
    let config = FitConfig {
        iterations: 3000,
        lr: 0.01,
        final_input: FinalInput::Clean,
        ..spec.fit
    };
    let mut net = SkipConfig {
        output_channels: input.channels,
        ..spec.net
    };
    if args.nearest {
        net = net.with_upsample(Upsample::Nearest);
    }
    inpainting::check_mask(&input, &mask)?;
    let corrupted = Corrupted::Masked { image: input, mask };
    restore(
        &args.fit,
        net.into(),
        config,
        &corrupted,
        clean.as_ref(),
        false,
        &device,
    )
}

pub fn super_resolve(args: SuperResolveArgs) -> Result<()> {
    one_or_folder(args, |a| (&mut a.input, &mut a.fit), super_resolve_one)
}

fn super_resolve_one(mut args: SuperResolveArgs) -> Result<()> {
    let f = args.factor;
    if !(2..=MAX_FACTOR).contains(&f) {
        bail!("--factor must be from 2 to {MAX_FACTOR} (the paper uses 4 and 8), got {f}");
    }
    let (device, input, mut clean) = open(&mut args.fit, &args.input)?;
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
    let Spec { net, fit, .. } = super_resolution::paper(f, low.channels);
    let config = FitConfig {
        // Not in the reference's SR notebook: a safety net for people's photos.
        rollback_drop_db: Some(5.0),
        rollback_every: 1,
        rollback_check: RollbackCheck::Multiples,
        ..fit
    };
    let corrupted = Corrupted::Low {
        image: low,
        factor: f,
    };
    restore(
        &args.fit,
        net.into(),
        config,
        &corrupted,
        clean.as_ref(),
        false,
        &device,
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

/// What every task starts from: the output checked writable (before an hour of
/// fitting, not after), the device, the input image (its bit depth noted for the
/// result) and the clean image, if given.
fn open(
    opts: &mut FitOptions,
    input: &Path,
) -> Result<(candle_core::Device, Image, Option<Image>)> {
    check_output(&opts.output)?;
    let device = dip::device::select(&opts.device)?;
    let image = Image::load(input)?;
    opts.input_bits = Image::bit_depth(input)?;
    Ok((device, image, load_clean(opts)?))
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
    check_writable(path, "the output")
}

/// Apply the command-line overrides to the task's settings.
fn settle(opts: &FitOptions, mut config: FitConfig) -> FitConfig {
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
    config
}

/// Restore the corrupted image: whole if its fit fits in memory, else (or with
/// `--tile`) tile by tile; write the result (and the history of a whole fit), report.
fn restore(
    opts: &FitOptions,
    nets: Nets,
    config: FitConfig,
    corrupted: &Corrupted,
    clean: Option<&Image>,
    auto_by_default: bool,
    device: &candle_core::Device,
) -> Result<()> {
    let job = Restoration {
        opts,
        net: nets.fit,
        faster: nets.faster,
        config: settle(opts, config),
        corrupted,
        auto: opts
            .stop
            .as_deref()
            .map_or(auto_by_default, |c| c == "auto"),
        device,
    };
    if let Some(path) = &opts.history {
        check_writable(path, "--history")?;
    }
    let tile = job.tile_side()?;
    for line in job.cost(tile)?.lines() {
        println!("{line}");
    }
    if opts.dry_run {
        return Ok(());
    }
    let (restored, single) = match tile {
        None => {
            let problem = corrupted.problem(None, clean, device)?;
            let fitted = job.fit(&problem, "")?;
            (fitted.result.restored().clone(), Some(fitted))
        }
        Some(side) => (job.tiled(side)?, None),
    };
    // A 16-bit photo gives a 16-bit result.
    restored.save_with_depth(&opts.output, opts.input_bits)?;
    if let (Some(path), Some(fitted)) = (&opts.history, &single) {
        write_atomically(path, &serde_json::to_vec_pretty(&fitted.result.history)?)?;
    }
    if let Some(fitted) = &single {
        report(fitted, job.auto);
    }
    job.score(clean, &restored, single.as_ref())?;
    println!("wrote {}", opts.output.display());
    Ok(())
}

/// The net to fit, and a faster one to offer when the restoration is long.
struct Nets {
    fit: SkipConfig,
    /// `dip denoise --fast`'s net, where the fit is the standard one.
    faster: Option<SkipConfig>,
}

impl From<SkipConfig> for Nets {
    fn from(fit: SkipConfig) -> Self {
        Self { fit, faster: None }
    }
}

/// A restoration's settings, settled: what `restore` fits, whole or in tiles.
struct Restoration<'a> {
    opts: &'a FitOptions,
    net: SkipConfig,
    /// A faster net to offer (and time) when the restoration is long.
    faster: Option<SkipConfig>,
    config: FitConfig,
    corrupted: &'a Corrupted,
    /// Whether the fit stops on its own (`--stop auto`).
    auto: bool,
    device: &'a candle_core::Device,
}

impl Restoration<'_> {
    /// The side of the tiles to fit: `--tile`, or, where the whole image's fit would
    /// take more memory than the budget, the largest tile within it; `None`: whole.
    fn tile_side(&self) -> Result<Option<usize>> {
        let (input, scale) = (self.corrupted.input(), self.corrupted.scale());
        let (oh, ow) = (input.height * scale, input.width * scale);
        tiling::check_size(oh, ow, "the result")?;
        let padded = |n: usize| dip::tasks::padded_size(n, MULTIPLE);
        let whole = tiling::fit_bytes(&self.net, padded(oh), padded(ow));
        let budget = super::cost::memory_budget(self.opts.max_memory);
        let tile = match self.opts.tile {
            Some(t) if t < 64 || t % scale != 0 => {
                bail!("--tile must be at least 64 and a multiple of the factor, got {t}")
            }
            Some(t) => Some(t),
            None if whole > budget => Some(tiling::tile_for_budget(&self.net, budget)?),
            None => None,
        };
        println!(
            "memory: about {} for the whole {ow}×{oh} image; the budget is {}",
            tiling::human_bytes(whole),
            tiling::human_bytes(budget)
        );
        Ok(tile)
    }

    /// The fits (the whole image, or tiles of `tile`) and their time here, from a few
    /// iterations of the first one.
    fn cost(&self, tile: Option<usize>) -> Result<super::cost::Cost> {
        let (input, scale) = (self.corrupted.input(), self.corrupted.scale());
        let (rect, fits) = match tile {
            None => (None, 1),
            Some(side) => {
                let rects = tiling::Tiles::of_side(side / scale).rects(input.height, input.width);
                (rects.first().copied(), rects.len())
            }
        };
        let problem = self.corrupted.problem(rect, None, self.device)?;
        let (_, h, w) = problem.output_size;
        let timed = |net: &SkipConfig| -> Result<f64> {
            let net = SkipNet::new(net, self.config.seed, self.device)?;
            Ok(fit::seconds_per_iteration(net, &problem, &self.config)?)
        };
        let mut cost = super::cost::Cost {
            fits,
            side: (h, w),
            iterations: self.config.iterations,
            seconds_per_iteration: timed(&self.net)?,
            faster_seconds_per_iteration: None,
            auto: self.auto,
            on_cpu: self.device.is_cpu(),
        };
        if let Some(faster) = self.faster.as_ref().filter(|_| cost.is_long()) {
            cost.faster_seconds_per_iteration = Some(timed(faster)?);
        }
        Ok(cost)
    }

    /// One fit of `problem`, its progress messages prefixed by `label`.
    fn fit(&self, problem: &Problem, label: &str) -> Result<Fitted> {
        fit_problem(
            self.opts,
            &self.net,
            &self.config,
            problem,
            self.auto,
            label,
        )
    }

    /// The image restored in overlapping tiles of `side`, each fitted on its own.
    fn tiled(&self, side: usize) -> Result<Image> {
        let (input, scale) = (self.corrupted.input(), self.corrupted.scale());
        let tiles = tiling::Tiles::of_side(side / scale);
        let count = tiles.rects(input.height, input.width).len();
        println!(
            "tiles: {count} of {side}×{side} (about {} each), overlapping by {} pixels",
            tiling::human_bytes(tiling::fit_bytes(&self.net, side, side)),
            tiles.overlap * scale
        );
        let restored =
            tiling::restore_tiled((input.height, input.width), tiles, scale, &mut |i, rect| {
                let one = || -> Result<Image> {
                    let problem = self.corrupted.problem(Some(rect), None, self.device)?;
                    let fitted = self.fit(&problem, &format!("tile {}/{count} ", i + 1))?;
                    if fitted.interrupted {
                        bail!("interrupted at tile {}/{count}", i + 1);
                    }
                    Ok(fitted.result.restored().clone())
                };
                one().map_err(|e| dip::DipError::invalid(format!("{e:#}")))
            })?;
        Ok(restored)
    }

    /// Print the result's PSNR: against the clean image if known (with the task's
    /// score), else the whole fit's last PSNR against the corrupted image.
    fn score(
        &self,
        clean: Option<&Image>,
        restored: &Image,
        single: Option<&Fitted>,
    ) -> Result<()> {
        match clean {
            Some(clean) => {
                let score = self
                    .corrupted
                    .problem(None, Some(clean), self.device)
                    .map_or(dip::tasks::Score::Psnr, |p| p.score);
                println!(
                    "PSNR against the clean image: {:.2} dB",
                    score.measure(clean, restored)?
                );
            }
            None => {
                if let Some(s) = single.and_then(|f| f.result.history.last()) {
                    println!(
                        "PSNR against the corrupted image: {:.2} dB",
                        s.psnr_corrupted
                    );
                }
            }
        }
        Ok(())
    }
}

/// One fit and what came of it.
struct Fitted {
    result: fit::FitResult,
    detected: Option<usize>,
    /// σ̂ of the noisy image (0–1 scale), where the fit stopped on its own.
    noise_sigma: Option<f64>,
    /// What the result is, where the fit stopped on its own.
    kept: stopping::Keep,
    interrupted: bool,
}

/// Fit `problem` with a progress bar (its messages prefixed by `label`), stopping on
/// its own if `auto`.
fn fit_problem(
    opts: &FitOptions,
    net_config: &SkipConfig,
    config: &FitConfig,
    problem: &Problem,
    auto: bool,
    label: &str,
) -> Result<Fitted> {
    let net = SkipNet::new(net_config, config.seed, problem.observed.device())?;
    let stop = super::interrupt::stop_flag();
    let bar = progress_bar(opts.quiet, config.iterations);
    let mut interrupted = false;
    let mut progress = |s: &Step, detected: Option<usize>| {
        bar.set_position(s.iteration as u64 + 1);
        let mut message = format!("{label}{}", progress_message(s));
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
    let (result, detected, noise_sigma, kept) = if auto {
        let stopped = stopping::fit_auto(net, problem, config, StopRule::DEFAULT, &mut progress);
        bar.finish_and_clear();
        let stopped = stopped?;
        (
            stopped.result,
            stopped.detected,
            stopped.noise_sigma,
            stopped.kept,
        )
    } else {
        let result = fit::fit(net, problem, config, &mut |s| progress(s, None));
        bar.finish_and_clear();
        (result?, None, None, stopping::Keep::Output)
    };
    Ok(Fitted {
        result,
        detected,
        noise_sigma,
        kept,
        interrupted,
    })
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

/// What a whole-image fit did.
fn report(fitted: &Fitted, auto: bool) {
    let result = &fitted.result;
    println!(
        "{} iterations in {:.1} s ({:.3} s/iteration), {} rollback(s){}",
        result.history.len(),
        result.seconds,
        result.seconds_per_iteration(),
        result.rollbacks,
        if fitted.interrupted {
            ", stopped early"
        } else {
            ""
        }
    );
    if !auto {
        return;
    }
    if let Some(sigma) = fitted.noise_sigma {
        println!("the noise estimated at σ ≈ {:.1} (0–255)", sigma * 255.0);
    }
    let what = match fitted.kept {
        stopping::Keep::WindowMean => {
            format!(
                "the mean of the {} outputs up to it",
                StopRule::DEFAULT.window
            )
        }
        stopping::Keep::Output => "its output".to_string(),
    };
    match fitted.detected {
        Some(d) => println!("stopped on its own: the outputs varied least at iteration {d}; {what} is the result"),
        None => println!("no stopping point detected within the iterations; at the last one, {what} is the result"),
    }
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
