//! The record of one run, written as JSON beside the restored image, and
//! reading all of them back; and the record of one benchmark
//! ([`BenchRecord`], under `results/bench/`).

use std::path::{Path, PathBuf};

use super::plan::{Cut, Experiment, Job, Task};
use super::prepare::Baseline;
use crate::error::{DipError, Result};
use crate::fit::{FitConfig, Step};
use crate::net::SkipConfig;
use crate::stopping::{self, Detector, StopRule};
use crate::tasks::Framing;

/// One point of the (thinned) history of a run. Values that are not finite are `None`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistoryPoint {
    pub iteration: usize,
    pub loss: Option<f64>,
    /// PSNR of the degraded output against the corrupted image.
    pub psnr_corrupted: Option<f64>,
    /// PSNR of this iteration's output against the clean image.
    pub psnr_clean: Option<f64>,
    /// PSNR of the averaged output against the clean image.
    pub psnr_clean_average: Option<f64>,
    pub rolled_back: bool,
    /// The variance of the recent outputs, in a watched run ([`crate::stopping`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variance: Option<f64>,
    /// The same of the averaged outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variance_average: Option<f64>,
    /// In a watched run: PSNR of the mean of the variance's window of outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psnr_clean_window: Option<f64>,
    /// In a watched run: the energy of that mean, and of the averaged output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_window: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_average: Option<f64>,
}

impl HistoryPoint {
    pub fn from_step(s: &Step) -> Self {
        let f = |v: f64| v.is_finite().then_some(v);
        Self {
            iteration: s.iteration,
            loss: f(s.loss),
            psnr_corrupted: f(s.psnr_corrupted),
            psnr_clean: s.psnr_clean.and_then(f),
            psnr_clean_average: s.psnr_clean_average.and_then(f),
            rolled_back: s.rolled_back,
            variance: s.variance.and_then(f),
            variance_average: s.variance_average.and_then(f),
            psnr_clean_window: None,
            loss_window: None,
            loss_average: None,
        }
    }
}

/// Everything about one finished run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub experiment: Experiment,
    pub image: String,
    pub preset: String,
    pub seed: u64,
    /// Which implementation made the run: absent for this crate's runs; `pytorch` for
    /// `benches/torch_twin.py`'s twins of them (the same job in PyTorch), which live
    /// in their own folder ([`implementation_root`]) and are part of a run's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation: Option<Implementation>,
    pub task: Task,
    pub cut: Cut,
    /// How the cut image was fitted to the net (absent in records older than the field).
    #[serde(default)]
    pub framing: Option<Framing>,
    /// The rule that watched the outputs, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<StopRule>,
    /// Where that rule would have stopped, and what it would have given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopping: Option<StoppingSummary>,
    pub net: SkipConfig,
    pub fit: FitConfig,
    pub parameters: usize,
    /// `cpu`, `cuda` or `metal`.
    pub device: String,
    /// A longer description of the device (threads, GPU name).
    pub device_name: String,
    /// `tf32` when float32 matrix products ran in TF32 (`dip reproduce --tf32` on CUDA);
    /// absent for plain float32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    pub crate_version: String,
    /// `git rev-parse HEAD` where the run was made, or "unknown".
    pub git_commit: String,
    /// When the run started (UTC, ISO 8601); the first session's start for a resumed run.
    pub started_at: String,
    /// Seconds spent on the run, summed over the sessions it took.
    pub wall_seconds: f64,
    /// Seconds per iteration of the fit.
    pub seconds_per_iteration: f64,
    /// Iterations done.
    pub iterations: usize,
    /// A tiled run's tiles ([`Job::tiles`]) and how many there were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiles: Option<crate::tiling::Tiles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tile_count: Option<usize>,
    /// The iteration a checkpoint was resumed from, if any.
    pub resumed_from: Option<usize>,
    pub rollbacks: usize,
    /// The history keeps every `history_every`-th iteration and the last one.
    pub history_every: usize,
    pub history: Vec<HistoryPoint>,
    /// The loss at the last iteration.
    pub final_loss: Option<f64>,
    /// PSNR of the restored image (the averaged output where averaging is on) against
    /// the clean image. The tables use this one.
    pub final_psnr: Option<f64>,
    pub final_ssim: Option<f64>,
    /// The authors' published output measured on exactly the pixels and with exactly
    /// the metric of `final_psnr` (the same crop; for SR the same region and trim);
    /// absent where the authors published nothing for this image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authors_psnr: Option<f64>,
    /// The best PSNR against the clean image over the iterations, and where it was.
    /// It peeks at the clean image, so it is *not* a result: reported separately.
    pub best_psnr: Option<f64>,
    pub best_iteration: Option<usize>,
    /// The corrupted input's (or bicubic's) PSNR, for comparison.
    pub baseline: Option<Baseline>,
    /// The restored image, a PNG file next to this record.
    pub output: String,
}

impl Record {
    /// The job this run was: every setting, from the record.
    pub fn job(&self) -> Job {
        Job {
            experiment: self.experiment,
            image: self.image.clone(),
            // The short name only matters to `--images`; the run name matches too.
            name: self.image.clone(),
            preset: self.preset.clone(),
            seed: self.seed,
            net: self.net.clone(),
            fit: self.fit.clone(),
            task: self.task.clone(),
            cut: self.cut,
            framing: self
                .framing
                .unwrap_or(Framing::PadToMultiple(self.net.size_multiple())),
            watch: self.watch,
            tiles: self.tiles,
        }
    }

    /// The implementation that made the run ([`Implementation::Dip`] where the record names none).
    pub fn implementation(&self) -> Implementation {
        self.implementation.unwrap_or(Implementation::Dip)
    }

    /// Whether this crate made the run (not a twin in another implementation).
    pub fn is_ours(&self) -> bool {
        self.implementation() == Implementation::Dip
    }

    /// The folder of this run's files in the results folder `results`:
    /// `<results>[/<implementation>]/<preset>/<experiment>`.
    pub fn dir(&self, results: &Path) -> PathBuf {
        job_dir(
            &implementation_root(results, self.implementation()),
            &self.job(),
        )
    }

    /// The record's own file in the results folder `results`.
    pub fn path(&self, results: &Path) -> PathBuf {
        self.dir(results)
            .join(format!("{}.json", self.job().stem()))
    }

    /// The restored image of this run, in the results folder `results`.
    pub fn output_path(&self, results: &Path) -> PathBuf {
        self.dir(results).join(&self.output)
    }

    /// Which run this was, in one line (for captions): preset, device, iterations,
    /// wall time, seed, commit.
    pub fn provenance(&self) -> String {
        format!(
            "preset `{}`, {}, {} iterations, {:.0} s, seed {}, commit `{}`",
            self.preset,
            self.device_name,
            self.iterations,
            self.wall_seconds,
            self.seed,
            short_commit(&self.git_commit)
        )
    }

    /// The summary row that `dip results` prints.
    pub fn summary(&self) -> Summary {
        Summary {
            experiment: self.experiment,
            image: self.image.clone(),
            preset: self.preset.clone(),
            implementation: self.implementation,
            device: self.device_name.clone(),
            iterations: self.iterations,
            seed: self.seed,
            final_psnr: self.final_psnr,
            authors_psnr: self.authors_psnr,
            wall_seconds: self.wall_seconds,
        }
    }
}

/// What the stopping rule found in a watched run, from its full (unthinned) history.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoppingSummary {
    /// Where the outputs' variance was lowest (as the rule counts it), if anywhere.
    pub detected: Option<usize>,
    /// Where the rule would have stopped (its patience after the detected iteration);
    /// `None` if the run ended first.
    pub stopped_at: Option<usize>,
    /// PSNR of the output at the detected iteration: what stopping on its own gives.
    pub auto_psnr: Option<f64>,
    /// The best PSNR of the output over the iterations and where (it peeks at the clean image).
    pub best_psnr: Option<f64>,
    pub best_iteration: Option<usize>,
    /// The averaged output's PSNR after the paper's fixed number of iterations.
    pub fixed_psnr: Option<f64>,
    pub fixed_iterations: usize,
    /// The same rule on the averaged outputs: where their variance was lowest, and the
    /// averaged output's PSNR there (what stopping on its own gives, keeping the average).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_average: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_average_psnr: Option<f64>,
    /// The best PSNR of the averaged output and where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_average_psnr: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_average_iteration: Option<usize>,
    /// What `dip denoise`'s default rule ([`StopRule::DEFAULT`]) did in the same run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<super::DefaultStop>,
}

/// The paper's fixed number of denoising iterations, the comparison of the stopping rule.
pub const FIXED_DENOISING_ITERATIONS: usize = 3000;

impl StoppingSummary {
    /// The summary of a run watched by `rule`; `None` for an empty history.
    pub fn of(rule: StopRule, history: &[Step]) -> Option<Self> {
        if history.is_empty() {
            return None;
        }
        let steps: Vec<(Option<f64>, f64)> = history.iter().map(|s| (s.variance, s.loss)).collect();
        let (detected, stopped_at) = stopping::replay(Detector::new(rule), &steps);
        let best = |psnr: fn(&Step) -> Option<f64>| {
            history
                .iter()
                .filter_map(|s| Some((psnr(s).filter(|p| p.is_finite())?, s.iteration)))
                .max_by(|a, b| a.0.total_cmp(&b.0))
        };
        let (best_raw, best_average) = (best(|s| s.psnr_clean), best(|s| s.psnr_clean_average));
        let averaged: Vec<(Option<f64>, f64)> = history
            .iter()
            .map(|s| (s.variance_average, s.loss))
            .collect();
        let detected_average = averaged
            .iter()
            .any(|s| s.0.is_some())
            .then(|| stopping::replay(Detector::new(rule), &averaged).0)
            .flatten();
        let fixed_iterations = FIXED_DENOISING_ITERATIONS.min(history.len());
        Some(Self {
            detected,
            stopped_at,
            auto_psnr: detected.and_then(|d| history.get(d)?.psnr_clean),
            best_psnr: best_raw.map(|b| b.0),
            best_iteration: best_raw.map(|b| b.1),
            fixed_psnr: history[fixed_iterations - 1].psnr_clean_average,
            fixed_iterations,
            detected_average,
            auto_average_psnr: detected_average.and_then(|d| history.get(d)?.psnr_clean_average),
            best_average_psnr: best_average.map(|b| b.0),
            best_average_iteration: best_average.map(|b| b.1),
            default: None,
        })
    }

    /// The summary with what the default rule did beside it.
    pub fn with_default(self, default: Option<super::DefaultStop>) -> Self {
        Self { default, ..self }
    }
}

/// One line of `dip results`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub experiment: Experiment,
    pub image: String,
    pub preset: String,
    /// The implementation, where not ours ([`Record::implementation`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation: Option<Implementation>,
    pub device: String,
    pub iterations: usize,
    pub seed: u64,
    pub final_psnr: Option<f64>,
    /// The authors' published output on the same pixels ([`Record::authors_psnr`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authors_psnr: Option<f64>,
    pub wall_seconds: f64,
}

/// Keep about 500 points of a history: every k-th iteration, and the last.
pub fn thin_history(history: &[Step]) -> (usize, Vec<HistoryPoint>) {
    let every = history.len().div_ceil(500).max(1);
    let points = history
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0 || *i + 1 == history.len())
        .map(|(_, s)| HistoryPoint::from_step(s))
        .collect();
    (every, points)
}

/// The best PSNR against the clean image (of the average where there is one) and its iteration.
pub fn best_psnr(history: &[Step]) -> Option<(f64, usize)> {
    history
        .iter()
        .filter_map(|s| {
            s.psnr_clean_average
                .or(s.psnr_clean)
                .filter(|p| p.is_finite())
                .map(|p| (p, s.iteration))
        })
        .fold(None, |best: Option<(f64, usize)>, (p, i)| match best {
            Some((b, _)) if b >= p => best,
            _ => Some((p, i)),
        })
}

/// Where the files of a job go: `<results>/<preset>/<experiment>/<stem>`.
pub fn job_dir(results: &Path, job: &Job) -> PathBuf {
    results.join(&job.preset).join(job.experiment.name())
}

/// The record of a job.
pub fn record_path(results: &Path, job: &Job) -> PathBuf {
    job_dir(results, job).join(format!("{}.json", job.stem()))
}

/// The restored image of a job.
pub fn image_path(results: &Path, job: &Job) -> PathBuf {
    job_dir(results, job).join(format!("{}.png", job.stem()))
}

/// The checkpoint of a job.
pub fn checkpoint_path(results: &Path, job: &Job) -> PathBuf {
    job_dir(results, job).join(format!("{}.ckpt.safetensors", job.stem()))
}

/// Read one record.
pub fn load_record(path: &Path) -> Result<Record> {
    let bytes = std::fs::read(path)?;
    let mut record: Record = serde_json::from_slice(&bytes)
        .map_err(|e| DipError::invalid(format!("{} is not a run record: {e}", path.display())))?;
    record.device_name = crate::device::recorded_name(&record.device_name);
    Ok(record)
}

/// Our records under `results` (the `<preset>/<experiment>/*.json` files), sorted by
/// preset, experiment, image and seed. A JSON file that is not a record is an error
/// naming it. The benchmarks' folder (`results/bench/`, [`load_bench_records`]) and the
/// other implementations' folders (`results/pytorch/`, [`load_twin_records`]) are not
/// presets; a record of another implementation among ours is an error naming it.
pub fn load_records(results: &Path) -> Result<Vec<Record>> {
    load_records_of(results, Implementation::Dip)
}

/// The PyTorch twins of our runs (`benches/torch_twin.py`), under
/// `results/pytorch/<preset>/<experiment>/`, sorted as [`load_records`] sorts ours.
pub fn load_twin_records(results: &Path) -> Result<Vec<Record>> {
    load_records_of(results, Implementation::Pytorch)
}

/// Every record under `results`: ours, then each other implementation's.
pub fn load_all_records(results: &Path) -> Result<Vec<Record>> {
    let mut all = Vec::new();
    for implementation in Implementation::ALL {
        all.extend(load_records_of(results, implementation)?);
    }
    Ok(all)
}

/// The records of `implementation` under `results` (in its folder,
/// [`implementation_root`]); each must say it is of that implementation.
pub fn load_records_of(results: &Path, implementation: Implementation) -> Result<Vec<Record>> {
    let mut records = Vec::new();
    let root = implementation_root(results, implementation);
    if !root.is_dir() {
        return Ok(records);
    }
    let presets = read_dirs(&root)?.into_iter().filter(|p| is_preset_dir(p));
    for preset in presets {
        for experiment in read_dirs(&preset)? {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&experiment)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            files.sort();
            for f in files {
                let record = load_record(&f)?;
                if record.implementation() != implementation {
                    return Err(DipError::invalid(format!(
                        "{} is a record of {}'s run, in the folder of {}'s runs ({})",
                        f.display(),
                        record.implementation().name(),
                        implementation.name(),
                        root.display()
                    )));
                }
                records.push(record);
            }
        }
    }
    records.sort_by(|a, b| {
        (&a.preset, a.experiment, &a.image, a.seed).cmp(&(
            &b.preset,
            b.experiment,
            &b.image,
            b.seed,
        ))
    });
    Ok(records)
}

/// Whether a folder of a results folder holds a preset's runs: not the benchmarks'
/// folder, nor another implementation's (which holds presets of its own).
fn is_preset_dir(dir: &Path) -> bool {
    let other_implementation = Implementation::ALL
        .iter()
        .any(|&i| i != Implementation::Dip && dir.ends_with(i.name()));
    !dir.ends_with(BENCH_DIR) && !other_implementation
}

/// Where the runs of `implementation` are in the results folder `results`: the folder
/// itself for ours, `<results>/pytorch` for the PyTorch twins.
pub fn implementation_root(results: &Path, implementation: Implementation) -> PathBuf {
    match implementation {
        Implementation::Dip => results.to_path_buf(),
        other => results.join(other.name()),
    }
}

fn read_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The first 10 characters of a commit hash.
pub fn short_commit(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

/// Which implementation a benchmark timed.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Implementation {
    /// This crate (`dip bench`).
    Dip,
    /// `benches/torch_reference.py`: the same network and iteration in PyTorch.
    Pytorch,
}

impl Implementation {
    pub const ALL: [Implementation; 2] = [Implementation::Dip, Implementation::Pytorch];

    pub fn name(self) -> &'static str {
        match self {
            Implementation::Dip => "dip",
            Implementation::Pytorch => "pytorch",
        }
    }
}

/// The folder of the benchmark records in a results folder.
pub const BENCH_DIR: &str = "bench";

/// One benchmark of the standard net's training iteration (forward, MSE, backward,
/// Adam step), written by `dip bench --record FILE` or
/// `benches/torch_reference.py --record FILE` (the same fields), conventionally
/// as `results/bench/<implementation>-<device>-<size>-c<channels>.json`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BenchRecord {
    pub implementation: Implementation,
    /// `candle 0.11.1 (fast kernels)`, `torch 2.5.1`...
    pub version: String,
    /// `cpu`, `cuda` or `metal`.
    pub device: String,
    /// The CPU model or GPU name.
    pub device_name: String,
    pub threads: usize,
    /// Height and width of the image.
    pub size: usize,
    /// Channels of the output image.
    pub channels: usize,
    /// Timed iterations (after the warm-up ones).
    pub iterations: usize,
    /// Seconds of each timed iteration.
    pub seconds: Vec<f64>,
    pub median_seconds: f64,
    /// Peak resident memory of the process, MiB, where the system reports it.
    pub peak_rss_mib: Option<f64>,
    /// Trainable parameters of the net (2,217,831 for 3 channels: the same net in both).
    pub parameters: usize,
    /// GFLOP of the convolutions of one iteration.
    pub conv_gflop: f64,
    pub commit: String,
    /// When it was run (RFC 3339).
    pub date: String,
}

impl BenchRecord {
    /// Its conventional file name: `<implementation>-<device>-<size>-c<channels>.json`.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-{}-c{}.json",
            self.implementation.name(),
            self.device,
            self.size,
            self.channels
        )
    }
}

/// Every benchmark record of `results/bench/` (`*.json`), sorted by file name. No
/// folder is no record; a file that is not a benchmark record is an error naming it.
pub fn load_bench_records(results: &Path) -> Result<Vec<BenchRecord>> {
    let dir = results.join(BENCH_DIR);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f)?;
            serde_json::from_slice(&bytes).map_err(|e| {
                DipError::invalid(format!("{} is not a benchmark record: {e}", f.display()))
            })
        })
        .collect()
}

/// `git rev-parse HEAD` in the crate's source folder (or the working directory), or
/// "unknown"; asked once per process (first by `run_concurrently`, as a run starts), so
/// that every record of a long run names the commit the run started from, even if
/// commits are made while it runs.
pub fn git_commit() -> String {
    static COMMIT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COMMIT.get_or_init(ask_git_commit).clone()
}

fn ask_git_commit() -> String {
    let run = |dir: Option<&Path>| -> Option<String> {
        let mut cmd = std::process::Command::new("git");
        cmd.args(["rev-parse", "HEAD"]);
        if let Some(d) = dir {
            cmd.current_dir(d);
        }
        let out = cmd.stderr(std::process::Stdio::null()).output().ok()?;
        let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !s.is_empty()).then_some(s)
    };
    let source = Path::new(env!("CARGO_MANIFEST_DIR"));
    (source.is_dir().then(|| run(Some(source))).flatten())
        .or_else(|| run(None))
        .unwrap_or_else(|| "unknown".into())
}

/// A time as UTC ISO 8601 (`2026-11-25T20:34:19Z`).
pub fn iso8601(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Howard Hinnant's days-to-civil.
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A record of a cpu Table 1 run of `image` with these numbers, for tests (the other
/// fields plain: no history, one second, commit `abc`).
#[cfg(test)]
pub(crate) fn test_record(
    image: &str,
    seed: u64,
    implementation: Option<Implementation>,
    (final_psnr, authors_psnr): (f64, f64),
) -> Record {
    use super::plan::{jobs, Preset};
    let mut job = jobs(Preset::Cpu, &[Experiment::Table1], &[image.into()], None, 1).remove(0);
    job.seed = seed;
    job.fit.seed = seed;
    Record {
        experiment: job.experiment,
        image: job.image.clone(),
        preset: job.preset.clone(),
        seed,
        implementation,
        task: job.task.clone(),
        cut: job.cut,
        framing: Some(job.framing),
        watch: None,
        stopping: None,
        net: job.net.clone(),
        fit: job.fit.clone(),
        parameters: 2_217_573,
        device: "cpu".into(),
        device_name: "cpu (2 threads)".into(),
        precision: None,
        crate_version: "0.1.0".into(),
        git_commit: "abc".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        wall_seconds: 1.0,
        seconds_per_iteration: 0.1,
        iterations: 10,
        tiles: None,
        tile_count: None,
        resumed_from: None,
        rollbacks: 0,
        history_every: 1,
        history: Vec::new(),
        final_loss: Some(1e-3),
        final_psnr: Some(final_psnr),
        final_ssim: None,
        authors_psnr: Some(authors_psnr),
        best_psnr: None,
        best_iteration: None,
        baseline: None,
        output: format!("{}.png", job.stem()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule finds the lowest variance of the outputs and, separately, of the
    /// averaged outputs, and the summary keeps each one's PSNR there.
    #[test]
    fn the_stopping_summary_watches_the_outputs_and_their_average() {
        let raw = |t: usize| 30.0 - ((t as f64 - 250.0) / 100.0).powi(2);
        let averaged = |t: usize| 31.0 - ((t as f64 - 460.0) / 100.0).powi(2);
        let history: Vec<Step> = (0..2000)
            .map(|t| {
                let tf = t as f64;
                Step {
                    iteration: t,
                    loss: if t == 0 { 1.0 } else { 0.1 },
                    psnr_corrupted: 20.0,
                    psnr_clean: Some(raw(t)),
                    psnr_clean_average: Some(averaged(t)),
                    rolled_back: false,
                    variance: (t >= 100).then(|| (tf - 300.0).powi(2) + 1.0),
                    variance_average: (t >= 100).then(|| (tf - 450.0).powi(2) + 1.0),
                }
            })
            .collect();
        let s = StoppingSummary::of(StopRule::WMV, &history).unwrap();
        assert_eq!((s.detected, s.stopped_at), (Some(300), Some(1300)));
        assert_eq!(s.auto_psnr, Some(raw(300)));
        assert_eq!((s.best_psnr, s.best_iteration), (Some(30.0), Some(250)));
        assert_eq!(s.detected_average, Some(450));
        assert_eq!(s.auto_average_psnr, Some(averaged(450)));
        assert_eq!(
            (s.best_average_psnr, s.best_average_iteration),
            (Some(31.0), Some(460))
        );
        let unwatched: Vec<Step> = history
            .into_iter()
            .map(|s| Step {
                variance_average: None,
                ..s
            })
            .collect();
        let s = StoppingSummary::of(StopRule::WMV, &unwatched).unwrap();
        assert_eq!((s.detected_average, s.auto_average_psnr), (None, None));
    }

    /// Write `record` where it belongs in `results`, as JSON.
    fn put(results: &Path, record: &Record) -> PathBuf {
        let path = record.path(results);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_vec(record).unwrap()).unwrap();
        path
    }

    #[test]
    fn twin_records_live_in_their_own_folder_and_loaders_keep_them_apart() {
        let dir = tempfile::tempdir().unwrap();
        let ours = test_record("house", 0, None, (37.2, 37.9));
        let twin = test_record("house", 0, Some(Implementation::Pytorch), (36.1, 37.9));
        let (ours_path, twin_path) = (put(dir.path(), &ours), put(dir.path(), &twin));
        assert_eq!(ours_path, dir.path().join("cpu/table1/house.json"));
        assert_eq!(twin_path, dir.path().join("pytorch/cpu/table1/house.json"));
        assert_eq!(
            twin.output_path(dir.path()),
            dir.path().join("pytorch/cpu/table1/house.png")
        );
        // Ours carries no implementation field at all (older readers and records agree).
        assert!(!String::from_utf8(std::fs::read(&ours_path).unwrap())
            .unwrap()
            .contains("implementation"));
        assert_eq!(load_records(dir.path()).unwrap(), vec![ours.clone()]);
        assert_eq!(load_twin_records(dir.path()).unwrap(), vec![twin.clone()]);
        assert_eq!(
            load_all_records(dir.path()).unwrap(),
            vec![ours.clone(), twin.clone()]
        );
        assert!(ours.is_ours() && !twin.is_ours());
        // A record in the other implementation's folder is refused, naming it.
        let stray = dir.path().join("cpu/table1/house-seed1.json");
        let mut misplaced = twin.clone();
        misplaced.seed = 1;
        std::fs::write(&stray, serde_json::to_vec(&misplaced).unwrap()).unwrap();
        let err = load_records(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("house-seed1.json") && err.contains("pytorch's run"),
            "{err}"
        );
        std::fs::remove_file(&stray).unwrap();
        let stray = dir.path().join("pytorch/cpu/table1/hill.json");
        std::fs::write(
            &stray,
            serde_json::to_vec(&test_record("hill", 0, None, (1.0, 2.0))).unwrap(),
        )
        .unwrap();
        let err = load_twin_records(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("hill.json") && err.contains("dip's run"),
            "{err}"
        );
    }

    #[test]
    fn bench_records_read_the_shared_schema() {
        // What `benches/torch_reference.py --record` writes.
        let json = r#"{"implementation": "pytorch", "version": "torch 2.5.1", "device": "cpu",
            "device_name": "AMD EPYC", "threads": 2, "size": 256, "channels": 3,
            "iterations": 5, "seconds": [1.0, 1.2], "median_seconds": 1.1,
            "peak_rss_mib": null, "parameters": 2217831, "conv_gflop": 115.02,
            "commit": "abc", "date": "2026-01-01T00:00:00Z"}"#;
        let r: BenchRecord = serde_json::from_str(json).unwrap();
        assert_eq!(r.implementation, Implementation::Pytorch);
        assert_eq!(r.peak_rss_mib, None);
        assert_eq!(r.file_name(), "pytorch-cpu-256-c3.json");
        let dir = tempfile::tempdir().unwrap();
        assert!(load_bench_records(dir.path()).unwrap().is_empty());
        std::fs::create_dir(dir.path().join(BENCH_DIR)).unwrap();
        std::fs::write(dir.path().join("bench/a.json"), json).unwrap();
        assert_eq!(load_bench_records(dir.path()).unwrap(), vec![r]);
        // The bench folder is not a preset of run records.
        assert!(load_records(dir.path()).unwrap().is_empty());
        std::fs::write(dir.path().join("bench/b.json"), "{}").unwrap();
        let err = load_bench_records(dir.path()).unwrap_err().to_string();
        assert!(err.contains("b.json"), "{err}");
    }

    #[test]
    fn iso8601_of_known_times() {
        let t = |s| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
        assert_eq!(iso8601(t(0)), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(t(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(t(1_764_102_859)), "2025-11-25T20:34:19Z");
    }
}
