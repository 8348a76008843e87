//! Which of our runs a table shows: the presets, strongest first, and their records.
//! Only our runs: a PyTorch twin's record ([`Record::is_ours`]) is never one of them.

use super::{Inputs, Presets, Record};
use crate::reproduce::plan::{Cut, Experiment, Preset};

/// How strong a preset is: paper first, then cpu, quick, tiny, then unknown names.
pub(super) fn rank(preset: &str) -> (usize, &str) {
    let known = Preset::parse(preset).map(|p| p as usize);
    (known.unwrap_or(usize::MAX), preset)
}

/// Whether `preset` has a run of every one of `runs` of `experiment`.
fn covers(records: &[Record], experiment: Experiment, preset: &str, runs: &[String]) -> bool {
    runs.iter().all(|run| {
        records.iter().any(|r| {
            r.is_ours() && r.experiment == experiment && r.preset == preset && r.image == *run
        })
    })
}

/// The presets with runs among `runs` of `experiment`, strongest first.
fn presets_with_runs<'a>(
    records: &'a [Record],
    experiment: Experiment,
    runs: &[String],
) -> Vec<&'a str> {
    let mut presets: Vec<&str> = records
        .iter()
        .filter(|r| r.is_ours() && r.experiment == experiment && runs.contains(&r.image))
        .map(|r| r.preset.as_str())
        .collect();
    presets.sort_by_key(|p| rank(p));
    presets.dedup();
    presets
}

/// The strongest preset whose runs cover `runs` of `experiment`, else the strongest
/// with any of them.
pub fn strongest_preset(
    records: &[Record],
    experiment: Experiment,
    runs: &[String],
) -> Option<String> {
    let presets = presets_with_runs(records, experiment, runs);
    presets
        .iter()
        .find(|p| covers(records, experiment, p, runs))
        .or(presets.first())
        .map(|p| p.to_string())
}

/// Whether every run of `preset` among `runs` of `experiment` fit its whole image.
fn on_whole_images(
    records: &[Record],
    experiment: Experiment,
    preset: &str,
    runs: &[String],
) -> bool {
    records
        .iter()
        .filter(|r| r.experiment == experiment && r.preset == preset && runs.contains(&r.image))
        .all(|r| r.cut == Cut::Whole)
}

/// The presets a table shows for `runs` of `experiment`: every one with runs, or the
/// strongest complete one and, beside it, any on whole images (the paper's settings:
/// shown as far as they are run, a missing run as a gap), strongest first.
pub(super) fn chosen_presets(
    inputs: &Inputs,
    experiment: Experiment,
    runs: &[String],
) -> Vec<String> {
    let with_runs = presets_with_runs(inputs.records, experiment, runs);
    match inputs.presets {
        Presets::All => with_runs.into_iter().map(String::from).collect(),
        Presets::Strongest => {
            let strongest = strongest_preset(inputs.records, experiment, runs);
            with_runs
                .into_iter()
                .filter(|p| {
                    strongest.as_deref() == Some(*p)
                        || on_whole_images(inputs.records, experiment, p, runs)
                })
                .map(String::from)
                .collect()
        }
    }
}

/// Our strongest run of `experiment` on `image` (the strongest preset, its first
/// seed): what the book's figures show.
pub fn strongest_record<'a>(
    records: &'a [Record],
    experiment: Experiment,
    image: &str,
) -> Option<&'a Record> {
    records
        .iter()
        .filter(|r| r.is_ours() && r.experiment == experiment && r.image == image)
        .min_by_key(|r| (rank(&r.preset), r.seed))
}

/// Our records of `runs` of `experiment` in `preset`.
pub(super) fn records_of<'a>(
    records: &'a [Record],
    experiment: Experiment,
    preset: &str,
    runs: &[String],
) -> Vec<&'a Record> {
    records
        .iter()
        .filter(|r| r.is_ours() && r.experiment == experiment && r.preset == preset)
        .filter(|r| runs.contains(&r.image))
        .collect()
}
