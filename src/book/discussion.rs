//! The Discussion chapter, experiment by experiment: for each preset with runs, our
//! mean, the authors' output on the same pixels, the gap, its spread over the images
//! and the seeds, how much a run's own last iterations move, and what the runs cost;
//! then what the paper's whole protocol would cost here. Every number is computed
//! from the records (and the paper's tables in [`paper`]), so none can go stale; the
//! prose around them names causes, not numbers.

use std::fmt::Write;

use super::standing::{capitalised, presets_with_comparator, protocol, runs_of, signed, Standing};
use super::verdict::{title, EXPERIMENTS};
use crate::reproduce::paper;
use crate::reproduce::plan::{self, Experiment, Preset};
use crate::reproduce::record::{BenchRecord, Implementation, Record};
use crate::reproduce::tables;

/// The last iterations over which a run's own fluctuation is measured.
const LAST_ITERATIONS: usize = 1000;

/// The Discussion's generated body (Markdown); `twins` are the PyTorch twins' records.
pub fn discussion(records: &[Record], twins: &[Record], bench: &[BenchRecord]) -> String {
    let mut out = String::new();
    for experiment in EXPERIMENTS {
        let _ = writeln!(out, "### {}\n", title(experiment));
        out += &paper_line(experiment);
        let presets = presets_with_comparator(records, experiment);
        if presets.is_empty() {
            out += "No recorded run yet.\n\n";
        }
        for preset in presets {
            out += &preset_item(records, experiment, &preset);
            out += &twin_item(records, twins, experiment, &preset);
        }
        out += "\n";
        if experiment == Experiment::Table1 {
            out += &paper_protocol_cost(bench);
        }
    }
    out
}

/// What the paper says, and (Table 1) how its number relates to its published images.
fn paper_line(experiment: Experiment) -> String {
    match experiment {
        Experiment::Table1 => {
            let authors = mean(&paper::TABLE1_DIP_AUTHORS_OUTPUTS).unwrap_or(f64::NAN);
            format!(
                "The paper's mean is {:.2} dB; the authors' published outputs, measured by our code \
                 on the whole images, average {authors:.2} dB: the paper's number is its images', \
                 so the same-pixel comparison below compares with the paper itself.\n\n",
                paper::TABLE1_DIP_MEAN
            )
        }
        Experiment::Denoising => format!(
            "The paper's mean over the nine images is {:.2} dB (CBM3D {:.2} dB).\n\n",
            paper::DENOISING_DIP_MEAN,
            paper::DENOISING_CBM3D_MEAN
        ),
        _ => "The paper reports means over Set5 and Set14 on whole images. Where our runs are \
              crops, what compares is the gain over bicubic on the same crops, ours and the \
              authors'.\n\n"
            .to_string(),
    }
}

/// One preset's item: the comparison, its spread, the seeds, the fluctuation, the cost.
fn preset_item(records: &[Record], experiment: Experiment, preset: &str) -> String {
    let runs: Vec<&Record> = records
        .iter()
        .filter(|r| r.experiment == experiment && r.preset == preset && r.authors_psnr.is_some())
        .collect();
    let first_seeds: Vec<&Record> = runs.iter().copied().filter(|r| r.seed == 0).collect();
    let all = runs_of(experiment).len();
    let mut item = format!(
        "- **`{preset}`**, {} ({} of {all} runs):",
        protocol(preset, experiment),
        first_seeds.len()
    );
    if experiment == Experiment::Sr {
        item += &sr_gains(&first_seeds);
    } else {
        item += &gap_summary(records, experiment, preset);
    }
    item += &whole_against_crop(records, &first_seeds);
    item += &seed_spread(&runs);
    item += &fluctuation(&first_seeds);
    item += &cost(&runs);
    item + "\n"
}

/// Ours against the PyTorch twin of the same jobs, where there is one: on how many
/// images the two differ beyond their seed spread (the twin table's Welch test), and
/// ours − twin (means over the seeds) where a side has a single run.
fn twin_item(records: &[Record], twins: &[Record], experiment: Experiment, preset: &str) -> String {
    let all = tables::comparisons(records, twins, experiment, preset);
    let (tested, untested): (Vec<_>, Vec<_>) = all.iter().partition(|c| c.test.is_some());
    let mut item = String::new();
    if !tested.is_empty() {
        let tests = tested.iter().filter_map(|c| c.test.as_ref());
        let differ = tests.clone().filter(|w| w.p < tables::TWIN_ALPHA).count();
        let (low, high) = tests.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), w| {
            (l.min(w.difference), h.max(w.difference))
        });
        item += &format!(
            " Against the PyTorch twin of the same jobs (`benches/torch_twin.py`), on {} \
             image(s) with seeds on both sides: {differ} differ beyond the seed spread \
             (Welch's t-test, p < {}); ours − twin from {} to {} dB.",
            tested.len(),
            tables::TWIN_ALPHA,
            signed(low),
            signed(high)
        );
    }
    let single: Vec<String> = untested
        .iter()
        .filter_map(|c| {
            let (ours, twin) = (mean(&c.ours)?, mean(&c.twin)?);
            Some(format!(
                "{} {} dB ({} + {} runs)",
                c.image,
                signed(ours - twin),
                c.ours.len(),
                c.twin.len()
            ))
        })
        .collect();
    if !single.is_empty() {
        item += &format!(
            " Ours − the PyTorch twin, not tested (a side with a single run): {}.",
            single.join(", ")
        );
    }
    if let Some(p) = tables::pooled(records, twins, experiment, preset) {
        let w = &p.test;
        item += &format!(
            " All {} images together (the t-test of the per-image differences): ours − twin \
             {} dB on average, p = {:.4}{}.",
            p.images,
            signed(w.difference),
            w.p,
            if w.p < tables::TWIN_ALPHA {
                ": a difference common to the images"
            } else {
                ", no difference detected"
            }
        );
    }
    if item.is_empty() {
        return item;
    }
    format!("  {}\n", item.trim_start())
}

/// Images that `runs` fit whole and another preset fit on a crop: the gap to the authors'
/// output on each (the same code, the whole problem against a cut-out of it).
fn whole_against_crop(records: &[Record], runs: &[&Record]) -> String {
    let gap = |r: &Record| Some(r.final_psnr? - r.authors_psnr?);
    let mut parts = Vec::new();
    for whole in runs.iter().filter(|r| r.cut == plan::Cut::Whole) {
        let cropped = records.iter().find(|r| {
            r.experiment == whole.experiment
                && r.image == whole.image
                && r.seed == 0
                && matches!(r.cut, plan::Cut::CentreCrop(_))
        });
        if let (Some(w), Some(crop)) = (gap(whole), cropped) {
            if let (Some(c), plan::Cut::CentreCrop(side)) = (gap(crop), crop.cut) {
                parts.push(format!(
                    "{}: {} dB on the whole image, {} dB on its {side} × {side} crop (`{}`)",
                    whole.image,
                    signed(w),
                    signed(c),
                    crop.preset
                ));
            }
        }
    }
    if parts.is_empty() {
        return String::new();
    }
    format!(
        " Ours minus the authors' output, the same image whole and cropped: {}.",
        parts.join("; ")
    )
}

/// Ours, the authors' on the same pixels, the gap (each image's mean over its seeds,
/// then the mean over the images, as the tables); the images outside the tolerance.
fn gap_summary(records: &[Record], experiment: Experiment, preset: &str) -> String {
    let Some(s) = Standing::of(records, experiment, preset, &runs_of(experiment)) else {
        return " no final PSNR recorded.".into();
    };
    format!(
        " ours {:.2} dB against the authors' output on the same pixels {:.2} dB, a gap of \
         {} dB (each image's mean over its seeds, then the mean over the images); {}.",
        s.ours(),
        s.authors(),
        signed(s.gap()),
        s.within_sentence()
    )
}

/// For each SR column with runs: our mean gain over bicubic and the authors' on the same crops.
fn sr_gains(runs: &[&Record]) -> String {
    let mut parts = Vec::new();
    for (set, factor) in paper::SR_COLUMNS {
        let prefix = format!("{set}-x{factor}-");
        let column: Vec<&Record> = runs
            .iter()
            .copied()
            .filter(|r| r.image.starts_with(&prefix))
            .collect();
        let baseline = |r: &Record| r.baseline.as_ref().and_then(|b| b.psnr);
        let ours = mean_of(&column, |r| Some(r.final_psnr? - baseline(r)?));
        let authors = mean_of(&column, |r| Some(r.authors_psnr? - baseline(r)?));
        if let (Some(o), Some(a)) = (ours, authors) {
            // A column with some of the set's images names them: its mean is theirs only.
            let whole_set = column.len() >= paper::sr_images(set).len();
            let mut label = format!("{} ×{factor}", capitalised(set));
            if !whole_set {
                let names: Vec<&str> = column.iter().map(|r| &r.image[prefix.len()..]).collect();
                let _ = write!(label, " ({} only)", names.join(", "));
            }
            let mut part = format!(
                "{label}, ours {} dB over bicubic against the authors' {} dB",
                signed(o),
                signed(a)
            );
            let whole_images = column.iter().all(|r| r.cut == plan::Cut::Whole);
            let where_ = if whole_images {
                "on the whole images"
            } else {
                "on our crops"
            };
            let bicubic = mean_of(&column, |r| baseline(r));
            let paper_bicubic =
                paper::sr_value(paper::SR_BICUBIC, set, factor).filter(|_| whole_set);
            match (bicubic, paper_bicubic) {
                (Some(b), Some(p)) => {
                    let _ = write!(
                        part,
                        " (bicubic {b:.2} dB {where_}, {p:.2} dB in the paper)"
                    );
                }
                (Some(b), None) => {
                    let _ = write!(part, " (bicubic {b:.2} dB {where_})");
                }
                _ => {}
            }
            parts.push(part);
        }
    }
    if parts.is_empty() {
        return " no gain over bicubic recorded.".into();
    }
    format!(" {}.", parts.join("; "))
}

/// Images run with several seeds: mean ± sd of the final PSNR.
fn seed_spread(runs: &[&Record]) -> String {
    let mut images: Vec<&str> = runs.iter().map(|r| r.image.as_str()).collect();
    images.dedup();
    let mut parts = Vec::new();
    for image in images {
        let values: Vec<f64> = runs
            .iter()
            .filter(|r| r.image == image)
            .filter_map(|r| r.final_psnr)
            .collect();
        if let (true, Some(m), Some(sd)) = (values.len() > 1, mean(&values), sd(&values)) {
            parts.push(format!(
                "{image} {m:.2} ± {sd:.2} dB over {} seeds",
                values.len()
            ));
        }
    }
    if parts.is_empty() {
        return String::new();
    }
    format!(" Seeds: {}.", parts.join(", "))
}

/// How much a run's PSNR moves over its own last iterations: the standard deviation
/// of the history's PSNR (of the output the run returns), averaged over the runs.
fn fluctuation(runs: &[&Record]) -> String {
    let per_run: Vec<f64> = runs.iter().filter_map(|r| last_iterations_sd(r)).collect();
    let Some(m) = mean(&per_run) else {
        return String::new();
    };
    format!(
        " Over a run's last {LAST_ITERATIONS} iterations its PSNR moves with a standard deviation \
         of {m:.2} dB (mean over {} runs): one seed's final number carries that much chance.",
        per_run.len()
    )
}

fn last_iterations_sd(r: &Record) -> Option<f64> {
    let last = r.history.last()?.iteration;
    // A shorter run is still rising over its last iterations: no fluctuation to measure.
    if last < 2 * LAST_ITERATIONS {
        return None;
    }
    let values: Vec<f64> = r
        .history
        .iter()
        .filter(|h| h.iteration + LAST_ITERATIONS > last)
        .filter_map(|h| h.psnr_clean_average.or(h.psnr_clean))
        .collect();
    (values.len() >= 5).then(|| sd(&values)).flatten()
}

/// Wall time of the runs and seconds per iteration.
fn cost(runs: &[&Record]) -> String {
    if runs.is_empty() {
        return String::new();
    }
    let wall: f64 = runs.iter().map(|r| r.wall_seconds).sum();
    let per_it = mean_of(runs, |r| Some(r.seconds_per_iteration)).unwrap_or(f64::NAN);
    let mut devices: Vec<&str> = runs.iter().map(|r| r.device_name.as_str()).collect();
    devices.sort();
    devices.dedup();
    let wall = super::costs::duration(wall);
    format!(
        " Cost: {wall} of wall time on {} ({per_it:.3} s per iteration).",
        devices.join(", ")
    )
}

/// What Table 1 at the paper's protocol would cost here, from our CPU benchmark record at 512².
fn paper_protocol_cost(bench: &[BenchRecord]) -> String {
    // Table 1's net has one output channel: its record first, else any at 512².
    let at_512 = |channels: Option<usize>| {
        bench.iter().find(|b| {
            b.implementation == Implementation::Dip
                && b.device == "cpu"
                && b.size == 512
                && channels.is_none_or(|c| b.channels == c)
        })
    };
    let Some(b) = at_512(Some(1)).or_else(|| at_512(None)) else {
        return String::new();
    };
    // The paper preset's own settings (the catalogue), not a copy of them.
    let jobs = plan::jobs(Preset::Paper, &[Experiment::Table1], &[], None, 1);
    let Some(job) = jobs.first() else {
        return String::new();
    };
    let iterations = job.fit.iterations;
    let per_image = b.median_seconds * iterations as f64 / 3600.0;
    format!(
        "**The paper's settings on whole images, here.** {iterations} iterations on each whole image \
         at our benchmark's {:.2} s per iteration at {size} × {size} ({}, {}) are \
         {per_image:.1} hours an image, {:.0} hours for the table: `dip reproduce --preset paper \
         --only table1` runs it, on a GPU or spread over a Slurm array (see Running it yourself).\n\n",
        b.median_seconds,
        b.device_name,
        crate::device::threads_in_words(b.threads),
        per_image * paper::TABLE1_IMAGES.len() as f64,
        size = b.size,
    )
}

fn mean_of(runs: &[&Record], f: impl Fn(&Record) -> Option<f64>) -> Option<f64> {
    let values: Vec<f64> = runs.iter().filter_map(|r| f(r)).collect();
    mean(&values)
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The sample standard deviation (n − 1), for two values or more.
fn sd(values: &[f64]) -> Option<f64> {
    let m = mean(values)?;
    (values.len() > 1).then(|| {
        let ss: f64 = values.iter().map(|v| (v - m).powi(2)).sum();
        (ss / (values.len() - 1) as f64).sqrt()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sd_is_the_sample_deviation() {
        assert_eq!(sd(&[1.0]), None);
        assert!((sd(&[1.0, 3.0]).unwrap() - 2f64.sqrt()).abs() < 1e-12);
    }

    /// A `cpu` Table 1 record of `image` with these PSNRs.
    fn record(image: &str, seed: u64, ours: f64, authors: f64) -> Record {
        crate::reproduce::record::test_record(image, seed, None, (ours, authors))
    }

    #[test]
    fn the_twin_is_summed_up_per_preset() {
        use crate::reproduce::record::{test_record, Implementation::Pytorch};
        let ours = vec![
            record("house", 0, 37.0, 37.9),
            record("house", 1, 37.2, 37.9),
            record("hill", 0, 30.0, 29.9),
        ];
        let twins = vec![
            test_record("house", 0, Some(Pytorch), (37.1, 37.9)),
            test_record("house", 1, Some(Pytorch), (37.3, 37.9)),
            test_record("hill", 0, Some(Pytorch), (30.5, 29.9)),
            test_record("hill", 1, Some(Pytorch), (30.3, 29.9)),
        ];
        let text = discussion(&ours, &twins, &[]);
        assert!(
            text.contains(
                "on 1 image(s) with seeds on both sides: 0 differ beyond the seed spread \
                 (Welch's t-test, p < 0.05); ours − twin from −0.10 to −0.10 dB."
            ),
            "{text}"
        );
        assert!(
            text.contains("not tested (a side with a single run): hill −0.40 dB (1 + 2 runs)."),
            "{text}"
        );
        assert!(!discussion(&ours, &[], &[]).contains("twin"));
    }

    #[test]
    fn the_numbers_are_the_records() {
        let records = vec![
            record("barbara", 0, 39.0, 39.1),
            record("barbara", 1, 39.4, 39.1),
            record("boat", 0, 30.0, 31.0),
        ];
        let text = discussion(&records, &[], &[]);
        // Each image's mean over its seeds, then over the images: ours (39.2 + 30.0) / 2,
        // the authors' (39.1 + 31.0) / 2, as the tables aggregate them.
        assert!(
            text.contains(
                "ours 34.60 dB against the authors' output on the same pixels 35.05 dB, a gap of \
                 −0.45 dB"
            ),
            "{text}"
        );
        assert!(
            text.contains("1 of 2 images within ±0.5 dB (outside: boat −1.00)"),
            "{text}"
        );
        assert!(
            text.contains("barbara 39.20 ± 0.28 dB over 2 seeds"),
            "{text}"
        );
        assert!(text.contains("(2 of 11 runs)"), "{text}");
        assert_eq!(text.matches("No recorded run yet.").count(), 2, "{text}");
    }

    /// An SR record of `image` (`set5-x4-bird`), with bicubic at `bicubic` dB.
    fn sr_record(image: &str, cut: plan::Cut, ours: f64, authors: f64, bicubic: f64) -> Record {
        let mut r: Record =
            serde_json::from_str(include_str!("../../results/quick/sr/set5-x4-bird.json")).unwrap();
        (r.image, r.preset, r.seed, r.cut) = (image.into(), "paper".into(), 0, cut);
        (r.final_psnr, r.authors_psnr) = (Some(ours), Some(authors));
        r.baseline.as_mut().unwrap().psnr = Some(bicubic);
        r
    }

    #[test]
    fn a_partial_sr_column_names_its_images_and_is_not_set_beside_the_papers_mean() {
        let whole = [sr_record(
            "set5-x4-bird",
            plan::Cut::Whole,
            32.0,
            31.8,
            30.5,
        )];
        let text = sr_gains(&whole.iter().collect::<Vec<_>>());
        assert_eq!(
            text,
            " Set5 ×4 (bird only), ours +1.50 dB over bicubic against the authors' +1.30 dB \
             (bicubic 30.50 dB on the whole images)."
        );
        // Every image of the set, on crops: the paper's bicubic mean beside ours.
        let crops: Vec<Record> = paper::sr_images("set5")
            .iter()
            .map(|n| {
                sr_record(
                    &format!("set5-x4-{n}"),
                    plan::Cut::CentreCrop(64),
                    31.0,
                    30.0,
                    29.0,
                )
            })
            .collect();
        let text = sr_gains(&crops.iter().collect::<Vec<_>>());
        let bicubic = paper::sr_value(paper::SR_BICUBIC, "set5", 4).unwrap();
        assert!(
            text.contains(&format!(
                "Set5 ×4, ours +2.00 dB over bicubic against the authors' +1.00 dB \
                 (bicubic 29.00 dB on our crops, {bicubic:.2} dB in the paper)"
            )),
            "{text}"
        );
    }

    #[test]
    fn a_whole_image_is_set_beside_its_crop() {
        let whole = sr_record("set5-x8-bird", plan::Cut::Whole, 27.1, 27.0, 25.5);
        let mut crop = sr_record("set5-x8-bird", plan::Cut::CentreCrop(64), 25.0, 27.5, 23.4);
        crop.preset = "cpu".into();
        let other = sr_record("set5-x8-baby", plan::Cut::Whole, 30.0, 30.0, 29.0);
        let records = [whole.clone(), crop, other.clone()];
        let text = whole_against_crop(&records, &[&whole, &other]);
        assert_eq!(
            text,
            " Ours minus the authors' output, the same image whole and cropped: set5-x8-bird: \
             +0.10 dB on the whole image, −2.50 dB on its 64 × 64 crop (`cpu`)."
        );
    }

    #[test]
    fn the_fluctuation_is_over_the_last_iterations_of_long_runs_only() {
        let mut r = record("boat", 0, 30.0, 30.0);
        let point = crate::reproduce::record::HistoryPoint {
            iteration: 0,
            loss: Some(1e-3),
            psnr_corrupted: None,
            psnr_clean: None,
            ..Default::default()
        };
        // 3000 iterations every 100; the last 1000 (2100 … 3000) alternate 30.0, 30.2.
        r.history = (0..=30)
            .map(|k| {
                let mut p = point.clone();
                p.iteration = k * 100;
                p.psnr_clean_average = None;
                p.psnr_clean = Some(if k <= 20 {
                    10.0
                } else if k % 2 == 0 {
                    30.0
                } else {
                    30.2
                });
                p
            })
            .collect();
        let sd10 = sd(&[30.0, 30.2, 30.0, 30.2, 30.0, 30.2, 30.0, 30.2, 30.0, 30.2]).unwrap();
        assert!((last_iterations_sd(&r).unwrap() - sd10).abs() < 1e-12);
        r.history.truncate(15); // 1400 iterations: too short
        assert_eq!(last_iterations_sd(&r), None);
    }

    #[test]
    fn the_paper_protocol_costs_the_one_channel_benchmark_times_the_catalogues_iterations() {
        let c1: BenchRecord =
            serde_json::from_str(include_str!("../../results/bench/dip-cpu-512-c1.json")).unwrap();
        let c3 = BenchRecord {
            channels: 3,
            median_seconds: c1.median_seconds * 2.0,
            ..c1.clone()
        };
        let text = paper_protocol_cost(&[c3, c1.clone()]);
        let iterations = plan::jobs(Preset::Paper, &[Experiment::Table1], &[], None, 1)[0]
            .fit
            .iterations;
        let hours = c1.median_seconds * iterations as f64 / 3600.0;
        assert!(
            text.contains(&format!("{iterations} iterations on each whole image")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{:.2} s per iteration", c1.median_seconds)),
            "{text}"
        );
        assert!(
            text.contains(&format!("{hours:.1} hours an image")),
            "{text}"
        );
        assert_eq!(paper_protocol_cost(&[]), "");
    }

    #[test]
    fn without_records_every_experiment_says_so() {
        let text = discussion(&[], &[], &[]);
        assert_eq!(text.matches("No recorded run yet.").count(), 3, "{text}");
        // The paper's numbers come from `paper`, not from the text.
        assert!(text.contains(&format!("{:.2} dB", paper::TABLE1_DIP_MEAN)));
    }
}
