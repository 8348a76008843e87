//! The standard images: where they come from, where they live, how to fetch them.
//!
//! The experiments of the paper run on a fixed collection of public images (the
//! eleven grey images of Table 1, the nine colour images of the denoising
//! benchmark, Set5 and Set14 for super-resolution, the examples of the official
//! repository, and the authors' own results for comparison). None of them is
//! shipped with the crate. Instead, the crate carries a *manifest*: for every file,
//! where it goes in the data folder, the public URL it is downloaded from (pinned to
//! a Git commit, so it cannot change under our feet), its SHA-256 and its size.
//!
//! Three operations are built on the manifest:
//! - [`DataDir::image`] finds a file in the data folder, or says how to get it;
//! - [`fetch`] downloads the files that are missing or damaged, checking each one;
//! - [`verify`] checks the files already there.
//!
//! Files are grouped into *sets*, named by their top-level folder:
//! `dip-repo`, `inpainting-table1`, `denoising-cbm3d9`, `set5`, `set14` and
//! `reference-outputs`. A deeper folder, such as `reference-outputs/sr`, can be
//! named as well and selects the files below it.

use std::ffi::OsString;
use std::fs::File;
use std::io::ErrorKind;
#[cfg(feature = "tools")]
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::error::{DipError, Result};
#[cfg(feature = "tools")]
use crate::image_io::write_atomically;

// ---------------------------------------------------------------------------
// The manifest
// ---------------------------------------------------------------------------

/// The manifest, one file per line: local path, URL, SHA-256, size in bytes,
/// separated by tabs. Lines starting with `#` are comments. It was generated once
/// from `SOURCES.md`, the document that records where each file was found.
const MANIFEST_TSV: &str = include_str!("manifest.tsv");

/// The host every URL of the manifest starts with.
pub const GITHUB_RAW: &str = "https://raw.githubusercontent.com";

/// The environment variable naming the data folder.
pub const DATA_ENV: &str = "DIP_DATA";

/// The environment variable naming a mirror that replaces [`GITHUB_RAW`].
pub const MIRROR_ENV: &str = "DIP_DATA_MIRROR";

/// One file of the standard data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Where the file goes, relative to the data folder, with `/` separators
    /// (for example `inpainting-table1/masked/barbara.png`).
    pub path: &'static str,
    /// Where the file is downloaded from: a `raw.githubusercontent.com` URL at a
    /// fixed commit.
    pub url: &'static str,
    /// The SHA-256 of the file, as 64 lower-case hexadecimal digits.
    pub sha256: &'static str,
    /// The size of the file in bytes.
    pub size: u64,
}

impl ManifestEntry {
    /// The set the file belongs to: the first folder of its path.
    pub fn set(&self) -> &'static str {
        top_folder(self.path)
    }

    /// The URL of the file on the server `base` instead of [`GITHUB_RAW`]
    /// (the rest of the URL is kept, so a mirror must copy GitHub's layout).
    pub fn url_on(&self, base: &str) -> String {
        let rest = &self.url[GITHUB_RAW.len()..];
        format!("{}{}", base.trim_end_matches('/'), rest)
    }
}

/// Every file of the standard data, in the order of the manifest.
pub fn manifest() -> &'static [ManifestEntry] {
    static MANIFEST: OnceLock<Vec<ManifestEntry>> = OnceLock::new();
    MANIFEST.get_or_init(|| parse_manifest(MANIFEST_TSV))
}

/// Reads the manifest text. The text is part of the program, so a malformed line
/// is a bug of the crate and panics (a unit test parses it on every test run).
fn parse_manifest(text: &'static str) -> Vec<ManifestEntry> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(parse_manifest_line)
        .collect()
}

/// Reads one line of the manifest: four fields separated by tabs.
fn parse_manifest_line(line: &'static str) -> ManifestEntry {
    let fields: Vec<&'static str> = line.split('\t').collect();
    assert_eq!(fields.len(), 4, "manifest line without 4 fields: {line}");
    ManifestEntry {
        path: fields[0],
        url: fields[1],
        sha256: fields[2],
        size: fields[3]
            .parse()
            .unwrap_or_else(|_| panic!("manifest line with a bad size: {line}")),
    }
}

/// The first folder of a relative path (`set5` for `set5/baby.png`).
fn top_folder(path: &str) -> &str {
    path.split('/').next().unwrap_or(path)
}

/// The names of the sets, in the order they first appear in the manifest.
pub fn sets() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for entry in manifest() {
        if !names.contains(&entry.set()) {
            names.push(entry.set());
        }
    }
    names
}

/// The files of a set (`None`: every file). A set is a folder of the manifest:
/// a top-level one such as `set5`, or a deeper one such as `reference-outputs/sr`.
/// A name that selects no file is an error that lists the known sets.
pub fn entries(set: Option<&str>) -> Result<Vec<&'static ManifestEntry>> {
    let Some(set) = set else {
        return Ok(manifest().iter().collect());
    };
    let prefix = format!("{}/", set.trim_end_matches('/'));
    let selected: Vec<&'static ManifestEntry> = manifest()
        .iter()
        .filter(|entry| entry.path.starts_with(&prefix))
        .collect();
    if selected.is_empty() {
        return Err(DipError::invalid(format!(
            "unknown data set `{set}`; the sets are: {} (or a folder inside one, such as reference-outputs/sr)",
            sets().join(", ")
        )));
    }
    Ok(selected)
}

/// The manifest entry of a file, if it is one of the standard files.
pub fn entry(path: &str) -> Option<&'static ManifestEntry> {
    manifest().iter().find(|entry| entry.path == path)
}

// ---------------------------------------------------------------------------
// The data folder
// ---------------------------------------------------------------------------

/// The data folder: the `--data DIR` option if given, else the environment
/// variable `DIP_DATA` if set, else `data` in the working directory if it exists
/// (where `dip data fetch` puts the images), else `../shared/data` if it exists,
/// else `data`.
pub fn data_dir(cli: Option<&Path>) -> PathBuf {
    data_dir_in(Path::new(""), cli)
}

/// [`data_dir`] with the two fallbacks relative to `base` instead of the working
/// directory (the tests pass the crate's folder).
pub fn data_dir_in(base: &Path, cli: Option<&Path>) -> PathBuf {
    choose_data_dir(base, cli, std::env::var_os(DATA_ENV))
}

/// The rule of [`data_dir`], with the environment variable passed in (so that it
/// can be tested without changing the environment of the process).
fn choose_data_dir(base: &Path, cli: Option<&Path>, env: Option<OsString>) -> PathBuf {
    if let Some(dir) = cli {
        return dir.to_path_buf();
    }
    if let Some(dir) = env.filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let (fetched, shared) = (base.join("data"), base.join("../shared/data"));
    if !fetched.is_dir() && shared.is_dir() {
        return shared;
    }
    fetched
}

/// A data folder, holding (some of) the files of the manifest under their
/// relative paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data folder at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The data folder chosen by [`data_dir`]: `--data`, else `DIP_DATA`, else `./data`, else `../shared/data`.
    pub fn locate(cli: Option<&Path>) -> Self {
        Self::new(data_dir(cli))
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the file `rel` (a path with `/` separators) is, or would be.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The path of the file `rel`, if it is there.
    ///
    /// A standard file that is missing gives [`DipError::MissingData`], whose message
    /// names the command that downloads it (`dip data fetch SET`); any other missing
    /// file gives [`DipError::ImageNotFound`]. The checksum is not checked here:
    /// that is the job of [`verify`].
    pub fn image(&self, rel: &str) -> Result<PathBuf> {
        let path = self.path(rel);
        if path.is_file() {
            return Ok(path);
        }
        match entry(rel) {
            Some(entry) => Err(DipError::MissingData {
                path,
                set: entry.set().to_string(),
            }),
            None => Err(DipError::ImageNotFound { path }),
        }
    }
}

// ---------------------------------------------------------------------------
// Checking files
// ---------------------------------------------------------------------------

/// The state of one file of the data folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    /// The file is there and its checksum is the one of the manifest.
    Ok,
    /// The file is not there.
    Missing,
    /// The file is there, but its content is not the one of the manifest.
    WrongChecksum {
        /// The SHA-256 of the file found.
        actual: String,
    },
}

/// The state of one file, with its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    /// The path of the file, relative to the data folder.
    pub path: &'static str,
    /// What was found.
    pub status: FileStatus,
}

/// The result of [`verify`]: one check per file of the set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// One check per file, in the order of the manifest.
    pub files: Vec<FileCheck>,
}

impl VerifyReport {
    /// Whether every file is there with the right checksum.
    pub fn all_ok(&self) -> bool {
        self.files.iter().all(|file| file.status == FileStatus::Ok)
    }

    /// The files with the right checksum.
    pub fn ok(&self) -> Vec<&'static str> {
        self.paths_where(|status| *status == FileStatus::Ok)
    }

    /// The files that are not there.
    pub fn missing(&self) -> Vec<&'static str> {
        self.paths_where(|status| *status == FileStatus::Missing)
    }

    /// The files whose content is wrong.
    pub fn wrong_checksum(&self) -> Vec<&'static str> {
        self.paths_where(|status| matches!(status, FileStatus::WrongChecksum { .. }))
    }

    /// The paths of the files whose status passes `keep`.
    fn paths_where(&self, keep: impl Fn(&FileStatus) -> bool) -> Vec<&'static str> {
        self.files
            .iter()
            .filter(|file| keep(&file.status))
            .map(|file| file.path)
            .collect()
    }
}

/// Checks the files of a set (`None`: every file) in the data folder `dir`:
/// each is there with the right checksum, missing, or has the wrong checksum.
/// Only a file that exists but cannot be read is an error.
pub fn verify(dir: &Path, set: Option<&str>) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    for entry in entries(set)? {
        let status = check_file(&dir.join(entry.path), entry)?;
        report.files.push(FileCheck {
            path: entry.path,
            status,
        });
    }
    Ok(report)
}

/// Compares the file at `path` with its manifest entry.
fn check_file(path: &Path, entry: &ManifestEntry) -> Result<FileStatus> {
    let actual = match sha256_of_file(path) {
        Ok(digest) => digest,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(FileStatus::Missing),
        Err(error) => return Err(DipError::Io(error)),
    };
    if actual == entry.sha256 {
        Ok(FileStatus::Ok)
    } else {
        Ok(FileStatus::WrongChecksum { actual })
    }
}

/// The SHA-256 of a file, as lower-case hexadecimal, read in pieces.
fn sha256_of_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// The SHA-256 of some bytes, as lower-case hexadecimal.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

// ---------------------------------------------------------------------------
// Fetching files
// ---------------------------------------------------------------------------

/// What [`fetch`] tells its caller as it goes, to draw a progress bar.
///
/// The order is: one `Present` per file already in place, one `Plan`, then for
/// each file to download a `Start`, some `Bytes`, and a `Done` (or a `Failed`,
/// after which `fetch` returns the error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchEvent {
    /// A file already in place with the right checksum: it is not downloaded.
    Present { path: &'static str },
    /// What will be downloaded: this many files, of this many bytes in all.
    Plan { files: usize, bytes: u64 },
    /// The download of file `number` (from 1) of `count` starts.
    Start {
        number: usize,
        count: usize,
        path: &'static str,
        size: u64,
    },
    /// `done` bytes of the file have arrived, out of `size`.
    Bytes {
        path: &'static str,
        done: u64,
        size: u64,
    },
    /// The file arrived, had the right checksum, and is in place.
    Done { path: &'static str },
    /// The file could not be downloaded, or arrived damaged; nothing was written.
    Failed { path: &'static str, reason: String },
}

/// The result of a successful [`fetch`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// The files downloaded, in order.
    pub downloaded: Vec<&'static str>,
    /// The files that were already in place with the right checksum.
    pub present: Vec<&'static str>,
    /// The number of bytes downloaded.
    pub bytes: u64,
}

/// Downloads the files of a set (`None`: every file) that are missing from the
/// data folder `dir` or have the wrong checksum.
///
/// Each file is checked against the SHA-256 of the manifest before it is written,
/// and written atomically (to a temporary file in the same folder, then renamed),
/// so a file in the data folder is always complete. Folders are created as needed.
/// The first failure stops the fetch with its error: [`DipError::Download`] when the
/// server cannot be reached or refuses, [`DipError::Checksum`] when the bytes are
/// wrong (they are then not written). Files already fetched stay, so running
/// `fetch` again resumes where it stopped.
///
/// The files come from `base_url` if given, else from the mirror named by the
/// environment variable `DIP_DATA_MIRROR`, else from GitHub ([`GITHUB_RAW`]).
/// `progress` is called with a [`FetchEvent`] at each step.
#[cfg(feature = "tools")]
pub fn fetch(
    dir: &Path,
    set: Option<&str>,
    base_url: Option<&str>,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<FetchReport> {
    let base = choose_base_url(base_url, std::env::var(MIRROR_ENV).ok());
    let mut report = FetchReport::default();

    // First decide what to download, so that the total is known up front.
    let mut to_download = Vec::new();
    for entry in entries(set)? {
        if check_file(&dir.join(entry.path), entry)? == FileStatus::Ok {
            progress(FetchEvent::Present { path: entry.path });
            report.present.push(entry.path);
        } else {
            to_download.push(entry);
        }
    }
    progress(FetchEvent::Plan {
        files: to_download.len(),
        bytes: to_download.iter().map(|entry| entry.size).sum(),
    });

    // Then download the files one after the other.
    let agent = http_agent();
    let count = to_download.len();
    for (index, entry) in to_download.into_iter().enumerate() {
        progress(FetchEvent::Start {
            number: index + 1,
            count,
            path: entry.path,
            size: entry.size,
        });
        let mut on_bytes = |done| {
            progress(FetchEvent::Bytes {
                path: entry.path,
                done,
                size: entry.size,
            })
        };
        match fetch_file(&agent, dir, entry, &base, &mut on_bytes) {
            Ok(()) => {
                progress(FetchEvent::Done { path: entry.path });
                report.downloaded.push(entry.path);
                report.bytes += entry.size;
            }
            Err(error) => {
                progress(FetchEvent::Failed {
                    path: entry.path,
                    reason: error.to_string(),
                });
                return Err(error);
            }
        }
    }
    Ok(report)
}

/// The server to download from: the argument, else the mirror of the
/// environment (when not empty), else GitHub.
#[cfg_attr(not(feature = "tools"), allow(dead_code))]
fn choose_base_url(base_url: Option<&str>, env: Option<String>) -> String {
    if let Some(base) = base_url {
        return base.to_string();
    }
    match env {
        Some(base) if !base.is_empty() => base,
        _ => GITHUB_RAW.to_string(),
    }
}

/// The HTTP client: it gives up on a server that does not answer within 30 s, or
/// that stops sending for 60 s.
#[cfg(feature = "tools")]
fn http_agent() -> ureq::Agent {
    use std::time::Duration;
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Downloads one file, checks it, and writes it in place.
#[cfg(feature = "tools")]
fn fetch_file(
    agent: &ureq::Agent,
    dir: &Path,
    entry: &ManifestEntry,
    base: &str,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<()> {
    let path = dir.join(entry.path);
    let bytes = download(agent, &entry.url_on(base), entry.size, on_bytes)?;
    let actual = sha256_hex(&bytes);
    if actual != entry.sha256 {
        return Err(DipError::Checksum {
            path,
            expected: entry.sha256.to_string(),
            actual,
        });
    }
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    write_atomically(&path, &bytes)
}

/// The body of the answer to a GET of `url`, in memory (the files are small).
/// `on_bytes` is told how many bytes have arrived after each piece. At most
/// `expected_size + 1` bytes are read: more than expected is wrong anyway, and
/// the checksum will say so.
#[cfg(feature = "tools")]
fn download(
    agent: &ureq::Agent,
    url: &str,
    expected_size: u64,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<Vec<u8>> {
    let failed = |reason: String| DipError::Download {
        url: url.to_string(),
        reason,
    };
    let mut response = agent
        .get(url)
        .call()
        .map_err(|error| failed(error.to_string()))?;
    let mut body = response.body_mut().as_reader().take(expected_size + 1);

    let mut bytes = Vec::with_capacity(expected_size as usize);
    let mut piece = vec![0u8; 64 * 1024];
    loop {
        let n = match body.read(&mut piece) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(failed(error.to_string())),
        };
        bytes.extend_from_slice(&piece[..n]);
        on_bytes(bytes.len() as u64);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_parses_and_is_well_formed() {
        let all = manifest();
        assert_eq!(all.len(), 124);
        for entry in all {
            assert_eq!(entry.sha256.len(), 64, "{}", entry.path);
            assert!(entry.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(entry.url.starts_with(GITHUB_RAW), "{}", entry.url);
            assert!(entry.size > 0);
            assert!(!entry.path.starts_with('/') && !entry.path.contains(".."));
        }
    }

    #[test]
    fn paths_are_unique() {
        let mut paths: Vec<&str> = manifest().iter().map(|e| e.path).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), manifest().len());
    }

    #[test]
    fn the_sets_are_the_top_level_folders() {
        assert_eq!(
            sets(),
            [
                "dip-repo",
                "inpainting-table1",
                "denoising-cbm3d9",
                "set5",
                "set14",
                "reference-outputs"
            ]
        );
    }

    #[test]
    fn a_set_selects_the_files_below_its_folder() {
        assert_eq!(entries(None).unwrap().len(), 124);
        assert_eq!(entries(Some("set5")).unwrap().len(), 5);
        assert_eq!(entries(Some("set14")).unwrap().len(), 14);
        assert_eq!(entries(Some("inpainting-table1")).unwrap().len(), 22);
        assert_eq!(entries(Some("inpainting-table1/masked")).unwrap().len(), 11);
        assert_eq!(entries(Some("reference-outputs/sr")).unwrap().len(), 38);
        assert_eq!(entries(Some("reference-outputs/sr/")).unwrap().len(), 38);
    }

    #[test]
    fn an_unknown_set_lists_the_known_ones() {
        let message = entries(Some("set6")).unwrap_err().to_string();
        assert!(message.contains("set6"), "{message}");
        assert!(message.contains("set5") && message.contains("dip-repo"));
        // A prefix of a name is not a set.
        assert!(entries(Some("set")).is_err());
    }

    #[test]
    fn a_mirror_replaces_the_host_only() {
        let entry = entry("set5/baby.png").unwrap();
        let url = entry.url_on("http://127.0.0.1:8000/");
        assert!(url.starts_with("http://127.0.0.1:8000/majedelhelou/denoising_datasets/"));
        assert!(url.ends_with("/CSet5/baby.png"));
        assert_eq!(entry.url_on(GITHUB_RAW), entry.url);
    }

    #[test]
    fn the_data_folder_comes_from_the_option_then_the_environment() {
        let cli = Path::new("/from/cli");
        let env = Some(OsString::from("/from/env"));
        let nowhere = Path::new("/nonexistent-base");
        assert_eq!(choose_data_dir(nowhere, Some(cli), env.clone()), cli);
        assert_eq!(choose_data_dir(nowhere, None, env), Path::new("/from/env"));
        assert_eq!(
            choose_data_dir(nowhere, None, Some(OsString::new())),
            nowhere.join("data")
        );
        assert_eq!(choose_data_dir(nowhere, None, None), nowhere.join("data"));
        // ./data (fetched) first, then ../shared/data.
        let base = tempfile::tempdir().unwrap();
        let work = base.path().join("work");
        std::fs::create_dir_all(work.join("../shared/data")).unwrap();
        assert_eq!(
            choose_data_dir(&work, None, None),
            work.join("../shared/data")
        );
        std::fs::create_dir_all(work.join("data")).unwrap();
        assert_eq!(choose_data_dir(&work, None, None), work.join("data"));
    }

    #[test]
    fn the_server_comes_from_the_argument_then_the_environment() {
        let env = Some("http://mirror".to_string());
        assert_eq!(
            choose_base_url(Some("http://arg"), env.clone()),
            "http://arg"
        );
        assert_eq!(choose_base_url(None, env), "http://mirror");
        assert_eq!(choose_base_url(None, Some(String::new())), GITHUB_RAW);
        assert_eq!(choose_base_url(None, None), GITHUB_RAW);
    }

    #[test]
    fn sha256_of_nothing_is_the_known_value() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
