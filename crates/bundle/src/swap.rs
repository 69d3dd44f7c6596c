//! Atomic replacement of a bundle directory, its lock and its leftovers.
//!
//! Layout beside a bundle `DIR/NAME`:
//! - `DIR/.NAME.lock`: flock'ed for the whole build, so two builds of one
//!   bundle never interleave (the kernel drops the lock if we are killed);
//! - `DIR/.NAME.staging-PID-RAND/`: the bundle being assembled, and after the
//!   swap the previous bundle on its way out. Anything with this prefix is
//!   garbage once we hold the lock, and is removed at the start of a run.

use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use rustix::fs::{CWD, FlockOperation, RenameFlags};

use crate::error::BundleError;

/// The file-name prefix of staging directories for a bundle named `name`.
pub fn staging_prefix(name: &str) -> String {
    format!(".{name}.staging-")
}

/// Take the build lock of the bundle at `parent/name`.
pub(crate) fn lock(parent: &Path, name: &str) -> Result<File, BundleError> {
    let path = parent.join(format!(".{name}.lock"));
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| BundleError::Io {
            path: path.clone(),
            what: "create lock file",
            source,
        })?;
    match rustix::fs::flock(&f, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(f),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
            Err(BundleError::Locked(parent.join(name), path))
        }
        Err(e) => Err(BundleError::Io {
            path,
            what: "lock",
            source: e.into(),
        }),
    }
}

/// Remove staging directories left by killed runs. Call with the lock held.
pub(crate) fn remove_stale(parent: &Path, name: &str) -> Result<Vec<PathBuf>, BundleError> {
    let prefix = staging_prefix(name);
    let io = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| BundleError::Io { path, what, source }
    };
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(parent).map_err(io("list", parent))? {
        let entry = entry.map_err(io("list", parent))?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let p = entry.path();
            remove_any(&p)?;
            removed.push(p);
        }
    }
    Ok(removed)
}

/// Remove a file or directory tree; already gone is fine.
pub(crate) fn remove_any(p: &Path) -> Result<(), BundleError> {
    let r = match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    r.map_err(|source| BundleError::Io {
        path: p.to_path_buf(),
        what: "remove",
        source,
    })
}

/// Put the directory `staging` at `target` in one atomic step.
///
/// When `target` exists the two are exchanged (`RENAME_EXCHANGE`), so that
/// at every instant `target` is a complete bundle, old or new, and the old
/// one ends up at `staging`; returns `true` then. When `target` does not
/// exist, `staging` is renamed there (`RENAME_NOREPLACE`, so a bundle that
/// appears meanwhile is never clobbered); returns `false`.
pub fn exchange_or_rename(staging: &Path, target: &Path) -> Result<bool, BundleError> {
    let io = |source: rustix::io::Errno| BundleError::Io {
        path: target.to_path_buf(),
        what: "swap in the new bundle at",
        source: source.into(),
    };
    match rustix::fs::renameat_with(CWD, staging, CWD, target, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::NOENT && staging.is_dir() => {
            rustix::fs::renameat_with(CWD, staging, CWD, target, RenameFlags::NOREPLACE)
                .map_err(io)?;
            Ok(false)
        }
        Err(e) => Err(io(e)),
    }
}
