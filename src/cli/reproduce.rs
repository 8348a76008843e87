//! `dip reproduce` and `dip results`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use dip::data::DataDir;
use dip::reproduce::{self, merge, tables, Event, Experiment, Options, Outcome, Preset, Shard};

/// Options of `dip reproduce`.
#[derive(Args, Debug)]
pub struct ReproduceArgs {
    /// paper (the reference settings), cpu (the paper on 64×64 crops, hours on a CPU), quick (reduced; ~5 minutes on 2 cores) or tiny (seconds; for tests). `--estimate` says what one costs here.
    #[arg(long, default_value = "quick")]
    pub preset: String,
    /// Only these experiments: table1, denoising, sr, demos, stopping, tiling (comma-separated);
    /// stopping-sizes (the cpu preset's stopping rule on 128² and 256² crops at σ = 15, 25
    /// and 50) and stopping-fast (the stopping runs at σ = 25 on 64² and 128² crops with
    /// `dip denoise --fast`'s narrow net) run only when named here.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Only these images (comma-separated): run names such as set5-x4-baby, or short names such as baby.
    #[arg(long, value_delimiter = ',')]
    pub images: Vec<String>,
    /// Override the preset's iterations.
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Runs per image, with seeds 0..K (tables show mean ± sd).
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
    /// The results folder.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// The data folder (default: $DIP_DATA, else ./data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// auto, cpu, cuda, cuda:N or metal.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Continue unfinished runs from their checkpoints (otherwise they start over).
    #[arg(long)]
    pub resume: bool,
    /// Run again the runs that are already finished.
    #[arg(long)]
    pub force: bool,
    /// Write a checkpoint every N iterations.
    #[arg(long, default_value_t = 50)]
    pub checkpoint_every: usize,
    /// Stop as if interrupted once a run has done N iterations (for tests).
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
    /// An ablation: BatchNorm's γ starts at 1 (`ones`, PyTorch ≥ 1.2) instead of U(0, 1)
    /// (`uniform`, PyTorch 0.4, the paper's). Use another --results folder.
    #[arg(long, value_parser = ["ones", "uniform"])]
    pub bn_init: Option<String>,
    /// On CUDA, float32 matrix products in TF32 (as PyTorch's convolutions by default):
    /// several times faster on recent GPUs, and recorded as `precision: tf32`.
    #[arg(long)]
    pub tf32: bool,
    /// Only list the runs these options select, with their settings; run nothing.
    #[arg(long)]
    pub list: bool,
    /// With --list: print the runs as a JSON array of their complete settings (what
    /// `benches/torch_twin.py` reads, so that the settings are written down once).
    #[arg(long, requires = "list")]
    pub json: bool,
    /// Only estimate the wall time of the runs these options select on this machine
    /// (a few timed iterations of each network and size); run nothing.
    #[arg(long)]
    pub estimate: bool,
    /// Run only shard I of N of the plan (I from 0): the runs sorted by experiment, image
    /// and seed, dealt round-robin. N processes with 0/N … (N-1)/N (a Slurm array's tasks)
    /// run the whole plan between them, into one results folder; what is recorded is skipped.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Run K fits at once: one per GPU with --device cuda (cuda:0 … cuda:K-1), or K on the
    /// CPU sharing its threads. The records are those of one fit at a time.
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub jobs: usize,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Print the estimated wall time per experiment and in total (last line: `estimated wall time: …`).
fn print_estimate(options: &Options, device: &candle_core::Device) -> Result<()> {
    use reproduce::estimate::{estimate, human};
    let estimates = estimate(options, device)?;
    let mut total = 0.0;
    for e in &estimates {
        println!(
            "{:<10} {:>3} runs {:>8} iterations  {}",
            e.experiment.name(),
            e.runs,
            e.iterations,
            human(e.seconds)
        );
        total += e.seconds;
    }
    println!(
        "estimated wall time: {} ({:.1} s) for preset {} on {}",
        human(total),
        total,
        options.preset.name(),
        dip::device::describe(device)
    );
    Ok(())
}

/// Options of `dip results`.
#[derive(Args, Debug)]
pub struct ResultsArgs {
    /// The results folder.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
    /// Print the paper's tables with every preset's rows (Markdown, or JSON with --json).
    #[arg(long)]
    pub tables: bool,
    /// The data folder, for the authors' outputs in --tables (default: $DIP_DATA, else ./data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Read the records of these results folders as one set, instead of --results (e.g.
    /// folders copied back from a cluster); two different records of one run are refused.
    #[arg(long, value_name = "DIR", num_args = 1.., conflicts_with = "results")]
    pub merge: Vec<PathBuf>,
    /// With --merge: also copy the merged runs (records and restored images) into this
    /// results folder, for `dip book --results OUT` (refused where OUT has a different record).
    #[arg(long, value_name = "OUT", requires = "merge")]
    pub into: Option<PathBuf>,
    /// Compare the records with those of DIR: the same runs with the same numbers (PSNR,
    /// loss, history, bit for bit), or an error naming the differences.
    #[arg(long, value_name = "DIR")]
    pub compare: Option<PathBuf>,
}

impl ResultsArgs {
    /// The results folders read: --merge's, or --results.
    fn folders(&self) -> Vec<PathBuf> {
        match self.merge.is_empty() {
            true => vec![self.results.clone()],
            false => self.merge.clone(),
        }
    }

    /// The folders, for messages.
    fn folders_named(&self) -> String {
        let names: Vec<String> = self
            .folders()
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        names.join(", ")
    }
}

pub fn reproduce(args: ReproduceArgs) -> Result<()> {
    let preset = Preset::parse(&args.preset)?;
    let only = args
        .only
        .iter()
        .map(|e| Experiment::parse(e))
        .collect::<dip::Result<Vec<_>>>()?;
    if args.seeds == 0 {
        anyhow::bail!("--seeds must be at least 1");
    }
    if args.iterations == Some(0) {
        anyhow::bail!("--iterations must be at least 1");
    }
    if args.jobs == 0 {
        anyhow::bail!("--jobs must be at least 1");
    }
    let shard = args.shard.as_deref().map(Shard::parse).transpose()?;
    let devices = dip::device::select_workers(&args.device, args.jobs)?;
    if args.tf32 && !devices.iter().all(|d| d.is_cuda()) {
        anyhow::bail!("--tf32 applies to CUDA matrix products only: use it with --device cuda");
    }
    dip::device::set_tf32(args.tf32);
    let options = Options {
        preset,
        only,
        images: args.images.clone(),
        iterations: args.iterations,
        seeds: args.seeds,
        results: args.results.clone(),
        data: DataDir::locate(args.data.as_deref()),
        resume: args.resume,
        force: args.force,
        checkpoint_every: args.checkpoint_every,
        stop_after: args.stop_after,
        bn_init: args.bn_init.as_deref().map(|init| match init {
            "ones" => dip::net::BnInit::Ones,
            _ => dip::net::BnInit::Uniform,
        }),
        shard,
    };

    if args.list && args.json {
        println!("{}", serde_json::to_string_pretty(&options.jobs())?);
        return Ok(());
    }
    if args.list {
        for job in options.jobs() {
            let f = &job.fit;
            println!(
                "{} {}/{} seed {}: {} it, lr {}, reg {:.4}, {:?}, net down {:?} skip {:?}, cut {:?}",
                job.preset,
                job.experiment.name(),
                job.image,
                job.seed,
                f.iterations,
                f.lr,
                f.reg_noise_std,
                f.input,
                job.net.channels_down,
                job.net.channels_skip,
                job.cut
            );
        }
        return Ok(());
    }

    if args.estimate {
        return print_estimate(&options, &devices[0]);
    }

    if let Some(shard) = options.shard {
        println!(
            "shard {shard}: {} of the plan's {} runs",
            options.jobs().len(),
            options.plan().len()
        );
    }

    // Ctrl-C: stop after the current iteration and keep a checkpoint.
    let stop = super::interrupt::stop_flag();
    let progress = Progress::new(&devices, args.quiet);
    let outcomes = reproduce::run_concurrently(&options, &devices, &stop, &|w, event| {
        progress.event(w, event)
    })?;
    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let finished = count(|o| matches!(o, Outcome::Finished(_)));
    let skipped = count(|o| matches!(o, Outcome::Skipped(_)));
    println!(
        "{finished} run(s) finished, {skipped} skipped; records in {}",
        options.results.join(preset.name()).display()
    );
    if count(|o| matches!(o, Outcome::Interrupted { .. })) > 0 {
        anyhow::bail!("interrupted; run again with --resume to continue");
    }
    Ok(())
}

/// The progress of `dip reproduce`, for one worker or several (`--jobs K`): a line
/// when a run starts and when it ends (with a count of the runs ended when there
/// are several workers), and a bar for each run under way, below them.
struct Progress {
    multi: MultiProgress,
    /// The bar of each worker's run under way.
    bars: Vec<Mutex<Option<ProgressBar>>>,
    /// Each worker's name in the lines (`cuda:1`, `cpu #2`), none for one worker.
    labels: Vec<Option<String>>,
    quiet: bool,
    /// Runs ended so far, of `total`.
    ended: AtomicUsize,
    total: AtomicUsize,
}

impl Progress {
    fn new(devices: &[candle_core::Device], quiet: bool) -> Self {
        let labels = match devices.len() {
            1 => vec![None],
            _ => devices
                .iter()
                .enumerate()
                .map(|(w, d)| match dip::device::kind(d) {
                    "cuda" => Some(format!("cuda:{w}")),
                    kind => Some(format!("{kind} #{w}")),
                })
                .collect(),
        };
        Self {
            multi: MultiProgress::new(),
            bars: devices.iter().map(|_| Mutex::new(None)).collect(),
            labels,
            quiet,
            ended: AtomicUsize::new(0),
            total: AtomicUsize::new(0),
        }
    }

    fn event(&self, w: usize, event: Event) {
        match event {
            Event::Start {
                job,
                index,
                total,
                resumed_from,
            } => self.start(w, job, index, total, resumed_from),
            Event::Step { step, .. } => self.step(w, step),
            Event::Done { job, outcome } => self.done(w, job, outcome),
        }
    }

    /// Print a line above the bars.
    fn line(&self, text: String) {
        self.multi.suspend(|| println!("{text}"));
    }

    /// ` on cuda:1` where there are several workers.
    fn on(&self, w: usize) -> String {
        self.labels[w]
            .as_ref()
            .map(|l| format!(" on {l}"))
            .unwrap_or_default()
    }

    fn start(
        &self,
        w: usize,
        job: &reproduce::Job,
        index: usize,
        total: usize,
        resumed_from: Option<usize>,
    ) {
        self.total.store(total, Ordering::SeqCst);
        let resumed = resumed_from
            .map(|i| format!(" (resumed at iteration {i})"))
            .unwrap_or_default();
        self.line(format!(
            "[{}/{total}] {}{resumed}{}",
            index + 1,
            run_name(job),
            self.on(w)
        ));
        if self.quiet {
            return;
        }
        let prefix = match &self.labels[w] {
            Some(label) => format!("{label} {:<12} ", job.image),
            None => String::new(),
        };
        let b = self.multi.add(ProgressBar::new(job.fit.iterations as u64));
        b.set_style(
            ProgressStyle::with_template(
                "  {prefix}{bar:30} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b.set_prefix(prefix);
        b.set_position(resumed_from.unwrap_or(0) as u64);
        b.reset_eta();
        b.enable_steady_tick(Duration::from_millis(500));
        *self.bars[w].lock().expect("unpoisoned") = Some(b);
    }

    fn step(&self, w: usize, step: &dip::fit::Step) {
        if let Some(b) = &*self.bars[w].lock().expect("unpoisoned") {
            b.set_position(step.iteration as u64 + 1);
            let mut m = format!("loss {:.5}", step.loss);
            if let Some(p) = step.psnr_clean_average.or(step.psnr_clean) {
                m.push_str(&format!("  PSNR {p:.2}"));
            }
            b.set_message(m);
        }
    }

    fn done(&self, w: usize, job: &reproduce::Job, outcome: &Outcome) {
        if let Some(b) = self.bars[w].lock().expect("unpoisoned").take() {
            b.finish_and_clear();
            self.multi.remove(&b);
        }
        let ended = self.ended.fetch_add(1, Ordering::SeqCst) + 1;
        // One worker: the run is the one just started; several: name it, and count.
        let head = match self.labels[w] {
            None => "  ".to_string(),
            Some(_) => format!(
                "[{ended}/{} ended] {}{}: ",
                self.total.load(Ordering::SeqCst),
                run_name(job),
                self.on(w)
            ),
        };
        let text = match outcome {
            Outcome::Finished(r) => format!(
                "{head}{}{} iterations, {:.1} s ({:.3} s/it), final PSNR {}{}",
                if self.labels[w].is_none() {
                    "done: "
                } else {
                    ""
                },
                r.iterations,
                r.wall_seconds,
                r.seconds_per_iteration,
                fmt_db(r.final_psnr),
                r.baseline
                    .as_ref()
                    .map(|b| format!(" ({} {})", b.name, fmt_db(b.psnr)))
                    .unwrap_or_default()
            ),
            Outcome::Skipped(p) => format!(
                "skipped {}: finished ({}; --force runs it again)",
                run_name(job),
                p.display()
            ),
            Outcome::Interrupted {
                checkpoint,
                iteration,
            } => format!(
                "{head}stopped at iteration {iteration}; checkpoint {} (continue with --resume)",
                checkpoint.display()
            ),
        };
        self.line(text);
    }
}

/// `tiny table1/house seed 0`.
fn run_name(job: &reproduce::Job) -> String {
    format!(
        "{} {}/{} seed {}",
        job.preset,
        job.experiment.name(),
        job.image,
        job.seed
    )
}

fn fmt_db(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.2} dB"))
}

pub fn results(args: ResultsArgs) -> Result<()> {
    let records = load(&args)?;
    if let Some(other) = &args.compare {
        return compare(&records, other);
    }
    if args.tables {
        return print_tables(&args, &records);
    }
    let rows: Vec<reproduce::Summary> = records.iter().map(|r| r.summary()).collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no records in {}", args.folders_named());
        return Ok(());
    }
    println!(
        "{:10} {:24} {:7} {:22} {:>10} {:>5} {:>10} {:>12} {:>10}",
        "experiment",
        "image",
        "preset",
        "device",
        "iterations",
        "seed",
        "PSNR (dB)",
        "authors (dB)",
        "wall (s)"
    );
    let db = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.2}"));
    for r in rows {
        // A twin's run is named by its implementation: `house (pytorch)`.
        let image = match r.implementation {
            Some(i) if i != reproduce::record::Implementation::Dip => {
                format!("{} ({})", r.image, i.name())
            }
            _ => r.image.clone(),
        };
        println!(
            "{:10} {:24} {:7} {:22} {:>10} {:>5} {:>10} {:>12} {:>10.1}",
            r.experiment.name(),
            image,
            r.preset,
            r.device,
            r.iterations,
            r.seed,
            db(r.final_psnr),
            db(r.authors_psnr),
            r.wall_seconds
        );
    }
    Ok(())
}

/// The records of --results, or of the --merge folders merged (and copied --into a
/// folder): ours and the PyTorch twins'.
fn load(args: &ResultsArgs) -> Result<Vec<reproduce::Record>> {
    let context = || format!("cannot read the records in {}", args.folders_named());
    if args.merge.is_empty() {
        return reproduce::load_all_records(&args.results).with_context(context);
    }
    let found = merge::merge(&args.merge).with_context(context)?;
    if let Some(out) = &args.into {
        let copied = merge::copy_into(&found, out)
            .with_context(|| format!("cannot merge into {}", out.display()))?;
        eprintln!(
            "{copied} run(s) copied into {} ({} in the merged set; the rest were there)",
            out.display(),
            found.len()
        );
    }
    Ok(merge::records(found))
}

/// `dip results --compare DIR`: the same runs with the same numbers as DIR's, or an error.
fn compare(records: &[reproduce::Record], other: &std::path::Path) -> Result<()> {
    let theirs = reproduce::load_all_records(other)
        .with_context(|| format!("cannot read the records in {}", other.display()))?;
    let differences = merge::compare(records, &theirs);
    if differences.is_empty() {
        println!(
            "the same {} run(s) with the same numbers as {}",
            records.len(),
            other.display()
        );
        return Ok(());
    }
    let shown: Vec<&str> = differences.iter().take(3).map(String::as_str).collect();
    let more = match differences.len() - shown.len() {
        0 => String::new(),
        n => format!("; and {n} more"),
    };
    anyhow::bail!(
        "the records differ from those of {} in {} run(s): {}{more}",
        other.display(),
        differences.len(),
        shown.join("; ")
    )
}

/// `dip results --tables`: every table, with every preset's rows; then, where there
/// are PyTorch twins of our runs, ours against them (our tables read only ours).
fn print_tables(args: &ResultsArgs, records: &[reproduce::Record]) -> Result<()> {
    let mut bench = Vec::new();
    for folder in args.folders() {
        for b in reproduce::load_bench_records(&folder)? {
            if !bench.contains(&b) {
                bench.push(b);
            }
        }
    }
    let data = DataDir::locate(args.data.as_deref());
    let inputs = tables::Inputs {
        records,
        twins: records,
        bench: &bench,
        data: Some(&data),
        presets: tables::Presets::All,
    };
    let mut all = tables::all(&inputs);
    for (experiment, preset) in tables::twinned(inputs.twins) {
        all.push(tables::twin(
            inputs.records,
            inputs.twins,
            experiment,
            &preset,
        ));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        for table in all {
            println!("{}", table.scoped());
        }
    }
    Ok(())
}
