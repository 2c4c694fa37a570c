//! The harness's error: what failed, in which system or step, with its cause.

use std::path::PathBuf;

/// A failure of the harness.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// lazarusdb refused or failed.
    #[error("lazarusdb: {0}")]
    Lazarus(#[from] lazarusdb::Error),
    /// SQLite refused or failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// fjall used directly failed.
    #[error("fjall: {0}")]
    Fjall(#[from] fjall::Error),
    /// sled used directly failed.
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// redb used directly failed (its several error types, as text).
    #[error("redb: {0}")]
    Redb(String),
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A process the harness started (the `lazarus` binary) failed or said something unexpected.
    #[error("{0}")]
    Child(String),
    /// A workload read back something other than what it wrote.
    #[error("{0}")]
    Unexpected(String),
    /// The plot could not be encoded.
    #[error("plot: {0}")]
    Plot(String),
}

/// The harness's result.
pub type Result<T> = std::result::Result<T, BenchError>;

/// An I/O error with its path.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BenchError {
    let path = path.into();
    move |source| BenchError::Io { path, source }
}

/// A redb error of any of its kinds.
pub(crate) fn redb(e: impl std::fmt::Display) -> BenchError {
    BenchError::Redb(e.to_string())
}
