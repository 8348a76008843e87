//! The verdict: what reproduced and what did not, under which protocol, generated
//! from the records so that it cannot go stale. For each experiment with a published
//! output of the authors, every preset that has runs: our mean PSNR, the authors'
//! output on the same pixels, the gap, and how many of the experiment's images the
//! preset has covered so far. Super-resolution is judged per set and factor, by its
//! worst column: a mean over the four would let a gain at ×4 hide a loss at ×8.

use std::fmt::Write;

use crate::reproduce::paper;
use crate::reproduce::plan::{Experiment, Preset};
use crate::reproduce::record::Record;

/// Within this many dB of the authors' output on the same pixels counts as reproduced.
pub const REPRODUCED_WITHIN_DB: f64 = 0.5;

/// The runs of an experiment a preset must cover.
pub(super) fn runs_of(experiment: Experiment) -> Vec<String> {
    match experiment {
        Experiment::Table1 => paper::TABLE1_IMAGES.iter().map(|s| s.to_string()).collect(),
        Experiment::Denoising => paper::DENOISING_IMAGES
            .iter()
            .map(|(n, _)| n.to_string())
            .collect(),
        Experiment::Sr => paper::SR_COLUMNS
            .iter()
            .flat_map(|(set, f)| {
                paper::sr_images(set)
                    .iter()
                    .map(move |n| format!("{set}-x{f}-{n}"))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The parts of an experiment judged on their own: the SR columns (set and factor),
/// else the whole experiment (an empty name).
fn parts(experiment: Experiment) -> Vec<(String, Vec<String>)> {
    let runs = runs_of(experiment);
    if experiment != Experiment::Sr {
        return vec![(String::new(), runs)];
    }
    paper::SR_COLUMNS
        .iter()
        .map(|(set, f)| {
            let prefix = format!("{set}-x{f}-");
            let name = format!("{} ×{f}", capitalised(set));
            (
                name,
                runs.iter()
                    .filter(|r| r.starts_with(&prefix))
                    .cloned()
                    .collect(),
            )
        })
        .collect()
}

/// `Set5` from `set5`.
pub(super) fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// One preset's standing on some runs of an experiment: (runs covered, of all, mean
/// ours, mean authors').
fn standing(
    records: &[Record],
    experiment: Experiment,
    preset: &str,
    runs: &[String],
) -> Option<(usize, usize, f64, f64)> {
    let pairs: Vec<(f64, f64)> = runs
        .iter()
        .filter_map(|run| {
            let r = records.iter().find(|r| {
                r.experiment == experiment && r.preset == preset && &r.image == run && r.seed == 0
            })?;
            Some((r.final_psnr?, r.authors_psnr?))
        })
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    let ours = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let authors = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    Some((pairs.len(), runs.len(), ours, authors))
}

/// What the protocol of a preset is, in a few words.
pub(super) fn protocol(preset: &str) -> &'static str {
    match Preset::parse(preset) {
        Ok(Preset::Paper) => "the paper's protocol, whole images",
        Ok(Preset::Cpu) => "the paper's protocol on 64×64 centre crops",
        Ok(Preset::Quick) => {
            "a reduced protocol (64×64 crops, nets 64 channels wide, a few hundred iterations)"
        }
        Ok(Preset::Tiny) => "the test preset (seconds)",
        Err(_) => "an unknown preset",
    }
}

/// The presets with runs of `experiment` that carry the authors' comparator
/// (`authors_psnr`), strongest first.
pub(super) fn presets_with_comparator(records: &[Record], experiment: Experiment) -> Vec<String> {
    let mut presets: Vec<&str> = records
        .iter()
        .filter(|r| r.experiment == experiment && r.authors_psnr.is_some())
        .map(|r| r.preset.as_str())
        .collect();
    presets.sort_by_key(|p| Preset::parse(p).map_or(usize::MAX, |p| p as usize));
    presets.dedup();
    presets.into_iter().map(String::from).collect()
}

/// The verdict as a Markdown list, one item per experiment and preset.
pub fn verdict(records: &[Record]) -> String {
    let mut out = String::new();
    for experiment in [Experiment::Table1, Experiment::Denoising, Experiment::Sr] {
        let presets = presets_with_comparator(records, experiment);
        if presets.is_empty() {
            let _ = writeln!(out, "- **{}**: no recorded run yet.", experiment.name());
        }
        for preset in &presets {
            let all_runs = runs_of(experiment);
            let Some((done, all, ours, authors)) = standing(records, experiment, preset, &all_runs)
            else {
                continue;
            };
            // Each part's gap; the worst decides.
            let part_gaps: Vec<(String, f64)> = parts(experiment)
                .into_iter()
                .filter_map(|(name, runs)| {
                    let (_, _, o, a) = standing(records, experiment, preset, &runs)?;
                    Some((name, o - a))
                })
                .collect();
            let (worst_name, worst) = part_gaps
                .iter()
                .cloned()
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((String::new(), ours - authors));
            let per_part = if part_gaps.len() > 1 {
                let each: Vec<String> = part_gaps
                    .iter()
                    .map(|(n, g)| format!("{n} {g:+.2}"))
                    .collect();
                format!(" ({})", each.join(", "))
            } else {
                String::new()
            };
            let worst_part = if part_gaps.len() > 1 {
                format!("{worst_name} ")
            } else {
                String::new()
            };
            let gap = worst;
            let within = gap >= -REPRODUCED_WITHIN_DB;
            // A verdict only on the whole experiment; an unfinished one says how it stands.
            let word = match (done < all, within) {
                (true, true) => format!("so far within {REPRODUCED_WITHIN_DB} dB of the authors (unfinished)"),
                (true, false) => format!("so far {worst_part}{:.2} dB below the authors (unfinished)", -gap),
                (false, true) => format!("within {REPRODUCED_WITHIN_DB} dB of the authors: reproduced under this protocol"),
                (false, false) => format!("{worst_part}{:.2} dB below the authors: not reproduced under this protocol", -gap),
            };
            let so_far = if done < all {
                format!(", {done} of {all} images so far")
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "- **{}**, `{preset}` ({}{so_far}): ours {ours:.2} dB against the authors' output \
                 on the same pixels {authors:.2} dB, a gap of {:+.2} dB{per_part}: {word}.",
                experiment.name(),
                protocol(preset),
                ours - authors,
            );
        }
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
        r
    }

    #[test]
    fn a_verdict_only_on_a_whole_experiment_and_the_gap_decides_it() {
        let mut records: Vec<Record> = paper::TABLE1_IMAGES
            .iter()
            .map(|n| record(Experiment::Table1, n, "cpu", 30.0, 30.3))
            .collect();
        let v = verdict(&records);
        assert!(
            v.contains("`cpu`")
                && v.contains("a gap of -0.30 dB")
                && v.contains("reproduced under this protocol"),
            "{v}"
        );
        assert!(!v.contains("not reproduced"), "{v}");
        records.truncate(3);
        records[0].final_psnr = Some(28.0);
        let v = verdict(&records);
        assert!(
            v.contains("3 of 11 images so far")
                && v.contains("(unfinished)")
                && !v.contains("reproduced"),
            "{v}"
        );
        assert!(v.contains("so far 0.97 dB below"), "{v}");
    }

    /// SR is judged per set and factor: +1 dB at ×4 does not hide −1 dB at ×8.
    #[test]
    fn super_resolution_is_judged_by_its_worst_column() {
        let records: Vec<Record> = paper::SR_COLUMNS
            .iter()
            .flat_map(|(set, f)| {
                let gap = if *f == 4 { 1.0 } else { -1.0 };
                paper::sr_images(set).iter().map(move |n| {
                    record(
                        Experiment::Sr,
                        &format!("{set}-x{f}-{n}"),
                        "cpu",
                        30.0 + gap,
                        30.0,
                    )
                })
            })
            .collect();
        let v = verdict(&records);
        assert!(
            v.contains("(Set5 ×4 +1.00, Set14 ×4 +1.00, Set5 ×8 -1.00, Set14 ×8 -1.00)"),
            "{v}"
        );
        assert!(
            v.contains("Set5 ×8 1.00 dB below the authors: not reproduced"),
            "{v}"
        );
    }

    #[test]
    fn no_records_no_verdict_but_says_so() {
        let v = verdict(&[]);
        assert!(v.contains("**table1**: no recorded run yet"), "{v}");
        assert_eq!(v.lines().count(), 3);
    }
}
