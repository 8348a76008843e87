//! The notebook files: a chapter's cells as Jupyter's JSON, and what a kernel left in
//! a committed notebook — kept on every unchanged code cell ([`keep_outputs`]), slimmed
//! to one representation each ([`slim`]), left out of the comparison with what the
//! chapters make ([`without_outputs`]).

use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};

use super::cells::Cell;

/// The source of a cell the way notebooks store it: lines, each but the last with its `\n`.
fn source_lines(text: &str) -> Value {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    Value::Array(lines.into_iter().map(|l| Value::String(l.into())).collect())
}

pub(super) fn notebook_json(chapter: &Path, stem: &str, cells: &[Cell]) -> Result<String> {
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
pub(super) fn without_outputs(mut notebook: Value) -> Value {
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
pub(super) fn keep_outputs(made: &str, old: &str) -> Result<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn source_is_stored_as_lines() {
        assert_eq!(source_lines("a\nb"), json!(["a\n", "b"]));
        assert_eq!(source_lines(""), json!([]));
    }
}
