//! The notebooks in `code/`: in sync with the chapters, and made the way the
//! chapters say. (Running them through the Jupyter kernel is `.ci/notebooks-check.sh`.)

use std::path::{Path, PathBuf};

use dip::notebooks;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_committed_notebooks_are_what_the_chapters_make() {
    let root = root();
    let problems = notebooks::check(&root, &root.join(notebooks::DEFAULT_OUT)).unwrap();
    assert!(
        problems.is_empty(),
        "the notebooks in code/ are out of date: run `cargo run -- notebooks` and commit \
         code/.\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_chapter_with_code_of_its_own_has_a_notebook() {
    let root = root();
    let made: Vec<String> = notebooks::generate(&root)
        .unwrap()
        .into_iter()
        .map(|n| n.file_name)
        .collect();
    for chapter in notebooks::chapters(&root).unwrap() {
        let text = std::fs::read_to_string(root.join(&chapter)).unwrap();
        let own_code = dip::book::check::includes(&text)
            .iter()
            .any(|i| !i.path.starts_with("../src/"));
        let name = format!("{}.ipynb", chapter.file_stem().unwrap().to_str().unwrap());
        assert_eq!(
            made.contains(&name),
            own_code,
            "{}: {name}",
            chapter.display()
        );
    }
    // The chapters with code: all but the introduction, the results and the references.
    assert_eq!(made.len(), 7, "{made:?}");
}

fn load(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn source(cell: &Value) -> String {
    cell["source"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect()
}

#[test]
fn each_notebook_starts_with_the_crate_and_has_a_rust_kernel() {
    let root = root();
    for nb in notebooks::generate(&root).unwrap() {
        let v: Value = serde_json::from_str(&nb.json).unwrap();
        assert_eq!(v["nbformat"], 4);
        assert_eq!(v["metadata"]["kernelspec"]["name"], "rust");
        let cells = v["cells"].as_array().unwrap();
        assert_eq!(cells[0]["cell_type"], "markdown");
        assert!(source(&cells[0]).starts_with("# "), "{}", nb.file_name);
        assert_eq!(cells[1]["cell_type"], "code");
        let dep = source(&cells[1]);
        assert!(
            dep.starts_with(":dep deep-image-prior = { path = \"..\", default-features = false }"),
            "{dep}"
        );
        // Ids are unique and stable; every code cell is made fresh (the committed
        // notebooks add the kernel's outputs, compared below without them).
        let mut ids: Vec<&str> = cells.iter().map(|c| c["id"].as_str().unwrap()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), cells.len());
        for c in cells.iter().filter(|c| c["cell_type"] == "code") {
            assert_eq!(c["outputs"], Value::Array(vec![]));
            assert!(c["execution_count"].is_null());
            // A cell shows one thing, last: evcxr keeps one output per cell.
            let s = source(c);
            assert!(s.matches(".show()").count() <= 1, "{s}");
            if c["metadata"]["tags"]
                .as_array()
                .is_some_and(|t| t.contains(&Value::from("image")))
            {
                // Last, or last in the cell's one block.
                let body = s.trim_end().trim_end_matches('}').trim_end();
                assert!(body.ends_with(".show();"), "{s}");
            }
        }
        // Committed, the same cells, with outputs kept only where a kernel ran them.
        let mut committed = load(&root.join("code").join(&nb.file_name));
        for c in committed["cells"].as_array_mut().unwrap() {
            if c["cell_type"] == "code" {
                c["outputs"] = Value::Array(vec![]);
                c["execution_count"] = Value::Null;
            }
        }
        assert_eq!(committed, v, "{}", nb.file_name);
    }
}

/// The cells of a chapter come from `tests/chapter_cells.rs`, from the test named after
/// the chapter, and in the order the chapter shows them: so that test runs them as
/// the notebook does.
#[test]
fn chapter_cells_run_in_the_tests_in_reading_order() {
    let root = root();
    let cells_file = "../tests/chapter_cells.rs";
    let code = std::fs::read_to_string(root.join("tests/chapter_cells.rs")).unwrap();
    // Where each anchor starts, and the test function around it.
    let mut current_fn = String::new();
    let mut anchors = Vec::new();
    for (n, line) in code.lines().enumerate() {
        if let Some(rest) = line.strip_prefix("fn ") {
            current_fn = rest.split('(').next().unwrap().to_string();
        }
        if let Some(a) = line.trim().strip_prefix("// ANCHOR: ") {
            anchors.push((a.to_string(), n, current_fn.clone()));
        }
    }
    let mut used = Vec::new();
    for chapter in notebooks::chapters(&root).unwrap() {
        let text = std::fs::read_to_string(root.join(&chapter)).unwrap();
        let test_fn = chapter
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .replace('-', "_");
        let mut last_line = None;
        for inc in dip::book::check::includes(&text) {
            if inc.path != cells_file {
                continue;
            }
            let anchor = inc.selector.expect("an anchor");
            let (_, line, f) = anchors
                .iter()
                .find(|(a, _, _)| *a == anchor)
                .unwrap_or_else(|| panic!("no anchor {anchor} in {cells_file}"));
            assert_eq!(
                *f,
                test_fn,
                "{}: the cell {anchor} must be in the test `{test_fn}`",
                chapter.display()
            );
            assert!(
                last_line < Some(*line),
                "{}: the cell {anchor} comes before the cell shown above it in the test",
                chapter.display()
            );
            last_line = Some(*line);
            used.push(anchor);
        }
    }
    for (a, _, _) in &anchors {
        assert!(used.contains(a), "the cell {a} is in no chapter");
    }
}

// ---------------------------------------------------------------------------
// The generator, on a small book of its own
// ---------------------------------------------------------------------------

fn small_book() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    std::fs::create_dir_all(r.join("chapters")).unwrap();
    std::fs::create_dir_all(r.join("src")).unwrap();
    std::fs::create_dir_all(r.join("tests")).unwrap();
    std::fs::write(
        r.join("book.toml"),
        "[book]\ntitle = \"t\"\nsrc = \"chapters\"\n",
    )
    .unwrap();
    std::fs::write(
        r.join("Cargo.toml"),
        "[dependencies]\ncandle-core = \"0.11.1\"\n",
    )
    .unwrap();
    std::fs::write(
        r.join("chapters/SUMMARY.md"),
        "# Summary\n\n[Intro](intro.md)\n\n- [One](one.md)\n",
    )
    .unwrap();
    std::fs::write(
        r.join("chapters/intro.md"),
        "# Intro\n\nNo code, see [One](one.md).\n\n{{#dip verdict}}\n",
    )
    .unwrap();
    std::fs::write(
        r.join("src/lib.rs"),
        "// ANCHOR: f\n    pub fn f() {}\n// ANCHOR_END: f\n",
    )
    .unwrap();
    std::fs::write(
        r.join("tests/cells.rs"),
        "fn one() {\n    // ANCHOR: a\n    let x = 1;\n    x.show();\n    // ANCHOR_END: a\n    // ANCHOR: b\n    println!(\"{x}\");\n    // ANCHOR_END: b\n}\n",
    )
    .unwrap();
    std::fs::write(
        r.join("chapters/one.md"),
        "# One\n\nMath $x^2$ and\n\n$$\nE = m c^2\n$$\n\nSee [intro](intro.md#x).\n\n\
         ```rust,ignore\n{{#include ../src/lib.rs:f}}\n```\n\n\
         ```sh\ndip net\n```\n\n\
         ```rust,ignore,shows-image\n{{#include ../tests/cells.rs:a}}\n```\n\n\
         Between.\n\n{{#dip authors-grid sr set5-x4-baby}}\n\n\
         ```rust,ignore\n{{#include ../tests/cells.rs:b}}\n```\n",
    )
    .unwrap();
    dir
}

fn cells_of(json: &str) -> Vec<(String, String, Value)> {
    let v: Value = serde_json::from_str(json).unwrap();
    v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["cell_type"].as_str().unwrap().to_string(),
                source(c),
                c["metadata"].clone(),
            )
        })
        .collect()
}

#[test]
fn a_chapter_becomes_markdown_and_code_cells_in_reading_order() {
    let book = small_book();
    let nbs = notebooks::generate(book.path()).unwrap();
    // The intro has no code of its own (a generated block is not): no notebook.
    assert_eq!(nbs.len(), 1);
    assert_eq!(nbs[0].file_name, "one.ipynb");
    let cells = cells_of(&nbs[0].json);
    let kinds: Vec<&str> = cells.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        kinds,
        ["markdown", "code", "markdown", "code", "markdown", "code", "code"]
    );
    assert!(cells[0]
        .1
        .starts_with("# One\n\n*This notebook is the chapter `chapters/one.md`"));
    assert_eq!(
        cells[1].1,
        ":dep deep-image-prior = { path = \"..\", default-features = false }\n\
         :dep candle-core = \"0.11.1\"\n:opt 3"
    );
    let md = &cells[2].1;
    // Math kept; links to chapters without notebooks go to their markdown; the crate's
    // code is a listing, de-indented; other code blocks stay as they are.
    assert!(md.contains("Math $x^2$ and\n\n$$\nE = m c^2\n$$"), "{md}");
    assert!(md.contains("[intro](../chapters/intro.md#x)"), "{md}");
    assert!(md.contains("from `src/lib.rs`"), "{md}");
    assert!(md.contains("```rust\npub fn f() {}\n```"), "{md}");
    assert!(md.contains("```sh\ndip net\n```"), "{md}");
    assert!(!md.contains("{{#"), "{md}");
    // The chapter's own code: a code cell, de-indented, tagged as showing an image.
    assert_eq!(cells[3].1, "let x = 1;\nx.show();");
    assert_eq!(cells[3].2["tags"], serde_json::json!(["image"]));
    assert_eq!(cells[4].1, "Between.");
    // A generated block: a cell computing it.
    assert!(cells[5]
        .1
        .contains("replay.authors_row(\"sr\", \"set5-x4-baby\")?"));
    assert_eq!(cells[5].2["dip"]["block"], "authors-grid sr set5-x4-baby");
    assert_eq!(cells[6].1, "println!(\"{x}\");");
    assert_eq!(cells[6].2, serde_json::json!({}));
}

#[test]
fn generation_is_deterministic_and_write_then_check_agree() {
    let book = small_book();
    let a = notebooks::generate(book.path()).unwrap();
    let b = notebooks::generate(book.path()).unwrap();
    assert_eq!(a, b);
    let out = book.path().join("code");
    // Nothing written yet: missing.
    let problems = notebooks::check(book.path(), &out).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("one.ipynb is missing"));
    // A stale notebook is removed, the new one written.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("gone.ipynb"), "{}").unwrap();
    let report = notebooks::write(book.path(), &out).unwrap();
    assert_eq!(report.changed, vec![out.join("one.ipynb")]);
    assert_eq!(report.removed, vec![out.join("gone.ipynb")]);
    assert!(notebooks::check(book.path(), &out).unwrap().is_empty());
    // Written again: nothing changes.
    assert!(notebooks::write(book.path(), &out)
        .unwrap()
        .changed
        .is_empty());
    // A chapter edited: the check sees it.
    let one = book.path().join("chapters/one.md");
    let text = std::fs::read_to_string(&one).unwrap();
    std::fs::write(&one, text.replace("Between.", "In between.")).unwrap();
    let problems = notebooks::check(book.path(), &out).unwrap();
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("one.ipynb differs"), "{problems:?}");
}

/// The code cells of the notebook at `path`, as JSON values.
fn code_cells(path: &Path) -> Vec<Value> {
    let nb: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    nb["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["cell_type"] == "code")
        .cloned()
        .collect()
}

#[test]
fn outputs_of_unchanged_cells_are_kept_and_not_compared() {
    let book = small_book();
    let out = book.path().join("code");
    notebooks::write(book.path(), &out).unwrap();
    let path = out.join("one.ipynb");
    // As the kernel leaves it: outputs and execution counts on the chapter's cells.
    let mut nb: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let output = serde_json::json!([{"name": "stdout", "output_type": "stream", "text": ["1\n"]}]);
    for (n, cell) in nb["cells"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .filter(|c| c["cell_type"] == "code")
        .enumerate()
    {
        cell["outputs"] = output.clone();
        cell["execution_count"] = serde_json::json!(n + 1);
    }
    std::fs::write(&path, serde_json::to_string(&nb).unwrap()).unwrap();
    assert!(notebooks::check(book.path(), &out).unwrap().is_empty());
    // Written again: the layout is made again, the outputs stay.
    notebooks::write(book.path(), &out).unwrap();
    assert!(code_cells(&path).iter().all(|c| c["outputs"] == output));
    assert!(notebooks::check(book.path(), &out).unwrap().is_empty());
    // A cell's code changed in the chapter's source: its output is dropped, the others stay.
    let cells = book.path().join("tests/cells.rs");
    let text = std::fs::read_to_string(&cells).unwrap();
    std::fs::write(
        &cells,
        text.replace("println!(\"{x}\")", "println!(\"x = {x}\")"),
    )
    .unwrap();
    assert!(!notebooks::check(book.path(), &out).unwrap().is_empty());
    notebooks::write(book.path(), &out).unwrap();
    let after = code_cells(&path);
    let changed: Vec<&Value> = after
        .iter()
        .filter(|c| c["source"].to_string().contains("x = {x}"))
        .collect();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["outputs"], serde_json::json!([]));
    assert!(after.iter().filter(|c| c["outputs"] == output).count() >= 1);
}

#[test]
fn bad_chapters_are_errors_naming_the_line() {
    let book = small_book();
    let one = book.path().join("chapters/one.md");
    let good = std::fs::read_to_string(&one).unwrap();
    let cases = [
        (
            "```rust,ignore\n{{#include ../src/lib.rs:f}}\n{{#include ../tests/cells.rs:a}}\n```\n",
            "both the crate's code",
        ),
        (
            "```rust,ignore\n{{#include ../tests/cells.rs:nope}}\n```\n",
            "no anchor `nope`",
        ),
        (
            "```rust,ignore\n{{#include ../tests/cells.rs:1:3}}\n```\n",
            "line ranges",
        ),
        ("```rust\nlet open = 1;\n", "unclosed code block"),
        ("Text {{#dip verdict}} inline.\n", "alone on its line"),
        ("{{#dip bogus}}\n", "unknown block `bogus`"),
        ("~~~rust\nlet open = 1;\n", "unclosed code block"),
    ];
    for (chapter_end, expected) in cases {
        std::fs::write(&one, format!("{good}\n{chapter_end}")).unwrap();
        let e = format!("{:#}", notebooks::generate(book.path()).unwrap_err());
        assert!(e.contains(expected), "{e}");
        assert!(e.contains("chapters/one.md:"), "{e}");
    }
}
