//! Helpers shared by the integration tests that read the standard images.
//!
//! The images are not part of the crate: they live in a data folder, found as the
//! `dip` command finds it (`dip::data::data_dir_in`): `DIP_DATA` if set, else `data/`
//! in the crate (where `dip data fetch` puts them), else `../shared/data` beside the
//! crate. Tests only read it, never write there.
//!
//! A test that needs a file which is missing *fails*, naming the file and the
//! command that fetches it. On a machine without the data, set
//! `DIP_SKIP_MISSING_DATA=1` to skip those tests instead (they print why).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dip::Image;

/// The data folder: `$DIP_DATA` if set, else the crate's `data/`, else `../shared/data`.
pub fn data_dir() -> PathBuf {
    dip::data::data_dir_in(std::path::Path::new(env!("CARGO_MANIFEST_DIR")), None)
}

/// Whether a missing data file must fail the test (yes, unless `DIP_SKIP_MISSING_DATA` is set and not `0`).
pub fn data_required() -> bool {
    !std::env::var("DIP_SKIP_MISSING_DATA").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The path of `relative` in the data folder, or `None` (with a note on stderr)
/// when it is missing and data are not required. Panics when it is missing and
/// data are required.
pub fn data_file(relative: &str) -> Option<PathBuf> {
    let path = data_dir().join(relative);
    if path.exists() {
        return Some(path);
    }
    let message = format!(
        "data file {} not found (set DIP_DATA to the data folder, or run `dip data fetch`)",
        path.display()
    );
    if data_required() {
        panic!("{message}");
    }
    eprintln!("skipping: {message}");
    None
}

/// Load every file of `relatives` from the data folder, or `None` if any is
/// missing (see [`data_file`]).
pub fn load_all(relatives: &[&str]) -> Option<Vec<Image>> {
    relatives
        .iter()
        .map(|r| data_file(r).map(|p| Image::load(&p).expect("a readable image")))
        .collect()
}

/// The `dip` program, the data folder set as the tests find it.
pub fn dip_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dip"));
    command.env("DIP_DATA", data_dir());
    command
}

/// `dip` run with `args`, the data folder set as the tests find it.
pub fn dip(args: &[&str]) -> Output {
    dip_command().args(args).output().expect("dip runs")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// A failure as `dip` should fail on bad input: a non-zero exit, exactly one
/// `error:` line, which contains `needle`, and no panic.
pub fn assert_clean_failure(o: &Output, needle: &str) {
    let err = text(&o.stderr);
    assert!(!o.status.success(), "expected failure, got success: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "panic trace: {err}"
    );
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert!(
        errors.len() == 1 && errors[0].contains(needle),
        "expected one error line with '{needle}' in: {err}"
    );
}
