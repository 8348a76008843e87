//! The paper's tables, as data, and their one rendering ([`Table::to_markdown`]),
//! shared by the book and `dip results --tables`.
//!
//! A table puts side by side:
//! - the paper's numbers, quoted from [`paper`];
//! - the authors' published output images, measured again by this crate's
//!   metrics from the data folder ([`authors_psnr`]);
//! - ours, from the run records ([`Record`]): the *final* PSNR of each run (the
//!   best-iteration PSNR peeks at the clean image and is left out), mean ± sd
//!   over seeds where there are several, and the corrupted input (or bicubic
//!   upsampling) of the same runs as a baseline.
//!
//! Which of our runs a table shows is [`Presets`]: every preset, or only the
//! strongest complete one (paper, then cpu, quick, tiny), as the book does. Every
//! table says which runs made its rows ([`Runs`]).
//!
//! The module, one file per job:
//! - this file: the model ([`Cell`], [`Column`], [`Row`], [`Source`], [`Table`],
//!   [`Runs`]), what the tables are made from ([`Inputs`], [`Presets`]) and [`all`];
//! - `render`: [`Table::to_markdown`];
//! - `scope`: a table split so that whole images and crops never share one
//!   ([`Table::by_scope`]);
//! - `presets`: which presets and records a table shows ([`strongest_preset`],
//!   [`strongest_record`]);
//! - `stats`: our numbers per run and their means over runs and seeds;
//! - `authors`: the authors' published outputs measured again ([`authors_psnr`]);
//! - `ours`: our rows, with the comparison with the authors on the same pixels;
//! - `experiments`: the paper's tables ([`table1`], [`denoising`], [`sr`],
//!   [`sr_images`], [`demos`]) and their notes;
//! - `stopping`, `stopping_default`, `stopping_fast`, `tiling`: the stopping rules',
//!   `--fast`'s and the tiles' tables;
//! - `timing`: the time of our runs ([`timing()`]) and ours against PyTorch ([`bench()`]);
//! - `twin`, `welch`: ours against the PyTorch twin of our runs ([`twin()`]),
//!   with Welch's t-test of the difference;
//! - `curves`: the noise-impedance learning curves ([`learning_curves`]).

mod authors;
mod curves;
mod experiments;
mod ours;
mod presets;
mod render;
mod scope;
mod stats;
mod stopping;
mod stopping_default;
mod stopping_fast;
mod tiling;
mod timing;
mod twin;
mod welch;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use super::paper;
use super::plan::Cut;
use super::record::{
    load_bench_records, load_records, load_twin_records, short_commit, BenchRecord, Record,
};
use crate::data::DataDir;

pub use authors::authors_psnr;
pub use curves::{learning_curves, Curve};
pub use experiments::{
    demos, denoising, no_run_note, paper_label, sr, sr_images, table1, FINAL_PSNR_NOTE,
    REDUCED_NOTE,
};
pub use presets::{strongest_preset, strongest_record};
pub use scope::NO_WHOLE_RUN_NOTE;
pub use stopping::stopping;
pub use stopping_default::{default_groups, stopping_default, Group, TARGETS};
pub use stopping_fast::{fast_groups, stopping_fast, FastGroup};
pub use tiling::tiling;
pub use timing::{bench, timing};
pub use twin::{comparisons, pooled, twin, twinned, Comparison, Pooled, ALPHA as TWIN_ALPHA};
pub use welch::{student_t_two_sided, welch, Welch};

/// A number of a table: a mean, its standard deviation over seeds (if more than one), and how many runs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cell {
    pub mean: f64,
    pub sd: Option<f64>,
    pub n: usize,
}

impl Cell {
    /// A number quoted from elsewhere, or measured once.
    pub fn quoted(v: f64) -> Self {
        Self {
            mean: v,
            sd: None,
            n: 1,
        }
    }

    /// Mean and (sample) standard deviation of `values`; `None` if empty.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = (n > 1).then(|| {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        });
        Some(Self { mean, sd, n })
    }

    pub fn format(&self, decimals: usize) -> String {
        match self.sd {
            Some(sd) => format!("{:.*} ± {:.*}", decimals, self.mean, decimals, sd),
            None => format!("{:.*}", decimals, self.mean),
        }
    }
}

/// Where a row's numbers come from.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Quoted from the paper.
    Paper,
    /// The authors' published outputs, measured by this crate.
    AuthorsOutputs,
    /// The corrupted input (or bicubic upsampling) of our runs of this preset.
    Baseline { preset: String },
    /// Our runs of this preset.
    Ours { preset: String },
    /// The SSIM of our runs' outputs (recorded beside the PSNR; the paper gives none).
    Ssim { preset: String },
    /// The authors' published outputs measured on exactly the pixels of our runs
    /// of this preset (the same crops, the same metric: the records' `authors_psnr`).
    AuthorsSamePixels { preset: String },
    /// Ours minus the authors' on the same pixels, per run.
    Gap { preset: String },
    /// The gain over the baseline (bicubic for SR), ours and the authors' on the same pixels.
    Gain { preset: String, authors: bool },
    /// Benchmarks of one training iteration, ours against PyTorch.
    Bench,
    /// Our runs of this preset beside their PyTorch twins (`benches/torch_twin.py`).
    Twin { preset: String },
}

/// A column: its name and how many decimals its numbers get.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    pub name: String,
    pub decimals: usize,
}

impl Column {
    /// The columns named in `specs`, each with its decimals.
    fn all(specs: &[(&str, usize)]) -> Vec<Self> {
        specs
            .iter()
            .map(|&(name, decimals)| Self {
                name: name.into(),
                decimals,
            })
            .collect()
    }

    /// A column of PSNRs in dB (two decimals, as the paper prints them).
    fn db(name: &str) -> Self {
        Self {
            name: name.into(),
            decimals: 2,
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    pub label: String,
    pub source: Source,
    /// One per column; `None` where there is no number.
    pub cells: Vec<Option<Cell>>,
}

/// Which runs made the rows of one preset: preset, devices, iterations, wall time, commits.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Runs {
    pub preset: String,
    /// The devices' descriptions (`cpu (2 threads)`...).
    pub devices: Vec<String>,
    pub runs: usize,
    pub seeds: usize,
    /// The fewest and the most iterations of a run.
    pub iterations: (usize, usize),
    /// Wall seconds, summed over the runs.
    pub wall_seconds: f64,
    /// The commits that made them (10 characters).
    pub commits: Vec<String>,
    /// What the runs fit where it is not the whole images ("64 × 64 centre crops");
    /// `None` where every run fit its whole image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crops: Option<String>,
}

impl Runs {
    /// The runs `records`, all of `preset`.
    pub fn of(preset: &str, records: &[&Record]) -> Self {
        let distinct = |f: &dyn Fn(&Record) -> String| -> Vec<String> {
            let set: BTreeSet<String> = records.iter().map(|r| f(r)).collect();
            set.into_iter().collect()
        };
        let iterations = records.iter().map(|r| r.iterations);
        Self {
            preset: preset.into(),
            devices: distinct(&|r| r.device_name.clone()),
            runs: records.len(),
            seeds: distinct(&|r| r.seed.to_string()).len(),
            iterations: (
                iterations.clone().min().unwrap_or(0),
                iterations.max().unwrap_or(0),
            ),
            wall_seconds: records.iter().map(|r| r.wall_seconds).sum(),
            commits: distinct(&|r| short_commit(&r.git_commit).to_string()),
            crops: crops_of(records),
        }
    }
}

/// What `records` fit, where it is not their whole images: "64 × 64 centre crops".
fn crops_of(records: &[&Record]) -> Option<String> {
    let cuts: BTreeSet<String> = records.iter().map(|r| format!("{:?}", r.cut)).collect();
    if records.iter().all(|r| r.cut == Cut::Whole) {
        return None;
    }
    let sides: BTreeSet<usize> = records
        .iter()
        .filter_map(|r| match r.cut {
            Cut::CentreCrop(side) => Some(side),
            _ => None,
        })
        .collect();
    if sides.len() != cuts.len() {
        return Some("centre crops and reduced images".into());
    }
    let sides: Vec<String> = sides.iter().map(|s| format!("{s} × {s}")).collect();
    Some(format!("{} centre crops", sides.join(" and ")))
}

impl fmt::Display for Runs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (least, most) = self.iterations;
        let iterations = if least == most {
            format!("{least} iterations each")
        } else {
            format!("{least}–{most} iterations")
        };
        let seeds = if self.seeds > 1 {
            format!(" ({} seeds)", self.seeds)
        } else {
            String::new()
        };
        let commits: Vec<String> = self.commits.iter().map(|c| format!("`{c}`")).collect();
        let (runs, iterations) = if self.runs == 1 {
            ("1 run".to_string(), iterations.replace(" each", ""))
        } else {
            (format!("{} runs", self.runs), iterations)
        };
        write!(
            f,
            "Made by our runs: preset `{}` on {}, {runs}{seeds}, {iterations}, {:.0} s of wall time in all, commit {}.",
            self.preset,
            self.devices.join(", "),
            self.wall_seconds,
            commits.join(", ")
        )
    }
}

/// A table: a title, its columns and rows, notes on what the numbers are, and which runs made them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Table {
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    /// What the numbers are (protocol, which PSNR).
    pub notes: Vec<String>,
    /// Which runs made our rows, one entry per preset shown.
    pub runs: Vec<Runs>,
    /// Where our rows are missing: what to run to make them.
    pub missing: Option<String>,
}

impl Table {
    /// The index of the column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The row with this label.
    pub fn row(&self, label: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.label == label)
    }

    /// The first row from `source`.
    pub fn row_of(&self, source: &Source) -> Option<&Row> {
        self.rows.iter().find(|r| r.source == *source)
    }

    /// The number of the first row from `source` in the column `column`.
    pub fn cell(&self, source: &Source, column: &str) -> Option<&Cell> {
        let i = self.column(column)?;
        self.row_of(source)?.cells[i].as_ref()
    }
}

/// Which presets of our runs a table shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presets {
    /// Every preset that has runs, one row each (`dip results --tables`).
    All,
    /// Only the strongest preset whose runs cover the whole table (paper, cpu, quick,
    /// then tiny); if none covers it, the strongest that has any; and beside it any
    /// preset whose runs fit whole images, as far as it has run (the book).
    Strongest,
}

/// What the tables are made from.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    pub records: &'a [Record],
    /// The PyTorch twins of our runs ([`twin()`]'s other side; no other table reads them).
    pub twins: &'a [Record],
    pub bench: &'a [BenchRecord],
    /// The data folder, for the authors' outputs (their rows are left out without it).
    pub data: Option<&'a DataDir>,
    pub presets: Presets,
}

/// The records the tables read, loaded from one results folder: our runs, the PyTorch
/// twins' and the benchmarks', with the data folder for the authors' outputs. The
/// book's generator and the notebooks' replay both hold one.
pub struct Recorded {
    /// The results folder: the records, and our restored images beside them.
    pub results: PathBuf,
    /// Our run records under `results`.
    pub records: Vec<Record>,
    /// The PyTorch twins' records (`results/pytorch/`).
    pub twins: Vec<Record>,
    /// The benchmark records of `results/bench/`.
    pub bench: Vec<BenchRecord>,
    pub data: DataDir,
}

impl Recorded {
    /// The records under `results`, and the data folder `data`.
    pub fn load(results: &Path, data: DataDir) -> crate::Result<Self> {
        Ok(Self {
            results: results.to_path_buf(),
            records: load_records(results)?,
            twins: load_twin_records(results)?,
            bench: load_bench_records(results)?,
            data,
        })
    }

    /// What the book's tables are made from: the strongest complete preset of our
    /// runs (and the paper's runs on whole images beside it).
    pub fn inputs(&self) -> Inputs<'_> {
        Inputs {
            records: &self.records,
            twins: &self.twins,
            bench: &self.bench,
            data: Some(&self.data),
            presets: Presets::Strongest,
        }
    }
}

/// Every table, in the book's order.
pub fn all(inputs: &Inputs) -> Vec<Table> {
    let mut tables = vec![table1(inputs), denoising(inputs), sr(inputs)];
    for (set, factor) in paper::SR_COLUMNS {
        tables.push(sr_images(inputs, set, factor));
    }
    tables.extend([
        demos(inputs),
        stopping(inputs),
        stopping_default(inputs),
        stopping_fast(inputs),
        tiling(inputs),
        timing(inputs),
        bench(inputs),
    ]);
    tables
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn no_runs() -> Inputs<'static> {
        Inputs {
            records: &[],
            twins: &[],
            bench: &[],
            data: None,
            presets: Presets::Strongest,
        }
    }

    #[test]
    fn cells_have_mean_and_sample_sd() {
        let c = Cell::of(&[1.0, 3.0]).unwrap();
        assert_eq!((c.mean, c.n), (2.0, 2));
        assert!((c.sd.unwrap() - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(Cell::of(&[5.0]).unwrap().sd, None);
        assert!(Cell::of(&[]).is_none());
        assert_eq!(c.format(2), "2.00 ± 1.41");
    }
}
