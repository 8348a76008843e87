//! How one preset's runs of an experiment stand against the authors' published
//! outputs measured on the same pixels: the one aggregation that the verdict, the
//! Results and the Discussion share, as the tables make it (each image's final PSNR
//! averaged over its seeds, then the mean over the images), and a two-sided
//! tolerance (|ours − the authors'| ≤ [`TOLERANCE_DB`]).

use crate::reproduce::paper;
use crate::reproduce::plan::{self, Cut, Experiment, Preset};
use crate::reproduce::record::Record;

/// Within this many dB of the authors' output on the same pixels, either side, an
/// image counts as reproduced: about the spread of one image's final PSNR over seeds.
pub const TOLERANCE_DB: f64 = 0.5;

/// The runs of an experiment that the paper has numbers for (a preset must cover them).
pub fn runs_of(experiment: Experiment) -> Vec<String> {
    match experiment {
        Experiment::Table1 => paper::TABLE1_IMAGES.iter().map(|s| s.to_string()).collect(),
        Experiment::Denoising => paper::DENOISING_IMAGES
            .iter()
            .map(|(n, _)| n.to_string())
            .collect(),
        Experiment::Sr => paper::SR_COLUMNS
            .iter()
            .flat_map(|&(set, f)| sr_runs(set, f))
            .collect(),
        _ => Vec::new(),
    }
}

/// The runs of one SR column: `set5-x4-baby`, …
pub fn sr_runs(set: &str, factor: usize) -> Vec<String> {
    paper::sr_images(set)
        .iter()
        .map(|n| format!("{set}-x{factor}-{n}"))
        .collect()
}

/// The parts of an experiment judged on their own: the SR columns (`Set5 ×4`, …),
/// else the whole experiment (an empty name). A mean over the four SR columns would
/// let a gain at ×4 hide a loss at ×8.
pub fn parts(experiment: Experiment) -> Vec<(String, Vec<String>)> {
    if experiment != Experiment::Sr {
        return vec![(String::new(), runs_of(experiment))];
    }
    paper::SR_COLUMNS
        .iter()
        .map(|&(set, f)| (sr_column_name(set, f), sr_runs(set, f)))
        .collect()
}

/// `Set5 ×4` from `set5`, 4.
pub fn sr_column_name(set: &str, factor: usize) -> String {
    format!("{} ×{factor}", capitalised(set))
}

/// `Set5` from `set5`.
pub fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// One image's standing: our final PSNR (mean over its seeds) and the authors' on
/// the same pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageGap {
    pub run: String,
    pub ours: f64,
    pub authors: f64,
    pub seeds: usize,
}

impl ImageGap {
    pub fn gap(&self) -> f64 {
        self.ours - self.authors
    }

    /// The run's image without its SR column (`baby` for `set5-x4-baby`).
    pub fn short_name(&self) -> &str {
        self.run.rsplit('-').next().unwrap_or(&self.run)
    }
}

/// Which pixels a preset's runs fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The whole images.
    Whole,
    /// Centre crops; the side where they all share one.
    Crops(Option<usize>),
}

impl Scope {
    /// The scope of `records`: whole if every one fit its whole image.
    pub fn of(records: &[&Record]) -> Self {
        if records.iter().all(|r| r.cut == Cut::Whole) {
            return Scope::Whole;
        }
        let mut sides = records.iter().map(|r| match r.cut {
            Cut::CentreCrop(side) => Some(side),
            _ => None,
        });
        let first = sides.next().flatten();
        Scope::Crops(first.filter(|f| sides.all(|s| s == Some(*f))))
    }

    /// In words: "whole images", "64 × 64 centre crops".
    pub fn describe(&self) -> String {
        match self {
            Scope::Whole => "whole images".into(),
            Scope::Crops(Some(side)) => format!("{side} × {side} centre crops"),
            Scope::Crops(None) => "centre crops".into(),
        }
    }
}

/// One preset's runs of some of an experiment's runs, against the authors.
#[derive(Clone, Debug, PartialEq)]
pub struct Standing {
    pub preset: String,
    /// The runs with our final PSNR and the authors' on the same pixels, in the order
    /// of the experiment's runs.
    pub images: Vec<ImageGap>,
    /// How many runs there are to cover.
    pub of: usize,
    pub scope: Scope,
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    sum / n.max(1) as f64
}

impl Standing {
    /// `preset`'s standing on `runs` of `experiment`; `None` where it has no run of
    /// them with both numbers.
    pub fn of(
        records: &[Record],
        experiment: Experiment,
        preset: &str,
        runs: &[String],
    ) -> Option<Self> {
        let mine: Vec<&Record> = records
            .iter()
            .filter(|r| r.experiment == experiment && r.preset == preset)
            .filter(|r| runs.contains(&r.image))
            .filter(|r| r.final_psnr.is_some() && r.authors_psnr.is_some())
            .collect();
        let images: Vec<ImageGap> = runs
            .iter()
            .filter_map(|run| {
                let seeds: Vec<&&Record> = mine.iter().filter(|r| &r.image == run).collect();
                (!seeds.is_empty()).then(|| ImageGap {
                    run: run.clone(),
                    ours: mean(seeds.iter().filter_map(|r| r.final_psnr)),
                    authors: mean(seeds.iter().filter_map(|r| r.authors_psnr)),
                    seeds: seeds.len(),
                })
            })
            .collect();
        (!images.is_empty()).then(|| Self {
            preset: preset.to_string(),
            images,
            of: runs.len(),
            scope: Scope::of(&mine),
        })
    }

    /// The mean over the images of our final PSNR.
    pub fn ours(&self) -> f64 {
        mean(self.images.iter().map(|i| i.ours))
    }

    /// The mean over the same images of the authors' output on the same pixels.
    pub fn authors(&self) -> f64 {
        mean(self.images.iter().map(|i| i.authors))
    }

    pub fn gap(&self) -> f64 {
        self.ours() - self.authors()
    }

    /// Whether every run is covered.
    pub fn complete(&self) -> bool {
        self.images.len() == self.of
    }

    /// The images whose gap is outside ±[`TOLERANCE_DB`], in the runs' order.
    pub fn outside(&self) -> Vec<&ImageGap> {
        self.images
            .iter()
            .filter(|i| i.gap().abs() > TOLERANCE_DB)
            .collect()
    }

    /// "7 of 11 images within ±0.5 dB (outside: boat −0.86, hill +0.89)".
    pub fn within_sentence(&self) -> String {
        let outside = self.outside();
        let n = self.images.len();
        let within = n - outside.len();
        let list: Vec<String> = outside
            .iter()
            .map(|i| format!("{} {}", i.short_name(), signed(i.gap())))
            .collect();
        let images = if n == 1 { "image" } else { "images" };
        let mut s = format!("{within} of {n} {images} within ±{TOLERANCE_DB} dB");
        if !list.is_empty() {
            s += &format!(" (outside: {})", list.join(", "));
        }
        s
    }
}

/// `+0.27` or `−1.31` (a true minus sign).
pub fn signed(v: f64) -> String {
    let s = format!("{v:+.2}");
    s.replacen('-', "−", 1)
}

/// The presets with runs of `experiment` that carry the authors' comparator
/// (`authors_psnr`), strongest first.
pub fn presets_with_comparator(records: &[Record], experiment: Experiment) -> Vec<String> {
    let mut presets: Vec<&str> = records
        .iter()
        .filter(|r| r.experiment == experiment && r.authors_psnr.is_some())
        .map(|r| r.preset.as_str())
        .collect();
    presets.sort_by_key(|p| Preset::parse(p).map_or(usize::MAX, |p| p as usize));
    presets.dedup();
    presets.into_iter().map(String::from).collect()
}

/// What a preset runs, in a few words, its exceptions to the paper's settings
/// named: "the paper's settings on 64 × 64 centre crops (except: 400 iterations,
/// not 3000)".
pub fn protocol(preset: &str, experiment: Experiment) -> String {
    match Preset::parse(preset) {
        Ok(Preset::Paper) => "the paper's settings on whole images".into(),
        Ok(Preset::Cpu) => {
            let mut s = format!(
                "the paper's settings on {}",
                preset_scope(Preset::Cpu, experiment).describe()
            );
            let exceptions = exceptions(Preset::Cpu, experiment);
            if !exceptions.is_empty() {
                s += &format!(" (except: {})", exceptions.join("; "));
            }
            s
        }
        Ok(Preset::Quick) => format!(
            "a reduced protocol: {}, nets at most {} channels wide, a few hundred iterations",
            preset_scope(Preset::Quick, experiment).describe(),
            crate::net::NARROW_WIDTH
        ),
        Ok(Preset::Tiny) => "the test preset (seconds)".into(),
        Err(_) => "an unknown preset".into(),
    }
}

/// What a preset changes of the paper's settings, its scope apart: "the paper's
/// settings", "the paper's settings but 400 iterations, not 3000".
pub fn settings(preset: &str, experiment: Experiment) -> String {
    match Preset::parse(preset) {
        Ok(p @ (Preset::Paper | Preset::Cpu)) => {
            let exceptions = exceptions(p, experiment);
            if exceptions.is_empty() {
                "the paper's settings".into()
            } else {
                format!("the paper's settings but {}", exceptions.join(", "))
            }
        }
        Ok(Preset::Quick) => format!(
            "reduced: nets at most {} channels wide, a few hundred iterations",
            crate::net::NARROW_WIDTH
        ),
        Ok(Preset::Tiny) => "the test preset".into(),
        Err(_) => "an unknown preset".into(),
    }
}

/// The scope of a preset's planned runs of `experiment`.
fn preset_scope(preset: Preset, experiment: Experiment) -> Scope {
    let jobs = plan::jobs(preset, &[experiment], &[], None, 1);
    let mut sides = jobs.iter().map(|j| j.cut);
    match sides.next() {
        None | Some(Cut::Whole) => Scope::Whole,
        Some(Cut::CentreCrop(side)) if sides.all(|c| c == Cut::CentreCrop(side)) => {
            Scope::Crops(Some(side))
        }
        Some(_) => Scope::Crops(None),
    }
}

/// Where a preset's planned runs of `experiment` differ from the paper preset's
/// besides the cut: "400 iterations, not 3000" (each difference once).
pub fn exceptions(preset: Preset, experiment: Experiment) -> Vec<String> {
    let paper_jobs = plan::jobs(Preset::Paper, &[experiment], &[], None, 1);
    let mut out: Vec<String> = Vec::new();
    for job in plan::jobs(preset, &[experiment], &[], None, 1) {
        let Some(theirs) = paper_jobs.iter().find(|j| j.image == job.image) else {
            continue;
        };
        let mut found = Vec::new();
        if job.fit.iterations != theirs.fit.iterations {
            found.push(format!(
                "{} iterations, not {}",
                job.fit.iterations, theirs.fit.iterations
            ));
        }
        let (mut ours, mut paper) = (job.fit.clone(), theirs.fit.clone());
        (ours.iterations, paper.iterations) = (0, 0);
        if ours != paper {
            found.push("other fitting settings".into());
        }
        if job.net != theirs.net {
            found.push("another network".into());
        }
        for f in found {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `cpu` Table 1 record of `image` with these PSNRs.
    fn record(image: &str, seed: u64, ours: f64, authors: f64) -> Record {
        crate::reproduce::record::test_record(image, seed, None, (ours, authors))
    }

    #[test]
    fn seeds_are_averaged_per_image_then_images_and_the_tolerance_is_two_sided() {
        let records = vec![
            record("barbara", 0, 39.0, 39.1),
            record("barbara", 1, 39.4, 39.1),
            record("boat", 0, 30.0, 31.0),
            record("house", 0, 36.0, 35.2),
        ];
        let s = Standing::of(
            &records,
            Experiment::Table1,
            "cpu",
            &runs_of(Experiment::Table1),
        )
        .unwrap();
        // barbara (39.0 + 39.4) / 2 = 39.2: a gap of +0.1 within; boat −1.0 and house +0.8 outside.
        assert!((s.ours() - (39.2 + 30.0 + 36.0) / 3.0).abs() < 1e-12);
        assert_eq!(s.images[0].seeds, 2);
        assert!(!s.complete());
        assert_eq!(
            s.within_sentence(),
            "1 of 3 images within ±0.5 dB (outside: boat −1.00, house +0.80)"
        );
        assert_eq!(s.scope, Scope::Crops(Some(64)));
        assert!(Standing::of(&records, Experiment::Table1, "paper", &["boat".into()]).is_none());
    }

    #[test]
    fn the_cpu_preset_names_its_exceptions_from_the_plan() {
        let paper = plan::jobs(Preset::Paper, &[Experiment::Denoising], &[], None, 1);
        let cpu = plan::jobs(Preset::Cpu, &[Experiment::Denoising], &[], None, 1);
        let expected = format!(
            "{} iterations, not {}",
            cpu[0].fit.iterations, paper[0].fit.iterations
        );
        assert_ne!(cpu[0].fit.iterations, paper[0].fit.iterations);
        assert_eq!(exceptions(Preset::Cpu, Experiment::Denoising).len(), 1);
        assert_eq!(exceptions(Preset::Cpu, Experiment::Denoising)[0], expected);
        assert!(protocol("cpu", Experiment::Denoising).contains(&expected));
        assert!(exceptions(Preset::Cpu, Experiment::Table1).is_empty());
        assert_eq!(
            protocol("cpu", Experiment::Table1),
            "the paper's settings on 64 × 64 centre crops"
        );
    }
}
