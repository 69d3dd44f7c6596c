//! CHS geometry as the VHD specification's appendix computes it.

use serde::Serialize;

/// Cylinders, heads, sectors per track, as stored in the footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Geometry {
    /// Cylinders (16 bits on disk).
    pub cylinders: u16,
    /// Heads (8 bits).
    pub heads: u8,
    /// Sectors per track (8 bits).
    pub sectors: u8,
}

/// The largest geometry; QEMU's `force_size` uses it to mean "trust current size".
pub const MAX_GEOMETRY: Geometry = Geometry {
    cylinders: 65535,
    heads: 16,
    sectors: 255,
};

impl Geometry {
    /// The spec's algorithm: every division rounds down, so the CHS
    /// capacity never exceeds `size` (what vhd-util and VirtualBox store).
    pub fn floor(size: u64) -> Geometry {
        let total = (size / 512).min(65535 * 16 * 255);
        let (spt, heads, cth);
        if total >= 65535 * 16 * 63 {
            spt = 255;
            heads = 16;
            cth = total / spt;
        } else {
            let mut s = 17;
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

    /// Bytes the geometry addresses.
    pub fn capacity(self) -> u64 {
        self.cylinders as u64 * self.heads as u64 * self.sectors as u64 * 512
    }

    /// The packed big-endian form vhd-util compares (`c << 16 | h << 8 | s`).
    pub fn packed(self) -> u32 {
        (self.cylinders as u32) << 16 | (self.heads as u32) << 8 | self.sectors as u32
    }

    /// What `qemu-img create -f vpc` does: the smallest size not below
    /// `size` whose floor geometry covers it, and that geometry. Sizes past
    /// the CHS maximum keep the maximum geometry.
    pub fn qemu_round_up(size: u64) -> (u64, Geometry) {
        let max = MAX_GEOMETRY.capacity();
        if size >= max {
            return (size, MAX_GEOMETRY);
        }
        // QEMU walks sector counts upwards until C*H*S >= requested sectors.
        let want = size.div_ceil(512);
        let mut sectors = want;
        loop {
            let g = Geometry::floor(sectors * 512);
            if g.capacity() / 512 >= want {
                return (g.capacity(), g);
            }
            sectors += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chs(c: u16, h: u8, s: u8) -> Geometry {
        Geometry {
            cylinders: c,
            heads: h,
            sectors: s,
        }
    }

    #[test]
    fn floor_matches_the_worked_values() {
        assert_eq!(Geometry::floor(100 << 20), chs(1003, 12, 17));
        assert_eq!(Geometry::floor(256 << 20), chs(520, 16, 63));
        assert_eq!(Geometry::floor(1 << 30), chs(2080, 16, 63));
        assert_eq!(Geometry::floor(32 << 30), chs(16448, 16, 255));
        assert_eq!(Geometry::floor(2040 << 30), MAX_GEOMETRY);
    }

    #[test]
    fn qemu_rounds_100m_up_to_1004_12_17() {
        assert_eq!(
            Geometry::qemu_round_up(100 << 20),
            (104_865_792, chs(1004, 12, 17))
        );
    }
}
