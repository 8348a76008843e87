//! `dip reproduce` and `dip results`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use dip::data::DataDir;
use dip::reproduce::{self, tables, Event, Experiment, Options, Outcome, Preset};

/// Options of `dip reproduce`.
#[derive(Args, Debug)]
pub struct ReproduceArgs {
    /// paper (the reference settings), cpu (the paper on 64×64 crops, hours on a CPU), quick (reduced; ~25 minutes on 2 cores) or tiny (seconds; for tests). `--estimate` says what one costs here.
    #[arg(long, default_value = "quick")]
    pub preset: String,
    /// Only these experiments: table1, denoising, sr, demos (comma-separated).
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
    /// Only list the runs these options select, with their settings; run nothing.
    #[arg(long)]
    pub list: bool,
    /// Only estimate the wall time of the runs these options select on this machine
    /// (a few timed iterations of each network and size); run nothing.
    #[arg(long)]
    pub estimate: bool,
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
        "estimated wall time: {} ({:.0} s) for preset {} on {}",
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
    let device = dip::device::select(&args.device)?;
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
    };

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
        return print_estimate(&options, &device);
    }

    // Ctrl-C: stop after the current iteration and keep a checkpoint.
    let stop = super::interrupt::stop_flag();

    let mut current = None::<ProgressBar>;
    let quiet = args.quiet;
    let outcomes = reproduce::run(&options, &device, &stop, &mut |event| match event {
        Event::Start {
            job,
            index,
            total,
            resumed_from,
        } => {
            let resumed = resumed_from
                .map(|i| format!(" (resumed at iteration {i})"))
                .unwrap_or_default();
            println!(
                "[{}/{total}] {} {}/{} seed {}{resumed}",
                index + 1,
                job.preset,
                job.experiment.name(),
                job.image,
                job.seed
            );
            if !quiet {
                let b = ProgressBar::new(job.fit.iterations as u64);
                b.set_style(
                    ProgressStyle::with_template(
                        "  {bar:30} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                b.set_position(resumed_from.unwrap_or(0) as u64);
                b.reset_eta();
                b.enable_steady_tick(Duration::from_millis(500));
                current = Some(b);
            }
        }
        Event::Step { step, .. } => {
            if let Some(b) = &current {
                b.set_position(step.iteration as u64 + 1);
                let mut m = format!("loss {:.5}", step.loss);
                if let Some(p) = step.psnr_clean_average.or(step.psnr_clean) {
                    m.push_str(&format!("  PSNR {p:.2}"));
                }
                b.set_message(m);
            }
        }
        Event::Done { job, outcome } => {
            if let Some(b) = current.take() {
                b.finish_and_clear();
            }
            match outcome {
                Outcome::Finished(r) => println!(
                    "  done: {} iterations, {:.1} s ({:.3} s/it), final PSNR {}{}",
                    r.iterations,
                    r.wall_seconds,
                    r.seconds_per_iteration,
                    fmt_db(r.final_psnr),
                    r.baseline
                        .as_ref()
                        .map(|b| format!(" ({} {})", b.name, fmt_db(b.psnr)))
                        .unwrap_or_default()
                ),
                Outcome::Skipped(p) => println!(
                    "skipped {} {}/{} seed {}: finished ({}; --force runs it again)",
                    job.preset,
                    job.experiment.name(),
                    job.image,
                    job.seed,
                    p.display()
                ),
                Outcome::Interrupted {
                    checkpoint,
                    iteration,
                } => println!(
                    "  stopped at iteration {iteration}; checkpoint {} (continue with --resume)",
                    checkpoint.display()
                ),
            }
        }
    });
    let outcomes = outcomes?;
    let finished = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Finished(_)))
        .count();
    let skipped = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Skipped(_)))
        .count();
    println!(
        "{finished} run(s) finished, {skipped} skipped; records in {}",
        options.results.join(preset.name()).display()
    );
    if outcomes
        .iter()
        .any(|o| matches!(o, Outcome::Interrupted { .. }))
    {
        anyhow::bail!("interrupted; run again with --resume to continue");
    }
    Ok(())
}

fn fmt_db(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.2} dB"))
}

pub fn results(args: ResultsArgs) -> Result<()> {
    let records = reproduce::load_records(&args.results)
        .with_context(|| format!("cannot read the records in {}", args.results.display()))?;
    if args.tables {
        return print_tables(&args, &records);
    }
    let rows: Vec<reproduce::Summary> = records.iter().map(|r| r.summary()).collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no records in {}", args.results.display());
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
        println!(
            "{:10} {:24} {:7} {:22} {:>10} {:>5} {:>10} {:>12} {:>10.1}",
            r.experiment.name(),
            r.image,
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

/// `dip results --tables`: every table, with every preset's rows.
fn print_tables(args: &ResultsArgs, records: &[reproduce::Record]) -> Result<()> {
    let bench = reproduce::load_bench_records(&args.results)?;
    let data = DataDir::locate(args.data.as_deref());
    let inputs = tables::Inputs {
        records,
        bench: &bench,
        data: Some(&data),
        presets: tables::Presets::All,
    };
    let all = tables::all(&inputs);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        for table in all {
            println!("{}", table.to_markdown());
        }
    }
    Ok(())
}
