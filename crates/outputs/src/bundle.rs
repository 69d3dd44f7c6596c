//! [`BundleDir`]: a bundle directory, assembled in a staging directory
//! beside it and swapped in whole, under a lock.
//!
//! Layout beside a bundle `DIR/NAME`:
//! - `DIR/.NAME.lock`: flock'ed for the whole run, so two runs on one
//!   bundle never interleave (the kernel drops the lock if we are killed),
//!   and removed when the run ends (see [`RunLock`]);
//! - `DIR/.NAME.staging-PID-RANDOM/`: the bundle being assembled, and after
//!   the swap the previous bundle on its way out. With the lock held, any
//!   directory of this exact pattern is a leftover and is removed.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rustix::fs::{CWD, FlockOperation, RenameFlags};

use crate::error::{Error, Result};
use crate::file::split_target;
use crate::temp;

/// The file every bundle `measured image build` writes: its report, whose
/// `outputs` list the bundle's files.
pub const IMAGE_MANIFEST: &str = "bundle.json";
/// The step records every bundle `measured build` writes, whose
/// `steps.*.outputs` list the bundle's files.
pub const STEP_MANIFEST: &str = ".measured/steps.json";
/// Manifests larger than this are not ours.
const MAX_MANIFEST: u64 = 64 << 20;
/// Directory entries looked at before giving up on recognising a bundle.
const MAX_ENTRIES: usize = 100_000;

/// The run lock of one output, held until dropped. The lock file is
/// removed when the run ends, so a finished or failed run leaves nothing
/// beside the output; a killed run leaves an unlocked file the next run
/// takes over.
///
/// Removing a lock file is safe because a lock only counts when the file
/// locked is still the one at the path: [`lock`] checks that after taking
/// it, and the holder unlinks the path before it lets the lock go. A run
/// that locked an inode just unlinked sees the difference and starts over.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Still ours (nobody can replace the path while we hold the lock
        // on the inode it names, except by hand): unlink, then close.
        if same_file(&self.file, &self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Whether `path` names the inode `file` has open.
fn same_file(file: &File, path: &Path) -> bool {
    match (rustix::fs::fstat(file), rustix::fs::stat(path)) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}

/// Take the run lock of the output `parent/name`.
pub fn lock(parent: &Path, name: &str) -> Result<RunLock> {
    let path = parent.join(format!(".{name}.lock"));
    // Each retry means another run removed the file between our open and
    // our flock: it finished, so the next attempt normally succeeds.
    for _ in 0..100 {
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::io(&path, "create lock file"))?;
        match rustix::fs::flock(&f, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) if same_file(&f, &path) => return Ok(RunLock { file: f, path }),
            Ok(()) => continue,
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                return Err(Error::Locked {
                    target: parent.join(name),
                    lock: path,
                });
            }
            Err(e) => return Err(Error::io(&path, "lock")(e.into())),
        }
    }
    Err(Error::Locked {
        target: parent.join(name),
        lock: path,
    })
}

/// The files a bundle's manifests say it holds; `None` when it has no
/// readable manifest.
fn listed_files(dir: &Path) -> Option<BTreeSet<String>> {
    let read = |rel: &str| -> Option<serde_json::Value> {
        let f = File::open(dir.join(rel)).ok()?;
        if !f.metadata().ok()?.is_file() {
            return None;
        }
        let mut b = Vec::new();
        f.take(MAX_MANIFEST).read_to_end(&mut b).ok()?;
        serde_json::from_slice(&b).ok()
    };
    let mut out = BTreeSet::new();
    let mut found = false;
    if let Some(v) = read(IMAGE_MANIFEST)
        && let Some(list) = v.get("outputs").and_then(|o| o.as_array())
    {
        found = true;
        out.insert(IMAGE_MANIFEST.to_string());
        out.extend(
            list.iter()
                .filter_map(|o| o.get("path")?.as_str().map(str::to_string)),
        );
    }
    if let Some(v) = read(STEP_MANIFEST)
        && let Some(steps) = v.get("steps").and_then(|s| s.as_object())
    {
        found = true;
        out.insert(STEP_MANIFEST.to_string());
        for s in steps.values() {
            if let Some(o) = s.get("outputs").and_then(|o| o.as_object()) {
                out.extend(o.keys().cloned());
            }
        }
    }
    found.then_some(out)
}

/// Refuse unless `target` is absent, an empty directory, or one of our
/// bundles: a directory whose every file one of its manifests lists
/// ([`IMAGE_MANIFEST`], [`STEP_MANIFEST`]). A file someone added to a
/// bundle makes it not ours to delete.
pub fn check_replaceable_bundle(target: &Path) -> Result<()> {
    let refuse = |why: String| Error::NotOurs {
        path: target.to_path_buf(),
        why,
    };
    let m = match std::fs::symlink_metadata(target) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(target, "inspect")(e)),
    };
    if m.file_type().is_symlink() {
        return Err(refuse(
            "it is a symbolic link; give the bundle directory itself".into(),
        ));
    }
    if !m.is_dir() {
        return Err(refuse(
            "it is a file, not a bundle directory; give a new or empty directory, or one of our bundles".into(),
        ));
    }
    let listed = listed_files(target);
    let mut seen = 0usize;
    let mut stack = vec![(target.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(Error::io(&dir, "list"))? {
            let entry = entry.map_err(Error::io(&dir, "list"))?;
            seen += 1;
            if seen > MAX_ENTRIES {
                return Err(refuse(format!(
                    "it holds more than {MAX_ENTRIES} entries: not one of our bundles"
                )));
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let ft = entry
                .file_type()
                .map_err(Error::io(entry.path(), "inspect"))?;
            if ft.is_dir() {
                stack.push((entry.path(), r));
            } else if !ft.is_file() {
                return Err(refuse(format!(
                    "it holds {r}, a link or special file: not one of our bundles"
                )));
            } else {
                match &listed {
                    None => {
                        return Err(refuse(format!(
                            "it holds {r} and no {IMAGE_MANIFEST} or {STEP_MANIFEST}: not one of our bundles"
                        )));
                    }
                    Some(l) if !l.contains(&r) => {
                        return Err(refuse(format!(
                            "it holds {r}, which its manifest does not list: not ours to delete"
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    Ok(())
}

/// Remove staging directories of the bundle `parent/name` left by killed
/// runs. Call with the bundle's lock held.
pub fn remove_stale_dirs(parent: &Path, name: &str) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(parent).map_err(Error::io(parent, "list"))? {
        let entry = entry.map_err(Error::io(parent, "list"))?;
        let Some(n) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !temp::is_staging_dir(&n, name) {
            continue;
        }
        let p = entry.path();
        // Only directories are staging bundles.
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        remove_tree(&p)?;
        removed.push(p);
    }
    Ok(removed)
}

/// Remove a directory tree (or a file); already gone is fine.
pub(crate) fn remove_tree(p: &Path) -> Result<()> {
    let r = match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    r.map_err(Error::io(p, "remove"))
}

/// Put the directory `staging` at `target` in one atomic step.
///
/// When `target` exists the two are exchanged (`RENAME_EXCHANGE`), so that
/// at every instant `target` is a complete bundle, old or new, and the old
/// one ends up at `staging`; returns `true` then. When `target` does not
/// exist, `staging` is renamed there (`RENAME_NOREPLACE`, so a bundle that
/// appears meanwhile is never clobbered); returns `false`.
pub fn exchange_or_rename(staging: &Path, target: &Path) -> Result<bool> {
    let io = |e: rustix::io::Errno| Error::io(target, "swap in the new bundle at")(e.into());
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

/// A bundle directory being replaced: the lock is held, the target was
/// checked to be ours, stale staging directories are gone, and a new empty
/// staging directory (mode `0777` less the umask) waits to be filled.
/// Dropped before [`BundleDir::swap`], the staging directory is removed
/// and the target is untouched.
#[derive(Debug)]
pub struct BundleDir {
    target: PathBuf,
    parent: PathBuf,
    name: String,
    staging: PathBuf,
    removed_stale: Vec<PathBuf>,
    lock: Option<RunLock>,
    swapped: bool,
}

impl BundleDir {
    /// Start replacing the bundle at `target` (created with its parents
    /// if absent). Refuses, before writing anything, a target that is not
    /// absent, empty, or one of our bundles, and a target another run holds.
    pub fn open(target: &Path) -> Result<BundleDir> {
        split_target(target)?;
        let abs = std::path::absolute(target).map_err(Error::io(target, "resolve"))?;
        let (parent, name) = split_target(&abs)?;
        // Refuse before writing anything (not even the lock file beside a
        // target that is not ours), and again under the lock, which is
        // what makes the answer hold until the swap.
        check_replaceable_bundle(&abs)?;
        std::fs::create_dir_all(&parent).map_err(Error::io(&parent, "create"))?;
        let lock = lock(&parent, &name)?;
        check_replaceable_bundle(&abs)?;
        let removed_stale = remove_stale_dirs(&parent, &name)?;
        let pid = std::process::id();
        let staging = loop {
            let p = parent.join(format!(
                "{}{pid}-{}",
                temp::staging_prefix(&name),
                temp::random_hex()
            ));
            match std::fs::DirBuilder::new().mode(0o777).create(&p) {
                Ok(()) => break p,
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(&p, "create the staging directory")(e)),
            }
        };
        Ok(BundleDir {
            target: abs,
            parent,
            name,
            staging,
            removed_stale,
            lock: Some(lock),
            swapped: false,
        })
    }

    /// Where the bundle goes (absolute).
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The directory holding the bundle.
    pub fn parent(&self) -> &Path {
        &self.parent
    }

    /// The bundle's file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The directory to fill.
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// Leftovers of killed runs removed at the start.
    pub fn take_removed_stale(&mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.removed_stale)
    }

    /// Swap the staging directory in. The previous bundle, if any, is at
    /// the staging path until [`Swapped::finish`] (or the drop of the
    /// result) removes it; a kill in between leaves it for the next run.
    pub fn swap(mut self) -> Result<Swapped> {
        let exchanged = exchange_or_rename(&self.staging, &self.target)?;
        self.swapped = true;
        Ok(Swapped {
            old: exchanged.then(|| self.staging.clone()),
            _lock: self.lock.take(),
        })
    }
}

impl Drop for BundleDir {
    fn drop(&mut self) {
        if !self.swapped {
            let _ = remove_tree(&self.staging);
        }
    }
}

/// A bundle just swapped in; the previous one waits to be removed.
#[derive(Debug)]
pub struct Swapped {
    old: Option<PathBuf>,
    _lock: Option<RunLock>,
}

impl Swapped {
    /// Remove the previous bundle (the lock is held until `self` drops).
    pub fn finish(&mut self) -> Result<()> {
        match self.old.take() {
            Some(p) => remove_tree(&p),
            None => Ok(()),
        }
    }
}

impl Drop for Swapped {
    fn drop(&mut self) {
        if let Some(p) = self.old.take() {
            let _ = remove_tree(&p);
        }
    }
}
