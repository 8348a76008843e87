//! The `{{#dip NAME ARGS}}` blocks of the chapters, expanded when the book is built
//! into markdown (tables) and files under `generated/` (figures).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use candle_core::Device;

use super::figures::{self, Series};
use super::records::{Results, RunRecord};

use super::tables;
use crate::data::DataDir;
use crate::image_io::Image;
use crate::metrics;
use crate::net::{SkipConfig, SkipNet};
use crate::rng::Rng;

/// The blocks a chapter may use.
pub const DIRECTIVES: &[&str] = &[
    "network-diagram",
    "parameter-count",
    "table1",
    "sr-table",
    "sr-set5-x4",
    "denoising-table",
    "runs",
    "authors-grid",
    "grid",
    "curves",
    "loss-curves",
];

/// Files generated while the book is built: (path relative to the book's output, bytes).
pub type Assets = Arc<Mutex<Vec<(PathBuf, Vec<u8>)>>>;

/// Expands the blocks; collects the generated files.
pub struct Generator {
    pub data: DataDir,
    pub results: Results,
    /// Generated files: (path relative to the book's output, bytes).
    pub assets: Assets,
}

impl Generator {
    fn asset(&self, name: &str, bytes: Vec<u8>) -> String {
        let rel = format!("generated/{name}");
        self.assets
            .lock()
            .unwrap()
            .push((PathBuf::from(&rel), bytes));
        rel
    }

    /// Expand every block of `text` (the chapter `name`, for errors).
    pub fn expand(&self, name: &str, text: &str) -> Result<String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(p) = rest.find("{{#dip ") {
            out.push_str(&rest[..p]);
            let after = &rest[p + 7..];
            let end = after
                .find("}}")
                .with_context(|| format!("{name}: unclosed {{{{#dip"))?;
            let line = text[..text.len() - rest.len() + p].matches('\n').count() + 1;
            let args: Vec<&str> = after[..end].split_whitespace().collect();
            let md = self
                .block(&args)
                .with_context(|| format!("{name}:{line}: {{{{#dip {}}}}}", args.join(" ")))?;
            out.push_str(&md);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn block(&self, args: &[&str]) -> Result<String> {
        let arg = |i: usize| {
            args.get(i)
                .copied()
                .with_context(|| format!("argument {i} missing"))
        };
        match args.first().copied().unwrap_or("") {
            "network-diagram" => self.network_diagram(),
            "parameter-count" => parameter_count(),
            "table1" => tables::table1(&self.data, &self.results),
            "sr-table" => tables::sr_table(&self.data, &self.results),
            "sr-set5-x4" => tables::sr_set5_x4(&self.data, &self.results),
            "denoising-table" => tables::denoising_table(&self.data, &self.results),
            "runs" => tables::runs_table(&self.results),
            "authors-grid" => self.authors_grid(arg(1)?, arg(2)?),
            "grid" => self.ours_grid(arg(1)?, arg(2)?),
            "curves" => self.curves(arg(1)?, arg(2)?),
            "loss-curves" => self.loss_curves(arg(1)?, arg(2)?),
            other => bail!("unknown block `{other}`"),
        }
    }

    fn network_diagram(&self) -> Result<String> {
        let config = SkipConfig::standard(32, 3);
        let net = SkipNet::new(&config, 0, &Device::Cpu)?;
        let svg = figures::network_svg(&config, net.parameter_count());
        let rel = self.asset("network.svg", svg.into_bytes());
        Ok(format!(
            "![The standard skip network, drawn from its configuration by `dip::book::figures::network_svg`]({rel})\n\n\
             *The standard \"skip\" network of the paper (`SkipConfig::standard(32, 3)`), drawn by our code from the configuration.*\n"
        ))
    }

    fn load(&self, rel: &str) -> Result<Image> {
        let path = self.data.image(rel)?;
        Image::load(&path).with_context(|| format!("cannot read {}", path.display()))
    }

    fn grid(&self, name: &str, panels: &[(&str, &Image)], caption: &str) -> Result<String> {
        let images: Vec<&Image> = panels.iter().map(|(_, i)| *i).collect();
        let rel = self.asset(&format!("{name}.png"), figures::grid_png(&images)?);
        let labels: Vec<&str> = panels.iter().map(|(l, _)| *l).collect();
        Ok(format!(
            "![{}]({rel})\n\n*{}: {caption}*\n",
            labels.join(" | "),
            labels.join(" | ")
        ))
    }

    /// Corrupted | the authors' published output | clean, for images whose
    /// authors' outputs are in the data folder; PSNRs measured now.
    fn authors_grid(&self, experiment: &str, image: &str) -> Result<String> {
        match experiment {
            "inpainting-table1" => {
                let clean = self.load(&format!("inpainting-table1/{image}.png"))?;
                let masked = self.load(&format!("inpainting-table1/masked/{image}.png"))?;
                let theirs =
                    self.load(&format!("reference-outputs/inpainting-table1/{image}.png"))?;
                let caption = format!(
                    "{image}, 50 % of the pixels missing (the paper's own masked input). \
                     The authors' output: {:.2} dB, measured by our code.",
                    metrics::psnr(&clean, &theirs)?
                );
                self.grid(
                    &format!("authors-{experiment}-{image}"),
                    &[
                        ("corrupted", &masked),
                        ("the authors' DIP output", &theirs),
                        ("clean", &clean),
                    ],
                    &caption,
                )
            }
            "denoising-cbm3d9" => {
                let (out, truth) = tables::DENOISING_IMAGES
                    .iter()
                    .find(|(o, _)| *o == image)
                    .with_context(|| format!("no denoising image `{image}`"))?;
                let clean = self.load(&format!("denoising-cbm3d9/{truth}.png"))?;
                let theirs = self.load(&format!("reference-outputs/denoising-cbm3d9/{out}.png"))?;
                let noisy =
                    crate::tasks::denoising::add_noise(&clean, 25.0 / 255.0, &mut Rng::new(0));
                let caption = format!(
                    "{image}, σ = 25. Noisy (drawn by our code, seed 0): {:.2} dB; the authors' output: {:.2} dB, measured by our code.",
                    metrics::psnr(&clean, &noisy)?,
                    metrics::psnr(&clean, &theirs)?
                );
                self.grid(
                    &format!("authors-{experiment}-{image}"),
                    &[
                        ("noisy", &noisy),
                        ("the authors' DIP output", &theirs),
                        ("clean", &clean),
                    ],
                    &caption,
                )
            }
            "sr" => {
                let (set, rest) = image
                    .split_once("-x")
                    .context("SR images are <set>-x<factor>-<name>")?;
                let (factor, name) = rest
                    .split_once('-')
                    .context("SR images are <set>-x<factor>-<name>")?;
                let factor: usize = factor.parse()?;
                let truth = tables::sr_ground_truth(&self.data, set, name, factor)?;
                let region = truth.crop_to_multiple(32)?;
                let low = crate::tasks::super_resolution::low_resolution(&region, factor)?;
                let bicubic = crate::tasks::super_resolution::bicubic(&low, factor);
                let theirs = self
                    .load(&format!("reference-outputs/sr/{set}/x{factor}/{name}.png"))?
                    .crop_to_multiple(32)?;
                let caption = format!(
                    "{name} ({set}, ×{factor}). The low-resolution input (made by our code) enlarged by bicubic \
                     interpolation: {:.2} dB; the authors' output: {:.2} dB (Y channel, border of 4 shaved), measured by our code.",
                    metrics::psnr_sr(&truth, &bicubic)?,
                    metrics::psnr_sr(&truth, &theirs)?
                );
                self.grid(
                    &format!("authors-sr-{image}"),
                    &[
                        ("bicubic", &bicubic),
                        ("the authors' DIP output", &theirs),
                        ("clean", &region),
                    ],
                    &caption,
                )
            }
            other => bail!("no authors' outputs for `{other}`"),
        }
    }

    fn record(&self, experiment: &str, image: &str) -> Result<Option<(RunRecord, PathBuf)>> {
        self.results.get(experiment, image)
    }

    /// Our restored image beside the clean one (and the corrupted one) where the data
    /// folder has them at the size of our output, with the PSNR the run measured and
    /// its provenance; a note if no run is recorded.
    fn ours_grid(&self, experiment: &str, image: &str) -> Result<String> {
        let Some((record, path)) = self.record(experiment, image)? else {
            return Ok(tables::no_run_note_for(experiment, image));
        };
        let out_path = record.output_path(&path);
        let ours = Image::load(&out_path).with_context(|| {
            format!("the restored image {} of a run record", out_path.display())
        })?;
        let (clean, corrupted) = match experiment {
            "table1" => (
                Some(format!("inpainting-table1/{image}.png")),
                Some(format!("inpainting-table1/masked/{image}.png")),
            ),
            "denoising" => (
                tables::DENOISING_IMAGES
                    .iter()
                    .find(|(o, _)| *o == image)
                    .map(|(_, t)| format!("denoising-cbm3d9/{t}.png")),
                None,
            ),
            "demos" if ["kate", "vase", "library"].contains(&image) => {
                (None, Some(format!("dip-repo/inpainting/{image}.png")))
            }
            _ => (None, None),
        };
        let same_size = |i: &Image| i.height == ours.height && i.width == ours.width;
        let clean = match clean {
            Some(rel) => Some(self.load(&rel)?).filter(same_size),
            None => None,
        };
        let corrupted = match corrupted {
            Some(rel) => Some(self.load(&rel)?).filter(same_size),
            None => None,
        };
        let mut panels: Vec<(&str, &Image)> = Vec::new();
        if let Some(c) = &corrupted {
            panels.push(("corrupted", c));
        }
        panels.push(("ours", &ours));
        if let Some(c) = &clean {
            panels.push(("clean", c));
        }
        let caption = format!(
            "{image}, our run: {}; {}.",
            record
                .final_psnr
                .map(|p| format!("{p:.2} dB against the clean image"))
                .unwrap_or_else(|| "no PSNR (no clean image)".into()),
            record.provenance()
        );
        self.grid(&format!("ours-{experiment}-{image}"), &panels, &caption)
    }

    fn curves(&self, experiment: &str, image: &str) -> Result<String> {
        let Some((record, _)) = self.record(experiment, image)? else {
            return Ok(tables::no_run_note_for(experiment, image));
        };
        if record.history.is_empty() {
            return Ok(format!(
                "> The record of `{experiment}/{image}` has no history.\n"
            ));
        }
        let h = &record.history;
        let mut series = vec![Series {
            name: "output vs corrupted".into(),
            points: h
                .iter()
                .filter_map(|s| s.psnr_corrupted.map(|p| (s.iteration as f64, p)))
                .collect(),
        }];
        if h.iter().any(|s| s.psnr_clean.is_some()) {
            series.push(Series {
                name: "output vs clean".into(),
                points: h
                    .iter()
                    .filter_map(|s| s.psnr_clean.map(|p| (s.iteration as f64, p)))
                    .collect(),
            });
        }
        if h.iter().any(|s| s.psnr_clean_average.is_some()) {
            series.push(Series {
                name: "averaged output vs clean".into(),
                points: h
                    .iter()
                    .filter_map(|s| s.psnr_clean_average.map(|p| (s.iteration as f64, p)))
                    .collect(),
            });
        }
        let svg = figures::line_chart(
            &format!("{experiment}: {image}"),
            "iteration",
            "PSNR (dB)",
            &series,
        );
        let rel = self.asset(
            &format!("curves-{experiment}-{image}.svg"),
            svg.into_bytes(),
        );
        Ok(format!(
            "![PSNR against iteration, {experiment} {image}]({rel})\n\n*PSNR against iteration; {}.*\n",
            record.provenance()
        ))
    }

    /// Loss against iteration of several records of one experiment (e.g. the noise
    /// impedance runs), `images` comma-separated.
    fn loss_curves(&self, experiment: &str, images: &str) -> Result<String> {
        let mut series = Vec::new();
        let mut records = Vec::new();
        for image in images.split(',') {
            if let Some((r, _)) = self.record(experiment, image)? {
                series.push(Series {
                    name: image.to_string(),
                    points: r
                        .history
                        .iter()
                        .filter_map(|s| {
                            s.loss
                                .filter(|l| *l > 0.0)
                                .map(|l| (s.iteration as f64, l.log10()))
                        })
                        .collect(),
                });
                records.push(Some(r));
            }
        }
        if series.is_empty() {
            return Ok(tables::no_run_note(experiment));
        }
        let svg = figures::line_chart(experiment, "iteration", "log10 MSE loss", &series);
        let rel = self.asset(&format!("loss-{experiment}.svg"), svg.into_bytes());
        Ok(format!(
            "![loss against iteration, {experiment}]({rel})\n\n*Loss against iteration (log scale). {}*\n",
            tables::provenance(&records)
        ))
    }
}

fn parameter_count() -> Result<String> {
    let mut s = String::from("| network | input channels | output channels | trainable parameters |\n|---|---:|---:|---:|\n");
    for (i, o) in [(32, 3), (32, 1)] {
        let net = SkipNet::new(&SkipConfig::standard(i, o), 0, &Device::Cpu)?;
        s += &format!(
            "| `SkipConfig::standard({i}, {o})` | {i} | {o} | {} |\n",
            figures::thousands(net.parameter_count())
        );
    }
    s += "\n*Counted by `SkipNet::parameter_count` when this page was built.*\n";
    Ok(s)
}
