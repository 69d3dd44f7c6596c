//! Everything that can go wrong assembling a service VM, as data.

use std::path::PathBuf;

/// An error building a service VM bundle; each names the file or field.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The spec file is not valid TOML for a service VM spec.
    #[error("{path}: bad spec: {msg}")]
    Spec {
        /// The spec file.
        path: PathBuf,
        /// What the parser said.
        msg: String,
    },
    /// A spec value is out of range or inconsistent.
    #[error("spec field `{field}`: {msg}")]
    Field {
        /// The field.
        field: &'static str,
        /// What was expected.
        msg: String,
    },
    /// The kernel file is not a bzImage we can use.
    #[error("{path}: not a Linux bzImage: {msg}")]
    Kernel {
        /// The kernel file.
        path: PathBuf,
        /// What was wrong, with offset.
        msg: String,
    },
    /// A kernel module or `modules.dep` problem.
    #[error("{path}: {msg}")]
    Modules {
        /// The file or directory.
        path: PathBuf,
        /// What was wrong.
        msg: String,
    },
    /// The rootfs cannot be edited as asked.
    #[error("rootfs {path}: {msg}")]
    Rootfs {
        /// Path inside the rootfs.
        path: String,
        /// What was wrong.
        msg: String,
    },
    /// Neither sysvinit/busybox inittab nor systemd was found.
    #[error(
        "rootfs: unknown init system: no /etc/inittab, no systemd and /sbin/init is not busybox"
    )]
    UnknownInit,
    /// A VM definition could not be written.
    #[error(transparent)]
    VmDef(#[from] vmdef::VmDefError),
    /// The bundle directory cannot be replaced (not ours, locked, or an
    /// OS failure while swapping it in).
    #[error(transparent)]
    Output(#[from] outputs::Error),
    /// A tree path problem.
    #[error("rootfs: {0}")]
    Path(#[from] fstree::PathError),
}

impl ImageError {
    /// Wrap an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ImageError {
        let path = path.into();
        move |source| ImageError::Io { path, source }
    }
}
