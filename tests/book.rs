//! The book: its sources resolve (fast, no data needed), and it builds into HTML
//! that works offline (needs the data folder and KaTeX's assets from `npm ci`).

mod common;

use std::path::{Path, PathBuf};

use dip::book::{self, check, generate, BookOptions};
use dip::data::DataDir;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const CHAPTERS: [&str; 10] = [
    "introduction",
    "deep-image-prior",
    "network",
    "fitting",
    "denoising",
    "inpainting",
    "super-resolution",
    "results",
    "running",
    "references",
];

#[test]
fn every_include_and_anchor_resolves_to_code() {
    let chapters = root().join("chapters");
    let problems = check::check_sources(&chapters, generate::DIRECTIVES);
    assert!(
        problems.is_empty(),
        "{}",
        problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    // the check is not vacuous: the chapters include code, and a bad anchor is caught
    let n: usize = CHAPTERS
        .iter()
        .map(|c| {
            let text = std::fs::read_to_string(chapters.join(format!("{c}.md"))).unwrap();
            check::includes(&text).len()
        })
        .sum();
    assert!(n >= 10, "only {n} includes");
}

#[test]
fn a_missing_anchor_file_link_or_directive_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("code.rs"),
        "// ANCHOR: empty\n// ANCHOR_END: empty\n// ANCHOR: ok\nfn f() {}\n// ANCHOR_END: ok\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("ch.md"),
        "# C\n{{#include code.rs:ok}}\n{{#include code.rs:nope}}\n{{#include code.rs:empty}}\n{{#include gone.rs}}\n[x](other.md)\n![i](pic.png)\n{{#dip bogus}}\n",
    )
    .unwrap();
    let problems: Vec<String> = check::check_sources(dir.path(), generate::DIRECTIVES)
        .iter()
        .map(|p| p.to_string())
        .collect();
    let text = problems.join("\n");
    assert_eq!(problems.len(), 6, "{text}");
    for (line, what) in [
        (3, "anchor `nope`"),
        (4, "includes no code"),
        (5, "gone.rs"),
        (6, "chapter"),
        (7, "image"),
        (8, "bogus"),
    ] {
        assert!(
            problems
                .iter()
                .any(|p| p.contains(&format!("ch.md:{line}:")) && p.contains(what)),
            "line {line} ({what}) not reported:\n{text}"
        );
    }
}

#[test]
fn bad_math_is_named_with_its_line() {
    let err =
        dip::book::math::render_chapter("ch.md", "ok $x^2$\n\nbad $\\frac{1}$ here\n").unwrap_err();
    assert!(err.to_string().contains("ch.md:3:"), "{err}");
    let html =
        dip::book::math::render_chapter("ch.md", "$$\\theta^* = \\arg\\min_\\theta E$$").unwrap();
    assert!(html.contains("class=\"katex"), "{html}");
}

fn katex_available(options: &BookOptions) -> bool {
    match book::ensure_katex(options) {
        Ok(_) => true,
        Err(e)
            if std::env::var("DIP_SKIP_MISSING_KATEX").is_ok_and(|v| !v.is_empty() && v != "0") =>
        {
            eprintln!("skipping: {e}");
            false
        }
        Err(e) => panic!("{e} (or set DIP_SKIP_MISSING_KATEX=1 to skip)"),
    }
}

fn read(out: &Path, page: &str) -> String {
    std::fs::read_to_string(out.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"))
}

#[test]
fn the_book_builds_and_works_offline() {
    // the data the generated figures and tables read
    if common::data_file("inpainting-table1/barbara.png").is_none()
        || common::data_file("reference-outputs/sr/set14/x8/zebra.png").is_none()
    {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap(); // no recorded run: the notes must show
    let mut options = BookOptions::new(root());
    options.out = out.path().join("html");
    options.data = DataDir::new(common::data_dir());
    options.results = results.path().to_path_buf();
    if !katex_available(&options) {
        return;
    }
    let report = book::build(&options).unwrap_or_else(|e| panic!("{e:#}"));
    let out = report.out;
    for c in CHAPTERS {
        let html = read(&out, &format!("{c}.html"));
        assert!(!html.contains("$$"), "{c}: raw $$ left");
        assert!(!html.contains("{{#"), "{c}: an unexpanded directive");
    }
    let dip = read(&out, "deep-image-prior.html");
    assert!(
        dip.contains("class=\"katex-display\""),
        "display math not typeset"
    );
    assert!(dip.contains("class=\"katex\""), "inline math not typeset");
    assert!(out.join("katex/katex.min.css").is_file());
    assert!(out.join("katex/fonts/KaTeX_Main-Regular.woff2").is_file());
    assert!(read(&out, "index.html").contains("katex/katex.min.css"));
    // generated figures and tables
    assert!(out.join("generated/network.svg").is_file());
    let network = read(&out, "network.html");
    assert!(network.contains("2,217,831"), "parameter count missing");
    let inpainting = read(&out, "inpainting.html");
    assert!(inpainting.contains("Papyan"));
    assert!(
        inpainting.contains("No recorded run yet"),
        "the no-run note is missing"
    );
    // the authors' outputs re-measured: Barbara 32.18 dB
    assert!(
        inpainting.contains("32.18"),
        "re-measured Table 1 row missing"
    );
    // nothing from the network, every image and link resolves
    let problems = check::check_html(&out, &book::EXTERNAL_LINKS_OK);
    assert!(problems.is_empty(), "{problems:?}");
}

/// A recorded run (made up here, in a temporary results folder, only to test the
/// plumbing) shows up: its row in Table 1 with its provenance, its image grid and
/// its learning curve; the runs table lists it.
#[test]
fn recorded_runs_appear_in_tables_and_figures() {
    let Some(authors) = common::data_file("reference-outputs/inpainting-table1/barbara.png") else {
        return;
    };
    if common::data_file("reference-outputs/sr/set14/x8/zebra.png").is_none() {
        return;
    }
    let results = tempfile::tempdir().unwrap();
    let dir = results.path().join("paper/table1");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&authors, dir.join("barbara.png")).unwrap();
    let history: Vec<String> = (0..5)
        .map(|i| {
            format!(
                r#"{{"iteration":{i},"loss":{},"psnr_corrupted":{},"psnr_clean":{},"psnr_clean_average":null,"rolled_back":false}}"#,
                0.1 / (i + 1) as f64,
                10.0 + i as f64,
                12.0 + i as f64
            )
        })
        .collect();
    std::fs::write(
        dir.join("barbara.json"),
        format!(
            r#"{{"experiment":"table1","image":"barbara","preset":"paper","seed":0,"device":"cpu","device_name":"test-device","iterations":5,"wall_seconds":1.5,"git_commit":"0123456789abcdef","final_psnr":12.345,"history":[{}],"output":"barbara.png","some_future_field":1}}"#,
            history.join(",")
        ),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut options = BookOptions::new(root());
    options.out = out.path().join("html");
    options.data = DataDir::new(common::data_dir());
    options.results = results.path().to_path_buf();
    if !katex_available(&options) {
        return;
    }
    let report = book::build(&options).unwrap_or_else(|e| panic!("{e:#}"));
    let inpainting = read(&report.out, "inpainting.html");
    assert!(inpainting.contains("12.35"), "our row is missing");
    assert!(
        inpainting.contains("test-device"),
        "the provenance is missing"
    );
    assert!(inpainting.contains("0123456789"), "the commit is missing");
    assert!(report
        .out
        .join("generated/ours-table1-barbara.png")
        .is_file());
    let results_page = read(&report.out, "results.html");
    assert!(results_page.contains("test-device"));
    // a record that does not parse is an error naming it
    std::fs::write(dir.join("barbara.json"), "{ not json").unwrap();
    let err = format!("{:#}", book::build(&options).unwrap_err());
    assert!(err.contains("barbara.json"), "{err}");
}

#[test]
fn the_html_check_names_network_loads_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("here.png"), b"x").unwrap();
    std::fs::write(
        dir.path().join("chapter.html"),
        "<html><head>\n<link rel=\"stylesheet\" href=\"https://cdn.example.org/katex.css\">\n</head><body>\n\
         <img src=\"here.png\"><img src=\"gone.png\">\n<a href=\"https://example.org\">ok?</a>\n\
         <a href=\"other.html#x\">x</a>\n<script src=\"//cdn.example.org/x.js\"></script>\n$$x$$</body></html>",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("references.html"),
        "<a href=\"https://arxiv.org\">a paper</a>",
    )
    .unwrap();
    let problems: Vec<String> = check::check_html(dir.path(), &book::EXTERNAL_LINKS_OK)
        .iter()
        .map(|p| p.to_string())
        .collect();
    let text = problems.join("\n");
    for what in [
        "cdn.example.org/katex.css",
        "gone.png",
        "https://example.org",
        "other.html",
        "x.js",
        "$$",
    ] {
        assert!(
            problems
                .iter()
                .any(|p| p.contains("chapter.html") && p.contains(what)),
            "{what} not reported:\n{text}"
        );
    }
    assert!(!text.contains("references.html"), "{text}");
    assert!(!text.contains("here.png"), "{text}");
    assert_eq!(problems.len(), 6, "{text}");
}
