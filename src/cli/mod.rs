//! The command line: one subcommand per task, and the tools.

mod batch;
mod bench;
mod book;
mod cost;
mod data;
mod interrupt;
mod notebooks;
mod reproduce;
mod restore;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use dip::image_io::Image;
use dip::metrics;
use dip::net::{SkipConfig, SkipNet};

/// Deep Image Prior (Ulyanov, Vedaldi, Lempitsky, CVPR 2018) on candle.
#[derive(Parser, Debug)]
#[command(name = "dip", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Remove noise from a photo (or from a clean image with added noise, --sigma).
    Denoise(restore::DenoiseArgs),
    /// Fill in missing pixels given by a mask image, a random mask, or the zeros of the image.
    Inpaint(restore::InpaintArgs),
    /// Enlarge a small photo by a factor (or a large image made small first, --downscale).
    SuperResolve(restore::SuperResolveArgs),
    /// The PSNR of B against A, in dB.
    Psnr(PsnrArgs),
    /// Print the network, layer by layer, and its parameter count.
    Net(NetArgs),
    /// The standard images: fetch or verify.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Run the paper's experiments, with records, checkpoints and resuming.
    Reproduce(reproduce::ReproduceArgs),
    /// List the recorded runs, or print the paper's tables from them (--tables).
    Results(reproduce::ResultsArgs),
    /// Time the standard net's training iteration (median seconds per iteration, peak memory).
    Bench(bench::BenchArgs),
    /// Render the tutorial book (HTML) from chapters/, the data folder and results/.
    Book(book::BookArgs),
    /// Write the chapters as Jupyter notebooks (Rust kernel) into code/, or check them (--check).
    Notebooks(notebooks::NotebooksArgs),
}

/// Options of `dip psnr`.
#[derive(Args, Debug)]
pub struct PsnrArgs {
    /// The reference image.
    pub a: PathBuf,
    /// The image to score.
    pub b: PathBuf,
    /// Score the luma (Y) channel only (BT.601, 16–235 scaled to [0, 1]).
    #[arg(long)]
    pub y_channel: bool,
    /// Pixels to shave off every side, the same on all four (with --y-channel).
    #[arg(long, default_value_t = 0)]
    pub shave: usize,
    /// The paper's super-resolution PSNR, exactly as its `super-resolution_eval_script.py`:
    /// Y channel over the region where the (full-size) output is not black, less 4 pixels
    /// at the top and left and 5 at the bottom and right. A is the ground truth cropped
    /// top-left to a multiple of the factor; B has its size.
    #[arg(long, conflicts_with_all = ["y_channel", "shave"])]
    pub paper_sr: bool,
}

/// Options of `dip net`.
#[derive(Args, Debug)]
pub struct NetArgs {
    /// Channels of the input z.
    #[arg(long, default_value_t = 32)]
    pub in_channels: usize,
    /// Channels of the image (3 colour, 1 grey).
    #[arg(long, default_value_t = 3)]
    pub out_channels: usize,
}

/// Run a parsed command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Denoise(a) => restore::denoise(a),
        Command::Inpaint(a) => restore::inpaint(a),
        Command::SuperResolve(a) => restore::super_resolve(a),
        Command::Psnr(a) => psnr(a),
        Command::Net(a) => net(a),
        Command::Data(c) => data::run(c),
        Command::Reproduce(a) => reproduce::reproduce(a),
        Command::Results(a) => reproduce::results(a),
        Command::Book(a) => book::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Notebooks(a) => notebooks::run(a),
    }
}

fn psnr(args: PsnrArgs) -> Result<()> {
    let a = Image::load(&args.a)?;
    let b = Image::load(&args.b)?;
    let value = if args.paper_sr {
        metrics::psnr_paper_sr_canvas(&a, &b)?
    } else if args.y_channel {
        metrics::psnr_y(&a, &b, args.shave)?
    } else {
        if args.shave > 0 {
            anyhow::bail!("--shave needs --y-channel");
        }
        metrics::psnr(&a, &b)?
    };
    println!("{value:.2} dB");
    Ok(())
}

fn net(args: NetArgs) -> Result<()> {
    let config = SkipConfig::standard(args.in_channels, args.out_channels);
    let net =
        SkipNet::new(&config, 0, &candle_core::Device::Cpu).context("cannot build the network")?;
    println!(
        "skip network: {} scales, down {:?}, up {:?}, skip {:?}, {:?} upsampling, {:?} padding",
        config.depth(),
        config.channels_down,
        config.channels_up,
        config.channels_skip,
        config.upsample[0],
        config.padding
    );
    for line in net.describe() {
        println!("{line}");
    }
    println!("parameters: {}", net.parameter_count());
    Ok(())
}
