//! Our numbers: which number of a record a row shows ([`Measure`]), per run (mean ±
//! sd over its seeds), and means over runs and seeds.

use std::collections::BTreeMap;

use super::{Cell, Record};

/// Which number of a record a row shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Measure {
    /// The final PSNR of the restored image.
    Final,
    /// The SSIM of the restored image (what the PSNR looks at).
    Ssim,
    /// The PSNR of the corrupted input, or of bicubic upsampling.
    Baseline,
    /// The authors' published output on the same pixels (`authors_psnr`).
    Authors,
    /// Final minus Authors.
    Gap,
    /// Final minus Baseline.
    Gain,
    /// Authors minus Baseline.
    AuthorsGain,
}

impl Measure {
    fn of(self, r: &Record) -> Option<f64> {
        let baseline = || r.baseline.as_ref().and_then(|b| b.psnr);
        match self {
            Measure::Final => r.final_psnr,
            Measure::Ssim => r.final_ssim,
            Measure::Baseline => baseline(),
            Measure::Authors => r.authors_psnr,
            Measure::Gap => Some(r.final_psnr? - r.authors_psnr?),
            Measure::Gain => Some(r.final_psnr? - baseline()?),
            Measure::AuthorsGain => Some(r.authors_psnr? - baseline()?),
        }
    }
}

/// Our number for `run`: mean ± sd over its seeds.
fn per_run(records: &[&Record], run: &str, measure: Measure) -> Option<Cell> {
    let values: Vec<f64> = records
        .iter()
        .filter(|r| r.image == run)
        .filter_map(|r| measure.of(r))
        .collect();
    Cell::of(&values)
}

/// The mean over `runs`, only if every run has a number: the mean of the per-run
/// means, with the sd of the per-seed means over the seeds that have every run.
pub(super) fn mean_over(records: &[&Record], runs: &[String], measure: Measure) -> Option<Cell> {
    let per_run: Option<Vec<f64>> = runs
        .iter()
        .map(|run| per_run(records, run, measure).map(|c| c.mean))
        .collect();
    let mean = Cell::of(&per_run?)?.mean;
    let mut by_seed: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for r in records {
        if let Some(v) = measure.of(r) {
            by_seed.entry(r.seed).or_default().push(v);
        }
    }
    let full_seeds: Vec<f64> = by_seed
        .values()
        .filter(|v| v.len() == runs.len())
        .map(|v| v.iter().sum::<f64>() / v.len() as f64)
        .collect();
    Some(Cell {
        mean,
        sd: Cell::of(&full_seeds).and_then(|c| c.sd),
        n: full_seeds.len().max(1),
    })
}

/// The mean of `cells` if every one is there (the authors' outputs have no seeds).
pub(super) fn mean_of_all(cells: &[Option<Cell>]) -> Option<Cell> {
    let values: Option<Vec<f64>> = cells.iter().map(|c| c.as_ref().map(|c| c.mean)).collect();
    Cell::of(&values?).map(|c| Cell { sd: None, ..c })
}

/// The mean of each of `columns` columns over `rows` (lists of cells), where every
/// row has that column's number: [`mean_of_all`] of each column.
pub(super) fn column_means(rows: &[Vec<Option<Cell>>], columns: usize) -> Vec<Option<Cell>> {
    (0..columns)
        .map(|i| {
            let column: Vec<Option<Cell>> = rows.iter().map(|r| r[i].clone()).collect();
            mean_of_all(&column)
        })
        .collect()
}

/// Our numbers per run of `runs`, then (if `with_mean`) their mean.
pub(super) fn run_cells(
    records: &[&Record],
    runs: &[String],
    measure: Measure,
    with_mean: bool,
) -> Vec<Option<Cell>> {
    let mut cells: Vec<Option<Cell>> = runs
        .iter()
        .map(|run| per_run(records, run, measure))
        .collect();
    if with_mean {
        cells.push(mean_over(records, runs, measure));
    }
    cells
}
