//! What the chapters' code printed and drew, shown under the code in the book.
//!
//! The chapters' own code cells are the cells of the notebooks in `code/`
//! (`dip notebooks`), which are committed with the outputs the Rust kernel gave them
//! (`.ci/notebooks-check.sh` runs them). When the book is built, every Rust code block
//! of a chapter whose code is a notebook cell's gets that cell's output below it: the
//! text it printed, and its image, chart or table. A cell without outputs (not run
//! yet, or changed since) shows none: nothing is made up here.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use base64::Engine as _;
use serde_json::Value;

use super::markdown::{self, Fences, Line};

/// Where the notebooks are, relative to the repository's root (`dip notebooks` writes them).
pub const NOTEBOOKS_DIR: &str = "code";

/// One output of a cell, in the form the book shows.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Printed text (stdout), or a value's plain text.
    Text(String),
    /// Markdown, as the book's own generated tables.
    Markdown(String),
    /// A PNG image, with what the cell said it shows (its plain text: a row's labels,
    /// left to right, or a fit's summary).
    Png {
        bytes: Vec<u8>,
        caption: Option<String>,
    },
    /// An SVG drawing.
    Svg(String),
}

/// The outputs of the notebooks' code cells, by their code.
#[derive(Clone, Debug, Default)]
pub struct CellOutputs {
    by_code: HashMap<String, Vec<Output>>,
}

impl CellOutputs {
    /// Read every notebook in `code_dir` (none there: no outputs).
    pub fn load(code_dir: &Path) -> Result<Self> {
        let mut outputs = Self::default();
        let Ok(entries) = std::fs::read_dir(code_dir) else {
            return Ok(outputs);
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "ipynb"))
        {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let notebook: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a notebook", path.display()))?;
            outputs.add_notebook(&notebook);
        }
        Ok(outputs)
    }

    fn add_notebook(&mut self, notebook: &Value) {
        let cells = notebook["cells"].as_array().into_iter().flatten();
        for cell in cells.filter(|c| c["cell_type"] == "code") {
            let mut shown: Vec<Output> = Vec::new();
            let outputs = cell["outputs"].as_array().into_iter().flatten();
            for output in outputs.filter_map(output_of) {
                // The kernel sends printed lines one by one: one block of text.
                match (shown.last_mut(), output) {
                    (Some(Output::Text(t)), Output::Text(more)) => t.push_str(&more),
                    (_, output) => shown.push(output),
                }
            }
            if !shown.is_empty() {
                self.by_code
                    .insert(normalised(&joined(&cell["source"])), shown);
            }
        }
    }

    /// The outputs of the cell whose code is `code`, if it has any.
    pub fn of(&self, code: &str) -> Option<&[Output]> {
        self.by_code.get(&normalised(code)).map(Vec::as_slice)
    }

    /// `chapter` (Markdown, its includes expanded) with each Rust code block that is a
    /// notebook cell followed by that cell's outputs; `asset(name, bytes)` stores an
    /// image (named after `stem`, the chapter's) and returns its path for a Markdown link.
    pub fn insert(
        &self,
        stem: &str,
        chapter: &str,
        mut asset: impl FnMut(&str, Vec<u8>) -> String,
    ) -> String {
        if self.by_code.is_empty() {
            return chapter.to_string();
        }
        let mut out = String::with_capacity(chapter.len());
        let mut code: Option<String> = None;
        let mut shown = 0;
        let mut fences = Fences::default();
        for line in chapter.split_inclusive('\n') {
            out.push_str(line);
            match (fences.line(line), &mut code) {
                (Line::Open { info, .. }, _) if markdown::language(info) == "rust" => {
                    code = Some(String::new())
                }
                (Line::Close, Some(c)) => {
                    if let Some(outputs) = self.of(c) {
                        shown += 1;
                        let name = format!("{stem}-{shown}");
                        out.push_str(&render(outputs, &name, &mut asset));
                    }
                    code = None;
                }
                (Line::Code, Some(c)) => c.push_str(line),
                _ => {}
            }
        }
        out
    }
}

/// A Jupyter output as one of ours: the richest representation we can show.
fn output_of(output: &Value) -> Option<Output> {
    if output["output_type"] == "stream" {
        let text = joined(&output["text"]);
        return (output["name"] == "stdout" && !text.trim().is_empty())
            .then_some(Output::Text(text));
    }
    let data = &output["data"];
    if let Some(png) = data["image/png"].as_str() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.split_whitespace().collect::<String>())
            .ok()?;
        let text = joined(&data["text/plain"]);
        let caption = match text.trim().strip_prefix("images: ") {
            Some(labels) => Some(format!("Left to right: {labels}")),
            None => Some(text.trim().to_string()).filter(|t| !t.is_empty()),
        };
        return Some(Output::Png { bytes, caption });
    }
    if data["image/svg+xml"].is_string() || data["image/svg+xml"].is_array() {
        return Some(Output::Svg(joined(&data["image/svg+xml"])));
    }
    if !data["text/markdown"].is_null() {
        return Some(Output::Markdown(joined(&data["text/markdown"])));
    }
    let text = joined(&data["text/plain"]);
    (!text.trim().is_empty()).then_some(Output::Text(text))
}

/// The outputs of one cell as Markdown, below its code.
fn render(
    outputs: &[Output],
    cell: &str,
    asset: &mut impl FnMut(&str, Vec<u8>) -> String,
) -> String {
    let mut s = String::from("\n<p class=\"cell-output\"><em>Output</em></p>\n\n");
    for (i, output) in outputs.iter().enumerate() {
        match output {
            Output::Text(t) => s += &format!("```text\n{}\n```\n\n", t.trim_end()),
            Output::Markdown(m) => s += &format!("{}\n\n", m.trim_end()),
            Output::Png { bytes, caption } => {
                let path = asset(&format!("cell-output-{cell}-{i}.png"), bytes.clone());
                s += &format!("![output of the cell]({path})\n\n");
                if let Some(caption) = caption {
                    let caption = caption
                        .replace('&', "&amp;")
                        .replace('<', "&lt;")
                        .replace('>', "&gt;");
                    s += &format!("<p class=\"cell-caption\">{caption}</p>\n\n");
                }
            }
            Output::Svg(svg) => {
                let path = asset(
                    &format!("cell-output-{cell}-{i}.svg"),
                    svg.clone().into_bytes(),
                );
                s += &format!("![output of the cell]({path})\n\n");
            }
        }
    }
    s
}

/// A notebook string field: a string, or an array of lines.
fn joined(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// Code compared line by line, without trailing spaces or blank lines at either end.
fn normalised(code: &str) -> String {
    let lines: Vec<&str> = code.lines().map(str::trim_end).collect();
    lines.join("\n").trim_matches('\n').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outputs() -> CellOutputs {
        let png = base64::engine::general_purpose::STANDARD.encode([137u8, 80, 78, 71]);
        let notebook = json!({"cells": [
            {"cell_type": "markdown", "source": ["# T\n"]},
            {"cell_type": "code", "source": ["let x = 1;\n", "println!(\"{x}\");"],
             "outputs": [{"output_type": "stream", "name": "stdout", "text": ["1\n"]},
                         {"output_type": "stream", "name": "stdout", "text": "2\n"}]},
            {"cell_type": "code", "source": ["img.show();"],
             "outputs": [{"output_type": "display_data",
                          "data": {"image/png": png, "text/plain": "images: noisy, 20.16 dB | clean"}}]},
            {"cell_type": "code", "source": ["not_run();"], "outputs": []},
        ]});
        let mut o = CellOutputs::default();
        o.add_notebook(&notebook);
        o
    }

    #[test]
    fn each_cells_output_goes_under_its_code_and_only_there() {
        let chapter = "Text.\n\n```rust,ignore\nlet x = 1;\nprintln!(\"{x}\");  \n```\n\n\
                       ```rust\nimg.show();\n```\n\n```rust\nnot_run();\n```\n\n```sh\nlet x = 1;\n```\n";
        let mut assets = Vec::new();
        let md = outputs().insert("ch", chapter, |name, bytes| {
            assets.push((name.to_string(), bytes));
            format!("generated/{name}")
        });
        assert!(md.contains("println!(\"{x}\");  \n```\n\n<p class=\"cell-output\"><em>Output</em></p>\n\n```text\n1\n2\n```"), "{md}");
        assert!(md.contains("img.show();\n```\n\n<p class=\"cell-output\"><em>Output</em></p>\n\n![output of the cell](generated/cell-output-ch-2-0.png)\n\n<p class=\"cell-caption\">Left to right: noisy, 20.16 dB | clean</p>"), "{md}");
        assert_eq!(
            md.matches("cell-output\"").count(),
            2,
            "a cell without outputs shows none: {md}"
        );
        assert_eq!(
            assets,
            vec![(
                "cell-output-ch-2-0.png".to_string(),
                vec![137u8, 80, 78, 71]
            )]
        );
    }

    #[test]
    fn no_notebooks_no_change() {
        let chapter = "```rust\nlet x = 1;\n```\n";
        let none = CellOutputs::load(Path::new("/nonexistent/code")).unwrap();
        assert_eq!(none.insert("ch", chapter, |_, _| unreachable!()), chapter);
    }
}
