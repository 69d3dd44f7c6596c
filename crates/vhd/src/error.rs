//! Errors as data: every one names the structure, field and byte offset.

use std::io;

/// What went wrong reading or writing a VHD.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error, with what we were doing.
    #[error("{what}: {source}")]
    Io {
        /// What we were reading or writing.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file ends before a structure we need.
    #[error("truncated: {what} at offset {offset} needs {need} bytes, the file has {have}")]
    Truncated {
        /// The structure.
        what: &'static str,
        /// Where it should start.
        offset: u64,
        /// How many bytes it needs.
        need: u64,
        /// The file length.
        have: u64,
    },
    /// A field holds a value we cannot accept.
    #[error("{structure}.{field} at offset {offset}: expected {expected}, found {found}")]
    BadField {
        /// The structure (`footer`, `dynamic header`, `BAT`, `batmap`, ...).
        structure: &'static str,
        /// The field name.
        field: &'static str,
        /// Absolute byte offset of the field in the file.
        offset: u64,
        /// What would have been valid.
        expected: String,
        /// What the file holds.
        found: String,
    },
    /// A differencing disk's parent cannot be found or does not match.
    #[error("parent of differencing disk: {0}")]
    Parent(String),
    /// A size that no VHD can have.
    #[error("size {size} bytes: {why}")]
    BadSize {
        /// The requested size.
        size: u64,
        /// Why it cannot be used.
        why: &'static str,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }

    pub(crate) fn field(
        structure: &'static str,
        field: &'static str,
        offset: u64,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Error {
        Error::BadField {
            structure,
            field,
            offset,
            expected: expected.into(),
            found: found.into(),
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
