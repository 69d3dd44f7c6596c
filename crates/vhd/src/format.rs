//! Typed views of the VHD structures with explicit big-endian encoding:
//! [`Footer`] (512 bytes), [`DynamicHeader`] (1024 bytes) with its
//! [`ParentLocator`]s, and the tapdisk [`BatmapHeader`].

use serde::Serialize;

use crate::geometry::Geometry;

/// Bytes per sector.
pub const SECTOR: u64 = 512;
/// Footer size.
pub const FOOTER_SIZE: usize = 512;
/// Dynamic header size.
pub const HEADER_SIZE: usize = 1024;
/// Footer cookie.
pub const FOOTER_COOKIE: &[u8; 8] = b"conectix";
/// Dynamic header cookie.
pub const HEADER_COOKIE: &[u8; 8] = b"cxsparse";
/// Batmap header cookie (tapdisk extension).
pub const BATMAP_COOKIE: &[u8; 8] = b"tdbatmap";
/// An unallocated BAT entry.
pub const BAT_UNUSED: u32 = 0xFFFF_FFFF;
/// Seconds from the Unix epoch to the VHD epoch (2000-01-01 00:00:00 UTC).
pub const VHD_EPOCH: u64 = 946_684_800;
/// The largest virtual size readers accept (`0xff000000` sectors, 2040 GiB).
pub const MAX_SIZE: u64 = 0xff00_0000 * SECTOR;
/// The largest block allocation table we read: 4,194,304 entries (16 MiB),
/// enough for the largest disk ([`MAX_SIZE`]) in blocks of 512 KiB, four
/// times what any tool writes (2 MiB blocks). A header claiming more is
/// refused instead of sizing memory by a field of the file.
pub const MAX_BAT_ENTRIES: u32 = 1 << 22;
/// Footer `features`: the "reserved, must be set" bit.
pub const FEATURES_RESERVED: u32 = 2;
/// File format and header version 1.0.
pub const VERSION_1_0: u32 = 0x0001_0000;
/// Batmap version written by vhd-util 1.3.
pub const BATMAP_VERSION: u32 = 0x0001_0002;

/// One's complement of the byte sum with the checksum field (`skip`) taken as zero.
pub fn checksum(bytes: &[u8], skip: std::ops::Range<usize>) -> u32 {
    let sum = bytes
        .iter()
        .enumerate()
        .filter(|(i, _)| !skip.contains(i))
        .fold(0u32, |a, (_, &b)| a.wrapping_add(b as u32));
    !sum
}

fn be16(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}
fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}
fn be64(b: &[u8], o: usize) -> u64 {
    u64::from_be_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}
fn arr<const N: usize>(b: &[u8], o: usize) -> [u8; N] {
    b[o..o + N].try_into().expect("fixed slice")
}

/// Footer `disk_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskType {
    /// Raw data followed by the footer.
    Fixed,
    /// Sparse blocks addressed through the BAT.
    Dynamic,
    /// Dynamic, with unallocated sectors read from a parent.
    Differencing,
}

impl DiskType {
    /// The on-disk value.
    pub fn code(self) -> u32 {
        match self {
            DiskType::Fixed => 2,
            DiskType::Dynamic => 3,
            DiskType::Differencing => 4,
        }
    }

    /// Decode the on-disk value.
    pub fn from_code(c: u32) -> Option<DiskType> {
        match c {
            2 => Some(DiskType::Fixed),
            3 => Some(DiskType::Dynamic),
            4 => Some(DiskType::Differencing),
            _ => None,
        }
    }
}

/// The 512-byte hard disk footer, at EOF (and copied at offset 0 for
/// dynamic and differencing images). `disk_type` is kept raw so that a
/// checker can report bad values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Footer {
    /// `conectix` for a valid footer.
    pub cookie: [u8; 8],
    /// Feature flags (0x2 reserved bit; 0x1 temporary).
    pub features: u32,
    /// File format version, 0x00010000.
    pub version: u32,
    /// Absolute offset of the dynamic header; all ones for fixed disks.
    pub data_offset: u64,
    /// Seconds since 2000-01-01 UTC.
    pub timestamp: u32,
    /// Creator application, e.g. `tap\0`, `qemu`, `win `.
    pub creator_app: [u8; 4],
    /// Creator version, major << 16 | minor.
    pub creator_version: u32,
    /// Creator host OS (`Wi2k`, `Mac `, or 0 from vhd-util).
    pub creator_os: u32,
    /// Size at creation.
    pub original_size: u64,
    /// Virtual size now.
    pub current_size: u64,
    /// CHS geometry.
    pub geometry: Geometry,
    /// Raw disk type (2 fixed, 3 dynamic, 4 differencing).
    pub disk_type: u32,
    /// Stored checksum.
    pub checksum: u32,
    /// Unique id.
    pub uuid: [u8; 16],
    /// Saved-state flag.
    pub saved_state: u8,
    /// blktap's "hidden" flag (byte 85, reserved in the spec).
    pub hidden: u8,
    /// True when bytes 86..512 are all zero.
    #[serde(skip)]
    pub reserved_zero: bool,
}

impl Footer {
    /// Decode 512 bytes (no validation beyond the layout).
    pub fn decode(b: &[u8; FOOTER_SIZE]) -> Footer {
        Footer {
            cookie: arr(b, 0),
            features: be32(b, 8),
            version: be32(b, 12),
            data_offset: be64(b, 16),
            timestamp: be32(b, 24),
            creator_app: arr(b, 28),
            creator_version: be32(b, 32),
            creator_os: be32(b, 36),
            original_size: be64(b, 40),
            current_size: be64(b, 48),
            geometry: Geometry {
                cylinders: be16(b, 56),
                heads: b[58],
                sectors: b[59],
            },
            disk_type: be32(b, 60),
            checksum: be32(b, 64),
            uuid: arr(b, 68),
            saved_state: b[84],
            hidden: b[85],
            reserved_zero: b[86..].iter().all(|&x| x == 0),
        }
    }

    /// Encode with a freshly computed checksum (stored back into `self`).
    pub fn encode(&mut self) -> [u8; FOOTER_SIZE] {
        let mut b = [0u8; FOOTER_SIZE];
        b[0..8].copy_from_slice(&self.cookie);
        b[8..12].copy_from_slice(&self.features.to_be_bytes());
        b[12..16].copy_from_slice(&self.version.to_be_bytes());
        b[16..24].copy_from_slice(&self.data_offset.to_be_bytes());
        b[24..28].copy_from_slice(&self.timestamp.to_be_bytes());
        b[28..32].copy_from_slice(&self.creator_app);
        b[32..36].copy_from_slice(&self.creator_version.to_be_bytes());
        b[36..40].copy_from_slice(&self.creator_os.to_be_bytes());
        b[40..48].copy_from_slice(&self.original_size.to_be_bytes());
        b[48..56].copy_from_slice(&self.current_size.to_be_bytes());
        b[56..58].copy_from_slice(&self.geometry.cylinders.to_be_bytes());
        b[58] = self.geometry.heads;
        b[59] = self.geometry.sectors;
        b[60..64].copy_from_slice(&self.disk_type.to_be_bytes());
        b[68..84].copy_from_slice(&self.uuid);
        b[84] = self.saved_state;
        b[85] = self.hidden;
        self.checksum = checksum(&b, 64..68);
        b[64..68].copy_from_slice(&self.checksum.to_be_bytes());
        self.reserved_zero = true;
        b
    }

    /// The checksum the bytes should carry.
    pub fn computed_checksum(b: &[u8; FOOTER_SIZE]) -> u32 {
        checksum(b, 64..68)
    }

    /// The decoded disk type, if valid.
    pub fn kind(&self) -> Option<DiskType> {
        DiskType::from_code(self.disk_type)
    }

    /// Creator application as text (NULs shown as `\0`).
    pub fn creator_app_text(&self) -> String {
        self.creator_app.escape_ascii().to_string()
    }
}

/// Platform codes of parent locators.
pub mod platform {
    /// No locator.
    pub const NONE: u32 = 0;
    /// UTF-16LE relative path (Windows).
    pub const W2RU: u32 = 0x5732_7275;
    /// UTF-16LE absolute path (Windows).
    pub const W2KU: u32 = 0x5732_6B75;
    /// Deprecated Windows relative.
    pub const WI2R: u32 = 0x5769_3272;
    /// Deprecated Windows absolute.
    pub const WI2K: u32 = 0x5769_326B;
    /// Mac OS alias blob.
    pub const MAC: u32 = 0x4D61_6320;
    /// UTF-8 file URL.
    pub const MACX: u32 = 0x4D61_6358;
}

/// One 24-byte parent locator entry of a differencing disk's header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ParentLocator {
    /// Platform code (see [`platform`]).
    pub code: u32,
    /// Space reserved for the data: sectors per the spec, bytes in practice.
    pub data_space: u32,
    /// Length of the locator data in bytes.
    pub data_len: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// Absolute file offset of the locator data.
    pub data_offset: u64,
}

impl ParentLocator {
    fn decode(b: &[u8]) -> ParentLocator {
        ParentLocator {
            code: be32(b, 0),
            data_space: be32(b, 4),
            data_len: be32(b, 8),
            reserved: be32(b, 12),
            data_offset: be64(b, 16),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        b[0..4].copy_from_slice(&self.code.to_be_bytes());
        b[4..8].copy_from_slice(&self.data_space.to_be_bytes());
        b[8..12].copy_from_slice(&self.data_len.to_be_bytes());
        b[12..16].copy_from_slice(&self.reserved.to_be_bytes());
        b[16..24].copy_from_slice(&self.data_offset.to_be_bytes());
    }
}

/// The 1024-byte dynamic disk header (`cxsparse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DynamicHeader {
    /// `cxsparse` for a valid header.
    pub cookie: [u8; 8],
    /// Unused; all ones.
    pub data_offset: u64,
    /// Absolute offset of the BAT.
    pub table_offset: u64,
    /// Header version, 0x00010000.
    pub version: u32,
    /// Number of BAT entries.
    pub max_table_entries: u32,
    /// Payload bytes per block (power of two; 2 MiB by default).
    pub block_size: u32,
    /// Stored checksum.
    pub checksum: u32,
    /// Parent's unique id (differencing).
    pub parent_uuid: [u8; 16],
    /// Parent's modification time, VHD epoch (differencing).
    pub parent_timestamp: u32,
    /// Reserved u32 at offset 60.
    pub reserved1: u32,
    /// Parent's name, UTF-16 big-endian, NUL padded (512 bytes).
    #[serde(skip)]
    pub parent_name_raw: Vec<u8>,
    /// The eight parent locators.
    pub locators: [ParentLocator; 8],
    /// True when bytes 768..1024 are zero.
    #[serde(skip)]
    pub reserved_zero: bool,
}

impl DynamicHeader {
    /// A header for a dynamic disk with the BAT at `table_offset`.
    pub fn new(table_offset: u64, max_table_entries: u32, block_size: u32) -> DynamicHeader {
        DynamicHeader {
            cookie: *HEADER_COOKIE,
            data_offset: u64::MAX,
            table_offset,
            version: VERSION_1_0,
            max_table_entries,
            block_size,
            checksum: 0,
            parent_uuid: [0; 16],
            parent_timestamp: 0,
            reserved1: 0,
            parent_name_raw: vec![0; 512],
            locators: [ParentLocator::default(); 8],
            reserved_zero: true,
        }
    }

    /// Decode 1024 bytes (no validation beyond the layout).
    pub fn decode(b: &[u8; HEADER_SIZE]) -> DynamicHeader {
        let mut locators = [ParentLocator::default(); 8];
        for (i, l) in locators.iter_mut().enumerate() {
            *l = ParentLocator::decode(&b[576 + 24 * i..600 + 24 * i]);
        }
        DynamicHeader {
            cookie: arr(b, 0),
            data_offset: be64(b, 8),
            table_offset: be64(b, 16),
            version: be32(b, 24),
            max_table_entries: be32(b, 28),
            block_size: be32(b, 32),
            checksum: be32(b, 36),
            parent_uuid: arr(b, 40),
            parent_timestamp: be32(b, 56),
            reserved1: be32(b, 60),
            parent_name_raw: b[64..576].to_vec(),
            locators,
            reserved_zero: b[768..].iter().all(|&x| x == 0),
        }
    }

    /// Encode with a freshly computed checksum (stored back into `self`).
    pub fn encode(&mut self) -> [u8; HEADER_SIZE] {
        let mut b = [0u8; HEADER_SIZE];
        b[0..8].copy_from_slice(&self.cookie);
        b[8..16].copy_from_slice(&self.data_offset.to_be_bytes());
        b[16..24].copy_from_slice(&self.table_offset.to_be_bytes());
        b[24..28].copy_from_slice(&self.version.to_be_bytes());
        b[28..32].copy_from_slice(&self.max_table_entries.to_be_bytes());
        b[32..36].copy_from_slice(&self.block_size.to_be_bytes());
        b[40..56].copy_from_slice(&self.parent_uuid);
        b[56..60].copy_from_slice(&self.parent_timestamp.to_be_bytes());
        b[60..64].copy_from_slice(&self.reserved1.to_be_bytes());
        let n = self.parent_name_raw.len().min(512);
        b[64..64 + n].copy_from_slice(&self.parent_name_raw[..n]);
        for (i, l) in self.locators.iter().enumerate() {
            l.encode(&mut b[576 + 24 * i..600 + 24 * i]);
        }
        self.checksum = checksum(&b, 36..40);
        b[36..40].copy_from_slice(&self.checksum.to_be_bytes());
        self.reserved_zero = true;
        b
    }

    /// The checksum the bytes should carry.
    pub fn computed_checksum(b: &[u8; HEADER_SIZE]) -> u32 {
        checksum(b, 36..40)
    }

    /// The parent's name decoded from UTF-16 big-endian, up to the first NUL.
    pub fn parent_name(&self) -> String {
        let units: Vec<u16> = self
            .parent_name_raw
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        String::from_utf16_lossy(&units)
    }

    /// Bytes of the per-block sector bitmap, rounded up to whole sectors.
    pub fn bitmap_bytes(&self) -> u64 {
        (self.block_size as u64 / SECTOR)
            .div_ceil(8)
            .next_multiple_of(SECTOR)
    }

    /// Bytes the BAT occupies on disk (rounded up to whole sectors).
    pub fn bat_bytes(&self) -> u64 {
        (self.max_table_entries as u64 * 4).next_multiple_of(SECTOR)
    }
}

/// The tapdisk batmap header (one sector after the BAT), and where its map is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatmapHeader {
    /// `tdbatmap`.
    pub cookie: [u8; 8],
    /// Absolute offset of the map.
    pub map_offset: u64,
    /// Size of the map in sectors.
    pub map_sectors: u32,
    /// Batmap version (0x00010002).
    pub version: u32,
    /// Checksum over the map.
    pub checksum: u32,
    /// Marker byte.
    pub marker: u8,
}

impl BatmapHeader {
    /// Decode a 512-byte sector.
    pub fn decode(b: &[u8; 512]) -> BatmapHeader {
        BatmapHeader {
            cookie: arr(b, 0),
            map_offset: be64(b, 8),
            map_sectors: be32(b, 16),
            version: be32(b, 20),
            checksum: be32(b, 24),
            marker: b[28],
        }
    }

    /// Encode into a zero-padded sector.
    pub fn encode(&self) -> [u8; 512] {
        let mut b = [0u8; 512];
        b[0..8].copy_from_slice(&self.cookie);
        b[8..16].copy_from_slice(&self.map_offset.to_be_bytes());
        b[16..20].copy_from_slice(&self.map_sectors.to_be_bytes());
        b[20..24].copy_from_slice(&self.version.to_be_bytes());
        b[24..28].copy_from_slice(&self.checksum.to_be_bytes());
        b[28] = self.marker;
        b
    }

    /// Map sectors for `entries` BAT entries: one bit each, at least one sector.
    pub fn sectors_for(entries: u32) -> u32 {
        ((entries as u64).div_ceil(8).div_ceil(SECTOR)).max(1) as u32
    }

    /// libvhd's map checksum: one's complement of the unsigned byte sum
    /// over `max(1, ceil((current_size >> 24) / 512))` sectors of the map
    /// (version 1.1 summed signed bytes).
    pub fn map_checksum(map: &[u8], current_size: u64, version: u32) -> u32 {
        let secs = (current_size >> 24).div_ceil(SECTOR).max(1);
        let n = ((secs * SECTOR) as usize).min(map.len());
        let sum = map[..n].iter().fold(0u32, |a, &b| {
            if version == 0x0001_0001 {
                a.wrapping_add(b as i8 as i32 as u32)
            } else {
                a.wrapping_add(b as u32)
            }
        });
        !sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first 0x50 bytes of a qemu-img 10 dynamic 100M footer (spec 5.1).
    const QEMU_FOOTER_HEAD: [u8; 0x54] = [
        0x63, 0x6f, 0x6e, 0x65, 0x63, 0x74, 0x69, 0x78, 0, 0, 0, 2, 0, 1, 0, 0, //
        0, 0, 0, 0, 0, 0, 2, 0, 0x32, 0x9d, 0x94, 0x43, 0x71, 0x65, 0x6d, 0x75, //
        0, 5, 0, 3, 0x57, 0x69, 0x32, 0x6b, 0, 0, 0, 0, 0x06, 0x40, 0x20, 0, //
        0, 0, 0, 0, 0x06, 0x40, 0x20, 0, 0x03, 0xec, 0x0c, 0x11, 0, 0, 0, 3, //
        0xff, 0xff, 0xee, 0x0a, 0xdc, 0xe2, 0x28, 0x94, 0x44, 0x3a, 0x46, 0x09, 0x83, 0x97, 0x28,
        0x9f, 0xb9, 0xef, 0x41, 0xe4,
    ];

    #[test]
    fn footer_decodes_and_reencodes_a_qemu_footer_bit_for_bit() {
        let mut b = [0u8; 512];
        b[..0x54].copy_from_slice(&QEMU_FOOTER_HEAD);
        let mut f = Footer::decode(&b);
        assert_eq!(&f.cookie, FOOTER_COOKIE);
        assert_eq!(f.current_size, 104_865_792);
        assert_eq!(f.geometry.cylinders, 1004);
        assert_eq!(f.kind(), Some(DiskType::Dynamic));
        assert_eq!(Footer::computed_checksum(&b), f.checksum);
        assert_eq!(f.encode(), b);
    }

    #[test]
    fn header_round_trips_with_its_checksum() {
        let mut h = DynamicHeader::new(0x600, 51, 2 << 20);
        let b = h.encode();
        assert_eq!(DynamicHeader::decode(&b), h);
        assert_eq!(DynamicHeader::computed_checksum(&b), h.checksum);
        assert_eq!(h.bitmap_bytes(), 512);
        assert_eq!(h.bat_bytes(), 512);
    }

    #[test]
    fn empty_batmap_checksum_is_all_ones() {
        let map = [0u8; 512];
        assert_eq!(
            BatmapHeader::map_checksum(&map, 100 << 20, BATMAP_VERSION),
            0xffff_ffff
        );
    }
}
