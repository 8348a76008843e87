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

use std::path::PathBuf;

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
