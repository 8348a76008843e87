//! `dip data fetch|verify`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use dip::data::{self, FetchEvent};

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Download the standard images (one set, or all) and check their sha256.
    Fetch {
        /// inpainting-table1, denoising-cbm3d9, set5, set14, dip-repo or reference-outputs.
        set: Option<String>,
        /// The data folder (default: $DIP_DATA, else ./data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Check the standard images against their sha256.
    Verify {
        set: Option<String>,
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

pub fn run(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Fetch { set, data } => fetch(set, data),
        DataCommand::Verify { set, data } => verify(set, data),
    }
}

pub fn fetch(set: Option<String>, dir: Option<PathBuf>) -> Result<()> {
    let dir = data::data_dir(dir.as_deref());
    let bar = ProgressBar::hidden();
    bar.set_style(
        ProgressStyle::with_template("{msg:40} [{bar:30}] {bytes}/{total_bytes} ({eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut done_before = 0u64;
    let report = data::fetch(&dir, set.as_deref(), None, &mut |event| match event {
        FetchEvent::Plan { bytes, .. } => {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(bytes);
        }
        FetchEvent::Start {
            number,
            count,
            path,
            ..
        } => {
            done_before = bar.position();
            bar.set_message(format!("[{number}/{count}] {path}"));
        }
        FetchEvent::Bytes { done, .. } => bar.set_position(done_before + done),
        FetchEvent::Failed { path, reason } => bar.println(format!("failed: {path}: {reason}")),
        _ => {}
    });
    bar.finish_and_clear();
    let report = report?;
    println!(
        "{} file(s) downloaded ({} bytes), {} already present, in {}",
        report.downloaded.len(),
        report.bytes,
        report.present.len(),
        dir.display()
    );
    Ok(())
}

fn verify(set: Option<String>, dir: Option<PathBuf>) -> Result<()> {
    let dir = data::data_dir(dir.as_deref());
    let report = data::verify(&dir, set.as_deref())?;
    for path in report.missing() {
        println!("missing  {path}");
    }
    for path in report.wrong_checksum() {
        println!("CORRUPT  {path}");
    }
    println!(
        "{} ok, {} missing, {} corrupt in {}",
        report.ok().len(),
        report.missing().len(),
        report.wrong_checksum().len(),
        dir.display()
    );
    if !report.all_ok() {
        anyhow::bail!(
            "some files are missing or corrupt: run `dip data fetch{}`",
            set.map(|s| format!(" {s}")).unwrap_or_default()
        );
    }
    Ok(())
}
