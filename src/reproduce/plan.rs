//! What to run: the presets, the experiments, and one [`Job`] per (image, seed).
//!
//! A job holds every setting of its run (the network, the fit, the task, how the
//! image is cut down), so that its record can say exactly what was run. The runs
//! themselves are listed in [`super::catalogue`]; a job becomes a problem to fit in
//! [`super::prepare`].

use image::imageops::FilterType;

use super::catalogue::experiment_jobs;
// The noise-impedance targets are made where the other corruptions are; the chapters'
// code reaches them beside `CurveTarget`.
pub use super::prepare::curve_target;
use crate::error::{DipError, Result};
use crate::fit::FitConfig;
use crate::image_io::Image;
use crate::net::{BnInit, SkipConfig, NARROW_WIDTH};
use crate::stopping::StopRule;
use crate::tasks::Framing;
use crate::tiling::Tiles;

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
    /// ([`NARROW_WIDTH`]; the standard net's 128 become 64, a quarter of
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
    /// quick, the same net at most [`NARROW_WIDTH`] wide; the tiny one (same
    /// input, output, skips on/off and upsampling).
    pub(super) fn net(self, paper: SkipConfig) -> SkipConfig {
        let paper = paper.with_bn_init(BnInit::Uniform);
        match self {
            Preset::Paper | Preset::Cpu => return paper,
            Preset::Quick => return paper.narrowed(NARROW_WIDTH),
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
            Preset::Cpu => &[
                Table1,
                Denoising,
                Sr,
                Stopping,
                StoppingSizes,
                StoppingFast,
                Tiling,
            ],
            // The stopping rule needs thousands of iterations: not a quick experiment.
            Preset::Quick => &[Table1, Denoising, Sr, Demos],
            // Tiling is this project's question, not the paper's.
            Preset::Paper => &[Table1, Denoising, Sr, Demos, Stopping],
            Preset::Tiny => &Experiment::ALL,
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
    /// The stopping runs on larger crops (128², 256²) at σ = 15, 25 and 50, the
    /// outputs and the averaged outputs watched: the rule where users run it.
    #[serde(rename = "stopping-sizes")]
    StoppingSizes,
    /// The stopping runs at σ = 25 on 64² and 128² crops with `dip denoise --fast`'s
    /// narrow net: what the faster setting costs against the standard net.
    #[serde(rename = "stopping-fast")]
    StoppingFast,
}

impl Experiment {
    pub const ALL: [Experiment; 8] = [
        Experiment::Table1,
        Experiment::Denoising,
        Experiment::Sr,
        Experiment::Demos,
        Experiment::Stopping,
        Experiment::Tiling,
        Experiment::StoppingSizes,
        Experiment::StoppingFast,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Experiment::Table1 => "table1",
            Experiment::Denoising => "denoising",
            Experiment::Sr => "sr",
            Experiment::Demos => "demos",
            Experiment::Stopping => "stopping",
            Experiment::Tiling => "tiling",
            Experiment::StoppingSizes => "stopping-sizes",
            Experiment::StoppingFast => "stopping-fast",
        }
    }

    /// Whether the experiment runs only when named (`--only`): the stopping runs on
    /// larger crops take about a day on 2 cores, more than the rest of their preset;
    /// the narrow net's are a question of the command line, not of the paper.
    pub fn on_request_only(self) -> bool {
        matches!(self, Experiment::StoppingSizes | Experiment::StoppingFast)
    }

    pub fn parse(name: &str) -> Result<Self> {
        Experiment::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| {
                DipError::invalid(format!(
                    "unknown experiment '{name}': use table1, denoising, sr, demos, stopping, tiling, stopping-sizes or stopping-fast"
                ))
            })
    }
}

impl std::str::FromStr for Experiment {
    type Err = DipError;

    fn from_str(name: &str) -> Result<Self> {
        Experiment::parse(name)
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

    pub(super) fn apply(self, image: &Image) -> Result<Image> {
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

    pub(super) fn apply_to_mask(self, mask: &Image) -> Result<Image> {
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

/// The jobs of a preset, for the chosen experiments (all but those run on request
/// only, if empty), images (all if empty) and seeds.
pub fn jobs(
    preset: Preset,
    only: &[Experiment],
    images: &[String],
    iterations: Option<usize>,
    seeds: usize,
) -> Vec<Job> {
    let mut out = Vec::new();
    for &experiment in preset.experiments() {
        let chosen = if only.is_empty() {
            !experiment.on_request_only()
        } else {
            only.contains(&experiment)
        };
        if !chosen {
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
}
