//! What to run: the presets, the experiments, and one [`Job`] per (image, seed).
//!
//! A job holds every setting of its run (the network, the fit, the task, how the
//! image is cut down), so that its record can say exactly what was run, and a
//! job can build its [`Problem`] from the data folder.

use candle_core::Device;
use image::imageops::FilterType;

use super::paper;
use crate::data::DataDir;
use crate::error::{DipError, Result};
use crate::fit::{FinalInput, FitConfig, RollbackCheck};
use crate::image_io::Image;
use crate::input::InputKind;
use crate::metrics;
use crate::net::{BnInit, SkipConfig, Upsample};
use crate::rng::Rng;
use crate::stopping::{Guard, StopRule};
use crate::tasks::{denoising, inpainting, super_resolution, Framing, Problem};
use crate::tiling::Tiles;

/// The widest layer of the quick preset's nets: 64 channels instead of the
/// paper's 128 costs a quarter of the convolutions' work per iteration.
pub const QUICK_MAX_CHANNELS: usize = 64;

/// `net` with every channel count above `max` lowered to `max` (depth, kernels,
/// skips, upsampling and padding unchanged).
fn narrowed(mut net: SkipConfig, max: usize) -> SkipConfig {
    for list in [
        &mut net.channels_down,
        &mut net.channels_up,
        &mut net.channels_skip,
    ] {
        for c in list.iter_mut() {
            *c = (*c).min(max);
        }
    }
    net
}

/// How much of the paper to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Preset {
    /// The reference settings, unchanged (see `shared/reference/dip-settings.md`).
    Paper,
    /// Faithful where it matters, for a 2-core CPU: the paper's own networks at
    /// full width and initialisation, its inputs (Table 1's masks and reflection
    /// border, σ = 25 noise, the Lanczos-2 downsampler), learning rates,
    /// regularisation noise, output averaging and rollback — only the image is
    /// reduced, to a centre crop named in every record — and denoising's iterations,
    /// because a small crop is fitted, noise included, far sooner than a whole image.
    ///
    /// | experiment | paper | cpu |
    /// |---|---|---|
    /// | table1 | whole 256²/512² images, 11000 it | centre 64×64 crop of image and mask (66×66 with the 1-pixel reflection border), 11000 it |
    /// | denoising | whole images, 3000 it | centre 64×64 crop (noise added to the crop), 400 it (a crop overfits sooner: see `DENOISING`) |
    /// | sr ×4 / ×8 | centre crop divisible by 32, 2000 / 4000 it | its centre 64×64 (LR 16² / 8²), 2000 / 4000 it |
    ///
    /// At 64×64 an iteration of the full-width net takes about 0.05 s on two cores,
    /// so the paper's iterations and learning rates fit: Table 1's 11 images take
    /// about 1.8 hours, the whole preset about 5. The demos are not part of it.
    /// Every record carries the authors' published output measured on the same
    /// crop (`authors_psnr`).
    Cpu,
    /// A reduction of every experiment for a 2-core CPU: about a quarter of an
    /// hour for the whole suite once the fit runs at its intended speed.
    ///
    /// What is kept: every experiment and every image, the paper's networks'
    /// architecture (depth, kernels, skips, upsampling, padding: the prior *is*
    /// the architecture), the network inputs, `reg_noise_std`, output averaging, rollback, the corruption (50 %
    /// of the pixels missing with the paper's exact masks, σ = 25) and the metrics
    /// (PSNR; Y channel with a 4-pixel border for SR).
    ///
    /// What is reduced, chosen for fidelity per minute (the cost of an iteration
    /// is about proportional to the pixels of the net's output, and to the square
    /// of its width): the width of every layer is capped at 64 channels
    /// ([`QUICK_MAX_CHANNELS`]; the standard net's 128 become 64, a quarter of
    /// the work), and:
    ///
    /// | experiment | paper | quick |
    /// |---|---|---|
    /// | table1 | whole 256²/512² images, lr 0.001, 11000 it | centre 64×64 crop of image and mask, lr 0.01, 300 it |
    /// | denoising | whole images, 3000 it | centre 64×64 crop (noise added to the crop), 300 it |
    /// | sr ×4 | centre crop divisible by 32, 2000 it | its centre 64×64 (LR 16×16), 250 it |
    /// | sr ×8 | centre crop divisible by 32, 4000 it | its centre 96×96 (LR 12×12), 250 it |
    /// | kate (text) | 512², 6001 it | centre 96×96 crop (text at full resolution), 300 it |
    /// | vase (region) | 320², 5001 it | shrunk ×4 (80², padded to 96²), 300 it |
    /// | library (region) | 704×448, 3001 it | shrunk ×2 (352×224; its 6 scales need it), 300 it |
    /// | snail (JPEG) | 400×261, 2400 it | centre 128×128 crop, 300 it |
    /// | noise impedance (Fig. 2) | F16 512², 3000 it | centre 64×64 crop, 400 it |
    ///
    /// The learning rate of Table 1 is raised to 0.01 (the rate of every other
    /// experiment) because the run is 37× shorter. In total this is about
    /// 25,000 iterations at 64×64 (SR is 60 % of it: 38 runs); with the nets
    /// at 64 channels an iteration takes a few tens of milliseconds on two cores,
    /// which is what brings the suite to about a quarter of an hour (the records
    /// say how long it really took).
    /// Small crops hold less structure than whole images, so absolute PSNRs
    /// differ from the paper's; what should stay visible is each claim: DIP
    /// fills 50 % missing pixels far better than the masked input, denoises
    /// well above the noisy input, with a gain from averaging, beats bicubic
    /// upsampling, removes text and JPEG blocks, and fits a natural image much
    /// faster than noise or shuffled pixels. `dip reproduce --list` shows the runs.
    Quick,
    /// For tests: 32×32 crops, a 3-scale net of 8 channels, 12 iterations. Seconds.
    Tiny,
}

impl Preset {
    pub const ALL: [Preset; 4] = [Preset::Paper, Preset::Cpu, Preset::Quick, Preset::Tiny];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Paper => "paper",
            Preset::Cpu => "cpu",
            Preset::Quick => "quick",
            Preset::Tiny => "tiny",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                DipError::invalid(format!(
                    "unknown preset '{name}': use paper, cpu, quick or tiny"
                ))
            })
    }

    /// The paper's net (PyTorch 0.4's initialisation, [`BnInit::Uniform`]); for
    /// quick, the same net at most [`QUICK_MAX_CHANNELS`] wide; the tiny one (same
    /// input, output, skips on/off and upsampling).
    fn net(self, paper: SkipConfig) -> SkipConfig {
        let paper = paper.with_bn_init(BnInit::Uniform);
        match self {
            Preset::Paper | Preset::Cpu => return paper,
            Preset::Quick => return narrowed(paper, QUICK_MAX_CHANNELS),
            Preset::Tiny => {}
        }
        let skip = if paper.channels_skip.iter().any(|&s| s > 0) {
            2
        } else {
            0
        };
        SkipConfig::uniform(paper.input_channels, paper.output_channels, 8, 8, skip, 3)
            .with_upsample(paper.upsample[0])
            .with_bn_init(BnInit::Uniform)
    }

    /// The experiments a preset runs (`cpu` leaves out the demos).
    pub fn experiments(self) -> &'static [Experiment] {
        use Experiment::*;
        match self {
            Preset::Cpu => &[Table1, Denoising, Sr, Stopping, Tiling],
            // The stopping rule needs thousands of iterations: not a quick experiment.
            Preset::Quick => &[Table1, Denoising, Sr, Demos],
            // Tiling is this project's question, not the paper's.
            Preset::Paper => &[Table1, Denoising, Sr, Demos, Stopping],
            Preset::Tiny => &Experiment::ALL,
        }
    }
}

/// How the reduced presets cut an experiment down; the paper preset runs it whole.
#[derive(Clone, Copy)]
struct Reduced {
    /// Quick's iterations and cut.
    quick: (usize, Cut),
    /// The cpu preset's iterations and cut (`None`: the paper's iterations).
    cpu: (Option<usize>, Cut),
}

impl Reduced {
    /// Quick and cpu on the same cut; cpu with the paper's iterations.
    const fn crop(quick_iterations: usize, side: usize) -> Self {
        Self {
            quick: (quick_iterations, Cut::CentreCrop(side)),
            cpu: (None, Cut::CentreCrop(side)),
        }
    }

    /// The iterations and the cut of `preset`, given the paper's iterations and cut.
    fn of(self, preset: Preset, paper: usize, paper_cut: Cut) -> (usize, Cut) {
        match preset {
            Preset::Paper => (paper, paper_cut),
            Preset::Cpu => (self.cpu.0.unwrap_or(paper), self.cpu.1),
            Preset::Quick => self.quick,
            Preset::Tiny => (12, Cut::CentreCrop(32)),
        }
    }
}

/// The groups of experiments, one folder of results each.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Experiment {
    /// Inpainting of the 11 grey images, 50 % of the pixels missing.
    Table1,
    /// The 9 colour images at σ = 25.
    Denoising,
    /// Set5 and Set14, ×4 and ×8.
    Sr,
    /// Text and region inpainting, JPEG artefacts, the noise-impedance curves.
    Demos,
    /// Denoising the 9 colour images at σ = 25 with the outputs' variance watched:
    /// where ES-WMV would stop, against the best iteration and the fixed 3000.
    Stopping,
    /// Denoising a larger crop whole and in overlapping tiles, each fitted on its
    /// own with the same settings: what tiling a photo costs.
    Tiling,
}

impl Experiment {
    pub const ALL: [Experiment; 6] = [
        Experiment::Table1,
        Experiment::Denoising,
        Experiment::Sr,
        Experiment::Demos,
        Experiment::Stopping,
        Experiment::Tiling,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Experiment::Table1 => "table1",
            Experiment::Denoising => "denoising",
            Experiment::Sr => "sr",
            Experiment::Demos => "demos",
            Experiment::Stopping => "stopping",
            Experiment::Tiling => "tiling",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        Experiment::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| {
                DipError::invalid(format!(
                    "unknown experiment '{name}': use table1, denoising, sr, demos, stopping or tiling"
                ))
            })
    }
}

/// How an image is cut down before the experiment (the same for its mask and ground truth).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cut {
    Whole,
    /// The centred square of this side (or the whole side where the image is smaller).
    CentreCrop(usize),
    /// Both sides divided by this factor (Lanczos; masks by nearest neighbour).
    Shrink(usize),
    /// The centred crop whose sides are multiples of this (the reference's `crop_image(img, d)`).
    CropToMultiple(usize),
}

impl Cut {
    /// In words, for captions: "the centre 64 × 64", "the whole image".
    pub fn describe(self) -> String {
        match self {
            Cut::Whole => "the whole image".into(),
            Cut::CentreCrop(side) => format!("the centre {side} × {side}"),
            Cut::Shrink(f) => format!("the image shrunk {f} times"),
            Cut::CropToMultiple(m) => format!("the centre crop with sides a multiple of {m}"),
        }
    }

    fn apply(self, image: &Image) -> Result<Image> {
        match self {
            Cut::Whole => Ok(image.clone()),
            Cut::CentreCrop(side) => {
                let (h, w) = (side.min(image.height), side.min(image.width));
                image.crop((image.height - h) / 2, (image.width - w) / 2, h, w)
            }
            Cut::Shrink(f) => Ok(image
                .resize(image.height / f, image.width / f, FilterType::Lanczos3)
                .clipped()),
            Cut::CropToMultiple(d) => image.crop_to_multiple(d),
        }
    }

    fn apply_to_mask(self, mask: &Image) -> Result<Image> {
        match self {
            Cut::Shrink(f) => Ok(mask.resize(mask.height / f, mask.width / f, FilterType::Nearest)),
            other => other.apply(mask),
        }
    }
}

/// The four targets of the noise-impedance experiment (the paper's Fig. 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CurveTarget {
    /// A natural image.
    Image,
    /// The same image with Gaussian noise of σ = 25 added (clipped).
    ImageNoise,
    /// The same image with its pixels shuffled (all channels of a pixel together).
    Shuffled,
    /// Uniform noise in [0, 1].
    Noise,
}

impl CurveTarget {
    pub const ALL: [CurveTarget; 4] = [
        CurveTarget::Image,
        CurveTarget::ImageNoise,
        CurveTarget::Shuffled,
        CurveTarget::Noise,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CurveTarget::Image => "curve-image",
            CurveTarget::ImageNoise => "curve-image-noise",
            CurveTarget::Shuffled => "curve-shuffled",
            CurveTarget::Noise => "curve-noise",
        }
    }

    /// The target in words, as a chart's legend says it (the paper's Figure 2).
    pub fn label(self) -> &'static str {
        match self {
            CurveTarget::Image => "natural image",
            CurveTarget::ImageNoise => "image + noise",
            CurveTarget::Shuffled => "shuffled pixels",
            CurveTarget::Noise => "uniform noise",
        }
    }

    /// The target whose run is named `name`.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// What a job restores, and from which files of the data folder.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "task")]
pub enum Task {
    /// Inpainting. `mask` is a mask image (white known); without one, the zeros of
    /// `image` are the holes. The result is scored against `clean`; `reference` is
    /// the authors' published result.
    Inpainting {
        image: String,
        mask: Option<String>,
        clean: String,
        reference: Option<String>,
    },
    /// Gaussian noise of `sigma` (0–255 scale) added to `clean`, seeded by the run's seed.
    Denoising {
        clean: String,
        sigma: f32,
        reference: Option<String>,
    },
    /// Super-resolution of the HR image `clean` (of `set`) by `factor`: the paper's protocol.
    SuperResolution {
        clean: String,
        factor: usize,
        reference: Option<String>,
    },
    /// An image with JPEG artefacts and no clean version.
    Jpeg { image: String },
    /// Fit the net to a target made from `image`, recording the loss (no clean image).
    Curve { image: String, target: CurveTarget },
}

/// One run: an image of an experiment, with a seed and every setting.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Job {
    pub experiment: Experiment,
    /// The name of the run in its experiment (file names): `barbara`, `set5-x4-baby`, `kate`...
    pub image: String,
    /// The short name `--images` matches too: `baby` for `set5-x4-baby`.
    pub name: String,
    pub preset: String,
    /// Which of the `--seeds K` runs this is (0-based); also the seed of everything random.
    pub seed: u64,
    pub net: SkipConfig,
    pub fit: FitConfig,
    pub task: Task,
    pub cut: Cut,
    /// How the (cut) image is fitted to the network's input.
    pub framing: Framing,
    /// The rule that watches the outputs (their variance recorded each iteration);
    /// the run still goes to the end, and the record says where the rule would stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<StopRule>,
    /// Fit the (cut) image in these overlapping tiles, each on its own, and blend them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiles: Option<Tiles>,
}

impl Job {
    /// The job of the paper preset for `experiment` and the run `image` (seed 0).
    pub fn paper(experiment: Experiment, image: &str) -> Option<Job> {
        experiment_jobs(Preset::Paper, experiment)
            .into_iter()
            .find(|j| j.image == image)
    }

    /// The stem of its files in `results/<preset>/<experiment>/`: `<image>` or `<image>-seed<k>`.
    pub fn stem(&self) -> String {
        if self.seed == 0 {
            self.image.clone()
        } else {
            format!("{}-seed{}", self.image, self.seed)
        }
    }
}

/// The jobs of a preset, for the chosen experiments (all if empty), images (all if empty) and seeds.
pub fn jobs(
    preset: Preset,
    only: &[Experiment],
    images: &[String],
    iterations: Option<usize>,
    seeds: usize,
) -> Vec<Job> {
    let mut out = Vec::new();
    for &experiment in preset.experiments() {
        if !only.is_empty() && !only.contains(&experiment) {
            continue;
        }
        for job in experiment_jobs(preset, experiment) {
            if !images.is_empty() && !images.iter().any(|i| *i == job.image || *i == job.name) {
                continue;
            }
            for seed in 0..seeds.max(1) as u64 {
                let mut job = job.clone();
                job.seed = seed;
                job.fit.seed = seed;
                if let Some(n) = iterations {
                    job.fit.iterations = n;
                }
                out.push(job);
            }
        }
    }
    out
}

/// A fit configuration with the given settings and the rest off (no averaging, no
/// rollback, the final image from the clean `z`: `inpainting.ipynb`).
fn fit_config(iterations: usize, lr: f64, reg_noise_std: f64, input: InputKind) -> FitConfig {
    FitConfig {
        iterations,
        lr,
        reg_noise_std,
        input,
        exp_weight: None,
        rollback_drop_db: None,
        rollback_every: 1,
        rollback_check: RollbackCheck::Multiples,
        final_input: FinalInput::Clean,
        seed: 0,
    }
}

/// `denoising.ipynb` (also the JPEG snail): averaging with weight 0.99; the rollback
/// check on every iteration that is not a multiple of `show_every` = 100; the final
/// image off the last perturbed input.
fn denoising_fit(iterations: usize, input: InputKind) -> FitConfig {
    FitConfig {
        exp_weight: Some(0.99),
        rollback_drop_db: Some(5.0),
        rollback_every: 100,
        rollback_check: RollbackCheck::AllButMultiples,
        final_input: FinalInput::LastPerturbed,
        ..fit_config(iterations, 0.01, 1.0 / 30.0, input)
    }
}

/// `restoration.ipynb` (Table 1): the rollback check at the multiples of
/// `show_every` = 50; the final image off the last perturbed input.
fn table1_fit(iterations: usize, lr: f64) -> FitConfig {
    FitConfig {
        rollback_drop_db: Some(5.0),
        rollback_every: 50,
        rollback_check: RollbackCheck::Multiples,
        final_input: FinalInput::LastPerturbed,
        ..fit_config(iterations, lr, 0.03, NOISE32)
    }
}

/// `super-resolution.ipynb`: no averaging, no rollback; the final image off the
/// last perturbed input.
fn sr_fit(iterations: usize, reg_noise_std: f64) -> FitConfig {
    FitConfig {
        final_input: FinalInput::LastPerturbed,
        ..fit_config(iterations, 0.01, reg_noise_std, NOISE32)
    }
}

const NOISE32: InputKind = InputKind::Noise { channels: 32 };

/// How a preset reduces each experiment (the tables in the docs of [`Preset`]).
const TABLE1: Reduced = Reduced::crop(300, 64);
/// The cpu preset denoises its 64×64 crops for 400 iterations, not the paper's 3000:
/// a crop has 64 times fewer pixels than a 512×512 image and the net fits it, noise
/// included, that much sooner. Measured on F16's crop (`dip reproduce --preset cpu
/// --only denoising --images F16 --iterations 2000`): the averaged output peaks near
/// iteration 400 (29.8 dB) and falls to the noisy input's level by 2000 (20.9 dB).
const DENOISING: Reduced = Reduced {
    quick: (300, Cut::CentreCrop(64)),
    cpu: (Some(400), Cut::CentreCrop(64)),
};
const SR_X4: Reduced = Reduced::crop(250, 64);
const SR_X8: Reduced = Reduced {
    quick: (250, Cut::CentreCrop(96)),
    cpu: (None, Cut::CentreCrop(64)),
};

/// The runs of one experiment in one preset (seed 0).
fn experiment_jobs(p: Preset, experiment: Experiment) -> Vec<Job> {
    if !p.experiments().contains(&experiment) {
        return Vec::new();
    }
    match experiment {
        Experiment::Table1 => table1_jobs(p),
        Experiment::Denoising => denoising_jobs(p),
        Experiment::Sr => sr_jobs(p),
        Experiment::Demos => demo_jobs(p),
        Experiment::Stopping => stopping_jobs(p),
        Experiment::Tiling => tiling_jobs(p),
    }
}

/// One entry of the catalogue: a run of `experiment` with the paper's `net` and
/// `fit` (its iterations the paper's), reduced by `preset` as `reduced` says.
struct Entry {
    image: String,
    name: String,
    net: SkipConfig,
    fit: FitConfig,
    task: Task,
    paper_cut: Cut,
    reduced: Reduced,
    /// `None`: reflection-pad to the net's multiple of 2^depth.
    framing: Option<Framing>,
}

impl Entry {
    fn job(self, p: Preset, experiment: Experiment) -> Job {
        let (iterations, cut) = self.reduced.of(p, self.fit.iterations, self.paper_cut);
        let net = p.net(self.net);
        let framing = self
            .framing
            .unwrap_or(Framing::PadToMultiple(net.size_multiple()));
        Job {
            experiment,
            image: self.image,
            name: self.name,
            preset: p.name().to_string(),
            seed: 0,
            net,
            fit: FitConfig {
                iterations,
                ..self.fit
            },
            task: self.task,
            cut,
            framing,
            watch: None,
            tiles: None,
        }
    }
}

/// The iterations of the stopping experiment: past the paper's fixed 3000, so that
/// the rule's 1000 iterations of patience can run out after a late minimum.
pub const STOPPING_ITERATIONS: usize = 4000;

/// Denoising with the outputs watched by ES-WMV (Wang et al. 2023): the paper's
/// denoising runs, longer; the tiny preset's rule is scaled down to its 12 iterations.
fn stopping_jobs(p: Preset) -> Vec<Job> {
    let rule = match p {
        // Twelve iterations: a short window, and no guard (the loss has no time to halve).
        Preset::Tiny => StopRule {
            window: 3,
            patience: 4,
            guard: Guard { loss_fraction: 1.0 },
            ..StopRule::WMV
        },
        _ => StopRule::WMV,
    };
    denoising_jobs(p)
        .into_iter()
        .map(|mut job| {
            job.experiment = Experiment::Stopping;
            if p != Preset::Tiny {
                job.fit.iterations = STOPPING_ITERATIONS;
            }
            job.watch = Some(rule);
            job
        })
        .collect()
}

/// The images of the tiling experiment (names of [`paper::DENOISING_IMAGES`]).
pub const TILING_IMAGES: [&str; 3] = ["F16", "house", "peppers"];

/// Tiling: the denoising runs of [`TILING_IMAGES`] on a crop four times larger than
/// the cpu preset's (so that it needs 3 × 3 tiles of the preset's own size), fitted
/// whole and in tiles (`<image>-tiles<side>`), everything else the same.
fn tiling_jobs(p: Preset) -> Vec<Job> {
    let (crop, side) = if p == Preset::Tiny {
        (96, 64)
    } else {
        (128, 64)
    };
    denoising_jobs(p)
        .into_iter()
        .filter(|job| TILING_IMAGES.contains(&job.name.as_str()))
        .flat_map(|job| {
            let whole = Job {
                experiment: Experiment::Tiling,
                cut: Cut::CentreCrop(crop),
                ..job
            };
            let tiled = Job {
                image: format!("{}-tiles{side}", whole.image),
                tiles: Some(Tiles::of_side(side)),
                ..whole.clone()
            };
            [whole, tiled]
        })
        .collect()
}

/// Table 1: the 11 grey images with the paper's 50 % masks (`restoration.ipynb`):
/// the image reflection-padded by 1 pixel (512 → 514) and fitted at that size.
fn table1_jobs(p: Preset) -> Vec<Job> {
    // Quick's 300 iterations need the rate of the other experiments.
    let lr = if p == Preset::Quick { 0.01 } else { 0.001 };
    paper::TABLE1_IMAGES
        .iter()
        .map(|name| {
            Entry {
                image: name.to_string(),
                name: name.to_string(),
                net: SkipConfig::standard(32, 1),
                fit: table1_fit(11000, lr),
                task: Task::Inpainting {
                    image: format!("inpainting-table1/masked/{name}.png"),
                    mask: None,
                    clean: format!("inpainting-table1/{name}.png"),
                    reference: Some(format!("reference-outputs/inpainting-table1/{name}.png")),
                },
                paper_cut: Cut::Whole,
                reduced: TABLE1,
                framing: Some(Framing::ReflectBorder(1)),
            }
            .job(p, Experiment::Table1)
        })
        .collect()
}

/// Colour denoising at σ = 25, the 9 CBM3D images (`denoising.ipynb`, F16's settings).
fn denoising_jobs(p: Preset) -> Vec<Job> {
    paper::DENOISING_IMAGES
        .iter()
        .map(|(name, file)| {
            Entry {
                image: name.to_string(),
                name: name.to_string(),
                net: SkipConfig::standard(32, 3),
                fit: denoising_fit(3000, NOISE32),
                task: Task::Denoising {
                    clean: format!("denoising-cbm3d9/{file}.png"),
                    sigma: 25.0,
                    reference: Some(format!("reference-outputs/denoising-cbm3d9/{name}.png")),
                },
                // The reference crops to a multiple of 32: these images already are.
                paper_cut: Cut::Whole,
                reduced: DENOISING,
                framing: None,
            }
            .job(p, Experiment::Denoising)
        })
        .collect()
}

/// Super-resolution ×4 and ×8 of Set5 and Set14 (`super-resolution.ipynb`).
fn sr_jobs(p: Preset) -> Vec<Job> {
    let mut out = Vec::new();
    for (set, factor) in paper::SR_COLUMNS {
        let (iterations, reg, reduced) = match factor {
            8 => (4000, 0.05, SR_X8),
            _ => (2000, 0.03, SR_X4),
        };
        for name in paper::sr_images(set) {
            // Grey images (Set14's bridge) are restored as grey.
            let channels = if set == "set14" && *name == "bridge" {
                1
            } else {
                3
            };
            let entry = Entry {
                image: format!("{set}-x{factor}-{name}"),
                name: name.to_string(),
                net: SkipConfig::standard(32, channels),
                fit: sr_fit(iterations, reg),
                task: Task::SuperResolution {
                    clean: format!("{set}/{name}.png"),
                    factor,
                    reference: Some(format!("reference-outputs/sr/{set}/x{factor}/{name}.png")),
                },
                paper_cut: Cut::Whole,
                reduced,
                framing: None,
            };
            out.push(entry.job(p, Experiment::Sr));
        }
    }
    out
}

/// Text and region inpainting (`inpainting.ipynb`), JPEG artefacts
/// (`denoising.ipynb`'s snail) and the noise-impedance curves (Fig. 2).
fn demo_jobs(p: Preset) -> Vec<Job> {
    let inpaint = |name: &str| Task::Inpainting {
        image: format!("dip-repo/inpainting/{name}.png"),
        mask: Some(format!("dip-repo/inpainting/{name}_mask.png")),
        clean: format!("dip-repo/inpainting/{name}.png"),
        reference: None,
    };
    let library_net = SkipConfig {
        channels_down: vec![16, 32, 64, 128, 128, 128],
        channels_up: vec![16, 32, 64, 128, 128, 128],
        filter_down: vec![5; 6],
        need_1x1_up: false,
        ..SkipConfig::uniform(1, 3, 128, 128, 0, 6)
    }
    .with_upsample(Upsample::Nearest);
    let snail_net = SkipConfig {
        channels_down: vec![8, 16, 32, 64, 128],
        channels_up: vec![8, 16, 32, 64, 128],
        channels_skip: vec![0, 0, 0, 4, 4],
        ..SkipConfig::standard(3, 3)
    };
    let entry = |image: &str, net, fit, task, paper_cut, quick: (usize, Cut)| Entry {
        image: image.to_string(),
        name: image.to_string(),
        net,
        fit,
        task,
        paper_cut,
        reduced: Reduced {
            quick,
            cpu: (None, quick.1),
        },
        framing: None,
    };
    let mut out = vec![
        entry(
            "kate",
            SkipConfig::uniform(32, 3, 128, 128, 128, 5).with_upsample(Upsample::Nearest),
            fit_config(6001, 0.01, 0.03, NOISE32),
            inpaint("kate"),
            Cut::Whole,
            (300, Cut::CentreCrop(96)),
        ),
        entry(
            "vase",
            SkipConfig::uniform(2, 3, 128, 128, 0, 5).with_upsample(Upsample::Nearest),
            fit_config(5001, 0.01, 0.03, InputKind::Meshgrid),
            inpaint("vase"),
            Cut::Whole,
            (300, Cut::Shrink(4)),
        ),
        entry(
            "library",
            library_net,
            fit_config(3001, 0.01, 0.0, InputKind::Noise { channels: 1 }),
            inpaint("library"),
            Cut::Whole,
            (300, Cut::Shrink(2)),
        ),
        entry(
            "snail",
            snail_net,
            denoising_fit(2400, InputKind::Noise { channels: 3 }),
            Task::Jpeg {
                image: "dip-repo/denoising/snail.jpg".into(),
            },
            // The reference crops 400×261 to 384×256.
            Cut::CropToMultiple(32),
            (300, Cut::CentreCrop(128)),
        ),
    ];
    for target in CurveTarget::ALL {
        out.push(entry(
            target.name(),
            SkipConfig::standard(32, 3),
            fit_config(3000, 0.01, 0.0, NOISE32),
            Task::Curve {
                image: "denoising-cbm3d9/image_F16_512rgb.png".into(),
                target,
            },
            Cut::Whole,
            (400, Cut::CentreCrop(64)),
        ));
    }
    out.into_iter()
        .map(|e| e.job(p, Experiment::Demos))
        .collect()
}

/// A job made ready to fit: the problem, and what its result is scored against.
pub struct Prepared {
    pub problem: Problem,
    /// The clean image the result is scored against (the HR crop for SR), if any.
    pub clean: Option<Image>,
    /// The PSNR of the corrupted input (or of bicubic upsampling), for the record.
    pub baseline: Option<Baseline>,
    /// The corrupted image at the restored image's size, for figures: the masked or
    /// noisy image, the low-resolution image enlarged by bicubic interpolation (SR),
    /// the JPEG image, a noise-impedance target.
    pub input: Image,
    /// For SR of a whole image: the ground truth cropped top-left to a multiple of
    /// the factor, for [`metrics::psnr_sr`].
    pub sr_ground_truth: Option<Image>,
    /// The authors' published output cut to exactly the pixels of `clean` (the same
    /// crop, the same region for SR), to be measured like ours; `None` where they
    /// published none or the data folder lacks it.
    pub authors_output: Option<Image>,
}

/// What the result is compared with: the masked or noisy input, or bicubic upsampling.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Baseline {
    pub name: String,
    pub psnr: Option<f64>,
}

impl Job {
    /// Load the images of the job from `data`, cut them down, corrupt them, and build its problem.
    pub fn prepare(&self, data: &DataDir, device: &Device) -> Result<Prepared> {
        let load = |rel: &str| -> Result<Image> { Image::load(data.image(rel)?) };
        let framing = self.framing;
        let multiple = self.net.size_multiple();
        let channels = self.net.output_channels;
        let as_channels = |img: Image| -> Image {
            if channels == 1 {
                img.to_grey()
            } else {
                img
            }
        };
        // The authors' output, cut like the clean image (loaded only if the data folder has it).
        let authors = |rel: &Option<String>| -> Option<Image> {
            let path = data.image(rel.as_deref()?).ok()?;
            let image = Image::load(path).ok()?;
            self.cut.apply(&as_channels(image)).ok()
        };
        match &self.task {
            Task::Inpainting {
                image,
                mask,
                clean,
                reference,
            } => {
                let clean = as_channels(self.cut.apply(&load(clean)?)?);
                let (input, mask) = match mask {
                    Some(m) => (
                        clean.clone(),
                        inpainting::mask_from_image(&self.cut.apply_to_mask(&load(m)?)?),
                    ),
                    None => {
                        // The paper's masked input: the holes are its zeros (SOURCES.md).
                        let masked = as_channels(self.cut.apply(&load(image)?)?);
                        let mask = inpainting::mask_of_masked_image(&masked);
                        (masked, mask)
                    }
                };
                let problem = inpainting::problem(&input, &mask, Some(&clean), framing, device)?;
                let masked = inpainting::apply_mask(&clean, &mask)?;
                Ok(Prepared {
                    baseline: Some(Baseline {
                        name: "masked input".into(),
                        psnr: finite(metrics::psnr(&clean, &masked)?),
                    }),
                    input: masked,
                    problem,
                    clean: Some(clean),
                    sr_ground_truth: None,
                    authors_output: authors(reference),
                })
            }
            Task::Denoising {
                clean,
                sigma,
                reference,
            } => {
                let clean = as_channels(self.cut.apply(&load(clean)?)?);
                let noisy = denoising::add_noise(
                    &clean,
                    sigma / 255.0,
                    &mut Rng::new(self.seed ^ 0x00c0_ffee),
                );
                let problem = denoising::problem(&noisy, Some(&clean), framing, device)?;
                Ok(Prepared {
                    baseline: Some(Baseline {
                        name: "noisy input".into(),
                        psnr: finite(metrics::psnr(&clean, &noisy)?),
                    }),
                    input: noisy,
                    problem,
                    clean: Some(clean),
                    sr_ground_truth: None,
                    authors_output: authors(reference),
                })
            }
            Task::SuperResolution {
                clean,
                factor,
                reference,
            } => {
                let f = *factor;
                let gt = sr_ground_truth(&as_channels(load(clean)?), f)?;
                // The net restores the ground truth's centre crop divisible by 32, and
                // the authors' published canvas holds their output at the same place.
                let sr_region = |full: &Image| -> Result<Image> {
                    let region = self
                        .cut
                        .apply(&full.crop_to_multiple(metrics::SR_CROP_MULTIPLE)?)?;
                    region.crop(
                        0,
                        0,
                        region.height - region.height % f,
                        region.width - region.width % f,
                    )
                };
                let region = sr_region(&gt)?;
                let authors_output = reference
                    .as_deref()
                    .and_then(|rel| Image::load(data.image(rel).ok()?).ok())
                    .filter(|canvas| (canvas.height, canvas.width) == (gt.height, gt.width))
                    .and_then(|canvas| sr_region(&as_channels(canvas)).ok());
                let low = super_resolution::low_resolution(&region, f)?;
                let problem = super_resolution::problem(&low, f, Some(&region), multiple, device)?;
                let bicubic = super_resolution::bicubic(&low, f);
                Ok(Prepared {
                    baseline: Some(Baseline {
                        name: "bicubic".into(),
                        psnr: finite(problem.score.measure(&region, &bicubic)?),
                    }),
                    input: bicubic,
                    problem,
                    clean: Some(region),
                    sr_ground_truth: (self.cut == Cut::Whole).then_some(gt),
                    authors_output,
                })
            }
            Task::Jpeg { image } => {
                let img = as_channels(self.cut.apply(&load(image)?)?);
                Ok(Prepared {
                    problem: denoising::problem(&img, None, framing, device)?,
                    input: img,
                    clean: None,
                    baseline: None,
                    sr_ground_truth: None,
                    authors_output: None,
                })
            }
            Task::Curve { image, target } => {
                let img = as_channels(self.cut.apply(&load(image)?)?);
                let mut rng = Rng::new(self.seed ^ 0xf162);
                let target_image = curve_target(&img, *target, &mut rng);
                Ok(Prepared {
                    problem: denoising::problem(&target_image, None, framing, device)?,
                    input: target_image,
                    clean: None,
                    baseline: None,
                    sr_ground_truth: None,
                    authors_output: None,
                })
            }
        }
    }
}

/// The ground truth of super-resolution in the paper's protocol: the HR image
/// cropped top-left to a multiple of the factor.
pub fn sr_ground_truth(hr: &Image, factor: usize) -> Result<Image> {
    hr.crop(
        0,
        0,
        hr.height - hr.height % factor,
        hr.width - hr.width % factor,
    )
}

/// The target of a noise-impedance run.
pub fn curve_target(image: &Image, target: CurveTarget, rng: &mut Rng) -> Image {
    match target {
        CurveTarget::Image => image.clone(),
        CurveTarget::ImageNoise => denoising::add_noise(image, 25.0 / 255.0, rng),
        CurveTarget::Shuffled => {
            let plane = image.height * image.width;
            // A seeded Fisher-Yates permutation of the pixel positions.
            let keys = rng.uniform(plane, 0.0, 1.0);
            let mut order: Vec<usize> = (0..plane).collect();
            for i in (1..plane).rev() {
                let j = ((keys[i] as f64) * (i + 1) as f64) as usize;
                order.swap(i, j.min(i));
            }
            let mut data = Vec::with_capacity(image.data.len());
            for c in 0..image.channels {
                data.extend(order.iter().map(|&p| image.data[c * plane + p]));
            }
            Image {
                data,
                ..image.clone()
            }
        }
        CurveTarget::Noise => Image {
            data: rng.uniform(image.data.len(), 0.0, 1.0),
            ..image.clone()
        },
    }
}

/// `Some(v)` if `v` is finite (JSON has no infinities or NaNs).
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_experiments_parse_by_name() {
        for p in Preset::ALL {
            assert_eq!(Preset::parse(p.name()).unwrap(), p);
        }
        for e in Experiment::ALL {
            assert_eq!(Experiment::parse(e.name()).unwrap(), e);
        }
        assert!(Preset::parse("fast")
            .unwrap_err()
            .to_string()
            .contains("'fast'"));
    }

    #[test]
    fn the_quick_preset_narrows_the_paper_nets_to_64_channels_and_keeps_their_shape() {
        let paper = jobs(Preset::Paper, &[], &[], None, 1);
        let quick = jobs(Preset::Quick, &[], &[], None, 1);
        // Every experiment but the stopping rule's, which needs thousands of iterations.
        let paper: Vec<&Job> = paper
            .iter()
            .filter(|j| j.experiment != Experiment::Stopping)
            .collect();
        assert_eq!(paper.len(), quick.len());
        for (p, q) in paper.iter().zip(&quick) {
            assert_eq!((&p.experiment, &p.image), (&q.experiment, &q.image));
            assert_eq!(q.net, narrowed(p.net.clone(), QUICK_MAX_CHANNELS));
            assert_eq!(q.net.depth(), p.net.depth());
            assert_eq!(
                (&q.net.filter_down, &q.net.upsample),
                (&p.net.filter_down, &p.net.upsample)
            );
            assert!(q.net.channels_down.iter().all(|&c| c <= 64));
        }
        let t1 = quick.iter().find(|j| j.image == "barbara").unwrap();
        assert_eq!(t1.net.channels_down, vec![64; 5]);
        assert_eq!(t1.net.channels_skip, vec![4; 5]);
    }

    #[test]
    fn the_paper_preset_keeps_the_reference_settings() {
        let jobs = jobs(Preset::Paper, &[], &[], None, 1);
        assert_eq!(jobs.len(), 11 + 9 + 38 + 8 + 9);
        // The stopping runs are the denoising runs, longer, with ES-WMV watching.
        for s in jobs.iter().filter(|j| j.experiment == Experiment::Stopping) {
            let d = jobs
                .iter()
                .find(|d| d.experiment == Experiment::Denoising && d.image == s.image)
                .unwrap();
            assert_eq!((&s.net, &s.task, s.fit.lr), (&d.net, &d.task, d.fit.lr));
            assert_eq!(
                (s.fit.iterations, s.watch),
                (STOPPING_ITERATIONS, Some(StopRule::WMV))
            );
        }
        let find = |image: &str| jobs.iter().find(|j| j.image == image).unwrap();
        // Every net starts as PyTorch 0.4 started it (γ ~ U(0, 1)).
        assert!(jobs.iter().all(|j| j.net.bn_init == BnInit::Uniform));
        // restoration.ipynb: lr 0.001, 11000 it, rollback at i % 50 == 0, the 1-pixel border.
        let t1 = find("barbara");
        assert_eq!(
            (
                t1.fit.iterations,
                t1.fit.lr,
                t1.fit.rollback_every,
                t1.fit.rollback_check
            ),
            (11000, 0.001, 50, RollbackCheck::Multiples)
        );
        assert_eq!(t1.fit.final_input, FinalInput::LastPerturbed);
        assert_eq!(
            t1.net,
            SkipConfig::standard(32, 1).with_bn_init(BnInit::Uniform)
        );
        assert_eq!(
            (t1.cut, t1.framing),
            (Cut::Whole, Framing::ReflectBorder(1))
        );
        // denoising.ipynb: rollback where i % 100 != 0, averaging, the last perturbed input.
        for d in [find("F16"), find("snail")] {
            assert_eq!(
                (d.fit.rollback_every, d.fit.rollback_check, d.fit.exp_weight),
                (100, RollbackCheck::AllButMultiples, Some(0.99))
            );
            assert_eq!(d.fit.final_input, FinalInput::LastPerturbed);
        }
        // The snail is cropped to 384×256, a multiple of 32, not padded.
        assert_eq!(find("snail").cut, Cut::CropToMultiple(32));
        // super-resolution.ipynb: no rollback, no averaging, the last perturbed input.
        let x8 = find("set14-x8-zebra");
        assert_eq!((x8.fit.iterations, x8.fit.reg_noise_std), (4000, 0.05));
        for sr in jobs.iter().filter(|j| j.experiment == Experiment::Sr) {
            assert_eq!((sr.fit.rollback_drop_db, sr.fit.exp_weight), (None, None));
            assert_eq!(sr.fit.final_input, FinalInput::LastPerturbed);
        }
        // inpainting.ipynb keeps a local, clean net_input for its final image.
        let library = find("library");
        assert_eq!(library.fit.final_input, FinalInput::Clean);
        assert_eq!(library.net.filter_down, vec![5; 6]);
        assert!(!library.net.need_1x1_up);
        assert_eq!(library.fit.input, InputKind::Noise { channels: 1 });
    }

    #[test]
    fn the_cpu_preset_is_the_paper_on_centre_crops() {
        let paper = jobs(Preset::Paper, &[], &[], None, 1);
        let cpu = jobs(Preset::Cpu, &[], &[], None, 1);
        assert_eq!(
            cpu.len(),
            11 + 9 + 38 + 9 + 2 * TILING_IMAGES.len(),
            "table1, denoising, sr, stopping, and tiling (whole and tiled)"
        );
        // Tiling is the cpu preset's own: its runs are the cpu denoising runs on a larger crop.
        for t in cpu.iter().filter(|c| c.experiment == Experiment::Tiling) {
            let d = cpu
                .iter()
                .find(|d| d.experiment == Experiment::Denoising && t.image.starts_with(&d.image))
                .unwrap();
            assert_eq!((&t.net, &t.fit, &t.task), (&d.net, &d.fit, &d.task));
            assert_eq!(t.cut, Cut::CentreCrop(128), "{}", t.image);
        }
        for c in cpu.iter().filter(|c| c.experiment != Experiment::Tiling) {
            let p = paper
                .iter()
                .find(|p| (p.experiment, &p.image) == (c.experiment, &c.image))
                .unwrap();
            // Only denoising's iterations differ (a crop overfits sooner: `DENOISING`).
            let iterations = match c.experiment {
                Experiment::Denoising => 400,
                _ => p.fit.iterations,
            };
            let paper_fit = FitConfig {
                iterations,
                ..p.fit.clone()
            };
            assert_eq!(
                (&c.net, &c.fit, &c.task, c.framing, c.watch),
                (&p.net, &paper_fit, &p.task, p.framing, p.watch),
                "{}",
                c.image
            );
            assert_eq!(c.cut, Cut::CentreCrop(64), "{}", c.image);
        }
    }

    #[test]
    fn seeds_images_and_iterations_narrow_the_jobs() {
        let images = vec!["baby".to_string()];
        let jobs = jobs(Preset::Quick, &[Experiment::Sr], &images, Some(7), 3);
        assert_eq!(jobs.len(), 2 * 3);
        assert!(jobs
            .iter()
            .all(|j| j.fit.iterations == 7 && j.fit.seed == j.seed));
        assert_eq!(jobs[1].stem(), "set5-x4-baby-seed1");
        assert_eq!(jobs[0].stem(), "set5-x4-baby");
    }

    #[test]
    fn shuffled_target_is_a_permutation_of_the_pixels() {
        let img = Image::new(2, 3, 4, (0..24).map(|v| v as f32).collect()).unwrap();
        let s = curve_target(&img, CurveTarget::Shuffled, &mut Rng::new(1));
        assert_ne!(s.data, img.data);
        let mut first: Vec<f32> = s.data[..12].to_vec();
        first.sort_by(f32::total_cmp);
        assert_eq!(first, img.data[..12].to_vec());
        // The two channels of a pixel move together.
        for i in 0..12 {
            assert_eq!(s.data[12 + i], s.data[i] + 12.0);
        }
    }
}
