//! The table of `dip denoise --fast` ([`denoising::fast`]): the narrow net's watched
//! runs (`stopping-fast`) beside the standard net's on the same crops and noise, both
//! stopped by the default rule. The cost of `--fast` is the difference of what the
//! default kept; its own gap to the narrow net's best averaged output says whether
//! the rule still works on the narrow net.
//!
//! [`denoising::fast`]: crate::tasks::denoising::fast

use super::stopping_default::{
    groups_of, rows_with_mean_and_worst, watched_runs, DefaultRun, Group, STANDARD,
};
use super::{Cell, Column, Inputs, Row, Table};
use crate::net::NARROW_WIDTH;
use crate::reproduce::plan::Experiment;
use crate::reproduce::record::Record;

/// The columns, in order.
const COLUMNS: [(&str, usize); 5] = [
    ("standard net: kept (dB)", 2),
    ("--fast: kept (dB)", 2),
    ("cost of --fast (dB)", 2),
    ("--fast: best averaged (dB)", 2),
    ("--fast: gap to its best averaged", 2),
];

/// One image's kept output on the standard net and on the narrow one.
#[derive(Clone, Debug)]
pub struct FastPair {
    pub image: String,
    pub standard: DefaultRun,
    pub fast: DefaultRun,
}

impl FastPair {
    /// What `--fast` costs on this image (negative: it keeps less).
    pub fn cost(&self) -> f64 {
        self.fast.kept - self.standard.kept
    }
}

/// The pairs of one crop and noise level ("64², σ = 25").
#[derive(Clone, Debug)]
pub struct FastGroup {
    pub label: String,
    pub preset: String,
    pub pairs: Vec<FastPair>,
}

impl FastGroup {
    /// The mean cost of `--fast` over the group, and the worst.
    pub fn costs(&self) -> (f64, f64) {
        let costs: Vec<f64> = self.pairs.iter().map(FastPair::cost).collect();
        let mean = costs.iter().sum::<f64>() / costs.len() as f64;
        (mean, costs.iter().copied().fold(f64::INFINITY, f64::min))
    }

    /// The narrow net's own runs, as a group of the default rule's table (its targets
    /// apply to them too).
    pub fn fast_runs(&self) -> Group {
        Group {
            label: self.label.clone(),
            preset: self.preset.clone(),
            runs: self.pairs.iter().map(|p| p.fast.clone()).collect(),
        }
    }
}

/// The narrow net's runs paired with the standard net's of the same image, crop and
/// noise; a run without its partner is left out.
pub fn fast_groups(records: &[Record]) -> Vec<FastGroup> {
    let standard = groups_of(records, &STANDARD);
    groups_of(records, &[Experiment::StoppingFast])
        .into_iter()
        .filter_map(|fast| {
            let partners = standard
                .iter()
                .find(|g| g.label == fast.label && g.preset == fast.preset)?;
            let pairs: Vec<FastPair> = fast
                .runs
                .into_iter()
                .filter_map(|f| {
                    let s = partners.runs.iter().find(|s| s.image == f.image)?;
                    Some(FastPair {
                        image: f.image.clone(),
                        standard: s.clone(),
                        fast: f,
                    })
                })
                .collect();
            (!pairs.is_empty()).then_some(FastGroup {
                label: fast.label,
                preset: fast.preset,
                pairs,
            })
        })
        .collect()
}

fn cells(pair: &FastPair) -> Vec<Option<Cell>> {
    [
        pair.standard.kept,
        pair.fast.kept,
        pair.cost(),
        pair.fast.best_averaged,
        pair.fast.gap_to_best(),
    ]
    .into_iter()
    .map(|v| Some(Cell::quoted(v)))
    .collect()
}

/// The group's rows, then its mean and worst over its `k` of 9 images.
fn group_rows(group: &FastGroup) -> Vec<Row> {
    let images: Vec<&str> = group.pairs.iter().map(|p| p.image.as_str()).collect();
    let per_pair: Vec<Vec<Option<Cell>>> = group.pairs.iter().map(cells).collect();
    let (_, worst_cost) = group.costs();
    let (_, worst_gap, _) = group.fast_runs().gaps();
    rows_with_mean_and_worst(
        (&group.label, &group.preset),
        &images,
        per_pair,
        &[(2, worst_cost), (4, worst_gap)],
    )
}

/// The table of `--fast` against the standard net.
pub fn stopping_fast(inputs: &Inputs) -> Table {
    let groups = fast_groups(inputs.records);
    let runs = watched_runs(inputs.records, &[Experiment::StoppingFast]);
    let missing = groups.is_empty().then(|| {
        "**No run of `--fast` is recorded yet**: `dip reproduce --preset cpu --only \
         stopping-fast` records them."
            .to_string()
    });
    Table {
        title: "`dip denoise --fast` (the narrow net) against the standard net, both stopped \
                by the default rule, denoising (PSNR, dB)"
            .into(),
        columns: Column::all(&COLUMNS),
        rows: groups.iter().flat_map(group_rows).collect(),
        notes: vec![format!(
            "`--fast` fits the same net {NARROW_WIDTH} channels wide at every scale instead \
             of 128: about a quarter of the convolutions' work an iteration. Both nets fit \
             the same noisy crop from the same seed for 4000 iterations and follow the \
             default rule; the cost is what `--fast` kept minus what the standard net kept. \
             The last columns check the rule on the narrow net: its gap to the narrow \
             net's own best averaged output."
        )],
        runs,
        missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reproduce::tables::stopping_default::tests::watched;
    use crate::reproduce::tables::tests::no_runs;

    #[test]
    fn fast_runs_are_set_beside_the_standard_runs_of_the_same_crop() {
        let records = vec![
            watched(Experiment::Stopping, "house", 29.5, 29.7),
            watched(Experiment::Stopping, "F16", 28.0, 28.2),
            watched(Experiment::StoppingSizes, "house-128-s25", 30.0, 30.1),
            watched(Experiment::StoppingFast, "house", 29.0, 29.4),
            watched(Experiment::StoppingFast, "F16", 28.1, 28.3),
            watched(Experiment::StoppingFast, "house-128-s25", 29.2, 29.6),
            // No standard run of baboon: left out.
            watched(Experiment::StoppingFast, "baboon", 25.0, 25.0),
        ];
        let groups = fast_groups(&records);
        let labels: Vec<&str> = groups.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(labels, ["64², σ = 25", "128², σ = 25"]);
        let images: Vec<&str> = groups[0].pairs.iter().map(|p| p.image.as_str()).collect();
        assert_eq!(images, ["F16", "house"]);
        let (mean, worst) = groups[0].costs();
        assert!(
            (mean + 0.2).abs() < 1e-12 && (worst + 0.5).abs() < 1e-12,
            "{mean} {worst}"
        );
        assert!((groups[1].costs().0 + 0.8).abs() < 1e-12);
        assert!(groups[0].fast_runs().meets_targets());

        let mut inputs = no_runs();
        inputs.records = &records;
        let md = stopping_fast(&inputs).to_markdown();
        assert!(
            md.contains("| house (64², σ = 25) | 29.50 | 29.00 | -0.50 | 29.40 | -0.40 |"),
            "{md}"
        );
        assert!(
            md.contains("| worst (64², σ = 25, 2 of 9) | – | – | -0.50 | – | -0.40 |"),
            "{md}"
        );
        assert!(md.contains("| mean (128², σ = 25, 1 of 9) |"), "{md}");
    }

    #[test]
    fn without_fast_runs_the_table_says_what_to_run() {
        let table = stopping_fast(&no_runs());
        assert!(table.rows.is_empty());
        assert!(table.missing.unwrap().contains("--only stopping-fast"));
    }
}
