//! The `{{#dip NAME ARGS}}` blocks of the chapters, expanded when the book is built
//! into markdown (tables) and files under `generated/` (figures).
//!
//! Tables come from [`crate::reproduce::tables`] (rendered by its
//! [`Table::to_markdown`](crate::reproduce::tables::Table::to_markdown)); records
//! from [`crate::reproduce::record`]. Of our runs the book shows the strongest
//! preset that is complete (paper, then cpu, quick, tiny).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use candle_core::Device;

use super::figures::{self, Series};
use crate::data::DataDir;
use crate::image_io::Image;
use crate::net::{SkipConfig, SkipNet};
use crate::reproduce::paper;
use crate::reproduce::plan::{Experiment, Job, Task};
use crate::reproduce::record::{self, Record};
use crate::reproduce::tables::{self, Recorded, Runs};

/// Whether `line` is a GitHub fallback of the block above it: a picture the book
/// generates, as `dip book` commits it in the top-level `images/`
/// (`![…](../images/NAME.svg)` on the line right after `{{#dip …}}`, or after another
/// fallback). GitHub shows the chapter with it; the book and the notebooks, which
/// make the picture themselves, leave it out.
fn is_github_fallback(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("![") && line.contains("](../images/") && line.ends_with(')')
}

/// For each line of `text` (as `text.lines()` counts them), whether it is a GitHub
/// fallback (`is_github_fallback` right after a block or another fallback).
pub fn github_fallbacks(text: &str) -> Vec<bool> {
    let mut after_block = false;
    text.lines()
        .map(|line| {
            let fallback = after_block && is_github_fallback(line);
            after_block = fallback || line.trim().starts_with("{{#dip ");
            fallback
        })
        .collect()
}

/// `text` with its GitHub fallbacks blanked (the lines kept, so that line numbers hold).
fn blank_github_fallbacks(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (line, fallback) in text.split_inclusive('\n').zip(github_fallbacks(text)) {
        if fallback {
            out.push('\n');
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Where a curve peaks and where it ends, in words: "Its output against the clean
/// image peaks at 28.04 dB at iteration 298 (of every iteration) and ends at 20.90 dB
/// (iteration 4000)." `exact`: the peak the run found over every iteration, where
/// its record keeps it; else the peak of the history, which keeps every `every`-th
/// iteration, and the sentence says so.
fn peak_sentence(s: &Series, exact: Option<(f64, usize)>, every: usize) -> Option<String> {
    let sampled = s
        .points
        .iter()
        .copied()
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let (peak, of) = match exact {
        Some((psnr, iteration)) => ((iteration as f64, psnr), "of every iteration".to_string()),
        None if every > 1 => (
            sampled,
            format!("of the iterations the record keeps, one in {every}"),
        ),
        None => (sampled, "of every iteration".to_string()),
    };
    let last = *s.points.last()?;
    let end = if last.0 == peak.0 {
        "and ends there".to_string()
    } else {
        format!("and ends at {:.2} dB (iteration {})", last.1, last.0)
    };
    Some(format!(
        "Its {} peaks at {:.2} dB at iteration {} ({of}) {end}.",
        s.name.replace(" vs clean", " against the clean image"),
        peak.1,
        peak.0
    ))
}

/// How the averaged output's peak compares with the output's: "The averaged output
/// peaks later and higher than the output."
fn averaging_sentence(output: &Series, averaged: &Series) -> Option<String> {
    let peak = |s: &Series| s.points.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1));
    let (o, a) = (peak(output)?, peak(averaged)?);
    let when = match a.0.total_cmp(&o.0) {
        std::cmp::Ordering::Greater => "later",
        std::cmp::Ordering::Less => "earlier",
        std::cmp::Ordering::Equal => "at the same iteration",
    };
    let how = if a.1 > o.1 { "higher" } else { "no higher" };
    Some(format!(
        "The averaged output peaks {when} and {how} than the output."
    ))
}

/// Files generated while the book is built: (path relative to the book's output, bytes).
pub type Assets = Arc<Mutex<Vec<(PathBuf, Vec<u8>)>>>;

/// Expands the blocks; collects the generated files.
pub struct Generator {
    /// The records and the data folder the blocks are made from.
    pub recorded: Recorded,
    /// Generated files: (path relative to the book's output, bytes).
    pub assets: Assets,
    /// What the chapters' code cells showed, from the notebooks (none by default).
    pub outputs: super::outputs::CellOutputs,
}

/// The records and folders, as `self.records`, `self.data`, `self.results`.
impl std::ops::Deref for Generator {
    type Target = Recorded;
    fn deref(&self) -> &Recorded {
        &self.recorded
    }
}

impl Generator {
    /// Read every record under `results` (a record that does not parse is an error naming it).
    pub fn new(data: DataDir, results: &Path, assets: Assets) -> Result<Self> {
        let read = || format!("cannot read the records in {}", results.display());
        Ok(Self {
            recorded: Recorded::load(results, data).with_context(read)?,
            assets,
            outputs: Default::default(),
        })
    }

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
        let text: &str = &blank_github_fallbacks(text);
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
        let stem = Path::new(name)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("chapter");
        Ok(self
            .outputs
            .insert(stem, &out, |file, bytes| self.asset(file, bytes)))
    }

    fn block(&self, args: &[&str]) -> Result<String> {
        super::blocks::book(self, args)
    }

    pub(super) fn network_diagram(&self) -> Result<String> {
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
        // Small crops enlarged by repeating pixels (nearest), all panels alike, so
        // that a 64-pixel crop is seen as it is, as in the notebooks.
        let h = panels.iter().map(|(_, i)| i.height).max().unwrap_or(1);
        let w = panels.iter().map(|(_, i)| i.width).max().unwrap_or(1);
        let scale = crate::display::display_scale(h, w);
        let enlarged: Vec<Image> = panels.iter().map(|(_, i)| i.enlarged(scale)).collect();
        let images: Vec<&Image> = enlarged.iter().collect();
        let rel = self.asset(&format!("{name}.png"), figures::grid_png(&images)?);
        let labels: Vec<&str> = panels.iter().map(|(l, _)| *l).collect();
        Ok(format!(
            "![{}]({rel})\n\n*{}: {caption}*\n",
            labels.join(" | "),
            labels.join(" | ")
        ))
    }

    /// The corrupted input (made by our code, as a paper run with seed 0 would) | the
    /// authors' published output | clean, with PSNRs measured by our code now.
    pub(super) fn authors_grid(&self, experiment: Experiment, image: &str) -> Result<String> {
        let job = Job::paper(experiment, image)
            .with_context(|| format!("no run `{image}` in `{}`", experiment.name()))?;
        let published = match &job.task {
            Task::Inpainting {
                reference: Some(r), ..
            }
            | Task::Denoising {
                reference: Some(r), ..
            }
            | Task::SuperResolution {
                reference: Some(r), ..
            } => r,
            _ => bail!("the authors published no output of `{image}`"),
        };
        let prepared = job.prepare(&self.data, &Device::Cpu)?;
        let clean = prepared.clean.context("no clean image")?;
        let mut theirs = self.load(published)?;
        let (origin, protocol) = match job.task {
            Task::SuperResolution { .. } => {
                // The published SR images are the restored centre crop in a zero canvas.
                theirs = theirs.crop_to_multiple(crate::metrics::SR_CROP_MULTIPLE)?;
                (
                    "of the low-resolution image made by our code",
                    " (Y channel, a border of 4 shaved)",
                )
            }
            Task::Denoising { .. } => ("noise drawn by our code, seed 0", ""),
            _ => ("the paper's own", ""),
        };
        let theirs_psnr = tables::authors_psnr(&self.data, experiment, image)
            .context("cannot measure the authors' output")?;
        let input = prepared.baseline.context("no corrupted input")?;
        let caption = format!(
            "{image}. The {} ({origin}): {}; the authors' output: {theirs_psnr:.2} dB, \
             both measured by our code{protocol}.",
            input.name,
            db(input.psnr)
        );
        self.grid(
            &format!("authors-{}-{image}", experiment.name()),
            &[
                (&input.name, &prepared.input),
                ("the authors' DIP output", &theirs),
                ("clean", &clean),
            ],
            &caption,
        )
    }

    /// Our strongest run of `experiment` on `image`, or `None`.
    fn record(&self, experiment: Experiment, image: &str) -> Option<&Record> {
        tables::strongest_record(&self.records, experiment, image)
    }

    /// The corrupted input as the run saw it (its job, prepared again) | our restored
    /// image | the clean image where there is one, with the PSNR the run measured and
    /// its provenance; a note if no run is recorded.
    pub(super) fn ours_grid(&self, experiment: Experiment, image: &str) -> Result<String> {
        let Some(record) = self.record(experiment, image) else {
            return Ok(no_run(experiment, image));
        };
        let out_path = record.output_path(&self.results);
        let ours = Image::load(&out_path).with_context(|| {
            format!("the restored image {} of a run record", out_path.display())
        })?;
        let prepared = record.job().prepare(&self.data, &Device::Cpu)?;
        let input_name = match &prepared.baseline {
            Some(b) => b.name.clone(),
            None => "input".into(),
        };
        let mut panels: Vec<(&str, &Image)> = vec![(&input_name, &prepared.input), ("ours", &ours)];
        // The authors' published output cut to exactly our pixels, where they published one.
        if let Some(authors) = &prepared.authors_output {
            panels.push(("the authors' output, same pixels", authors));
        }
        if let Some(clean) = &prepared.clean {
            panels.push(("clean", clean));
        }
        let theirs = record
            .authors_psnr
            .map(|a| format!("; the authors' output on the same pixels: {a:.2} dB"))
            .unwrap_or_default();
        let psnr = match record.final_psnr {
            Some(p) => format!("{p:.2} dB against the clean image"),
            None => "no PSNR (no clean image)".into(),
        };
        let baseline = match &prepared.baseline {
            Some(b) => format!(" ({}: {})", b.name, db(b.psnr)),
            None => String::new(),
        };
        let caption = format!(
            "{image}, {} of it, our run: {psnr}{baseline}{theirs}; {}.",
            record.cut.describe(),
            record.provenance()
        );
        self.grid(
            &format!("ours-{}-{image}", experiment.name()),
            &panels,
            &caption,
        )
    }

    pub(super) fn curves(&self, experiment: Experiment, image: &str) -> Result<String> {
        let Some(record) = self.record(experiment, image) else {
            return Ok(no_run(experiment, image));
        };
        let e = experiment.name();
        let h = &record.history;
        if h.is_empty() {
            return Ok(format!("> The record of `{e}/{image}` has no history.\n"));
        }
        let series_of = |name: &str, value: &dyn Fn(&record::HistoryPoint) -> Option<f64>| {
            let points: Vec<(f64, f64)> = h
                .iter()
                .filter_map(|s| value(s).map(|p| (s.iteration as f64, p)))
                .collect();
            (!points.is_empty()).then(|| Series {
                name: name.into(),
                points,
            })
        };
        let series: Vec<Series> = [
            series_of("output vs corrupted", &|s| s.psnr_corrupted),
            series_of("output vs clean", &|s| s.psnr_clean),
            series_of("averaged output vs clean", &|s| s.psnr_clean_average),
        ]
        .into_iter()
        .flatten()
        .collect();
        let title = format!(
            "{image}: PSNR against the iteration ({}, {} preset)",
            record.cut.describe(),
            record.preset
        );
        let svg = figures::line_chart(&title, "iteration", "PSNR (dB)", &series);
        let rel = self.asset(&format!("curves-{e}-{image}.svg"), svg.into_bytes());
        // The peaks the run found over every iteration, where its record keeps them.
        let averaged = h.iter().any(|p| p.psnr_clean_average.is_some());
        let best = || Some((record.best_psnr?, record.best_iteration?));
        let output_peak = record
            .stopping
            .as_ref()
            .and_then(|s| Some((s.best_psnr?, s.best_iteration?)))
            .or_else(|| best().filter(|_| !averaged));
        let exact = |name: &str| match name {
            "output vs clean" => output_peak,
            "averaged output vs clean" => best().filter(|_| averaged),
            _ => None,
        };
        let mut peaks: Vec<String> = series
            .iter()
            .filter(|s| s.name.ends_with("vs clean"))
            .filter_map(|s| peak_sentence(s, exact(&s.name), record.history_every))
            .collect();
        let clean = |name: &str| series.iter().find(|s| s.name == name);
        if let (Some(o), Some(a)) = (clean("output vs clean"), clean("averaged output vs clean")) {
            peaks.extend(averaging_sentence(o, a));
        }
        Ok(format!(
            "![PSNR against iteration, {e} {image}]({rel})\n\n*PSNR against iteration, drawn from \
             the record's history ({}); {}.*\n\n{}\n",
            history_kept(record.history_every),
            record.provenance(),
            peaks.join(" ")
        ))
    }

    /// Loss against iteration of several runs of one experiment (the noise-impedance
    /// runs), `images` comma-separated, from the strongest preset that has them (seed 0).
    pub(super) fn loss_curves(&self, experiment: Experiment, images: &str) -> Result<String> {
        let names: Vec<String> = images.split(',').map(String::from).collect();
        let Some(preset) = tables::strongest_preset(&self.records, experiment, &names) else {
            return Ok(format!("> {}\n", tables::no_run_note(experiment, None)));
        };
        let series: Vec<Series> = tables::learning_curves(&self.records, &preset)
            .into_iter()
            .filter(|c| c.seed == 0 && names.contains(&c.name))
            .map(|c| Series {
                // The legend in words ("natural image"), not run names ("curve-image").
                name: crate::reproduce::plan::CurveTarget::named(&c.name)
                    .map_or(c.name.clone(), |t| t.label().to_string()),
                points: c
                    .points
                    .iter()
                    .filter(|(_, loss)| *loss > 0.0)
                    .map(|&(i, loss)| (i as f64, loss.log10()))
                    .collect(),
            })
            .collect();
        let records: Vec<&Record> = self
            .records
            .iter()
            .filter(|r| r.experiment == experiment && r.preset == preset && r.seed == 0)
            .filter(|r| names.contains(&r.image))
            .collect();
        let e = experiment.name();
        let cut = records
            .first()
            .map_or(String::new(), |r| format!("{}, ", r.cut.describe()));
        let title = format!("Noise impedance: the loss of each target ({cut}{preset} preset)");
        let svg = figures::line_chart(&title, "iteration", "log10 MSE loss", &series);
        let rel = self.asset(&format!("loss-{e}.svg"), svg.into_bytes());
        Ok(format!(
            "![loss against iteration, {e}]({rel})\n\n*Loss against iteration (log scale). {}*\n",
            Runs::of(&preset, &records)
        ))
    }
}

impl Generator {
    /// The learning curves of a preset as a gap to the authors: for each image (seed 0)
    /// whose record has `authors_psnr`, this iteration's PSNR minus the authors' published
    /// output on the same pixels. Where the curves level off below zero, more iterations
    /// would not close the gap; where they still rise, they would.
    pub(super) fn gap_curves(&self, experiment: Experiment, preset: &str) -> Result<String> {
        let records: Vec<&Record> = self
            .records
            .iter()
            .filter(|r| r.experiment == experiment && r.preset == preset && r.seed == 0)
            .filter(|r| r.authors_psnr.is_some())
            .collect();
        let e = experiment.name();
        if records.is_empty() {
            return Ok(format!(
                "> **No recorded run yet** of `{e}` in the `{preset}` preset with the authors' \
                 output beside it: `dip reproduce --preset {preset} --only {e}` writes them.\n"
            ));
        }
        let series: Vec<Series> = records
            .iter()
            .map(|r| Series {
                name: r.image.clone(),
                points: r
                    .history
                    .iter()
                    .filter_map(|h| Some((h.iteration as f64, h.psnr_clean? - r.authors_psnr?)))
                    .collect(),
            })
            .collect();
        let refs: Vec<&Record> = records.to_vec();
        let scope = super::standing::Scope::of(&refs).describe();
        let every = records.iter().map(|r| r.history_every).max().unwrap_or(1);
        let last = records.iter().map(|r| r.iterations).max().unwrap_or(0);
        // The last fifth of the iterations, where the final number is decided, on a
        // scale that shows the tolerance.
        let from = last - last / 5;
        let tail: Vec<Series> = series
            .iter()
            .map(|s| Series {
                name: s.name.clone(),
                points: s
                    .points
                    .iter()
                    .copied()
                    .filter(|p| p.0 >= from as f64)
                    .collect(),
            })
            .collect();
        let name = super::verdict::title(experiment);
        let title = |what: &str| format!("{name}, {scope} ({preset}): ours − the authors', {what}");
        let all_svg = figures::line_chart(
            &title("all iterations"),
            "iteration",
            "PSNR gap (dB)",
            &series,
        );
        let tail_svg = figures::line_chart_within(
            &title(&format!("the last {} iterations", last - from)),
            "iteration",
            "PSNR gap (dB)",
            &tail,
            Some(usual_range(&tail)),
        );
        let rel = self.asset(&format!("gap-{e}-{preset}.svg"), all_svg.into_bytes());
        let tail_rel = self.asset(&format!("gap-{e}-{preset}-last.svg"), tail_svg.into_bytes());
        Ok(format!(
            "![PSNR gap to the authors against iteration, {e}, {preset}]({rel})\n\n\
             ![The same, the last {} iterations]({tail_rel})\n\n\
             *This iteration's output minus the authors' published output, both measured on the \
             same pixels, one line per image (seed 0), drawn from the records' histories ({}); below, the \
             last {} iterations on a scale that holds the tolerance and all but the rarest values \
             (those drawn at the frame's edge). {}*\n",
            last - from,
            history_kept(every),
            last - from,
            Runs::of(preset, &records)
        ))
    }
}

impl Generator {
    /// One watched denoising run: its output's PSNR and the variance of its outputs
    /// against iteration, the iteration where the rule stops marked on both.
    pub(super) fn stopping_curves(&self, image: &str) -> Result<String> {
        let Some(record) = self.record(Experiment::Stopping, image) else {
            return Ok(no_run(Experiment::Stopping, image));
        };
        let Some(summary) = &record.stopping else {
            return Ok(format!(
                "> The record of `stopping/{image}` has no stopping summary.\n"
            ));
        };
        let points = |f: &dyn Fn(&record::HistoryPoint) -> Option<f64>| -> Vec<(f64, f64)> {
            record
                .history
                .iter()
                .filter_map(|h| Some((h.iteration as f64, f(h)?)))
                .collect()
        };
        let marker = |values: &[(f64, f64)]| -> Option<Series> {
            let d = summary.detected? as f64;
            let (lo, hi) = values
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
            Some(Series {
                name: format!("detected: iteration {d}"),
                points: vec![(d, lo), (d, hi)],
            })
        };
        let psnr = points(&|h| h.psnr_clean);
        let log_var = points(&|h| h.variance.filter(|v| *v > 0.0).map(f64::log10));
        let mut charts = String::new();
        for (name, y, values) in [
            ("output vs clean", "PSNR (dB)", psnr),
            (
                "variance of the last 100 outputs",
                "log10 variance",
                log_var,
            ),
        ] {
            let mut series = vec![Series {
                name: name.into(),
                points: values.clone(),
            }];
            series.extend(marker(&values));
            let title = format!(
                "{image}, {} ({}): {name}",
                record.cut.describe(),
                record.preset
            );
            let svg = figures::line_chart(&title, "iteration", y, &series);
            let slug = if y.starts_with("PSNR") {
                "psnr"
            } else {
                "variance"
            };
            let rel = self.asset(&format!("stopping-{image}-{slug}.svg"), svg.into_bytes());
            charts += &format!("![{name} against iteration, {image}]({rel})\n\n");
        }
        Ok(format!("{charts}*The PSNR of each iteration's output and the variance the rule watches; the vertical line is where the variance is lowest. {}.*\n", record.provenance()))
    }
}

/// Which iterations a record's history keeps, in words.
fn history_kept(every: usize) -> String {
    if every <= 1 {
        "every iteration".into()
    } else {
        format!("one iteration in {every}, and the last")
    }
}

/// A y range for gaps to the authors: the tolerance either side, and the values
/// between the 2nd and the 98th percentile (a rare dip, a rollback, would flatten the
/// rest), with a margin.
fn usual_range(series: &[Series]) -> (f64, f64) {
    let mut values: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .collect();
    values.sort_by(f64::total_cmp);
    let tol = super::standing::TOLERANCE_DB;
    if values.is_empty() {
        return (-2.0 * tol, 2.0 * tol);
    }
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    let margin = tol / 2.0;
    ((at(0.02)).min(-tol) - margin, (at(0.98)).max(tol) + margin)
}

/// The note where no run of `experiment` on `image` is recorded.
fn no_run(experiment: Experiment, image: &str) -> String {
    let on = format!("`{image}`");
    format!("> {}\n", tables::no_run_note(experiment, Some(&on)))
}

/// `31.42 dB`, or `–`.
fn db(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.2} dB"))
}

/// What the paper's text says of one denoising image, F16, in its words' order.
pub(super) fn denoising_f16_text() -> String {
    let said: Vec<String> = paper::DENOISING_TEXT_F16
        .iter()
        .map(|(what, db)| format!("{db:.2} dB ({what})"))
        .collect();
    format!(
        "The paper also notes, of F16, that one run is not the same as another: {} \
         (printed in the paper's text).\n",
        said.join("; ")
    )
}

pub(super) fn parameter_count() -> Result<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_curve_is_described_by_its_peak_and_its_end() {
        let s = Series {
            name: "averaged output vs clean".into(),
            points: vec![(0.0, 10.0), (100.0, 29.5), (200.0, 25.25)],
        };
        assert_eq!(
            peak_sentence(&s, None, 8).unwrap(),
            "Its averaged output against the clean image peaks at 29.50 dB at iteration 100 \
             (of the iterations the record keeps, one in 8) and ends at 25.25 dB (iteration 200)."
        );
        // The run's own peak over every iteration, where the record keeps it, wins.
        assert!(peak_sentence(&s, Some((29.61, 97)), 8)
            .unwrap()
            .contains("peaks at 29.61 dB at iteration 97 (of every iteration)"));
        let rising = Series {
            name: "output vs clean".into(),
            points: vec![(0.0, 10.0), (100.0, 20.0)],
        };
        assert!(peak_sentence(&rising, None, 1)
            .unwrap()
            .ends_with("at iteration 100 (of every iteration) and ends there."));
    }
}
