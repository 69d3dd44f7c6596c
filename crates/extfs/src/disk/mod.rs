//! On-disk ext2/3/4 structures as typed views with explicit little-endian
//! encode and decode (the JBD2 journal superblock is big-endian).

pub mod checksum;
pub mod dir;
pub mod extent;
pub mod group;
pub mod inode;
pub mod journal;
pub mod superblock;
pub mod xattr;

pub use checksum::{crc16, crc32c};
pub use dir::{DirEntry, FileType};
pub use extent::{Extent, ExtentHeader, ExtentIndex};
pub use group::GroupDesc;
pub use inode::{Inode, Time};
pub use journal::JournalSuperblock;
pub use superblock::Superblock;

/// Why a structure could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiskError {
    /// The buffer is shorter than the structure.
    #[error("{what}: need {need} bytes, have {have}")]
    Short {
        /// Which structure.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A magic number did not match.
    #[error("{what}: bad magic {found:#x}, expected {expected:#x}")]
    BadMagic {
        /// Which structure.
        what: &'static str,
        /// What was read.
        found: u32,
        /// What the format requires.
        expected: u32,
    },
    /// A field holds a value the format does not allow.
    #[error("{what}: field {field} has invalid value {value}")]
    BadField {
        /// Which structure.
        what: &'static str,
        /// Which field.
        field: &'static str,
        /// The value read.
        value: u64,
    },
}

pub(crate) fn need(what: &'static str, b: &[u8], n: usize) -> Result<(), DiskError> {
    if b.len() < n {
        Err(DiskError::Short {
            what,
            need: n,
            have: b.len(),
        })
    } else {
        Ok(())
    }
}

/// Little-endian field access on byte slices; callers check lengths first.
pub(crate) mod le {
    pub fn u16(b: &[u8], o: usize) -> u16 {
        u16::from_le_bytes([b[o], b[o + 1]])
    }
    pub fn u32(b: &[u8], o: usize) -> u32 {
        u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
    }
    pub fn put16(b: &mut [u8], o: usize, v: u16) {
        b[o..o + 2].copy_from_slice(&v.to_le_bytes());
    }
    pub fn put32(b: &mut [u8], o: usize, v: u32) {
        b[o..o + 4].copy_from_slice(&v.to_le_bytes());
    }
}
