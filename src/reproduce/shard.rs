//! Sharding a plan: `dip reproduce --shard I/N` runs the I-th of N shares of the
//! plan's jobs, so that N processes (the tasks of a Slurm job array, or machines
//! that share nothing but a results folder) run the whole plan between them.
//!
//! The jobs (experiment × image × seed) are put in a stable sorted order — by
//! experiment, image and seed, not by the catalogue's order — and dealt
//! round-robin: job `k` of that order goes to shard `k mod N`. Every job is in
//! exactly one shard, whatever N; a job keeps its own seed (the seed is the job's,
//! never the shard's), so a run's record is the same whichever shard made it; and
//! each run writes its own files (`<preset>/<experiment>/<image>[-seed<k>].*`), so
//! shards writing into one results folder never touch the same file.

use std::fmt;

use super::plan::{Experiment, Job};
use crate::error::{DipError, Result};

/// One of `count` shares of a plan: the jobs at positions `index`, `index + count`,
/// `index + 2·count`... of the plan in its [`sorted`] order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which share, from 0 (a Slurm array's `SLURM_ARRAY_TASK_ID`).
    pub index: usize,
    /// How many shares (the array's size).
    pub count: usize,
}

impl Shard {
    /// Shard `index` of `count`; `index` must be below `count`.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 {
            return Err(DipError::invalid(format!(
                "--shard {index}/{count}: the number of shards must be at least 1"
            )));
        }
        if index >= count {
            return Err(DipError::invalid(format!(
                "--shard {index}/{count}: the shard's index counts from 0 and must be below {count} (0/{count} to {}/{count})",
                count - 1
            )));
        }
        Ok(Self { index, count })
    }

    /// Parse `I/N`, as `--shard` takes it.
    pub fn parse(text: &str) -> Result<Self> {
        let malformed = || {
            DipError::invalid(format!(
                "--shard '{text}': expected I/N (shard I of N, I from 0), as in 0/4"
            ))
        };
        let (index, count) = text.trim().split_once('/').ok_or_else(malformed)?;
        let number = |s: &str| s.trim().parse::<usize>().map_err(|_| malformed());
        Self::new(number(index)?, number(count)?)
    }

    /// This shard's share of `jobs`: the plan in its sorted order, dealt round-robin.
    pub fn select(self, jobs: Vec<Job>) -> Vec<Job> {
        sorted(jobs)
            .into_iter()
            .enumerate()
            .filter(|(k, _)| k % self.count == self.index)
            .map(|(_, job)| job)
            .collect()
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What a job is sorted by before it is dealt: its preset, experiment, image and
/// seed (unique within a plan, and independent of the order of the catalogue).
pub fn sort_key(job: &Job) -> (&str, Experiment, &str, u64) {
    (&job.preset, job.experiment, &job.image, job.seed)
}

/// The jobs in the order shards deal them.
pub fn sorted(mut jobs: Vec<Job>) -> Vec<Job> {
    jobs.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reproduce::plan::{jobs, Preset};

    /// A job's identity: what its files are named by.
    fn id(job: &Job) -> (String, Experiment, String, u64) {
        (
            job.preset.clone(),
            job.experiment,
            job.image.clone(),
            job.seed,
        )
    }

    fn plans() -> Vec<Vec<Job>> {
        vec![
            jobs(Preset::Tiny, &[], &[], None, 1),
            jobs(Preset::Quick, &[], &[], None, 3),
            jobs(Preset::Paper, &[Experiment::Table1], &[], None, 2),
            jobs(Preset::Cpu, &[Experiment::Sr], &["baby".into()], None, 1),
        ]
    }

    #[test]
    fn shards_partition_the_plan_exactly() {
        for plan in plans() {
            let mut expected: Vec<_> = plan.iter().map(id).collect();
            expected.sort();
            let unique = expected.len();
            expected.dedup();
            assert_eq!(expected.len(), unique, "a plan names each run once");
            for n in [1, 2, 3, 4, 7, plan.len(), plan.len() + 5] {
                let shares: Vec<Vec<Job>> = (0..n)
                    .map(|i| Shard::new(i, n).unwrap().select(plan.clone()))
                    .collect();
                let mut all: Vec<_> = shares.iter().flatten().map(id).collect();
                all.sort();
                // No job twice, none missing.
                assert_eq!(all, expected, "{n} shards of {} jobs", plan.len());
                // Round-robin: the shares differ in size by at most one.
                let sizes: Vec<usize> = shares.iter().map(Vec::len).collect();
                let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(max - min <= 1, "{n} shards: {sizes:?}");
            }
        }
    }

    #[test]
    fn the_order_is_stable_and_seeds_come_from_the_job() {
        let plan = jobs(Preset::Tiny, &[], &[], None, 3);
        let mut reversed = plan.clone();
        reversed.reverse();
        for n in [2, 3, 5] {
            for i in 0..n {
                let shard = Shard::new(i, n).unwrap();
                let a = shard.select(plan.clone());
                // The share does not depend on the order the plan was listed in...
                assert_eq!(a, shard.select(reversed.clone()));
                // ...and is in the sorted order.
                assert!(a.windows(2).all(|w| sort_key(&w[0]) < sort_key(&w[1])));
                // Each job is unchanged: its seed (and its fit's) is the plan's.
                for job in &a {
                    let original = plan.iter().find(|j| id(j) == id(job)).unwrap();
                    assert_eq!(job, original);
                    assert_eq!(job.fit.seed, job.seed);
                }
            }
        }
        // Three seeds of one image go to three different shards of 3.
        let one = jobs(
            Preset::Tiny,
            &[Experiment::Table1],
            &["house".into()],
            None,
            3,
        );
        for i in 0..3 {
            let share = Shard::new(i, 3).unwrap().select(one.clone());
            assert_eq!(share.len(), 1);
            assert_eq!(share[0].seed, i as u64);
        }
    }

    #[test]
    fn shard_parses_i_of_n_and_refuses_the_rest() {
        assert_eq!(Shard::parse("0/1").unwrap(), Shard { index: 0, count: 1 });
        assert_eq!(Shard::parse("2/3").unwrap().to_string(), "2/3");
        for (text, needle) in [
            ("3/3", "must be below 3"),
            ("0/0", "at least 1"),
            ("x", "expected I/N"),
            ("1/x", "expected I/N"),
            ("-1/3", "expected I/N"),
            ("", "expected I/N"),
        ] {
            let err = Shard::parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
