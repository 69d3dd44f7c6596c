//! CHS geometry, as the VHD specification's appendix computes it.

/// Cylinders, heads and sectors per track as stored in the footer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Geometry {
    /// Cylinders.
    pub cylinders: u16,
    /// Heads.
    pub heads: u8,
    /// Sectors per track.
    pub sectors: u8,
}

/// 65535 × 16 × 255 sectors: the largest geometry, also QEMU's
/// "use current_size" marker.
pub const MAX_GEOMETRY_SECTORS: u64 = 65535 * 16 * 255;

/// The largest size any VHD reader accepts: 2040 GiB.
pub const MAX_SIZE: u64 = 0xff00_0000 * 512;

impl Geometry {
    /// The largest geometry (`force_size` marker in QEMU).
    pub const MAX: Geometry = Geometry {
        cylinders: 65535,
        heads: 16,
        sectors: 255,
    };

    /// Geometry for `total_sectors`, rounding down as the spec, vhd-util,
    /// VirtualBox and QEMU's `calculate_geometry` all do.
    pub fn for_sectors(total_sectors: u64) -> Geometry {
        let total = total_sectors.min(MAX_GEOMETRY_SECTORS);
        let (spt, heads, cth);
        if total >= 65535 * 16 * 63 {
            spt = 255u64;
            heads = 16u64;
            cth = total / spt;
        } else {
            let mut s = 17u64;
            let mut c = total / s;
            let mut h = c.div_ceil(1024).max(4);
            if c >= h * 1024 || h > 16 {
                s = 31;
                h = 16;
                c = total / s;
            }
            if c >= h * 1024 {
                s = 63;
                h = 16;
                c = total / s;
            }
            spt = s;
            heads = h;
            cth = c;
        }
        Geometry {
            cylinders: (cth / heads) as u16,
            heads: heads as u8,
            sectors: spt as u8,
        }
    }

    /// Geometry for a size in bytes, rounding down.
    pub fn for_size(size: u64) -> Geometry {
        Geometry::for_sectors(size / 512)
    }

    /// Sectors this geometry addresses.
    pub fn sectors_total(self) -> u64 {
        self.cylinders as u64 * self.heads as u64 * self.sectors as u64
    }

    /// Packed as vhd-util compares geometries: `C << 16 | H << 8 | S`.
    pub fn packed(self) -> u32 {
        (self.cylinders as u32) << 16 | (self.heads as u32) << 8 | self.sectors as u32
    }

    /// What `qemu-img create -f vpc` picks: grow the sector count until the
    /// geometry covers the request, then use the geometry's size; above the
    /// largest geometry, the maximum geometry and the exact size.
    /// Returns (geometry, size in bytes).
    pub fn qemu_round_up(size: u64) -> (Geometry, u64) {
        let total = (size / 512).min(MAX_GEOMETRY_SECTORS);
        let mut g = Geometry {
            cylinders: 0,
            heads: 0,
            sectors: 0,
        };
        let mut i = 0;
        while total > g.sectors_total() {
            g = Geometry::for_sectors(total + i);
            i += 1;
        }
        if g.sectors_total() == MAX_GEOMETRY_SECTORS {
            (g, size / 512 * 512)
        } else {
            (g, g.sectors_total() * 512)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(c: u16, h: u8, s: u8) -> Geometry {
        Geometry {
            cylinders: c,
            heads: h,
            sectors: s,
        }
    }

    #[test]
    fn floor_geometry_matches_the_spec_table() {
        assert_eq!(Geometry::for_size(100 << 20), g(1003, 12, 17));
        assert_eq!(Geometry::for_size(256 << 20), g(520, 16, 63));
        assert_eq!(Geometry::for_size(1 << 30), g(2080, 16, 63));
        assert_eq!(Geometry::for_size(32 << 30), g(16448, 16, 255));
    }

    #[test]
    fn qemu_rounds_up_until_covered() {
        assert_eq!(
            Geometry::qemu_round_up(100 << 20),
            (g(1004, 12, 17), 104_865_792)
        );
        assert_eq!(Geometry::qemu_round_up(256 << 20).0, g(521, 16, 63));
        let big = 200u64 << 30;
        assert_eq!(Geometry::qemu_round_up(big), (Geometry::MAX, big));
    }
}
