//! The table of `dip denoise`'s default stopping rule ([`StopRule::DEFAULT`]), as
//! followed in every watched run: what it keeps against the best averaged output of
//! the same fit (which peeks at the clean image) and against the paper's fixed 3000
//! iterations with averaging. One group of rows per crop and noise level (the crop
//! named in every label), each with its mean and worst gap; the targets are
//! [`TARGETS`]. The cpu preset's runs are on centre crops, the paper preset's on whole
//! images: two parts of the table, never one.
//!
//! [`StopRule::DEFAULT`]: crate::stopping::StopRule::DEFAULT

use super::stats::column_means;
use super::{Cell, Column, Inputs, Row, Runs, Source, Table};
use crate::reproduce::paper;
use crate::reproduce::plan::{Cut, Experiment, Task};
use crate::reproduce::record::Record;
use crate::reproduce::DefaultStop;
use crate::stopping::StopRule;

/// The columns, in order.
const COLUMNS: [(&str, usize); 6] = [
    ("detected", 0),
    ("kept (dB)", 2),
    ("best averaged (dB)", 2),
    ("gap to the best averaged", 2),
    ("fixed 3000, averaged (dB)", 2),
    ("gap to the fixed", 2),
];

/// What the default has to meet on the measured runs: the mean gap to the best
/// averaged output at most 0.5 dB, no run more than 1.5 dB below it, and none more
/// than 0.3 dB below the fixed budget with averaging.
pub struct Targets {
    pub mean_gap: f64,
    pub worst_gap: f64,
    pub below_fixed: f64,
}

pub const TARGETS: Targets = Targets {
    mean_gap: 0.5,
    worst_gap: 1.5,
    below_fixed: 0.3,
};

/// One run's numbers (dB).
#[derive(Clone, Debug)]
pub struct DefaultRun {
    pub image: String,
    pub detected: Option<usize>,
    pub kept: f64,
    pub best_averaged: f64,
    pub fixed: f64,
}

impl DefaultRun {
    pub fn gap_to_best(&self) -> f64 {
        self.kept - self.best_averaged
    }
    pub fn gap_to_fixed(&self) -> f64 {
        self.kept - self.fixed
    }
}

/// The runs of one crop (or whole images) and noise level, of one preset.
#[derive(Clone, Debug)]
pub struct Group {
    /// "64², σ = 25", or "whole, σ = 25".
    pub label: String,
    /// "cpu" (centre crops) or "paper" (whole images).
    pub preset: String,
    pub runs: Vec<DefaultRun>,
}

impl Group {
    /// The mean gap to the best averaged output, the worst, and the worst gap to the fixed budget.
    pub fn gaps(&self) -> (f64, f64, f64) {
        let n = self.runs.len() as f64;
        let mean = self.runs.iter().map(DefaultRun::gap_to_best).sum::<f64>() / n;
        let worst = self
            .runs
            .iter()
            .map(DefaultRun::gap_to_best)
            .fold(f64::INFINITY, f64::min);
        let fixed = self
            .runs
            .iter()
            .map(DefaultRun::gap_to_fixed)
            .fold(f64::INFINITY, f64::min);
        (mean, worst, fixed)
    }

    /// Whether the group meets [`TARGETS`].
    pub fn meets_targets(&self) -> bool {
        let (mean, worst, fixed) = self.gaps();
        mean >= -TARGETS.mean_gap && worst >= -TARGETS.worst_gap && fixed >= -TARGETS.below_fixed
    }
}

/// The presets of the watched runs, in the table's order: the cpu preset fits
/// centre crops, the paper preset whole images.
pub(super) const PRESETS: [&str; 2] = ["cpu", "paper"];

/// A watched run's group: its preset's place in [`PRESETS`], its crop side (0 for a
/// whole image) and σ.
fn group_key(r: &Record) -> Option<(usize, usize, u32)> {
    let Task::Denoising { sigma, .. } = &r.task else {
        return None;
    };
    let side = match r.cut {
        Cut::CentreCrop(side) => side,
        _ => 0,
    };
    let preset = PRESETS.iter().position(|p| *p == r.preset)?;
    Some((preset, side, sigma.round() as u32))
}

/// "128², σ = 25" or "whole, σ = 25".
fn group_label((_, side, sigma): (usize, usize, u32)) -> String {
    match side {
        0 => format!("whole, σ = {sigma}"),
        side => format!("{side}², σ = {sigma}"),
    }
}

/// The experiments of the standard net's watched runs.
pub(super) const STANDARD: [Experiment; 2] = [Experiment::Stopping, Experiment::StoppingSizes];

/// The standard net's watched runs (seed 0) that followed the default, grouped by
/// preset, crop and σ (the crops first, the smaller first, then whole images).
pub fn default_groups(records: &[Record]) -> Vec<Group> {
    groups_of(records, &STANDARD)
}

/// A watched run of `experiments` (ours, of one of [`PRESETS`], seed 0) that followed
/// the default to the end: its group and its numbers.
fn default_run(
    r: &Record,
    experiments: &[Experiment],
) -> Option<((usize, usize, u32), DefaultRun)> {
    if !(r.is_ours() && r.seed == 0 && experiments.contains(&r.experiment)) {
        return None;
    }
    let s = r.stopping.as_ref()?;
    let d = s.default.as_ref().filter(|d| follows_the_default(d))?;
    let run = DefaultRun {
        image: base_image(&r.image).to_string(),
        detected: d.detected,
        kept: d.psnr?,
        best_averaged: s.best_average_psnr?,
        fixed: s.fixed_psnr?,
    };
    Some((group_key(r)?, run))
}

/// The watched runs of `experiments` (seed 0) that followed the default, grouped by
/// preset, crop and σ (the crops first, the smaller first, then whole images).
pub(super) fn groups_of(records: &[Record], experiments: &[Experiment]) -> Vec<Group> {
    let mut keyed: Vec<((usize, usize, u32), DefaultRun)> = records
        .iter()
        .filter_map(|r| default_run(r, experiments))
        .collect();
    keyed.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(order(&a.1.image).cmp(&order(&b.1.image)))
    });
    let mut groups: Vec<((usize, usize, u32), Group)> = Vec::new();
    for (key, run) in keyed {
        match groups.last_mut() {
            Some((k, g)) if *k == key => g.runs.push(run),
            _ => groups.push((
                key,
                Group {
                    label: group_label(key),
                    preset: PRESETS[key.0].to_string(),
                    runs: vec![run],
                },
            )),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// Whether the run followed today's default (a record of an earlier one is left out).
pub(super) fn follows_the_default(d: &DefaultStop) -> bool {
    d.rule == Some(StopRule::DEFAULT)
}

/// `F16-128-s25` → `F16`.
fn base_image(name: &str) -> &str {
    paper::DENOISING_IMAGES
        .iter()
        .map(|(n, _)| *n)
        .find(|n| name == *n || name.starts_with(&format!("{n}-")))
        .unwrap_or(name)
}

/// The image's place in the paper's list.
fn order(image: &str) -> usize {
    paper::DENOISING_IMAGES
        .iter()
        .position(|(n, _)| *n == image)
        .unwrap_or(usize::MAX)
}

fn cells(run: &DefaultRun) -> Vec<Option<Cell>> {
    vec![
        run.detected.map(|d| Cell::quoted(d as f64)),
        Some(Cell::quoted(run.kept)),
        Some(Cell::quoted(run.best_averaged)),
        Some(Cell::quoted(run.gap_to_best())),
        Some(Cell::quoted(run.fixed)),
        Some(Cell::quoted(run.gap_to_fixed())),
    ]
}

/// The group's rows, then its mean and worst (of the gaps) over its `k` of 9 images.
fn group_rows(group: &Group) -> Vec<Row> {
    let images: Vec<&str> = group.runs.iter().map(|r| r.image.as_str()).collect();
    let per_run: Vec<Vec<Option<Cell>>> = group.runs.iter().map(cells).collect();
    let (_, worst, worst_fixed) = group.gaps();
    rows_with_mean_and_worst(
        (&group.label, &group.preset),
        &images,
        per_run,
        &[(3, worst), (5, worst_fixed)],
    )
}

/// One row per image of a group (`cells` per image), then the mean of every column
/// and the worst of the columns in `worst` (column, value), over its `k` of 9; the
/// group is named by its label and preset.
pub(super) fn rows_with_mean_and_worst(
    (label, preset): (&str, &str),
    images: &[&str],
    per_run: Vec<Vec<Option<Cell>>>,
    worst: &[(usize, f64)],
) -> Vec<Row> {
    let source = Source::Ours {
        preset: preset.into(),
    };
    let columns = per_run.first().map_or(0, Vec::len);
    let of = format!("{} of {}", images.len(), paper::DENOISING_IMAGES.len());
    let mean = column_means(&per_run, columns);
    let mut rows: Vec<Row> = images
        .iter()
        .zip(per_run)
        .map(|(image, cells)| Row {
            label: format!("{image} ({label})"),
            source: source.clone(),
            cells,
        })
        .collect();
    let mut worst_cells = vec![None; columns];
    for &(column, value) in worst {
        worst_cells[column] = Some(Cell::quoted(value));
    }
    rows.push(Row {
        label: format!("mean ({label}, {of})"),
        source: source.clone(),
        cells: mean,
    });
    rows.push(Row {
        label: format!("worst ({label}, {of})"),
        source,
        cells: worst_cells,
    });
    rows
}

/// The runs of [`groups_of`], one [`Runs`] per preset that has them: what a table
/// of the default's runs was made from.
pub(super) fn watched_runs(records: &[Record], experiments: &[Experiment]) -> Vec<Runs> {
    PRESETS
        .iter()
        .filter_map(|preset| {
            let of_preset: Vec<&Record> = records
                .iter()
                .filter(|r| r.preset == *preset && default_run(r, experiments).is_some())
                .collect();
            (!of_preset.is_empty()).then(|| Runs::of(preset, &of_preset))
        })
        .collect()
}

/// The table of the default rule over the watched runs.
pub fn stopping_default(inputs: &Inputs) -> Table {
    let groups = default_groups(inputs.records);
    let rows = groups.iter().flat_map(group_rows).collect();
    let runs = watched_runs(inputs.records, &STANDARD);
    let missing = groups.is_empty().then(|| {
        "**No watched run has followed the default yet**: `dip reproduce --preset cpu \
         --only stopping` (and `--only stopping-sizes`) record it."
            .to_string()
    });
    let mut notes = vec![format!(
        "Each watched run follows the default as a user's fit would (the noise level \
         estimated from the noisy image, a low of the variance counting once the loss is \
         down to it, confirmed by a rise of the variance, the mean of the window kept) \
         and goes on to 4000 iterations. Kept: the window's mean at the detected \
         iteration. Best averaged: the best of the exponentially averaged outputs over \
         the iterations, found by peeking at the clean image. Targets: a mean gap to it \
         of at most {} dB, none below −{} dB, none more than {} dB below the fixed 3000.",
        TARGETS.mean_gap, TARGETS.worst_gap, TARGETS.below_fixed
    )];
    if !runs.is_empty() && !runs.iter().any(|r| r.crops.is_none()) {
        notes.push(
            "No whole image has been watched yet: `dip reproduce --preset paper --only \
             stopping` runs them (`--estimate` says how long on this machine)."
                .into(),
        );
    }
    Table {
        title: "`dip denoise`'s default stopping rule against the best averaged output and the \
                fixed 3000 with averaging, denoising (PSNR, dB)"
            .into(),
        columns: Column::all(&COLUMNS),
        rows,
        notes,
        runs,
        missing,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::reproduce::plan::{jobs, Preset};
    use crate::reproduce::record::{test_record, StoppingSummary};
    use crate::reproduce::tables::tests::no_runs;

    /// A watched run of `experiment` named `image` whose default kept `kept` dB.
    pub(in crate::reproduce::tables) fn watched(
        experiment: Experiment,
        image: &str,
        kept: f64,
        best: f64,
    ) -> Record {
        let job = jobs(Preset::Cpu, &[experiment], &[image.into()], None, 1).remove(0);
        let mut r = test_record("house", 0, None, (0.0, 0.0));
        (r.experiment, r.image, r.task, r.cut) = (experiment, job.image, job.task, job.cut);
        r.stopping = Some(StoppingSummary {
            detected: Some(300),
            stopped_at: Some(1300),
            auto_psnr: Some(27.0),
            best_psnr: Some(28.0),
            best_iteration: Some(290),
            fixed_psnr: Some(20.5),
            fixed_iterations: 3000,
            detected_average: None,
            auto_average_psnr: None,
            best_average_psnr: Some(best),
            best_average_iteration: Some(400),
            default: Some(DefaultStop {
                rule: Some(StopRule::DEFAULT),
                noise_sigma: 25.0,
                detected: Some(320),
                stopped_at: Some(450),
                psnr: Some(kept),
            }),
        });
        r
    }

    #[test]
    fn runs_are_grouped_by_crop_and_noise_with_their_gaps() {
        let records = vec![
            watched(Experiment::StoppingSizes, "house-128-s25", 28.0, 29.0),
            watched(Experiment::Stopping, "house", 29.5, 29.7),
            watched(Experiment::StoppingSizes, "F16-128-s25", 29.0, 31.0),
            watched(Experiment::StoppingSizes, "F16-128-s50", 26.0, 26.1),
        ];
        let groups = default_groups(&records);
        let labels: Vec<&str> = groups.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(labels, ["64², σ = 25", "128², σ = 25", "128², σ = 50"]);
        // F16 before house: the paper's order.
        let images: Vec<&str> = groups[1].runs.iter().map(|r| r.image.as_str()).collect();
        assert_eq!(images, ["F16", "house"]);
        let (mean, worst, fixed) = groups[1].gaps();
        assert!(
            (mean + 1.5).abs() < 1e-12 && (worst + 2.0).abs() < 1e-12,
            "{mean} {worst}"
        );
        assert!((fixed - 7.5).abs() < 1e-12, "{fixed}");
        assert!(!groups[1].meets_targets(), "a mean gap of 1.5 dB misses");
        assert!(groups[0].meets_targets() && groups[2].meets_targets());

        let mut inputs = no_runs();
        inputs.records = &records;
        let table = stopping_default(&inputs);
        assert_eq!(
            table.runs[0].crops.as_deref(),
            Some("64 × 64 and 128 × 128 centre crops")
        );
        let says_whole = |t: &Table| t.notes.iter().any(|n| n.contains("--preset paper"));
        assert!(
            says_whole(&table),
            "no whole image watched: the table says how"
        );
        let md = table.to_markdown();
        assert!(
            md.contains("| F16 (128², σ = 25) | 320 | 29.00 | 31.00 | -2.00 |"),
            "{md}"
        );
        assert!(md.contains("| mean (128², σ = 25, 2 of 9) |"), "{md}");
        assert!(
            md.contains("| worst (128², σ = 25, 2 of 9) | – | – | – | -2.00 | – | 7.50 |"),
            "{md}"
        );
    }

    /// The paper preset's watched run of the whole `image`.
    fn watched_whole(image: &str, kept: f64, best: f64) -> Record {
        let job = jobs(
            Preset::Paper,
            &[Experiment::Stopping],
            &[image.into()],
            None,
            1,
        )
        .remove(0);
        let mut r = watched(Experiment::Stopping, image, kept, best);
        (r.preset, r.cut) = ("paper".into(), job.cut);
        r
    }

    #[test]
    fn whole_images_are_a_part_of_their_own() {
        let records = vec![
            watched_whole("house", 32.0, 32.3),
            watched(Experiment::Stopping, "house", 29.5, 29.7),
        ];
        let groups = default_groups(&records);
        let labels: Vec<(&str, &str)> = groups
            .iter()
            .map(|g| (g.label.as_str(), g.preset.as_str()))
            .collect();
        assert_eq!(labels, [("64², σ = 25", "cpu"), ("whole, σ = 25", "paper")]);
        let mut inputs = no_runs();
        inputs.records = &records;
        let parts = stopping_default(&inputs).by_scope();
        assert_eq!(parts.len(), 2);
        assert!(parts[1].title.contains("on whole images, preset `paper`"));
        let md = parts[1].to_markdown();
        assert!(
            md.contains("| house (whole, σ = 25) | 320 | 32.00 | 32.30 | -0.30 |"),
            "{md}"
        );
        assert!(!md.contains("64²"), "{md}");
        assert!(!parts[0].to_markdown().contains("(whole"));
        assert!(!parts[0].notes.iter().any(|n| n.contains("--preset paper")));
    }

    #[test]
    fn a_run_of_another_default_is_left_out() {
        let mut r = watched(Experiment::Stopping, "house", 29.5, 29.7);
        let d = r.stopping.as_mut().unwrap().default.as_mut().unwrap();
        d.rule = Some(StopRule {
            rise: None,
            ..StopRule::DEFAULT
        });
        assert!(default_groups(&[r.clone()]).is_empty());
        r.stopping.as_mut().unwrap().default.as_mut().unwrap().rule = None;
        assert!(default_groups(&[r]).is_empty());
    }

    #[test]
    fn without_watched_runs_the_table_says_what_to_run() {
        let table = stopping_default(&no_runs());
        assert!(table.rows.is_empty());
        assert!(table.missing.unwrap().contains("--only stopping"));
    }
}
