//! The records of our runs, read from `results/<experiment>/<image>.json`.
//!
//! A record is written by `dip reproduce` when a run ends. Every field the book
//! does not strictly need is optional, so that records from older versions still
//! load. The restored image is `results/<experiment>/<output>` (by default
//! `<image>.png`, next to the record).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::fit::Step;

/// One run of one experiment on one image.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunRecord {
    /// The experiment, e.g. `inpainting-table1`, `sr-set5-x4`, `denoising-cbm3d9`.
    pub experiment: String,
    /// The image's name, e.g. `barbara`.
    pub image: String,
    /// The preset of settings (`paper`, `quick`, ...).
    pub preset: String,
    /// The device, as `dip::device::describe` writes it.
    pub device: String,
    /// Iterations run.
    pub iterations: usize,
    /// Wall time of the fit, in seconds.
    pub seconds: f64,
    /// The commit of the crate that ran it.
    pub commit: String,
    /// Seed(s) of the run.
    pub seed: Option<u64>,
    /// The PSNR of the restored image against the ground truth, in dB, with the
    /// experiment's protocol (plain PSNR, or the SR protocol for `sr-*`).
    pub psnr: Option<f64>,
    /// PSNR of the single seeds, when the run repeated over seeds.
    pub psnr_seeds: Vec<f64>,
    /// The restored image, relative to the record's folder.
    pub output: Option<String>,
    /// Per-iteration history of the fit.
    pub history: Vec<Step>,
    /// When the run finished (free text, e.g. RFC 3339).
    pub finished: Option<String>,
}

impl RunRecord {
    /// Where the restored image of a record loaded from `record_path` lies.
    pub fn output_path(&self, record_path: &Path) -> PathBuf {
        let dir = record_path.parent().unwrap_or(Path::new("."));
        match &self.output {
            Some(rel) => dir.join(rel),
            None => dir.join(format!("{}.png", self.image)),
        }
    }

    /// A one-line description of the run, for table captions.
    pub fn provenance(&self) -> String {
        format!(
            "preset `{}`, {}, {} iterations, {:.0} s, commit `{}`",
            if self.preset.is_empty() {
                "?"
            } else {
                &self.preset
            },
            if self.device.is_empty() {
                "device not recorded"
            } else {
                &self.device
            },
            self.iterations,
            self.seconds,
            if self.commit.is_empty() {
                "?"
            } else {
                short(&self.commit)
            }
        )
    }
}

fn short(commit: &str) -> &str {
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

    /// The path a record of `experiment` on `image` would have.
    pub fn path(&self, experiment: &str, image: &str) -> PathBuf {
        self.root.join(experiment).join(format!("{image}.json"))
    }

    /// The record of `experiment` on `image`, if there is one. A record that is
    /// there but does not parse is an error (never silently skipped).
    pub fn get(&self, experiment: &str, image: &str) -> Result<Option<(RunRecord, PathBuf)>> {
        let path = self.path(experiment, image);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the run record {}", path.display()))?;
        let mut record: RunRecord = serde_json::from_str(&text)
            .with_context(|| format!("the run record {} does not parse", path.display()))?;
        if record.image.is_empty() {
            record.image = image.to_string();
        }
        if record.experiment.is_empty() {
            record.experiment = experiment.to_string();
        }
        Ok(Some((record, path)))
    }

    /// Every record under the results folder, sorted by experiment then image.
    pub fn all(&self) -> Result<Vec<(RunRecord, PathBuf)>> {
        let mut out = Vec::new();
        let Ok(experiments) = std::fs::read_dir(&self.root) else {
            return Ok(out);
        };
        let mut dirs: Vec<PathBuf> = experiments
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for dir in dirs {
            let experiment = dir.file_name().unwrap().to_string_lossy().to_string();
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            files.sort();
            for file in files {
                let image = file.file_stem().unwrap().to_string_lossy().to_string();
                if let Some(r) = self.get(&experiment, &image)? {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }
}
