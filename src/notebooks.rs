//! The chapters as Jupyter notebooks, for the Rust kernel (evcxr): `dip notebooks`
//! writes one notebook per chapter that has code into `code/`, and a test checks
//! that the committed notebooks are what the chapters make.
//!
//! A chapter becomes cells in reading order:
//! - its prose becomes markdown cells, math kept as `$…$` / `$$…$$` (Jupyter typesets
//!   it with MathJax) and links to chapters pointing at their notebooks (or at the
//!   chapter's markdown, if it has none);
//! - a Rust code block that includes the chapter's own code — anything outside
//!   `src/`, i.e. `tests/chapter_cells.rs` and `examples/` — becomes a code cell, the
//!   includes expanded (and de-indented); a code block whose info string has
//!   `shows-image` is tagged `image` (the execution check wants a PNG out of it);
//! - a Rust code block that includes the crate's code (from `src/`) stays a listing in
//!   the markdown: the notebook uses that code through the crate and never defines
//!   it again;
//! - a `{{#dip …}}` block (a generated table or figure of the book) becomes a code cell
//!   computing it with [`book_block`] and showing it inline;
//! - the first code cell brings in the crate (`:dep` on the repository by relative path,
//!   without its command-line tools) and candle.
//!
//! Generation is deterministic (cell ids from the chapter and the position, no
//! timestamps), so the committed notebooks can be compared byte for byte.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::book::check::{anchor_text, includes};
use crate::book::generate::Generator;
use crate::data::DataDir;
use crate::display::Markdown;

/// Where the notebooks go, relative to the repository's root.
pub const DEFAULT_OUT: &str = "code";

/// The fence attribute that marks a code cell as showing an image.
pub const SHOWS_IMAGE: &str = "shows-image";

/// The cell tag of a code cell that must show an image (`image/png`).
pub const IMAGE_TAG: &str = "image";

/// One generated notebook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notebook {
    /// The chapter it comes from, relative to the root (`chapters/fitting.md`).
    pub chapter: PathBuf,
    /// Its file name in the output folder (`fitting.ipynb`).
    pub file_name: String,
    /// The notebook, as it is written.
    pub json: String,
    /// How many code cells it has, the crate's `:dep` cell included.
    pub code_cells: usize,
}

/// A cell under construction.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Cell {
    Markdown(String),
    Code {
        source: String,
        tags: Vec<&'static str>,
        block: Option<String>,
    },
}

/// The chapters of the book at `root`, in the order of its `SUMMARY.md`, as paths
/// relative to `root`.
pub fn chapters(root: &Path) -> Result<Vec<PathBuf>> {
    let src = chapters_dir(root)?;
    let summary_path = root.join(&src).join("SUMMARY.md");
    let summary = std::fs::read_to_string(&summary_path)
        .with_context(|| format!("cannot read {}", summary_path.display()))?;
    let mut out = Vec::new();
    for line in summary.lines() {
        let mut rest = line;
        while let Some(p) = rest.find("](") {
            let after = &rest[p + 2..];
            let Some(end) = after.find(')') else { break };
            let target = &after[..end];
            if target.ends_with(".md") && !target.contains("://") {
                let path = src.join(target);
                if !out.contains(&path) {
                    out.push(path);
                }
            }
            rest = &after[end + 1..];
        }
    }
    if out.is_empty() {
        bail!("{} lists no chapters", summary_path.display());
    }
    Ok(out)
}

/// The chapters' folder of the book at `root` (`src` of `book.toml`), relative to `root`.
fn chapters_dir(root: &Path) -> Result<PathBuf> {
    let toml_path = root.join("book.toml");
    let toml = std::fs::read_to_string(&toml_path)
        .with_context(|| format!("cannot read {}", toml_path.display()))?;
    let mut in_book = false;
    for line in toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_book = line == "[book]";
        } else if in_book {
            if let Some(v) = line.strip_prefix("src") {
                if let Some(v) = v.trim_start().strip_prefix('=') {
                    return Ok(PathBuf::from(v.trim().trim_matches('"')));
                }
            }
        }
    }
    Ok(PathBuf::from("src"))
}

/// The version requirement of a dependency in the crate's `Cargo.toml` at `root`.
fn dependency_version(root: &Path, name: &str) -> Result<String> {
    let path = root.join("Cargo.toml");
    let toml = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    for line in toml.lines() {
        if let Some(rest) = line.strip_prefix(name) {
            let rest = rest.trim_start();
            if let Some(value) = rest.strip_prefix('=') {
                let value = value.trim();
                let quoted = value
                    .strip_prefix('"')
                    .or_else(|| value.split("version = \"").nth(1));
                if let Some(q) = quoted {
                    if let Some(end) = q.find('"') {
                        return Ok(q[..end].to_string());
                    }
                }
            }
        }
    }
    bail!(
        "{} has no dependency `{name}` with a version",
        path.display()
    )
}

/// The first code cell of every notebook: the crate (by relative path from `code/`,
/// without its command-line tools) and candle, optimised.
fn dep_cell(root: &Path) -> Result<String> {
    let candle = dependency_version(root, "candle-core")?;
    Ok(format!(
        ":dep deep-image-prior = {{ path = \"..\", default-features = false }}\n\
         :dep candle-core = \"{candle}\"\n\
         :opt 3"
    ))
}

/// The note at the top of every notebook, after the chapter's title.
fn header_note(chapter: &Path) -> String {
    format!(
        "*This notebook is the chapter `{}` of the book, made by `dip notebooks`: edit the \
         chapter, not the notebook. Run it with the Rust kernel (evcxr) from the `code/` folder \
         (see the README). The first cell compiles the crate and candle (minutes; set \
         `EVCXR_TMPDIR` to share that build between kernels); the images come from the data folder, `$DIP_DATA` or else `data/` at the \
         repository's root. For a GPU, add `features = [\"cuda\"]` (or `[\"metal\"]`) to the \
         `:dep` of the crate.*",
        chapter.display()
    )
}

/// Remove the indentation common to all non-blank lines, and blank lines at both ends.
pub fn dedent(code: &str) -> String {
    let lines: Vec<&str> = code.lines().collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let body: Vec<&str> = lines
        .iter()
        .map(|l| {
            if l.len() >= indent {
                &l[indent..]
            } else {
                l.trim_start()
            }
        })
        .collect();
    let start = body.iter().position(|l| !l.trim().is_empty()).unwrap_or(0);
    let end = body
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(0, |e| e + 1);
    body[start..end.max(start)]
        .iter()
        .map(|l| l.trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text an include of `chapter_dir` brings in.
fn expand_include(
    root: &Path,
    chapter_dir: &Path,
    path: &str,
    selector: Option<&str>,
) -> Result<String> {
    let file = root.join(chapter_dir).join(path);
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let code = match selector {
        None => text,
        Some(anchor) if anchor.chars().all(|c| c.is_ascii_digit() || c == ':') => {
            bail!("{path}:{anchor}: line ranges are not supported in notebooks, use an anchor")
        }
        Some(anchor) => anchor_text(&text, anchor)
            .with_context(|| format!("{path} has no anchor `{anchor}`"))?,
    };
    let code = dedent(&code);
    if code.is_empty() {
        bail!("{path}:{} includes no code", selector.unwrap_or(""));
    }
    Ok(code)
}

/// Whether an include path (relative to the chapters' folder) is the crate's own code.
fn is_library_code(path: &str) -> bool {
    let p = path.trim_start_matches("./");
    p.starts_with("../src/")
}

/// A code block of a chapter, as cells or markdown.
enum Block {
    /// Markdown (a listing, or code that is not Rust).
    Markdown(String),
    /// A code cell.
    Code { source: String, image: bool },
}

fn convert_fence(
    root: &Path,
    chapter_dir: &Path,
    fence: &str,
    info: &str,
    body: &[&str],
    line: usize,
) -> Result<Block> {
    let mut attrs = info.split(',').map(str::trim);
    let lang = attrs.next().unwrap_or("");
    let attrs: Vec<&str> = attrs.collect();
    let raw = body.join("\n");
    let raw_fence = || format!("{fence}{info}\n{raw}\n{fence}");
    if lang != "rust" {
        return Ok(Block::Markdown(raw_fence()));
    }
    let incs = includes(&raw);
    if incs.is_empty() {
        // Inline Rust is shown, not run: the notebook only runs code that cargo compiles.
        return Ok(Block::Markdown(format!("{fence}rust\n{raw}\n{fence}")));
    }
    let library: Vec<bool> = incs.iter().map(|i| is_library_code(&i.path)).collect();
    if library.iter().any(|&l| l) != library.iter().all(|&l| l) {
        bail!(
            "line {line}: a code block includes both the crate's code (src/) and a chapter's \
             cells; split it in two"
        );
    }
    // Expand the includes in place, keeping any other lines.
    let mut expanded = Vec::new();
    for (n, l) in body.iter().enumerate() {
        let here = incs.iter().filter(|i| i.line == n + 1).collect::<Vec<_>>();
        if here.is_empty() {
            expanded.push(l.to_string());
            continue;
        }
        if l.trim() != format!("{{{{#include {}}}}}", include_arg(here[0])) || here.len() > 1 {
            bail!(
                "line {}: an include must be alone on its line",
                line + n + 1
            );
        }
        expanded.push(expand_include(
            root,
            chapter_dir,
            &here[0].path,
            here[0].selector.as_deref(),
        )?);
    }
    let code = dedent(&expanded.join("\n"));
    if library[0] {
        let files: BTreeSet<String> = incs
            .iter()
            .map(|i| format!("`{}`", i.path.trim_start_matches("../")))
            .collect();
        let files: Vec<String> = files.into_iter().collect();
        Ok(Block::Markdown(format!(
            "*The crate's code, from {} (the notebook uses it through `dip`):*\n\n{fence}rust\n{code}\n{fence}",
            files.join(", ")
        )))
    } else {
        Ok(Block::Code {
            source: code,
            image: attrs.contains(&SHOWS_IMAGE),
        })
    }
}

fn include_arg(i: &crate::book::check::Include) -> String {
    match &i.selector {
        Some(s) => format!("{}:{s}", i.path),
        None => i.path.clone(),
    }
}

/// Rewrite links to chapters (`x.md`, `x.md#y`): to the notebook of `x` if it has
/// one (`x.ipynb#y`), else to the chapter's markdown (`../chapters/x.md#y`).
fn rewrite_links(text: &str, chapters_dir: &Path, with_notebook: &BTreeSet<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(p) = rest.find("](") {
        out.push_str(&rest[..p + 2]);
        let after = &rest[p + 2..];
        let end = after.find(')').unwrap_or(after.len());
        let target = &after[..end];
        let (file, fragment) = match target.split_once('#') {
            Some((f, frag)) => (f, Some(frag)),
            None => (target, None),
        };
        let local = !file.contains("://") && !file.contains('/') && file.ends_with(".md");
        if local {
            let stem = file.trim_end_matches(".md");
            let mut new = if with_notebook.contains(stem) {
                format!("{stem}.ipynb")
            } else {
                format!("../{}/{file}", chapters_dir.display())
            };
            if let Some(f) = fragment {
                new.push('#');
                new.push_str(f);
            }
            out.push_str(&new);
        } else {
            out.push_str(target);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// A generated block of the book (`{{#dip ARGS}}`) as a code cell: a table as the
/// few lines of the public API that make it ([`crate::book::blocks`]), anything else
/// computed as the book computes it.
fn block_cell(args: &str) -> String {
    let words: Vec<&str> = args.split_whitespace().collect();
    if let Some(table) = words
        .first()
        .and_then(|name| crate::book::blocks::table_block(name))
    {
        return table.cell(&words[1..]);
    }
    match words.as_slice() {
        ["grid", experiment, image] => return grid_cell(experiment, image),
        ["authors-grid", experiment, image] => return authors_grid_cell(experiment, image),
        ["curves", experiment, image] => return curves_cell(experiment, image),
        ["stopping-curves", image] => return stopping_curves_cell(image),
        ["gap-curves", experiment, preset] => return gap_curves_cell(experiment, preset),
        ["loss-curves", experiment, images] => return loss_curves_cell(experiment, images),
        ["network-diagram"] => return NETWORK_DIAGRAM_CELL.to_string(),
        ["parameter-count"] => return PARAMETER_COUNT_CELL.to_string(),
        _ => {}
    }
    format!(
        "// `{{{{#dip {args}}}}}` of the book, computed here from the data folder\n\
         // and from the records of our runs (results/, written by `dip reproduce`).\n\
         dip::notebooks::book_block(\"{args}\")?.show();"
    )
}

/// A cell's code as one block after its comment: the notebook keeps none of its
/// variables (evcxr cannot keep one that borrows another), so each such cell stands alone.
pub fn in_block(comment: &str, body: &str) -> String {
    let indented: Vec<String> = body
        .lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("    {l}")
            }
        })
        .collect();
    format!("{comment}{{\n{}\n}}", indented.join("\n"))
}

/// The first lines of a cell that reads one run's record: the strongest preset's run
/// of `image` in `experiment`, as the book picks it.
fn record_lines(experiment: &str, image: &str) -> String {
    format!(
        "use dip::reproduce::{{load_records, tables, Experiment}};\n\
         let results = dip::notebooks::results_dir();\n\
         let records = load_records(&results)?;\n\
         let run = tables::strongest_record(&records, Experiment::parse(\"{experiment}\")?, \"{image}\")\n\
         \x20   .ok_or(\"no recorded run of {experiment}/{image}: `dip reproduce` writes it\")?;\n"
    )
}

/// `{{#dip grid EXPERIMENT IMAGE}}` as a cell: our recorded run's input, output and
/// clean image side by side, with the public API.
fn grid_cell(experiment: &str, image: &str) -> String {
    let comment = format!(
        "// Our run of {image} from its record (results/, written by `dip reproduce`): the\n\
         // corrupted input made again by our code, our restored image, the authors' output on\n\
         // the same pixels and the clean image.\n"
    );
    let body = format!(
        "{}\
         let prepared = run.job().prepare(&dip::notebooks::data_dir(), &candle_core::Device::Cpu)?;\n\
         let ours = dip::Image::load(run.output_path(&results))?;\n\
         println!(\"{{}}: {{:.2}} dB against the clean image; {{}}\", run.image, run.final_psnr.unwrap_or(f64::NAN), run.provenance());\n\
         let mut row = dip::display::Row::new().with(\"input\", &prepared.input).with(\"ours\", &ours);\n\
         // The authors' published output cut to exactly our pixels, where they published one.\n\
         if let Some(authors) = &prepared.authors_output {{\n\
         \x20   row = row.with(\"the authors'\", authors);\n\
         }}\n\
         if let Some(clean) = &prepared.clean {{\n\
         \x20   row = row.with(\"clean\", clean);\n\
         }}\n\
         row.show();",
        record_lines(experiment, image)
    );
    in_block(&comment, &body)
}

/// `{{#dip authors-grid EXPERIMENT IMAGE}}` as a cell: the authors' published output
/// beside the corrupted input made by our code and the clean image.
fn authors_grid_cell(experiment: &str, image: &str) -> String {
    let comment = format!(
        "// The authors' published output for {image}, beside the corrupted input made by our\n\
         // code (as the paper preset's run with seed 0 makes it) and the clean image.\n"
    );
    let body = format!(
        "use dip::reproduce::{{tables, Experiment, Job, Task}};\n\
         let data = dip::notebooks::data_dir();\n\
         let experiment = Experiment::parse(\"{experiment}\")?;\n\
         let job = Job::paper(experiment, \"{image}\").ok_or(\"no such run in the catalogue\")?;\n\
         let prepared = job.prepare(&data, &candle_core::Device::Cpu)?;\n\
         let published = match &job.task {{\n\
         \x20   Task::Inpainting {{ reference, .. }}\n\
         \x20   | Task::Denoising {{ reference, .. }}\n\
         \x20   | Task::SuperResolution {{ reference, .. }} => reference.clone(),\n\
         \x20   _ => None,\n\
         }}\n\
         .ok_or(\"the authors published no output of {image}\")?;\n\
         let mut theirs = dip::Image::load(data.image(&published)?)?;\n\
         if let Task::SuperResolution {{ .. }} = job.task {{\n\
         \x20   // The published SR images hold the restored centre crop in a zero canvas.\n\
         \x20   theirs = theirs.crop_to_multiple(dip::metrics::SR_CROP_MULTIPLE)?;\n\
         }}\n\
         let psnr = tables::authors_psnr(&data, experiment, \"{image}\").ok_or(\"cannot measure it\")?;\n\
         println!(\"the authors' output: {{psnr:.2}} dB, measured by our code\");\n\
         let mut row = dip::display::Row::new().with(\"input\", &prepared.input).with(\"the authors'\", &theirs);\n\
         if let Some(clean) = &prepared.clean {{\n\
         \x20   row = row.with(\"clean\", clean);\n\
         }}\n\
         row.show();"
    );
    in_block(&comment, &body)
}

/// `{{#dip curves EXPERIMENT IMAGE}}` as a cell: the PSNR curves of a recorded run.
fn curves_cell(experiment: &str, image: &str) -> String {
    let comment =
        format!("// The learning curves of our run of {image}, from its record's history.\n");
    let body = format!(
        "{}\
         let curve = |psnr: fn(&dip::reproduce::record::HistoryPoint) -> Option<f64>| {{\n\
         \x20   run.history.iter().filter_map(move |h| Some((h.iteration as f64, psnr(h)?)))\n\
         }};\n\
         dip::display::Chart::new(\"{experiment}: {image}\", \"iteration\", \"PSNR (dB)\")\n\
         \x20   .line(\"output vs corrupted\", curve(|h| h.psnr_corrupted))\n\
         \x20   .line(\"output vs clean\", curve(|h| h.psnr_clean))\n\
         \x20   .line(\"averaged output vs clean\", curve(|h| h.psnr_clean_average))\n\
         \x20   .show();",
        record_lines(experiment, image)
    );
    in_block(&comment, &body)
}

/// `{{#dip stopping-curves IMAGE}}` as a cell: the PSNR and the variance the
/// stopping rule watched, with the detected iteration marked.
fn stopping_curves_cell(image: &str) -> String {
    let comment = format!(
        "// Where the stopping rule (ES-WMV) stops our run of {image}: the PSNR of each output and\n\
         // the variance the rule watches, from the record; the vertical line is the detected iteration.\n"
    );
    let body = format!(
        "{}\
         let detected = run.stopping.as_ref().and_then(|s| s.detected).ok_or(\"no detected iteration\")?;\n\
         println!(\"the variance is lowest at iteration {{detected}}\");\n\
         let curve = |value: fn(&dip::reproduce::record::HistoryPoint) -> Option<f64>| -> Vec<(f64, f64)> {{\n\
         \x20   run.history.iter().filter_map(|h| Some((h.iteration as f64, value(h)?))).collect()\n\
         }};\n\
         let psnr = curve(|h| h.psnr_clean);\n\
         let log_variance = curve(|h| h.variance.filter(|v| *v > 0.0).map(f64::log10));\n\
         for (name, y, points) in [(\"output vs clean\", \"PSNR (dB)\", psnr), (\"variance\", \"log10 variance\", log_variance)] {{\n\
         \x20   let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));\n\
         \x20   let at = detected as f64;\n\
         \x20   dip::display::Chart::new(&format!(\"{image}: {{name}}\"), \"iteration\", y)\n\
         \x20       .line(name, points)\n\
         \x20       .line(\"detected\", [(at, lo), (at, hi)])\n\
         \x20       .show();\n\
         }}",
        record_lines("stopping", image)
    );
    in_block(&comment, &body)
}

/// `{{#dip loss-curves EXPERIMENT RUNS}}` as a cell: the loss of each recorded
/// noise-impedance run against the iteration (log scale).
fn loss_curves_cell(experiment: &str, images: &str) -> String {
    let names: Vec<String> = images.split(',').map(|n| format!("{n:?}")).collect();
    let comment =
        "// The loss of each target against the iteration (log scale), from the records.\n";
    let body = format!(
        "use dip::reproduce::{{load_records, tables, Experiment}};\n\
         let records = load_records(&dip::notebooks::results_dir())?;\n\
         let runs: Vec<String> = [{}].map(String::from).to_vec();\n\
         let preset = tables::strongest_preset(&records, Experiment::parse(\"{experiment}\")?, &runs)\n\
         \x20   .ok_or(\"no recorded run: `dip reproduce` writes them\")?;\n\
         let mut chart = dip::display::Chart::new(\"{experiment}\", \"iteration\", \"log10 MSE loss\");\n\
         for curve in tables::learning_curves(&records, &preset) {{\n\
         \x20   if curve.seed == 0 && runs.contains(&curve.name) {{\n\
         \x20       let points = curve.points.iter().filter(|p| p.1 > 0.0).map(|&(i, loss)| (i as f64, loss.log10()));\n\
         \x20       chart = chart.line(&curve.name, points);\n\
         \x20   }}\n\
         }}\n\
         chart.show();",
        names.join(", ")
    );
    in_block(comment, &body)
}

/// `{{#dip gap-curves EXPERIMENT PRESET}}` as a cell: each run's learning curve as a
/// gap to the authors' output on the same pixels.
fn gap_curves_cell(experiment: &str, preset: &str) -> String {
    let comment =
        "// Each run's PSNR over the iterations minus the authors' published output on the\n\
                   // same pixels (the record's `authors_psnr`): one line per image.\n";
    let body = format!(
        "use dip::reproduce::{{load_records, Experiment}};\n\
         let records = load_records(&dip::notebooks::results_dir())?;\n\
         let experiment = Experiment::parse(\"{experiment}\")?;\n\
         let title = \"{experiment}, {preset} preset: ours − the authors' output, same pixels\";\n\
         let mut chart = dip::display::Chart::new(title, \"iteration\", \"PSNR gap (dB)\");\n\
         for run in records.iter().filter(|r| r.experiment == experiment && r.preset == \"{preset}\" && r.seed == 0) {{\n\
         \x20   let Some(authors) = run.authors_psnr else {{ continue }};\n\
         \x20   let gap = run.history.iter().filter_map(|h| Some((h.iteration as f64, h.psnr_clean? - authors)));\n\
         \x20   chart = chart.line(&run.image, gap);\n\
         }}\n\
         chart.show();"
    );
    in_block(comment, &body)
}

/// `{{#dip network-diagram}}` as a cell: the standard network drawn from its configuration.
const NETWORK_DIAGRAM_CELL: &str = "\
// The standard network, drawn from its configuration by our SVG function.
{
    use dip::net::{SkipConfig, SkipNet};
    let config = SkipConfig::standard(32, 3);
    let net = SkipNet::new(&config, 0, &candle_core::Device::Cpu)?;
    let svg = dip::book::figures::network_svg(&config, net.parameter_count());
    dip::display::Bundle(vec![(\"image/svg+xml\".into(), svg)]).show();
}";

/// `{{#dip parameter-count}}` as a cell: the networks' parameters, counted.
const PARAMETER_COUNT_CELL: &str = "\
// The trainable parameters of the standard network, 3 and 1 output channels.
{
    use dip::net::{SkipConfig, SkipNet};
    for (input, output) in [(32, 3), (32, 1)] {
        let net = SkipNet::new(&SkipConfig::standard(input, output), 0, &candle_core::Device::Cpu)?;
        println!(\"SkipConfig::standard({input}, {output}): {} parameters\", net.parameter_count());
    }
}";

/// Whether a `{{#dip …}}` block shows an image whatever the records (it needs only the data).
fn block_shows_image(args: &str) -> bool {
    args.split_whitespace().next() == Some("authors-grid")
}

/// The cells of one chapter (without the header and `:dep` cells).
fn chapter_cells(
    root: &Path,
    chapter: &Path,
    text: &str,
    chapters_dir: &Path,
    with_notebook: &BTreeSet<String>,
) -> Result<Vec<Cell>> {
    let chapter_dir = chapter.parent().unwrap_or(Path::new(""));
    let lines: Vec<&str> = text.lines().collect();
    let fallbacks = crate::book::generate::github_fallbacks(text);
    let mut cells = Vec::new();
    let mut md: Vec<String> = Vec::new();
    let flush = |md: &mut Vec<String>, cells: &mut Vec<Cell>| {
        let text = md.join("\n");
        let text = text.trim_matches('\n');
        if !text.trim().is_empty() {
            cells.push(Cell::Markdown(rewrite_links(
                text,
                chapters_dir,
                with_notebook,
            )));
        }
        md.clear();
    };
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        let fence_len = trimmed.chars().take_while(|&c| c == '`').count();
        if fence_len >= 3 {
            let fence = &trimmed[..fence_len];
            let info = trimmed[fence_len..].trim();
            let start = i;
            let mut body = Vec::new();
            i += 1;
            while i < lines.len() && lines[i].trim_start() != fence {
                body.push(lines[i]);
                i += 1;
            }
            if i == lines.len() {
                bail!("{}:{}: unclosed code block", chapter.display(), start + 1);
            }
            i += 1;
            match convert_fence(root, chapter_dir, fence, info, &body, start + 1)
                .with_context(|| format!("{}:{}", chapter.display(), start + 1))?
            {
                Block::Markdown(m) => md.push(m),
                Block::Code { source, image } => {
                    flush(&mut md, &mut cells);
                    cells.push(Cell::Code {
                        source,
                        tags: if image { vec![IMAGE_TAG] } else { vec![] },
                        block: None,
                    });
                }
            }
            continue;
        }
        if let Some(rest) = line.trim().strip_prefix("{{#dip ") {
            let args = rest
                .strip_suffix("}}")
                .with_context(|| format!("{}:{}: unclosed {{{{#dip", chapter.display(), i + 1))?
                .trim()
                .to_string();
            if args.contains('"') || args.contains('\\') {
                bail!(
                    "{}:{}: odd characters in a {{{{#dip}}}} block",
                    chapter.display(),
                    i + 1
                );
            }
            flush(&mut md, &mut cells);
            cells.push(Cell::Code {
                source: block_cell(&args),
                tags: if block_shows_image(&args) {
                    vec![IMAGE_TAG]
                } else {
                    vec![]
                },
                block: Some(args),
            });
            i += 1;
            // The picture GitHub shows in its place; the cell makes it.
            while i < lines.len() && fallbacks[i] {
                i += 1;
            }
            continue;
        }
        if line.contains("{{#dip ") || line.contains("{{#include") {
            bail!(
                "{}:{}: a {{{{#…}}}} block must be alone on its line (or in a code block)",
                chapter.display(),
                i + 1
            );
        }
        // A figure's or table's label is the book's (it numbers them); not the notebook's.
        if crate::book::numbering::label_of(line.trim()).is_none() {
            md.push(line.to_string());
        }
        i += 1;
    }
    flush(&mut md, &mut cells);
    Ok(cells)
}

/// The source of a cell the way notebooks store it: lines, each but the last with its `\n`.
fn source_lines(text: &str) -> Value {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    Value::Array(lines.into_iter().map(|l| Value::String(l.into())).collect())
}

fn notebook_json(chapter: &Path, stem: &str, cells: &[Cell]) -> Result<String> {
    let cells: Vec<Value> = cells
        .iter()
        .enumerate()
        .map(|(n, cell)| {
            let id = format!("{stem}-{n:02}");
            match cell {
                Cell::Markdown(text) => json!({
                    "cell_type": "markdown",
                    "id": id,
                    "metadata": {},
                    "source": source_lines(text),
                }),
                Cell::Code {
                    source,
                    tags,
                    block,
                } => {
                    let mut metadata = serde_json::Map::new();
                    if let Some(b) = block {
                        metadata.insert("dip".into(), json!({ "block": b }));
                    }
                    if !tags.is_empty() {
                        metadata.insert("tags".into(), json!(tags));
                    }
                    json!({
                        "cell_type": "code",
                        "execution_count": null,
                        "id": id,
                        "metadata": metadata,
                        "outputs": [],
                        "source": source_lines(source),
                    })
                }
            }
        })
        .collect();
    let notebook = json!({
        "cells": cells,
        "metadata": {
            "dip": {
                "chapter": chapter.display().to_string(),
                "generated_by": "dip notebooks",
            },
            "kernelspec": {
                "display_name": "Rust",
                "language": "rust",
                "name": "rust",
            },
            "language_info": {
                "codemirror_mode": "rust",
                "file_extension": ".rs",
                "mimetype": "text/rust",
                "name": "Rust",
                "pygment_lexer": "rust",
                "version": "",
            },
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    });
    notebook_text(notebook)
}

/// A notebook as text, in Jupyter's own layout: one space of indentation, keys
/// sorted, a final newline.
fn notebook_text(notebook: Value) -> Result<String> {
    let mut bytes = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut ser = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    serde::Serialize::serialize(&sort_keys(notebook), &mut ser)?;
    let mut text = String::from_utf8(bytes)?;
    text.push('\n');
    Ok(text)
}

/// The code cells of a notebook's JSON, mutably.
fn code_cells_mut(notebook: &mut Value) -> impl Iterator<Item = &mut Value> {
    notebook
        .get_mut("cells")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter(|c| c["cell_type"] == "code")
}

/// The notebook with what running it added taken away: every code cell's outputs
/// and execution count, and the kernel's own notebook metadata. What remains is what
/// `dip notebooks` makes from the chapter, so a notebook committed with its outputs
/// is in sync when its sources are.
fn without_outputs(mut notebook: Value) -> Value {
    for cell in code_cells_mut(&mut notebook) {
        cell["outputs"] = json!([]);
        cell["execution_count"] = Value::Null;
        if let Some(meta) = cell.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("execution");
        }
    }
    notebook
}

/// `made` (a notebook as `dip notebooks` makes it) with the outputs of `old` (the
/// notebook in `code/`, perhaps executed by the kernel) kept on every code cell whose
/// place among the code cells and source did not change (prose may change around it);
/// a changed cell, or one after a code cell added or removed, loses its outputs, which
/// no longer belong to it.
fn keep_outputs(made: &str, old: &str) -> Result<String> {
    let mut made: Value = serde_json::from_str(made)?;
    let Ok(mut old) = serde_json::from_str::<Value>(old) else {
        return notebook_text(made);
    };
    let old_cells: Vec<Value> = code_cells_mut(&mut old).map(|c| c.take()).collect();
    for (k, cell) in code_cells_mut(&mut made).enumerate() {
        let same = old_cells.get(k).filter(|o| o["source"] == cell["source"]);
        if let Some(o) = same {
            cell["outputs"] = slim(&o["outputs"]);
            cell["execution_count"] = o["execution_count"].clone();
        }
    }
    notebook_text(made)
}

/// Outputs larger than this are left out of a committed notebook, with a note.
pub const MAX_OUTPUT_BYTES: usize = 400 * 1024;

/// The outputs as a committed notebook keeps them: of each displayed value one
/// representation (the richest: PNG, SVG, Markdown, HTML, text) and its short text;
/// one larger than [`MAX_OUTPUT_BYTES`] becomes a note saying so.
fn slim(outputs: &Value) -> Value {
    const RICHEST_FIRST: [&str; 5] = [
        "image/png",
        "image/svg+xml",
        "text/markdown",
        "text/html",
        "text/plain",
    ];
    let Some(list) = outputs.as_array() else {
        return json!([]);
    };
    let slimmed = list.iter().map(|o| {
        let Some(data) = o.get("data").and_then(Value::as_object) else {
            return o.clone();
        };
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => String::new(),
        };
        let Some((mime, content)) = RICHEST_FIRST
            .iter()
            .find_map(|m| data.get(*m).map(|c| (*m, c)))
        else {
            return o.clone();
        };
        let mut kept = serde_json::Map::new();
        let size = text(content).len();
        if size > MAX_OUTPUT_BYTES {
            kept.insert(
                "text/plain".into(),
                json!(format!(
                    "({mime}, {} KB: left out of the committed notebook; run the cell to see it)",
                    size / 1024
                )),
            );
        } else {
            kept.insert(mime.into(), content.clone());
            if let Some(plain) = data
                .get("text/plain")
                .filter(|p| mime != "text/plain" && text(p).len() < 1000)
            {
                kept.insert("text/plain".into(), plain.clone());
            }
        }
        let mut o = o.clone();
        o["data"] = Value::Object(kept);
        o
    });
    Value::Array(slimmed.collect())
}

/// The value with the keys of every object in sorted order (whatever the map type).
fn sort_keys(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut sorted = serde_json::Map::new();
            for (k, v) in entries {
                sorted.insert(k, sort_keys(v));
            }
            Value::Object(sorted)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// The notebooks of the book at `root`: one per chapter with at least one code cell
/// of its own, in the order of `SUMMARY.md`.
pub fn generate(root: &Path) -> Result<Vec<Notebook>> {
    let chapters = chapters(root)?;
    let chapters_dir = chapters_dir(root)?;
    let dep = dep_cell(root)?;
    // First pass: which chapters have code of their own (links go to their notebooks).
    let mut parsed = Vec::new();
    let mut with_notebook = BTreeSet::new();
    for chapter in &chapters {
        let path = root.join(chapter);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let cells = chapter_cells(root, chapter, &text, &chapters_dir, &BTreeSet::new())?;
        let own_code = cells
            .iter()
            .any(|c| matches!(c, Cell::Code { block: None, .. }));
        let stem = chapter
            .file_stem()
            .and_then(|s| s.to_str())
            .context("a chapter without a name")?
            .to_string();
        if own_code {
            with_notebook.insert(stem.clone());
        }
        parsed.push((chapter.clone(), stem, text, own_code));
    }
    let mut out = Vec::new();
    for (chapter, stem, text, own_code) in parsed {
        if !own_code {
            continue;
        }
        let mut cells = chapter_cells(root, &chapter, &text, &chapters_dir, &with_notebook)?;
        // The title, the note, then the crate.
        let mut first = vec![];
        if let Some(Cell::Markdown(m)) = cells.first() {
            if let Some(title) = m.lines().next().filter(|l| l.starts_with("# ")) {
                let rest = m[title.len()..].trim_start_matches('\n').to_string();
                first.push(Cell::Markdown(format!(
                    "{title}\n\n{}",
                    header_note(&chapter)
                )));
                first.push(Cell::Code {
                    source: dep.clone(),
                    tags: vec![],
                    block: None,
                });
                if rest.trim().is_empty() {
                    cells.remove(0);
                } else {
                    cells[0] = Cell::Markdown(rest);
                }
            }
        }
        if first.is_empty() {
            first.push(Cell::Markdown(header_note(&chapter)));
            first.push(Cell::Code {
                source: dep.clone(),
                tags: vec![],
                block: None,
            });
        }
        first.extend(cells);
        let code_cells = first
            .iter()
            .filter(|c| matches!(c, Cell::Code { .. }))
            .count();
        out.push(Notebook {
            json: notebook_json(&chapter, &stem, &first)?,
            file_name: format!("{stem}.ipynb"),
            chapter,
            code_cells,
        });
    }
    Ok(out)
}

/// What differs between the notebooks of the book at `root` and the folder `out`:
/// one line per missing, out-of-date or extra notebook (empty: in sync). Sources
/// only: the outputs a kernel left in a notebook are not compared.
pub fn check(root: &Path, out: &Path) -> Result<Vec<String>> {
    let notebooks = generate(root)?;
    let mut problems = Vec::new();
    for nb in &notebooks {
        let path = out.join(&nb.file_name);
        let sources = |text: &str| {
            serde_json::from_str::<Value>(text)
                .ok()
                .map(without_outputs)
        };
        match std::fs::read_to_string(&path) {
            Ok(text) if sources(&text).is_some() && sources(&text) == sources(&nb.json) => {}
            Ok(_) => problems.push(format!(
                "{} differs from what {} makes",
                path.display(),
                nb.chapter.display()
            )),
            Err(_) => problems.push(format!(
                "{} is missing (made from {})",
                path.display(),
                nb.chapter.display()
            )),
        }
    }
    for extra in stale(out, &notebooks)? {
        problems.push(format!("{} comes from no chapter", extra.display()));
    }
    Ok(problems)
}

/// Notebooks in `out` that no chapter makes.
fn stale(out: &Path, notebooks: &[Notebook]) -> Result<Vec<PathBuf>> {
    let mut extra = Vec::new();
    if let Ok(entries) = std::fs::read_dir(out) {
        for e in entries {
            let path = e?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".ipynb") && !notebooks.iter().any(|n| n.file_name == name) {
                extra.push(path);
            }
        }
    }
    extra.sort();
    Ok(extra)
}

/// What [`write`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    pub notebooks: Vec<PathBuf>,
    /// Those whose content changed (or that were new).
    pub changed: Vec<PathBuf>,
    /// Notebooks of no chapter, removed.
    pub removed: Vec<PathBuf>,
}

/// Write the notebooks of the book at `root` into `out` (atomically, only those that
/// changed), keeping the outputs of every code cell that did not change, and remove
/// the notebooks there that no chapter makes any more.
pub fn write(root: &Path, out: &Path) -> Result<WriteReport> {
    let notebooks = generate(root)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut report = WriteReport::default();
    for nb in &notebooks {
        let path = out.join(&nb.file_name);
        let old = std::fs::read_to_string(&path).ok();
        let text = match &old {
            Some(old) => keep_outputs(&nb.json, old)?,
            None => nb.json.clone(),
        };
        if old.as_deref() != Some(text.as_str()) {
            crate::image_io::write_atomically(&path, text.as_bytes())?;
            report.changed.push(path.clone());
        }
        report.notebooks.push(path);
    }
    for extra in stale(out, &notebooks)? {
        std::fs::remove_file(&extra)
            .with_context(|| format!("cannot remove {}", extra.display()))?;
        report.removed.push(extra);
    }
    Ok(report)
}

// ---------------------------------------------------------------------------
// What the notebooks' cells call
// ---------------------------------------------------------------------------

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_grids_and_curves_are_cells_of_the_public_api() {
        let table = block_cell("sr-images set14 8");
        assert!(
            table.contains("let set = \"set14\";\n    let factor = 8;\n"),
            "{table}"
        );
        assert!(
            table.contains("tables::sr_images(inputs, &set, factor)"),
            "{table}"
        );
        let grid = block_cell("grid table1 barbara");
        assert!(
            grid.contains("Experiment::parse(\"table1\")?, \"barbara\")"),
            "{grid}"
        );
        assert!(grid.contains("dip::display::Row::new()") && grid.ends_with("    row.show();\n}"));
        let curves = block_cell("curves stopping F16");
        assert!(
            curves.contains("dip::display::Chart::new(\"stopping: F16\""),
            "{curves}"
        );
        // What has no few-line form is computed as the book computes it.
        let grid = block_cell("authors-grid sr set5-x4-butterfly");
        assert!(
            grid.contains("Job::paper(experiment, \"set5-x4-butterfly\")"),
            "{grid}"
        );
        assert!(
            grid.contains("crop_to_multiple(dip::metrics::SR_CROP_MULTIPLE)"),
            "{grid}"
        );
        let diagram = block_cell("network-diagram");
        assert!(
            diagram.contains("figures::network_svg(&config"),
            "{diagram}"
        );
        let loss = block_cell("loss-curves demos curve-image,curve-noise");
        assert!(
            loss.contains("[\"curve-image\", \"curve-noise\"]"),
            "{loss}"
        );
        let gap = block_cell("gap-curves table1 cpu");
        assert!(
            gap.contains("r.preset == \"cpu\"") && gap.contains("h.psnr_clean? - authors"),
            "{gap}"
        );
        let stopping = block_cell("stopping-curves F16");
        assert!(
            stopping.contains("Experiment::parse(\"stopping\")?, \"F16\")"),
            "{stopping}"
        );
        assert!(!block_cell("table1").contains("book_block"));
    }

    #[test]
    fn outputs_stay_with_unchanged_code_cells_wherever_the_prose_moves() {
        let nb = |cells: &[(&str, &str)]| -> String {
            let cells: Vec<Value> = cells
                .iter()
                .enumerate()
                .map(|(n, (kind, src))| {
                    json!({"cell_type": kind, "id": format!("c-{n}"), "metadata": {},
                           "source": [src], "outputs": [{"output_type": "stream", "name": "stdout", "text": [format!("ran {src}")]}]})
                })
                .collect();
            json!({"cells": cells}).to_string()
        };
        let old = nb(&[
            ("code", "a"),
            ("markdown", "m"),
            ("code", "b"),
            ("code", "c"),
        ]);
        let output_of = |made: &str, src: &str| -> Value {
            let v: Value = serde_json::from_str(&keep_outputs(made, &old).unwrap()).unwrap();
            let cell = v["cells"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["source"][0] == src)
                .unwrap()
                .clone();
            cell["outputs"].clone()
        };
        let fresh = |cells: &[(&str, &str)]| {
            let mut v: Value = serde_json::from_str(&nb(cells)).unwrap();
            for c in code_cells_mut(&mut v) {
                c["outputs"] = json!([]);
            }
            v.to_string()
        };
        // More prose: every code cell keeps its output.
        let more_prose = fresh(&[
            ("markdown", "new"),
            ("code", "a"),
            ("markdown", "m"),
            ("markdown", "n"),
            ("code", "b"),
            ("code", "c"),
        ]);
        assert_eq!(output_of(&more_prose, "c")[0]["text"][0], "ran c");
        // A changed cell loses its output; so does every cell after a new code cell.
        let changed = fresh(&[("code", "a2"), ("code", "b"), ("code", "c")]);
        assert_eq!(output_of(&changed, "a2"), json!([]));
        assert_eq!(output_of(&changed, "c")[0]["text"][0], "ran c");
        let inserted = fresh(&[("code", "a"), ("code", "new"), ("code", "b"), ("code", "c")]);
        assert_eq!(output_of(&inserted, "a")[0]["text"][0], "ran a");
        assert_eq!(output_of(&inserted, "b"), json!([]));
    }

    #[test]
    fn committed_outputs_keep_one_representation_and_no_huge_one() {
        let big = "A".repeat(MAX_OUTPUT_BYTES + 1);
        let outputs = json!([
            {"output_type": "stream", "name": "stdout", "text": ["1\n"]},
            {"output_type": "display_data", "metadata": {},
             "data": {"image/png": "iVBOR", "text/html": "<img>", "text/plain": "an image"}},
            {"output_type": "display_data", "metadata": {},
             "data": {"text/markdown": big.clone(), "text/plain": big}},
        ]);
        let s = slim(&outputs);
        assert_eq!(s[0], outputs[0]);
        assert_eq!(
            s[1]["data"],
            json!({"image/png": "iVBOR", "text/plain": "an image"})
        );
        let note = s[2]["data"]["text/plain"].as_str().unwrap();
        assert!(
            note.starts_with("(text/markdown, 400 KB: left out"),
            "{note}"
        );
        assert_eq!(s[2]["data"].as_object().unwrap().len(), 1);
    }

    #[test]
    fn dedent_removes_the_common_indentation_and_blank_ends() {
        assert_eq!(dedent("\n    a\n      b\n\n    c\n\n"), "a\n  b\n\nc");
        assert_eq!(dedent("x"), "x");
    }

    #[test]
    fn links_go_to_notebooks_or_chapters() {
        let with: BTreeSet<String> = ["fitting".to_string()].into();
        let s = rewrite_links(
            "see [f](fitting.md#x), [r](references.md#ref-1), [w](https://a.b/c.md)",
            Path::new("chapters"),
            &with,
        );
        assert_eq!(
            s,
            "see [f](fitting.ipynb#x), [r](../chapters/references.md#ref-1), [w](https://a.b/c.md)"
        );
    }

    #[test]
    fn source_is_stored_as_lines() {
        assert_eq!(source_lines("a\nb"), json!(["a\n", "b"]));
        assert_eq!(source_lines(""), json!([]));
    }
}
