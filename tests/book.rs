//! The book: its sources resolve (fast, no data needed), and it builds into HTML
//! that works offline (needs the data folder and KaTeX's assets from `npm ci`).

mod common;

use std::path::{Path, PathBuf};

use std::sync::atomic::AtomicBool;

use candle_core::Device;
use dip::book::{self, check, BookOptions};
use dip::data::DataDir;
use dip::reproduce::paper::{TABLE1_DIP_AUTHORS_OUTPUTS, TABLE1_IMAGES};
use dip::reproduce::record::{BenchRecord, Implementation};
use dip::reproduce::{self, Experiment, Options, Preset};

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
    let problems = check::check_sources(&chapters, &dip::book::blocks::names());
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
    let problems: Vec<String> = check::check_sources(dir.path(), &dip::book::blocks::names())
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

/// On GitHub the chapters show the committed figures of `images/`: each block that
/// makes one is followed by its picture there, and every committed figure of a block
/// is shown so (the cells' outputs are the notebooks' to show).
#[test]
fn the_chapters_show_the_committed_figures_on_github() {
    let mut shown = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(root().join("chapters")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let fallbacks = dip::book::generate::github_fallbacks(&text);
        for (line, _) in text.lines().zip(fallbacks).filter(|(_, f)| *f) {
            let file = line
                .split("](../images/")
                .nth(1)
                .unwrap()
                .trim_end_matches(')');
            assert!(
                root().join("images").join(file).is_file(),
                "{}: {file} is not in images/ (run `dip book`)",
                path.display()
            );
            shown.insert(file.to_string());
        }
    }
    let committed: std::collections::BTreeSet<String> = std::fs::read_dir(root().join("images"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".svg") && !n.starts_with("cell-output-"))
        .collect();
    assert_eq!(
        committed, shown,
        "committed figures without their line in a chapter"
    );
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

/// A page of the built book, without the alignment of table cells (`<td>12.35</td>`).
fn read(out: &Path, page: &str) -> String {
    std::fs::read_to_string(out.join(page))
        .unwrap_or_else(|e| panic!("{page}: {e}"))
        .replace(r#" style="text-align: right""#, "")
}

/// Code a reader does not scroll sideways for: no line of a listing of `html` (the
/// chapter `c`) over 100 columns.
fn assert_code_lines_fit(c: &str, html: &str) {
    for block in html.split("<pre><code").skip(1) {
        let code = &block[block.find('>').unwrap() + 1..block.find("</code></pre>").unwrap()];
        let mut text = String::new();
        let mut in_tag = false;
        for ch in code.chars() {
            match ch {
                '<' => in_tag = true,
                '>' => in_tag = false,
                _ if !in_tag => text.push(ch),
                _ => {}
            }
        }
        let text = text
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#39;", "'");
        for line in text.lines() {
            assert!(
                line.chars().count() <= 100,
                "{c}: a code line of {} columns: {line}",
                line.chars().count()
            );
        }
    }
}

/// Offline search: the index is built into the book at `out`, and it knows the chapters' words.
fn assert_search_finds_the_chapters(out: &Path) {
    let index: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("searchindex"))
        })
        .collect();
    assert!(!index.is_empty(), "no search index in the book");
    let words = std::fs::read_to_string(&index[0]).unwrap();
    assert!(
        words.contains("inpainting") && words.contains("denoising"),
        "the search index misses the chapters"
    );
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
    // The figures drawn from records alone also go to an images folder; a stale one goes.
    let images = out.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::write(images.join("gone.svg"), "<svg/>").unwrap();
    options.images = Some(images.clone());
    if !katex_available(&options) {
        return;
    }
    let report = book::build(&options).unwrap_or_else(|e| panic!("{e:#}"));
    let out = report.out;
    assert!(
        !images.join("gone.svg").exists(),
        "a figure the book no longer makes stays"
    );
    let network =
        std::fs::read(images.join("network.svg")).expect("the network diagram in images/");
    assert_eq!(
        network,
        std::fs::read(out.join("generated/network.svg")).unwrap()
    );
    for c in CHAPTERS {
        let html = read(&out, &format!("{c}.html"));
        assert_code_lines_fit(c, &html);
        assert!(!html.contains("$$"), "{c}: raw $$ left");
        assert!(!html.contains("{{#"), "{c}: an unexpanded directive");
        assert!(
            !html.contains("../images/"),
            "{c}: a GitHub fallback left in the book"
        );
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
    assert_search_finds_the_chapters(&out);
    // The verdict opens the book, and says what was not run.
    let intro = read(&out, "introduction.html");
    let verdict = intro
        .find("not run yet (0 of 11 runs)")
        .expect("the verdict");
    assert!(
        verdict < intro.find("In 2018 Ulyanov").unwrap(),
        "the verdict comes first"
    );
    // generated figures and tables
    assert!(out.join("generated/network.svg").is_file());
    let network = read(&out, "network.html");
    assert!(network.contains("2,217,831"), "parameter count missing");
    // A listing names the file it comes from.
    assert!(
        network.contains("Listing 2.1 — <code>src/net.rs</code>"),
        "a listing without its file"
    );
    let inpainting = read(&out, "inpainting.html");
    assert!(inpainting.contains("Papyan"));
    assert!(
        inpainting.contains("No recorded run yet"),
        "the no-run note is missing"
    );
    // the authors' outputs re-measured: Barbara as `paper` has it
    let barbara = TABLE1_IMAGES.iter().position(|&n| n == "barbara").unwrap();
    let barbara = format!("{:.2}", TABLE1_DIP_AUTHORS_OUTPUTS[barbara]);
    assert!(
        inpainting.contains(&barbara),
        "re-measured Table 1 row missing: {barbara}"
    );
    let results_page = read(&out, "results.html");
    for table in [
        "Table 1",
        "Set14 ×8, per image",
        "snail",
        "Time of our runs",
        "ours vs PyTorch",
    ] {
        assert!(results_page.contains(table), "Results: {table} missing");
    }
    assert!(results_page.contains("No benchmark recorded yet"));
    // nothing from the network, every image and link resolves
    let problems = check::check_html(&out, &book::EXTERNAL_LINKS_OK);
    assert!(problems.is_empty(), "{problems:?}");
}

/// Real runs of the tiny preset (Table 1 on every image, a few iterations) show up
/// in the book: their numbers in Table 1 with the runs that made them, our image
/// grid, the timing table; a benchmark record shows beside PyTorch's.
/// The (row heading, cell) pairs of the column headed `heading` of the first HTML
/// table that has one.
fn by_image_column(html: &str, heading: &str) -> Vec<(String, String)> {
    let cells = |row: &str| -> Vec<String> {
        row.split("<t")
            .skip(1)
            .filter(|c| c.starts_with("d") || c.starts_with("h"))
            .map(|c| {
                let text = &c[c.find('>').unwrap() + 1..];
                text[..text.find("</t").unwrap()].trim().to_string()
            })
            .collect()
    };
    for table in html.split("<table").skip(1) {
        let table = &table[..table.find("</table>").unwrap()];
        let mut rows = table.split("<tr").skip(1);
        let Some(head) = rows.next() else { continue };
        let Some(i) = cells(head).iter().position(|h| h == heading) else {
            continue;
        };
        return rows
            .map(|r| {
                let c = cells(r);
                (c[0].clone(), c[i].clone())
            })
            .collect();
    }
    panic!("no table with the column «{heading}»");
}

/// Our benchmark (one iteration at the smallest size) and PyTorch's, as
/// `benches/torch_reference.py --record` writes it, under `results/bench/`; ours.
fn write_benchmarks(results: &Path) -> BenchRecord {
    let bench = dip::bench::BenchOptions {
        size: 64,
        channels: 1,
        iterations: 1,
        warmup: 0,
        ..Default::default()
    };
    let report = dip::bench::bench_with(&bench, &Device::Cpu, |_, _| {}).unwrap();
    let ours = dip::bench::write_record(
        &report,
        &Device::Cpu,
        &results.join("bench/dip-cpu-64-c1.json"),
    )
    .unwrap();
    let torch = BenchRecord {
        implementation: Implementation::Pytorch,
        version: "torch 2.5.1".into(),
        median_seconds: 0.25,
        seconds: vec![0.25],
        ..ours.clone()
    };
    std::fs::write(
        results.join("bench").join(torch.file_name()),
        serde_json::to_vec(&torch).unwrap(),
    )
    .unwrap();
    ours
}

/// Whole images and the tiny preset's crops are two tables in `html`: the first says
/// that no run of ours is on whole images (`ours`: a number of ours it must not hold),
/// the second is titled with the crops and the preset.
fn assert_whole_images_and_crops_apart(html: &str, ours: f64) {
    let whole = html
        .find("on whole images (PSNR, dB)")
        .expect("the part on whole images");
    let crops = html
        .find("preset <code>tiny</code> (PSNR, dB)")
        .expect("the part on crops");
    assert!(whole < crops);
    let between = &html[whole..crops];
    assert!(
        between.contains("Whole images at the paper’s settings: no recorded run yet"),
        "{between}"
    );
    assert!(
        !between.contains(&format!("{:.2}", ours)),
        "ours among whole images"
    );
}

#[test]
fn recorded_runs_appear_in_tables_and_figures() {
    let needed = ["inpainting-table1/barbara", "sr/set14/x8/zebra"];
    if needed
        .iter()
        .any(|n| common::data_file(&format!("reference-outputs/{n}.png")).is_none())
    {
        return;
    }
    let results = tempfile::tempdir().unwrap();
    let mut o = Options::new(Preset::Tiny);
    o.only = vec![Experiment::Table1];
    o.iterations = Some(3);
    o.results = results.path().to_path_buf();
    o.data = DataDir::new(common::data_dir());
    reproduce::run(&o, &Device::Cpu, &AtomicBool::new(false), &mut |_| {}).unwrap();
    let records = reproduce::load_records(results.path()).unwrap();
    assert_eq!(records.len(), 11);

    let ours = write_benchmarks(results.path());

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
    // Every image's number, and their mean, in our row of Table 1.
    let psnrs: Vec<f64> = dip::reproduce::paper::TABLE1_IMAGES
        .iter()
        .map(|name| {
            let r = records.iter().find(|r| r.image == *name).unwrap();
            r.final_psnr.unwrap()
        })
        .collect();
    // Table 1 turned by image: a row per image, our numbers in the column "ours" of the
    // part on the tiny preset's crops (the part on whole images has no such column).
    let table1 = by_image_column(&inpainting, "ours");
    let mean = psnrs.iter().sum::<f64>() / 11.0;
    let expected: Vec<(String, String)> = dip::reproduce::paper::TABLE1_TITLES
        .iter()
        .map(|t| t.to_string())
        .zip(psnrs.iter().map(|p| format!("{p:.2}")))
        .chain([("mean".to_string(), format!("{mean:.2}"))])
        .collect();
    assert_eq!(table1, expected, "our column of Table 1");
    assert_whole_images_and_crops_apart(&inpainting, psnrs[0]);
    // Which runs made it.
    let commit = dip::reproduce::record::short_commit(&records[0].git_commit);
    assert!(inpainting.contains("preset <code>tiny</code> on cpu ("));
    assert!(inpainting.contains("11 runs, 3 iterations each"));
    assert!(inpainting.contains(commit), "the commit is missing");
    assert!(inpainting.contains("final output"));
    assert!(report
        .out
        .join("generated/ours-table1-barbara.png")
        .is_file());
    let results_page = read(&report.out, "results.html");
    assert_eq!(
        by_image_column(&results_page, "ours"),
        expected,
        "Results: our column of Table 1"
    );
    assert!(
        results_page.contains("table1: tiny, cpu ("),
        "the timing row"
    );
    let ratio = format!("{:.2}", ours.median_seconds / 0.25);
    assert!(
        results_page.contains(&format!(
            "<td>64 × 64, 1 channel</td><td>{:.3}</td><td>0.250</td><td>{ratio}</td>",
            ours.median_seconds
        )),
        "the benchmark row"
    );
    assert!(results_page.contains("torch 2.5.1"));
    // A record that does not parse is an error naming it.
    let barbara = results.path().join("tiny/table1/barbara.json");
    std::fs::write(&barbara, "{ not json").unwrap();
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

/// The toolchain the chapter "Running it yourself" and the README ask for is the one
/// `Cargo.toml` declares (`rust-version`, which cargo enforces).
#[test]
fn the_toolchain_asked_for_is_the_crates_rust_version() {
    let toml = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let version = toml
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("Cargo.toml declares its rust-version");
    let asked = format!("{version} or newer");
    for file in ["chapters/running.md", "README.md"] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        assert!(
            text.contains(&asked),
            "{file} does not ask for Rust {asked}"
        );
    }
}

/// Every chapter ends with exercises, each saying what to expect (issue: a reader learns
/// from what should happen, and sees when it does not).
#[test]
fn every_chapter_ends_with_exercises_and_their_expected_outcomes() {
    for chapter in dip::notebooks::chapters(&root()).unwrap() {
        let text = std::fs::read_to_string(root().join(&chapter)).unwrap();
        let at = text
            .rfind("\n## ")
            .unwrap_or_else(|| panic!("{}: no section", chapter.display()));
        let last = &text[at..];
        assert!(
            last.starts_with("\n## Exercises\n"),
            "{}: the last section is not the exercises",
            chapter.display()
        );
        // The numbered items: lines that start with a number and a full stop.
        let exercises = last
            .lines()
            .filter(|l| {
                let digits = l.chars().take_while(|c| c.is_ascii_digit()).count();
                digits > 0 && l[digits..].starts_with(". ")
            })
            .count();
        assert!(exercises > 0, "{}: no exercise", chapter.display());
        assert_eq!(
            last.matches("*Expected:*").count(),
            exercises,
            "{}: an exercise without its expected outcome",
            chapter.display()
        );
    }
}
