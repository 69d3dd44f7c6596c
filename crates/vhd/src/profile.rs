//! Who a VHD is written for: what creator, size rounding and geometry each
//! consumer expects.

use crate::error::{Error, Result};
use crate::geometry::{Geometry, MAX_SIZE};

/// A family of VHD consumers and the header conventions they expect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Byte-compatible with `vhd-util create` (blktap, OpenXT's tapdisk):
    /// creator `tap\0` 1.3, OS 0, size rounded up to 2 MiB, floor CHS,
    /// batmap after the BAT, 4 KiB-aligned block payloads.
    #[default]
    Tap,
    /// What `qemu-img create -f vpc` writes: creator `qemu` 5.3 on `Wi2k`,
    /// size rounded up until CHS covers it.
    Qemu,
    /// A fixed disk for Hyper-V and Azure: size rounded up to whole MiB,
    /// creator `win ` so every reader takes the footer's size, floor CHS.
    Fixed,
}

/// The footer fields a profile decides for a requested size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Virtual size written as original and current size.
    pub size: u64,
    /// Stored geometry.
    pub geometry: Geometry,
    /// Creator application.
    pub creator_app: [u8; 4],
    /// Creator version.
    pub creator_version: u32,
    /// Creator host OS.
    pub creator_os: [u8; 4],
    /// Whether block payloads start on 4 KiB boundaries.
    pub align_blocks: bool,
    /// Whether a batmap follows the BAT.
    pub batmap: bool,
}

impl Profile {
    /// Footer fields for a disk of (at least) `requested` bytes.
    pub fn shape(self, requested: u64) -> Result<Shape> {
        if requested == 0 {
            return Err(Error::BadSize {
                size: 0,
                why: "a disk needs at least one byte",
            });
        }
        let round = |to: u64| requested.div_ceil(to) * to;
        let shape = match self {
            Profile::Tap => {
                let size = round(2 << 20);
                Shape {
                    size,
                    geometry: Geometry::for_size(size),
                    creator_app: *b"tap\0",
                    creator_version: 0x0001_0003,
                    creator_os: [0; 4],
                    align_blocks: true,
                    batmap: true,
                }
            }
            Profile::Qemu => {
                let (geometry, size) = Geometry::qemu_round_up(round(512));
                Shape {
                    size,
                    geometry,
                    creator_app: *b"qemu",
                    creator_version: 0x0005_0003,
                    creator_os: *b"Wi2k",
                    align_blocks: false,
                    batmap: false,
                }
            }
            Profile::Fixed => {
                let size = round(1 << 20);
                Shape {
                    size,
                    geometry: Geometry::for_size(size),
                    creator_app: *b"win ",
                    creator_version: 0x000A_0000,
                    creator_os: *b"Wi2k",
                    align_blocks: true,
                    batmap: false,
                }
            }
        };
        if shape.size > MAX_SIZE {
            return Err(Error::BadSize {
                size: requested,
                why: "larger than 2040 GiB, the most any VHD reader accepts",
            });
        }
        Ok(shape)
    }

    /// Whether this profile writes fixed disks unless told otherwise.
    pub fn fixed_by_default(self) -> bool {
        self == Profile::Fixed
    }
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "tap" => Ok(Profile::Tap),
            "qemu" => Ok(Profile::Qemu),
            "fixed" => Ok(Profile::Fixed),
            _ => Err(format!(
                "unknown VHD profile {s:?} (expected tap, qemu or fixed)"
            )),
        }
    }
}
