//! The on-disk inode: 128 bytes of base fields plus `i_extra_isize` bytes of
//! extra fields (nanosecond times, creation time, checksum high half).

use super::{DiskError, checksum::crc32c, le, need};

/// Inode number of the root directory.
pub const ROOT_INO: u32 = 2;
/// Inode number of the journal.
pub const JOURNAL_INO: u32 = 8;
/// First inode number not reserved by the format.
pub const FIRST_INO: u32 = 11;
/// Size of the base fields.
pub const GOOD_OLD_SIZE: usize = 128;
/// `i_flags`: the file is mapped by an extent tree.
pub const FL_EXTENTS: u32 = 0x0008_0000;
/// `i_flags`: `i_blocks` counts filesystem blocks, not sectors.
pub const FL_HUGE_FILE: u32 = 0x0004_0000;
/// `i_flags`: hashed directory index.
pub const FL_INDEX: u32 = 0x0000_1000;

/// A timestamp as ext stores it: 32 low bits of seconds in the base inode,
/// and in the extra fields 2 epoch bits plus 30 bits of nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Time {
    /// Seconds since the Unix epoch (34 bits are representable).
    pub secs: i64,
    /// Nanoseconds.
    pub nanos: u32,
}

impl Time {
    /// `(base, extra)` encoding.
    pub fn encode(self) -> (u32, u32) {
        let base = self.secs as i32;
        let epoch = ((self.secs - i64::from(base)) >> 32) as u32 & 3;
        (base as u32, (self.nanos << 2) | epoch)
    }

    /// Inverse of [`Time::encode`].
    pub fn decode(base: u32, extra: u32) -> Self {
        let secs = i64::from(base as i32) + (i64::from(extra & 3) << 32);
        Time {
            secs,
            nanos: extra >> 2,
        }
    }
}

/// Decoded inode fields. `block` is the raw 60-byte `i_block` area (block
/// map, extent tree root, fast symlink target or device number).
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // the kernel's `i_*` names
pub struct Inode {
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime: Time,
    pub ctime: Time,
    pub mtime: Time,
    pub crtime: Time,
    pub dtime: u32,
    pub links_count: u16,
    /// `i_blocks` in 512-byte units (48 bits with `huge_file`).
    pub blocks: u64,
    pub flags: u32,
    pub block: [u8; 60],
    pub generation: u32,
    pub file_acl: u64,
    pub extra_isize: u16,
}

impl Default for Inode {
    fn default() -> Self {
        Inode {
            mode: 0,
            uid: 0,
            gid: 0,
            size: 0,
            atime: Time::default(),
            ctime: Time::default(),
            mtime: Time::default(),
            crtime: Time::default(),
            dtime: 0,
            links_count: 0,
            blocks: 0,
            flags: 0,
            block: [0; 60],
            generation: 0,
            file_acl: 0,
            extra_isize: 0,
        }
    }
}

impl Inode {
    /// Decode an inode of `inode_size` bytes (128 or more).
    pub fn decode(b: &[u8], inode_size: usize) -> Result<Self, DiskError> {
        need("inode", b, inode_size.max(GOOD_OLD_SIZE))?;
        let extra_isize = if inode_size > GOOD_OLD_SIZE {
            le::u16(b, 0x80)
        } else {
            0
        };
        if GOOD_OLD_SIZE + usize::from(extra_isize) > inode_size {
            return Err(DiskError::BadField {
                what: "inode",
                field: "i_extra_isize",
                value: extra_isize.into(),
            });
        }
        let has = |end: usize| GOOD_OLD_SIZE + usize::from(extra_isize) >= end;
        let extra = |o: usize| if has(o + 4) { le::u32(b, o) } else { 0 };
        Ok(Inode {
            mode: le::u16(b, 0x00),
            uid: u32::from(le::u16(b, 0x02)) | u32::from(le::u16(b, 0x78)) << 16,
            gid: u32::from(le::u16(b, 0x18)) | u32::from(le::u16(b, 0x7A)) << 16,
            size: u64::from(le::u32(b, 0x04)) | u64::from(le::u32(b, 0x6C)) << 32,
            atime: Time::decode(le::u32(b, 0x08), extra(0x8C)),
            ctime: Time::decode(le::u32(b, 0x0C), extra(0x84)),
            mtime: Time::decode(le::u32(b, 0x10), extra(0x88)),
            crtime: Time::decode(extra(0x90), extra(0x94)),
            dtime: le::u32(b, 0x14),
            links_count: le::u16(b, 0x1A),
            blocks: u64::from(le::u32(b, 0x1C)) | u64::from(le::u16(b, 0x74)) << 32,
            flags: le::u32(b, 0x20),
            block: b[0x28..0x64].try_into().expect("60"),
            generation: le::u32(b, 0x64),
            file_acl: u64::from(le::u32(b, 0x68)) | u64::from(le::u16(b, 0x76)) << 32,
            extra_isize,
        })
    }

    /// Encode into `inode_size` bytes without a checksum.
    pub fn encode(&self, inode_size: usize) -> Vec<u8> {
        let mut b = vec![0u8; inode_size];
        let (at, atx) = self.atime.encode();
        let (ct, ctx) = self.ctime.encode();
        let (mt, mtx) = self.mtime.encode();
        let (crt, crtx) = self.crtime.encode();
        le::put16(&mut b, 0x00, self.mode);
        le::put16(&mut b, 0x02, self.uid as u16);
        le::put32(&mut b, 0x04, self.size as u32);
        le::put32(&mut b, 0x08, at);
        le::put32(&mut b, 0x0C, ct);
        le::put32(&mut b, 0x10, mt);
        le::put32(&mut b, 0x14, self.dtime);
        le::put16(&mut b, 0x18, self.gid as u16);
        le::put16(&mut b, 0x1A, self.links_count);
        le::put32(&mut b, 0x1C, self.blocks as u32);
        le::put32(&mut b, 0x20, self.flags);
        b[0x28..0x64].copy_from_slice(&self.block);
        le::put32(&mut b, 0x64, self.generation);
        le::put32(&mut b, 0x68, self.file_acl as u32);
        le::put32(&mut b, 0x6C, (self.size >> 32) as u32);
        le::put16(&mut b, 0x74, (self.blocks >> 32) as u16);
        le::put16(&mut b, 0x76, (self.file_acl >> 32) as u16);
        le::put16(&mut b, 0x78, (self.uid >> 16) as u16);
        le::put16(&mut b, 0x7A, (self.gid >> 16) as u16);
        if inode_size > GOOD_OLD_SIZE {
            le::put16(&mut b, 0x80, self.extra_isize);
            let end = GOOD_OLD_SIZE + usize::from(self.extra_isize);
            for (o, v) in [
                (0x84, ctx),
                (0x88, mtx),
                (0x8C, atx),
                (0x90, crt),
                (0x94, crtx),
            ] {
                if end >= o + 4 {
                    le::put32(&mut b, o, v);
                }
            }
        }
        b
    }

    /// The `metadata_csum` checksum of an encoded inode: crc32c seeded with
    /// the volume seed, inode number and generation, over the whole inode
    /// with both checksum halves read as zero.
    pub fn checksum_of(raw: &[u8], csum_seed: u32, ino: u32) -> u32 {
        let c = inode_seed(csum_seed, ino, le::u32(raw, 0x64));
        let c = crc32c(c, &raw[..0x7C]);
        let c = crc32c(c, &[0, 0]);
        let c = crc32c(c, &raw[0x7E..GOOD_OLD_SIZE]);
        if raw.len() <= GOOD_OLD_SIZE {
            return c;
        }
        let has_hi = le::u16(raw, 0x80) >= 4;
        let c = crc32c(c, &raw[GOOD_OLD_SIZE..0x82]);
        if has_hi {
            let c = crc32c(c, &[0, 0]);
            crc32c(c, &raw[0x84..])
        } else {
            crc32c(c, &raw[0x82..])
        }
    }

    /// Store the checksum into an encoded inode.
    pub fn seal(raw: &mut [u8], csum_seed: u32, ino: u32) {
        let c = Self::checksum_of(raw, csum_seed, ino);
        le::put16(raw, 0x7C, c as u16);
        if raw.len() > GOOD_OLD_SIZE && le::u16(raw, 0x80) >= 4 {
            le::put16(raw, 0x82, (c >> 16) as u16);
        }
    }
}

/// The per-inode checksum seed used for the inode itself, its extent
/// blocks and its directory blocks.
pub fn inode_seed(csum_seed: u32, ino: u32, generation: u32) -> u32 {
    crc32c(
        crc32c(csum_seed, &ino.to_le_bytes()),
        &generation.to_le_bytes(),
    )
}

/// Device number in `i_block`: the old 16-bit form in word 0 when major and
/// minor both fit in a byte, else the new 32-bit form in word 1 (Linux's
/// `old_valid_dev` / `new_encode_dev`).
pub fn encode_dev(major: u32, minor: u32) -> [u8; 60] {
    let mut b = [0u8; 60];
    if major < 256 && minor < 256 {
        le::put32(&mut b, 0, (major << 8) | minor);
    } else {
        let v = (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12);
        le::put32(&mut b, 4, v);
    }
    b
}

/// Inverse of [`encode_dev`]: `(major, minor)`.
pub fn decode_dev(b: &[u8; 60]) -> (u32, u32) {
    let old = le::u32(b, 0);
    if old != 0 {
        ((old >> 8) & 0xff, old & 0xff)
    } else {
        let v = le::u32(b, 4);
        ((v & 0xfff00) >> 8, (v & 0xff) | ((v >> 12) & 0xfff00))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_before_1970_and_after_2038_round_trip() {
        for secs in [-1i64, 0, 1_700_000_000, 1 << 32, (1 << 33) + 5] {
            let t = Time {
                secs,
                nanos: 999_999_999,
            };
            let (a, b) = t.encode();
            assert_eq!(Time::decode(a, b), t);
        }
    }

    #[test]
    fn device_numbers_round_trip_in_both_encodings() {
        for (ma, mi) in [(1, 3), (8, 0), (259, 0), (4095, 1_000_000)] {
            assert_eq!(decode_dev(&encode_dev(ma, mi)), (ma, mi));
        }
        assert_ne!(le::u32(&encode_dev(259, 0), 4), 0);
    }

    #[test]
    fn inode_round_trips_and_checksum_detects_change() {
        let ino = Inode {
            mode: 0o100644,
            uid: 70000,
            gid: 5,
            size: 5 << 30,
            mtime: Time {
                secs: 1_600_000_000,
                nanos: 12,
            },
            links_count: 2,
            extra_isize: 32,
            ..Default::default()
        };
        let mut raw = ino.encode(256);
        Inode::seal(&mut raw, 42, 12);
        assert_eq!(Inode::decode(&raw, 256).unwrap(), ino);
        let c = Inode::checksum_of(&raw, 42, 12);
        assert_eq!(c as u16, le::u16(&raw, 0x7C));
        raw[0x10] ^= 1;
        assert_ne!(Inode::checksum_of(&raw, 42, 12), c);
    }
}
