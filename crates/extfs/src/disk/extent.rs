//! Extent tree nodes: a 12-byte header followed by 12-byte index or leaf
//! entries; tree blocks end with a 4-byte crc32c tail under `metadata_csum`.

use super::{DiskError, checksum::crc32c, le, need};

/// `eh_magic`.
pub const MAGIC: u16 = 0xF30A;
/// Longest initialised extent.
pub const MAX_LEN: u32 = 32768;

/// Node header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtentHeader {
    /// Entries in use.
    pub entries: u16,
    /// Capacity of the node.
    pub max: u16,
    /// 0 for leaves.
    pub depth: u16,
}

impl ExtentHeader {
    /// Decode and check the magic and `entries <= max`.
    pub fn decode(b: &[u8]) -> Result<Self, DiskError> {
        need("extent header", b, 12)?;
        let magic = le::u16(b, 0);
        if magic != MAGIC {
            return Err(DiskError::BadMagic {
                what: "extent header",
                found: magic.into(),
                expected: MAGIC.into(),
            });
        }
        let h = ExtentHeader {
            entries: le::u16(b, 2),
            max: le::u16(b, 4),
            depth: le::u16(b, 6),
        };
        if h.entries > h.max {
            return Err(DiskError::BadField {
                what: "extent header",
                field: "eh_entries",
                value: h.entries.into(),
            });
        }
        Ok(h)
    }

    /// Encode into the first 12 bytes of `b`.
    pub fn encode(&self, b: &mut [u8]) {
        le::put16(b, 0, MAGIC);
        le::put16(b, 2, self.entries);
        le::put16(b, 4, self.max);
        le::put16(b, 6, self.depth);
        le::put32(b, 8, 0);
    }
}

/// Leaf entry: `len` blocks from logical `block` at physical `start`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extent {
    /// First logical block.
    pub block: u32,
    /// Length; above 32768 the extent is uninitialised (`len - 32768` blocks).
    pub len: u16,
    /// First physical block (48 bits).
    pub start: u64,
}

impl Extent {
    /// Decode one 12-byte entry.
    pub fn decode(b: &[u8]) -> Result<Self, DiskError> {
        need("extent", b, 12)?;
        Ok(Extent {
            block: le::u32(b, 0),
            len: le::u16(b, 4),
            start: u64::from(le::u16(b, 6)) << 32 | u64::from(le::u32(b, 8)),
        })
    }

    /// Encode into 12 bytes of `b`.
    pub fn encode(&self, b: &mut [u8]) {
        le::put32(b, 0, self.block);
        le::put16(b, 4, self.len);
        le::put16(b, 6, (self.start >> 32) as u16);
        le::put32(b, 8, self.start as u32);
    }
}

/// Index entry: the subtree covering logical blocks from `block` is at `leaf`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtentIndex {
    /// First logical block covered.
    pub block: u32,
    /// Physical block of the child node.
    pub leaf: u64,
}

impl ExtentIndex {
    /// Decode one 12-byte entry.
    pub fn decode(b: &[u8]) -> Result<Self, DiskError> {
        need("extent index", b, 12)?;
        Ok(ExtentIndex {
            block: le::u32(b, 0),
            leaf: u64::from(le::u32(b, 4)) | u64::from(le::u16(b, 8)) << 32,
        })
    }

    /// Encode into 12 bytes of `b`.
    pub fn encode(&self, b: &mut [u8]) {
        le::put32(b, 0, self.block);
        le::put32(b, 4, self.leaf as u32);
        le::put16(b, 8, (self.leaf >> 32) as u16);
        le::put16(b, 10, 0);
    }
}

/// Entries that fit in a tree block of `block_size` bytes (leaving room
/// for the checksum tail).
pub fn entries_per_block(block_size: usize) -> usize {
    (block_size - 12) / 12
}

/// Write the crc32c tail of an extent tree block; `inode_seed` comes from
/// [`super::inode::inode_seed`].
pub fn seal_block(block: &mut [u8], inode_seed: u32) {
    let max = usize::from(le::u16(block, 4));
    let end = 12 + 12 * max;
    let c = crc32c(inode_seed, &block[..end]);
    le::put32(block, end, c);
}
