//! The tapdisk batmap: blktap's extension recording which blocks are fully
//! allocated, present when the creator is `tap` version 1.2 or later.

use crate::error::{Error, Result};
use crate::footer::{be32, be64, checksum};

/// `tdbatmap`.
pub const BATMAP_COOKIE: &[u8; 8] = b"tdbatmap";
/// The batmap version vhd-util writes (1.2).
pub const BATMAP_VERSION: u32 = 0x0001_0002;

/// The one-sector batmap header.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BatmapHeader {
    /// Absolute offset of the map.
    pub map_offset: u64,
    /// Map size in sectors.
    pub map_sectors: u32,
    /// Batmap version.
    pub version: u32,
    /// One's-complement byte sum of the map.
    pub checksum: u32,
    /// Marker byte.
    pub marker: u8,
}

/// Sectors the map takes for `entries` BAT entries (at least one).
pub fn map_sectors(entries: u32) -> u32 {
    (entries as u64).div_ceil(8).div_ceil(512).max(1) as u32
}

/// The map's checksum: one's complement of the byte sum of the map sectors.
pub fn map_checksum(map: &[u8]) -> u32 {
    checksum(map, 0..0)
}

impl BatmapHeader {
    /// Decode the header sector found at `at`.
    pub fn parse(b: &[u8; 512], at: u64) -> Result<BatmapHeader> {
        if &b[0..8] != BATMAP_COOKIE {
            return Err(Error::field(
                "batmap header",
                "cookie",
                at,
                "\"tdbatmap\"",
                format!("{:?}", String::from_utf8_lossy(&b[0..8])),
            ));
        }
        Ok(BatmapHeader {
            map_offset: be64(b, 8),
            map_sectors: be32(b, 16),
            version: be32(b, 20),
            checksum: be32(b, 24),
            marker: b[28],
        })
    }

    /// Encode the header sector.
    pub fn encode(&self) -> [u8; 512] {
        let mut b = [0u8; 512];
        b[0..8].copy_from_slice(BATMAP_COOKIE);
        b[8..16].copy_from_slice(&self.map_offset.to_be_bytes());
        b[16..20].copy_from_slice(&self.map_sectors.to_be_bytes());
        b[20..24].copy_from_slice(&self.version.to_be_bytes());
        b[24..28].copy_from_slice(&self.checksum.to_be_bytes());
        b[28] = self.marker;
        b
    }
}

/// Whether a creator carries a batmap: `tap` at version 1.2 or later.
pub fn creator_has_batmap(app: &[u8; 4], version: u32) -> bool {
    &app[0..3] == b"tap" && version >= 0x0001_0002
}
