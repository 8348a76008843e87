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
//! strongest complete one (paper, then quick, then tiny), as the book does. Every
//! table says which runs made its rows ([`Runs`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::paper;
use super::plan::{self, Experiment, Job, Preset, Task};
use super::record::{short_commit, BenchRecord, Implementation, Record};
use crate::data::DataDir;
use crate::image_io::Image;
use crate::metrics;

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
    /// The authors' published outputs measured on exactly the pixels of our runs
    /// of this preset (the same crops, the same metric: the records' `authors_psnr`).
    AuthorsSamePixels { preset: String },
    /// Ours minus the authors' on the same pixels, per run.
    Gap { preset: String },
    /// The gain over the baseline (bicubic for SR), ours and the authors' on the same pixels.
    Gain { preset: String, authors: bool },
    /// Benchmarks of one training iteration, ours against PyTorch.
    Bench,
}

/// A column: its name and how many decimals its numbers get.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    pub name: String,
    pub decimals: usize,
}

impl Column {
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
        }
    }
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
        write!(
            f,
            "Made by our runs: preset `{}` on {}, {} runs{seeds}, {iterations}, {:.0} s of wall time in all, commit {}.",
            self.preset,
            self.devices.join(", "),
            self.runs,
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
    /// The table in Markdown: its title, the table (`–` for a missing number, our
    /// rows in bold), then what is missing, which runs made it, and the notes.
    pub fn to_markdown(&self) -> String {
        let mut s = format!("**{}**\n\n| |", self.title);
        for c in &self.columns {
            s += &format!(" {} |", c.name);
        }
        s += &format!("\n|---|{}\n", "---:|".repeat(self.columns.len()));
        // Our rows stand out among the quoted ones.
        let is_ours = |r: &Row| matches!(r.source, Source::Ours { .. });
        let bold = !self.rows.iter().all(is_ours);
        for row in &self.rows {
            let label = if bold && is_ours(row) {
                format!("**{}**", row.label)
            } else {
                row.label.clone()
            };
            s += &format!("| {label} |");
            for (cell, column) in row.cells.iter().zip(&self.columns) {
                let text = cell
                    .as_ref()
                    .map_or("–".into(), |c| c.format(column.decimals));
                s += &format!(" {text} |");
            }
            s += "\n";
        }
        s += "\n";
        if let Some(missing) = &self.missing {
            s += &format!("> {missing}\n\n");
        }
        for runs in &self.runs {
            s += &format!("{runs}\n\n");
        }
        for note in &self.notes {
            s += &format!("{note}\n\n");
        }
        s
    }

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
    /// then tiny); if none covers it, the strongest that has any (the book).
    Strongest,
}

/// What the tables are made from.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    pub records: &'a [Record],
    pub bench: &'a [BenchRecord],
    /// The data folder, for the authors' outputs (their rows are left out without it).
    pub data: Option<&'a DataDir>,
    pub presets: Presets,
}

/// The note under a table: ours is the final PSNR.
pub const FINAL_PSNR_NOTE: &str =
    "Ours is the PSNR of the final output (the averaged output where \
the run averages), not the best PSNR over the iterations, which would peek at the clean image; \
mean ± sd over seeds where there are several.";

/// The note under a table with rows of a reduced preset.
pub const REDUCED_NOTE: &str = "The `quick` and `tiny` presets run on centre crops with fewer \
iterations (`dip reproduce --list` shows each run's settings): their numbers show the method at \
work, not the paper's protocol.";

/// What to run where our runs of `experiment` are missing (`on`: which part of it).
pub fn no_run_note(experiment: Experiment, on: Option<&str>) -> String {
    let e = experiment.name();
    let on = on.map(|o| format!(" on {o}")).unwrap_or_default();
    format!(
        "**No recorded run yet** for `{e}`{on}: `dip reproduce --preset paper --only {e}` \
         (or `--preset quick`, minutes on a CPU) writes them under `results/<preset>/{e}/`."
    )
}

/// How strong a preset is: paper first, then cpu, quick, tiny, then unknown names.
fn rank(preset: &str) -> (usize, &str) {
    let known = Preset::parse(preset).map(|p| p as usize);
    (known.unwrap_or(usize::MAX), preset)
}

/// Whether `preset` has a run of every one of `runs` of `experiment`.
fn covers(records: &[Record], experiment: Experiment, preset: &str, runs: &[String]) -> bool {
    runs.iter().all(|run| {
        records
            .iter()
            .any(|r| r.experiment == experiment && r.preset == preset && r.image == *run)
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
        .filter(|r| r.experiment == experiment && runs.contains(&r.image))
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

/// The presets a table shows for `runs` of `experiment`.
fn chosen_presets(inputs: &Inputs, experiment: Experiment, runs: &[String]) -> Vec<String> {
    match inputs.presets {
        Presets::All => presets_with_runs(inputs.records, experiment, runs)
            .into_iter()
            .map(String::from)
            .collect(),
        Presets::Strongest => strongest_preset(inputs.records, experiment, runs)
            .into_iter()
            .collect(),
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
        .filter(|r| r.experiment == experiment && r.image == image)
        .min_by_key(|r| (rank(&r.preset), r.seed))
}

/// Our records of `runs` of `experiment` in `preset`.
fn records_of<'a>(
    records: &'a [Record],
    experiment: Experiment,
    preset: &str,
    runs: &[String],
) -> Vec<&'a Record> {
    records
        .iter()
        .filter(|r| r.experiment == experiment && r.preset == preset && runs.contains(&r.image))
        .collect()
}

/// Which number of a record a row shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Measure {
    /// The final PSNR of the restored image.
    Final,
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
fn mean_over(records: &[&Record], runs: &[String], measure: Measure) -> Option<Cell> {
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
fn mean_of_all(cells: &[Option<Cell>]) -> Option<Cell> {
    let values: Option<Vec<f64>> = cells.iter().map(|c| c.as_ref().map(|c| c.mean)).collect();
    Cell::of(&values?).map(|c| Cell { sd: None, ..c })
}

/// A row quoted from the paper: per run (`None` where the paper has no number), then its mean.
fn paper_row(label: &str, per_run: &[Option<f64>], mean: Option<f64>) -> Row {
    let mut cells: Vec<Option<Cell>> = per_run.iter().map(|v| v.map(Cell::quoted)).collect();
    cells.push(mean.map(Cell::quoted));
    Row {
        label: format!("{label} (paper)"),
        source: Source::Paper,
        cells,
    }
}

fn load(data: &DataDir, rel: &str) -> Option<Image> {
    data.image(rel).ok().and_then(|p| Image::load(p).ok())
}

/// The PSNR (dB) of the authors' published output of the paper's run `image` of
/// `experiment`, measured by this crate with the run's protocol (Y channel and a
/// 4-pixel border for SR); `None` where the data folder lacks the files or the
/// paper has no published output.
pub fn authors_psnr(data: &DataDir, experiment: Experiment, image: &str) -> Option<f64> {
    let job = Job::paper(experiment, image)?;
    match &job.task {
        Task::Inpainting {
            clean,
            reference: Some(output),
            ..
        }
        | Task::Denoising {
            clean,
            reference: Some(output),
            ..
        } => metrics::psnr(&load(data, clean)?, &load(data, output)?).ok(),
        Task::SuperResolution {
            clean,
            factor,
            reference: Some(output),
        } => {
            let truth = plan::sr_ground_truth(&load(data, clean)?, *factor).ok()?;
            // The published images are the restored centre crop pasted into a zero canvas.
            let output = load(data, output)?
                .crop_to_multiple(metrics::SR_CROP_MULTIPLE)
                .ok()?;
            metrics::psnr_sr(&truth, &output).ok()
        }
        _ => None,
    }
}

/// The label of the authors' outputs' row.
const AUTHORS_LABEL: &str = "Deep Image Prior, the authors' outputs re-measured by our code";

/// The authors' outputs re-measured, per run and their mean; `None` without data.
fn authors_row(inputs: &Inputs, experiment: Experiment, runs: &[String]) -> Option<Row> {
    let data = inputs.data?;
    let mut cells: Vec<Option<Cell>> = runs
        .iter()
        .map(|run| authors_psnr(data, experiment, run).map(Cell::quoted))
        .collect();
    cells.push(mean_of_all(&cells));
    Some(Row {
        label: AUTHORS_LABEL.into(),
        source: Source::AuthorsOutputs,
        cells,
    })
}

/// Our rows and the runs that made them.
#[derive(Default)]
struct Ours {
    rows: Vec<Row>,
    runs: Vec<Runs>,
}

/// A row label: `name (ours, preset, devices)`.
fn our_label(name: &str, preset: &str, records: &[&Record]) -> String {
    let devices: BTreeSet<&str> = records.iter().map(|r| r.device.as_str()).collect();
    let devices: Vec<&str> = devices.into_iter().collect();
    format!("{name} (ours, {preset}, {})", devices.join("+"))
}

/// Our numbers per run of `runs`, then (if `with_mean`) their mean.
fn run_cells(
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

/// Our rows for `runs` of `experiment`, per preset shown: the corrupted input's
/// (or bicubic's) where the runs record one, then Deep Image Prior's; `cells` makes
/// a row's numbers from the preset's records.
fn our_rows(
    inputs: &Inputs,
    experiment: Experiment,
    runs: &[String],
    cells: impl Fn(&[&Record], Measure) -> Vec<Option<Cell>>,
) -> Ours {
    let mut ours = Ours::default();
    for preset in chosen_presets(inputs, experiment, runs) {
        let records = records_of(inputs.records, experiment, &preset, runs);
        let baseline = records.iter().find_map(|r| r.baseline.as_ref());
        if let Some(baseline) = baseline {
            ours.rows.push(Row {
                label: our_label(&baseline.name, &preset, &records),
                source: Source::Baseline {
                    preset: preset.clone(),
                },
                cells: cells(&records, Measure::Baseline),
            });
        }
        ours.rows.push(Row {
            label: our_label("Deep Image Prior", &preset, &records),
            source: Source::Ours {
                preset: preset.clone(),
            },
            cells: cells(&records, Measure::Final),
        });
        ours.rows.extend(same_pixel_rows(experiment, &preset, &records, &cells));
        ours.runs.push(Runs::of(&preset, &records));
    }
    ours
}

/// The comparison on exactly our pixels: the authors' published output measured like
/// ours, the gap, and for SR both gains over bicubic. Left out where no record has
/// the authors' number.
fn same_pixel_rows(
    experiment: Experiment,
    preset: &str,
    records: &[&Record],
    cells: &impl Fn(&[&Record], Measure) -> Vec<Option<Cell>>,
) -> Vec<Row> {
    if records.iter().all(|r| r.authors_psnr.is_none()) {
        return Vec::new();
    }
    let source = |f: fn(String) -> Source| f(preset.to_string());
    let mut rows = vec![
        Row {
            label: format!("the authors' output on the same pixels ({preset})"),
            source: source(|preset| Source::AuthorsSamePixels { preset }),
            cells: cells(records, Measure::Authors),
        },
        Row {
            label: format!("gap: ours − the authors', same pixels ({preset})"),
            source: source(|preset| Source::Gap { preset }),
            cells: cells(records, Measure::Gap),
        },
    ];
    if experiment == Experiment::Sr {
        for (authors, measure, who) in [(false, Measure::Gain, "ours"), (true, Measure::AuthorsGain, "the authors'")] {
            rows.push(Row {
                label: format!("gain over bicubic: {who} ({preset})"),
                source: Source::Gain { preset: preset.to_string(), authors },
                cells: cells(records, measure),
            });
        }
    }
    rows
}

/// Assemble a table from its parts; the notes say what ours is, and if our runs are
/// missing, what to run.
fn table(
    title: &str,
    (experiment, on): (Experiment, Option<&str>),
    columns: Vec<Column>,
    mut rows: Vec<Row>,
    ours: Ours,
    mut notes: Vec<String>,
) -> Table {
    let missing = ours.rows.is_empty().then(|| no_run_note(experiment, on));
    if !ours.rows.is_empty() {
        notes.insert(0, FINAL_PSNR_NOTE.into());
    }
    if ours.runs.iter().any(|r| r.preset != Preset::Paper.name()) {
        notes.push(REDUCED_NOTE.into());
    }
    rows.extend(ours.rows);
    Table {
        title: title.into(),
        columns,
        rows,
        notes,
        runs: ours.runs,
        missing,
    }
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The columns of a per-run table: one per run, then `mean`.
fn columns_with_mean(names: &[&str]) -> Vec<Column> {
    let mut columns: Vec<Column> = names.iter().map(|n| Column::db(n)).collect();
    columns.push(Column::db("mean"));
    columns
}

/// Table 1: inpainting of 11 grey images with 50 % of the pixels missing.
pub fn table1(inputs: &Inputs) -> Table {
    let runs = strings(&paper::TABLE1_IMAGES);
    let quoted = |values: &[f64; 11]| values.map(Some);
    let mut rows = vec![
        paper_row(
            "Papyan et al.",
            &quoted(&paper::TABLE1_PAPYAN),
            Some(paper::TABLE1_PAPYAN_MEAN),
        ),
        paper_row(
            "Deep Image Prior",
            &quoted(&paper::TABLE1_DIP),
            Some(paper::TABLE1_DIP_MEAN),
        ),
    ];
    rows.extend(authors_row(inputs, Experiment::Table1, &runs));
    let ours = our_rows(inputs, Experiment::Table1, &runs, |records, measure| {
        run_cells(records, &runs, measure, true)
    });
    table(
        "Table 1: inpainting, 50 % of the pixels missing (PSNR, dB)",
        (Experiment::Table1, None),
        columns_with_mean(&paper::TABLE1_TITLES),
        rows,
        ours,
        vec!["The masked inputs are the paper's own (its published 50 % masks).".into()],
    )
}

/// Colour denoising at σ = 25 on the nine CBM3D images.
pub fn denoising(inputs: &Inputs) -> Table {
    let names: Vec<&str> = paper::DENOISING_IMAGES.iter().map(|(n, _)| *n).collect();
    let runs = strings(&names);
    // The paper gives F16 (the first image) and the mean of the nine.
    let f16_and_mean = |label: &str, f16: Option<f64>, mean: f64| {
        let mut per_run = vec![None; runs.len()];
        per_run[0] = f16;
        paper_row(label, &per_run, Some(mean))
    };
    let mut rows = vec![
        f16_and_mean("NLM", None, paper::DENOISING_NLM_MEAN),
        f16_and_mean(
            "CBM3D",
            Some(paper::DENOISING_CBM3D_F16),
            paper::DENOISING_CBM3D_MEAN,
        ),
        f16_and_mean(
            "Deep Image Prior",
            Some(paper::DENOISING_DIP_F16),
            paper::DENOISING_DIP_MEAN,
        ),
    ];
    rows.extend(authors_row(inputs, Experiment::Denoising, &runs));
    let ours = our_rows(inputs, Experiment::Denoising, &runs, |records, measure| {
        run_cells(records, &runs, measure, true)
    });
    table(
        "Colour denoising, σ = 25, the nine images of CBM3D (PSNR, dB)",
        (Experiment::Denoising, None),
        columns_with_mean(&names),
        rows,
        ours,
        vec![
            "The paper gives F16 and the mean of the nine. Our noise is drawn per seed; \
              ours is the averaged output at the last iteration."
                .into(),
        ],
    )
}

/// The run names of super-resolution on `set` ×`factor` (`set5-x4-baby`...).
fn sr_runs(set: &str, factor: usize) -> Vec<String> {
    paper::sr_images(set)
        .iter()
        .map(|n| format!("{set}-x{factor}-{n}"))
        .collect()
}

/// `Set5 ×4`.
fn sr_title(set: &str, factor: usize) -> String {
    let set = if set == "set5" { "Set5" } else { "Set14" };
    format!("{set} ×{factor}")
}

const SR_NOTE: &str = "PSNR of the Y channel with a 4-pixel border shaved, as the paper. \
Our bicubic is measured on the same low-resolution inputs as ours. A mean needs every image of the set.";

/// Super-resolution: the paper's table of means (Y channel) on Set5 and Set14, ×4
/// and ×8, with the authors' outputs and ours.
pub fn sr(inputs: &Inputs) -> Table {
    let columns: Vec<Column> = paper::SR_COLUMNS
        .iter()
        .map(|(set, f)| Column::db(&sr_title(set, *f)))
        .collect();
    let mut rows: Vec<Row> = paper::SR_TABLE
        .iter()
        .map(|r| Row {
            label: format!("{} (paper)", r.method),
            source: Source::Paper,
            cells: r.values.iter().map(|v| v.map(Cell::quoted)).collect(),
        })
        .collect();
    let per_set: Vec<Vec<String>> = paper::SR_COLUMNS
        .iter()
        .map(|(set, f)| sr_runs(set, *f))
        .collect();
    if inputs.data.is_some() {
        // The mean (the last cell) of the authors' row of each set and factor.
        let mean = |runs: &[String]| authors_row(inputs, Experiment::Sr, runs)?.cells.pop()?;
        rows.push(Row {
            label: AUTHORS_LABEL.into(),
            source: Source::AuthorsOutputs,
            cells: per_set.iter().map(|runs| mean(runs)).collect(),
        });
    }
    // Our means per set and factor, from the strongest preset over all of them.
    let all_runs: Vec<String> = per_set.concat();
    let ours = our_rows(inputs, Experiment::Sr, &all_runs, |records, measure| {
        per_set
            .iter()
            .map(|runs| mean_over(records, runs, measure))
            .collect()
    });
    table(
        "Super-resolution, means over Set5 and Set14 (PSNR on Y, dB)",
        (Experiment::Sr, None),
        columns,
        rows,
        ours,
        vec![SR_NOTE.into()],
    )
}

/// Super-resolution on `set` ×`factor`, per image: the paper's bicubic and Deep
/// Image Prior (per image where it gives them, Set5 ×4), the authors' outputs, ours.
pub fn sr_images(inputs: &Inputs, set: &str, factor: usize) -> Table {
    let names = paper::sr_images(set);
    let runs = sr_runs(set, factor);
    let no_images = vec![None; names.len()];
    let dip_per_image: Vec<Option<f64>> = if (set, factor) == ("set5", 4) {
        paper::SR_SET5_X4_DIP
            .iter()
            .map(|(_, v)| Some(*v))
            .collect()
    } else {
        no_images.clone()
    };
    let mut rows = vec![
        paper_row(
            paper::SR_BICUBIC,
            &no_images,
            paper::sr_value(paper::SR_BICUBIC, set, factor),
        ),
        paper_row(
            paper::SR_DIP,
            &dip_per_image,
            paper::sr_value(paper::SR_DIP, set, factor),
        ),
    ];
    rows.extend(authors_row(inputs, Experiment::Sr, &runs));
    let ours = our_rows(inputs, Experiment::Sr, &runs, |records, measure| {
        run_cells(records, &runs, measure, true)
    });
    table(
        &format!(
            "Super-resolution, {}, per image (PSNR on Y, dB)",
            sr_title(set, factor)
        ),
        (Experiment::Sr, Some(&sr_title(set, factor))),
        columns_with_mean(names),
        rows,
        ours,
        vec![SR_NOTE.into()],
    )
}

/// The demos: text inpainting (kate), region inpainting (vase, library) and JPEG
/// artefact removal (snail); PSNR against the unmasked image where there is one.
pub fn demos(inputs: &Inputs) -> Table {
    let names = ["kate", "vase", "library", "snail"];
    let runs = strings(&names);
    let ours = our_rows(inputs, Experiment::Demos, &runs, |records, measure| {
        run_cells(records, &runs, measure, false)
    });
    table(
        "Text and region inpainting, JPEG artefacts (PSNR against the unmasked image, dB)",
        (Experiment::Demos, None),
        names.iter().map(|n| Column::db(n)).collect(),
        Vec::new(),
        ours,
        vec![
            "The paper shows these as figures only. The JPEG image (snail) has no clean \
              version: no PSNR."
                .into(),
        ],
    )
}

/// Our time: per experiment, preset and device, the runs, iterations, seconds per
/// iteration (mean ± sd over the runs) and the total wall time.
pub fn timing(inputs: &Inputs) -> Table {
    let mut rows = Vec::new();
    let mut shown: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    for experiment in Experiment::ALL {
        let runs: Vec<String> = plan::jobs(Preset::Paper, &[experiment], &[], None, 1)
            .into_iter()
            .map(|j| j.image)
            .collect();
        for preset in chosen_presets(inputs, experiment, &runs) {
            let records = records_of(inputs.records, experiment, &preset, &runs);
            let mut by_device: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
            for r in &records {
                by_device.entry(&r.device_name).or_default().push(r);
            }
            for (device, rs) in by_device {
                let per_iteration: Vec<f64> = rs.iter().map(|r| r.seconds_per_iteration).collect();
                let iterations: usize = rs.iter().map(|r| r.iterations).sum();
                let wall: f64 = rs.iter().map(|r| r.wall_seconds).sum();
                rows.push(Row {
                    label: format!("{}: {preset}, {device}", experiment.name()),
                    source: Source::Ours {
                        preset: preset.clone(),
                    },
                    cells: vec![
                        Some(Cell::quoted(rs.len() as f64)),
                        Some(Cell::quoted(iterations as f64)),
                        Cell::of(&per_iteration),
                        Some(Cell::quoted(wall)),
                    ],
                });
            }
            shown.entry(preset).or_default().extend(records);
        }
    }
    let missing = rows.is_empty().then(|| {
        "**No recorded run yet**: `dip reproduce --preset quick` (minutes on a CPU) or \
         `--preset paper` writes them under `results/`."
            .to_string()
    });
    let mut runs: Vec<Runs> = shown.iter().map(|(p, rs)| Runs::of(p, rs)).collect();
    runs.sort_by(|a, b| rank(&a.preset).cmp(&rank(&b.preset)));
    let column = |name: &str, decimals| Column {
        name: name.into(),
        decimals,
    };
    Table {
        title: "Time of our runs".into(),
        columns: vec![
            column("runs", 0),
            column("iterations", 0),
            column("s / iteration", 3),
            column("total s", 0),
        ],
        rows,
        notes: vec![
            "Seconds per iteration: mean ± sd over the runs (setting up a run is left out); \
             total: wall seconds summed over the runs, setting up included."
                .into(),
        ],
        runs,
        missing,
    }
}

/// The median seconds and peak memory of one implementation at one setting.
fn bench_cells(records: &[&BenchRecord], implementation: Implementation) -> [Option<f64>; 2] {
    // The latest record of the implementation (RFC 3339 dates sort as text).
    match records
        .iter()
        .filter(|r| r.implementation == implementation)
        .max_by(|a, b| a.date.cmp(&b.date))
    {
        Some(r) => [Some(r.median_seconds), r.peak_rss_mib],
        None => [None, None],
    }
}

/// One line per implementation: its version, commit and dates.
fn bench_versions(records: &[BenchRecord], implementation: Implementation) -> Option<String> {
    let of: Vec<&BenchRecord> = records
        .iter()
        .filter(|r| r.implementation == implementation)
        .collect();
    let distinct = |f: &dyn Fn(&BenchRecord) -> String| -> String {
        let set: BTreeSet<String> = of.iter().map(|r| f(r)).collect();
        set.into_iter().collect::<Vec<_>>().join(", ")
    };
    let name = match implementation {
        Implementation::Dip => "Ours",
        Implementation::Pytorch => "PyTorch",
    };
    (!of.is_empty()).then(|| {
        format!(
            "{name}: {}, commit `{}`, {}.",
            distinct(&|r| r.version.clone()),
            distinct(&|r| short_commit(&r.commit).to_string()),
            distinct(&|r| r.date.clone())
        )
    })
}

/// Seconds per training iteration of the standard net, ours against PyTorch, on the
/// same machine: per image size, channels and machine, the two medians, their
/// ratio and the peak memory of each.
pub fn bench(inputs: &Inputs) -> Table {
    // (device, device_name, threads, size, channels) → the records.
    type Key = (String, String, usize, usize, usize);
    let mut groups: BTreeMap<Key, Vec<&BenchRecord>> = BTreeMap::new();
    for r in inputs.bench {
        let key = (
            r.device.clone(),
            r.device_name.clone(),
            r.threads,
            r.size,
            r.channels,
        );
        groups.entry(key).or_default().push(r);
    }
    let machines: BTreeSet<(&str, usize)> = groups
        .keys()
        .map(|(_, name, threads, ..)| (name.as_str(), *threads))
        .collect();
    let rows = groups
        .iter()
        .map(|((device, name, threads, size, channels), records)| {
            let [ours, ours_mib] = bench_cells(records, Implementation::Dip);
            let [torch, torch_mib] = bench_cells(records, Implementation::Pytorch);
            let ratio = ours.zip(torch).map(|(a, b)| a / b);
            let plural = if *channels == 1 { "" } else { "s" };
            let mut label = format!("{size} × {size}, {channels} channel{plural}");
            if machines.len() > 1 {
                label += &format!(", {device}: {name}, {threads} threads");
            }
            Row {
                label,
                source: Source::Bench,
                cells: [ours, torch, ratio, ours_mib, torch_mib]
                    .map(|v| v.map(Cell::quoted))
                    .to_vec(),
            }
        })
        .collect();
    let mut notes = vec![
        "One training iteration of the paper's standard skip net (32 input channels, 5 scales \
         of 128, 4 skip channels): forward, mean squared error, backward, Adam step; the \
         median of the timed iterations after a warm-up. Ratio: ours ÷ PyTorch (below 1: ours \
         is faster). Peak: the process's peak resident memory."
            .to_string(),
    ];
    if let [(name, threads)] = machines.iter().collect::<Vec<_>>()[..] {
        notes.push(format!("Machine: {name}, {threads} threads."));
    }
    notes.extend(bench_versions(inputs.bench, Implementation::Dip));
    notes.extend(bench_versions(inputs.bench, Implementation::Pytorch));
    let missing = inputs.bench.is_empty().then(|| {
        "**No benchmark recorded yet**: `dip bench --size 256 --channels 3 --record \
         results/bench/dip-cpu-256-c3.json` and `python benches/torch_reference.py --size 256 \
         --channels 3 --record results/bench/pytorch-cpu-256-c3.json` write them."
            .to_string()
    });
    let column = |name: &str, decimals| Column {
        name: name.into(),
        decimals,
    };
    Table {
        title: "Seconds per training iteration of the standard net: ours vs PyTorch, same machine"
            .into(),
        columns: vec![
            column("ours (s)", 3),
            column("PyTorch (s)", 3),
            column("ratio", 2),
            column("ours peak (MiB)", 0),
            column("PyTorch peak (MiB)", 0),
        ],
        rows,
        notes,
        runs: Vec::new(),
        missing,
    }
}

/// One learning curve of the noise-impedance experiment.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Curve {
    /// `curve-image`, `curve-image-noise`, `curve-shuffled` or `curve-noise`.
    pub name: String,
    pub seed: u64,
    /// (iteration, loss) of the thinned history.
    pub points: Vec<(usize, f64)>,
}

/// The noise-impedance learning curves (the paper's Fig. 2) of a preset.
pub fn learning_curves(records: &[Record], preset: &str) -> Vec<Curve> {
    records
        .iter()
        .filter(|r| r.preset == preset && matches!(r.task, Task::Curve { .. }))
        .map(|r| Curve {
            name: r.image.clone(),
            seed: r.seed,
            points: r
                .history
                .iter()
                .filter_map(|h| h.loss.map(|l| (h.iteration, l)))
                .collect(),
        })
        .collect()
}

/// Every table, in the book's order.
pub fn all(inputs: &Inputs) -> Vec<Table> {
    let mut tables = vec![table1(inputs), denoising(inputs), sr(inputs)];
    for (set, factor) in paper::SR_COLUMNS {
        tables.push(sr_images(inputs, set, factor));
    }
    tables.extend([demos(inputs), timing(inputs), bench(inputs)]);
    tables
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_runs() -> Inputs<'static> {
        Inputs {
            records: &[],
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

    #[test]
    fn paper_rows_without_records() {
        let t = table1(&no_runs());
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.cell(&Source::Paper, "mean").unwrap().mean, 31.19);
        assert_eq!(t.rows[1].cells[2].as_ref().unwrap().mean, 39.16);
        assert!(t.missing.as_ref().unwrap().contains("No recorded run yet"));
        let markdown = t.to_markdown();
        assert!(
            markdown.contains("| Papyan et al. (paper) | 28.14 |"),
            "{markdown}"
        );
        assert!(markdown.contains("No recorded run yet"));
        let s = sr(&no_runs());
        assert_eq!(s.row("SRResNet (paper)").unwrap().cells[2], None);
        let d = denoising(&no_runs());
        assert_eq!(d.cell(&Source::Paper, "mean").unwrap().mean, 30.23);
        assert_eq!(
            d.row("CBM3D (paper)").unwrap().cells[0]
                .as_ref()
                .unwrap()
                .mean,
            32.67
        );
        let x4 = sr_images(&no_runs(), "set5", 4);
        let dip = x4.row("Deep Image Prior (paper)").unwrap();
        assert_eq!(dip.cells[2].as_ref().unwrap().mean, 26.23);
        assert_eq!(dip.cells[5].as_ref().unwrap().mean, 29.90);
        let x8 = sr_images(&no_runs(), "set14", 8);
        assert_eq!(
            x8.row("bicubic (paper)").unwrap().cells[14]
                .as_ref()
                .unwrap()
                .mean,
            23.10
        );
        assert!(bench(&no_runs()).rows.is_empty());
        assert_eq!(all(&no_runs()).len(), 10);
    }

    fn bench_record(implementation: Implementation, median: f64) -> BenchRecord {
        BenchRecord {
            implementation,
            version: "v".into(),
            device: "cpu".into(),
            device_name: "a CPU".into(),
            threads: 2,
            size: 256,
            channels: 3,
            iterations: 2,
            seconds: vec![median, median],
            median_seconds: median,
            peak_rss_mib: Some(100.0),
            parameters: 2_217_831,
            conv_gflop: 115.02,
            commit: "0123456789abcdef".into(),
            date: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn bench_rows_pair_ours_with_pytorch() {
        let records = [
            bench_record(Implementation::Dip, 3.0),
            bench_record(Implementation::Pytorch, 2.0),
        ];
        let t = bench(&Inputs {
            bench: &records,
            ..no_runs()
        });
        assert_eq!(t.rows.len(), 1);
        let row = &t.rows[0];
        assert_eq!(row.label, "256 × 256, 3 channels");
        assert_eq!(row.cells[2].as_ref().unwrap().mean, 1.5);
        let markdown = t.to_markdown();
        assert!(
            markdown.contains("| 3.000 | 2.000 | 1.50 | 100 | 100 |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("Machine: a CPU, 2 threads."),
            "{markdown}"
        );
        assert!(t.missing.is_none());
    }
}
