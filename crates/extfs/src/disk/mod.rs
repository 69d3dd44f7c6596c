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

/// Run every decoder in this module over `data` (at each structure's
/// natural position) and return how many accepted it. Bad bytes must only
/// ever give errors; the fuzz target and the seed-corpus test call this.
pub fn probe(data: &[u8]) -> usize {
    let mut ok = 0;
    let sb_at = if data.len() >= 2048 {
        &data[1024..]
    } else {
        data
    };
    if let Ok(sb) = Superblock::decode(sb_at) {
        ok += 1;
        let _ = Superblock::checksum_ok(sb_at);
        let _ = sb.csum_seed();
    }
    ok += usize::from(GroupDesc::decode(data, 32).is_ok());
    ok += usize::from(GroupDesc::decode(data, 64).is_ok());
    for size in [128, 256] {
        if let Ok(i) = Inode::decode(data, size) {
            ok += 1;
            let _ = inode::decode_dev(&i.block);
            if let Ok(h) = ExtentHeader::decode(&i.block) {
                for e in i.block[12..].chunks(12).take(usize::from(h.entries)) {
                    ok += usize::from(Extent::decode(e).is_ok() && ExtentIndex::decode(e).is_ok());
                }
            }
        }
    }
    let mut at = 0;
    while at < data.len() {
        match DirEntry::decode(&data[at..]) {
            Ok(e) => {
                ok += 1;
                at += usize::from(e.rec_len.max(4));
            }
            Err(_) => break,
        }
    }
    ok += usize::from(xattr::decode_block(data).is_ok());
    ok += usize::from(xattr::acl_from_disk(data).is_ok());
    ok += usize::from(xattr::acl_to_disk(data).is_ok());
    ok += usize::from(JournalSuperblock::decode(data).is_ok());
    ok
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
