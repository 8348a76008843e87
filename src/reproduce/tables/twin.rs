//! Ours against the PyTorch twin of our runs (`benches/torch_twin.py`): per image of
//! one experiment (Table 1, denoising) and preset, our final PSNR and the twin's
//! (mean ± sd over seeds), the authors' published output on the same pixels, and
//! whether ours and the twin differ by more than their seed-to-seed spread (Welch's
//! t-test, [`super::welch`]).
//!
//! The twin runs exactly our job (image or crop, mask or noise level, framing, input,
//! fit, output average, rollback, final image) with other random draws. So: ours and
//! the twin apart means our code differs; both near each other and away from the
//! authors' means their published run was another draw, or the protocol (a crop, the
//! iterations) is not what made their output.

use std::collections::BTreeSet;

use super::welch::{one_sample, welch, Welch};
use super::{Cell, Column, Record, Row, Source, Table};
use crate::reproduce::plan::Experiment;
use crate::reproduce::record::Implementation;

/// The significance level of the verdicts.
pub const ALPHA: f64 = 0.05;

/// The columns, in order.
const COLUMNS: [(&str, usize); 7] = [
    ("ours", 2),
    ("PyTorch twin", 2),
    ("the authors' output, same pixels", 2),
    ("ours − twin", 2),
    ("Welch's t", 2),
    ("df", 1),
    ("p (two-sided)", 4),
];

/// What the test assumes, and why it is weak with three seeds a side.
pub const TEST_NOTE: &str = "The test: Welch's unequal-variance t-test, two-sided, of the final \
PSNRs of our seeds against the twin's (H₀: the same mean); `df` is the Welch–Satterthwaite \
degrees of freedom. Its weakness here: with three seeds a side each standard deviation rests on \
three draws (from a sample sd s of three values, a 95 % interval for σ runs from 0.52 s to 6.3 s) and df is at most 4, \
so only a difference of several seed sds is detected; it assumes the seeds' PSNRs are normal, \
which three values cannot check. p < 0.05 is evidence that the implementations differ; p ≥ 0.05 \
is not evidence that they agree. A rank test cannot help: with 3 + 3 values Mann–Whitney's \
smallest two-sided p is 0.1.";

/// What the columns are.
pub const COLUMNS_NOTE: &str = "Final PSNR (dB) on the image or crop fitted, mean ± sd over \
seeds. The twin (`benches/torch_twin.py`) runs our job in PyTorch — the same image or crop, \
mask or noise level, framing, input distribution, learning rate, iterations, input noise, \
output average, rollback and final image, with PyTorch's random draws (its noisy image too); \
the authors' published output is measured on the same pixels, but was fitted on the whole \
image, not on a crop.";

/// Our records and the twin's of one experiment, per preset and image shown.
struct Pair<'a> {
    preset: String,
    image: String,
    ours: Vec<&'a Record>,
    twin: Vec<&'a Record>,
}

impl Pair<'_> {
    fn finals(records: &[&Record]) -> Vec<f64> {
        records.iter().filter_map(|r| r.final_psnr).collect()
    }

    fn test(&self) -> Option<Welch> {
        welch(&Self::finals(&self.ours), &Self::finals(&self.twin))
    }

    /// The authors' output on the same pixels: every record of the image measures it alike.
    fn authors(&self) -> Option<f64> {
        self.twin
            .iter()
            .chain(&self.ours)
            .find_map(|r| r.authors_psnr)
    }

    fn row(&self) -> Row {
        let test = self.test();
        let of = |f: fn(&Welch) -> f64| test.as_ref().map(|w| Cell::quoted(f(w)));
        Row {
            label: format!(
                "{} ({}; {} + {} seeds)",
                self.image,
                self.preset,
                self.ours.len(),
                self.twin.len()
            ),
            source: Source::Twin {
                preset: self.preset.clone(),
            },
            cells: vec![
                Cell::of(&Self::finals(&self.ours)),
                Cell::of(&Self::finals(&self.twin)),
                self.authors().map(Cell::quoted),
                of(|w| w.difference),
                of(|w| w.t),
                of(|w| w.df),
                of(|w| w.p),
            ],
        }
    }

    /// Where the fits peaked: the best PSNR over the recorded iterations and its
    /// iteration, each side's mean over its seeds ("ours 32.27 dB at iteration 991").
    fn peaks(&self) -> Option<String> {
        let side = |records: &[&Record]| -> Option<String> {
            let peaks: Vec<(f64, usize)> = records.iter().filter_map(|r| peak(r)).collect();
            let n = peaks.len() as f64;
            (!peaks.is_empty()).then(|| {
                let db = peaks.iter().map(|p| p.0).sum::<f64>() / n;
                let at = peaks.iter().map(|p| p.1 as f64).sum::<f64>() / n;
                format!("{db:.2} dB at iteration {at:.0}")
            })
        };
        Some(format!(
            "{} ({}): ours {}, the twin {}",
            self.image,
            self.preset,
            side(&self.ours)?,
            side(&self.twin)?
        ))
    }

    /// The verdict on this image, in words.
    fn verdict(&self) -> String {
        let name = format!("{} ({})", self.image, self.preset);
        match self.test() {
            None => format!(
                "{name}: no test (it needs two seeds a side with some spread; there are {} of ours and {} of the twin's).",
                self.ours.len(),
                self.twin.len()
            ),
            Some(w) if w.p < ALPHA => format!(
                "{name}: ours and the twin differ by more than their seed spread \
                 (ours − twin = {:.2} dB, t = {:.2}, df = {:.1}, p = {:.4} < {ALPHA}).",
                w.difference, w.t, w.df, w.p
            ),
            Some(w) => format!(
                "{name}: no difference beyond the seed spread detected \
                 (ours − twin = {:.2} dB, t = {:.2}, df = {:.1}, p = {:.4} ≥ {ALPHA}).",
                w.difference, w.t, w.df, w.p
            ),
        }
    }
}

/// The fewest images a pooled test is made of.
const MIN_POOLED: usize = 3;

/// The images with runs on both sides, taken together: each image's mean over its
/// seeds, ours and the twin's (and the authors' output), and the one-sample t-test of
/// the per-image differences (ours − twin). With more images than seeds a side, a
/// difference common to the images shows here where no single image's test can.
pub struct Pooled {
    pub images: usize,
    pub ours: f64,
    pub twin: f64,
    pub authors: Option<f64>,
    pub test: Welch,
}

fn pooled_of(pairs: &[Pair]) -> Option<Pooled> {
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let both: Vec<(f64, f64, Option<f64>)> = pairs
        .iter()
        .filter_map(|p| {
            let ours = mean(&Pair::finals(&p.ours))?;
            Some((ours, mean(&Pair::finals(&p.twin))?, p.authors()))
        })
        .collect();
    if both.len() < MIN_POOLED {
        return None;
    }
    let differences: Vec<f64> = both.iter().map(|(o, t, _)| o - t).collect();
    let authors: Option<Vec<f64>> = both.iter().map(|b| b.2).collect();
    Some(Pooled {
        images: both.len(),
        ours: mean(&both.iter().map(|b| b.0).collect::<Vec<_>>())?,
        twin: mean(&both.iter().map(|b| b.1).collect::<Vec<_>>())?,
        authors: authors.and_then(|a| mean(&a)),
        test: one_sample(&differences)?,
    })
}

/// [`Pooled`] for `experiment` and `preset`, where at least three images have runs on both sides.
pub fn pooled(
    ours: &[Record],
    twins: &[Record],
    experiment: Experiment,
    preset: &str,
) -> Option<Pooled> {
    pooled_of(&pairs(ours, twins, experiment, preset))
}

impl Pooled {
    fn row(&self, preset: &str) -> Row {
        let w = &self.test;
        Row {
            label: format!(
                "all {} images ({preset}; means over the seeds)",
                self.images
            ),
            source: Source::Twin {
                preset: preset.to_string(),
            },
            cells: vec![
                Some(Cell::quoted(self.ours)),
                Some(Cell::quoted(self.twin)),
                self.authors.map(Cell::quoted),
                Some(Cell::quoted(w.difference)),
                Some(Cell::quoted(w.t)),
                Some(Cell::quoted(w.df)),
                Some(Cell::quoted(w.p)),
            ],
        }
    }

    fn verdict(&self) -> String {
        let w = &self.test;
        let finding = if w.p < ALPHA {
            "ours and the twin differ"
        } else {
            "no difference detected"
        };
        format!(
            "All {} images together (the one-sample t-test of the {} per-image differences \
             of the means over the seeds, ours − twin): {finding} (mean difference {:.2} dB, \
             t = {:.2}, df = {:.0}, p = {:.4} {} {ALPHA}).",
            self.images,
            self.images,
            w.difference,
            w.t,
            w.df,
            w.p,
            if w.p < ALPHA { "<" } else { "≥" }
        )
    }
}

/// The best PSNR over a run's recorded iterations, and its iteration: of the
/// averaged output where the run averages, else of the output.
fn peak(r: &Record) -> Option<(f64, usize)> {
    r.history
        .iter()
        .filter_map(|h| Some((h.psnr_clean_average.or(h.psnr_clean)?, h.iteration)))
        .filter(|(db, _)| db.is_finite())
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

/// The note on where the fits peaked, where both sides' histories say.
fn peaks_note(pairs: &[Pair]) -> Option<String> {
    let peaks: Vec<String> = pairs.iter().filter_map(Pair::peaks).collect();
    (!peaks.is_empty()).then(|| {
        format!(
            "Where the fits peaked: the best PSNR over the recorded iterations (of the \
             averaged output where the fit averages; found by peeking at the clean image), \
             mean over the seeds — {}.",
            peaks.join("; ")
        )
    })
}

/// The images of `experiment` and `preset` with a twin record, and their records.
fn pairs<'a>(
    ours: &'a [Record],
    twins: &'a [Record],
    experiment: Experiment,
    preset: &str,
) -> Vec<Pair<'a>> {
    let of_kind = |r: &&Record| r.experiment == experiment && r.preset == preset;
    let twins: Vec<&Record> = twins
        .iter()
        .filter(of_kind)
        .filter(|r| r.implementation() == Implementation::Pytorch)
        .collect();
    let keys: BTreeSet<(&str, &str)> = twins
        .iter()
        .map(|r| (r.preset.as_str(), r.image.as_str()))
        .collect();
    let of = |records: Vec<&'a Record>, (preset, image): (&str, &str)| -> Vec<&'a Record> {
        records
            .into_iter()
            .filter(|r| r.preset == preset && r.image == image)
            .collect()
    };
    let ours: Vec<&Record> = ours
        .iter()
        .filter(of_kind)
        .filter(|r| r.is_ours())
        .collect();
    keys.into_iter()
        .map(|key| Pair {
            preset: key.0.to_string(),
            image: key.1.to_string(),
            ours: of(ours.clone(), key),
            twin: of(twins.clone(), key),
        })
        .collect()
}

/// The twin's runs in one line: versions, devices, iterations, wall time.
fn twin_runs(pairs: &[Pair]) -> String {
    let records: Vec<&Record> = pairs.iter().flat_map(|p| p.twin.iter().copied()).collect();
    let distinct = |f: fn(&Record) -> String| -> Vec<String> {
        let set: BTreeSet<String> = records.iter().map(|r| f(r)).collect();
        set.into_iter().collect()
    };
    let iterations = distinct(|r| r.iterations.to_string());
    format!(
        "Made by the twin's runs: {} run(s) on {}, {} iterations, {:.0} s of wall time in all, {}.",
        records.len(),
        distinct(|r| r.device_name.clone()).join(", "),
        iterations.join("/"),
        records.iter().map(|r| r.wall_seconds).sum::<f64>(),
        distinct(|r| r.crate_version.clone()).join("; ")
    )
}

/// The experiments and presets that have twin records, in the order of
/// [`Experiment::ALL`] and by preset name.
pub fn twinned(twins: &[Record]) -> Vec<(Experiment, String)> {
    let kinds: BTreeSet<(usize, &str)> = twins
        .iter()
        .filter(|r| r.implementation() == Implementation::Pytorch)
        .filter_map(|r| {
            let place = Experiment::ALL.iter().position(|e| *e == r.experiment)?;
            Some((place, r.preset.as_str()))
        })
        .collect();
    kinds
        .into_iter()
        .map(|(place, preset)| (Experiment::ALL[place], preset.to_string()))
        .collect()
}

/// One image's comparison: the final PSNRs of our seeds and of the twin's, and
/// Welch's test where both sides have seeds with some spread.
pub struct Comparison {
    pub image: String,
    pub ours: Vec<f64>,
    pub twin: Vec<f64>,
    pub test: Option<Welch>,
}

/// Per image of `experiment` and `preset` with a twin record: ours against the twin
/// (the numbers of [`twin`]'s rows).
pub fn comparisons(
    ours: &[Record],
    twins: &[Record],
    experiment: Experiment,
    preset: &str,
) -> Vec<Comparison> {
    pairs(ours, twins, experiment, preset)
        .iter()
        .map(|p| Comparison {
            image: p.image.clone(),
            ours: Pair::finals(&p.ours),
            twin: Pair::finals(&p.twin),
            test: p.test(),
        })
        .collect()
}

/// The table of `experiment`'s runs of `preset`: one row per image that has a twin,
/// ours beside it. `ours` and `twins` may be any records: only ours, and only the
/// PyTorch twins', of that experiment and preset, are read from each.
pub fn twin(ours: &[Record], twins: &[Record], experiment: Experiment, preset: &str) -> Table {
    let pairs = pairs(ours, twins, experiment, preset);
    let name = match experiment {
        Experiment::Table1 => "Table 1",
        Experiment::Denoising => "Denoising",
        other => other.name(),
    };
    let columns = COLUMNS
        .iter()
        .map(|&(name, decimals)| Column {
            name: name.into(),
            decimals,
        })
        .collect();
    let mut notes = vec![COLUMNS_NOTE.to_string(), TEST_NOTE.to_string()];
    notes.extend(pairs.iter().map(Pair::verdict));
    let pooled = pooled_of(&pairs);
    notes.extend(pooled.as_ref().map(Pooled::verdict));
    notes.extend(peaks_note(&pairs));
    if !pairs.is_empty() {
        notes.push(twin_runs(&pairs));
    }
    let runs = {
        let presets: BTreeSet<&str> = pairs.iter().map(|p| p.preset.as_str()).collect();
        presets
            .into_iter()
            .filter_map(|preset| {
                let rs: Vec<&Record> = pairs
                    .iter()
                    .filter(|p| p.preset == preset)
                    .flat_map(|p| p.ours.iter().copied())
                    .collect();
                (!rs.is_empty()).then(|| super::Runs::of(preset, &rs))
            })
            .collect()
    };
    Table {
        title: format!("{name}, ours against a PyTorch twin of our runs (PSNR, dB)"),
        columns,
        rows: pairs
            .iter()
            .map(Pair::row)
            .chain(pooled.map(|p| p.row(preset)))
            .collect(),
        notes,
        runs,
        missing: pairs.is_empty().then(|| {
            let e = experiment.name();
            format!(
                "**No PyTorch twin run yet**: `python benches/torch_twin.py --experiment {e} \
                 --preset {preset} --seeds 3 --images …` writes them under \
                 `results/pytorch/{preset}/{e}/`."
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{table1, timing, Inputs, Presets};
    use super::*;
    use crate::reproduce::record::test_record;

    fn runs(image: &str, twin: bool, finals: &[f64]) -> Vec<Record> {
        let implementation = twin.then_some(Implementation::Pytorch);
        finals
            .iter()
            .enumerate()
            .map(|(seed, &f)| test_record(image, seed as u64, implementation, (f, 37.9)))
            .collect()
    }

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    fn records() -> Vec<Record> {
        [
            runs("house", false, &[37.21, 37.30, 37.09]),
            runs("house", true, &[36.8, 37.6, 36.2]),
            runs("hill", false, &[30.0, 30.1, 29.9]),
            runs("hill", true, &[28.0, 28.1, 27.9]),
            runs("cameraman", true, &[28.0, 28.5]),
            runs("barbara", false, &[30.0]),
        ]
        .concat()
    }

    #[test]
    fn per_image_ours_the_twin_the_authors_and_welchs_test() {
        let all = records();
        let t = twin(&all, &all, Experiment::Table1, "cpu");
        let labels: Vec<&str> = t.rows.iter().map(|r| r.label.as_str()).collect();
        // Only images with a twin, sorted by name; barbara has ours alone.
        assert_eq!(
            labels,
            [
                "cameraman (cpu; 0 + 2 seeds)",
                "hill (cpu; 3 + 3 seeds)",
                "house (cpu; 3 + 3 seeds)"
            ]
        );
        let cell = |row: usize, col: usize| t.rows[row].cells[col].clone();
        let house = 2;
        close(cell(house, 0).unwrap().mean, 37.2, 1e-12);
        close(cell(house, 0).unwrap().sd.unwrap(), 0.0111f64.sqrt(), 1e-12);
        close(cell(house, 1).unwrap().mean, 36.866_666_666_666_67, 1e-9);
        close(
            cell(house, 1).unwrap().sd.unwrap(),
            (0.74f64 / 1.5).sqrt(),
            1e-12,
        );
        close(cell(house, 2).unwrap().mean, 37.9, 0.0);
        close(
            cell(house, 3).unwrap().mean,
            37.2 - 36.866_666_666_666_67,
            1e-9,
        );
        // scipy.stats.ttest_ind(ours, twin, equal_var=False): t 0.81290, df 2.08995, p 0.49846.
        close(cell(house, 4).unwrap().mean, 0.812_900_674_604_997_4, 1e-9);
        close(cell(house, 5).unwrap().mean, 2.089_954_460_554_339_6, 1e-9);
        close(cell(house, 6).unwrap().mean, 0.498_457_563_003_154_6, 1e-9);
        // hill: two points apart, sd 0.1 each: t = 2/√(0.02/3), ν = 4 (closed form of p).
        let t_hill = 2.0 / (0.02f64 / 3.0).sqrt();
        let u = t_hill / (1.0 + t_hill * t_hill / 4.0).sqrt();
        close(cell(1, 4).unwrap().mean, t_hill, 1e-9);
        close(cell(1, 5).unwrap().mean, 4.0, 1e-9);
        close(
            cell(1, 6).unwrap().mean,
            1.0 - 0.75 * u * (1.0 - u * u / 12.0),
            1e-12,
        );
        // cameraman: no runs of ours, so no test.
        assert!(cell(0, 0).is_none() && cell(0, 3).is_none() && cell(0, 6).is_none());
        close(cell(0, 1).unwrap().mean, 28.25, 1e-12);
        let notes = t.notes.join("\n");
        assert!(
            notes.contains("house (cpu): no difference beyond the seed spread detected"),
            "{notes}"
        );
        assert!(notes.contains("p = 0.4985 ≥ 0.05"), "{notes}");
        assert!(
            notes.contains("hill (cpu): ours and the twin differ by more than their seed spread"),
            "{notes}"
        );
        assert!(notes.contains("cameraman (cpu): no test"), "{notes}");
        assert!(notes.contains("Welch's unequal-variance t-test"), "{notes}");
        let md = t.to_markdown();
        assert!(md.contains("| house (cpu; 3 + 3 seeds) | 37.20 ± 0.11 | 36.87 ± 0.70 | 37.90 | 0.33 | 0.81 | 2.1 | 0.4985 |"), "{md}");
        assert!(t.missing.is_none());
        // Which slice holds which does not matter: each is filtered.
        let (ours, twins): (Vec<Record>, Vec<Record>) =
            all.iter().cloned().partition(|r| r.is_ours());
        assert_eq!(twin(&ours, &twins, Experiment::Table1, "cpu"), t);
        let none = twin(&ours, &ours, Experiment::Table1, "cpu");
        assert!(none.rows.is_empty() && none.missing.is_some());
    }

    #[test]
    fn a_table_is_of_one_experiment_and_preset() {
        let mut all = records();
        // The same images denoised, and whole at the paper preset: tables of their own.
        let mut denoised = runs("house", false, &[29.0, 29.2]);
        denoised.extend(runs("house", true, &[29.1, 29.3]));
        for r in &mut denoised {
            r.experiment = Experiment::Denoising;
        }
        let mut whole = runs("house", true, &[27.0]);
        whole[0].preset = "paper".into();
        whole[0].experiment = Experiment::Denoising;
        all.extend(denoised);
        all.extend(whole);
        assert_eq!(
            twinned(&all),
            [
                (Experiment::Table1, "cpu".to_string()),
                (Experiment::Denoising, "cpu".to_string()),
                (Experiment::Denoising, "paper".to_string())
            ]
        );
        let t = twin(&all, &all, Experiment::Denoising, "cpu");
        assert_eq!(
            t.title,
            "Denoising, ours against a PyTorch twin of our runs (PSNR, dB)"
        );
        let labels: Vec<&str> = t.rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["house (cpu; 2 + 2 seeds)"]);
        close(t.rows[0].cells[3].clone().unwrap().mean, -0.1, 1e-9);
        let whole = twin(&all, &all, Experiment::Denoising, "paper");
        let labels: Vec<&str> = whole.rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["house (paper; 0 + 1 seeds)"]);
        let table1 = twin(&all, &all, Experiment::Table1, "cpu");
        assert_eq!(table1.rows.len(), 3, "Table 1's rows are its own");
        let missing = twin(&all, &all, Experiment::Denoising, "quick")
            .missing
            .unwrap();
        assert!(
            missing.contains("--experiment denoising --preset quick"),
            "{missing}"
        );
    }

    #[test]
    fn three_images_or_more_are_also_tested_together() {
        // One run a side each, ours 1, 2 and 3 dB above the twin: no per-image test,
        // the pooled one of the differences [1, 2, 3] (t = 2√3, df 2).
        let all = [
            runs("barbara", false, &[31.0]),
            runs("barbara", true, &[30.0]),
            runs("boat", false, &[32.0]),
            runs("boat", true, &[30.0]),
            runs("lena", false, &[33.0]),
            runs("lena", true, &[30.0]),
        ]
        .concat();
        let t = twin(&all, &all, Experiment::Table1, "cpu");
        let last = t.rows.last().unwrap();
        assert_eq!(last.label, "all 3 images (cpu; means over the seeds)");
        let cell = |c: usize| last.cells[c].clone().unwrap().mean;
        close(cell(0), 32.0, 1e-12);
        close(cell(1), 30.0, 1e-12);
        close(cell(3), 2.0, 1e-12);
        close(cell(4), 2.0 * 3f64.sqrt(), 1e-12);
        close(cell(5), 2.0, 0.0);
        let notes = t.notes.join("\n");
        assert!(notes.contains("All 3 images together"), "{notes}");
        let p = pooled(&all, &all, Experiment::Table1, "cpu").unwrap();
        close(p.test.p, cell(6), 0.0);
        // Two images are too few.
        assert!(pooled(&all[..4], &all[..4], Experiment::Table1, "cpu").is_none());
    }

    #[test]
    fn the_peaks_are_each_sides_best_averaged_output_over_its_seeds() {
        use crate::reproduce::record::HistoryPoint;
        let point = |iteration: usize, average: f64| HistoryPoint {
            iteration,
            psnr_clean: Some(average - 1.0),
            psnr_clean_average: Some(average),
            ..HistoryPoint::default()
        };
        let mut all = [
            runs("house", false, &[27.0, 27.2]),
            runs("house", true, &[27.1]),
        ]
        .concat();
        all[0].history = vec![point(0, 20.0), point(990, 32.2), point(3000, 27.0)];
        all[1].history = vec![point(1010, 32.4), point(3000, 27.2)];
        all[2].history = vec![point(900, 32.0), point(1000, 31.0)];
        let notes = twin(&all, &all, Experiment::Table1, "cpu").notes.join("\n");
        assert!(
            notes.contains(
                "house (cpu): ours 32.30 dB at iteration 1000, the twin 32.00 dB at iteration 900."
            ),
            "{notes}"
        );
        // Without a history on one side, no peaks are said.
        all[2].history.clear();
        let notes = twin(&all, &all, Experiment::Table1, "cpu").notes.join("\n");
        assert!(!notes.contains("Where the fits peaked"), "{notes}");
    }

    #[test]
    fn our_tables_ignore_the_twins() {
        let all = records();
        let ours: Vec<Record> = all.iter().filter(|r| r.is_ours()).cloned().collect();
        for presets in [Presets::All, Presets::Strongest] {
            let inputs = |records| Inputs {
                records,
                twins: &[],
                bench: &[],
                data: None,
                presets,
            };
            assert_eq!(table1(&inputs(&all)), table1(&inputs(&ours)));
            assert_eq!(timing(&inputs(&all)), timing(&inputs(&ours)));
        }
        // The twins alone make no row of ours.
        let twins: Vec<Record> = all.iter().filter(|r| !r.is_ours()).cloned().collect();
        let inputs = Inputs {
            records: &twins,
            twins: &[],
            bench: &[],
            data: None,
            presets: Presets::All,
        };
        assert!(table1(&inputs)
            .rows
            .iter()
            .all(|r| r.source == Source::Paper));
        assert!(
            crate::reproduce::tables::strongest_record(&twins, Experiment::Table1, "house")
                .is_none()
        );
    }
}
