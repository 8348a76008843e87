//! `dip`: Deep Image Prior on your own images, and the tools of the book.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// glibc's allocator, but large zeroed blocks are fresh mappings (`dip::alloc`).
#[global_allocator]
static ALLOCATOR: dip::alloc::DipAllocator = dip::alloc::DipAllocator;

fn main() -> ExitCode {
    // A closed pipe (`dip results --json | head`) ends the program quietly, as it
    // does any Unix tool, instead of a panic on the next print.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Before any tensor exists (candle reads it once).
    dip::ops::cpu_util::keep_candle_single_threaded();
    let args = cli::Cli::parse();
    // Large tensors are reused every iteration: keep freed memory instead of returning it.
    dip::alloc::tune();
    // This thread runs the kernels' parallel loops with rayon's threads, rather than
    // sleeping while they do (the pool cannot exist yet: nothing has run).
    if let Err(e) = dip::ops::cpu_util::join_the_thread_pool() {
        eprintln!("warning: the main thread did not join rayon's pool: {e}");
    }
    // A panic (a bug of ours) ends in one `error:` line too, not a backtrace.
    dip::error::report_panics_quietly();
    let outcome = dip::error::catch_panic(|| cli::run(args))
        .unwrap_or_else(|panic| Err(anyhow::anyhow!(panic)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line naming the problem, no backtrace.
            let causes: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", causes.join(": "));
            ExitCode::FAILURE
        }
    }
}
