//! The verdict: what reproduced and what did not, generated from the records so that
//! it cannot go stale. Per experiment, three statements that are never mixed:
//! - whole images at the paper's settings (the `paper` preset): how many of the
//!   paper's runs are recorded, and their gap to the authors' published output on the
//!   same images;
//! - the crop protocol (the strongest reduced preset with runs, `cpu` first): its gap
//!   to the authors' output cut to the same crops;
//! - the paper's printed number beside the authors' published outputs re-measured
//!   by our code (which checks our metric, not our restoration).
//!
//! Numbers are aggregated as the tables aggregate them ([`Standing`]); gaps are
//! two-sided. Super-resolution is judged per set and factor.

use crate::data::DataDir;
use crate::reproduce::paper;
use crate::reproduce::plan::Experiment;
use crate::reproduce::record::Record;
use crate::reproduce::tables::authors_psnr;

use super::standing::{
    self, parts, presets_with_comparator, settings, signed, Scope, Standing, TOLERANCE_DB,
};

/// The experiment's name in the verdict and the Discussion.
pub fn title(experiment: Experiment) -> &'static str {
    match experiment {
        Experiment::Table1 => "Inpainting (Table 1)",
        Experiment::Denoising => "Denoising",
        _ => "Super-resolution",
    }
}

/// The experiments the paper gives numbers for, in the book's order.
pub const EXPERIMENTS: [Experiment; 3] =
    [Experiment::Table1, Experiment::Denoising, Experiment::Sr];

/// One part of an experiment (an SR column, or all of it): its name, how many runs
/// it has, and a preset's standing on them.
struct Part {
    name: String,
    runs: usize,
    standing: Option<Standing>,
}

/// The standings of one preset, per part; only those of `scope` when it is given.
fn standings(
    records: &[Record],
    experiment: Experiment,
    preset: &str,
    whole: Option<bool>,
) -> Vec<Part> {
    parts(experiment)
        .into_iter()
        .map(|(name, runs)| Part {
            name,
            runs: runs.len(),
            standing: Standing::of(records, experiment, preset, &runs)
                .filter(|s| whole.is_none_or(|w| w == (s.scope == Scope::Whole))),
        })
        .collect()
}

/// Whether every part is complete and within the tolerance; `None` while unfinished.
fn reproduced(parts: &[Part]) -> Option<bool> {
    let all: Option<Vec<&Standing>> = parts.iter().map(|p| p.standing.as_ref()).collect();
    let all = all?;
    all.iter()
        .all(|s| s.complete())
        .then(|| all.iter().all(|s| s.gap().abs() <= TOLERANCE_DB))
}

/// (runs covered, runs in all).
fn covered(parts: &[Part]) -> (usize, usize) {
    let done = parts
        .iter()
        .filter_map(|p| p.standing.as_ref())
        .map(|s| s.images.len())
        .sum();
    (done, parts.iter().map(|p| p.runs).sum())
}

/// The word on one scope: "reproduced", "not reproduced (Set5 ×8 −1.75 dB)",
/// "unfinished (14 of 38 runs)", "not run yet".
fn word(parts: &[Part]) -> String {
    let (done, of) = covered(parts);
    match reproduced(parts) {
        _ if done == 0 => "not run yet".into(),
        Some(true) => "reproduced".into(),
        Some(false) => {
            let worst = parts
                .iter()
                .filter_map(|p| Some((p.name.as_str(), p.standing.as_ref()?.gap())))
                .filter(|(_, gap)| gap.abs() > TOLERANCE_DB)
                .fold(None, |worst: Option<(&str, f64)>, part| match worst {
                    Some(w) if w.1.abs() >= part.1.abs() => Some(w),
                    _ => Some(part),
                })
                .map(|(name, gap)| format!("{name} {} dB", signed(gap)).trim().to_string())
                .unwrap_or_default();
            format!("not reproduced ({worst})")
        }
        None => format!("unfinished ({done} of {of} runs)"),
    }
}

/// One part's numbers: "ours 30.08 dB against the authors' 29.90 dB on the same
/// images, a gap of +0.18 dB" (the means only where the part is complete and whole).
fn part_numbers(s: &Standing, with_means: bool, on: &str) -> String {
    if with_means {
        format!(
            "ours {:.2} dB against the authors' {:.2} dB on the same {on}, a gap of {} dB",
            s.ours(),
            s.authors(),
            signed(s.gap())
        )
    } else {
        format!(
            "a gap of {} dB to the authors' output on the same {on}",
            signed(s.gap())
        )
    }
}

/// A scope's parts in words: for one part, its numbers and the images outside the
/// tolerance; for SR's columns, each column's.
fn parts_sentence(parts: &[Part], whole: bool) -> String {
    let on = if whole { "images" } else { "crops" };
    if let [Part {
        standing: Some(s), ..
    }] = parts
    {
        return format!(
            "{}; {}",
            part_numbers(s, whole && s.complete(), on),
            s.within_sentence()
        );
    }
    let each: Vec<String> = parts
        .iter()
        .map(|p| match &p.standing {
            Some(s) => format!(
                "{} ({} of {}): {}",
                p.name,
                s.images.len(),
                s.of,
                part_numbers(s, whole && s.complete(), on)
            ),
            None => format!("{}: not run", p.name),
        })
        .collect();
    each.join("; ")
}

/// The sub-item on whole images at the paper's settings, and its word.
fn whole_images(records: &[Record], experiment: Experiment) -> (String, String) {
    let paper = standings(records, experiment, "paper", Some(true));
    let (done, of) = covered(&paper);
    let line = if done == 0 {
        format!("Whole images, the paper's settings (`paper`): not run yet (0 of {of} runs).")
    } else {
        format!(
            "Whole images, the paper's settings (`paper`, {done} of {of} runs): {}.",
            parts_sentence(&paper, true)
        )
    };
    (line, word(&paper))
}

/// The sub-item on the strongest crop protocol with runs, its scope, and its word.
fn crops(records: &[Record], experiment: Experiment) -> (String, String, String) {
    let runs = standing::runs_of(experiment);
    let found = presets_with_comparator(records, experiment)
        .into_iter()
        .filter_map(|p| Standing::of(records, experiment, &p, &runs))
        .find(|s| s.scope != Scope::Whole);
    let Some(all) = found else {
        let line = "Crops: no recorded run yet.".to_string();
        return (line, "crops".into(), "not run yet".into());
    };
    let parts = standings(records, experiment, &all.preset, Some(false));
    let scope = all.scope.describe();
    let line = format!(
        "{} (`{}`, {}; {} of {} runs): {}.",
        capital(&scope),
        all.preset,
        settings(&all.preset, experiment),
        all.images.len(),
        all.of,
        parts_sentence(&parts, false)
    );
    (line, scope, word(&parts))
}

fn capital(s: &str) -> String {
    standing::capitalised(s)
}

/// The mean of the authors' published outputs over `runs`, re-measured (all or nothing).
fn remeasured(data: &DataDir, experiment: Experiment, runs: &[String]) -> Option<f64> {
    let values: Option<Vec<f64>> = runs
        .iter()
        .map(|r| authors_psnr(data, experiment, r))
        .collect();
    let values = values?;
    Some(values.iter().sum::<f64>() / values.len().max(1) as f64)
}

/// The paper's printed numbers beside the authors' published outputs re-measured.
fn printed(experiment: Experiment, data: Option<&DataDir>) -> String {
    let again = |runs: &[String]| -> String {
        data.and_then(|d| remeasured(d, experiment, runs))
            .map_or("–".into(), |v| format!("{v:.2}"))
    };
    let runs = standing::runs_of(experiment);
    let (dip, other, other_name) = match experiment {
        Experiment::Table1 => (
            paper::TABLE1_DIP_MEAN,
            paper::TABLE1_PAPYAN_MEAN,
            "Papyan et al.",
        ),
        Experiment::Denoising => (
            paper::DENOISING_DIP_MEAN,
            paper::DENOISING_CBM3D_MEAN,
            "CBM3D",
        ),
        _ => {
            let pieces: Vec<String> = paper::SR_COLUMNS
                .iter()
                .map(|&(set, f)| {
                    let printed = paper::sr_value(paper::SR_DIP, set, f)
                        .map_or("–".into(), |v| format!("{v:.2}"));
                    format!(
                        "{} {printed} / {} dB",
                        standing::sr_column_name(set, f),
                        again(&standing::sr_runs(set, f))
                    )
                })
                .collect();
            return format!(
                "Printed in the paper / the authors' published outputs re-measured by our \
                 code, whole images: {}.",
                pieces.join("; ")
            );
        }
    };
    format!(
        "Printed in the paper: {dip:.2} dB ({other_name} {other:.2} dB); the authors' \
         published outputs re-measured by our code, whole images: {} dB.",
        again(&runs)
    )
}

/// The verdict as a Markdown list: per experiment a headline (a word on whole images,
/// one on crops), then the three statements it rests on.
pub fn verdict(records: &[Record], data: Option<&DataDir>) -> String {
    let mut out = String::new();
    for experiment in EXPERIMENTS {
        let (whole, whole_word) = whole_images(records, experiment);
        let (crops, scope, crops_word) = crops(records, experiment);
        out += &format!(
            "- **{}** — whole images: **{whole_word}**; {scope}: **{crops_word}**.\n  \
             - {whole}\n  - {crops}\n  - {}\n",
            title(experiment),
            printed(experiment, data)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        experiment: Experiment,
        image: &str,
        preset: &str,
        ours: f64,
        authors: f64,
    ) -> Record {
        let mut r: Record =
            serde_json::from_str(include_str!("../../results/quick/table1/barbara.json")).unwrap();
        (r.experiment, r.image, r.preset) = (experiment, image.into(), preset.into());
        (r.final_psnr, r.authors_psnr, r.seed) = (Some(ours), Some(authors), 0);
        if preset == "paper" {
            r.cut = crate::reproduce::plan::Cut::Whole;
        }
        r
    }

    /// The lines of one experiment's item: its headline and its three statements.
    fn item(v: &str, experiment: Experiment) -> String {
        let head = format!("- **{}**", title(experiment));
        let start = v.find(&head).unwrap();
        v[start..].lines().take(4).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn whole_images_crops_and_the_printed_number_are_told_apart() {
        let mut records: Vec<Record> = paper::TABLE1_IMAGES
            .iter()
            .map(|n| record(Experiment::Table1, n, "cpu", 30.0, 30.3))
            .collect();
        let t1 = item(&verdict(&records, None), Experiment::Table1);
        for expected in [
            "whole images: **not run yet**; 64 × 64 centre crops: **reproduced**.",
            "Whole images, the paper's settings (`paper`): not run yet (0 of 11 runs).",
            "64 × 64 centre crops (`cpu`, the paper's settings; 11 of 11 runs): a gap of \
             −0.30 dB to the authors' output on the same crops; 11 of 11 images within ±0.5 dB.",
            &format!("Printed in the paper: {:.2} dB", paper::TABLE1_DIP_MEAN),
        ] {
            assert!(t1.contains(expected), "{expected}\n{t1}");
        }
        // Two-sided: +0.6 is outside as −0.6 is.
        records[8].final_psnr = Some(30.9);
        let t1 = item(&verdict(&records, None), Experiment::Table1);
        assert!(
            t1.contains("10 of 11 images within ±0.5 dB (outside: hill +0.60)"),
            "{t1}"
        );
        records.truncate(3);
        let v = verdict(&records, None);
        let t1 = item(&v, Experiment::Table1);
        assert!(t1.contains("crops: **unfinished (3 of 11 runs)**"), "{t1}");
        assert!(item(&v, Experiment::Denoising).contains("Crops: no recorded run yet."));
    }

    /// SR is judged per set and factor: +1 dB at ×4 does not hide −1 dB at ×8.
    #[test]
    fn super_resolution_is_judged_per_column_and_whole_images_apart() {
        let mut records: Vec<Record> = paper::SR_COLUMNS
            .iter()
            .flat_map(|&(set, f)| {
                let gap = if f == 4 { 1.0 } else { -1.0 };
                standing::sr_runs(set, f)
                    .into_iter()
                    .map(move |n| record(Experiment::Sr, &n, "cpu", 30.0 + gap, 30.0))
            })
            .collect();
        records.extend(
            standing::sr_runs("set5", 4)
                .iter()
                .map(|n| record(Experiment::Sr, n, "paper", 30.1, 30.0)),
        );
        let sr = item(&verdict(&records, None), Experiment::Sr);
        for expected in [
            "whole images: **unfinished (5 of 38 runs)**; 64 × 64 centre crops: **not \
             reproduced (Set5 ×4 +1.00 dB)**.",
            "(`paper`, 5 of 38 runs): Set5 ×4 (5 of 5): ours 30.10 dB against the authors' \
             30.00 dB on the same images, a gap of +0.10 dB; Set14 ×4: not run;",
            "Set5 ×8 (5 of 5): a gap of −1.00 dB to the authors' output on the same crops",
        ] {
            assert!(sr.contains(expected), "{expected}\n{sr}");
        }
    }

    #[test]
    fn no_records_no_verdict_but_says_so() {
        let v = verdict(&[], None);
        assert_eq!(v.matches("(0 of ").count(), 3, "{v}");
        assert_eq!(v.matches("Crops: no recorded run yet.").count(), 3, "{v}");
        assert_eq!(v.lines().count(), 12);
    }
}
