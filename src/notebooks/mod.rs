//! The chapters as Jupyter notebooks, for the Rust kernel (evcxr): `dip notebooks`
//! writes one notebook per chapter that has code into `code/`, and a test checks
//! that the committed notebooks are what the chapters make.
//!
//! A chapter becomes cells in reading order (`cells`):
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
//! - a `{{#dip …}}` block (a generated table or figure of the book) becomes the code
//!   cell the book's registry of blocks gives it ([`crate::book::blocks`]);
//! - the first code cell brings in the crate (`:dep` on the repository by relative path,
//!   without its command-line tools) and candle.
//!
//! The notebook files themselves, and the outputs a kernel left in them, are
//! `ipynb`'s; what the cells call at run time is `runtime`'s ([`Replay`],
//! [`data_dir`], [`book_block`]). Generation is deterministic (cell ids from the
//! chapter and the position, no timestamps), so the committed notebooks can be
//! compared byte for byte.

mod cells;
mod ipynb;
mod runtime;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

pub use cells::dedent;
use cells::{chapter_cells, Cell};
pub use ipynb::MAX_OUTPUT_BYTES;
use ipynb::{keep_outputs, notebook_json, without_outputs};
pub use runtime::{book_block, data_dir, repository_root, results_dir, Replay};

/// Where the notebooks go, relative to the repository's root.
pub const DEFAULT_OUT: &str = crate::book::outputs::NOTEBOOKS_DIR;

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

/// What [`write()`] did.
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
