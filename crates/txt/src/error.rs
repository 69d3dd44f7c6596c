//! Errors as data: every parse failure names the structure, the field and
//! the byte offset, so a user can find the bad byte with a hex dump.

/// Everything that can go wrong reading TXT/tboot artifacts or predicting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input ends before a field does.
    #[error("{what}: {field} at offset {offset:#x} needs {need} bytes but only {have} remain")]
    Truncated {
        /// The structure being read (`ACM header`, `tb_policy`, ...).
        what: &'static str,
        /// The field that did not fit.
        field: &'static str,
        /// Byte offset of the field in the input.
        offset: usize,
        /// Bytes the field needs.
        need: usize,
        /// Bytes left from `offset`.
        have: usize,
    },
    /// A field holds a value we cannot accept.
    #[error("{what}: {field} at offset {offset:#x}: {msg}")]
    BadField {
        /// The structure being read.
        what: &'static str,
        /// The offending field.
        field: &'static str,
        /// Byte offset of the field in the input.
        offset: usize,
        /// What was found and what was expected.
        msg: String,
    },
    /// A structural problem that is not tied to one field.
    #[error("{what}: {msg}")]
    Invalid {
        /// The structure being read.
        what: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// The launch is one we must not predict: tboot would halt or refuse it,
    /// a bank would not hold the measurements a prediction shows, or the
    /// case is not modelled. Never a normal-looking value instead.
    #[error("refusing to predict: {0}")]
    Refused(String),
    /// A gzip stream could not be decompressed.
    #[error("{what}: gzip stream is corrupt: {source}")]
    Gzip {
        /// What was being decompressed.
        what: &'static str,
        /// The decoder's error.
        source: std::io::Error,
    },
    /// Reading an input file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A problem inside a named input file.
    #[error("{file}: {source}")]
    InFile {
        /// The file.
        file: String,
        /// What is wrong in it.
        source: Box<Error>,
    },
}

impl Error {
    /// The structure the error is about (`ACM`, `profile`, `tb_policy`,
    /// ...), to tell which input file it concerns; `None` when the error
    /// already names its file.
    pub fn what(&self) -> Option<&'static str> {
        match self {
            Error::Truncated { what, .. }
            | Error::BadField { what, .. }
            | Error::Invalid { what, .. }
            | Error::Gzip { what, .. } => Some(what),
            // A refusal is about the launch as a whole and says why.
            Error::Io { .. } | Error::InFile { .. } | Error::Refused(_) => None,
        }
    }
}

/// Shorthand for this crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
