//! What a preset will cost on this machine, before it runs: `dip reproduce --estimate`.
//!
//! Every job is prepared (its images loaded, cut and framed, which is cheap), the
//! jobs are grouped by what decides the cost of an iteration — the network and the
//! size of its output — and one job of each group is timed for a few iterations
//! after a warm-up. The estimate of a job is its iterations times the median
//! seconds per iteration of its group.

use std::collections::BTreeMap;

use candle_core::Device;

use super::{Experiment, Job, Options};
use crate::error::Result;
use crate::fit;
use crate::net::SkipNet;

/// The estimate of one experiment's share of the plan.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Estimate {
    pub experiment: Experiment,
    pub runs: usize,
    pub iterations: usize,
    pub seconds: f64,
}

/// The cost key of a job: its network (as JSON, so that any difference counts) and output size.
fn cost_key(job: &Job, output: (usize, usize, usize)) -> String {
    let net = serde_json::to_string(&job.net).unwrap_or_default();
    format!("{net} {output:?}")
}

/// Median seconds per iteration of `job` ([`fit::seconds_per_iteration`]).
fn time_job(job: &Job, options: &Options, device: &Device) -> Result<f64> {
    let prepared = job.prepare(&options.data, device)?;
    let net = SkipNet::new(&job.net, job.seed, device)?;
    fit::seconds_per_iteration(net, &prepared.problem, &job.fit)
}

/// The estimated wall time of the jobs of `options` on `device`, per experiment.
pub fn estimate(options: &Options, device: &Device) -> Result<Vec<Estimate>> {
    let mut per_iteration: BTreeMap<String, f64> = BTreeMap::new();
    let mut out: Vec<Estimate> = Vec::new();
    for job in options.jobs() {
        let (job, fits) = one_fit(job, options, device)?;
        let output = job.prepare(&options.data, device)?.problem.output_size;
        let key = cost_key(&job, output);
        let seconds = match per_iteration.get(&key) {
            Some(&s) => s,
            None => {
                let s = time_job(&job, options, device)?;
                per_iteration.insert(key, s);
                s
            }
        };
        let entry = match out.iter_mut().find(|e| e.experiment == job.experiment) {
            Some(e) => e,
            None => {
                out.push(Estimate {
                    experiment: job.experiment,
                    runs: 0,
                    iterations: 0,
                    seconds: 0.0,
                });
                out.last_mut().expect("just pushed")
            }
        };
        entry.runs += 1;
        entry.iterations += fits * job.fit.iterations;
        entry.seconds += seconds * (fits * job.fit.iterations) as f64;
    }
    Ok(out)
}

/// A job as fits of one size: itself once, or a tiled job as one tile's fit times
/// the number of its tiles.
fn one_fit(job: Job, options: &Options, device: &Device) -> Result<(Job, usize)> {
    let Some(tiles) = job.tiles else {
        return Ok((job, 1));
    };
    let input = job.prepare(&options.data, device)?.input;
    let count = tiles.rects(input.height, input.width).len();
    let tile = Job {
        cut: super::Cut::CentreCrop(tiles.side),
        tiles: None,
        ..job
    };
    Ok((tile, count))
}

/// Seconds as hours and minutes (`2 h 05 min`, `14 min`, `40 s`).
pub fn human(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_hours_and_minutes() {
        assert_eq!(human(40.0), "40 s");
        assert_eq!(human(14.0 * 60.0 + 5.0), "14 min");
        assert_eq!(human(2.0 * 3600.0 + 5.0 * 60.0), "2 h 05 min");
    }
}
