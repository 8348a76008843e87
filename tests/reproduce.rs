//! `dip reproduce` and `dip results`: the tiny preset end to end, records,
//! checkpoints and resuming, skipping and `--force`, and the tables.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;

use dip::data::DataDir;
use dip::reproduce::paper;
use dip::reproduce::tables::{self, Inputs, Presets, Source};
use dip::reproduce::{self, Experiment, Options, Outcome, Preset, Record};

/// Tiny-preset options on the test data, writing to `results`.
fn tiny(results: &Path, only: Experiment, images: &[&str]) -> Options {
    let mut o = Options::new(Preset::Tiny);
    o.only = vec![only];
    o.images = images.iter().map(|s| s.to_string()).collect();
    o.results = results.to_path_buf();
    o.data = DataDir::new(common::data_dir());
    o
}

fn run(options: &Options) -> Vec<Outcome> {
    reproduce::run(
        options,
        &candle_core::Device::Cpu,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .expect("the runs succeed")
}

fn finished(outcomes: &[Outcome]) -> Vec<&Record> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Finished(r) => Some(&**r),
            _ => None,
        })
        .collect()
}

fn have_data(files: &[&str]) -> bool {
    files.iter().all(|f| common::data_file(f).is_some())
}

#[test]
fn tiny_preset_writes_records_and_images() {
    if !have_data(&[
        "denoising-cbm3d9/image_House256rgb.png",
        "denoising-cbm3d9/image_F16_512rgb.png",
    ]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let outcomes = run(&tiny(dir.path(), Experiment::Denoising, &["house", "F16"]));
    let records = finished(&outcomes);
    assert_eq!(records.len(), 2);
    for name in ["house", "F16"] {
        let json = dir.path().join(format!("tiny/denoising/{name}.json"));
        let png = dir.path().join(format!("tiny/denoising/{name}.png"));
        assert!(json.is_file() && png.is_file(), "{name}: files written");
        let img = dip::Image::load(&png).unwrap();
        assert_eq!((img.channels, img.height, img.width), (3, 32, 32));
        // Every field is there, as the JSON says.
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        for field in [
            "experiment",
            "image",
            "preset",
            "seed",
            "task",
            "cut",
            "net",
            "fit",
            "device",
            "device_name",
            "crate_version",
            "git_commit",
            "started_at",
            "wall_seconds",
            "seconds_per_iteration",
            "history",
            "final_psnr",
            "final_ssim",
            "best_psnr",
            "best_iteration",
            "baseline",
            "output",
        ] {
            assert!(v.get(field).is_some(), "{name}: field {field}");
        }
        let r: Record = serde_json::from_value(v).unwrap();
        assert_eq!(r.experiment, Experiment::Denoising);
        assert_eq!(r.preset, "tiny");
        assert_eq!(r.iterations, 12);
        assert_eq!(r.history.len(), 12);
        assert_eq!(r.net.channels_down, vec![8, 8, 8]);
        assert_eq!(r.fit.exp_weight, Some(0.99));
        assert!(r.final_psnr.unwrap().is_finite());
        assert!(r.best_psnr.unwrap() >= r.final_psnr.unwrap() - 1e-9);
        assert!(r.baseline.as_ref().unwrap().psnr.unwrap() > 15.0);
        assert!(r.seconds_per_iteration > 0.0 && r.wall_seconds > 0.0);
        assert!(!r.git_commit.is_empty());
        assert!(r.started_at.ends_with('Z'));
        // The final PSNR is the saved image's (up to 8-bit quantisation).
        let clean = dip::Image::load(common::data_dir().join(match name {
            "house" => "denoising-cbm3d9/image_House256rgb.png",
            _ => "denoising-cbm3d9/image_F16_512rgb.png",
        }))
        .unwrap();
        let c = clean
            .crop((clean.height - 32) / 2, (clean.width - 32) / 2, 32, 32)
            .unwrap();
        let p = dip::metrics::psnr(&c, &img).unwrap();
        assert!(
            (p - r.final_psnr.unwrap()).abs() < 0.1,
            "{p} vs {:?}",
            r.final_psnr
        );
    }
}

/// A run stopped after k iterations keeps a checkpoint; resumed, it ends exactly
/// as a run that never stopped (a seeded CPU run), with one continuous history.
#[test]
fn an_interrupted_run_resumes_where_it_stopped() {
    if !have_data(&["denoising-cbm3d9/image_House256rgb.png"]) {
        return;
    }
    let straight = tempfile::tempdir().unwrap();
    let stopped = tempfile::tempdir().unwrap();
    let mut o = tiny(straight.path(), Experiment::Denoising, &["house"]);
    o.iterations = Some(30);
    let whole = finished(&run(&o))[0].clone();

    let mut o = tiny(stopped.path(), Experiment::Denoising, &["house"]);
    o.iterations = Some(30);
    o.checkpoint_every = 4;
    o.stop_after = Some(10);
    let outcomes = run(&o);
    let Outcome::Interrupted {
        checkpoint,
        iteration,
    } = &outcomes[0]
    else {
        panic!("not interrupted: {outcomes:?}");
    };
    assert_eq!(*iteration, 10);
    assert!(checkpoint.is_file());
    assert!(!stopped.path().join("tiny/denoising/house.json").exists());

    o.stop_after = None;
    o.resume = true;
    let resumed = finished(&run(&o))[0].clone();
    assert_eq!(resumed.resumed_from, Some(10));
    assert!(!checkpoint.exists(), "the checkpoint is removed when done");
    let iterations: Vec<usize> = resumed.history.iter().map(|h| h.iteration).collect();
    assert_eq!(iterations, (0..30).collect::<Vec<_>>());
    assert_eq!(resumed.history, whole.history);
    assert_eq!(resumed.final_psnr, whole.final_psnr);
    assert_eq!(resumed.started_at.len(), whole.started_at.len());
}

#[test]
fn finished_runs_are_skipped_unless_forced() {
    if !have_data(&[
        "inpainting-table1/house.png",
        "inpainting-table1/masked/house.png",
    ]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut o = tiny(dir.path(), Experiment::Table1, &["house"]);
    o.iterations = Some(3);
    assert_eq!(finished(&run(&o)).len(), 1);
    let again = run(&o);
    assert!(matches!(again[0], Outcome::Skipped(_)), "{again:?}");
    // Other settings are another run.
    o.iterations = Some(4);
    assert_eq!(finished(&run(&o)).len(), 1);
    o.force = true;
    let forced = run(&o);
    assert_eq!(finished(&forced).len(), 1);
    assert_eq!(finished(&forced)[0].iterations, 4);
}

fn dip() -> Command {
    common::dip_command()
}

/// The command line: a run stopped by `--stop-after`, resumed with `--resume`,
/// two seeds, then `dip results --json`.
#[test]
fn cli_reproduce_resume_and_results_json() {
    if !have_data(&[
        "inpainting-table1/house.png",
        "inpainting-table1/masked/house.png",
    ]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().to_str().unwrap();
    let data = common::data_dir();
    let base = |extra: &[&str]| {
        let mut c = dip();
        c.args([
            "reproduce",
            "--preset",
            "tiny",
            "--only",
            "table1",
            "--images",
            "house",
            "--iterations",
            "8",
            "--device",
            "cpu",
            "-q",
            "--results",
            results,
            "--data",
            data.to_str().unwrap(),
        ]);
        c.args(extra);
        c.output().unwrap()
    };
    let out = base(&["--stop-after", "3"]);
    assert!(!out.status.success(), "an interrupted run exits non-zero");
    assert!(dir
        .path()
        .join("tiny/table1/house.ckpt.safetensors")
        .is_file());
    let out = base(&["--resume", "--seeds", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("resumed at iteration 3"), "{stdout}");
    assert!(dir.path().join("tiny/table1/house-seed1.json").is_file());

    let out = dip()
        .args(["results", "--json", "--results", results])
        .output()
        .unwrap();
    assert!(out.status.success());
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 2);
    for (row, seed) in rows.iter().zip([0, 1]) {
        assert_eq!(row["experiment"], "table1");
        assert_eq!(row["image"], "house");
        assert_eq!(row["preset"], "tiny");
        assert_eq!(row["iterations"], 8);
        assert_eq!(row["seed"], seed);
        assert!(row["final_psnr"].as_f64().is_some());
        assert!(row["wall_seconds"].as_f64().is_some());
        assert!(row["device"].as_str().unwrap().starts_with("cpu"));
    }
    let out = dip()
        .args(["results", "--results", results])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("house"));

    // The tables, as the book renders them: our house over two seeds, the authors' re-measured.
    let out = dip()
        .args(["results", "--tables", "--results", results, "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let psnrs: Vec<f64> = rows
        .iter()
        .map(|r| r["final_psnr"].as_f64().unwrap())
        .collect();
    let house = tables::Cell::of(&psnrs).unwrap().format(2);
    // The tiny preset's crops are a table of their own, titled with the preset.
    assert!(stdout.contains("preset `tiny` (PSNR, dB)**"), "{stdout}");
    assert!(stdout.contains("| Deep Image Prior (ours) |"), "{stdout}");
    assert!(
        stdout.contains(&format!("| {house} |")),
        "{house}: {stdout}"
    );
    let authors_house = format!(
        "| {:.2} |",
        paper::TABLE1_DIP_AUTHORS_OUTPUTS[table1_index("house")]
    );
    assert!(
        stdout.contains(&authors_house),
        "the authors' house: {stdout}"
    );
    assert!(
        stdout.contains("2 runs (2 seeds), 8 iterations each"),
        "{stdout}"
    );
}

/// `dip bench --record FILE` writes the benchmark record the book's table reads,
/// and still ends with the median.
#[test]
fn cli_bench_writes_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bench/dip-cpu-64-c1.json");
    let out = dip()
        .args([
            "bench",
            "--size",
            "64",
            "--channels",
            "1",
            "--iterations",
            "1",
            "--warmup",
            "0",
            "--record",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let median: f64 = stdout
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("median seconds per iteration: "))
        .expect("the median last")
        .parse()
        .unwrap();
    let records = reproduce::load_bench_records(dir.path()).unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.file_name(), "dip-cpu-64-c1.json");
    assert_eq!((r.device.as_str(), r.parameters), ("cpu", 2_217_573));
    assert!((r.median_seconds - median).abs() < 1e-4);
    assert!(r.version.starts_with("candle 0.") && r.version.ends_with("(fast kernels)"));
}

/// The column of `image` in Table 1 (and in the paper's constants).
fn table1_index(image: &str) -> usize {
    paper::TABLE1_IMAGES
        .iter()
        .position(|&n| n == image)
        .unwrap()
}

fn inputs<'a>(records: &'a [Record], data: &'a DataDir, presets: Presets) -> Inputs<'a> {
    Inputs {
        records,
        twins: &[],
        bench: &[],
        data: Some(data),
        presets,
    }
}

fn ours(preset: &str) -> Source {
    Source::Ours {
        preset: preset.into(),
    }
}

/// The tables come back from the records on disk: ours beside the paper's, with
/// mean ± sd over seeds, the authors' outputs measured from the data folder, and
/// only the strongest complete preset where the book asks for one.
#[test]
fn tables_regenerate_from_records() {
    let mut files = vec![
        "set5/baby.png".to_string(),
        "reference-outputs/sr/set5/x4/baby.png".to_string(),
        "denoising-cbm3d9/image_F16_512rgb.png".to_string(),
    ];
    for name in paper::TABLE1_IMAGES {
        files.push(format!("inpainting-table1/{name}.png"));
        files.push(format!("inpainting-table1/masked/{name}.png"));
        files.push(format!("reference-outputs/inpainting-table1/{name}.png"));
    }
    if !have_data(&files.iter().map(String::as_str).collect::<Vec<_>>()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Table 1 on every image, and house with a second seed.
    let mut o = tiny(dir.path(), Experiment::Table1, &[]);
    o.iterations = Some(3);
    run(&o);
    let mut o = tiny(dir.path(), Experiment::Table1, &["house"]);
    o.iterations = Some(3);
    o.seeds = 2;
    run(&o);
    let mut o = tiny(dir.path(), Experiment::Sr, &["set5-x4-baby"]);
    o.iterations = Some(3);
    run(&o);

    let records = reproduce::load_records(dir.path()).unwrap();
    assert_eq!(records.len(), 11 + 1 + 1);
    let data = DataDir::new(common::data_dir());

    let t1 = tables::table1(&inputs(&records, &data, Presets::All));
    let house = t1.cell(&ours("tiny"), "House").expect("our house");
    assert_eq!(house.n, 2);
    let seeds: Vec<f64> = records
        .iter()
        .filter(|r| r.image == "house")
        .map(|r| r.final_psnr.unwrap())
        .collect();
    assert!((house.mean - (seeds[0] + seeds[1]) / 2.0).abs() < 1e-9);
    assert!(house.sd.unwrap() > 0.0, "two seeds give an sd");
    // Every image has our number; the mean is the mean of the per-image means.
    let row = t1.row_of(&ours("tiny")).unwrap();
    let cells: Vec<f64> = row.cells.iter().map(|c| c.as_ref().unwrap().mean).collect();
    assert!((cells[11] - cells[..11].iter().sum::<f64>() / 11.0).abs() < 1e-9);
    // The paper's row, and the authors' outputs re-measured by our code.
    let paper_row = t1.row(&tables::paper_label("Deep Image Prior")).unwrap();
    let column = table1_index("house");
    assert_eq!(
        paper_row.cells[column].as_ref().unwrap().mean,
        paper::TABLE1_DIP[column]
    );
    let authors = t1.row_of(&Source::AuthorsOutputs).unwrap();
    for (cell, expected) in authors.cells.iter().zip(paper::TABLE1_DIP_AUTHORS_OUTPUTS) {
        let measured = cell.as_ref().unwrap().mean;
        assert!(
            (measured - expected).abs() < 0.05,
            "{measured} vs {expected}"
        );
    }
    // The markdown shows our numbers, which runs made them, and that they are final PSNRs.
    let md = t1.to_markdown();
    assert!(md.contains(&format!("| {:.2} ± {:.2} |", house.mean, house.sd.unwrap())));
    assert!(
        md.contains(&format!("| {:.2} |", cells[0])),
        "barbara: {md}"
    );
    assert!(md.contains("preset `tiny` on cpu"), "{md}");
    assert!(md.contains("12 runs (2 seeds), 3 iterations each"), "{md}");
    assert!(md.contains(dip::reproduce::record::short_commit(&records[0].git_commit)));
    assert!(md.contains("final output"), "{md}");
    assert!(t1.missing.is_none());

    let sr = tables::sr_images(&inputs(&records, &data, Presets::All), "set5", 4);
    assert!(sr.cell(&ours("tiny"), "baby").is_some());
    let bicubic = Source::Baseline {
        preset: "tiny".into(),
    };
    assert!(sr.cell(&bicubic, "baby").is_some());
    assert!(
        sr.cell(&ours("tiny"), "mean").is_none(),
        "no mean without every image"
    );
    let authors = sr.cell(&Source::AuthorsOutputs, "baby").unwrap();
    let (name, baby) = paper::SR_SET5_X4_DIP[0];
    assert_eq!(name, "baby");
    assert!((authors.mean - baby).abs() < 0.1);

    // A paper-preset run of one image does not hide the complete tiny set...
    let mut paper_house = records
        .iter()
        .find(|r| r.image == "house" && r.seed == 0)
        .unwrap()
        .clone();
    paper_house.preset = "paper".into();
    std::fs::create_dir_all(dir.path().join("paper/table1")).unwrap();
    std::fs::write(
        dir.path().join("paper/table1/house.json"),
        serde_json::to_vec(&paper_house).unwrap(),
    )
    .unwrap();
    let records = reproduce::load_records(dir.path()).unwrap();
    let strongest = tables::table1(&inputs(&records, &data, Presets::Strongest));
    assert!(strongest.row_of(&ours("tiny")).is_some());
    assert!(strongest.row_of(&ours("paper")).is_none());
    assert_eq!(strongest.runs.len(), 1);
    let every = tables::table1(&inputs(&records, &data, Presets::All));
    assert!(every.row_of(&ours("paper")).is_some() && every.row_of(&ours("tiny")).is_some());
    // ...but without a complete set, the strongest preset with a run is shown.
    std::fs::remove_file(dir.path().join("tiny/table1/fingerprint.json")).unwrap();
    let records = reproduce::load_records(dir.path()).unwrap();
    let strongest = tables::table1(&inputs(&records, &data, Presets::Strongest));
    assert!(strongest.row_of(&ours("paper")).is_some());
    assert!(strongest.row_of(&ours("tiny")).is_none());
    assert!(strongest.cell(&ours("paper"), "mean").is_none());
    let figure = tables::strongest_record(&records, Experiment::Table1, "house").unwrap();
    assert_eq!(figure.preset, "paper");

    let mut o = tiny(
        dir.path(),
        Experiment::Demos,
        &["curve-noise", "curve-image"],
    );
    o.iterations = Some(3);
    run(&o);
    let records = reproduce::load_records(dir.path()).unwrap();
    let curves = tables::learning_curves(&records, "tiny");
    assert_eq!(curves.len(), 2);
    assert!(curves.iter().all(|c| c.points.len() == 3));

    let all = inputs(&records, &data, Presets::All);
    let timing = tables::timing(&all);
    let labels: Vec<&str> = timing.rows.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(timing.rows.len(), 4, "{labels:?}");
    let table1_tiny = timing
        .rows
        .iter()
        .find(|r| r.label.starts_with("table1: tiny, cpu"))
        .unwrap();
    // 11 images and a second seed of house, less fingerprint: 11 runs of 3 iterations.
    assert_eq!(table1_tiny.cells[0].as_ref().unwrap().mean, 11.0);
    assert_eq!(table1_tiny.cells[1].as_ref().unwrap().mean, 33.0);
    // Table 1, denoising, SR and its four per-image tables, demos, the three of stopping
    // (the rules, the default, --fast), tiling, timing, bench.
    assert_eq!(tables::all(&all).len(), 14);
}

/// The centred `side`×`side` square, as `Cut::CentreCrop(side)` cuts it.
fn centre_crop(image: &dip::Image, side: usize) -> dip::Image {
    let (h, w) = (side.min(image.height), side.min(image.width));
    image
        .crop((image.height - h) / 2, (image.width - w) / 2, h, w)
        .unwrap()
}

/// Table 1's `authors_psnr`, measured again here: the authors' published output and
/// the ground truth, grey, cut to the tiny preset's 32×32 centre crop, plain PSNR.
fn table1_authors_on_tiny_crop(name: &str) -> f64 {
    let images = common::load_all(&[
        &format!("inpainting-table1/{name}.png"),
        &format!("reference-outputs/inpainting-table1/{name}.png"),
    ])
    .unwrap();
    let truth = centre_crop(&images[0].to_grey(), 32);
    let authors = centre_crop(&images[1].to_grey(), 32);
    dip::metrics::psnr(&truth, &authors).unwrap()
}

/// SR's `authors_psnr`, measured again here: the ground truth cropped top-left to a
/// multiple of the factor, the region the net restores (the centre crop divisible by
/// 32, then the tiny preset's 32×32 centre crop) of it and of the authors' published
/// canvas, and the paper's Y-channel PSNR with its evaluation script's trim.
fn sr_authors_on_tiny_crop(set: &str, factor: usize, name: &str) -> f64 {
    let images = common::load_all(&[
        &format!("{set}/{name}.png"),
        &format!("reference-outputs/sr/{set}/x{factor}/{name}.png"),
    ])
    .unwrap();
    let region = |image: &dip::Image| {
        let (h, w) = (image.height, image.width);
        let gt = image.crop(0, 0, h - h % factor, w - w % factor).unwrap();
        centre_crop(&gt.crop_to_multiple(32).unwrap(), 32)
    };
    let (truth, authors) = (region(&images[0]), region(&images[1]));
    dip::metrics::psnr_y_trimmed(&truth, &authors, dip::metrics::PAPER_SR_TRIM).unwrap()
}

/// The number of `table` from `source` in `column`, which must be there.
fn cell_of(table: &tables::Table, source: &Source, column: &str) -> f64 {
    table
        .cell(source, column)
        .unwrap_or_else(|| panic!("{}: no {source:?} cell in {column}", table.title))
        .mean
}

/// The record of `image` of `experiment`, which must be there.
fn record_of<'a>(records: &'a [Record], experiment: Experiment, image: &str) -> &'a Record {
    records
        .iter()
        .find(|r| r.experiment == experiment && r.image == image)
        .unwrap_or_else(|| panic!("no record of {image}"))
}

fn assert_close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-9, "{what}: {a} vs {b}");
}

/// The sources of the same-pixel rows of the tiny preset.
fn same_pixels() -> Source {
    Source::AuthorsSamePixels {
        preset: "tiny".into(),
    }
}

fn gap() -> Source {
    Source::Gap {
        preset: "tiny".into(),
    }
}

/// Table 1: right after our row and its SSIM, the authors' output on the same pixels,
/// then the gap, whose every cell is ours − the authors' (the mean too).
fn check_table1_same_pixel_rows(records: &[Record], data: &DataDir) {
    let t1 = tables::table1(&inputs(records, data, Presets::All));
    let md = t1.to_markdown();
    let position = |source: &Source| {
        t1.rows
            .iter()
            .position(|r| r.source == *source)
            .unwrap_or_else(|| panic!("no {source:?} row: {md}"))
    };
    let at = position(&Source::Ssim {
        preset: "tiny".into(),
    });
    assert_eq!(position(&ours("tiny")) + 1, at, "{md}");
    assert_eq!(
        (position(&same_pixels()), position(&gap())),
        (at + 1, at + 2),
        "{md}"
    );
    let labels = [&t1.rows[at + 1].label, &t1.rows[at + 2].label];
    assert_eq!(
        labels,
        [
            "the authors' output on the same pixels (tiny)",
            "gap: ours − the authors', same pixels (tiny)"
        ]
    );
    for (name, column) in paper::TABLE1_IMAGES.iter().zip(paper::TABLE1_TITLES) {
        let r = record_of(records, Experiment::Table1, name);
        let (ours_psnr, authors) = (r.final_psnr.unwrap(), r.authors_psnr.unwrap());
        assert_close(cell_of(&t1, &ours("tiny"), column), ours_psnr, name);
        assert_close(cell_of(&t1, &same_pixels(), column), authors, name);
        let gap_cell = cell_of(&t1, &gap(), column);
        assert_close(gap_cell, ours_psnr - authors, &format!("{name}: the gap"));
    }
    let means = cell_of(&t1, &ours("tiny"), "mean") - cell_of(&t1, &same_pixels(), "mean");
    assert_close(cell_of(&t1, &gap(), "mean"), means, "the mean gap");
    let barbara = cell_of(&t1, &gap(), "Barbara");
    // One preset in the table: the labels leave it to the title.
    let row = format!("| gap: ours − the authors', same pixels | {barbara:.2} |");
    assert!(md.contains(&row), "{md}");
    // The gains over the masked input, ours and the authors'.
    let r = record_of(records, Experiment::Table1, "barbara");
    let input = r.baseline.as_ref().unwrap().psnr.unwrap();
    for (authors, expected) in [
        (false, r.final_psnr.unwrap() - input),
        (true, r.authors_psnr.unwrap() - input),
    ] {
        let source = Source::Gain {
            preset: "tiny".into(),
            authors,
        };
        assert!(
            t1.row_of(&source)
                .unwrap()
                .label
                .starts_with("gain over masked input: "),
            "{md}"
        );
        assert_close(
            cell_of(&t1, &source, "Barbara"),
            expected,
            "the gain over the masked input",
        );
    }
}

/// SR: the authors' output on the same pixels, the gap and both gains over bicubic.
fn check_sr_same_pixel_rows(records: &[Record], data: &DataDir) {
    let sr = tables::sr_images(&inputs(records, data, Presets::All), "set5", 4);
    let baby = record_of(records, Experiment::Sr, "set5-x4-baby");
    let (ours_psnr, authors) = (baby.final_psnr.unwrap(), baby.authors_psnr.unwrap());
    let bicubic = baby.baseline.as_ref().unwrap().psnr.unwrap();
    let gain = |authors| Source::Gain {
        preset: "tiny".into(),
        authors,
    };
    for (source, label, expected) in [
        (
            same_pixels(),
            "the authors' output on the same pixels (tiny)",
            authors,
        ),
        (
            gap(),
            "gap: ours − the authors', same pixels (tiny)",
            ours_psnr - authors,
        ),
        (
            gain(false),
            "gain over bicubic: ours (tiny)",
            ours_psnr - bicubic,
        ),
        (
            gain(true),
            "gain over bicubic: the authors' (tiny)",
            authors - bicubic,
        ),
    ] {
        assert_eq!(sr.row_of(&source).map(|r| r.label.as_str()), Some(label));
        assert_close(cell_of(&sr, &source, "baby"), expected, label);
    }
}

/// `dip results --json` prints each record's authors' PSNR.
fn check_results_json(results: &Path, records: &[Record]) {
    let out = dip()
        .args(["results", "--json", "--results", results.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), records.len());
    for row in &rows {
        let image = row["image"].as_str().unwrap();
        let experiment = Experiment::parse(row["experiment"].as_str().unwrap()).unwrap();
        let recorded = record_of(records, experiment, image).authors_psnr.unwrap();
        let printed = row["authors_psnr"]
            .as_f64()
            .unwrap_or_else(|| panic!("{image}: no authors_psnr in {row}"));
        assert_close(printed, recorded, image);
    }
}

/// The same-pixel comparison, end to end: every Table 1 and SR record holds the
/// authors' published output measured on exactly its pixels (checked against a
/// measurement made here), the tables put that row and the gap (for SR, both gains
/// over bicubic) right after ours, and `dip results --json` prints it.
#[test]
fn same_pixel_comparison_in_records_tables_and_results() {
    let mut files = vec![
        "set5/baby.png".to_string(),
        "reference-outputs/sr/set5/x4/baby.png".to_string(),
    ];
    for name in paper::TABLE1_IMAGES {
        files.push(format!("inpainting-table1/{name}.png"));
        files.push(format!("inpainting-table1/masked/{name}.png"));
        files.push(format!("reference-outputs/inpainting-table1/{name}.png"));
    }
    if !have_data(&files.iter().map(String::as_str).collect::<Vec<_>>()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Every Table 1 image (so that the mean column has a number), and one SR image.
    for (experiment, images) in [
        (Experiment::Table1, &[][..]),
        (Experiment::Sr, &["set5-x4-baby"]),
    ] {
        let mut o = tiny(dir.path(), experiment, images);
        o.iterations = Some(2);
        run(&o);
    }
    let records = reproduce::load_records(dir.path()).unwrap();
    assert_eq!(records.len(), 11 + 1);

    // Each record's authors' PSNR is the authors' output on exactly its pixels.
    for name in paper::TABLE1_IMAGES {
        let recorded = record_of(&records, Experiment::Table1, name).authors_psnr;
        let recorded = recorded.expect("Table 1 records the authors' PSNR");
        assert_close(recorded, table1_authors_on_tiny_crop(name), name);
    }
    let baby = record_of(&records, Experiment::Sr, "set5-x4-baby").authors_psnr;
    let baby = baby.expect("SR records the authors' PSNR");
    assert_close(baby, sr_authors_on_tiny_crop("set5", 4, "baby"), "baby");

    let data = DataDir::new(common::data_dir());
    check_table1_same_pixel_rows(&records, &data);
    check_sr_same_pixel_rows(&records, &data);
    check_results_json(dir.path(), &records);
}

/// The stopping experiment: each record says where the rule, replayed on its history,
/// stops, and what that output scores; the table has a row per image, the mean and
/// the worst gap.
#[test]
fn the_stopping_experiment_records_where_the_rule_stops() {
    let dir = tempfile::tempdir().unwrap();
    let outcomes = run(&tiny(dir.path(), Experiment::Stopping, &[]));
    let records = finished(&outcomes);
    assert_eq!(records.len(), paper::DENOISING_IMAGES.len());
    for r in &records {
        let s = r.stopping.as_ref().expect("a stopping summary");
        let rule = r.watch.expect("the rule that watched");
        let detected = s.detected.expect("tiny's unguarded rule detects");
        // The tiny run keeps every iteration in its history.
        assert_eq!(r.history.len(), r.iterations);
        let variances: Vec<Option<f64>> = r.history.iter().map(|h| h.variance).collect();
        assert!(variances[..rule.window - 1].iter().all(Option::is_none));
        assert!(variances[rule.window - 1..].iter().all(Option::is_some));
        // The lowest variance the rule counts is the detected one.
        let counted = &r.history[detected..s.stopped_at.unwrap_or(r.iterations - 1) + 1];
        let lowest = counted
            .iter()
            .filter_map(|h| h.variance)
            .fold(f64::INFINITY, f64::min);
        assert_eq!(r.history[detected].variance, Some(lowest), "{}", r.image);
        assert_eq!(s.auto_psnr, r.history[detected].psnr_clean);
        let best = r
            .history
            .iter()
            .filter_map(|h| h.psnr_clean)
            .fold(f64::MIN, f64::max);
        assert_eq!(s.best_psnr, Some(best));
        assert_eq!(s.fixed_psnr, r.history.last().unwrap().psnr_clean_average);
    }
    let owned: Vec<Record> = records.into_iter().cloned().collect();
    let inputs = Inputs {
        records: &owned,
        twins: &[],
        bench: &[],
        data: None,
        presets: Presets::All,
    };
    let table = tables::stopping(&inputs);
    assert_eq!(table.rows.len(), paper::DENOISING_IMAGES.len() + 2);
    let gap = table.column("gap to the best").unwrap();
    let worst = table.row("worst (tiny)").unwrap().cells[gap]
        .as_ref()
        .unwrap()
        .mean;
    let lowest_gap = table.rows[..9]
        .iter()
        .map(|r| r.cells[gap].as_ref().unwrap().mean)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(worst, lowest_gap);
    assert!(
        worst <= 0.0,
        "the rule cannot beat the best iteration: {worst}"
    );
}

/// The tiling experiment: a tiled run fits each tile on its own and blends them;
/// with one tile as large as the crop it is exactly the whole fit (same problem,
/// same settings), and the tiling table sets the two side by side.
#[test]
fn tiled_runs_blend_tiles_and_one_tile_is_the_whole_fit() {
    if !have_data(&["denoising-cbm3d9/image_F16_512rgb.png"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let options = tiny(dir.path(), Experiment::Tiling, &["F16"]);
    let jobs = options.jobs();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let (whole, tiled) = (&jobs[0], &jobs[1]);
    assert_eq!((whole.tiles, tiled.image.as_str()), (None, "F16-tiles64"));
    // Everything but the tiles is the same.
    assert_eq!(
        (&whole.net, &whole.fit, &whole.task, whole.cut),
        (&tiled.net, &tiled.fit, &tiled.task, tiled.cut)
    );
    let mut one_tile = whole.clone();
    one_tile.image = "F16-one-tile".into();
    one_tile.tiles = Some(dip::tiling::Tiles {
        side: 96,
        overlap: 8,
    });
    let jobs = [whole.clone(), tiled.clone(), one_tile];
    let outcomes = reproduce::run_jobs(
        &options,
        &jobs,
        &candle_core::Device::Cpu,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap();
    let records = finished(&outcomes);
    let (w, t, one) = (records[0], records[1], records[2]);
    assert_eq!((w.tiles, w.tile_count, w.iterations), (None, None, 12));
    // 96 pixels in tiles of 64 overlapping by 8: 2 × 2 tiles of 12 iterations.
    assert_eq!((t.tile_count, t.iterations), (Some(4), 48));
    assert_eq!(
        t.parameters, w.parameters,
        "one tile's network, the whole fit's"
    );
    assert!(t.history.is_empty() && t.final_psnr.unwrap().is_finite());
    let image =
        |r: &Record| dip::Image::load(dir.path().join("tiny/tiling").join(&r.output)).unwrap();
    assert_eq!((image(t).height, image(t).width), (96, 96));
    assert_eq!(one.tile_count, Some(1));
    assert_eq!(image(one).data, image(w).data, "one tile is the whole fit");
    assert_eq!(one.final_psnr, w.final_psnr);
    // The table: whole, tiled and their difference, from these records.
    let data = DataDir::new(common::data_dir());
    let owned: Vec<Record> = [w, t].into_iter().cloned().collect();
    let table = tables::tiling(&inputs(&owned, &data, Presets::All));
    let row = table.row("F16 (tiny)").expect("a row for F16");
    assert_eq!(row.cells[0].as_ref().unwrap().mean, w.final_psnr.unwrap());
    assert_eq!(row.cells[1].as_ref().unwrap().mean, t.final_psnr.unwrap());
    let gap = row.cells[2].as_ref().unwrap().mean;
    assert!((gap - (t.final_psnr.unwrap() - w.final_psnr.unwrap())).abs() < 1e-12);
    let md = table.to_markdown();
    assert!(
        md.contains("4 tiles of 64 × 64 overlapping by 8 pixels"),
        "{md}"
    );
    let said = format!("On this image the tiles scored {gap:+.2} dB against the whole fit");
    assert!(md.contains(&said), "{md}");
    assert!(md.contains("denoising runs take on 32 × 32 crops"), "{md}");
}

/// The README's wall time of the quick preset is its committed records' (each
/// record's `wall_seconds`, summed), so it cannot drift from a re-recording.
#[test]
fn the_readmes_quick_preset_time_is_its_records() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let records = dip::reproduce::load_records(&root.join("results")).unwrap();
    let quick: Vec<&Record> = records.iter().filter(|r| r.preset == "quick").collect();
    let minutes: f64 = quick.iter().map(|r| r.wall_seconds).sum::<f64>() / 60.0;
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let claim = format!("the records' wall times sum to {minutes:.1} minutes");
    assert!(
        readme.contains(&claim),
        "README.md should say \"{claim}\" ({} records)",
        quick.len()
    );
}

/// Determinism, a checked promise: two committed quick records, a grey image's
/// inpainting and a colour image's denoising (made with the release binary, the first on
/// an AMD EPYC without AVX-512, the second on a machine with it), are run again from
/// scratch here and give the same final PSNR and
/// loss, and the same history, to the last bit. Any change of arithmetic — a kernel's
/// order of additions, a seed's use — or a kernel whose sums depend on the CPU's
/// vector width shows here.
#[test]
fn committed_quick_records_are_reproduced_to_the_last_bit() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    let runs = [("table1", "house"), ("denoising", "kodim01")];
    if !have_data(&[
        "inpainting-table1/house.png",
        "inpainting-table1/masked/house.png",
        "reference-outputs/inpainting-table1/house.png",
        "denoising-cbm3d9/kodim01.png",
        "reference-outputs/denoising-cbm3d9/kodim01.png",
    ]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (experiment, image) in runs {
        // Bit for bit holds for any number of threads from 2 up (one thread sums in another order).
        let out = dip()
            .args([
                "reproduce",
                "--preset",
                "quick",
                "--only",
                experiment,
                "--images",
                image,
            ])
            .arg("--results")
            .arg(dir.path())
            .args(["--device", "cpu", "-q"])
            .env("DIP_DATA", common::data_dir())
            .env("RAYON_NUM_THREADS", "2")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let load = |root: &Path| {
            let path = root.join(format!("quick/{experiment}/{image}.json"));
            reproduce::record::load_record(&path).unwrap()
        };
        let (again, before) = (load(dir.path()), load(&committed));
        assert_eq!(
            again.job(),
            before.job(),
            "{experiment}/{image}: the settings changed"
        );
        assert_eq!(
            (
                again.final_psnr.map(f64::to_bits),
                again.final_loss.map(f64::to_bits)
            ),
            (
                before.final_psnr.map(f64::to_bits),
                before.final_loss.map(f64::to_bits)
            ),
            "{experiment}/{image}: final PSNR {:?} now, {:?} recorded",
            again.final_psnr,
            before.final_psnr
        );
        assert_eq!(
            again.history, before.history,
            "{experiment}/{image}: the history"
        );
    }
}

/// The README's account of how long a restoration takes on a 2-core CPU holds for the
/// benchmark records it cites: "a few hundredths of a second at 64 × 64 and about a
/// second at 512 × 512".
#[test]
fn the_readmes_time_per_iteration_is_the_benchmarks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.contains(
        "a few hundredths\nof a second at 64 × 64 and about a second at 512 × 512 (the benchmark records"
    ));
    let bench = dip::reproduce::load_bench_records(&root.join("results")).unwrap();
    let ours = |size: usize| {
        bench
            .iter()
            .find(|r| r.size == size && r.device == "cpu" && !r.version.starts_with("torch"))
            .unwrap_or_else(|| panic!("a CPU record of ours at {size}²"))
            .median_seconds
    };
    assert!((0.01..0.1).contains(&ours(64)), "64²: {} s", ours(64));
    assert!((0.5..2.0).contains(&ours(512)), "512²: {} s", ours(512));
}
