//! Reproducing the paper: `dip reproduce` and `dip results`.
//!
//! - [`plan`]: the presets (`paper`, `cpu`, `quick`, `tiny`), the experiments, one [`Job`] per run;
//! - [`catalogue`]: one entry per run of the paper, from its task's specification
//!   (`tasks::*::paper`), and how each preset reduces it;
//! - [`prepare`]: a job's images loaded, cut and corrupted, posed as a problem;
//! - [`run`]: fit the jobs one after the other, with checkpoints, resuming and skipping;
//! - [`shard`]: the I-th of N shares of a plan (`--shard I/N`, a Slurm array's tasks);
//! - [`concurrent`]: several fits at once, one per device (`--jobs K`);
//! - [`merge`]: the records of several results folders as one set (`dip results --merge`);
//! - [`record`]: the JSON record of each run and of each benchmark, and reading them back;
//! - [`checkpoint`]: a stopped run's state in a safetensors file;
//! - [`estimate`]: what a preset will cost on this machine (`dip reproduce --estimate`);
//! - [`tables`]: the paper's tables from the records, beside the paper's numbers and
//!   the authors' outputs measured again (also on exactly our pixels); the time of our
//!   runs, the benchmarks and the learning curves; their one rendering to Markdown (the
//!   book's and `dip results --tables`). One file each: the model (`tables/mod.rs`),
//!   `render`, `presets`, `stats`, `authors`, `ours`, `experiments`, `timing`, `curves`;
//! - [`paper`]: the numbers the paper quotes.
//!
//! Layout of a results folder: `<results>/<preset>/<experiment>/<image>[-seed<k>].json`,
//! with the restored image as `.png` beside it, and, while a run is unfinished, its
//! checkpoint as `.ckpt.safetensors`.

pub mod catalogue;
pub mod checkpoint;
pub mod concurrent;
pub mod estimate;
pub mod merge;
pub mod paper;
pub mod plan;
pub mod prepare;
pub mod record;
pub mod shard;
pub mod tables;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

use candle_core::Device;

pub use concurrent::run_concurrently;
pub use plan::{Cut, Experiment, Job, Preset, Task};
pub use prepare::Prepared;
pub use record::{
    load_all_records, load_bench_records, load_records, load_twin_records, BenchRecord, Record,
    Summary,
};
pub use shard::Shard;
pub use watch::DefaultStop;
use watch::Watch;

use crate::data::DataDir;
use crate::error::{DipError, Result};
use crate::fit::{FitResult, Fitter, Step};
use crate::image_io::write_atomically;
use crate::metrics;
use crate::net::{BnInit, SkipNet};

/// What `dip reproduce` runs, and how.
#[derive(Clone, Debug)]
pub struct Options {
    pub preset: Preset,
    /// The experiments to run (if empty, all but those run on request only).
    pub only: Vec<Experiment>,
    /// The images to run (all if empty): a run's name (`set5-x4-baby`) or short name (`baby`).
    pub images: Vec<String>,
    /// Override the preset's iterations.
    pub iterations: Option<usize>,
    /// Runs per image, with seeds 0..K.
    pub seeds: usize,
    pub results: PathBuf,
    pub data: DataDir,
    /// Continue from checkpoints (otherwise an unfinished run starts over).
    pub resume: bool,
    /// Run again what is already finished.
    pub force: bool,
    /// Write a checkpoint every this many iterations (0: only when stopped).
    pub checkpoint_every: usize,
    /// Stop (as if interrupted) once a run has done this many iterations. For tests.
    pub stop_after: Option<usize>,
    /// Override the networks' BatchNorm initialisation (an ablation: the presets use
    /// PyTorch 0.4's, as the paper's runs did). Records say which was used.
    pub bn_init: Option<BnInit>,
    /// Run only this share of the plan (`--shard I/N`); `None`: all of it.
    pub shard: Option<Shard>,
}

impl Options {
    /// The default options of a preset: everything, one seed, `./results`, the default data folder.
    pub fn new(preset: Preset) -> Self {
        Self {
            preset,
            only: Vec::new(),
            images: Vec::new(),
            iterations: None,
            seeds: 1,
            results: PathBuf::from("results"),
            data: DataDir::locate(None),
            resume: false,
            force: false,
            checkpoint_every: 50,
            stop_after: None,
            bn_init: None,
            shard: None,
        }
    }

    /// The jobs to run here: the [`plan`](Self::plan), or its shard's share of it.
    pub fn jobs(&self) -> Vec<Job> {
        match self.shard {
            Some(shard) => shard.select(self.plan()),
            None => self.plan(),
        }
    }

    /// Every job these options select, before sharding.
    pub fn plan(&self) -> Vec<Job> {
        let mut jobs = plan::jobs(
            self.preset,
            &self.only,
            &self.images,
            self.iterations,
            self.seeds,
        );
        if let Some(init) = self.bn_init {
            for job in &mut jobs {
                job.net.bn_init = init;
            }
        }
        jobs
    }
}

/// What happened to a job.
#[derive(Debug)]
pub enum Outcome {
    /// Ran to the end; its record.
    Finished(Box<Record>),
    /// Already finished (its record exists with the same settings) and not forced.
    Skipped(PathBuf),
    /// Stopped (Ctrl-C or `stop_after`) at this iteration; its checkpoint is kept.
    Interrupted {
        checkpoint: PathBuf,
        iteration: usize,
    },
}

/// What [`run`] tells its caller as it goes.
pub enum Event<'a> {
    /// A job starts: its index among `total`, and the iteration it resumes from.
    Start {
        job: &'a Job,
        index: usize,
        total: usize,
        resumed_from: Option<usize>,
    },
    Step {
        job: &'a Job,
        step: &'a Step,
    },
    Done {
        job: &'a Job,
        outcome: &'a Outcome,
    },
}

/// Run the jobs of `options` on `device`, one after the other. Stops at the first
/// interruption (`stop` set, e.g. by Ctrl-C, or `stop_after` reached), keeping that
/// run's checkpoint; the outcomes so far are returned.
pub fn run(
    options: &Options,
    device: &Device,
    stop: &AtomicBool,
    events: &mut dyn FnMut(Event),
) -> Result<Vec<Outcome>> {
    run_jobs(options, &jobs_to_run(options)?, device, stop, events)
}

/// [`run`] with the jobs given (any jobs, e.g. a variant of a preset's), the rest of
/// `options` as there.
pub fn run_jobs(
    options: &Options,
    jobs: &[Job],
    device: &Device,
    stop: &AtomicBool,
    events: &mut dyn FnMut(Event),
) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    for (index, job) in jobs.iter().enumerate() {
        let outcome = run_job_named(options, job, (index, jobs.len()), device, stop, events)?;
        events(Event::Done {
            job,
            outcome: &outcome,
        });
        let interrupted = matches!(outcome, Outcome::Interrupted { .. });
        outcomes.push(outcome);
        if interrupted {
            break;
        }
    }
    Ok(outcomes)
}

/// The jobs of `options`; an error if the plan is empty. A shard's share may be
/// empty (more shards than runs): nothing to do.
fn jobs_to_run(options: &Options) -> Result<Vec<Job>> {
    let jobs = options.jobs();
    if jobs.is_empty() && options.plan().is_empty() {
        return Err(DipError::invalid(
            "no run matches the chosen experiments and images",
        ));
    }
    Ok(jobs)
}

/// Whether the finished record at `path` is of `job` (same settings).
fn finished_same(path: &Path, job: &Job) -> bool {
    record::load_record(path).is_ok_and(|r| {
        r.net == job.net
            && r.fit == job.fit
            && r.task == job.task
            && r.cut == job.cut
            && r.framing == Some(job.framing)
            && r.watch == job.watch
            && r.tiles == job.tiles
    })
}

/// [`run_job`], its failure an error naming the run. A panic inside the fit ends this
/// run alone: it becomes such an error (no backtrace), and the run's checkpoint stays.
pub(crate) fn run_job_named(
    options: &Options,
    job: &Job,
    (index, total): (usize, usize),
    device: &Device,
    stop: &AtomicBool,
    events: &mut dyn FnMut(Event),
) -> Result<Outcome> {
    let outcome =
        crate::error::catch_panic(|| run_job(options, job, index, total, device, stop, events));
    let reason = match outcome {
        Ok(Ok(outcome)) => return Ok(outcome),
        Ok(Err(e)) => e.to_string(),
        Err(panic) => panic,
    };
    let checkpoint = record::checkpoint_path(&options.results, job);
    Err(DipError::RunFailed {
        run: format!("{}/{}/{}", job.preset, job.experiment.name(), job.stem()),
        reason,
        kept: checkpoint.is_file().then_some(checkpoint),
    })
}

/// One job in its three steps: prepare the problem, fit (resumable), record.
fn run_job(
    options: &Options,
    job: &Job,
    index: usize,
    total: usize,
    device: &Device,
    stop: &AtomicBool,
    events: &mut dyn FnMut(Event),
) -> Result<Outcome> {
    let record_path = record::record_path(&options.results, job);
    if !options.force && finished_same(&record_path, job) {
        return Ok(Outcome::Skipped(record_path));
    }
    let session = Instant::now();
    let prepared = job.prepare(&options.data, device)?;
    if let Some(tiles) = job.tiles {
        let tiled = TiledRun {
            options,
            job,
            tiles,
            prepared: &prepared,
            device,
        };
        return tiled.run(session, (index, total), stop, events);
    }
    let net = SkipNet::new(&job.net, job.seed, device)?;
    let parameters = net.parameter_count();
    let mut fitter = Fitter::new(net, &prepared.problem, &job.fit)?;
    let started = resume(options, job, &mut fitter, device)?;
    events(Event::Start {
        job,
        index,
        total,
        resumed_from: started.resumed_from,
    });
    let prepare_seconds = session.elapsed().as_secs_f64();
    // The rule watches the outputs, and the averaged outputs beside them (the records
    // compare keeping either), and follows the default rule.
    let mut watch = job
        .watch
        .map(|rule| Watch::new(rule, &fitter))
        .transpose()?;
    if let Some(outcome) = fit(
        options,
        job,
        &mut fitter,
        &started,
        &mut watch,
        stop,
        events,
    )? {
        return Ok(outcome);
    }
    let result = fitter.result()?;
    let run = Run {
        job,
        prepared: &prepared,
        result: &result,
        watch: watch.as_ref(),
        parameters,
        device,
        started: &started,
        prepare_seconds,
    };
    let record = write_record(&options.results, &run)?;
    let ckpt_path = record::checkpoint_path(&options.results, job);
    if ckpt_path.exists() {
        std::fs::remove_file(&ckpt_path)?;
    }
    Ok(Outcome::Finished(Box::new(record)))
}

/// A tiled job: the corrupted image's overlapping tiles, each fitted on its own with
/// the job's settings and blended ([`crate::tiling`]), then recorded like any run (its
/// history left empty). Not checkpointed: each tile is a short fit, and an
/// interrupted tiled run starts over.
struct TiledRun<'a> {
    options: &'a Options,
    job: &'a Job,
    tiles: crate::tiling::Tiles,
    prepared: &'a Prepared,
    device: &'a Device,
}

impl TiledRun<'_> {
    fn run(
        &self,
        session: Instant,
        (index, total): (usize, usize),
        stop: &AtomicBool,
        events: &mut dyn FnMut(Event),
    ) -> Result<Outcome> {
        let job = self.job;
        let Task::Denoising { .. } = job.task else {
            return Err(DipError::invalid(
                "only a denoising run can be fitted in tiles",
            ));
        };
        let started = Started {
            meta: checkpoint::CheckpointMeta {
                job: job.clone(),
                started_at: record::iso8601(SystemTime::now()),
            },
            resumed_from: None,
        };
        events(Event::Start {
            job,
            index,
            total,
            resumed_from: None,
        });
        let prepare_seconds = session.elapsed().as_secs_f64();
        let (result, parameters) = self.fit(stop, events)?;
        let run = Run {
            job,
            prepared: self.prepared,
            result: &result,
            watch: None,
            parameters,
            device: self.device,
            started: &started,
            prepare_seconds,
        };
        Ok(Outcome::Finished(Box::new(write_record(
            &self.options.results,
            &run,
        )?)))
    }

    /// Fit every tile of the noisy image and blend them; the result, and the
    /// parameters of one tile's network.
    fn fit(&self, stop: &AtomicBool, events: &mut dyn FnMut(Event)) -> Result<(FitResult, usize)> {
        let start = Instant::now();
        let noisy = &self.prepared.input;
        let (mut rollbacks, mut parameters) = (0, 0);
        let restored = crate::tiling::restore_tiled(
            (noisy.height, noisy.width),
            self.tiles,
            1,
            &mut |_, (y, x, h, w)| {
                let tile = noisy.crop(y, x, h, w)?;
                let problem =
                    crate::tasks::denoising::problem(&tile, None, self.job.framing, self.device)?;
                let net = SkipNet::new(&self.job.net, self.job.seed, self.device)?;
                parameters = net.parameter_count();
                let mut fitter = Fitter::new(net, &problem, &self.job.fit)?;
                while !fitter.finished() {
                    if stop.load(Ordering::SeqCst) {
                        return Err(DipError::invalid(
                            "interrupted: a tiled run keeps no checkpoint and starts over",
                        ));
                    }
                    let step = fitter.step()?;
                    events(Event::Step {
                        job: self.job,
                        step: &step,
                    });
                }
                let result = fitter.result()?;
                rollbacks += result.rollbacks;
                Ok(result.restored().clone())
            },
        )?;
        let result = FitResult {
            output: restored,
            average: None,
            history: Vec::new(),
            rollbacks,
            seconds: start.elapsed().as_secs_f64(),
        };
        Ok((result, parameters))
    }
}

/// Where a run starts: its first start time, and the iteration it resumed from.
struct Started {
    meta: checkpoint::CheckpointMeta,
    resumed_from: Option<usize>,
}

/// Resume `fitter` from the job's checkpoint if asked and it is of this job.
fn resume(options: &Options, job: &Job, fitter: &mut Fitter, device: &Device) -> Result<Started> {
    let ckpt_path = record::checkpoint_path(&options.results, job);
    let mut started_at = record::iso8601(SystemTime::now());
    let mut resumed_from = None;
    // A watched run starts over: the rule's window of outputs is not in the checkpoint.
    if options.resume && !options.force && ckpt_path.is_file() && job.watch.is_none() {
        let (meta, state) = checkpoint::load(&ckpt_path, device)?;
        if meta.job == *job {
            fitter.restore(state)?;
            started_at = meta.started_at;
            resumed_from = Some(fitter.iteration());
        }
    }
    let meta = checkpoint::CheckpointMeta {
        job: job.clone(),
        started_at,
    };
    Ok(Started { meta, resumed_from })
}

/// Fit to the end, checkpointing; `Some(Interrupted)` if stopped (Ctrl-C or `stop_after`).
fn fit(
    options: &Options,
    job: &Job,
    fitter: &mut Fitter,
    started: &Started,
    watch: &mut Option<Watch>,
    stop: &AtomicBool,
    events: &mut dyn FnMut(Event),
) -> Result<Option<Outcome>> {
    let ckpt_path = record::checkpoint_path(&options.results, job);
    let panic_at = injected_panic(job);
    while !fitter.finished() {
        if panic_at == Some(fitter.iteration()) {
            panic!(
                "injected at iteration {} (DIP_INJECT_PANIC)",
                fitter.iteration()
            );
        }
        let mut step = fitter.step()?;
        if let Some(watch) = watch.as_mut() {
            watch.observe(fitter, &mut step)?;
        }
        events(Event::Step { job, step: &step });
        let done = fitter.iteration();
        let interrupted =
            stop.load(Ordering::SeqCst) || options.stop_after.is_some_and(|k| done >= k);
        let due = options.checkpoint_every > 0 && done.is_multiple_of(options.checkpoint_every);
        if (interrupted || due) && !fitter.finished() {
            checkpoint::save(&ckpt_path, &started.meta, &fitter.checkpoint()?)?;
        }
        if interrupted && !fitter.finished() {
            return Ok(Some(Outcome::Interrupted {
                checkpoint: ckpt_path,
                iteration: done,
            }));
        }
    }
    Ok(None)
}

/// The iteration at which a test asks this run to panic: `DIP_INJECT_PANIC=<stem>@<iteration>`,
/// the stem as in the run's file names (how the tests check that a bug inside one fit
/// ends that run alone, in one line).
fn injected_panic(job: &Job) -> Option<usize> {
    let wanted = std::env::var("DIP_INJECT_PANIC").ok()?;
    let (stem, iteration) = wanted.split_once('@')?;
    (stem == job.stem()).then(|| iteration.parse().ok())?
}

/// What a finished run leaves to be recorded.
struct Run<'a> {
    job: &'a Job,
    prepared: &'a Prepared,
    result: &'a FitResult,
    /// The watch of a watched run.
    watch: Option<&'a Watch>,
    parameters: usize,
    device: &'a Device,
    started: &'a Started,
    prepare_seconds: f64,
}

/// PSNR and SSIM of `image` against the run's clean image, with the run's metric
/// (the paper's SR protocol for a whole SR image). Ours and the authors' alike.
fn measure(prepared: &Prepared, image: &crate::Image) -> Result<(Option<f64>, Option<f64>)> {
    let Some(clean) = &prepared.clean else {
        return Ok((None, None));
    };
    let psnr = match &prepared.sr_ground_truth {
        // The paper's SR protocol, literally.
        Some(gt) => metrics::psnr_sr(gt, image)?,
        None => prepared.problem.score.measure(clean, image)?,
    };
    // SSIM on what the PSNR looks at: all channels, or the trimmed luma.
    let ssim = match prepared.problem.score.luma_trim() {
        None => metrics::ssim(clean, image).ok(),
        Some(trim) => {
            let y =
                |i: &crate::Image| metrics::y_channel(&i.clipped()).and_then(|y| trim.apply(&y));
            metrics::ssim(&y(clean)?, &y(image)?).ok()
        }
    };
    Ok((prepare::finite(psnr), ssim))
}

/// Save the restored image and write the run's record (atomically); the record.
fn write_record(results: &Path, run: &Run) -> Result<Record> {
    let job = run.job;
    let result = run.result;
    let restored = result.restored();
    let image_path = record::image_path(results, job);
    std::fs::create_dir_all(image_path.parent().expect("a folder"))?;
    restored.save(&image_path)?;
    let (final_psnr, final_ssim) = measure(run.prepared, restored)?;
    let authors_psnr = match &run.prepared.authors_output {
        Some(authors) => measure(run.prepared, authors)?.0,
        None => None,
    };
    let best = record::best_psnr(&result.history);
    let (history_every, mut history) = record::thin_history(&result.history);
    if let Some(watch) = run.watch {
        watch.fill(&mut history);
    }
    // A tiled run's iterations are those of all its tiles.
    let tile_count = job.tiles.map(|t| {
        let input = &run.prepared.input;
        t.rects(input.height, input.width).len()
    });
    let iterations = match tile_count {
        Some(count) => count * job.fit.iterations,
        None => result.history.len(),
    };
    let record = Record {
        experiment: job.experiment,
        image: job.image.clone(),
        preset: job.preset.clone(),
        seed: job.seed,
        implementation: None,
        task: job.task.clone(),
        cut: job.cut,
        framing: Some(job.framing),
        watch: job.watch,
        stopping: job.watch.and_then(|rule| {
            let summary = record::StoppingSummary::of(rule, &result.history)?;
            Some(summary.with_default(run.watch.map(Watch::default_stop)))
        }),
        net: job.net.clone(),
        fit: job.fit.clone(),
        parameters: run.parameters,
        device: crate::device::kind(run.device).into(),
        device_name: device_name(run.device),
        precision: crate::device::reduced_precision(run.device).map(String::from),
        crate_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: record::git_commit(),
        started_at: run.started.meta.started_at.clone(),
        wall_seconds: result.seconds + run.prepare_seconds,
        seconds_per_iteration: result.seconds / iterations.max(1) as f64,
        iterations,
        tiles: job.tiles,
        tile_count,
        resumed_from: run.started.resumed_from,
        rollbacks: result.rollbacks,
        history_every,
        history,
        final_loss: result.history.last().and_then(|s| prepare::finite(s.loss)),
        final_psnr,
        final_ssim,
        authors_psnr,
        best_psnr: best.map(|b| b.0),
        best_iteration: best.map(|b| b.1),
        baseline: run.prepared.baseline.clone(),
        output: image_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let json = serde_json::to_vec_pretty(&record).map_err(|e| DipError::invalid(e.to_string()))?;
    write_atomically(&record::record_path(results, job), &json)?;
    Ok(record)
}

/// The device's description, with the GPU's name on CUDA.
fn device_name(device: &Device) -> String {
    let base = crate::device::describe(device);
    let model = crate::device::model(device);
    if device.is_cuda() && model != "cuda" {
        return format!("{base} ({model})");
    }
    base
}
