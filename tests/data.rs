//! Tests of the standard data: the manifest against `SOURCES.md`, `verify` on the
//! real data folder and on damaged copies, `fetch` from a small HTTP server on
//! 127.0.0.1, and the message of a missing file.
//!
//! The real data folder is found as the `dip` command finds it: `DIP_DATA` if set,
//! else the crate's `data/`, else `../shared/data` next to the crate. It is
//! read-only: these tests only ever write into temporary folders.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dip::data::{self, DataDir, FetchEvent, FileStatus, GITHUB_RAW};
use dip::DipError;

/// The real data folder.
fn real_data() -> PathBuf {
    let dir = data::data_dir_in(Path::new(env!("CARGO_MANIFEST_DIR")), None);
    assert!(
        dir.is_dir(),
        "the data folder {} is missing: set DIP_DATA",
        dir.display()
    );
    dir
}

/// Every regular file below `dir`, relative paths with `/`.
fn files_below(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for item in std::fs::read_dir(dir).unwrap() {
        let path = item.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            found.extend(
                files_below(&path)
                    .into_iter()
                    .map(|f| format!("{name}/{f}")),
            );
        } else {
            found.push(name);
        }
    }
    found.sort();
    found
}

/// Copies the files of a set from the real data folder into `to`.
fn copy_set(set: &str, to: &Path) {
    for entry in data::entries(Some(set)).unwrap() {
        let target = to.join(entry.path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(real_data().join(entry.path), target).unwrap();
    }
}

// ---------------------------------------------------------------------------
// The manifest
// ---------------------------------------------------------------------------

#[test]
fn the_manifest_has_the_124_files_with_sha256_checksums() {
    let manifest = data::manifest();
    assert_eq!(manifest.len(), 124);
    for entry in manifest {
        assert_eq!(entry.sha256.len(), 64, "{}", entry.path);
        assert!(entry
            .sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }
}

/// The manifest was generated from the table of `SOURCES.md` (file, repository,
/// path in repository, commit, snapshot, size, sha256, ...). When that document
/// is in the data folder, check that the two still agree, row by row.
#[test]
fn the_manifest_matches_sources_md() {
    // Missing, it fails the test (unless DIP_SKIP_MISSING_DATA says to skip).
    let Some(sources) = common::data_file("SOURCES.md") else {
        return;
    };
    let text = std::fs::read_to_string(&sources).expect("a readable SOURCES.md");
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            line.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), data::manifest().len());
    for (row, entry) in rows.iter().zip(data::manifest()) {
        let (file, repo, path, commit, size, sha256) =
            (&row[0], &row[1], &row[2], &row[3], &row[5], &row[6]);
        assert_eq!(entry.path, file);
        assert_eq!(
            entry.url,
            format!("{GITHUB_RAW}/{repo}/{commit}/{path}"),
            "{file}"
        );
        assert_eq!(entry.sha256, sha256, "{file}");
        assert_eq!(entry.size.to_string(), *size, "{file}");
    }
}

// ---------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------

#[test]
fn every_file_of_the_real_data_folder_is_verified() {
    let report = data::verify(&real_data(), None).unwrap();
    assert_eq!(report.files.len(), 124);
    assert!(
        report.all_ok(),
        "missing: {:?}, wrong checksum: {:?}",
        report.missing(),
        report.wrong_checksum()
    );
}

#[test]
fn verify_reports_a_damaged_file_and_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    copy_set("set5", dir.path());

    // Change one byte of bird.png, and remove head.png.
    let bird = dir.path().join("set5/bird.png");
    let mut bytes = std::fs::read(&bird).unwrap();
    bytes[1000] ^= 0x01;
    std::fs::write(&bird, &bytes).unwrap();
    std::fs::remove_file(dir.path().join("set5/head.png")).unwrap();

    let report = data::verify(dir.path(), Some("set5")).unwrap();
    assert!(!report.all_ok());
    assert_eq!(report.wrong_checksum(), ["set5/bird.png"]);
    assert_eq!(report.missing(), ["set5/head.png"]);
    assert_eq!(
        report.ok(),
        ["set5/baby.png", "set5/butterfly.png", "set5/woman.png"]
    );
    let bird_check = report
        .files
        .iter()
        .find(|f| f.path == "set5/bird.png")
        .unwrap();
    assert!(
        matches!(&bird_check.status, FileStatus::WrongChecksum { actual } if *actual == data::sha256_hex(&bytes))
    );
}

#[test]
fn verify_of_an_unknown_set_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = data::verify(dir.path(), Some("set6")).unwrap_err();
    assert!(error.to_string().contains("set5"), "{error}");
}

// ---------------------------------------------------------------------------
// The data folder
// ---------------------------------------------------------------------------

#[test]
fn a_missing_standard_file_names_the_command_that_fetches_it() {
    let dir = tempfile::tempdir().unwrap();
    let error = DataDir::new(dir.path())
        .image("inpainting-table1/masked/barbara.png")
        .unwrap_err();
    assert!(matches!(&error, DipError::MissingData { set, .. } if set == "inpainting-table1"));
    let message = error.to_string();
    assert!(
        message.contains("dip data fetch inpainting-table1"),
        "{message}"
    );
}

#[test]
fn a_present_file_is_found() {
    let data = DataDir::new(real_data());
    let path = data.image("set5/baby.png").unwrap();
    assert_eq!(path, real_data().join("set5/baby.png"));
}

#[test]
fn a_missing_file_outside_the_manifest_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let error = DataDir::new(dir.path()).image("mine/cat.png").unwrap_err();
    assert!(matches!(error, DipError::ImageNotFound { .. }), "{error}");
}

#[test]
fn the_data_option_comes_first() {
    assert_eq!(
        data::data_dir(Some(Path::new("/some/where"))),
        Path::new("/some/where")
    );
}

// ---------------------------------------------------------------------------
// fetch, from a server on 127.0.0.1
// ---------------------------------------------------------------------------

/// A tiny HTTP server that plays GitHub: it answers `GET /owner/repo/commit/path`
/// with the file of the real data folder that the manifest maps to that URL, or
/// 404. With `damage` it changes one byte of every file it sends. It serves at
/// most `max_requests` requests and stops after 30 s, whichever comes first.
/// Returns its base URL (`http://127.0.0.1:PORT`).
fn serve_data(max_requests: usize, damage: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut served = 0;
        while served < max_requests && Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => {
                    answer(stream, damage);
                    served += 1;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    base
}

/// Reads one request from `stream` and answers it, then closes the connection.
fn answer(mut stream: TcpStream, damage: bool) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Skip the headers, up to the empty line.
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok() && header.trim() != "" {
        header.clear();
    }

    let url_path = request_line.split_whitespace().nth(1).unwrap_or("");
    let file = data::manifest()
        .iter()
        .find(|entry| entry.url_on("") == url_path);
    let (status, mut body) = match file {
        Some(entry) => (
            "200 OK",
            std::fs::read(real_data().join(entry.path)).unwrap(),
        ),
        None => ("404 Not Found", b"not found".to_vec()),
    };
    if damage && status == "200 OK" {
        body[100] ^= 0xff;
    }
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

#[test]
fn fetch_downloads_a_set_and_it_verifies() {
    let set = "dip-repo/feature_inversion"; // two small JPEG files
    let base = serve_data(10, false);
    let dir = tempfile::tempdir().unwrap();

    let mut events = Vec::new();
    let report = data::fetch(dir.path(), Some(set), Some(&base), &mut |e| events.push(e)).unwrap();

    assert_eq!(
        report.downloaded,
        [
            "dip-repo/feature_inversion/building.jpg",
            "dip-repo/feature_inversion/monkey.jpg"
        ]
    );
    assert!(report.present.is_empty());
    assert_eq!(report.bytes, 19782 + 16808);
    assert!(data::verify(dir.path(), Some(set)).unwrap().all_ok());
    assert_eq!(
        files_below(dir.path()),
        [
            "dip-repo/feature_inversion/building.jpg",
            "dip-repo/feature_inversion/monkey.jpg"
        ]
    );

    // The events: the plan, then start, bytes up to the size, done, per file.
    assert_eq!(
        events[0],
        FetchEvent::Plan {
            files: 2,
            bytes: 19782 + 16808
        }
    );
    assert!(matches!(
        events[1],
        FetchEvent::Start {
            number: 1,
            count: 2,
            size: 19782,
            ..
        }
    ));
    let most_bytes = events
        .iter()
        .filter_map(|e| match e {
            FetchEvent::Bytes { path, done, .. } if path.ends_with("building.jpg") => Some(*done),
            _ => None,
        })
        .max();
    assert_eq!(most_bytes, Some(19782));
    let done = events
        .iter()
        .filter(|e| matches!(e, FetchEvent::Done { .. }))
        .count();
    assert_eq!(done, 2);
}

#[test]
fn fetch_skips_good_files_and_replaces_damaged_ones() {
    let set = "dip-repo/feature_inversion";
    let dir = tempfile::tempdir().unwrap();
    copy_set(set, dir.path());
    let monkey = dir.path().join("dip-repo/feature_inversion/monkey.jpg");
    std::fs::write(&monkey, b"not a jpeg").unwrap();

    let base = serve_data(10, false);
    let report = data::fetch(dir.path(), Some(set), Some(&base), &mut |_| {}).unwrap();

    assert_eq!(report.present, ["dip-repo/feature_inversion/building.jpg"]);
    assert_eq!(report.downloaded, ["dip-repo/feature_inversion/monkey.jpg"]);
    assert!(data::verify(dir.path(), Some(set)).unwrap().all_ok());
}

#[test]
fn damaged_bytes_from_the_server_are_a_checksum_error_and_are_not_kept() {
    let set = "dip-repo/feature_inversion";
    let base = serve_data(10, true);
    let dir = tempfile::tempdir().unwrap();

    let mut failed = 0;
    let result = data::fetch(dir.path(), Some(set), Some(&base), &mut |e| {
        if matches!(e, FetchEvent::Failed { .. }) {
            failed += 1;
        }
    });

    let error = result.unwrap_err();
    assert!(matches!(error, DipError::Checksum { .. }), "{error}");
    assert_eq!(failed, 1);
    assert_eq!(files_below(dir.path()), Vec::<String>::new());
}

#[test]
fn a_file_the_server_does_not_have_is_a_download_error() {
    let base = serve_data(10, false);
    let dir = tempfile::tempdir().unwrap();
    // The server knows the manifest's URLs; a mirror with another layout does not.
    let result = data::fetch(
        dir.path(),
        Some("dip-repo/feature_inversion"),
        Some(&format!("{base}/elsewhere")),
        &mut |_| {},
    );
    let error = result.unwrap_err();
    assert!(matches!(error, DipError::Download { .. }), "{error}");
    assert!(error.to_string().contains("404"), "{error}");
    assert_eq!(files_below(dir.path()), Vec::<String>::new());
}
