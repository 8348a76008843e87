//! Ctrl-C during a fit: the first asks the fit to stop after its current
//! iteration, so that what it computed is still written (a result, or a
//! checkpoint to resume from); a second ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Install the Ctrl-C handler and return the flag it sets.
pub fn stop_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // Only fails if a handler is already installed (one command per process).
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping after this iteration (Ctrl-C again to quit now)...");
    });
    stop
}
