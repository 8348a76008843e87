//! `dip notebooks`: the chapters as Jupyter notebooks.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use dip::notebooks;

/// Options of `dip notebooks`.
#[derive(Args, Debug)]
pub struct NotebooksArgs {
    /// Where the notebooks go (default: <root>/code).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The folder with book.toml and chapters/ (the repository's root).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Write nothing: fail if the notebooks there differ from what the chapters make.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: NotebooksArgs) -> Result<()> {
    let out = args
        .out
        .unwrap_or_else(|| args.root.join(notebooks::DEFAULT_OUT));
    if args.check {
        let problems = notebooks::check(&args.root, &out)?;
        if !problems.is_empty() {
            bail!(
                "the notebooks are out of date (run `cargo run -- notebooks`): {}",
                problems.join("; ")
            );
        }
        println!("notebooks: {} is up to date", out.display());
        return Ok(());
    }
    let report = notebooks::write(&args.root, &out)?;
    for p in &report.changed {
        println!("wrote {}", p.display());
    }
    for p in &report.removed {
        println!("removed {} (no chapter makes it)", p.display());
    }
    println!(
        "notebooks: {} in {}, {} changed, {} removed",
        report.notebooks.len(),
        out.display(),
        report.changed.len(),
        report.removed.len()
    );
    Ok(())
}
