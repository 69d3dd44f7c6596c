//! Block group descriptors (32 bytes without `64bit`, 64 with).

use super::{DiskError, checksum::crc16, checksum::crc32c, le, need};

/// `bg_flags`: inode table and bitmap not initialised.
pub const BG_INODE_UNINIT: u16 = 0x1;
/// `bg_flags`: block bitmap not initialised.
pub const BG_BLOCK_UNINIT: u16 = 0x2;
/// `bg_flags`: inode table zeroed.
pub const BG_INODE_ZEROED: u16 = 0x4;

/// One group descriptor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)] // the kernel's `bg_*` names
pub struct GroupDesc {
    pub block_bitmap: u64,
    pub inode_bitmap: u64,
    pub inode_table: u64,
    pub free_blocks_count: u32,
    pub free_inodes_count: u32,
    pub used_dirs_count: u32,
    pub flags: u16,
    pub block_bitmap_csum: u32,
    pub inode_bitmap_csum: u32,
    pub itable_unused: u32,
    pub checksum: u16,
}

impl GroupDesc {
    /// Decode one descriptor of `desc_size` bytes (32 or 64).
    pub fn decode(b: &[u8], desc_size: usize) -> Result<Self, DiskError> {
        if desc_size != 32 && desc_size < 64 {
            return Err(DiskError::BadField {
                what: "group descriptor",
                field: "s_desc_size",
                value: desc_size as u64,
            });
        }
        need("group descriptor", b, desc_size)?;
        let wide = desc_size >= 64;
        let hi32 = |o: usize| {
            if wide {
                u64::from(le::u32(b, o)) << 32
            } else {
                0
            }
        };
        let hi16 = |o: usize| {
            if wide {
                u32::from(le::u16(b, o)) << 16
            } else {
                0
            }
        };
        Ok(GroupDesc {
            block_bitmap: u64::from(le::u32(b, 0x00)) | hi32(0x20),
            inode_bitmap: u64::from(le::u32(b, 0x04)) | hi32(0x24),
            inode_table: u64::from(le::u32(b, 0x08)) | hi32(0x28),
            free_blocks_count: u32::from(le::u16(b, 0x0C)) | hi16(0x2C),
            free_inodes_count: u32::from(le::u16(b, 0x0E)) | hi16(0x2E),
            used_dirs_count: u32::from(le::u16(b, 0x10)) | hi16(0x30),
            flags: le::u16(b, 0x12),
            block_bitmap_csum: u32::from(le::u16(b, 0x18)) | hi16(0x38),
            inode_bitmap_csum: u32::from(le::u16(b, 0x1A)) | hi16(0x3A),
            itable_unused: u32::from(le::u16(b, 0x1C)) | hi16(0x32),
            checksum: le::u16(b, 0x1E),
        })
    }

    /// Encode into `desc_size` bytes (32 or 64) with `bg_checksum` as stored
    /// in `self`; see [`GroupDesc::seal`] to compute it.
    pub fn encode(&self, desc_size: usize) -> Vec<u8> {
        let mut b = vec![0u8; desc_size];
        le::put32(&mut b, 0x00, self.block_bitmap as u32);
        le::put32(&mut b, 0x04, self.inode_bitmap as u32);
        le::put32(&mut b, 0x08, self.inode_table as u32);
        le::put16(&mut b, 0x0C, self.free_blocks_count as u16);
        le::put16(&mut b, 0x0E, self.free_inodes_count as u16);
        le::put16(&mut b, 0x10, self.used_dirs_count as u16);
        le::put16(&mut b, 0x12, self.flags);
        le::put16(&mut b, 0x18, self.block_bitmap_csum as u16);
        le::put16(&mut b, 0x1A, self.inode_bitmap_csum as u16);
        le::put16(&mut b, 0x1C, self.itable_unused as u16);
        le::put16(&mut b, 0x1E, self.checksum);
        if desc_size >= 64 {
            le::put32(&mut b, 0x20, (self.block_bitmap >> 32) as u32);
            le::put32(&mut b, 0x24, (self.inode_bitmap >> 32) as u32);
            le::put32(&mut b, 0x28, (self.inode_table >> 32) as u32);
            le::put16(&mut b, 0x2C, (self.free_blocks_count >> 16) as u16);
            le::put16(&mut b, 0x2E, (self.free_inodes_count >> 16) as u16);
            le::put16(&mut b, 0x30, (self.used_dirs_count >> 16) as u16);
            le::put16(&mut b, 0x32, (self.itable_unused >> 16) as u16);
            le::put16(&mut b, 0x38, (self.block_bitmap_csum >> 16) as u16);
            le::put16(&mut b, 0x3A, (self.inode_bitmap_csum >> 16) as u16);
        }
        b
    }

    /// The `bg_checksum` of an encoded descriptor: crc32c (low 16 bits) for
    /// `metadata_csum`, else crc16 over uuid, group and descriptor
    /// (`gdt_csum`), in both cases skipping the checksum field itself.
    pub fn checksum_of(raw: &[u8], group: u32, uuid: &[u8; 16], metadata_csum: bool) -> u16 {
        let g = group.to_le_bytes();
        if metadata_csum {
            let c = crc32c(crc32c(!0, uuid), &g);
            let c = crc32c(c, &raw[..0x1E]);
            let c = crc32c(c, &[0, 0]);
            (crc32c(c, &raw[0x20..]) & 0xFFFF) as u16
        } else {
            let c = crc16(!0, uuid);
            let c = crc16(c, &g);
            let c = crc16(c, &raw[..0x1E]);
            crc16(c, &raw[0x20..])
        }
    }

    /// Encode with a freshly computed checksum.
    pub fn seal(
        &mut self,
        desc_size: usize,
        group: u32,
        uuid: &[u8; 16],
        metadata_csum: bool,
    ) -> Vec<u8> {
        self.checksum = 0;
        let raw = self.encode(desc_size);
        self.checksum = Self::checksum_of(&raw, group, uuid, metadata_csum);
        self.encode(desc_size)
    }
}
