//! Errors of writing outputs, split by whose fault they are: the operating
//! system's (a full disk, a read-only or unwritable directory) or the
//! request's (a target that is not ours to replace, a bad name).

use std::path::PathBuf;

/// Why an output could not be written or replaced.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system refused a step of writing the output.
    #[error("cannot {what} {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What was being done (`create`, `rename into place`, `lock`, ...).
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The target exists and is not something we may replace.
    #[error("refusing to replace {path}: {why}")]
    NotOurs {
        /// The target.
        path: PathBuf,
        /// What it is, and what would have been accepted.
        why: String,
    },
    /// The target path cannot name an output (`/`, `..`, a name too long).
    #[error("{path}: {why}")]
    BadTarget {
        /// The path as given.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A value that becomes a file name cannot be one.
    #[error("{field} {value:?}: {why}")]
    BadName {
        /// Where the value comes from (a spec field, a header).
        field: String,
        /// The value.
        value: String,
        /// What was expected.
        why: &'static str,
    },
    /// Another run holds the lock on this output.
    #[error("another run is writing {target} (lock held on {lock})")]
    Locked {
        /// The output.
        target: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
}

impl Error {
    /// Wrap an OS error with the path and the step it concerns.
    pub fn io(
        path: impl Into<PathBuf>,
        what: &'static str,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, what, source }
    }

    /// True when the operating system failed us (exit status 3), false when
    /// the request itself cannot be done (exit status 2).
    pub fn is_os_error(&self) -> bool {
        matches!(self, Error::Io { .. })
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
