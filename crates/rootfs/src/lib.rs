//! The in-memory file tree: load it from an ext image, a tar archive or a
//! directory, edit it, and hand it to the ext builder.
//!
//! [`load`] picks the loader by looking at the source: a directory, an ext
//! image (magic 0xEF53 at byte 1080), a disk image (a VHD of any type, or a
//! raw disk with an MBR or GPT partition table) holding one, or a tar
//! archive (plain or gzip, bzip2, xz, zstd compressed, recognised by their
//! magic numbers).

mod dir;
mod disk;
mod edit;
mod error;
mod tar;

use std::io::Read;
use std::path::Path;

pub use dir::load_dir;
pub use edit::{lookup, mkdir_p, read_file, remove, symlink, write_file};
pub use error::{LoadError, Result};
pub use fstree::Tree;
pub use tar::{
    EXPANSION_ALLOWANCE, MAX_EXPANSION, MAX_METADATA, SPOOL_THRESHOLD, load_tar, load_tar_reader,
};

/// What kind of source a path holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// A host directory.
    Dir,
    /// An ext2/3/4 image.
    Ext,
    /// A tar archive, possibly compressed.
    Tar(Compression),
    /// A VHD disk image (fixed, dynamic or differencing).
    Vhd,
    /// A raw disk image with a partition table.
    PartitionedDisk,
}

/// Compression around a tar archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// bzip2 (`BZh`).
    Bzip2,
    /// xz (`fd 37 7a 58 5a 00`).
    Xz,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

/// Tell what `path` holds from its type and first bytes.
pub fn detect(path: &Path) -> Result<SourceKind> {
    let md = std::fs::metadata(path).map_err(|e| LoadError::io(path, e))?;
    if md.is_dir() {
        return Ok(SourceKind::Dir);
    }
    // A FIFO or device is never an image or archive we can read (and
    // opening a FIFO nobody writes would wait forever).
    if !md.is_file() {
        return Err(LoadError::UnknownFormat(path.to_path_buf()));
    }
    let mut head = Vec::with_capacity(1082);
    let f = std::fs::File::open(path).map_err(|e| LoadError::io(path, e))?;
    (&f).take(1082)
        .read_to_end(&mut head)
        .map_err(|e| LoadError::io(path, e))?;
    // A VHD's footer is its last sector (a fixed VHD starts as a raw disk).
    let mut tail = [0u8; 512];
    if md.len() >= 1024 {
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut tail, md.len() - 512)
            .map_err(|e| LoadError::io(path, e))?;
    }
    if disk::is_vhd(&head, &tail) {
        return Ok(SourceKind::Vhd);
    }
    if let Some(k) = detect_bytes(&head) {
        return Ok(k);
    }
    if disk::is_mbr(&head) {
        return Ok(SourceKind::PartitionedDisk);
    }
    Err(LoadError::UnknownFormat(path.to_path_buf()))
}

/// Tell the source kind from the first 1082 bytes (or fewer) of a file.
pub fn detect_bytes(head: &[u8]) -> Option<SourceKind> {
    if head.len() >= 1082 && head[1080..1082] == [0x53, 0xEF] {
        return Some(SourceKind::Ext);
    }
    let c = if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Compression::None
    } else {
        return None;
    };
    Some(SourceKind::Tar(c))
}

/// Load a tree from a directory, an ext image, a disk image holding one,
/// or a tar archive.
pub fn load(path: &Path) -> Result<Tree> {
    match detect(path)? {
        SourceKind::Dir => load_dir(path),
        SourceKind::Ext => load_ext(path),
        SourceKind::Tar(_) => load_tar(path),
        SourceKind::Vhd => disk::load_disk(path, true),
        SourceKind::PartitionedDisk => disk::load_disk(path, false),
    }
}

/// Load a tree from an ext2/3/4 image.
pub fn load_ext(path: &Path) -> Result<Tree> {
    extfs::read::read_path(path)
        .map(|l| l.tree)
        .map_err(|source| LoadError::Ext {
            path: path.to_path_buf(),
            source,
        })
}
