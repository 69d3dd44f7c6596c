//! Why a tree could not be loaded or edited, naming the file and entry.

use std::path::PathBuf;

/// A failed load or edit.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Reading a host file failed.
    #[error("{path}: {source}")]
    Io {
        /// The host path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not a directory, ext image, disk image or tar archive.
    #[error(
        "{0}: not a directory, an ext2/3/4 image, a VHD or partitioned raw disk, or a (compressed) tar archive"
    )]
    UnknownFormat(PathBuf),
    /// A disk image that cannot be read as one.
    #[error("{path}: {msg}")]
    Disk {
        /// The image.
        path: PathBuf,
        /// What was wrong, with offset or field.
        msg: String,
    },
    /// The ext image is malformed.
    #[error("{path}: {source}")]
    Ext {
        /// The image.
        path: PathBuf,
        /// What the reader found.
        source: extfs::read::ReadError,
    },
    /// A tar archive is malformed.
    #[error("{archive}: tar entry {index} {entry:?}: {msg}")]
    Tar {
        /// The archive (or `<stream>`).
        archive: String,
        /// Zero-based entry number.
        index: usize,
        /// The entry name as far as known.
        entry: String,
        /// What was wrong.
        msg: String,
    },
    /// An entry would leave the tree or goes through a symlink.
    #[error("{entry:?}: {msg}")]
    Escape {
        /// The offending entry.
        entry: String,
        /// Why.
        msg: String,
    },
    /// A path operation on the tree failed.
    #[error(transparent)]
    Path(#[from] fstree::PathError),
}

impl LoadError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        LoadError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T> = std::result::Result<T, LoadError>;
