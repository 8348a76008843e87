//! What `dip` says a restoration or a reproduction will take, against the time it took:
//! the estimate (a few iterations timed) and a run of the same fit, one after the other.
//! A test binary of its own, so that no other test binary runs beside these timings,
//! and its tests take turns ([`one_at_a_time`]): each one's estimate and run would
//! otherwise share the two cores with the other's.

mod common;

use std::sync::{Mutex, MutexGuard};

use common::{dip, dip_command, path_str, text};

/// Held by each timing test for its whole length, so that no two of them overlap.
/// (Only `dip` processes run while it is held: no rayon work of this process.)
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The number after `prefix` in `line` (up to the next space).
fn number_after(line: &str, prefix: &str) -> f64 {
    let rest = &line[line
        .find(prefix)
        .unwrap_or_else(|| panic!("no '{prefix}' in: {line}"))
        + prefix.len()..];
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

/// `dip denoise` says how long it will take before it starts: within 25 % of the fit's
/// time. `--dry-run` says the same and writes nothing.
#[test]
fn a_restoration_takes_the_time_it_announces() {
    let _turn = one_at_a_time();
    let Some(path) = common::data_file("denoising-cbm3d9/image_F16_512rgb.png") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let crop = dir.path().join("crop.png");
    dip::Image::load(&path)
        .unwrap()
        .crop(200, 200, 96, 96)
        .unwrap()
        .save(&crop)
        .unwrap();
    let out = dir.path().join("out.png");
    let args = [
        "denoise",
        path_str(&crop),
        "--sigma",
        "25",
        "--iterations",
        "40",
        "--stop",
        "fixed",
        "-q",
    ];

    let dry = dip(&[&args[..], &["--dry-run", "-o", path_str(&out)]].concat());
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let said = text(&dry.stdout);
    assert!(
        said.contains("plan: 1 fit of 96×96, 40 iterations"),
        "{said}"
    );
    assert!(said.contains("expected time: about"), "{said}");
    assert!(!out.exists(), "--dry-run wrote {}", out.display());

    let run = dip(&[&args[..], &["-o", path_str(&out)]].concat());
    assert!(run.status.success(), "{}", text(&run.stderr));
    let said = text(&run.stdout);
    let expected_line = said
        .lines()
        .find(|l| l.starts_with("expected time"))
        .unwrap();
    let expected = number_after(expected_line, "(") * 40.0;
    let took_line = said.lines().find(|l| l.contains("iterations in")).unwrap();
    let took = number_after(took_line, "iterations in ");
    let error = (expected - took).abs() / took;
    assert!(
        error <= 0.25,
        "expected {expected:.2} s, took {took:.2} s ({:.0} %)",
        100.0 * error
    );
    assert!(out.exists());
}

/// `dip reproduce --estimate` predicts a whole-image run at the paper preset (Table 1's
/// house, 258 × 258 with its border, here 20 iterations) within 20 % of its record's wall time.
#[test]
fn reproduce_estimates_a_whole_image_run() {
    let _turn = one_at_a_time();
    if common::data_file("inpainting-table1/masked/house.png").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = [
        "reproduce",
        "--preset",
        "paper",
        "--only",
        "table1",
        "--images",
        "house",
        "--iterations",
        "20",
    ];
    let estimate = dip(&[&run[..], &["--estimate"]].concat());
    assert!(estimate.status.success(), "{}", text(&estimate.stderr));
    let said = text(&estimate.stdout);
    let line = said
        .lines()
        .find(|l| l.starts_with("estimated wall time"))
        .unwrap();
    let expected = number_after(line, "(");

    let out = dip_command()
        .args(run)
        .args(["--results", path_str(dir.path()), "-q"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let record = dip::reproduce::load_records(dir.path()).unwrap().remove(0);
    let took = record.wall_seconds;
    let error = (expected - took).abs() / took;
    eprintln!(
        "dip reproduce, house 258², 20 iterations: estimated {expected:.2} s, took {took:.2} s"
    );
    assert!(
        error <= 0.20,
        "estimated {expected:.2} s, the run took {took:.2} s ({:.0} %; {:.3} s an iteration)",
        100.0 * error,
        record.seconds_per_iteration
    );
}
