//! [`AtomicFile`]: one output file, written under a temporary name beside
//! it and renamed into place only when complete.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{CWD, FlockOperation, RenameFlags};

use crate::error::{Error, Result};
use crate::temp;

/// The directory and file name of an output file path.
pub(crate) fn split_target(target: &Path) -> Result<(PathBuf, String)> {
    let bad = |why: &str| Error::BadTarget {
        path: target.to_path_buf(),
        why: why.to_string(),
    };
    // `Path::components` drops a trailing `.`: look at the bytes as given.
    let raw = target.as_os_str().as_encoded_bytes();
    let raw = raw.strip_suffix(b"/").unwrap_or(raw);
    if raw == b"." || raw.ends_with(b"/.") {
        return Err(bad("ends in `.`: name the output itself"));
    }
    let name = match target.components().next_back() {
        Some(std::path::Component::Normal(n)) => n
            .to_str()
            .ok_or_else(|| bad("the output name is not valid UTF-8"))?
            .to_string(),
        _ => return Err(bad("does not end in a file name")),
    };
    crate::name::check_file_name("output name", &name)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name))
}

/// Refuse to replace anything but a regular file or a symbolic link (which
/// is replaced, never followed): a directory or a device node at the
/// output path is not a file of ours.
fn check_replaceable(target: &Path) -> Result<()> {
    let m = match std::fs::symlink_metadata(target) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(target, "inspect")(e)),
    };
    let ft = m.file_type();
    let what = if ft.is_file() || ft.is_symlink() {
        return Ok(());
    } else if ft.is_dir() {
        "it is a directory"
    } else {
        "it is a device, socket or FIFO, not a regular file"
    };
    Err(Error::NotOurs {
        path: target.to_path_buf(),
        why: format!("{what}; give the path of a file to write"),
    })
}

/// Take `f`'s exclusive lock without waiting: `Ok(true)` when taken,
/// `Ok(false)` when another process holds it.
fn try_lock(f: &File) -> std::io::Result<bool> {
    match rustix::fs::flock(f, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Remove the temporary files of the output `dir/name` left by runs that
/// were killed: those whose writer no longer holds their lock.
pub fn remove_stale_files(dir: &Path, name: &str) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(Error::io(dir, "list")(e)),
    };
    for entry in rd {
        let entry = entry.map_err(Error::io(dir, "list"))?;
        let Some(n) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !temp::is_temp_file(&n, name) {
            continue;
        }
        let p = entry.path();
        // Never follow a link planted under one of our names.
        let Ok(f) = File::options()
            .read(true)
            .custom_flags(libc_flags())
            .open(&p)
        else {
            continue;
        };
        if !f.metadata().is_ok_and(|m| m.is_file()) {
            continue;
        }
        // Held: a live run is writing it. An error (no flock on this file
        // system): cannot tell, so leave it.
        if try_lock(&f).unwrap_or(false) {
            match std::fs::remove_file(&p) {
                Ok(()) => removed.push(p),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&p, "remove stale temporary")(e)),
            }
        }
    }
    Ok(removed)
}

/// `O_NOFOLLOW | O_NONBLOCK`: open a name without following a link and
/// without blocking on a FIFO.
fn libc_flags() -> i32 {
    (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32
}

/// One output file being written. Writes go to [`AtomicFile::file`], a new
/// file `.NAME.tmp-RANDOM` beside the target (mode `0666` less the umask,
/// as `cp` creates files); [`AtomicFile::commit`] puts it at the target in
/// one rename. Dropped without a commit, the temporary is removed; killed,
/// it is left unlocked and the next run on the same output removes it.
#[derive(Debug)]
pub struct AtomicFile {
    file: File,
    tmp: PathBuf,
    target: PathBuf,
    removed_stale: Vec<PathBuf>,
    done: bool,
}

impl AtomicFile {
    /// Start writing `target`. Fails (before creating anything) when the
    /// target is a directory or a special file; removes stale temporaries
    /// of this output first.
    pub fn create(target: &Path) -> Result<AtomicFile> {
        let (dir, name) = split_target(target)?;
        check_replaceable(target)?;
        let removed_stale = remove_stale_files(&dir, &name)?;
        loop {
            let tmp = dir.join(format!(
                "{}{}",
                temp::file_prefix(&name),
                temp::random_hex()
            ));
            let file = match File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o666)
                .open(&tmp)
            {
                Ok(f) => f,
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                // The directory is the cause (missing, unwritable, full).
                Err(e) => return Err(Error::io(&dir, "create a file in")(e)),
            };
            // Without flock (some network file systems) the file is just
            // not protected from a concurrent cleaner's test, which then
            // cannot take the lock either and leaves it.
            let _ = try_lock(&file);
            // A cleaner may have taken the name between create and lock:
            // keep the file only if the name still leads to it.
            let ours = match (std::fs::symlink_metadata(&tmp), file.metadata()) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if !ours {
                continue;
            }
            return Ok(AtomicFile {
                file,
                tmp,
                target: target.to_path_buf(),
                removed_stale,
                done: false,
            });
        }
    }

    /// The file to write (opened for reading and writing).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The temporary path being written.
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// The output path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Leftovers of killed runs removed when this one started.
    pub fn removed_stale(&self) -> &[PathBuf] {
        &self.removed_stale
    }

    /// Put the file at the target in one step: the target is the previous
    /// file or the complete new one at every instant.
    pub fn commit(mut self) -> Result<()> {
        check_replaceable(&self.target)?;
        let regular = std::fs::symlink_metadata(&self.target).is_ok_and(|m| m.is_file());
        // Exchanging, then unlinking the old file under the temporary name,
        // keeps the swap atomic without ext4's flush of the whole new file
        // that a rename over an existing file triggers (auto_da_alloc).
        let exchanged = regular
            && rustix::fs::renameat_with(CWD, &self.tmp, CWD, &self.target, RenameFlags::EXCHANGE)
                .is_ok();
        if exchanged {
            self.done = true;
            std::fs::remove_file(&self.tmp)
                .map_err(Error::io(&self.tmp, "remove the previous version at"))?;
        } else {
            std::fs::rename(&self.tmp, &self.target)
                .map_err(Error::io(&self.target, "rename into place"))?;
            self.done = true;
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Write `bytes` to `target` atomically (see [`AtomicFile`]).
pub fn write_file(target: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let f = AtomicFile::create(target)?;
    (&f.file)
        .write_all(bytes)
        .map_err(Error::io(target, "write"))?;
    f.commit()
}
