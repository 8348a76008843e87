//! What the notebooks' cells call when they run: where the data and the records are,
//! the records replayed as the book reads them ([`Replay`]), and any generated block
//! of the book computed as the book computes it ([`book_block`]).

use std::path::PathBuf;

use anyhow::{Context, Result};
use candle_core::Device;

use crate::book::generate::Generator;
use crate::data::DataDir;
use crate::display::{Markdown, Row};
use crate::image_io::Image;
use crate::reproduce::tables::{self, Recorded};
use crate::reproduce::{Experiment, Job, Record, Task};

/// The repository the crate was built from (the notebooks' `..`).
pub fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The data folder of the notebooks: `$DIP_DATA` if set, else `data/` at the
/// repository's root (where `dip data fetch` run there puts it).
pub fn data_dir() -> DataDir {
    match std::env::var_os(crate::data::DATA_ENV) {
        Some(d) if !d.is_empty() => DataDir::new(d),
        _ => DataDir::new(repository_root().join("data")),
    }
}

/// The records of our runs the notebooks read: `results/` at the repository's root.
pub fn results_dir() -> PathBuf {
    repository_root().join("results")
}

/// A generated block of the book, `{{#dip ARGS}}` (a table or a figure), computed now
/// from [`data_dir`] and [`results_dir`] as the book computes it, as markdown with its
/// images inline (data URIs).
pub fn book_block(args: &str) -> Result<Markdown> {
    let generator = Generator::new(data_dir(), &results_dir(), Default::default())?;
    let mut text = generator.expand("notebook", &format!("{{{{#dip {args}}}}}"))?;
    let assets = std::mem::take(&mut *generator.assets.lock().unwrap());
    let mut images = Vec::new();
    for (rel, bytes) in assets {
        let rel = rel.to_string_lossy().replace('\\', "/");
        let mime = match rel.rsplit('.').next() {
            Some("png") => "image/png",
            Some("svg") => "image/svg+xml",
            _ => continue,
        };
        let data = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes);
        text = text.replace(
            &format!("]({rel})"),
            &format!("](data:{mime};base64,{data})"),
        );
        images.push((mime.to_string(), data));
    }
    Ok(Markdown { text, images })
}

/// Our runs' records and the data folder, read as the book reads them: what a
/// notebook's cell replays — a table of the book, a run's images, its curves.
pub struct Replay(pub Recorded);

/// The records and folders, as `replay.records`, `replay.data`, `replay.results`.
impl std::ops::Deref for Replay {
    type Target = Recorded;
    fn deref(&self) -> &Recorded {
        &self.0
    }
}

impl Replay {
    /// The records under [`results_dir`] and the data folder [`data_dir`].
    pub fn load() -> Result<Self> {
        let results = results_dir();
        let recorded = Recorded::load(&results, data_dir())
            .with_context(|| format!("cannot read the records in {}", results.display()))?;
        Ok(Self(recorded))
    }

    /// Our run of `image` in `experiment` that the book shows (the strongest preset's,
    /// seed 0), or an error saying what writes it.
    pub fn run(&self, experiment: &str, image: &str) -> Result<&Record> {
        let e = Experiment::parse(experiment)?;
        tables::strongest_record(&self.records, e, image).with_context(|| {
            format!("no recorded run of {experiment}/{image}: `dip reproduce` writes it")
        })
    }

    /// The recorded run of `job` (its preset, experiment, run and seed), if there is one.
    pub fn record_of(&self, job: &Job) -> Option<&Record> {
        self.records.iter().find(|r| {
            (r.preset.as_str(), r.experiment, r.image.as_str(), r.seed)
                == (
                    job.preset.as_str(),
                    job.experiment,
                    job.image.as_str(),
                    job.seed,
                )
        })
    }

    /// A recorded run's images side by side: its corrupted input made again by our code,
    /// our restored image, the authors' output cut to the same pixels where they
    /// published one, and the clean image.
    pub fn row(&self, run: &Record) -> Result<Row> {
        let prepared = run.job().prepare(&self.data, &Device::Cpu)?;
        let ours = Image::load(run.output_path(&self.results))?;
        let input = prepared
            .baseline
            .as_ref()
            .map_or("input", |b| b.name.as_str());
        let mut row = Row::new().with(input, &prepared.input).with("ours", &ours);
        if let Some(authors) = &prepared.authors_output {
            row = row.with("the authors', same pixels", authors);
        }
        if let Some(clean) = &prepared.clean {
            row = row.with("clean", clean);
        }
        Ok(row)
    }

    /// The authors' published output of the paper's run `image` of `experiment`, beside
    /// the corrupted input our code makes for that run (seed 0) and the clean image,
    /// with its PSNR measured by our code.
    pub fn authors_row(&self, experiment: &str, image: &str) -> Result<(Row, f64)> {
        let e = Experiment::parse(experiment)?;
        let job = Job::paper(e, image).context("no such run in the catalogue")?;
        let published = match &job.task {
            Task::Inpainting { reference, .. }
            | Task::Denoising { reference, .. }
            | Task::SuperResolution { reference, .. } => reference.clone(),
            _ => None,
        }
        .with_context(|| format!("the authors published no output of {image}"))?;
        let prepared = job.prepare(&self.data, &Device::Cpu)?;
        let mut theirs = Image::load(self.data.image(&published)?)?;
        if let Task::SuperResolution { .. } = job.task {
            // The published SR images hold the restored centre crop in a zero canvas.
            theirs = theirs.crop_to_multiple(crate::metrics::SR_CROP_MULTIPLE)?;
        }
        let psnr = tables::authors_psnr(&self.data, e, image).context("cannot measure it")?;
        let input = prepared
            .baseline
            .as_ref()
            .map_or("input", |b| b.name.as_str());
        let mut row = Row::new()
            .with(input, &prepared.input)
            .with("the authors'", &theirs);
        if let Some(clean) = &prepared.clean {
            row = row.with("clean", clean);
        }
        Ok((row, psnr))
    }
}
