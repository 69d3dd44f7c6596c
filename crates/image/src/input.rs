//! Large input files (kernel, initrd) used where they lie: streamed into
//! the disk, copied into the bundle by the kernel, hashed on another core.
//! Reading a 15 MB kernel into memory first cost more than all of that
//! (fresh pages fault one by one). Since the file is read several times,
//! it must not change meanwhile: [`HostInput::check_unchanged`] says so.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use fstree::{Content, HostFile};

use crate::error::ImageError;

/// How much of a file [`HostInput::open`] reads up front: enough for a
/// bzImage setup header and the version string it points to (≤ 0x10200
/// plus 256 bytes).
const HEAD: u64 = 0x10400;

/// An input file, identified by its size and change time when opened.
#[derive(Debug, Clone)]
pub struct HostInput {
    /// Its path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub len: u64,
    stamp: (u64, i64, i64, u64),
}

fn stamp(md: &std::fs::Metadata) -> (u64, i64, i64, u64) {
    (md.len(), md.mtime(), md.mtime_nsec(), md.ino())
}

impl HostInput {
    /// Open `path` (`what` names it in errors) and read its first bytes.
    pub fn open(path: &Path, what: &str) -> Result<(HostInput, Vec<u8>), ImageError> {
        let md = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ImageError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(e.kind(), format!("{what} not found")),
            },
            _ => ImageError::io(path)(e),
        })?;
        if !md.is_file() {
            return Err(ImageError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::other(format!("{what} is not a regular file")),
            });
        }
        let mut head = vec![0u8; md.len().min(HEAD) as usize];
        let f = std::fs::File::open(path).map_err(ImageError::io(path))?;
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut head, 0)
            .map_err(ImageError::io(path))?;
        let input = HostInput {
            path: path.to_path_buf(),
            len: md.len(),
            stamp: stamp(&md),
        };
        Ok((input, head))
    }

    /// Its contents, read from the file when the disk is written.
    pub fn content(&self) -> Content {
        Content::new(HostFile::new(&self.path, self.len))
    }

    /// An error if the file is not the one opened (size, times or inode
    /// differ): what was hashed, copied and put on the disk may disagree.
    pub fn check_unchanged(&self) -> Result<(), ImageError> {
        let md = std::fs::metadata(&self.path).map_err(ImageError::io(&self.path))?;
        if stamp(&md) != self.stamp {
            return Err(ImageError::Io {
                path: self.path.clone(),
                source: std::io::Error::other("changed while the bundle was being built"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_rewritten_after_opening_is_reported_as_changed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vmlinuz");
        std::fs::write(&p, b"first").unwrap();
        let (input, head) = HostInput::open(&p, "kernel").unwrap();
        assert_eq!(head, b"first");
        input.check_unchanged().unwrap();
        std::fs::write(&p, b"second, longer").unwrap();
        let e = input.check_unchanged().unwrap_err().to_string();
        assert!(e.contains("vmlinuz") && e.contains("changed"), "{e}");
    }

    #[test]
    fn a_missing_input_is_named_with_what_it_is() {
        let e = HostInput::open(Path::new("/nonexistent/initrd.img"), "initrd")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("initrd not found") && e.contains("/nonexistent/initrd.img"),
            "{e}"
        );
    }
}
