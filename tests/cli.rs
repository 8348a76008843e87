//! The `dip` command: what it prints, and how it refuses bad input
//! (a one-line error naming the problem, a non-zero exit, no panic, no half-written output).

mod common;

use std::process::{Command, Output};

use common::{assert_clean_failure, data_dir, dip, path_str, text};
use dip::reproduce::paper::{SR_SET5_X4_DIP, TABLE1_DIP_AUTHORS_OUTPUTS, TABLE1_IMAGES};

fn stdout(o: &Output) -> String {
    text(&o.stdout)
}

fn stderr(o: &Output) -> String {
    text(&o.stderr)
}

#[test]
fn net_prints_the_parameter_count_last() {
    let o = dip(&["net"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o).lines().last().unwrap(), "parameters: 2217831");
    let o = dip(&["net", "--out-channels", "1"]);
    assert_eq!(stdout(&o).lines().last().unwrap(), "parameters: 2217573");
}

#[test]
fn psnr_of_the_authors_table1_barbara() {
    let d = data_dir();
    let o = dip(&[
        "psnr",
        path_str(&d.join("inpainting-table1/barbara.png")),
        path_str(&d.join("reference-outputs/inpainting-table1/barbara.png")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let last = stdout(&o).lines().last().unwrap().to_string();
    let value: f64 = last.split_whitespace().next().unwrap().parse().unwrap();
    let barbara = TABLE1_IMAGES.iter().position(|&n| n == "barbara").unwrap();
    let authors = TABLE1_DIP_AUTHORS_OUTPUTS[barbara];
    assert!((value - authors).abs() < 0.05, "{last} vs {authors}");
    assert!(last.ends_with(" dB"), "{last}");
}

/// `dip psnr --paper-sr` is the paper's evaluation script: Set5 ×4 butterfly, whose
/// 256×256 ground truth is already a multiple of 4, gives the paper's number
/// ([`SR_SET5_X4_DIP`]; the symmetric 4-pixel shave gave 26.19).
#[test]
fn psnr_paper_sr_is_the_papers_evaluation_script() {
    let d = data_dir();
    let o = dip(&[
        "psnr",
        path_str(&d.join("set5/butterfly.png")),
        path_str(&d.join("reference-outputs/sr/set5/x4/butterfly.png")),
        "--paper-sr",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let last = stdout(&o).lines().last().unwrap().to_string();
    let value: f64 = last.split_whitespace().next().unwrap().parse().unwrap();
    let (_, butterfly) = SR_SET5_X4_DIP
        .into_iter()
        .find(|(n, _)| *n == "butterfly")
        .unwrap();
    assert!((value - butterfly).abs() <= 0.005, "{last} vs {butterfly}");
    let help = stdout(&dip(&["psnr", "--help"]));
    assert!(!help.contains("super-resolution variant"), "{help}");
    assert!(help.contains("--paper-sr"), "{help}");
}

#[test]
fn a_missing_image_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.png");
    let o = dip(&[
        "denoise",
        "/no/such/image.png",
        "-o",
        path_str(&out),
        "--iterations",
        "1",
    ]);
    assert_clean_failure(&o, "image not found: /no/such/image.png");
    assert!(!out.exists());
}

#[test]
fn a_corrupt_image_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nthis is not a png").unwrap();
    let out = dir.path().join("out.png");
    let o = dip(&[
        "denoise",
        path_str(&bad),
        "-o",
        path_str(&out),
        "--iterations",
        "1",
    ]);
    assert_clean_failure(&o, "cannot read image");
    assert!(!out.exists());
}

#[test]
fn a_mask_of_another_size_is_refused() {
    let d = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.png");
    let o = dip(&[
        "inpaint",
        path_str(&d.join("dip-repo/inpainting/vase.png")),
        "--mask",
        path_str(&d.join("dip-repo/inpainting/kate_mask.png")),
        "-o",
        path_str(&out),
        "--iterations",
        "1",
    ]);
    assert_clean_failure(&o, "the mask is 512×512 but the image is 320×320");
    assert!(!out.exists());
}

#[test]
fn zero_iterations_unknown_device_and_unwritable_output_are_refused() {
    let d = data_dir();
    let img = d.join("set5/butterfly.png");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.png");
    let o = dip(&[
        "denoise",
        path_str(&img),
        "-o",
        path_str(&out),
        "--iterations",
        "0",
    ]);
    assert_clean_failure(&o, "iterations must be at least 1");
    let o = dip(&[
        "denoise",
        path_str(&img),
        "-o",
        path_str(&out),
        "--device",
        "tpu",
    ]);
    assert_clean_failure(&o, "unknown device 'tpu'");
    #[cfg(not(feature = "cuda"))]
    {
        let o = dip(&[
            "denoise",
            path_str(&img),
            "-o",
            path_str(&out),
            "--device",
            "cuda",
        ]);
        assert_clean_failure(&o, "--features cuda");
    }
    let o = dip(&[
        "denoise",
        path_str(&img),
        "-o",
        "/no/such/folder/out.png",
        "--iterations",
        "1",
    ]);
    assert_clean_failure(&o, "cannot write /no/such/folder/out.png");
    assert!(!out.exists());
}

#[test]
fn an_image_too_small_for_the_net_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = dir.path().join("tiny.png");
    dip::Image::filled(3, 1, 1, 0.5).save(&tiny).unwrap();
    let out = dir.path().join("out.png");
    let o = dip(&[
        "denoise",
        path_str(&tiny),
        "-o",
        path_str(&out),
        "--iterations",
        "1",
    ]);
    assert_clean_failure(&o, "too small");
    assert!(!out.exists());
}

/// A real run on a small image of odd size: the output has the input's size.
#[test]
fn denoise_keeps_the_size_of_an_odd_sized_image_and_writes_history() {
    let d = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("crop.png");
    dip::Image::load(d.join("set5/butterfly.png"))
        .unwrap()
        .crop(10, 20, 37, 45)
        .unwrap()
        .save(&input)
        .unwrap();
    let out = dir.path().join("out.png");
    let history = dir.path().join("history.json");
    let o = dip(&[
        "denoise",
        path_str(&input),
        "--sigma",
        "25",
        "-o",
        path_str(&out),
        "--iterations",
        "2",
        "--history",
        path_str(&history),
        "--quiet",
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let result = dip::Image::load(&out).unwrap();
    assert_eq!((result.channels, result.height, result.width), (3, 37, 45));
    let steps: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&history).unwrap()).unwrap();
    assert_eq!(steps.len(), 2);
    assert!(steps[0]["psnr_clean"].as_f64().is_some());
    assert!(stdout(&o).contains("PSNR against the clean image"));
    // Outputs get a new file's usual mode (0666 less the umask), not a temporary file's 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let umask = unsafe {
            let m = libc::umask(0o022);
            libc::umask(m);
            m
        };
        for file in [&out, &history] {
            let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o666 & !(umask as u32), "{}", file.display());
        }
    }
}

/// A damaged checkpoint met by `--resume` is a one-line error naming the file.
#[test]
fn a_damaged_checkpoint_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let results = path_str(dir.path());
    let run = |extra: &[&str]| {
        let mut args = vec![
            "reproduce",
            "--preset",
            "tiny",
            "--only",
            "table1",
            "--images",
            "boat",
        ];
        args.extend(["--results", results, "--device", "cpu", "-q"]);
        args.extend(extra);
        dip(&args)
    };
    run(&["--stop-after", "3"]);
    let checkpoint = dir.path().join("tiny/table1/boat.ckpt.safetensors");
    assert!(checkpoint.is_file());
    std::fs::write(&checkpoint, b"not a checkpoint at all").unwrap();
    let o = run(&["--resume"]);
    assert_clean_failure(&o, "is damaged");
    assert!(
        stderr(&o).contains("boat.ckpt.safetensors"),
        "{}",
        stderr(&o)
    );
}

/// `dip results --json | head` ends quietly: no panic when the reader goes away.
#[test]
fn a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let o = dip(&[
        "reproduce",
        "--preset",
        "tiny",
        "--only",
        "table1",
        "--results",
        path_str(dir.path()),
        "--device",
        "cpu",
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut child = Command::new(env!("CARGO_BIN_EXE_dip"))
        .args(["results", "--json", "--results", path_str(dir.path())])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before dip has read its records: its first write meets a closed pipe.
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    assert!(err.is_empty(), "{err}");
}

#[test]
fn missing_standard_data_names_the_fetch_command() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_dip"))
        .args(["data", "verify", "set5", "--data", path_str(dir.path())])
        .output()
        .unwrap();
    assert_clean_failure(&o, "dip data fetch set5");
}

/// `dip reproduce --estimate` times the nets of a plan and prints its cost, last line
/// `estimated wall time: …`, without running (no records written).
#[test]
fn reproduce_estimate_prints_the_wall_time_without_running() {
    let dir = tempfile::tempdir().unwrap();
    let o = dip(&[
        "reproduce",
        "--preset",
        "tiny",
        "--only",
        "table1,denoising",
        "--estimate",
        "--device",
        "cpu",
        "--results",
        path_str(dir.path()),
        "--data",
        path_str(&data_dir()),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("estimated wall time: "), "{out}");
    let seconds: f64 = last
        .split('(')
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(seconds > 0.0, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("table1") && l.contains("11 runs")),
        "{out}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "it ran something"
    );
}

/// A noisy photo without a clean image is denoised with the automatic stopping rule
/// by default; its history carries the variance of the outputs.
#[test]
fn denoising_a_photo_stops_on_its_own_by_default() {
    let d = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("noisy.png");
    let crop = dip::Image::load(d.join("set5/butterfly.png"))
        .unwrap()
        .crop(0, 0, 32, 32)
        .unwrap();
    dip::tasks::denoising::add_noise(&crop, 25.0 / 255.0, &mut dip::rng::Rng::new(3))
        .save(&input)
        .unwrap();
    let (out, history) = (dir.path().join("out.png"), dir.path().join("h.json"));
    let o = dip(&[
        "denoise",
        path_str(&input),
        "-o",
        path_str(&out),
        "--iterations",
        "110",
        "--history",
        path_str(&history),
        "--quiet",
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let said = stdout(&o);
    assert!(said.contains("no stopping point detected"), "{said}");
    // 110 iterations fill the window: its mean is the result.
    assert!(
        said.contains("the mean of the 100 outputs up to it is the result"),
        "{said}"
    );
    // The noise level it estimated, of the σ = 25 it was given (a 32² crop of a textured image).
    let sigma: f64 = said
        .split("the noise estimated at σ ≈ ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no noise level in: {said}"));
    assert!((20.0..32.0).contains(&sigma), "σ̂ = {sigma}");
    let steps: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&history).unwrap()).unwrap();
    assert!(steps[109]["variance"].as_f64().is_some(), "{}", steps[109]);
    assert!(steps[50].get("variance").is_none());
    // --stop fixed turns it off.
    let o = dip(&[
        "denoise",
        path_str(&input),
        "-o",
        path_str(&out),
        "--iterations",
        "3",
        "--stop",
        "fixed",
        "--quiet",
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("stopping point"), "{}", stdout(&o));
}

/// An unwritable --history is refused before the fit, not after it.
#[test]
fn an_unwritable_history_is_refused_before_fitting() {
    let d = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.png");
    let o = dip(&[
        "denoise",
        path_str(&d.join("set5/butterfly.png")),
        "--sigma",
        "25",
        "-o",
        path_str(&out),
        "--iterations",
        "100000",
        "--history",
        "/nonexistent-folder/h.json",
        "--quiet",
    ]);
    assert_clean_failure(&o, "--history");
    assert!(!out.exists());
}

/// A 16-bit input gives a 16-bit PNG output.
#[test]
fn a_16_bit_photo_gives_a_16_bit_result() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("deep.png");
    let raw: Vec<u16> = (0..48 * 40 * 3)
        .map(|i| ((i * 97) % 65536) as u16)
        .collect();
    image::ImageBuffer::<image::Rgb<u16>, _>::from_raw(48, 40, raw)
        .unwrap()
        .save(&input)
        .unwrap();
    assert_eq!(dip::Image::bit_depth(&input).unwrap(), 16);
    let out = dir.path().join("out.png");
    let o = dip(&[
        "denoise",
        path_str(&input),
        "-o",
        path_str(&out),
        "--iterations",
        "2",
        "--stop",
        "fixed",
        "--quiet",
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(dip::Image::bit_depth(&out).unwrap(), 16);
    let decoded = image::open(&out).unwrap();
    assert_eq!(decoded.color(), image::ColorType::Rgb16);
    // An 8-bit input stays 8-bit.
    let small = dir.path().join("small.png");
    dip::Image::filled(3, 40, 48, 0.5).save(&small).unwrap();
    let o = dip(&[
        "denoise",
        path_str(&small),
        "-o",
        path_str(&out),
        "--iterations",
        "1",
        "--stop",
        "fixed",
        "--quiet",
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(dip::Image::bit_depth(&out).unwrap(), 8);
}

/// Inpainting needs holes: a mask that hides nothing, or an image without zeros and
/// no mask, is an error that says so.
#[test]
fn inpainting_without_holes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("photo.png");
    dip::Image::filled(3, 64, 64, 0.5).save(&image).unwrap();
    let mask = dir.path().join("mask.png");
    dip::Image::filled(1, 64, 64, 1.0).save(&mask).unwrap();
    let out = dir.path().join("out.png");
    let o = dip(&[
        "inpaint",
        path_str(&image),
        "--mask",
        path_str(&mask),
        "-o",
        path_str(&out),
        "--quiet",
    ]);
    assert_clean_failure(&o, "the mask hides nothing");
    let o = dip(&["inpaint", path_str(&image), "-o", path_str(&out), "--quiet"]);
    assert_clean_failure(&o, "has no holes");
    assert!(!out.exists());
}

/// A folder of photos: every image restored into the output folder, existing outputs
/// skipped unless --force, a corrupt file reported and skipped (not the end of the
/// batch), a summary line, and a non-zero exit because one failed.
#[test]
fn a_folder_of_photos_is_restored_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    for (name, v) in [("a.png", 0.3), ("c.png", 0.6)] {
        dip::Image::filled(3, 40, 40, v)
            .save(photos.join(name))
            .unwrap();
    }
    std::fs::write(photos.join("b.png"), b"not a png").unwrap();
    std::fs::write(photos.join("notes.txt"), b"ignored").unwrap();
    let out = dir.path().join("restored");
    let args = |force: bool| {
        let mut a = vec![
            "denoise",
            path_str(&photos),
            "-o",
            path_str(&out),
            "--iterations",
            "1",
            "--stop",
            "fixed",
            "--device",
            "cpu",
        ];
        if force {
            a.push("--force");
        }
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| dip(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let o = run(args(false));
    let text = stdout(&o);
    assert!(!o.status.success());
    assert!(
        text.contains("[2/3]") && text.contains("b.png: failed:"),
        "{text}"
    );
    assert!(
        text.contains("2 restored, 0 skipped, 1 failed, of 3 images"),
        "{text}"
    );
    assert!(out.join("a.png").is_file() && out.join("c.png").is_file());
    assert!(!out.join("b.png").exists());
    assert!(
        stderr(&o).contains("error: 1 of 3 images failed"),
        "{}",
        stderr(&o)
    );
    // Again: the finished ones are skipped; with --force they are redone.
    std::fs::remove_file(photos.join("b.png")).unwrap();
    let o = run(args(false));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("0 restored, 2 skipped, 0 failed, of 2 images"),
        "{}",
        stdout(&o)
    );
    let o = run(args(true));
    assert!(
        stdout(&o).contains("2 restored, 0 skipped"),
        "{}",
        stdout(&o)
    );
}

/// `--shard` and `--jobs` refuse what cannot be run, before running anything.
#[test]
fn bad_shards_and_jobs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "reproduce",
        "--preset",
        "tiny",
        "--only",
        "table1",
        "--results",
        path_str(dir.path()),
    ];
    for (extra, needle) in [
        (
            &["--shard", "3/3"][..],
            "--shard 3/3: the shard's index counts from 0 and must be below 3",
        ),
        (
            &["--shard", "0/0"][..],
            "--shard 0/0: the number of shards must be at least 1",
        ),
        (&["--shard", "x"][..], "--shard 'x': expected I/N"),
        (&["--jobs", "0"][..], "--jobs must be at least 1"),
        (
            &["--jobs", "2", "--device", "cuda:1"][..],
            "use --device cuda or cpu, not 'cuda:1'",
        ),
        (
            &["--jobs", "2", "--device", "metal"][..],
            "use --device cuda or cpu, not 'metal'",
        ),
    ] {
        let o = dip(&[&base[..], extra].concat());
        assert_clean_failure(&o, needle);
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
    // More fits than GPUs (here: none, or a build without CUDA).
    let o = dip(&[&base[..], &["--jobs", "64", "--device", "cuda"]].concat());
    assert_clean_failure(&o, "--jobs 64 runs one fit per GPU and needs 64 GPUs");
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(!dir.path().join("tiny").exists(), "nothing ran");
    // Merging a folder that is not there.
    let missing = dir.path().join("missing");
    let o = dip(&["results", "--merge", path_str(&missing)]);
    assert_clean_failure(&o, "no such results folder");
}

/// Tiles against the whole image, same settings: an 80×80 noisy crop restored whole
/// and as overlapping 64×64 tiles (each fitted on its own, blended); both well above
/// the noisy input, the tiled one close to the whole one.
#[test]
fn tiling_restores_close_to_the_whole_image_fit() {
    let d = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.png");
    dip::Image::load(d.join("denoising-cbm3d9/image_F16_512rgb.png"))
        .unwrap()
        .crop(200, 200, 80, 80)
        .unwrap()
        .save(&clean)
        .unwrap();
    let psnr_of = |o: &Output| -> f64 {
        let text = stdout(o);
        let line = text
            .lines()
            .find(|l| l.starts_with("PSNR against the clean image"))
            .unwrap_or_else(|| panic!("{text}"));
        line.split(": ")
            .nth(1)
            .unwrap()
            .trim_end_matches(" dB")
            .parse()
            .unwrap()
    };
    let out = dir.path().join("out.png");
    let run = |extra: &[&str]| {
        let mut a = vec![
            "denoise",
            path_str(&clean),
            "--sigma",
            "25",
            "--no-average",
            "-o",
            path_str(&out),
            "--iterations",
            "80",
            "--quiet",
            "--device",
            "cpu",
        ];
        a.extend(extra);
        dip(&a)
    };
    let whole = run(&[]);
    assert!(whole.status.success(), "{}", stderr(&whole));
    let tiled = run(&["--tile", "64"]);
    assert!(tiled.status.success(), "{}", stderr(&tiled));
    assert!(
        stdout(&tiled).contains("tiles: 4 of 64×64"),
        "{}",
        stdout(&tiled)
    );
    let result = dip::Image::load(&out).unwrap();
    assert_eq!((result.height, result.width), (80, 80));
    let (w, t) = (psnr_of(&whole), psnr_of(&tiled));
    eprintln!("whole {w:.2} dB, tiled {t:.2} dB");
    // The noisy input is about 20.2 dB.
    assert!(
        t > 21.5 && (w - t).abs() < 2.0,
        "whole {w:.2} dB, tiled {t:.2} dB"
    );
    // A budget too small for even one tile is a one-line error.
    let o = run(&["--max-memory", "0.01"]);
    assert_clean_failure(&o, "even a 64×64 tile needs");
}

/// What cannot be done is refused with a one-line error, never an abort: a
/// 20000×20000 image, a factor of 100000.
#[test]
fn huge_images_and_factors_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.png");
    image::GrayImage::from_pixel(20000, 20000, image::Luma([128u8]))
        .save(&big)
        .unwrap();
    let out = dir.path().join("out.png");
    let o = dip(&[
        "denoise",
        path_str(&big),
        "-o",
        path_str(&out),
        "--iterations",
        "1",
        "--quiet",
    ]);
    assert_clean_failure(&o, "400 megapixels");
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    let small = dir.path().join("small.png");
    dip::Image::filled(3, 40, 40, 0.5).save(&small).unwrap();
    let o = dip(&[
        "super-resolve",
        path_str(&small),
        "--factor",
        "100000",
        "-o",
        path_str(&out),
        "--quiet",
    ]);
    assert_clean_failure(&o, "--factor must be from 2 to 32");
    // A factor that is allowed but makes too large a result is refused before any fit.
    let large = dir.path().join("large.png");
    dip::Image::filled(3, 1000, 1000, 0.5).save(&large).unwrap();
    let o = dip(&[
        "super-resolve",
        path_str(&large),
        "--factor",
        "32",
        "-o",
        path_str(&out),
        "--quiet",
    ]);
    assert_clean_failure(&o, "megapixels");
}
