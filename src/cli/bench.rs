//! `dip bench`: time the training iteration of the standard net (see `dip::bench`).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use dip::bench::BenchOptions;
use dip::ops::Kernels;

/// Options of `dip bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Height and width of the image.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Channels of the image (3 colour, 1 grey).
    #[arg(long, default_value_t = 3)]
    pub channels: usize,
    /// Timed iterations (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub iterations: usize,
    /// Untimed iterations first.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// fast: our CPU kernels on the CPU, matrix-product convolutions on a GPU; candle: candle's
    /// own ops (for comparison); gemm: matrix-product convolutions everywhere.
    #[arg(long, value_enum, default_value_t = KernelChoice::Fast)]
    pub kernels: KernelChoice,
    /// Seed of the weights, input and target.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// auto, cpu, cuda, cuda:N or metal.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// On CUDA, float32 matrix products in TF32 (compare with the PyTorch script's --tf32).
    #[arg(long)]
    pub tf32: bool,
    /// Count the ops of one iteration instead of timing it, on the CPU, and the bytes
    /// they write; with `--kernels gemm` (the GPU's program) each is a kernel launch
    /// on a GPU. Then exit.
    #[arg(long)]
    pub count_ops: bool,
    /// Also write the result as a JSON record to FILE (the book's timing table reads
    /// results/bench/<implementation>-<device>-<size>-c<channels>.json).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KernelChoice {
    Fast,
    Candle,
    Gemm,
}

pub fn run(args: BenchArgs) -> Result<()> {
    if args.iterations == 0 {
        anyhow::bail!("--iterations must be at least 1");
    }
    let options = BenchOptions {
        size: args.size,
        channels: args.channels,
        iterations: args.iterations,
        warmup: args.warmup,
        kernels: match args.kernels {
            KernelChoice::Fast => Kernels::Fast,
            KernelChoice::Candle => Kernels::Candle,
            KernelChoice::Gemm => Kernels::Gemm,
        },
        seed: args.seed,
    };
    if args.count_ops {
        return count_ops(&options);
    }
    let device = dip::device::select(&args.device)?;
    if args.tf32 && !device.is_cuda() {
        anyhow::bail!("--tf32 applies to CUDA matrix products only: use it with --device cuda");
    }
    dip::device::set_tf32(args.tf32);
    let report = dip::bench::run_and_print(&options, &device)?;
    if let Some(path) = &args.record {
        // Silently: the last line printed stays the median, for scripts.
        dip::bench::write_record(&report, &device, path)?;
    }
    Ok(())
}

/// `dip bench --count-ops`: the launches and bytes of each phase of one iteration.
fn count_ops(options: &BenchOptions) -> Result<()> {
    let ops = dip::op_count::count_iteration(options)?;
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let meaning = match options.kernels {
        Kernels::Gemm => "the GPU's program: each op writes a new tensor, a kernel launch on a GPU",
        _ => "the CPU's program: buffers of float32 allocated, our kernels' scratch among them",
    };
    println!(
        "ops of one iteration ({:?} kernels, {}×{}, {} channels; {meaning})",
        options.kernels, options.size, options.size, options.channels
    );
    for (phase, p) in [
        ("forward and loss", ops.forward),
        ("backward", ops.backward),
        ("Adam step", ops.adam),
    ] {
        println!(
            "  {phase}: {} ops, {:.1} MiB written",
            p.launches,
            mib(p.bytes)
        );
    }
    println!(
        "ops per iteration: {} ({:.1} MiB written)",
        ops.launches(),
        mib(ops.bytes())
    );
    Ok(())
}
