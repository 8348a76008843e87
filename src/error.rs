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
