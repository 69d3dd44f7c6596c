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
        let f = self.tmp.as_file();
        f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        self.tmp
            .persist(dest)
            .map_err(|e| e.error)
            .with_context(|| format!("renaming output into {}", dest.display()))?;
        Ok(())
    }
}
