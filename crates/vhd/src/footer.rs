//! The 512-byte hard disk footer (and its copy at offset 0 of dynamic disks).

use crate::error::{Error, Result};
use crate::geometry::Geometry;

/// Footer length in bytes.
pub const FOOTER_LEN: usize = 512;
/// `conectix`.
pub const FOOTER_COOKIE: &[u8; 8] = b"conectix";
/// Seconds from the Unix epoch to the VHD epoch, 2000-01-01T00:00:00Z.
pub const VHD_EPOCH: i64 = 946_684_800;

/// The footer's `disk_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskType {
    /// 2: raw data followed by the footer.
    Fixed,
    /// 3: sparse, with a BAT of blocks.
    Dynamic,
    /// 4: sparse, unallocated sectors come from a parent.
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
}

/// A decoded hard disk footer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Footer {
    /// Feature bits; 0x2 ("reserved") is always set.
    pub features: u32,
    /// File format version, 0x00010000.
    pub version: u32,
    /// Offset of the dynamic header, or all ones for fixed disks.
    pub data_offset: u64,
    /// Seconds since 2000-01-01 UTC.
    pub timestamp: u32,
    /// Creator application, four bytes (`tap\0`, `qemu`, `win `...).
    #[serde(serialize_with = "ser_fourcc")]
    pub creator_app: [u8; 4],
    /// Creator version, major << 16 | minor.
    pub creator_version: u32,
    /// Creator host OS (`Wi2k`, `Mac `, or 0).
    #[serde(serialize_with = "ser_fourcc")]
    pub creator_os: [u8; 4],
    /// Size at creation, bytes.
    pub original_size: u64,
    /// Current virtual size, bytes.
    pub current_size: u64,
    /// CHS geometry.
    pub geometry: Geometry,
    /// Fixed, dynamic or differencing.
    pub disk_type: DiskType,
    /// Stored checksum.
    pub checksum: u32,
    /// Unique id.
    #[serde(serialize_with = "ser_uuid")]
    pub uuid: [u8; 16],
    /// Saved-state flag.
    pub saved_state: u8,
    /// blktap's "hidden" flag (byte 85).
    pub hidden: u8,
}

fn ser_fourcc<S: serde::Serializer>(v: &[u8; 4], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&fourcc(v))
}

fn ser_uuid<S: serde::Serializer>(v: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_uuid(v))
}

/// Four bytes as text, NULs and other non-printing bytes escaped.
pub fn fourcc(v: &[u8; 4]) -> String {
    v.iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                (b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

/// A UUID in its usual 8-4-4-4-12 text form.
pub fn format_uuid(u: &[u8; 16]) -> String {
    let h: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// One's complement of the byte sum, with the checksum field (`skip`) as zero.
pub fn checksum(bytes: &[u8], skip: std::ops::Range<usize>) -> u32 {
    let sum = bytes
        .iter()
        .enumerate()
        .filter(|(i, _)| !skip.contains(i))
        .fold(0u32, |a, (_, &b)| a.wrapping_add(b as u32));
    !sum
}

pub(crate) fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}

pub(crate) fn be64(b: &[u8], o: usize) -> u64 {
    u64::from_be_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

impl Footer {
    /// Decode a footer found at `at` (for error offsets). Checks the cookie,
    /// the checksum and the disk type: anything else is left to `check`.
    pub fn parse(b: &[u8; FOOTER_LEN], at: u64) -> Result<Footer> {
        if &b[0..8] != FOOTER_COOKIE {
            return Err(Error::field(
                "footer",
                "cookie",
                at,
                "\"conectix\"",
                format!("{:?}", String::from_utf8_lossy(&b[0..8])),
            ));
        }
        let stored = be32(b, 64);
        let computed = checksum(b, 64..68);
        if stored != computed {
            return Err(Error::field(
                "footer",
                "checksum",
                at + 64,
                format!("{computed:#010x}"),
                format!("{stored:#010x}"),
            ));
        }
        let disk_type = match be32(b, 60) {
            2 => DiskType::Fixed,
            3 => DiskType::Dynamic,
            4 => DiskType::Differencing,
            t => {
                return Err(Error::field(
                    "footer",
                    "disk_type",
                    at + 60,
                    "2 (fixed), 3 (dynamic) or 4 (differencing)",
                    t.to_string(),
                ));
            }
        };
        Ok(Footer {
            features: be32(b, 8),
            version: be32(b, 12),
            data_offset: be64(b, 16),
            timestamp: be32(b, 24),
            creator_app: b[28..32].try_into().expect("4"),
            creator_version: be32(b, 32),
            creator_os: b[36..40].try_into().expect("4"),
            original_size: be64(b, 40),
            current_size: be64(b, 48),
            geometry: Geometry {
                cylinders: u16::from_be_bytes([b[56], b[57]]),
                heads: b[58],
                sectors: b[59],
            },
            disk_type,
            checksum: stored,
            uuid: b[68..84].try_into().expect("16"),
            saved_state: b[84],
            hidden: b[85],
        })
    }

    /// Encode, computing the checksum (the stored `checksum` field is ignored).
    pub fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut b = [0u8; FOOTER_LEN];
        b[0..8].copy_from_slice(FOOTER_COOKIE);
        b[8..12].copy_from_slice(&self.features.to_be_bytes());
        b[12..16].copy_from_slice(&self.version.to_be_bytes());
        b[16..24].copy_from_slice(&self.data_offset.to_be_bytes());
        b[24..28].copy_from_slice(&self.timestamp.to_be_bytes());
        b[28..32].copy_from_slice(&self.creator_app);
        b[32..36].copy_from_slice(&self.creator_version.to_be_bytes());
        b[36..40].copy_from_slice(&self.creator_os);
        b[40..48].copy_from_slice(&self.original_size.to_be_bytes());
        b[48..56].copy_from_slice(&self.current_size.to_be_bytes());
        b[56..58].copy_from_slice(&self.geometry.cylinders.to_be_bytes());
        b[58] = self.geometry.heads;
        b[59] = self.geometry.sectors;
        b[60..64].copy_from_slice(&self.disk_type.code().to_be_bytes());
        b[68..84].copy_from_slice(&self.uuid);
        b[84] = self.saved_state;
        b[85] = self.hidden;
        let c = checksum(&b, 64..68);
        b[64..68].copy_from_slice(&c.to_be_bytes());
        b
    }

    /// The size readers use. QEMU 10 reads `current_size` except for
    /// creators `vpc ` and `qemu`, where it uses the geometry (unless the
    /// geometry is the maximum); every other reader uses `current_size`.
    pub fn virtual_size(&self) -> u64 {
        self.current_size
    }
}
