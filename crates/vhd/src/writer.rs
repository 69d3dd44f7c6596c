//! Writing fixed and dynamic VHDs, block by block, without a raw temp file.

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::batmap::{BATMAP_VERSION, BatmapHeader, map_checksum, map_sectors};
use crate::dynamic::{DEFAULT_BLOCK_SIZE, DynamicHeader, HEADER_LEN, UNALLOCATED, bitmap_len};
use crate::error::{Error, Result};
use crate::footer::{DiskType, FOOTER_LEN, Footer, VHD_EPOCH};
use crate::profile::{Profile, Shape};

/// Everything that decides the bytes of a new VHD.
#[derive(Clone, Debug)]
pub struct CreateOptions {
    /// Consumer conventions.
    pub profile: Profile,
    /// Write a fixed disk instead of a dynamic one.
    pub fixed: bool,
    /// Requested virtual size in bytes (the profile may round it up).
    pub size: u64,
    /// Footer timestamp, seconds since 2000-01-01.
    pub timestamp: u32,
    /// Footer UUID; `None` derives one from the disk's contents, so equal
    /// inputs give equal files.
    pub uuid: Option<[u8; 16]>,
    /// Payload bytes per block of a dynamic disk.
    pub block_size: u32,
}

impl CreateOptions {
    /// Options for `size` bytes with `profile`, time from `SOURCE_DATE_EPOCH`
    /// (or now), content-derived UUID, 2 MiB blocks.
    pub fn new(profile: Profile, size: u64) -> Self {
        CreateOptions {
            profile,
            fixed: profile.fixed_by_default(),
            size,
            timestamp: timestamp_now(),
            uuid: None,
            block_size: DEFAULT_BLOCK_SIZE,
        }
    }
}

/// `SOURCE_DATE_EPOCH` (or the current time) as a VHD timestamp, clamped
/// to the VHD epoch and to what 32 bits hold.
pub fn timestamp_now() -> u32 {
    let unix = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(VHD_EPOCH)
        });
    (unix - VHD_EPOCH).clamp(0, u32::MAX as i64) as u32
}

/// Streams a VHD into a file: data goes in by block (dynamic) or at any
/// offset (fixed); [`VhdWriter::finish`] writes the metadata.
pub struct VhdWriter {
    file: File,
    shape: Shape,
    opts: CreateOptions,
    dynamic: Option<DynamicState>,
    fingerprint: xxhash_rust::xxh3::Xxh3,
}

struct DynamicState {
    header: DynamicHeader,
    bat: Vec<u32>,
    full: Vec<bool>,
    /// Where the next block goes.
    next: u64,
    /// End of the last block written (0 before the first).
    data_end: u64,
    bitmap: Vec<u8>,
}

/// Offsets of the metadata of a dynamic disk: BAT, batmap header, batmap,
/// and where the first block may go.
fn dynamic_layout(shape: &Shape, entries: u32) -> (u64, u64, u64) {
    let bat_off = 3 * 512u64;
    let bat_end = bat_off + (entries as u64 * 4).div_ceil(512) * 512;
    if shape.batmap {
        let map_end = bat_end + 512 + map_sectors(entries) as u64 * 512;
        (bat_off, bat_end, map_end)
    } else {
        (bat_off, bat_end, bat_end)
    }
}

impl VhdWriter {
    /// Start writing a new VHD into `file` (which should be empty).
    pub fn new(file: File, opts: CreateOptions) -> Result<VhdWriter> {
        let shape = opts.profile.shape(opts.size)?;
        let dynamic = if opts.fixed {
            None
        } else {
            let bs = opts.block_size;
            if !bs.is_power_of_two() || bs < 512 * 8 {
                return Err(Error::BadSize {
                    size: bs as u64,
                    why: "block size must be a power of two of at least 4 KiB",
                });
            }
            let entries =
                u32::try_from(shape.size.div_ceil(bs as u64)).map_err(|_| Error::BadSize {
                    size: shape.size,
                    why: "too many blocks for a BAT",
                })?;
            let (bat_off, _, meta_end) = dynamic_layout(&shape, entries);
            // The first block starts after the metadata and a footer-sized
            // gap, as vhd-util leaves it; aligned profiles then pad so each
            // payload starts on a page.
            let mut next = meta_end;
            if shape.align_blocks {
                next = align_block(next + FOOTER_LEN as u64, bitmap_len(bs));
            }
            Some(DynamicState {
                header: DynamicHeader::new(bat_off, entries, bs),
                bat: vec![UNALLOCATED; entries as usize],
                full: vec![false; entries as usize],
                next,
                data_end: 0,
                bitmap: vec![0xFF; bitmap_len(bs) as usize],
            })
        };
        Ok(VhdWriter {
            file,
            shape,
            opts,
            dynamic,
            fingerprint: xxhash_rust::xxh3::Xxh3::new(),
        })
    }

    /// The virtual size after the profile's rounding.
    pub fn size(&self) -> u64 {
        self.shape.size
    }

    /// Block size for [`VhdWriter::write_block`] (dynamic disks).
    pub fn block_size(&self) -> u64 {
        self.opts.block_size as u64
    }

    /// Write a block of a dynamic disk (fixed disks take it at its offset).
    /// `data` is the block's payload, at most one block; a short block is
    /// zero-filled. Each block may be written once.
    pub fn write_block(&mut self, index: u64, data: &[u8]) -> Result<()> {
        let bs = self.opts.block_size as u64;
        if data.len() as u64 > bs || index * bs >= self.shape.size {
            return Err(Error::BadSize {
                size: index * bs + data.len() as u64,
                why: "block outside the disk",
            });
        }
        self.fingerprint.update(&index.to_le_bytes());
        self.fingerprint.update(data);
        let Some(d) = &mut self.dynamic else {
            return self
                .file
                .write_all_at(data, index * bs)
                .map_err(Error::io("writing fixed disk data"));
        };
        let i = index as usize;
        if d.bat[i] != UNALLOCATED {
            return Err(Error::BadSize {
                size: index * bs,
                why: "block written twice",
            });
        }
        let at = d.next;
        d.bat[i] = (at / 512) as u32;
        d.full[i] = true;
        let payload = at + d.bitmap.len() as u64;
        let err = Error::io("writing VHD block");
        self.file.write_all_at(&d.bitmap, at).map_err(err)?;
        // Zero runs inside the block stay holes: they read as zeros, and
        // the bitmap already says every sector is present.
        for (a, b) in crate::convert::nonzero_runs(data, 64 << 10) {
            self.file
                .write_all_at(&data[a..b], payload + a as u64)
                .map_err(Error::io("writing VHD block"))?;
        }
        // A short block's tail stays a hole (zeros) until the file grows
        // past it, which the next block or the footer does.
        d.data_end = at + d.bitmap.len() as u64 + bs;
        d.next = if self.shape.align_blocks {
            align_block(d.data_end, d.bitmap.len() as u64)
        } else {
            d.data_end
        };
        Ok(())
    }

    /// Write the metadata and footers; returns the footer written.
    pub fn finish(mut self) -> Result<Footer> {
        let uuid = self.opts.uuid.unwrap_or_else(|| {
            self.fingerprint.update(&self.shape.size.to_le_bytes());
            self.fingerprint.update(&[self.opts.fixed as u8]);
            self.fingerprint.update(&self.shape.creator_app);
            let mut u = self.fingerprint.digest128().to_be_bytes();
            u[6] = (u[6] & 0x0f) | 0x80; // version 8: vendor-defined
            u[8] = (u[8] & 0x3f) | 0x80; // RFC 4122 variant
            u
        });
        let footer = Footer {
            features: 2,
            version: 0x0001_0000,
            data_offset: if self.dynamic.is_some() {
                512
            } else {
                u64::MAX
            },
            timestamp: self.opts.timestamp,
            creator_app: self.shape.creator_app,
            creator_version: self.shape.creator_version,
            creator_os: self.shape.creator_os,
            original_size: self.shape.size,
            current_size: self.shape.size,
            geometry: self.shape.geometry,
            disk_type: if self.dynamic.is_some() {
                DiskType::Dynamic
            } else {
                DiskType::Fixed
            },
            checksum: 0,
            uuid,
            saved_state: 0,
            hidden: 0,
        };
        let fb = footer.encode();
        let w = |f: &File, b: &[u8], at: u64| {
            f.write_all_at(b, at)
                .map_err(Error::io("writing VHD metadata"))
        };
        match &self.dynamic {
            None => {
                w(&self.file, &fb, self.shape.size)?;
                self.file
                    .set_len(self.shape.size + FOOTER_LEN as u64)
                    .map_err(Error::io("sizing fixed VHD"))?;
            }
            Some(d) => {
                let entries = d.bat.len() as u32;
                let (bat_off, bat_end, meta_end) = dynamic_layout(&self.shape, entries);
                w(&self.file, &fb, 0)?;
                w(&self.file, &d.header.encode(), 512)?;
                debug_assert_eq!(512 + HEADER_LEN as u64, bat_off);
                let mut bat = vec![0u8; (bat_end - bat_off) as usize];
                for (i, e) in d.bat.iter().enumerate() {
                    bat[4 * i..4 * i + 4].copy_from_slice(&e.to_be_bytes());
                }
                w(&self.file, &bat, bat_off)?;
                if self.shape.batmap {
                    let mut map = vec![0u8; (meta_end - bat_end - 512) as usize];
                    for (i, &f) in d.full.iter().enumerate() {
                        if f {
                            map[i / 8] |= 0x80 >> (i % 8);
                        }
                    }
                    let hdr = BatmapHeader {
                        map_offset: bat_end + 512,
                        map_sectors: map_sectors(entries),
                        version: BATMAP_VERSION,
                        checksum: map_checksum(&map),
                        marker: 0,
                    };
                    w(&self.file, &hdr.encode(), bat_end)?;
                    w(&self.file, &map, bat_end + 512)?;
                }
                // The footer follows the last block, or the metadata when
                // no block was written.
                let footer_at = if d.data_end > 0 { d.data_end } else { meta_end };
                w(&self.file, &fb, footer_at)?;
                self.file
                    .set_len(footer_at + FOOTER_LEN as u64)
                    .map_err(Error::io("sizing VHD"))?;
            }
        }
        // No fsync: outputs are renamed into place after this returns, which
        // is atomic against an interrupted process; durability across power
        // loss is the caller's choice, and costs seconds per gigabyte.
        Ok(footer)
    }
}

/// The next offset at or after `pos` where a block whose bitmap is
/// `bitmap` bytes long has its payload on a 4 KiB boundary.
fn align_block(pos: u64, bitmap: u64) -> u64 {
    let payload = (pos + bitmap).div_ceil(4096) * 4096;
    payload - bitmap
}
