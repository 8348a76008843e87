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

/// How far `took` lies outside the range of the estimates made around it, relative to
/// `took` (0 inside it). The estimates are made before and after the run, so that a
/// change of the machine's load in between (other processes starting or ending) moves
/// them as it moves the run: what is tested is the estimate, not the load's steadiness.
fn error_outside(estimates: &[f64], took: f64) -> f64 {
    let lo = estimates.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = estimates.iter().copied().fold(0.0, f64::max);
    (lo - took).max(took - hi).max(0.0) / took
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
/// time (of the range of that estimate and one made after the run). `--dry-run` says
/// the same and writes nothing.
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

    let expected_of = |said: &str| {
        let line = said
            .lines()
            .find(|l| l.starts_with("expected time"))
            .unwrap();
        number_after(line, "(") * 40.0
    };
    let run = dip(&[&args[..], &["-o", path_str(&out)]].concat());
    assert!(run.status.success(), "{}", text(&run.stderr));
    let said = text(&run.stdout);
    let took_line = said.lines().find(|l| l.contains("iterations in")).unwrap();
    let took = number_after(took_line, "iterations in ");
    let after = dip(&[&args[..], &["--dry-run", "-o", path_str(&out)]].concat());
    let estimates = [expected_of(&said), expected_of(&text(&after.stdout))];
    let error = error_outside(&estimates, took);
    assert!(
        error <= 0.25,
        "expected {estimates:.2?} s (before and after), took {took:.2} s ({:.0} % outside)",
        100.0 * error
    );
    assert!(out.exists());
}

/// `dip reproduce --estimate` predicts a whole-image run at the paper preset (Table 1's
/// house, 258 × 258 with its border, here 20 iterations) within 20 % of its record's wall
/// time (of the range of the estimates made before and after it).
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
    let estimate = || {
        let estimate = dip(&[&run[..], &["--estimate"]].concat());
        assert!(estimate.status.success(), "{}", text(&estimate.stderr));
        let said = text(&estimate.stdout);
        let line = said
            .lines()
            .find(|l| l.starts_with("estimated wall time"))
            .unwrap();
        number_after(line, "(")
    };
    let before = estimate();

    let out = dip_command()
        .args(run)
        .args(["--results", path_str(dir.path()), "-q"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let record = dip::reproduce::load_records(dir.path()).unwrap().remove(0);
    let took = record.wall_seconds;
    let estimates = [before, estimate()];
    let error = error_outside(&estimates, took);
    eprintln!(
        "dip reproduce, house 258², 20 iterations: estimated {estimates:.2?} s (before and after), took {took:.2} s"
    );
    assert!(
        error <= 0.20,
        "estimated {estimates:.2?} s (before and after), the run took {took:.2} s ({:.0} % outside; {:.3} s an iteration)",
        100.0 * error,
        record.seconds_per_iteration
    );
}

/// A long `dip denoise` offers `--fast` with its own time, timed on its narrow net,
/// and that time is shorter than the standard net's (a quarter of the convolutions'
/// work: more than the timings' noise); with `--fast` the narrow net is the plan.
#[test]
fn a_long_denoising_offers_fast_with_its_time() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("noisy.png");
    let clean = dip::Image::filled(3, 96, 96, 0.5);
    dip::tasks::denoising::add_noise(&clean, 25.0 / 255.0, &mut dip::rng::Rng::new(1))
        .save(&input)
        .unwrap();
    let out = dir.path().join("out.png");
    // Enough iterations for any machine to call it long (over ten minutes).
    let plan = |extra: &[&str]| {
        let args = [
            "denoise",
            path_str(&input),
            "-o",
            path_str(&out),
            "--iterations",
            "200000",
            "--dry-run",
            "--device",
            "cpu",
        ];
        let o = dip(&[&args[..], extra].concat());
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout)
    };
    let said = plan(&[]);
    let standard = number_after(
        said.lines()
            .find(|l| l.starts_with("expected time"))
            .unwrap(),
        "(",
    );
    let shorten = said
        .lines()
        .find(|l| l.starts_with("to shorten it"))
        .unwrap();
    assert!(
        shorten.contains("--fast, a net half as wide (about "),
        "{said}"
    );
    let fast_said = plan(&["--fast"]);
    let fast = number_after(
        fast_said
            .lines()
            .find(|l| l.starts_with("expected time"))
            .unwrap(),
        "(",
    );
    assert!(!fast_said.contains("--fast"), "offered again: {fast_said}");
    assert!(
        fast < 0.8 * standard,
        "--fast: {fast} s an iteration, the standard net {standard}"
    );
    assert!(!out.exists(), "--dry-run wrote {}", out.display());
}
