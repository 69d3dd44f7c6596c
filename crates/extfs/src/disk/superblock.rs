//! The ext superblock: 1024 bytes at byte 1024 of the volume, with backup
//! copies at the start of groups 1 and powers of 3, 5 and 7 (`sparse_super`).

use super::{DiskError, checksum::crc32c, le, need};

/// Superblock magic `s_magic`.
pub const MAGIC: u16 = 0xEF53;
/// Encoded size of a superblock.
pub const SIZE: usize = 1024;

/// `s_feature_compat`: the volume has a journal.
pub const COMPAT_HAS_JOURNAL: u32 = 0x0004;
/// `s_feature_compat`: extended attributes.
pub const COMPAT_EXT_ATTR: u32 = 0x0008;
/// `s_feature_compat`: reserved GDT blocks for online resize.
pub const COMPAT_RESIZE_INODE: u32 = 0x0010;
/// `s_feature_compat`: hashed directory indexes.
pub const COMPAT_DIR_INDEX: u32 = 0x0020;
/// `s_feature_incompat`: directory entries carry a file type.
pub const INCOMPAT_FILETYPE: u32 = 0x0002;
/// `s_feature_incompat`: the journal needs recovery.
pub const INCOMPAT_RECOVER: u32 = 0x0004;
/// `s_feature_incompat`: extent-mapped files.
pub const INCOMPAT_EXTENTS: u32 = 0x0040;
/// `s_feature_incompat`: 64-bit block numbers.
pub const INCOMPAT_64BIT: u32 = 0x0080;
/// `s_feature_incompat`: flexible block groups.
pub const INCOMPAT_FLEX_BG: u32 = 0x0200;
/// `s_feature_ro_compat`: superblock backups only in sparse groups.
pub const RO_COMPAT_SPARSE_SUPER: u32 = 0x0001;
/// `s_feature_ro_compat`: files over 2 GiB.
pub const RO_COMPAT_LARGE_FILE: u32 = 0x0002;
/// `s_feature_ro_compat`: `i_blocks` in 48 bits.
pub const RO_COMPAT_HUGE_FILE: u32 = 0x0008;
/// `s_feature_ro_compat`: crc16 group descriptor checksums.
pub const RO_COMPAT_GDT_CSUM: u32 = 0x0010;
/// `s_feature_ro_compat`: more than 65000 subdirectories.
pub const RO_COMPAT_DIR_NLINK: u32 = 0x0020;
/// `s_feature_ro_compat`: large inodes carry `i_extra_isize` bytes.
pub const RO_COMPAT_EXTRA_ISIZE: u32 = 0x0040;
/// `s_feature_ro_compat`: crc32c checksums on all metadata.
pub const RO_COMPAT_METADATA_CSUM: u32 = 0x0400;

/// The superblock fields this crate reads and writes. Fields not listed
/// are zero when encoding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)] // field names are the kernel's `s_*` names
pub struct Superblock {
    pub inodes_count: u32,
    pub blocks_count: u64,
    pub r_blocks_count: u64,
    pub free_blocks_count: u64,
    pub free_inodes_count: u32,
    pub first_data_block: u32,
    pub log_block_size: u32,
    pub log_cluster_size: u32,
    pub blocks_per_group: u32,
    pub clusters_per_group: u32,
    pub inodes_per_group: u32,
    pub mtime: u32,
    pub wtime: u32,
    pub mnt_count: u16,
    pub max_mnt_count: u16,
    pub state: u16,
    pub errors: u16,
    pub minor_rev_level: u16,
    pub lastcheck: u32,
    pub checkinterval: u32,
    pub creator_os: u32,
    pub rev_level: u32,
    pub def_resuid: u16,
    pub def_resgid: u16,
    pub first_ino: u32,
    pub inode_size: u16,
    pub block_group_nr: u16,
    pub feature_compat: u32,
    pub feature_incompat: u32,
    pub feature_ro_compat: u32,
    pub uuid: [u8; 16],
    pub volume_name: [u8; 16],
    pub reserved_gdt_blocks: u16,
    pub journal_uuid: [u8; 16],
    pub journal_inum: u32,
    pub last_orphan: u32,
    pub hash_seed: [u8; 16],
    pub def_hash_version: u8,
    pub jnl_backup_type: u8,
    pub desc_size: u16,
    pub default_mount_opts: u32,
    pub first_meta_bg: u32,
    pub mkfs_time: u32,
    pub jnl_blocks: [u32; 17],
    pub min_extra_isize: u16,
    pub want_extra_isize: u16,
    pub flags: u32,
    pub log_groups_per_flex: u8,
    pub checksum_type: u8,
    pub checksum: u32,
}

impl Superblock {
    /// Block size in bytes.
    pub fn block_size(&self) -> u64 {
        1024u64 << self.log_block_size
    }

    /// True when every metadata block carries a crc32c.
    pub fn has_metadata_csum(&self) -> bool {
        self.feature_ro_compat & RO_COMPAT_METADATA_CSUM != 0
    }

    /// The seed every metadata checksum but the superblock's starts from.
    pub fn csum_seed(&self) -> u32 {
        crc32c(!0, &self.uuid)
    }

    /// Decode from the 1024 bytes at volume offset 1024, checking the magic
    /// and the block size; the checksum is returned, not verified (see
    /// [`Superblock::checksum_ok`]).
    pub fn decode(b: &[u8]) -> Result<Self, DiskError> {
        need("superblock", b, SIZE)?;
        let magic = le::u16(b, 0x38);
        if magic != MAGIC {
            return Err(DiskError::BadMagic {
                what: "superblock",
                found: magic.into(),
                expected: MAGIC.into(),
            });
        }
        let log_block_size = le::u32(b, 0x18);
        if log_block_size > 6 {
            return Err(DiskError::BadField {
                what: "superblock",
                field: "s_log_block_size",
                value: log_block_size.into(),
            });
        }
        let hi = |o| u64::from(le::u32(b, o)) << 32;
        let incompat = le::u32(b, 0x60);
        let bits64 = incompat & INCOMPAT_64BIT != 0;
        let wide = |lo: usize, h: usize| u64::from(le::u32(b, lo)) | if bits64 { hi(h) } else { 0 };
        let mut jnl_blocks = [0u32; 17];
        for (i, j) in jnl_blocks.iter_mut().enumerate() {
            *j = le::u32(b, 0x10C + 4 * i);
        }
        Ok(Superblock {
            inodes_count: le::u32(b, 0x00),
            blocks_count: wide(0x04, 0x150),
            r_blocks_count: wide(0x08, 0x154),
            free_blocks_count: wide(0x0C, 0x158),
            free_inodes_count: le::u32(b, 0x10),
            first_data_block: le::u32(b, 0x14),
            log_block_size,
            log_cluster_size: le::u32(b, 0x1C),
            blocks_per_group: le::u32(b, 0x20),
            clusters_per_group: le::u32(b, 0x24),
            inodes_per_group: le::u32(b, 0x28),
            mtime: le::u32(b, 0x2C),
            wtime: le::u32(b, 0x30),
            mnt_count: le::u16(b, 0x34),
            max_mnt_count: le::u16(b, 0x36),
            state: le::u16(b, 0x3A),
            errors: le::u16(b, 0x3C),
            minor_rev_level: le::u16(b, 0x3E),
            lastcheck: le::u32(b, 0x40),
            checkinterval: le::u32(b, 0x44),
            creator_os: le::u32(b, 0x48),
            rev_level: le::u32(b, 0x4C),
            def_resuid: le::u16(b, 0x50),
            def_resgid: le::u16(b, 0x52),
            first_ino: le::u32(b, 0x54),
            inode_size: le::u16(b, 0x58),
            block_group_nr: le::u16(b, 0x5A),
            feature_compat: le::u32(b, 0x5C),
            feature_incompat: incompat,
            feature_ro_compat: le::u32(b, 0x64),
            uuid: b[0x68..0x78].try_into().expect("16"),
            volume_name: b[0x78..0x88].try_into().expect("16"),
            reserved_gdt_blocks: le::u16(b, 0xCE),
            journal_uuid: b[0xD0..0xE0].try_into().expect("16"),
            journal_inum: le::u32(b, 0xE0),
            last_orphan: le::u32(b, 0xE8),
            hash_seed: b[0xEC..0xFC].try_into().expect("16"),
            def_hash_version: b[0xFC],
            jnl_backup_type: b[0xFD],
            desc_size: le::u16(b, 0xFE),
            default_mount_opts: le::u32(b, 0x100),
            first_meta_bg: le::u32(b, 0x104),
            mkfs_time: le::u32(b, 0x108),
            jnl_blocks,
            min_extra_isize: le::u16(b, 0x15C),
            want_extra_isize: le::u16(b, 0x15E),
            flags: le::u32(b, 0x160),
            log_groups_per_flex: b[0x174],
            checksum_type: b[0x175],
            checksum: le::u32(b, 0x3FC),
        })
    }

    /// True when the stored `s_checksum` matches the bytes (or the volume
    /// has no `metadata_csum`).
    pub fn checksum_ok(raw: &[u8]) -> bool {
        if raw.len() < SIZE {
            return false;
        }
        let ro = le::u32(raw, 0x64);
        ro & RO_COMPAT_METADATA_CSUM == 0 || crc32c(!0, &raw[..0x3FC]) == le::u32(raw, 0x3FC)
    }

    /// Encode to 1024 bytes, computing `s_checksum` when `metadata_csum` is on.
    pub fn encode(&self) -> [u8; SIZE] {
        let mut b = [0u8; SIZE];
        let bits64 = self.feature_incompat & INCOMPAT_64BIT != 0;
        le::put32(&mut b, 0x00, self.inodes_count);
        le::put32(&mut b, 0x04, self.blocks_count as u32);
        le::put32(&mut b, 0x08, self.r_blocks_count as u32);
        le::put32(&mut b, 0x0C, self.free_blocks_count as u32);
        if bits64 {
            le::put32(&mut b, 0x150, (self.blocks_count >> 32) as u32);
            le::put32(&mut b, 0x154, (self.r_blocks_count >> 32) as u32);
            le::put32(&mut b, 0x158, (self.free_blocks_count >> 32) as u32);
        }
        le::put32(&mut b, 0x10, self.free_inodes_count);
        le::put32(&mut b, 0x14, self.first_data_block);
        le::put32(&mut b, 0x18, self.log_block_size);
        le::put32(&mut b, 0x1C, self.log_cluster_size);
        le::put32(&mut b, 0x20, self.blocks_per_group);
        le::put32(&mut b, 0x24, self.clusters_per_group);
        le::put32(&mut b, 0x28, self.inodes_per_group);
        le::put32(&mut b, 0x2C, self.mtime);
        le::put32(&mut b, 0x30, self.wtime);
        le::put16(&mut b, 0x34, self.mnt_count);
        le::put16(&mut b, 0x36, self.max_mnt_count);
        le::put16(&mut b, 0x38, MAGIC);
        le::put16(&mut b, 0x3A, self.state);
        le::put16(&mut b, 0x3C, self.errors);
        le::put16(&mut b, 0x3E, self.minor_rev_level);
        le::put32(&mut b, 0x40, self.lastcheck);
        le::put32(&mut b, 0x44, self.checkinterval);
        le::put32(&mut b, 0x48, self.creator_os);
        le::put32(&mut b, 0x4C, self.rev_level);
        le::put16(&mut b, 0x50, self.def_resuid);
        le::put16(&mut b, 0x52, self.def_resgid);
        le::put32(&mut b, 0x54, self.first_ino);
        le::put16(&mut b, 0x58, self.inode_size);
        le::put16(&mut b, 0x5A, self.block_group_nr);
        le::put32(&mut b, 0x5C, self.feature_compat);
        le::put32(&mut b, 0x60, self.feature_incompat);
        le::put32(&mut b, 0x64, self.feature_ro_compat);
        b[0x68..0x78].copy_from_slice(&self.uuid);
        b[0x78..0x88].copy_from_slice(&self.volume_name);
        le::put16(&mut b, 0xCE, self.reserved_gdt_blocks);
        b[0xD0..0xE0].copy_from_slice(&self.journal_uuid);
        le::put32(&mut b, 0xE0, self.journal_inum);
        le::put32(&mut b, 0xE8, self.last_orphan);
        b[0xEC..0xFC].copy_from_slice(&self.hash_seed);
        b[0xFC] = self.def_hash_version;
        b[0xFD] = self.jnl_backup_type;
        le::put16(&mut b, 0xFE, self.desc_size);
        le::put32(&mut b, 0x100, self.default_mount_opts);
        le::put32(&mut b, 0x104, self.first_meta_bg);
        le::put32(&mut b, 0x108, self.mkfs_time);
        for (i, j) in self.jnl_blocks.iter().enumerate() {
            le::put32(&mut b, 0x10C + 4 * i, *j);
        }
        le::put16(&mut b, 0x15C, self.min_extra_isize);
        le::put16(&mut b, 0x15E, self.want_extra_isize);
        le::put32(&mut b, 0x160, self.flags);
        b[0x174] = self.log_groups_per_flex;
        b[0x175] = self.checksum_type;
        if self.has_metadata_csum() {
            let c = crc32c(!0, &b[..0x3FC]);
            le::put32(&mut b, 0x3FC, c);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superblock_round_trips_and_checksums() {
        let sb = Superblock {
            inodes_count: 1024,
            blocks_count: 4096,
            log_block_size: 2,
            feature_ro_compat: RO_COMPAT_METADATA_CSUM,
            uuid: [7; 16],
            ..Default::default()
        };
        let raw = sb.encode();
        assert!(Superblock::checksum_ok(&raw));
        let back = Superblock::decode(&raw).unwrap();
        assert_eq!(back.block_size(), 4096);
        assert_eq!(back.inodes_count, 1024);
        let mut bad = raw;
        bad[0] ^= 1;
        assert!(!Superblock::checksum_ok(&bad));
        bad[0x38] = 0;
        assert!(matches!(
            Superblock::decode(&bad),
            Err(DiskError::BadMagic { .. })
        ));
    }
}
