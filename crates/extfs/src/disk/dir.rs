//! Linear directory entries (`ext2_dir_entry_2`) and the 12-byte checksum
//! tail that ends every directory block under `metadata_csum`.

use super::{DiskError, checksum::crc32c, le, need};

/// Size of the checksum tail entry.
pub const TAIL_SIZE: usize = 12;

/// `file_type` values of `ext2_dir_entry_2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum FileType {
    Unknown = 0,
    Regular = 1,
    Dir = 2,
    CharDev = 3,
    BlockDev = 4,
    Fifo = 5,
    Socket = 6,
    Symlink = 7,
}

/// One directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// Inode number (0 marks an unused slot).
    pub inode: u32,
    /// Bytes from this entry to the next.
    pub rec_len: u16,
    /// File type byte (with `filetype`).
    pub file_type: u8,
    /// Name bytes.
    pub name: Vec<u8>,
}

impl DirEntry {
    /// Smallest record holding a name of `len` bytes.
    pub fn min_rec_len(len: usize) -> usize {
        (8 + len + 3) & !3
    }

    /// Decode the entry at the start of `b` (the rest of its block),
    /// checking that `rec_len` stays inside and holds the name.
    pub fn decode(b: &[u8]) -> Result<Self, DiskError> {
        need("dir entry", b, 8)?;
        let rec_len = le::u16(b, 4);
        let name_len = usize::from(b[6]);
        if usize::from(rec_len) < Self::min_rec_len(name_len)
            || usize::from(rec_len) > b.len()
            || !rec_len.is_multiple_of(4)
        {
            return Err(DiskError::BadField {
                what: "dir entry",
                field: "rec_len",
                value: rec_len.into(),
            });
        }
        Ok(DirEntry {
            inode: le::u32(b, 0),
            rec_len,
            file_type: b[7],
            name: b[8..8 + name_len].to_vec(),
        })
    }

    /// Encode into the start of `b` (which must hold `rec_len` bytes).
    pub fn encode(&self, b: &mut [u8]) {
        le::put32(b, 0, self.inode);
        le::put16(b, 4, self.rec_len);
        b[6] = self.name.len() as u8;
        b[7] = self.file_type;
        b[8..8 + self.name.len()].copy_from_slice(&self.name);
    }
}

/// Write the checksum tail into the last 12 bytes of a directory block.
pub fn seal_block(block: &mut [u8], inode_seed: u32) {
    let t = block.len() - TAIL_SIZE;
    block[t..].fill(0);
    le::put16(block, t + 4, TAIL_SIZE as u16);
    block[t + 7] = 0xDE;
    let c = crc32c(inode_seed, &block[..t]);
    le::put32(block, t + 8, c);
}
