//! Outputs appear whole or not at all: written to a temporary file beside
//! the destination and renamed into place once complete.

use std::fs::File;
use std::path::Path;

use anyhow::Context;
use tempfile::NamedTempFile;

/// A temporary file in `dest`'s directory; `commit` renames it over `dest`.
pub struct OutFile {
    tmp: NamedTempFile,
}

impl OutFile {
    /// Create the temporary file next to `dest`.
    pub fn create(dest: &Path) -> anyhow::Result<OutFile> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = tempfile::Builder::new()
            .prefix(".measured-")
            .tempfile_in(dir)
            .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
        Ok(OutFile { tmp })
    }

    /// A handle to write through.
    pub fn file(&self) -> anyhow::Result<File> {
        Ok(self.tmp.as_file().try_clone()?)
    }

    /// Rename into place, readable like a normal new file.
    pub fn commit(self, dest: &Path) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        self.tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
        let (_file, tmp_path) = self.tmp.keep().map_err(|e| e.error)?;
        replace(&tmp_path, dest).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp_path);
        })
    }
}

/// Put `new` at `dest` atomically. Over an existing file this swaps the two
/// with `RENAME_EXCHANGE` and removes the old one: a plain rename over an
/// existing file makes ext4 (auto_da_alloc) flush the new file's data
/// first, which costs seconds per gigabyte and buys nothing here.
pub fn replace(new: &Path, dest: &Path) -> anyhow::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).expect("paths have no NUL");
    let (a, b) = (c(new), c(dest));
    // SAFETY: both arguments are valid NUL-terminated strings that outlive
    // the call; AT_FDCWD makes them relative to the working directory, as
    // std's own rename does. renameat2 touches no memory of ours otherwise.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        // `new` now names the previous output.
        return std::fs::remove_file(new)
            .with_context(|| format!("removing the previous {}", dest.display()));
    }
    // No file to swap with (ENOENT), or a filesystem without exchange.
    std::fs::rename(new, dest).with_context(|| format!("renaming output into {}", dest.display()))
}
