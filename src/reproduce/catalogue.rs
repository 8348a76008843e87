//! The catalogue of experiments: one declarative entry per run of the paper — its
//! image, the task's specification (`tasks::*::paper`, shared with the command line
//! and the notebooks), its data files — and how each preset reduces it.

use super::paper;
use super::plan::{CurveTarget, Cut, Experiment, Job, Preset, Task};
use crate::fit::FitConfig;
use crate::input::InputKind;
use crate::net::{SkipConfig, Upsample, NARROW_WIDTH};
use crate::stopping::{Guard, StopRule};
use crate::tasks::{denoising, inpainting, plain_fit, super_resolution, Framing, Spec, NOISE32};
use crate::tiling::Tiles;

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
pub(super) fn experiment_jobs(p: Preset, experiment: Experiment) -> Vec<Job> {
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
        Experiment::StoppingSizes => stopping_sizes_jobs(p),
        Experiment::StoppingFast => stopping_fast_jobs(p),
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
            guard: Guard {
                loss_fraction: 1.0,
                noise_multiple: None,
            },
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

/// The centre crops and noise levels (0–255) of the stopping runs where users run the
/// rule: larger than the cpu preset's 64², at the paper's σ and on either side of it.
pub const STOPPING_SIZES: [usize; 2] = [128, 256];
pub const STOPPING_SIGMAS: [f32; 3] = [15.0, 25.0, 50.0];

/// The stopping runs (their images, iterations and rule) on each of [`STOPPING_SIZES`]
/// at each of [`STOPPING_SIGMAS`], named `<image>-<side>-s<σ>` (`--images <image>` picks
/// all six); the authors' output is
/// measured where it is of the same noise (σ = 25). The tiny preset runs one image,
/// its own crop, σ = 25.
fn stopping_sizes_jobs(p: Preset) -> Vec<Job> {
    let (sizes, sigmas, images): (&[usize], &[f32], usize) = match p {
        Preset::Tiny => (&[32], &[25.0], 1),
        _ => (
            &STOPPING_SIZES,
            &STOPPING_SIGMAS,
            paper::DENOISING_IMAGES.len(),
        ),
    };
    let bases: Vec<Job> = stopping_jobs(p).into_iter().take(images).collect();
    let mut out = Vec::new();
    // The smaller crop of every image first: its runs take a quarter of the time.
    for &side in sizes {
        for base in &bases {
            for &level in sigmas {
                let mut job = base.clone();
                job.experiment = Experiment::StoppingSizes;
                job.image = format!("{}-{side}-s{level}", base.image);
                job.cut = Cut::CentreCrop(side);
                if let Task::Denoising {
                    sigma, reference, ..
                } = &mut job.task
                {
                    if level != *sigma {
                        *reference = None;
                    }
                    *sigma = level;
                }
                out.push(job);
            }
        }
    }
    out
}

/// The stopping runs of `dip denoise --fast` ([`denoising::fast`]): the cpu preset's
/// 64² runs and the 128² runs at the paper's σ of [`stopping_sizes_jobs`], on the narrow
/// net, named as the standard net's runs they are set beside. The tiny preset runs
/// its first image.
fn stopping_fast_jobs(p: Preset) -> Vec<Job> {
    let paper_sigma = denoising::paper(3).corruption;
    let larger = stopping_sizes_jobs(p).into_iter().filter(|job| {
        job.cut == Cut::CentreCrop(STOPPING_SIZES[0])
            && matches!(job.task, Task::Denoising { sigma, .. } if sigma == paper_sigma)
    });
    let mut jobs: Vec<Job> = stopping_jobs(p).into_iter().chain(larger).collect();
    if p == Preset::Tiny {
        jobs.truncate(1);
    }
    for job in &mut jobs {
        job.experiment = Experiment::StoppingFast;
        job.net = job.net.clone().narrowed(NARROW_WIDTH);
    }
    jobs
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
    let spec = inpainting::paper();
    // Quick's 300 iterations need the rate of the other experiments.
    let lr = if p == Preset::Quick {
        0.01
    } else {
        spec.fit.lr
    };
    paper::TABLE1_IMAGES
        .iter()
        .map(|name| {
            Entry {
                image: name.to_string(),
                name: name.to_string(),
                net: spec.net.clone(),
                fit: FitConfig {
                    lr,
                    ..spec.fit.clone()
                },
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
    let Spec {
        net,
        fit,
        corruption: sigma,
    } = denoising::paper(3);
    paper::DENOISING_IMAGES
        .iter()
        .map(|(name, file)| {
            Entry {
                image: name.to_string(),
                name: name.to_string(),
                net: net.clone(),
                fit: fit.clone(),
                task: Task::Denoising {
                    clean: format!("denoising-cbm3d9/{file}.png"),
                    sigma,
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
        let reduced = if factor == 8 { SR_X8 } else { SR_X4 };
        for name in paper::sr_images(set) {
            // Grey images (Set14's bridge) are restored as grey.
            let channels = if set == "set14" && *name == "bridge" {
                1
            } else {
                3
            };
            let spec = super_resolution::paper(factor, channels);
            let entry = Entry {
                image: format!("{set}-x{factor}-{name}"),
                name: name.to_string(),
                net: spec.net,
                fit: spec.fit,
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
            plain_fit(6001, 0.01, 0.03, NOISE32),
            inpaint("kate"),
            Cut::Whole,
            (300, Cut::CentreCrop(96)),
        ),
        entry(
            "vase",
            SkipConfig::uniform(2, 3, 128, 128, 0, 5).with_upsample(Upsample::Nearest),
            plain_fit(5001, 0.01, 0.03, InputKind::Meshgrid),
            inpaint("vase"),
            Cut::Whole,
            (300, Cut::Shrink(4)),
        ),
        entry(
            "library",
            library_net,
            plain_fit(3001, 0.01, 0.0, InputKind::Noise { channels: 1 }),
            inpaint("library"),
            Cut::Whole,
            (300, Cut::Shrink(2)),
        ),
        entry(
            "snail",
            snail_net,
            denoising::fit(2400, InputKind::Noise { channels: 3 }),
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
            plain_fit(3000, 0.01, 0.0, NOISE32),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::{FinalInput, RollbackCheck};
    use crate::net::BnInit;
    use crate::reproduce::plan::jobs;

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
            assert_eq!(q.net, p.net.clone().narrowed(NARROW_WIDTH));
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
        // The larger stopping runs, on request only, are the cpu stopping runs on other
        // crops and noise levels.
        let larger = jobs(Preset::Cpu, &[Experiment::StoppingSizes], &[], None, 1);
        assert_eq!(
            larger.len(),
            9 * STOPPING_SIZES.len() * STOPPING_SIGMAS.len()
        );
        for r in &larger {
            let s = cpu
                .iter()
                .find(|s| s.experiment == Experiment::Stopping && r.image.starts_with(&s.image))
                .unwrap();
            assert_eq!((&r.net, &r.fit, r.watch), (&s.net, &s.fit, s.watch));
            let (
                Task::Denoising {
                    sigma, reference, ..
                },
                Cut::CentreCrop(side),
            ) = (&r.task, r.cut)
            else {
                panic!("{}: not a denoising crop", r.image);
            };
            assert_eq!(r.image, format!("{}-{side}-s{sigma}", s.image));
            assert_eq!(reference.is_some(), *sigma == 25.0, "{}", r.image);
        }
        // --fast's runs are the cpu stopping runs and the 128² ones at σ = 25, of the same
        // names, on the narrow net: otherwise the same jobs.
        let fast = jobs(Preset::Cpu, &[Experiment::StoppingFast], &[], None, 1);
        let standard: Vec<&Job> = cpu
            .iter()
            .filter(|c| c.experiment == Experiment::Stopping)
            .chain(larger.iter().filter(|r| r.image.ends_with("-128-s25")))
            .collect();
        assert_eq!(fast.len(), 18);
        for (f, s) in fast.iter().zip(standard) {
            assert_eq!(f.net, s.net.clone().narrowed(NARROW_WIDTH));
            assert_eq!(f.net.width(), NARROW_WIDTH);
            assert_eq!(
                (&f.image, &f.fit, &f.task, f.cut, f.watch),
                (&s.image, &s.fit, &s.task, s.cut, s.watch)
            );
        }
        // Tiling is the cpu preset's own: its runs are the cpu denoising runs on a larger crop.
        for t in cpu.iter().filter(|c| c.experiment == Experiment::Tiling) {
            let d = cpu
                .iter()
                .find(|d| d.experiment == Experiment::Denoising && t.image.starts_with(&d.image))
                .unwrap();
            assert_eq!((&t.net, &t.fit, &t.task), (&d.net, &d.fit, &d.task));
            assert_eq!(t.cut, Cut::CentreCrop(128), "{}", t.image);
        }
        let own = [Experiment::Tiling, Experiment::StoppingSizes];
        for c in cpu.iter().filter(|c| !own.contains(&c.experiment)) {
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
}
