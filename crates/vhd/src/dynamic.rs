//! The 1024-byte dynamic disk header (`cxsparse`) and its parent locators.

use crate::error::{Error, Result};
use crate::footer::{be32, be64, checksum};

/// Dynamic header length.
pub const HEADER_LEN: usize = 1024;
/// `cxsparse`.
pub const HEADER_COOKIE: &[u8; 8] = b"cxsparse";
/// The default (and by far most common) block size, 2 MiB.
pub const DEFAULT_BLOCK_SIZE: u32 = 2 << 20;
/// A BAT entry for a block that is not allocated.
pub const UNALLOCATED: u32 = 0xFFFF_FFFF;

/// One of the eight parent locator entries.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ParentLocator {
    /// Platform code (`W2ku`, `W2ru`, `MacX`, ...), 0 for none.
    pub code: u32,
    /// Space reserved for the data (bytes as Hyper-V writes it, or sectors
    /// as the spec says; readers must cope with both).
    pub data_space: u32,
    /// Length of the locator data in bytes.
    pub data_len: u32,
    /// Absolute file offset of the locator data.
    pub data_offset: u64,
}

/// Absolute UTF-16LE Windows path.
pub const LOC_W2KU: u32 = u32::from_be_bytes(*b"W2ku");
/// Relative UTF-16LE Windows path.
pub const LOC_W2RU: u32 = u32::from_be_bytes(*b"W2ru");
/// UTF-8 `file://` URL (Mac OS X).
pub const LOC_MACX: u32 = u32::from_be_bytes(*b"MacX");

/// A decoded dynamic disk header.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DynamicHeader {
    /// Unused; all ones.
    pub data_offset: u64,
    /// Absolute offset of the BAT.
    pub table_offset: u64,
    /// Header version, 0x00010000.
    pub version: u32,
    /// Number of BAT entries.
    pub max_table_entries: u32,
    /// Payload bytes per block (power of two).
    pub block_size: u32,
    /// Stored checksum.
    pub checksum: u32,
    /// Parent's footer UUID (differencing disks).
    #[serde(serialize_with = "ser_uuid")]
    pub parent_uuid: [u8; 16],
    /// Parent's modification time, VHD epoch.
    pub parent_timestamp: u32,
    /// Parent file name.
    pub parent_name: String,
    /// Parent locators.
    pub locators: Vec<ParentLocator>,
}

fn ser_uuid<S: serde::Serializer>(v: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::footer::format_uuid(v))
}

impl DynamicHeader {
    /// A header for a fresh dynamic disk.
    pub fn new(table_offset: u64, max_table_entries: u32, block_size: u32) -> Self {
        DynamicHeader {
            data_offset: u64::MAX,
            table_offset,
            version: 0x0001_0000,
            max_table_entries,
            block_size,
            checksum: 0,
            parent_uuid: [0; 16],
            parent_timestamp: 0,
            parent_name: String::new(),
            locators: vec![ParentLocator::default(); 8],
        }
    }

    /// Decode a header read at `at`; checks the cookie, checksum and block size.
    pub fn parse(b: &[u8; HEADER_LEN], at: u64) -> Result<DynamicHeader> {
        if &b[0..8] != HEADER_COOKIE {
            return Err(Error::field(
                "dynamic header",
                "cookie",
                at,
                "\"cxsparse\"",
                format!("{:?}", String::from_utf8_lossy(&b[0..8])),
            ));
        }
        let stored = be32(b, 36);
        let computed = checksum(b, 36..40);
        if stored != computed {
            return Err(Error::field(
                "dynamic header",
                "checksum",
                at + 36,
                format!("{computed:#010x}"),
                format!("{stored:#010x}"),
            ));
        }
        let block_size = be32(b, 32);
        if !block_size.is_power_of_two() || block_size < 512 {
            return Err(Error::field(
                "dynamic header",
                "block_size",
                at + 32,
                "a power of two of at least 512",
                block_size.to_string(),
            ));
        }
        let name_units: Vec<u16> = b[64..576]
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        let locators = (0..8)
            .map(|i| {
                let o = 576 + i * 24;
                ParentLocator {
                    code: be32(b, o),
                    data_space: be32(b, o + 4),
                    data_len: be32(b, o + 8),
                    data_offset: be64(b, o + 16),
                }
            })
            .collect();
        Ok(DynamicHeader {
            data_offset: be64(b, 8),
            table_offset: be64(b, 16),
            version: be32(b, 24),
            max_table_entries: be32(b, 28),
            block_size,
            checksum: stored,
            parent_uuid: b[40..56].try_into().expect("16"),
            parent_timestamp: be32(b, 56),
            parent_name: String::from_utf16_lossy(&name_units),
            locators,
        })
    }

    /// Encode, computing the checksum.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(HEADER_COOKIE);
        b[8..16].copy_from_slice(&self.data_offset.to_be_bytes());
        b[16..24].copy_from_slice(&self.table_offset.to_be_bytes());
        b[24..28].copy_from_slice(&self.version.to_be_bytes());
        b[28..32].copy_from_slice(&self.max_table_entries.to_be_bytes());
        b[32..36].copy_from_slice(&self.block_size.to_be_bytes());
        b[40..56].copy_from_slice(&self.parent_uuid);
        b[56..60].copy_from_slice(&self.parent_timestamp.to_be_bytes());
        for (i, u) in self.parent_name.encode_utf16().take(256).enumerate() {
            b[64 + 2 * i..66 + 2 * i].copy_from_slice(&u.to_be_bytes());
        }
        for (i, l) in self.locators.iter().take(8).enumerate() {
            let o = 576 + i * 24;
            b[o..o + 4].copy_from_slice(&l.code.to_be_bytes());
            b[o + 4..o + 8].copy_from_slice(&l.data_space.to_be_bytes());
            b[o + 8..o + 12].copy_from_slice(&l.data_len.to_be_bytes());
            b[o + 16..o + 24].copy_from_slice(&l.data_offset.to_be_bytes());
        }
        let c = checksum(&b, 36..40);
        b[36..40].copy_from_slice(&c.to_be_bytes());
        b
    }

    /// Bytes of the sector bitmap in front of each block, padded to sectors.
    pub fn bitmap_len(&self) -> u64 {
        bitmap_len(self.block_size)
    }
}

/// Sector-bitmap bytes (rounded to whole sectors) for a block size.
pub fn bitmap_len(block_size: u32) -> u64 {
    (block_size as u64 / 512).div_ceil(8).div_ceil(512) * 512
}
