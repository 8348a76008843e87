//! Several fits at once on one machine (`dip reproduce --jobs K`): one worker per
//! device — `cuda:0` … `cuda:K-1`, one fit per GPU, or K workers on the CPU —
//! each taking the next job of the plan (or of its shard) until none is left.
//!
//! On the CPU the K fits share the process's thread pool (rayon's, one thread per
//! core unless `RAYON_NUM_THREADS` says otherwise), which deals its threads out
//! between them as they ask; each fit sees the pool's thread count and so computes
//! exactly what it computes alone. A job's result never depends on which worker
//! ran it, or when: its seed is its own.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use candle_core::Device;

use super::{jobs_to_run, run_job_named, Event, Job, Options, Outcome};
use crate::error::{DipError, Result};

/// The stack of a worker thread: as the main thread's, with room to spare (a
/// backward pass walks the whole graph).
const WORKER_STACK: usize = 64 << 20;

/// What the workers share: the jobs, the next one to take, and whether to stop taking.
struct Queue<'a> {
    jobs: &'a [Job],
    next: AtomicUsize,
    /// Set by an interruption or an error: no worker takes another job.
    halt: AtomicBool,
}

impl Queue<'_> {
    /// The index of the next job to run, unless the jobs are done or the run halted.
    fn take(&self) -> Option<usize> {
        if self.halt.load(Ordering::SeqCst) {
            return None;
        }
        let index = self.next.fetch_add(1, Ordering::SeqCst);
        (index < self.jobs.len()).then_some(index)
    }
}

/// Run the jobs of `options` with one worker per device in `devices`, at the same
/// time. `events` hears every worker (its index in `devices` first), from the
/// workers' threads. Once a run is interrupted (`stop` set, e.g. by Ctrl-C, or
/// `stop_after` reached) or fails, no worker starts another; the runs under way
/// end as they would alone (an interrupted one keeps its checkpoint). The outcomes
/// are returned in the plan's order; the first error, if any, instead.
pub fn run_concurrently(
    options: &Options,
    devices: &[Device],
    stop: &AtomicBool,
    events: &(dyn Fn(usize, Event) + Sync),
) -> Result<Vec<Outcome>> {
    if devices.is_empty() {
        return Err(DipError::invalid("no device to run on"));
    }
    let jobs = jobs_to_run(options)?;
    // Name the commit now, as the run starts: a record names it when it is written,
    // hours later for a long run, when HEAD may have moved on.
    crate::reproduce::record::git_commit();
    let queue = Queue {
        jobs: &jobs,
        next: AtomicUsize::new(0),
        halt: AtomicBool::new(false),
    };
    let done: Vec<Result<Vec<(usize, Outcome)>>> = if devices.len() == 1 {
        vec![worker(0, &devices[0], &queue, options, stop, events)]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = devices
                .iter()
                .enumerate()
                .skip(1)
                .map(|(w, device)| {
                    let queue = &queue;
                    std::thread::Builder::new()
                        .name(format!("dip-worker-{w}"))
                        .stack_size(WORKER_STACK)
                        .spawn_scoped(scope, move || {
                            worker(w, device, queue, options, stop, events)
                        })
                        .map_err(DipError::from)
                })
                .collect();
            // Worker 0 runs on this thread, which `dip` makes one of rayon's
            // (`ops::cpu_util::join_the_thread_pool`): waiting in `join` instead, it
            // would leave the pool a thread short.
            let first = worker(0, &devices[0], &queue, options, stop, events);
            let others = handles.into_iter().map(|h| {
                h.and_then(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
            });
            std::iter::once(first).chain(others).collect()
        })
    };
    let mut outcomes = Vec::new();
    for worker_outcomes in done {
        outcomes.extend(worker_outcomes?);
    }
    outcomes.sort_by_key(|(index, _)| *index);
    Ok(outcomes.into_iter().map(|(_, o)| o).collect())
}

/// One worker: take jobs and run them on `device` until none is left, the run is
/// halted, or one of its own is interrupted. Its outcomes, with their jobs' indices.
fn worker(
    w: usize,
    device: &Device,
    queue: &Queue,
    options: &Options,
    stop: &AtomicBool,
    events: &(dyn Fn(usize, Event) + Sync),
) -> Result<Vec<(usize, Outcome)>> {
    let mut done = Vec::new();
    let total = queue.jobs.len();
    while let Some(index) = queue.take() {
        let job = &queue.jobs[index];
        let outcome = run_job_named(options, job, (index, total), device, stop, &mut |e| {
            events(w, e)
        })
        .inspect_err(|_| queue.halt.store(true, Ordering::SeqCst))?;
        events(
            w,
            Event::Done {
                job,
                outcome: &outcome,
            },
        );
        let interrupted = matches!(outcome, Outcome::Interrupted { .. });
        done.push((index, outcome));
        if interrupted {
            queue.halt.store(true, Ordering::SeqCst);
            break;
        }
    }
    Ok(done)
}
