//! The PyTorch twin of our Table 1 and denoising runs (`benches/torch_twin.py`) and what reads it:
//! `dip reproduce --list --json` hands the twin our jobs; its records live in
//! `results/pytorch/<preset>/<experiment>/`, apart from ours; `dip results --tables` prints
//! our tables unchanged and, after them, ours against the twin.
//!
//! The last test runs the script itself, behind a flag, since the default tests must
//! not need PyTorch:
//! `DIP_TORCH_PYTHON=/path/to/python cargo test --release --test torch_twin -- --ignored`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_clean_failure, dip, path_str, text};
use dip::reproduce::record::Implementation;
use dip::reproduce::{self, plan, Experiment, Job, Preset, Record};

const HOUSE: [&str; 3] = [
    "inpainting-table1/house.png",
    "inpainting-table1/masked/house.png",
    "reference-outputs/inpainting-table1/house.png",
];

fn have_data() -> bool {
    common::load_all(&HOUSE).is_some()
}

/// Our tiny runs of `experiment` on house, `seeds` seeds, into `results`.
fn our_tiny_runs(results: &Path, experiment: &str, seeds: &str) {
    let o = dip(&[
        "reproduce",
        "--preset",
        "tiny",
        "--only",
        experiment,
        "--images",
        "house",
        "--seeds",
        seeds,
        "--results",
        path_str(results),
        "--device",
        "cpu",
        "-q",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn the_listed_jobs_are_the_plan_as_json() {
    let o = dip(&[
        "reproduce",
        "--preset",
        "cpu",
        "--only",
        "table1",
        "--images",
        "house,hill",
        "--seeds",
        "2",
        "--iterations",
        "300",
        "--list",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let listed: Vec<Job> = serde_json::from_slice(&o.stdout).unwrap();
    let images = vec!["house".to_string(), "hill".to_string()];
    let planned = plan::jobs(Preset::Cpu, &[Experiment::Table1], &images, Some(300), 2);
    assert_eq!(listed, planned);
    assert_eq!(listed.len(), 4);
    let o = dip(&["reproduce", "--preset", "cpu", "--json"]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("--list"), "{}", text(&o.stderr));
}

#[test]
fn twin_records_leave_our_tables_as_they_were_and_add_their_own() {
    if !have_data() {
        assert!(!common::data_required(), "the standard data is missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    our_tiny_runs(dir.path(), "table1", "2");
    let tables = |dir: &Path| {
        let o = dip(&["results", "--tables", "--results", path_str(dir)]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout)
    };
    let before = tables(dir.path());
    assert!(!before.contains("PyTorch twin"));
    // Twins of our two runs, 1 dB below them, where the twin writes them.
    for mut r in reproduce::load_records(dir.path()).unwrap() {
        r.implementation = Some(Implementation::Pytorch);
        r.final_psnr = r.final_psnr.map(|p| p - 1.0);
        std::fs::create_dir_all(r.dir(dir.path())).unwrap();
        std::fs::write(r.path(dir.path()), serde_json::to_vec(&r).unwrap()).unwrap();
    }
    let p = |r: &Record| r.path(dir.path());
    assert!(p(&reproduce::load_twin_records(dir.path()).unwrap()[0])
        .starts_with(dir.path().join("pytorch/tiny/table1")));
    let after = tables(dir.path());
    assert!(after.starts_with(&before), "our tables changed");
    let added = &after[before.len()..];
    assert!(added.contains("ours against a PyTorch twin"), "{added}");
    assert!(added.contains("| house (tiny; 2 + 2 seeds) |"), "{added}");
    // Both seeds 1 dB apart: the difference is exactly 1 with the same spread on both sides.
    assert!(added.contains(" | 1.00 | "), "{added}");
    let o = dip(&["results", "--results", path_str(dir.path())]);
    assert!(
        text(&o.stdout).contains("house (pytorch)"),
        "{}",
        text(&o.stdout)
    );
}

fn twin_script(args: &[&str]) -> std::process::Output {
    let python = std::env::var("DIP_TORCH_PYTHON")
        .expect("set DIP_TORCH_PYTHON to a Python that has torch installed");
    Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/torch_twin.py"
        ))
        .args(["--dip", env!("CARGO_BIN_EXE_dip"), "--data"])
        .arg(common::data_dir())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"))
}

/// Our tiny runs of `experiment` on house (`seeds` seeds) in a new folder, then the
/// twin's of the same jobs under its `pytorch/tiny/<experiment>/`: the folder and that
/// one (none without the standard data).
fn ours_and_the_twins(experiment: &str, seeds: &str) -> Option<(tempfile::TempDir, PathBuf)> {
    if !have_data() {
        assert!(!common::data_required(), "the standard data is missing");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    our_tiny_runs(dir.path(), experiment, seeds);
    let out = dir.path().join("pytorch/tiny").join(experiment);
    let o = twin_script(&[
        "--experiment",
        experiment,
        "--preset",
        "tiny",
        "--images",
        "house",
        "--seeds",
        seeds,
        "--out",
        path_str(&out),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    Some((dir, out))
}

#[test]
#[ignore = "needs PyTorch: DIP_TORCH_PYTHON=python cargo test --release --test torch_twin -- --ignored"]
fn the_twin_writes_records_of_our_jobs_that_we_read() {
    let Some((dir, out)) = ours_and_the_twins("table1", "2") else {
        return;
    };
    let ours = reproduce::load_records(dir.path()).unwrap();
    let twins = reproduce::load_twin_records(dir.path()).unwrap();
    assert_eq!(twins.len(), 2);
    for (o, t) in ours.iter().zip(&twins) {
        assert_eq!(t.implementation, Some(Implementation::Pytorch));
        assert_eq!(t.job(), o.job(), "the same settings");
        assert_eq!((t.iterations, t.history.len()), (12, 12));
        assert!(t.output_path(dir.path()).is_file());
        // What does not depend on the fit is the same to the last digits.
        let close = |a: Option<f64>, b: Option<f64>| (a.unwrap() - b.unwrap()).abs() < 1e-9;
        assert!(close(t.authors_psnr, o.authors_psnr));
        assert!(close(
            t.baseline.as_ref().unwrap().psnr,
            o.baseline.as_ref().unwrap().psnr
        ));
        assert!(t.final_psnr.unwrap() > t.baseline.as_ref().unwrap().psnr.unwrap());
    }
    // Recorded runs are skipped; a bad image is one line and a non-zero exit.
    let o = twin_script(&[
        "--preset",
        "tiny",
        "--images",
        "house",
        "--out",
        path_str(&out),
    ]);
    assert!(
        text(&o.stdout).contains("already recorded"),
        "{}",
        text(&o.stdout)
    );
    let o = twin_script(&[
        "--preset",
        "tiny",
        "--images",
        "nosuch",
        "--out",
        path_str(&out),
    ]);
    assert_clean_failure(&o, "no table1 run named nosuch");
    assert_eq!(text(&o.stderr).lines().count(), 1, "{}", text(&o.stderr));
}

/// The twin of our denoising runs: the same job, its own noisy image (so the noisy
/// input's PSNR is close to ours, not equal), the output average as the final image.
#[test]
#[ignore = "needs PyTorch: DIP_TORCH_PYTHON=python cargo test --release --test torch_twin -- --ignored"]
fn the_twin_denoises_as_our_denoising_jobs_say() {
    let Some((dir, _)) = ours_and_the_twins("denoising", "1") else {
        return;
    };
    let (ours, twins) = (
        reproduce::load_records(dir.path()).unwrap(),
        reproduce::load_twin_records(dir.path()).unwrap(),
    );
    let (o, t) = (&ours[0], &twins[0]);
    assert_eq!((t.experiment, t.job()), (Experiment::Denoising, o.job()));
    assert_eq!(t.authors_psnr, o.authors_psnr);
    let noisy = |r: &Record| r.baseline.as_ref().unwrap().psnr.unwrap();
    assert_eq!(t.baseline.as_ref().unwrap().name, "noisy input");
    assert!(
        (noisy(t) - noisy(o)).abs() < 0.5,
        "{} vs {}",
        noisy(t),
        noisy(o)
    );
    // The final image is the output average: its PSNR is the last averaged one.
    let last = t.history.last().unwrap();
    let averaged = last.psnr_clean_average.unwrap();
    assert!((t.final_psnr.unwrap() - averaged).abs() < 1e-9, "{last:?}");
}
