//! Errors: each names the file, the offset or field, and what was expected.

use std::path::PathBuf;

/// What went wrong reading or writing a VHD.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A structure field holds a value the format forbids.
    #[error("{}: {field} at offset {offset:#x}: {problem}", file.display())]
    Field {
        /// The image.
        file: PathBuf,
        /// Absolute byte offset of the field in the file.
        offset: u64,
        /// The field's name, e.g. `footer.cookie`.
        field: &'static str,
        /// What was found and what was expected.
        problem: String,
    },
    /// The file ends before a structure it must hold.
    #[error("{}: truncated: {what} needs bytes {offset:#x}..{end:#x} but the file has {len:#x}", file.display())]
    Truncated {
        /// The image.
        file: PathBuf,
        /// The structure that does not fit.
        what: &'static str,
        /// Where it starts.
        offset: u64,
        /// Where it ends.
        end: u64,
        /// File length.
        len: u64,
    },
    /// A requested size or option is out of range.
    #[error("{0}")]
    Invalid(String),
    /// The differencing chain could not be followed.
    #[error("{}: parent: {problem}", file.display())]
    Parent {
        /// The child image.
        file: PathBuf,
        /// What failed.
        problem: String,
    },
    /// The output file cannot be written or put in place.
    #[error(transparent)]
    Output(#[from] outputs::Error),
    /// An I/O error on a named file.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Wrap an I/O error with the file it happened on.
    pub fn io(file: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            file: file.into(),
            source,
        }
    }

    /// The underlying I/O error, if this is one (for exit-code choice).
    pub fn as_io(&self) -> Option<&std::io::Error> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
