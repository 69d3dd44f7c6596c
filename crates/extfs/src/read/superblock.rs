//! The superblock (1024 bytes at byte 1024) and the group descriptor table,
//! as far as reading files needs them. All fields little-endian.

use super::error::{ReadError, Result};
use super::source::{Image, le16, le32};

/// `s_magic`.
pub const EXT_MAGIC: u16 = 0xEF53;
/// Byte offset of the primary superblock.
pub const SUPERBLOCK_OFFSET: u64 = 1024;

/// `INCOMPAT_FILETYPE`: directory entries carry a file type byte.
pub const INCOMPAT_FILETYPE: u32 = 0x2;
/// `INCOMPAT_RECOVER`: the journal needs replaying (we read as is).
pub const INCOMPAT_RECOVER: u32 = 0x4;
/// `INCOMPAT_META_BG`: group descriptors spread over meta block groups.
pub const INCOMPAT_META_BG: u32 = 0x10;
/// `INCOMPAT_EXTENTS`.
pub const INCOMPAT_EXTENTS: u32 = 0x40;
/// `INCOMPAT_64BIT`: 64-bit block numbers and larger group descriptors.
pub const INCOMPAT_64BIT: u32 = 0x80;
/// `INCOMPAT_MMP`.
pub const INCOMPAT_MMP: u32 = 0x100;
/// `INCOMPAT_FLEX_BG`.
pub const INCOMPAT_FLEX_BG: u32 = 0x200;
/// `INCOMPAT_EA_INODE`: large xattr values in their own inodes.
pub const INCOMPAT_EA_INODE: u32 = 0x400;
/// `INCOMPAT_CSUM_SEED`.
pub const INCOMPAT_CSUM_SEED: u32 = 0x2000;
/// `INCOMPAT_LARGEDIR`.
pub const INCOMPAT_LARGEDIR: u32 = 0x4000;
/// `INCOMPAT_INLINE_DATA`.
pub const INCOMPAT_INLINE_DATA: u32 = 0x8000;

const SUPPORTED_INCOMPAT: u32 = INCOMPAT_FILETYPE
    | INCOMPAT_RECOVER
    | INCOMPAT_META_BG
    | INCOMPAT_EXTENTS
    | INCOMPAT_64BIT
    | INCOMPAT_MMP
    | INCOMPAT_FLEX_BG
    | INCOMPAT_EA_INODE
    | INCOMPAT_CSUM_SEED
    | INCOMPAT_LARGEDIR
    | INCOMPAT_INLINE_DATA;

/// The superblock fields the reader uses.
#[derive(Clone, Debug)]
pub struct Superblock {
    /// `s_inodes_count`.
    pub inodes_count: u32,
    /// `s_blocks_count_lo | s_blocks_count_hi << 32`.
    pub blocks_count: u64,
    /// `s_first_data_block` (1 for 1 KiB blocks, else 0).
    pub first_data_block: u32,
    /// Block size in bytes, `1024 << s_log_block_size`.
    pub block_size: u32,
    /// `s_blocks_per_group`.
    pub blocks_per_group: u32,
    /// `s_inodes_per_group`.
    pub inodes_per_group: u32,
    /// `s_first_ino`: first non-reserved inode.
    pub first_ino: u32,
    /// `s_inode_size`.
    pub inode_size: u16,
    /// `s_feature_compat`.
    pub feature_compat: u32,
    /// `s_feature_incompat`.
    pub feature_incompat: u32,
    /// `s_feature_ro_compat`.
    pub feature_ro_compat: u32,
    /// Group descriptor size: 32, or `s_desc_size` with 64bit.
    pub desc_size: u16,
    /// `s_first_meta_bg`.
    pub first_meta_bg: u32,
}

fn bad(field: &'static str, value: u64, expected: &'static str) -> ReadError {
    ReadError::BadSuperblock {
        field,
        value,
        expected,
    }
}

impl Superblock {
    /// Read and sanity-check the primary superblock.
    pub fn read(img: &Image) -> Result<Self> {
        let b = img.read_vec(|| "superblock".into(), SUPERBLOCK_OFFSET, 1024)?;
        let magic = le16(&b, 0x38);
        if magic != EXT_MAGIC {
            return Err(ReadError::BadMagic { found: magic });
        }
        let log = le32(&b, 0x18);
        if log > 6 {
            return Err(bad(
                "s_log_block_size",
                log.into(),
                "0..=6 (1 KiB to 64 KiB blocks)",
            ));
        }
        let block_size = 1024u32 << log;
        let rev = le32(&b, 0x4C);
        let (first_ino, inode_size) = if rev == 0 {
            (11, 128)
        } else {
            (le32(&b, 0x54), le16(&b, 0x58))
        };
        if inode_size < 128 || !inode_size.is_power_of_two() || u32::from(inode_size) > block_size {
            return Err(bad(
                "s_inode_size",
                inode_size.into(),
                "a power of two from 128 to the block size",
            ));
        }
        let incompat = le32(&b, 0x60);
        if incompat & !SUPPORTED_INCOMPAT != 0 {
            return Err(ReadError::Unsupported(incompat & !SUPPORTED_INCOMPAT));
        }
        let is64 = incompat & INCOMPAT_64BIT != 0;
        let desc_size = if is64 { le16(&b, 0xFE) } else { 32 };
        if desc_size < 32 || !desc_size.is_power_of_two() || u32::from(desc_size) > block_size {
            return Err(bad(
                "s_desc_size",
                desc_size.into(),
                "a power of two, 32 up to the block size",
            ));
        }
        let mut blocks_count = u64::from(le32(&b, 0x04));
        if is64 {
            blocks_count |= u64::from(le32(&b, 0x150)) << 32;
        }
        let sb = Superblock {
            inodes_count: le32(&b, 0x00),
            blocks_count,
            first_data_block: le32(&b, 0x14),
            block_size,
            blocks_per_group: le32(&b, 0x20),
            inodes_per_group: le32(&b, 0x28),
            first_ino,
            inode_size,
            feature_compat: le32(&b, 0x5C),
            feature_incompat: incompat,
            feature_ro_compat: le32(&b, 0x64),
            desc_size,
            first_meta_bg: le32(&b, 0x104),
        };
        let need = sb.blocks_count.saturating_mul(u64::from(block_size));
        if need > img.size() {
            return Err(ReadError::Truncated {
                what: format!("filesystem of {} blocks (s_blocks_count)", sb.blocks_count),
                offset: 0,
                len: need,
                size: img.size(),
            });
        }
        if sb.blocks_per_group == 0 || sb.blocks_per_group > block_size * 8 {
            return Err(bad(
                "s_blocks_per_group",
                sb.blocks_per_group.into(),
                "1 up to 8 x block size",
            ));
        }
        if sb.inodes_per_group == 0 || sb.inodes_per_group > block_size * 8 {
            return Err(bad(
                "s_inodes_per_group",
                sb.inodes_per_group.into(),
                "1 up to 8 x block size",
            ));
        }
        if u64::from(sb.first_data_block) >= sb.blocks_count {
            return Err(bad(
                "s_first_data_block",
                sb.first_data_block.into(),
                "below s_blocks_count",
            ));
        }
        if sb.first_ino < 3 || sb.first_ino > sb.inodes_count {
            return Err(bad(
                "s_first_ino",
                sb.first_ino.into(),
                "3 up to s_inodes_count",
            ));
        }
        if u64::from(sb.inodes_count) > u64::from(sb.group_count()) * u64::from(sb.inodes_per_group)
        {
            return Err(bad(
                "s_inodes_count",
                sb.inodes_count.into(),
                "at most groups x s_inodes_per_group",
            ));
        }
        Ok(sb)
    }

    /// Number of block groups.
    pub fn group_count(&self) -> u32 {
        let data = self.blocks_count - u64::from(self.first_data_block);
        data.div_ceil(u64::from(self.blocks_per_group))
            .min(u64::from(u32::MAX)) as u32
    }

    /// True when the incompat feature bit is set.
    pub fn has_incompat(&self, bit: u32) -> bool {
        self.feature_incompat & bit != 0
    }

    fn group_has_super(&self, group: u32) -> bool {
        const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
        if self.feature_ro_compat & RO_COMPAT_SPARSE_SUPER == 0 || group <= 1 {
            return true;
        }
        [3u32, 5, 7].iter().any(|&base| {
            let mut p = base;
            while p < group {
                match p.checked_mul(base) {
                    Some(n) => p = n,
                    None => return false,
                }
            }
            p == group
        })
    }

    /// Block holding the descriptor of `group`.
    fn descriptor_location(&self, group: u32) -> (u64, usize) {
        let per_block = self.block_size / u32::from(self.desc_size);
        let fdb = u64::from(self.first_data_block);
        let meta_group = group / per_block;
        let index = (group % per_block) as usize * usize::from(self.desc_size);
        if self.has_incompat(INCOMPAT_META_BG) && meta_group >= self.first_meta_bg {
            let first = meta_group * per_block;
            let base = fdb + u64::from(first) * u64::from(self.blocks_per_group);
            (base + u64::from(self.group_has_super(first)), index)
        } else {
            (fdb + 1 + u64::from(meta_group), index)
        }
    }

    /// Inode table start block of every group, checked to lie inside the
    /// filesystem.
    pub fn inode_tables(&self, img: &Image) -> Result<Vec<u64>> {
        let groups = self.group_count();
        let table_blocks = (u64::from(self.inodes_per_group) * u64::from(self.inode_size))
            .div_ceil(u64::from(self.block_size));
        let mut out = Vec::with_capacity(groups.min(1 << 16) as usize);
        let mut cached: Option<(u64, Vec<u8>)> = None;
        for g in 0..groups {
            let (blk, idx) = self.descriptor_location(g);
            if cached.as_ref().is_none_or(|(b, _)| *b != blk) {
                let off = blk * u64::from(self.block_size);
                let data = img.read_vec(
                    || format!("group descriptor block {blk}"),
                    off,
                    self.block_size as usize,
                )?;
                cached = Some((blk, data));
            }
            let d =
                &cached.as_ref().expect("just filled").1[idx..idx + usize::from(self.desc_size)];
            let mut table = u64::from(le32(d, 0x08));
            if self.desc_size >= 64 {
                table |= u64::from(le32(d, 0x28)) << 32;
            }
            if table == 0 || table.saturating_add(table_blocks) > self.blocks_count {
                return Err(ReadError::BlockOutOfRange {
                    what: format!("group {g} descriptor bg_inode_table"),
                    block: table,
                    blocks: self.blocks_count,
                });
            }
            out.push(table);
        }
        Ok(out)
    }
}
