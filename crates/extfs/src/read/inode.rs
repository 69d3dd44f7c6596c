//! One on-disk inode (`ext4_inode`), decoded into typed fields.

use fstree::Timestamp;

use super::error::{ReadError, Result};
use super::source::{le16, le32};

/// `EXT4_EXTENTS_FL`.
pub const FLAG_EXTENTS: u32 = 0x0008_0000;
/// `EXT4_INLINE_DATA_FL`.
pub const FLAG_INLINE_DATA: u32 = 0x1000_0000;

/// The fields of an inode the reader needs.
#[derive(Clone, Debug)]
pub struct RawInode {
    /// Inode number.
    pub ino: u32,
    /// `i_mode`: type and permission bits.
    pub mode: u16,
    /// Owner, low and high halves joined.
    pub uid: u32,
    /// Group, low and high halves joined.
    pub gid: u32,
    /// `i_size_lo | i_size_high << 32`.
    pub size: u64,
    /// Access time.
    pub atime: Timestamp,
    /// Change time.
    pub ctime: Timestamp,
    /// Modification time.
    pub mtime: Timestamp,
    /// Creation time, when the inode is large enough to hold it.
    pub crtime: Option<Timestamp>,
    /// `i_links_count`.
    pub links: u16,
    /// `i_flags`.
    pub flags: u32,
    /// `i_block`: block map, extent root, inline data or symlink target.
    pub block: [u8; 60],
    /// `i_file_acl`: the xattr block, 0 for none.
    pub file_acl: u64,
    /// The in-inode xattr area (after `i_extra_isize`), possibly empty.
    pub extra: Vec<u8>,
}

/// Decode one time: 32 signed seconds, and when present an extra word whose
/// low two bits extend the epoch and whose high 30 bits are nanoseconds.
fn time(secs: u32, extra: Option<u32>) -> Timestamp {
    let mut s = i64::from(secs as i32);
    let mut nanos = 0;
    if let Some(x) = extra {
        s += i64::from(x & 3) << 32;
        nanos = (x >> 2).min(999_999_999);
    }
    Timestamp { secs: s, nanos }
}

impl RawInode {
    /// Decode `b` (exactly `s_inode_size` bytes).
    pub fn parse(ino: u32, b: &[u8]) -> Result<Self> {
        let mut extra_isize = 0usize;
        if b.len() > 128 {
            extra_isize = usize::from(le16(b, 0x80));
            if !extra_isize.is_multiple_of(4) || 128 + extra_isize > b.len() {
                return Err(ReadError::BadInode {
                    ino,
                    msg: format!(
                        "i_extra_isize {extra_isize} does not fit a {}-byte inode (or is not a multiple of 4)",
                        b.len()
                    ),
                });
            }
        }
        // An extra field exists when i_extra_isize covers its end.
        let field = |off: usize| (off + 4 <= 128 + extra_isize).then(|| le32(b, off));
        let mut block = [0u8; 60];
        block.copy_from_slice(&b[0x28..0x28 + 60]);
        Ok(RawInode {
            ino,
            mode: le16(b, 0x00),
            uid: u32::from(le16(b, 0x02)) | u32::from(le16(b, 0x78)) << 16,
            gid: u32::from(le16(b, 0x18)) | u32::from(le16(b, 0x7A)) << 16,
            size: u64::from(le32(b, 0x04)) | u64::from(le32(b, 0x6C)) << 32,
            atime: time(le32(b, 0x08), field(0x8C)),
            ctime: time(le32(b, 0x0C), field(0x84)),
            mtime: time(le32(b, 0x10), field(0x88)),
            crtime: field(0x90).map(|s| time(s, field(0x94))),
            links: le16(b, 0x1A),
            flags: le32(b, 0x20),
            block,
            file_acl: u64::from(le32(b, 0x68)) | u64::from(le16(b, 0x76)) << 32,
            extra: b[128 + extra_isize..].to_vec(),
        })
    }

    /// The `S_IFMT` bits.
    pub fn format(&self) -> u16 {
        self.mode & 0o170000
    }

    /// Word `i` of `i_block`.
    pub fn block_word(&self, i: usize) -> u32 {
        le32(&self.block, i * 4)
    }
}
