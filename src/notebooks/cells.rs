//! A chapter as cells, in reading order: its prose as markdown cells, its own code as
//! code cells, the crate's code it explains as listings, its generated blocks as the
//! cells the book's registry gives them. Code blocks are found with the book's one
//! Markdown scanner ([`crate::book::markdown`]).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::{IMAGE_TAG, SHOWS_IMAGE};
use crate::book::blocks;
use crate::book::check::{anchor_text, includes, Include};
use crate::book::markdown::{self, Line};

/// A cell under construction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Cell {
    Markdown(String),
    Code {
        source: String,
        tags: Vec<&'static str>,
        block: Option<String>,
    },
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

fn include_arg(i: &Include) -> String {
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

/// The cells of one chapter, made as it is read.
struct Reader<'a> {
    root: &'a Path,
    /// The chapter, relative to `root`, for errors and its includes.
    chapter: &'a Path,
    chapters_dir: &'a Path,
    with_notebook: &'a BTreeSet<String>,
    cells: Vec<Cell>,
    /// The prose since the last code cell.
    prose: Vec<String>,
}

impl Reader<'_> {
    /// The prose read so far as one markdown cell (none if it is blank).
    fn flush(&mut self) {
        let text = self.prose.join("\n");
        let text = text.trim_matches('\n');
        if !text.trim().is_empty() {
            self.cells.push(Cell::Markdown(rewrite_links(
                text,
                self.chapters_dir,
                self.with_notebook,
            )));
        }
        self.prose.clear();
    }

    fn code(&mut self, source: String, image: bool, block: Option<String>) {
        self.flush();
        self.cells.push(Cell::Code {
            source,
            tags: if image { vec![IMAGE_TAG] } else { vec![] },
            block,
        });
    }

    /// A code block (from its opening fence, `line` its line number): prose or a cell.
    fn fence(&mut self, fence: &str, info: &str, body: &[&str], line: usize) -> Result<()> {
        let chapter_dir = self.chapter.parent().unwrap_or(Path::new(""));
        match convert_fence(self.root, chapter_dir, fence, info, body, line)
            .with_context(|| format!("{}:{line}", self.chapter.display()))?
        {
            Block::Markdown(m) => self.prose.push(m),
            Block::Code { source, image } => self.code(source, image, None),
        }
        Ok(())
    }

    /// A `{{#dip ARGS}}` line (`line` its line number): the cell the registry gives it.
    fn generated(&mut self, rest: &str, line: usize) -> Result<()> {
        let chapter = self.chapter.display();
        let args = rest
            .strip_suffix("}}")
            .with_context(|| format!("{chapter}:{line}: unclosed {{{{#dip"))?
            .trim()
            .to_string();
        if args.contains('"') || args.contains('\\') {
            bail!("{chapter}:{line}: odd characters in a {{{{#dip}}}} block");
        }
        let words: Vec<&str> = args.split_whitespace().collect();
        let source = blocks::cell(&words)
            .with_context(|| format!("{chapter}:{line}: unknown block `{args}`"))?;
        let image = blocks::shows_image(&words);
        self.code(source, image, Some(args));
        Ok(())
    }
}

/// The cells of one chapter (without the header and `:dep` cells).
pub(super) fn chapter_cells(
    root: &Path,
    chapter: &Path,
    text: &str,
    chapters_dir: &Path,
    with_notebook: &BTreeSet<String>,
) -> Result<Vec<Cell>> {
    let lines = markdown::lines(text);
    let fallbacks = crate::book::generate::github_fallbacks(text);
    let mut reader = Reader {
        root,
        chapter,
        chapters_dir,
        with_notebook,
        cells: Vec::new(),
        prose: Vec::new(),
    };
    let mut i = 0;
    while i < lines.len() {
        let (line, kind) = lines[i];
        if let Line::Open { fence, info } = kind {
            let end = (i + 1..lines.len()).find(|&j| lines[j].1 == Line::Close);
            let Some(end) = end else {
                bail!("{}:{}: unclosed code block", chapter.display(), i + 1);
            };
            let body: Vec<&str> = lines[i + 1..end].iter().map(|l| l.0).collect();
            reader.fence(fence, info, &body, i + 1)?;
            i = end + 1;
        } else if let Some(rest) = line.trim().strip_prefix("{{#dip ") {
            reader.generated(rest, i + 1)?;
            i += 1;
            // The picture GitHub shows in its place; the cell makes it.
            while i < lines.len() && fallbacks[i] {
                i += 1;
            }
        } else if line.contains("{{#dip ") || line.contains("{{#include") {
            bail!(
                "{}:{}: a {{{{#…}}}} block must be alone on its line (or in a code block)",
                chapter.display(),
                i + 1
            );
        } else {
            // A figure's or table's label is the book's (it numbers them); not the notebook's.
            if crate::book::numbering::label_of(line.trim()).is_none() {
                reader.prose.push(line.to_string());
            }
            i += 1;
        }
    }
    reader.flush();
    Ok(reader.cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
}
