//! One error type for the library: every failure a user can cause (a missing or
//! corrupt image, a mask of the wrong size, a device that is not there, a fit
//! that diverged) is a variant with a message that names the problem.

use std::path::PathBuf;

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
pub enum DipError {
    /// An image file that does not exist.
    #[error("image not found: {}", path.display())]
    ImageNotFound { path: PathBuf },

    /// An image file that exists but cannot be decoded.
    #[error("cannot read image {}: {reason}", path.display())]
    ImageUnreadable { path: PathBuf, reason: String },

    /// A file that cannot be written (the folder is missing or read-only, the disk is full...).
    #[error("cannot write {}: {reason}", path.display())]
    Unwritable { path: PathBuf, reason: String },

    /// A standard image that is not in the data folder yet.
    #[error("missing data file {}: run `dip data fetch {set}` (or set DIP_DATA / --data to the folder that has it)", path.display())]
    MissingData { path: PathBuf, set: String },

    /// Input that cannot be used as given (sizes that do not match, an image too small...).
    #[error("{0}")]
    InvalidInput(String),

    /// A device that the build lacks or the machine does not have.
    #[error("device not available: {0}")]
    Device(String),

    /// The fit produced NaN or infinite values and could not recover.
    #[error("the fit diverged: {0}")]
    Diverged(String),

    /// A data file whose checksum does not match the manifest.
    #[error("checksum mismatch for {}: expected {expected}, got {actual}", path.display())]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    /// A download that failed.
    #[error("download of {url} failed: {reason}")]
    Download { url: String, reason: String },

    /// A run of `dip reproduce` that failed: which run, why, and the checkpoint it leaves
    /// (written every `--checkpoint-every` iterations) for `--resume` to continue.
    #[error("run {run} failed: {reason}{}", kept.as_ref().map(|p| format!(" (its checkpoint {} is kept: --resume continues it)", p.display())).unwrap_or_default())]
    RunFailed {
        run: String,
        reason: String,
        kept: Option<PathBuf>,
    },

    /// An error of the tensor library.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),

    /// Any other I/O error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, DipError>;

impl DipError {
    /// Shorthand for [`DipError::InvalidInput`].
    pub fn invalid(message: impl Into<String>) -> Self {
        DipError::InvalidInput(message.into())
    }
}

/// Where the last panic happened, as `file:line:column`, kept by [`report_panics_quietly`]'s hook.
static LAST_PANIC_AT: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Run `f`, a panic inside it (on this thread or in the parallel work it waited for)
/// caught and returned as its message: `Err("internal error: … (at file:line)")`. A
/// panic is a bug of ours; this turns it into a line a user can report instead of a backtrace.
pub fn catch_panic<R>(f: impl FnOnce() -> R) -> std::result::Result<R, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        let at = LAST_PANIC_AT
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .map(|at| format!(" (at {at})"))
            .unwrap_or_default();
        format!("internal error: {message}{at}")
    })
}

/// Replace the default panic message and backtrace note by nothing but a note of where
/// the panic happened, for [`catch_panic`] to report in its one line. With
/// `RUST_BACKTRACE` set, the default hook stays (for debugging).
pub fn report_panics_quietly() {
    if std::env::var_os("RUST_BACKTRACE").is_some() {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        if let Some(at) = info.location() {
            *LAST_PANIC_AT.lock().unwrap_or_else(|e| e.into_inner()) = Some(at.to_string());
        }
    }));
}
