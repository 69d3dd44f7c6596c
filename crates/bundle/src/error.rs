//! Errors of bundle building.

use std::path::PathBuf;

/// Why a bundle could not be built or replaced.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file system operation failed.
    #[error("cannot {what} {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What was being done (`read`, `hash`, `link`, ...).
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The bundle directory cannot be replaced: not ours, locked by
    /// another run, or an OS failure while swapping it in.
    #[error(transparent)]
    Output(#[from] outputs::Error),
    /// A step said it would produce a file and did not.
    #[error("step {step} did not produce its declared output {output}")]
    MissingOutput {
        /// The step name.
        step: String,
        /// The bundle-relative path it should have written.
        output: String,
    },
    /// A step consumed an output no earlier step produced.
    #[error("step {step} reads {output}, which no earlier step produced")]
    UnknownOutput {
        /// The step name.
        step: String,
        /// The bundle-relative path it asked for.
        output: String,
    },
    /// Two steps share a name.
    #[error("step {0} is defined twice")]
    DuplicateStep(String),
    /// Something that is neither a regular file nor a directory was left in
    /// the staging bundle.
    #[error("step {step} left {path}, which is neither a file nor a directory")]
    OddFile {
        /// The step name.
        step: String,
        /// The offending path.
        path: PathBuf,
    },
}
