//! `dip reproduce` and `dip results`: the tiny preset end to end, records,
//! checkpoints and resuming, skipping and `--force`, and the tables.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;

use dip::data::DataDir;
use dip::reproduce::{self, tables, Experiment, Options, Outcome, Preset, Record};

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
    Command::new(env!("CARGO_BIN_EXE_dip"))
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
}

/// The tables come back from the records on disk: ours beside the paper's, with
/// mean ± sd over seeds, and the authors' outputs measured from the data folder.
#[test]
fn tables_regenerate_from_records() {
    if !have_data(&[
        "inpainting-table1/house.png",
        "inpainting-table1/masked/house.png",
        "reference-outputs/inpainting-table1/house.png",
        "set5/baby.png",
        "reference-outputs/sr/set5/x4/baby.png",
        "denoising-cbm3d9/image_F16_512rgb.png",
    ]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut o = tiny(dir.path(), Experiment::Table1, &["house"]);
    o.iterations = Some(3);
    o.seeds = 2;
    run(&o);
    let mut o = tiny(dir.path(), Experiment::Sr, &["set5-x4-baby"]);
    o.iterations = Some(3);
    run(&o);

    let records = reproduce::load_records(dir.path()).unwrap();
    assert_eq!(records.len(), 3);
    let data = DataDir::new(common::data_dir());

    let t1 = tables::table1(&records, Some(&data));
    let house = t1.columns.iter().position(|c| c == "house").unwrap();
    let ours = t1.row("Deep Image Prior (ours, tiny)").expect("our row");
    let cell = ours.cells[house].as_ref().unwrap();
    assert_eq!(cell.n, 2);
    assert!(cell.sd.is_some(), "two seeds give an sd");
    let seeds: Vec<f64> = records
        .iter()
        .filter(|r| r.image == "house")
        .map(|r| r.final_psnr.unwrap())
        .collect();
    assert!((cell.mean - (seeds[0] + seeds[1]) / 2.0).abs() < 1e-9);
    assert!(
        ours.cells.last().unwrap().is_none(),
        "no mean without every image"
    );
    let paper = t1.row("Deep Image Prior (paper)").unwrap();
    assert_eq!(paper.cells[house].as_ref().unwrap().mean, 39.16);
    let authors = t1.row("DIP, authors' outputs (measured here)").unwrap();
    let measured = authors.cells[house].as_ref().unwrap().mean;
    assert!((measured - 39.00).abs() < 0.05, "{measured}");
    assert!(t1.to_markdown(2).contains("39.16"));

    let sr = tables::sr_set5_x4(&records, Some(&data));
    let baby = sr.row("Deep Image Prior (ours, tiny)").unwrap().cells[0].clone();
    assert!(baby.is_some());
    assert!(sr.row("bicubic (ours, tiny)").unwrap().cells[0].is_some());
    let authors = sr.row("DIP, authors' outputs (measured here)").unwrap();
    assert!((authors.cells[0].as_ref().unwrap().mean - 31.49).abs() < 0.1);

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

    let timing = tables::timing(&records);
    assert_eq!(timing.rows.len(), 3);
    assert_eq!(tables::all(&records, Some(&data)).len(), 6);
}
