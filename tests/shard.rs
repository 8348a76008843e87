//! A plan run in shards (`dip reproduce --shard I/N`) and several fits at once
//! (`--jobs K`) record exactly what one unsharded run records; `dip results
//! --merge` reads several results folders as one set, and refuses two different
//! records of one run.

mod common;

use common::{dip, path_str, text};
use std::path::Path;
use std::process::Output;
use std::sync::atomic::AtomicBool;

use candle_core::Device;
use dip::data::DataDir;
use dip::reproduce::{self, merge, Experiment, Options, Outcome, Preset, Record, Shard};

/// The images of the test plan: two of Table 1, one to denoise, one SR image (×4 and ×8).
const FILES: [&str; 5] = [
    "inpainting-table1/house.png",
    "inpainting-table1/masked/house.png",
    "inpainting-table1/peppers.png",
    "denoising-cbm3d9/image_House256rgb.png",
    "set5/baby.png",
];

fn have_data() -> bool {
    FILES.iter().all(|f| common::data_file(f).is_some())
}

/// The tiny plan of the test: 6 runs (house and peppers of Table 1 and of denoising,
/// baby ×4 and ×8), into `results`.
fn plan(results: &Path) -> Options {
    let mut o = Options::new(Preset::Tiny);
    o.only = vec![Experiment::Table1, Experiment::Denoising, Experiment::Sr];
    o.images = ["house", "peppers", "baby"].map(String::from).to_vec();
    o.iterations = Some(6);
    o.results = results.to_path_buf();
    o.data = DataDir::new(common::data_dir());
    o
}

fn run_on(options: &Options, devices: &[Device]) -> Vec<Outcome> {
    reproduce::run_concurrently(options, devices, &AtomicBool::new(false), &|_, _| {})
        .expect("the runs succeed")
}

fn records(results: &Path) -> Vec<Record> {
    reproduce::load_records(results).expect("readable records")
}

fn finished(outcomes: &[Outcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Finished(_)))
        .count()
}

#[test]
fn three_shards_into_one_folder_record_what_one_run_records() {
    if !have_data() {
        return;
    }
    let whole = tempfile::tempdir().unwrap();
    let shards = tempfile::tempdir().unwrap();
    assert_eq!(finished(&run_on(&plan(whole.path()), &[Device::Cpu])), 6);
    let mut sizes = Vec::new();
    for i in 0..3 {
        let mut o = plan(shards.path());
        o.shard = Some(Shard::new(i, 3).unwrap());
        sizes.push(finished(&run_on(&o, &[Device::Cpu])));
    }
    assert_eq!(sizes, [2, 2, 2]);
    let (a, b) = (records(shards.path()), records(whole.path()));
    assert_eq!(a.len(), 6);
    assert_eq!(merge::compare(&a, &b), Vec::<String>::new());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            (x.final_psnr, x.final_loss, &x.history),
            (y.final_psnr, y.final_loss, &y.history)
        );
    }

    // A re-submitted shard skips what is recorded.
    let mut o = plan(shards.path());
    o.shard = Some(Shard::new(1, 3).unwrap());
    let again = run_on(&o, &[Device::Cpu]);
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|o| matches!(o, Outcome::Skipped(_))));

    // More shards than runs: some shares are empty, which is no error.
    let mut o = plan(shards.path());
    o.shard = Some(Shard::new(7, 8).unwrap());
    assert!(run_on(&o, &[Device::Cpu]).is_empty());
}

/// `--jobs 3` on the CPU: three fits at once, each computing what it computes alone.
#[test]
fn fits_at_once_record_what_one_at_a_time_records() {
    if !have_data() {
        return;
    }
    let one = tempfile::tempdir().unwrap();
    let three = tempfile::tempdir().unwrap();
    run_on(&plan(one.path()), &[Device::Cpu]);
    let outcomes = run_on(
        &plan(three.path()),
        &[Device::Cpu, Device::Cpu, Device::Cpu],
    );
    assert_eq!(finished(&outcomes), 6);
    // In the plan's order, whichever worker ended first.
    let order: Vec<String> = plan(one.path()).jobs().iter().map(|j| j.stem()).collect();
    let got: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            Outcome::Finished(r) => r.job().stem(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, order);
    let differences = merge::compare(&records(three.path()), &records(one.path()));
    assert!(differences.is_empty(), "{differences:?}");
}

/// Interrupted (`stop_after`), the workers stop taking jobs and keep their checkpoints.
#[test]
fn an_interruption_stops_every_worker() {
    if !have_data() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut o = plan(dir.path());
    o.stop_after = Some(2);
    let outcomes = run_on(&o, &[Device::Cpu, Device::Cpu]);
    assert!(!outcomes.is_empty() && outcomes.len() <= 2, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, Outcome::Interrupted { iteration: 2, .. })));
}

fn s(p: &Path) -> &str {
    path_str(p)
}

/// `dip reproduce` of Table 1's house and peppers, 2 seeds each, into `results`,
/// with `extra` options.
fn reproduce(results: &Path, extra: &[&str]) -> Output {
    reproduce_images(results, "house,peppers", "2", extra)
}

/// `dip reproduce` of Table 1's `images`, `seeds` seeds each, into `results`.
fn reproduce_images(results: &Path, images: &str, seeds: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "reproduce",
        "--preset",
        "tiny",
        "--only",
        "table1",
        "--images",
        images,
        "--seeds",
        seeds,
        "--iterations",
        "5",
        "--device",
        "cpu",
        "-q",
        "--results",
        s(results),
    ];
    args.extend_from_slice(extra);
    let out = dip(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    out
}

/// The command line: 3 shards, each into its own folder (as if on three machines),
/// merged; `--jobs 2`; `--compare`; `--merge --into` and the tables of the merged set.
#[test]
fn cli_shards_merge_and_compare() {
    if !have_data() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let parts: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("part{i}")))
        .collect();
    reproduce(&whole, &[]);
    for (i, part) in parts.iter().enumerate() {
        let out = reproduce(part, &["--shard", &format!("{i}/3")]);
        let stdout = text(&out.stdout);
        let share = if i == 0 { 2 } else { 1 };
        assert!(
            stdout.contains(&format!("shard {i}/3: {share} of the plan's 4 runs")),
            "{stdout}"
        );
    }
    let mut merge_args = vec!["results", "--merge"];
    merge_args.extend(parts.iter().map(|p| s(p)));
    let out = dip(&[&merge_args[..], &["--compare", s(&whole)]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("the same 4 run(s) with the same numbers"),
        "{}",
        text(&out.stdout)
    );

    // --jobs 2, in one process.
    let two = dir.path().join("two");
    let out = reproduce(&two, &["--jobs", "2"]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("[4/4 ended]"), "{stdout}");
    assert!(stdout.contains("on cpu #1"), "{stdout}");
    let out = dip(&["results", "--results", s(&two), "--compare", s(&whole)]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Merged into one folder (a duplicate of the same result is no conflict): the
    // tables read the merged set, as the book does.
    let merged = dir.path().join("merged");
    let out = dip(&[&merge_args[..], &[s(&two), "--into", s(&merged)]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("4 run(s) copied"),
        "{}",
        text(&out.stderr)
    );
    for stem in ["house", "house-seed1", "peppers", "peppers-seed1"] {
        for ext in ["json", "png"] {
            assert!(merged.join(format!("tiny/table1/{stem}.{ext}")).is_file());
        }
    }
    let out = dip(&["results", "--results", s(&merged), "--compare", s(&whole)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = dip(&["results", "--tables", "--results", s(&merged)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("preset `tiny` (PSNR, dB)**")
            && text(&out.stdout).contains("| Deep Image Prior (ours) |"),
        "{}",
        text(&out.stdout)
    );
}

/// Two different records of one run, in two folders: refused, naming both files.
#[test]
fn merge_refuses_two_different_records_of_one_run() {
    if !have_data() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    reproduce_images(&a, "house", "1", &[]);
    // The same run again: the same result, at another time.
    reproduce_images(&b, "house", "1", &[]);
    let out = dip(&["results", "--merge", s(&a), s(&b), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 1);

    // Another result for the same run (here: its PSNR edited).
    let file = b.join("tiny/table1/house.json");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let psnr = record["final_psnr"].as_f64().unwrap();
    record["final_psnr"] = serde_json::json!(psnr + 0.5);
    std::fs::write(&file, serde_json::to_vec(&record).unwrap()).unwrap();
    let out = dip(&["results", "--merge", s(&a), s(&b), "--tables"]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.starts_with("error: ") && err.lines().count() == 1,
        "{err}"
    );
    assert!(
        err.contains("two different records of tiny/table1/house seed 0")
            && err.contains(s(&a.join("tiny/table1/house.json")))
            && err.contains(s(&file))
            && err.contains("final PSNR"),
        "{err}"
    );
    // Into a folder that already has the other record: refused too, nothing copied.
    let out = dip(&["results", "--merge", s(&a), "--into", s(&b)]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("two different records"));
    // --compare names the difference.
    let out = dip(&["results", "--results", s(&a), "--compare", s(&b)]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("tiny/table1/house seed 0: final PSNR"),
        "{}",
        text(&out.stderr)
    );
}

/// `--jobs 2`, 20 times in a row: every run succeeds and records what one unsharded
/// run records, bit for bit. (Two fits share rayon's pool; a thread waiting for its
/// own parallel work runs the other fit's tasks, which must find their scratch
/// memory free: before `ScratchStack`, 37 of 50 such runs panicked on 2 cores.)
#[test]
fn two_fits_at_once_twenty_times_in_a_row() {
    if !have_data() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    reproduce(&whole, &[]);
    for attempt in 0..20 {
        let two = dir.path().join(format!("two{attempt}"));
        let out = reproduce(&two, &["--jobs", "2"]);
        assert!(
            text(&out.stdout).contains("[4/4 ended]"),
            "attempt {attempt}"
        );
        let out = dip(&["results", "--results", s(&two), "--compare", s(&whole)]);
        assert!(
            out.status.success(),
            "attempt {attempt}: {}",
            text(&out.stderr)
        );
    }
}

/// A panic inside one fit (here injected at house's third iteration) ends that run
/// with one line naming it and its checkpoint, no backtrace, and a failing exit code;
/// the other worker finishes the run it has and takes no new one.
#[test]
fn a_panic_in_one_fit_ends_that_run_in_one_line() {
    if !have_data() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r");
    let out = common::dip_command()
        .args(["reproduce", "--preset", "tiny", "--only", "table1"])
        .args([
            "--images",
            "house,peppers",
            "--seeds",
            "3",
            "--iterations",
            "60",
        ])
        .args([
            "--checkpoint-every",
            "1",
            "--device",
            "cpu",
            "-q",
            "--jobs",
            "2",
        ])
        .arg("--results")
        .arg(&results)
        .env("DIP_INJECT_PANIC", "house@3")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("dip runs");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let checkpoint = results.join("tiny/table1/house.ckpt.safetensors");
    assert!(
        err.starts_with(
            "error: run tiny/table1/house failed: internal error: injected at iteration 3"
        ) && err.contains("src/reproduce/mod.rs")
            && err.contains(&format!("its checkpoint {} is kept", checkpoint.display())),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert!(checkpoint.is_file());
    // The other worker took house's neighbour in the plan (house seed 1) and finished it;
    // of the 6 runs no third one started.
    let table1 = results.join("tiny/table1");
    let mut files: Vec<String> = std::fs::read_dir(&table1)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "house-seed1.json",
            "house-seed1.png",
            "house.ckpt.safetensors"
        ],
        "{err}"
    );
}
