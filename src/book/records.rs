//! The records of our runs, as `dip reproduce` writes them:
//! `results/<preset>/<experiment>/<image>[-seed<k>].json`, the restored image beside
//! each (`output`, a PNG file name). `experiment` is `table1`, `denoising`, `sr` or
//! `demos`; SR images are named `<set>-x<factor>-<name>` (e.g. `set5-x4-baby`).
//!
//! The book reads only the fields it shows; every one is optional on reading, so a
//! record of an older or newer version still loads. A record that does not parse is
//! an error, never silently skipped.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The presets, in the order the book prefers their records: the paper's settings first.
pub const PRESETS: [&str; 3] = ["paper", "quick", "tiny"];

/// One point of a run's history (values that were not finite are absent).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryPoint {
    pub iteration: usize,
    pub loss: Option<f64>,
    pub psnr_corrupted: Option<f64>,
    pub psnr_clean: Option<f64>,
    pub psnr_clean_average: Option<f64>,
    pub rolled_back: bool,
}

/// What the book reads of one run of one experiment on one image.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunRecord {
    pub experiment: String,
    pub image: String,
    /// The preset of settings (`paper`, `quick`, `tiny`).
    pub preset: String,
    pub seed: u64,
    /// `cpu`, `cuda` or `metal`, and a longer description.
    pub device: String,
    pub device_name: String,
    /// Iterations done.
    pub iterations: usize,
    /// Wall time of the run, in seconds.
    pub wall_seconds: f64,
    pub seconds_per_iteration: f64,
    /// The commit of the crate that ran it.
    pub git_commit: String,
    pub rollbacks: usize,
    /// PSNR (dB) of the restored image against the clean image, measured by the run
    /// with the experiment's protocol; the tables use this one.
    pub final_psnr: Option<f64>,
    pub history: Vec<HistoryPoint>,
    /// The restored image, a file name relative to the record's folder.
    pub output: String,
    pub started_at: String,
}

impl RunRecord {
    /// Where the restored image of a record loaded from `record_path` lies.
    pub fn output_path(&self, record_path: &Path) -> PathBuf {
        let dir = record_path.parent().unwrap_or(Path::new("."));
        if self.output.is_empty() {
            record_path.with_extension("png")
        } else {
            dir.join(&self.output)
        }
    }

    /// A one-line description of the run, for captions.
    pub fn provenance(&self) -> String {
        let device = match (self.device.as_str(), self.device_name.as_str()) {
            ("", "") => "device not recorded".to_string(),
            (d, "") => d.to_string(),
            (_, n) => n.to_string(),
        };
        format!(
            "preset `{}`, {device}, {} iterations, {:.0} s, seed {}, commit `{}`",
            or_unknown(&self.preset),
            self.iterations,
            self.wall_seconds,
            self.seed,
            short(&self.git_commit)
        )
    }
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() {
        "?"
    } else {
        s
    }
}

/// The first 10 characters of a commit hash.
pub fn short(commit: &str) -> &str {
    if commit.is_empty() {
        return "?";
    }
    &commit[..commit.len().min(10)]
}

/// The records of our runs under one results folder.
#[derive(Clone, Debug)]
pub struct Results {
    root: PathBuf,
}

impl Results {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn load(path: &Path) -> Result<RunRecord> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the run record {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("the run record {} does not parse", path.display()))
    }

    /// The record of `experiment` on `image` (seed 0), from the first preset of
    /// [`PRESETS`] that has one.
    pub fn get(&self, experiment: &str, image: &str) -> Result<Option<(RunRecord, PathBuf)>> {
        for preset in PRESETS {
            let path = self
                .root
                .join(preset)
                .join(experiment)
                .join(format!("{image}.json"));
            if path.is_file() {
                let mut record = Self::load(&path)?;
                if record.image.is_empty() {
                    record.image = image.to_string();
                }
                if record.experiment.is_empty() {
                    record.experiment = experiment.to_string();
                }
                if record.preset.is_empty() {
                    record.preset = preset.to_string();
                }
                return Ok(Some((record, path)));
            }
        }
        Ok(None)
    }

    /// Every record under the results folder (all presets, seeds), sorted by path.
    pub fn all(&self) -> Result<Vec<(RunRecord, PathBuf)>> {
        let mut files = Vec::new();
        for preset in list_dirs(&self.root) {
            for experiment in list_dirs(&preset) {
                if let Ok(entries) = std::fs::read_dir(&experiment) {
                    files.extend(
                        entries
                            .flatten()
                            .map(|e| e.path())
                            .filter(|p| p.extension().is_some_and(|e| e == "json")),
                    );
                }
            }
        }
        files.sort();
        files
            .into_iter()
            .map(|p| Ok((Self::load(&p)?, p)))
            .collect()
    }
}

fn list_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|e| {
            e.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}
