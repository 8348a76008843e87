//! The records of several results folders as one set: `dip results --merge DIR...`,
//! for folders copied back from a cluster's shards, or from several machines.
//!
//! A run (implementation, preset, experiment, image, seed: ours and a PyTorch twin of
//! it are two runs) may be recorded in more than one folder:
//! that is fine when the records hold the same result — the same settings and the
//! same numbers (final PSNR, loss and SSIM, the history, the best PSNR, the
//! baseline), whatever machine, commit or time made them — and the first folder's
//! is kept. Two records of one run with different results are refused, naming
//! both files and the first difference: no table may silently pick one.
//! [`copy_into`] writes a merged set into one results folder, for the book.

use std::path::{Path, PathBuf};

use super::plan::Experiment;
use super::record::{self, Implementation, Record};
use crate::error::{DipError, Result};
use crate::image_io::write_atomically;

/// A record, and the results folder it was read from.
#[derive(Clone, Debug)]
pub struct Found {
    pub record: Record,
    pub folder: PathBuf,
}

impl Found {
    /// The record's file.
    pub fn path(&self) -> PathBuf {
        self.record.path(&self.folder)
    }
}

/// Which run a record is of: its implementation (ours first), preset, experiment,
/// image and seed (what its files are named by).
pub fn run_key(r: &Record) -> (Implementation, &str, Experiment, &str, u64) {
    (
        r.implementation(),
        &r.preset,
        r.experiment,
        &r.image,
        r.seed,
    )
}

/// The run, as a person reads it: `tiny/table1/house seed 0`, and for a twin
/// `pytorch tiny/table1/house seed 0`.
pub fn run_name(r: &Record) -> String {
    let twin = match r.implementation() {
        Implementation::Dip => String::new(),
        other => format!("{} ", other.name()),
    };
    format!(
        "{twin}{}/{}/{} seed {}",
        r.preset,
        r.experiment.name(),
        r.image,
        r.seed
    )
}

/// How the results of two records of the same run differ, first difference first;
/// `None` when they hold the same result (the time, machine, device name, commit
/// and wall time of the runs may differ). Numbers are compared bit for bit.
pub fn difference(a: &Record, b: &Record) -> Option<String> {
    let db = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("{v:?} dB"));
    let number = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("{v:?}"));
    if a.implementation() != b.implementation() {
        return Some(format!(
            "different implementations ({} vs {})",
            a.implementation().name(),
            b.implementation().name()
        ));
    }
    if a.job() != b.job() {
        return Some("different settings (network, fit, task or cut)".into());
    }
    if a.final_psnr != b.final_psnr {
        return Some(format!(
            "final PSNR {} vs {}",
            db(a.final_psnr),
            db(b.final_psnr)
        ));
    }
    if a.final_loss != b.final_loss {
        return Some(format!(
            "final loss {} vs {}",
            number(a.final_loss),
            number(b.final_loss)
        ));
    }
    if a.iterations != b.iterations || a.history != b.history {
        return Some(format!(
            "history ({} vs {} iterations, {} vs {} rollbacks)",
            a.iterations, b.iterations, a.rollbacks, b.rollbacks
        ));
    }
    let rest = |r: &Record| {
        (
            r.rollbacks,
            r.final_ssim,
            r.best_psnr,
            r.best_iteration,
            r.authors_psnr,
            r.baseline.clone(),
        )
    };
    if rest(a) != rest(b) {
        return Some("SSIM, best PSNR, rollbacks or baseline".into());
    }
    None
}

/// Every record of `folders` (ours and the twins': [`record::load_all_records`]), each
/// run once, sorted by [`run_key`]. Two records of one run with different results
/// are an error naming both files.
pub fn merge(folders: &[PathBuf]) -> Result<Vec<Found>> {
    let mut found: Vec<Found> = Vec::new();
    for folder in folders {
        if !folder.is_dir() {
            return Err(DipError::invalid(format!(
                "{}: no such results folder",
                folder.display()
            )));
        }
        for record in record::load_all_records(folder)? {
            found.push(Found {
                record,
                folder: folder.clone(),
            });
        }
    }
    // Stable: of the records of one run, the first folder's comes first.
    found.sort_by(|a, b| run_key(&a.record).cmp(&run_key(&b.record)));
    let mut merged: Vec<Found> = Vec::with_capacity(found.len());
    for f in found {
        match merged.last() {
            Some(kept) if run_key(&kept.record) == run_key(&f.record) => {
                refuse_different(kept, &f)?;
            }
            _ => merged.push(f),
        }
    }
    Ok(merged)
}

/// An error if `b` is a record of the same run as `a` with another result.
fn refuse_different(a: &Found, b: &Found) -> Result<()> {
    match difference(&a.record, &b.record) {
        None => Ok(()),
        Some(how) => Err(DipError::invalid(format!(
            "two different records of {}: {} and {} ({how}); keep one of them",
            run_name(&a.record),
            a.path().display(),
            b.path().display()
        ))),
    }
}

/// The records only.
pub fn records(found: Vec<Found>) -> Vec<Record> {
    found.into_iter().map(|f| f.record).collect()
}

/// Copy the merged runs (each record and its restored image, byte for byte) into
/// the results folder `out`, which the tables and the book then read. A run `out`
/// already has with the same result is left as it is; with another result it is
/// an error, as in [`merge`]. How many runs were copied.
pub fn copy_into(found: &[Found], out: &Path) -> Result<usize> {
    let mut copied = 0;
    for f in found {
        let target = Found {
            record: f.record.clone(),
            folder: out.to_path_buf(),
        };
        let destination = target.path();
        if destination.is_file() {
            let existing = Found {
                record: record::load_record(&destination)?,
                folder: out.to_path_buf(),
            };
            refuse_different(&existing, f)?;
            continue;
        }
        let image = f.record.output_path(&f.folder);
        std::fs::create_dir_all(destination.parent().expect("a folder"))?;
        if image.is_file() {
            write_atomically(&target.record.output_path(out), &std::fs::read(&image)?)?;
        }
        write_atomically(&destination, &std::fs::read(f.path())?)?;
        copied += 1;
    }
    Ok(copied)
}

/// How the records `a` differ from the records `b`, one line per run: runs in one
/// set only, and runs whose results differ. Empty: the same runs, with the same
/// numbers bit for bit (e.g. a sharded run against an unsharded one).
pub fn compare(a: &[Record], b: &[Record]) -> Vec<String> {
    let mut out = Vec::new();
    for r in a {
        match b.iter().find(|o| run_key(o) == run_key(r)) {
            None => out.push(format!("{}: only in the first set", run_name(r))),
            Some(o) => {
                if let Some(how) = difference(r, o) {
                    out.push(format!("{}: {how}", run_name(r)));
                }
            }
        }
    }
    for o in b {
        if !a.iter().any(|r| run_key(r) == run_key(o)) {
            out.push(format!("{}: only in the second set", run_name(o)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reproduce::record::test_record;

    fn put(results: &Path, record: &Record) {
        let path = record.path(results);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_vec(record).unwrap()).unwrap();
        std::fs::write(record.output_path(results), b"png").unwrap();
    }

    #[test]
    fn a_twin_is_another_run_than_ours_of_the_same_preset_image_and_seed() {
        let (a, b, out) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let ours = test_record("house", 0, None, (37.2, 37.9));
        let twin = test_record("house", 0, Some(Implementation::Pytorch), (36.1, 37.9));
        put(a.path(), &ours);
        put(b.path(), &twin);
        assert_ne!(run_key(&ours), run_key(&twin));
        assert_eq!(run_name(&twin), "pytorch cpu/table1/house seed 0");
        assert_eq!(run_name(&ours), "cpu/table1/house seed 0");
        // Different numbers, yet no conflict: two runs, ours first.
        let found = merge(&[a.path().into(), b.path().into()]).unwrap();
        assert_eq!(records(found.clone()), vec![ours.clone(), twin.clone()]);
        assert_eq!(copy_into(&found, out.path()).unwrap(), 2);
        assert!(out.path().join("pytorch/cpu/table1/house.json").is_file());
        assert!(out.path().join("pytorch/cpu/table1/house.png").is_file());
        assert!(out.path().join("cpu/table1/house.json").is_file());
        // The same twin with another result is a conflict, named as the twin's.
        let mut other = twin.clone();
        other.final_psnr = Some(35.0);
        let c = tempfile::tempdir().unwrap();
        put(c.path(), &other);
        let err = merge(&[b.path().into(), c.path().into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("two different records of pytorch cpu/table1/house seed 0"),
            "{err}"
        );
        assert_eq!(
            compare(std::slice::from_ref(&ours), &[ours.clone(), twin]),
            vec!["pytorch cpu/table1/house seed 0: only in the second set".to_string()]
        );
        assert!(difference(&ours, &other)
            .unwrap()
            .contains("different implementations"));
    }
}
