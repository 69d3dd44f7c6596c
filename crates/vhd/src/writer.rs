//! Writers: [`DynamicWriter`] and [`FixedWriter`] take data at increasing
//! offsets (so an ext filesystem or any [`ContentSource`] can be streamed
//! straight into a VHD without a raw temp file); [`create`],
//! [`convert_to_vhd`] and [`convert_to_raw`] write through a temp file in
//! the target directory and rename it into place.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use fstree::ContentSource;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::format::{
    BAT_UNUSED, BATMAP_COOKIE, BATMAP_VERSION, BatmapHeader, DiskType, DynamicHeader,
    FEATURES_RESERVED, FOOTER_COOKIE, Footer, MAX_SIZE, SECTOR, VERSION_1_0, VHD_EPOCH,
};
use crate::geometry::Geometry;
use crate::{Error, Result};

/// Default block size: 2 MiB.
pub const BLOCK_SIZE: u32 = 2 << 20;
/// Chunk used when copying runs of data.
const COPY_CHUNK: usize = 4 << 20;

/// Which consumer the image is shaped for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// `vhd-util create`: creator `tap\0` 1.3, OS 0, size rounded up to 2 MiB,
    /// floor CHS, batmap after the BAT, 4 KiB-aligned payloads.
    Tap,
    /// `qemu-img create -f vpc`: creator `qemu` 5.3 `Wi2k`, size rounded up
    /// until the CHS geometry covers it, no alignment.
    Qemu,
    /// Fixed disk for Hyper-V/Azure/xl qdisk: size rounded up to whole MiB,
    /// creator `win ` (current size is authoritative), floor CHS.
    Fixed,
}

impl std::str::FromStr for Profile {
    type Err = Error;
    fn from_str(s: &str) -> Result<Profile> {
        match s {
            "tap" => Ok(Profile::Tap),
            "qemu" => Ok(Profile::Qemu),
            "fixed" => Ok(Profile::Fixed),
            _ => Err(Error::Invalid(format!(
                "profile {s:?}: expected tap, qemu or fixed"
            ))),
        }
    }
}

/// How to shape a new image.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// Target consumer.
    pub profile: Profile,
    /// Write a fixed image (implied by [`Profile::Fixed`]).
    pub fixed: bool,
    /// Footer timestamp, seconds since 2000-01-01; default now.
    pub timestamp: Option<u32>,
    /// Unique id; default derived from the image's layout and contents so
    /// that equal inputs give equal bytes.
    pub uuid: Option<[u8; 16]>,
}

impl CreateOptions {
    /// Options for a profile, everything else default.
    pub fn new(profile: Profile) -> CreateOptions {
        CreateOptions {
            profile,
            fixed: profile == Profile::Fixed,
            timestamp: None,
            uuid: None,
        }
    }

    /// True when the output is a fixed disk.
    pub fn is_fixed(&self) -> bool {
        self.fixed || self.profile == Profile::Fixed
    }

    /// The virtual size and geometry this profile gives a requested size.
    pub fn shape(&self, requested: u64) -> Result<(u64, Geometry)> {
        if requested == 0 || requested > MAX_SIZE {
            return Err(Error::Invalid(format!(
                "size {requested}: expected 1 byte to {MAX_SIZE} bytes (2040 GiB)"
            )));
        }
        let size = match self.profile {
            Profile::Tap => requested.next_multiple_of(BLOCK_SIZE as u64),
            Profile::Fixed => requested.next_multiple_of(1 << 20),
            Profile::Qemu => return Ok(Geometry::qemu_round_up(requested)),
        };
        if size > MAX_SIZE {
            return Err(Error::Invalid(format!(
                "size {requested} rounds up to {size}, past the 2040 GiB maximum"
            )));
        }
        Ok((size, Geometry::floor(size)))
    }

    fn footer(&self, size: u64, geometry: Geometry, kind: DiskType) -> Footer {
        let (app, ver, os) = match self.profile {
            Profile::Tap => (*b"tap\0", 0x0001_0003, 0),
            Profile::Qemu => (*b"qemu", 0x0005_0003, 0x5769_326B),
            Profile::Fixed => (*b"win ", 0x000A_0000, 0x5769_326B),
        };
        Footer {
            cookie: *FOOTER_COOKIE,
            features: FEATURES_RESERVED,
            version: VERSION_1_0,
            data_offset: if kind == DiskType::Fixed {
                u64::MAX
            } else {
                512
            },
            timestamp: self.timestamp.unwrap_or_else(default_timestamp),
            creator_app: app,
            creator_version: ver,
            creator_os: os,
            original_size: size,
            current_size: size,
            geometry,
            disk_type: kind.code(),
            checksum: 0,
            uuid: self.uuid.unwrap_or([0; 16]),
            saved_state: 0,
            hidden: 0,
            reserved_zero: true,
        }
    }
}

/// The current time as a VHD timestamp (seconds since 2000-01-01, clamped).
/// Callers that want reproducible images set [`CreateOptions::timestamp`]
/// (the `measured` binary does, from `SOURCE_DATE_EPOCH`).
pub fn default_timestamp() -> u32 {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(VHD_EPOCH);
    vhd_timestamp(unix)
}

/// A Unix time as a VHD timestamp: seconds since 2000-01-01, clamped to
/// what the 32-bit field holds.
pub fn vhd_timestamp(unix: u64) -> u32 {
    unix.saturating_sub(VHD_EPOCH).min(u32::MAX as u64) as u32
}

/// True when every byte is zero.
pub fn is_zero(b: &[u8]) -> bool {
    let (head, body, tail) = {
        // SAFETY: u128 has no invalid bit patterns and `align_to` only
        // reinterprets the aligned middle of the slice, whose length it
        // computes; the slice outlives the borrow.
        unsafe { b.align_to::<u128>() }
    };
    head.iter().all(|&x| x == 0) && tail.iter().all(|&x| x == 0) && body.iter().all(|&x| x == 0)
}

fn os_err(path: &Path, e: std::io::Error) -> Error {
    Error::io(path, e)
}

/// A UUID (version 5 layout) from a SHA-256 of what identifies the image.
fn uuid_from(h: Sha256) -> [u8; 16] {
    let d = h.finalize();
    let mut u = [0u8; 16];
    u.copy_from_slice(&d[..16]);
    u[6] = (u[6] & 0x0F) | 0x50;
    u[8] = (u[8] & 0x3F) | 0x80;
    u
}

/// Streams a dynamic VHD: blocks arrive in increasing order (by
/// [`write_block`](Self::write_block) or [`write_at`](Self::write_at)),
/// all-zero blocks stay unallocated, and [`finish`](Self::finish) writes
/// the BAT, batmap and footers. Memory: one block plus the BAT.
#[derive(Debug)]
pub struct DynamicWriter {
    file: File,
    path: std::path::PathBuf,
    footer: Footer,
    header: DynamicHeader,
    bat: Vec<u32>,
    batmap: bool,
    align: bool,
    /// Where the next block's bitmap may go.
    next: u64,
    /// The block being filled: index, and bitmap + payload bytes.
    cur: Option<u32>,
    /// The last block started, for the increasing-order rule.
    last: Option<u32>,
    buf: Vec<u8>,
    /// Fingerprint of the contents for the default UUID.
    ident: Sha256,
    /// Blocks were placed by [`write_anywhere`](Self::write_anywhere): the
    /// fingerprint is taken from the file at the end instead.
    placed: bool,
}

impl DynamicWriter {
    /// Start a dynamic image of (at least) `requested` bytes in `file`,
    /// which should be empty; `path` only names it in errors.
    pub fn new(file: File, path: &Path, requested: u64, opts: &CreateOptions) -> Result<Self> {
        let (size, geometry) = opts.shape(requested)?;
        let footer = opts.footer(size, geometry, DiskType::Dynamic);
        let entries = size.div_ceil(BLOCK_SIZE as u64) as u32;
        let header = DynamicHeader::new(1536, entries, BLOCK_SIZE);
        let batmap = opts.profile == Profile::Tap;
        let mut meta_end = 1536 + header.bat_bytes();
        if batmap {
            meta_end += 512 + BatmapHeader::sectors_for(entries) as u64 * SECTOR;
        }
        let mut buf = vec![0u8; header.bitmap_bytes() as usize + BLOCK_SIZE as usize];
        buf[..header.bitmap_bytes() as usize].fill(0xFF);
        let mut ident = Sha256::new();
        ident.update(b"measured-vhd-dynamic\0");
        ident.update(size.to_be_bytes());
        ident.update(footer.creator_app);
        Ok(DynamicWriter {
            file,
            path: path.to_path_buf(),
            footer,
            header,
            bat: vec![BAT_UNUSED; entries as usize],
            batmap,
            align: opts.profile == Profile::Tap,
            next: meta_end,
            cur: None,
            last: None,
            buf,
            ident,
            placed: false,
        })
    }

    /// Virtual size of the image being written.
    pub fn size(&self) -> u64 {
        self.footer.current_size
    }

    /// Bytes per block.
    pub fn block_size(&self) -> u32 {
        self.header.block_size
    }

    fn bitmap_len(&self) -> usize {
        self.header.bitmap_bytes() as usize
    }

    /// Write one whole block (a short last block is zero-padded). Indices
    /// must increase; an all-zero block is left unallocated.
    pub fn write_block(&mut self, index: u32, data: &[u8]) -> Result<()> {
        self.flush_current()?;
        self.check_index(index)?;
        let bl = self.bitmap_len();
        let bs = self.header.block_size as usize;
        if data.len() > bs {
            return Err(Error::Invalid(format!(
                "block {index}: {} bytes, block size is {bs}",
                data.len()
            )));
        }
        self.buf[bl..bl + data.len()].copy_from_slice(data);
        self.buf[bl + data.len()..].fill(0);
        self.cur = Some(index);
        self.last = Some(index);
        self.flush_current()
    }

    fn check_index(&self, index: u32) -> Result<()> {
        if index as usize >= self.bat.len() {
            return Err(Error::Invalid(format!(
                "block {index} is past the end of a {}-block image",
                self.bat.len()
            )));
        }
        match self.last {
            Some(d) if index <= d => Err(Error::Invalid(format!(
                "block {index} written after block {d}: blocks must come in increasing order"
            ))),
            _ => Ok(()),
        }
    }

    /// Write `data` at virtual `offset`. Writes may not go back to a block
    /// before the one being filled.
    pub fn write_at(&mut self, mut offset: u64, mut data: &[u8]) -> Result<()> {
        let bs = self.header.block_size as u64;
        if offset.saturating_add(data.len() as u64) > self.footer.current_size {
            return Err(Error::Invalid(format!(
                "write of {} bytes at {offset} is past the {}-byte disk",
                data.len(),
                self.footer.current_size
            )));
        }
        let bl = self.bitmap_len();
        while !data.is_empty() {
            let idx = (offset / bs) as u32;
            match self.cur {
                Some(c) if c == idx => {}
                Some(c) if c > idx => {
                    return Err(Error::Invalid(format!(
                        "write at {offset} goes back to block {idx} after block {c}"
                    )));
                }
                _ => {
                    self.flush_current()?;
                    self.check_index(idx)?;
                    self.buf[bl..].fill(0);
                    self.cur = Some(idx);
                    self.last = Some(idx);
                }
            }
            let within = (offset % bs) as usize;
            let n = data.len().min(bs as usize - within);
            self.buf[bl + within..bl + within + n].copy_from_slice(&data[..n]);
            offset += n as u64;
            data = &data[n..];
        }
        Ok(())
    }

    /// Write `data` at virtual `offset`, in any order (a filesystem builder
    /// writes metadata and data where they fall). A block gets its place in
    /// the file the first time it is touched; bytes never written read as
    /// zeros (holes in the file under an all-ones sector bitmap). Unlike the
    /// streaming calls, zero data still allocates its block.
    pub fn write_anywhere(&mut self, mut offset: u64, mut data: &[u8]) -> Result<()> {
        if offset.saturating_add(data.len() as u64) > self.footer.current_size {
            return Err(Error::Invalid(format!(
                "write of {} bytes at {offset} is past the {}-byte disk",
                data.len(),
                self.footer.current_size
            )));
        }
        self.flush_current()?;
        while !data.is_empty() {
            let (at, n) = self.place(offset, data.len() as u64)?;
            self.file
                .write_all_at(&data[..n as usize], at)
                .map_err(|e| os_err(&self.path, e))?;
            offset += n;
            data = &data[n as usize..];
        }
        Ok(())
    }

    /// [`write_anywhere`](Self::write_anywhere) with `len` bytes of `src`
    /// from `src_offset`, copied file to file in the kernel.
    pub fn copy_anywhere(
        &mut self,
        mut offset: u64,
        src: &File,
        mut src_offset: u64,
        mut len: u64,
    ) -> Result<()> {
        if offset.saturating_add(len) > self.footer.current_size {
            return Err(Error::Invalid(format!(
                "write of {len} bytes at {offset} is past the {}-byte disk",
                self.footer.current_size
            )));
        }
        self.flush_current()?;
        while len > 0 {
            let (at, n) = self.place(offset, len)?;
            fstree::copy_file_range_all(src, src_offset, &self.file, at, n)
                .map_err(|e| os_err(&self.path, e))?;
            offset += n;
            src_offset += n;
            len -= n;
        }
        Ok(())
    }

    /// Where virtual `offset` lives in the file, placing its block if it has
    /// none yet, and how many of `len` bytes fit in that block.
    fn place(&mut self, offset: u64, len: u64) -> Result<(u64, u64)> {
        let bs = self.header.block_size as u64;
        let bl = self.bitmap_len();
        let idx = (offset / bs) as usize;
        if self.bat[idx] == BAT_UNUSED {
            let mut at = self.next;
            if self.align {
                at = (at + bl as u64).next_multiple_of(4096) - bl as u64;
            }
            self.file
                .write_all_at(&self.buf[..bl], at)
                .map_err(|e| os_err(&self.path, e))?;
            self.bat[idx] = (at / SECTOR) as u32;
            self.next = at + self.buf.len() as u64;
            self.placed = true;
            self.last = self.last.max(Some(idx as u32));
        }
        let within = offset % bs;
        Ok((
            self.bat[idx] as u64 * SECTOR + bl as u64 + within,
            len.min(bs - within),
        ))
    }

    /// A buffer shaped for [`put_block`](Self::put_block): the block's
    /// sector bitmap (all ones) followed by its payload.
    pub fn block_buffer(&self) -> Vec<u8> {
        let mut b = vec![0u8; self.buf.len()];
        b[..self.bitmap_len()].fill(0xFF);
        b
    }

    /// Write block `index` from `buf` (from [`block_buffer`](Self::block_buffer),
    /// payload filled in) without copying it: the buffers are swapped, and
    /// `buf` comes back holding an earlier block's bytes, ready for reuse.
    pub fn put_block(&mut self, index: u32, buf: &mut Vec<u8>) -> Result<()> {
        self.flush_current()?;
        self.check_index(index)?;
        if buf.len() != self.buf.len() {
            return Err(Error::Invalid(format!(
                "block {index}: buffer of {} bytes, expected {}",
                buf.len(),
                self.buf.len()
            )));
        }
        std::mem::swap(&mut self.buf, buf);
        self.cur = Some(index);
        self.last = Some(index);
        self.flush_current()
    }

    fn flush_current(&mut self) -> Result<()> {
        let Some(idx) = self.cur.take() else {
            return Ok(());
        };
        let bl = self.bitmap_len();
        if is_zero(&self.buf[bl..]) {
            return Ok(());
        }
        let mut at = self.next;
        if self.align {
            // tapdisk: the payload starts on a 4 KiB page.
            at = (at + bl as u64).next_multiple_of(4096) - bl as u64;
        }
        preallocate(&self.file, at, self.buf.len() as u64);
        self.file
            .write_all_at(&self.buf, at)
            .map_err(|e| os_err(&self.path, e))?;
        self.bat[idx as usize] = (at / SECTOR) as u32;
        self.next = at + self.buf.len() as u64;
        self.ident.update(idx.to_be_bytes());
        self.ident.update(&self.buf[bl..bl + 4096]);
        Ok(())
    }

    /// Write the metadata and footers; returns the file and final footer.
    pub fn finish(self) -> Result<(File, Footer)> {
        self.finish_counted().map(|(f, h, _)| (f, h))
    }

    /// [`finish`](Self::finish), also returning how many blocks were allocated.
    pub fn finish_counted(mut self) -> Result<(File, Footer, u64)> {
        self.flush_current()?;
        if self.placed {
            // Blocks were written in any order: fingerprint them as the
            // streaming path does, block by block, from the file.
            let bl = self.bitmap_len() as u64;
            // Cover every placed block, so unwritten tails read as zeros.
            self.file
                .set_len(self.next)
                .map_err(|e| os_err(&self.path, e))?;
            let mut head = vec![0u8; 4096];
            for (i, &e) in self.bat.iter().enumerate() {
                if e != BAT_UNUSED {
                    self.file
                        .read_exact_at(&mut head, e as u64 * SECTOR + bl)
                        .map_err(|e| os_err(&self.path, e))?;
                    self.ident.update((i as u32).to_be_bytes());
                    self.ident.update(&head);
                }
            }
        }
        let mut bat_bytes = vec![0xFFu8; self.header.bat_bytes() as usize];
        for (i, e) in self.bat.iter().enumerate() {
            bat_bytes[4 * i..4 * i + 4].copy_from_slice(&e.to_be_bytes());
        }
        if self.batmap {
            // vhd-util zero-fills the BAT padding.
            bat_bytes[self.bat.len() * 4..].fill(0);
        }
        self.ident.update(&bat_bytes);
        if self.footer.uuid == [0; 16] {
            self.footer.uuid = uuid_from(self.ident.clone());
        }
        let fb = self.footer.encode();
        let hb = self.header.encode();
        let w = |f: &File, b: &[u8], at: u64| f.write_all_at(b, at);
        let p = self.path.clone();
        w(&self.file, &fb, 0).map_err(|e| os_err(&p, e))?;
        w(&self.file, &hb, 512).map_err(|e| os_err(&p, e))?;
        w(&self.file, &bat_bytes, self.header.table_offset).map_err(|e| os_err(&p, e))?;
        if self.batmap {
            let hdr_at = self.header.table_offset + self.header.bat_bytes();
            let secs = BatmapHeader::sectors_for(self.bat.len() as u32);
            let mut map = vec![0u8; secs as usize * 512];
            // Every block we write has an all-ones bitmap: fully allocated.
            for (i, e) in self.bat.iter().enumerate() {
                if *e != BAT_UNUSED {
                    map[i / 8] |= 0x80 >> (i % 8);
                }
            }
            let bh = BatmapHeader {
                cookie: *BATMAP_COOKIE,
                map_offset: hdr_at + 512,
                map_sectors: secs,
                version: BATMAP_VERSION,
                checksum: BatmapHeader::map_checksum(
                    &map,
                    self.footer.current_size,
                    BATMAP_VERSION,
                ),
                marker: 0,
            };
            w(&self.file, &bh.encode(), hdr_at).map_err(|e| os_err(&p, e))?;
            w(&self.file, &map, hdr_at + 512).map_err(|e| os_err(&p, e))?;
        }
        w(&self.file, &fb, self.next).map_err(|e| os_err(&p, e))?;
        self.file
            .set_len(self.next + 512)
            .map_err(|e| os_err(&p, e))?;
        let n = self.bat.iter().filter(|&&e| e != BAT_UNUSED).count() as u64;
        Ok((self.file, self.footer, n))
    }
}

/// Streams a fixed VHD: data at any offsets (zero runs are skipped so the
/// file stays sparse), then the footer at the end.
#[derive(Debug)]
pub struct FixedWriter {
    file: File,
    path: std::path::PathBuf,
    footer: Footer,
    ident: Sha256,
}

impl FixedWriter {
    /// Start a fixed image of (at least) `requested` bytes in `file`.
    pub fn new(file: File, path: &Path, requested: u64, opts: &CreateOptions) -> Result<Self> {
        let (size, geometry) = opts.shape(requested)?;
        let footer = opts.footer(size, geometry, DiskType::Fixed);
        file.set_len(size + 512).map_err(|e| os_err(path, e))?;
        let mut ident = Sha256::new();
        ident.update(b"measured-vhd-fixed\0");
        ident.update(size.to_be_bytes());
        ident.update(footer.creator_app);
        Ok(FixedWriter {
            file,
            path: path.to_path_buf(),
            footer,
            ident,
        })
    }

    /// Virtual size of the image being written.
    pub fn size(&self) -> u64 {
        self.footer.current_size
    }

    /// Write `data` at virtual `offset` (all-zero data is skipped).
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        if offset.saturating_add(data.len() as u64) > self.footer.current_size {
            return Err(Error::Invalid(format!(
                "write of {} bytes at {offset} is past the {}-byte disk",
                data.len(),
                self.footer.current_size
            )));
        }
        if is_zero(data) {
            return Ok(());
        }
        self.ident.update(offset.to_be_bytes());
        self.ident.update(&data[..data.len().min(4096)]);
        self.file
            .write_all_at(data, offset)
            .map_err(|e| os_err(&self.path, e))
    }

    /// Write the footer; returns the file and footer.
    pub fn finish(mut self) -> Result<(File, Footer)> {
        if self.footer.uuid == [0; 16] {
            self.footer.uuid = uuid_from(self.ident.clone());
        }
        let fb = self.footer.encode();
        self.file
            .write_all_at(&fb, self.footer.current_size)
            .map_err(|e| os_err(&self.path, e))?;
        Ok((self.file, self.footer))
    }
}

/// Write `out` through a temporary file beside it, put in place only when
/// `body` succeeds (`outputs::AtomicFile`: a killed run leaves the previous
/// image whole, and its temporary is removed by the next run on `out`).
fn atomically<T>(out: &Path, body: impl FnOnce(File, &Path) -> Result<T>) -> Result<T> {
    let tmp = outputs::AtomicFile::create(out)?;
    // Earlier releases named their temporaries `.vhd-tmpXXXXXX`.
    if let Some(dir) = tmp.temp_path().parent() {
        outputs::legacy::remove_vhd_temp_files(dir);
    }
    let file = tmp
        .file()
        .try_clone()
        .map_err(|e| os_err(tmp.temp_path(), e))?;
    // No fsync: like qemu-img, durability is left to the caller; the
    // rename alone guarantees no half-written file under the final name.
    let v = body(file, out)?;
    tmp.commit()?;
    Ok(v)
}

/// What a create or convert produced.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// Virtual size.
    pub size: u64,
    /// Disk type.
    pub disk_type: DiskType,
    /// Allocated blocks (dynamic) or 0.
    pub blocks: u64,
}

/// Create an empty image at `out`.
pub fn create(out: &Path, requested: u64, opts: &CreateOptions) -> Result<Written> {
    let src = fstree::Sparse {
        len: requested,
        data: Vec::new(),
    };
    convert_to_vhd(&src, out, opts, &mut |_| {})
}

/// Stream any source (a raw file, another VHD, a filesystem being built)
/// into a new VHD at `out`. Only the source's data ranges are read, and
/// all-zero blocks are not allocated. `progress` gets bytes done so far.
pub fn convert_to_vhd(
    src: &dyn ContentSource,
    out: &Path,
    opts: &CreateOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Written> {
    let len = src.len();
    let ranges = src.data_ranges().map_err(|e| os_err(out, e))?;
    atomically(out, |file, path| {
        if opts.is_fixed() {
            let mut w = FixedWriter::new(file, path, len, opts)?;
            let mut buf = vec![0u8; COPY_CHUNK];
            for &(o, n) in &ranges {
                let mut pos = o;
                while pos < o + n {
                    let k = ((o + n - pos) as usize).min(COPY_CHUNK);
                    read_full(src, pos, &mut buf[..k], out)?;
                    w.write_at(pos, &buf[..k])?;
                    pos += k as u64;
                    progress(pos);
                }
            }
            let (_, f) = w.finish()?;
            return Ok(Written {
                size: f.current_size,
                disk_type: DiskType::Fixed,
                blocks: 0,
            });
        }
        let w = DynamicWriter::new(file, path, len, opts)?;
        let (bs, bl) = (w.block_size() as u64, w.bitmap_len());
        let nblocks = len.div_ceil(bs);
        // Two stages on two threads: this one reads blocks and drops the
        // all-zero ones, a writer thread writes the rest. Writing into the
        // page cache is most of the cost, and now overlaps the reading.
        // Buffers circulate, so memory stays at a few blocks.
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(u32, Vec<u8>)>(2);
        let (free_tx, free_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let spare = w.block_buffer();
        let w = std::thread::scope(|scope| -> Result<DynamicWriter> {
            let writer = scope.spawn(move || -> Result<DynamicWriter> {
                let mut w = w;
                for (blk, mut buf) in full_rx {
                    w.put_block(blk, &mut buf)?;
                    let _ = free_tx.send(buf);
                }
                Ok(w)
            });
            let mut spare = Some(spare);
            let mut allocated = 1;
            let mut read = || -> Result<()> {
                let mut ri = 0;
                let mut blk = 0u64;
                while blk < nblocks && ri < ranges.len() {
                    // Skip to the first block touching the next data range.
                    let (ro, rn) = ranges[ri];
                    if ro + rn <= blk * bs {
                        ri += 1;
                        continue;
                    }
                    blk = blk.max(ro / bs);
                    let (bstart, bend) = (blk * bs, ((blk + 1) * bs).min(len));
                    let mut buf = match spare.take().or_else(|| free_rx.try_recv().ok()) {
                        Some(b) => b,
                        None if allocated < 4 => {
                            allocated += 1;
                            fresh_block_buffer(bl, bs as usize)
                        }
                        None => match free_rx.recv() {
                            Ok(b) => b,
                            Err(_) => return Ok(()), // the writer stopped: its error follows
                        },
                    };
                    let payload = &mut buf[bl..];
                    // Zero only what no data range covers.
                    let mut filled = 0usize;
                    let mut j = ri;
                    while j < ranges.len() && ranges[j].0 < bend {
                        let (o, n) = ranges[j];
                        let (s, e) = (o.max(bstart), (o + n).min(bend));
                        if s < e {
                            let (s, e) = ((s - bstart) as usize, (e - bstart) as usize);
                            payload[filled..s].fill(0);
                            read_full(src, bstart + s as u64, &mut payload[s..e], out)?;
                            filled = e;
                        }
                        j += 1;
                    }
                    payload[filled..].fill(0);
                    progress(bend);
                    if is_zero(payload) {
                        spare = Some(buf);
                    } else if full_tx.send((blk as u32, buf)).is_err() {
                        return Ok(()); // the writer stopped: its error follows
                    }
                    blk += 1;
                }
                Ok(())
            };
            let read_result = read();
            drop(full_tx);
            let w = writer.join().expect("VHD writer thread panicked")?;
            read_result.map(|()| w)
        })?;
        let (_, f, blocks) = w.finish_counted()?;
        Ok(Written {
            size: f.current_size,
            disk_type: DiskType::Dynamic,
            blocks,
        })
    })
}

/// A block buffer (all-ones bitmap, then the payload) outside a writer.
fn fresh_block_buffer(bitmap_len: usize, block_size: usize) -> Vec<u8> {
    let mut b = vec![0u8; bitmap_len + block_size];
    b[..bitmap_len].fill(0xFF);
    b
}

fn read_full(src: &dyn ContentSource, pos: u64, buf: &mut [u8], out: &Path) -> Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let k = src
            .read_at(pos + done as u64, &mut buf[done..])
            .map_err(|e| {
                Error::Invalid(format!("reading the source for {}: {e}", out.display()))
            })?;
        if k == 0 {
            return Err(Error::Invalid(format!(
                "source ended at {} while writing {}",
                pos + done as u64,
                out.display()
            )));
        }
        done += k;
    }
    Ok(())
}

/// Write the virtual disk of `src` as a raw (sparse) file at `out`.
pub fn convert_to_raw(
    src: &dyn ContentSource,
    out: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<u64> {
    let len = src.len();
    let ranges = src.data_ranges().map_err(|e| os_err(out, e))?;
    atomically(out, |file, path| {
        file.set_len(len).map_err(|e| os_err(path, e))?;
        // Copying into the page cache is kernel CPU work (about 0.7 GB/s a
        // core here), so a writer thread does only that, while this one
        // reads and finds the zero runs; buffers circulate, so memory stays
        // at a few chunks. One writer: buffered writes to one file hold its
        // inode lock, so a second writer only spins on it (measured: 0.82-0.88
        // of qemu-img's time with one, 0.88-0.92 with two).
        let (work_tx, work_rx) = std::sync::mpsc::sync_channel::<Chunk>(2);
        let (free_tx, free_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        std::thread::scope(|scope| {
            let file = &file;
            let writer = scope.spawn(move || -> Result<()> {
                for c in work_rx {
                    for &(s, e) in &c.runs {
                        let at = c.at + s as u64;
                        preallocate(file, at, (e - s) as u64);
                        file.write_all_at(&c.buf[s..e], at)
                            .map_err(|e| os_err(path, e))?;
                    }
                    let _ = free_tx.send(c.buf);
                }
                Ok(())
            });
            let mut allocated = 0;
            let mut read_result = Ok(());
            'copy: for &(o, n) in &ranges {
                let mut pos = o;
                while pos < o + n {
                    let mut buf = match free_rx.try_recv() {
                        Ok(b) => b,
                        Err(_) if allocated < 4 => {
                            allocated += 1;
                            vec![0u8; COPY_CHUNK]
                        }
                        Err(_) => match free_rx.recv() {
                            Ok(b) => b,
                            Err(_) => break 'copy,
                        },
                    };
                    // Keep chunks block-aligned so VHD reads stay within blocks.
                    let k = ((o + n - pos) as usize)
                        .min(COPY_CHUNK - (pos % COPY_CHUNK as u64) as usize);
                    buf.resize(COPY_CHUNK, 0);
                    if let Err(e) = read_full(src, pos, &mut buf[..k], out) {
                        read_result = Err(e);
                        break 'copy;
                    }
                    buf.truncate(k);
                    let runs = nonzero_runs(&buf);
                    if work_tx.send(Chunk { at: pos, buf, runs }).is_err() {
                        break 'copy; // the writer stopped: its error follows
                    }
                    pos += k as u64;
                    progress(pos);
                }
            }
            drop(work_tx);
            writer.join().expect("writer thread panicked")?;
            read_result
        })?;
        Ok(len)
    })
}

/// Allocate `[at, at + len)` of `file` just before writing all of it.
/// Buffered writes into allocated (unwritten) extents skip ext4's
/// per-page delayed-allocation bookkeeping: a third less time for a
/// gigabyte here. Only ranges about to be written in full, so no hole is
/// lost; where the filesystem cannot (or the disk is full) the write
/// itself still decides, so errors here are ignored.
fn preallocate(file: &File, at: u64, len: u64) {
    let _ = rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), at, len);
}

/// Bytes read at `at`, and the runs of them to write.
struct Chunk {
    at: u64,
    buf: Vec<u8>,
    runs: Vec<(usize, usize)>,
}

/// The non-zero 64 KiB pieces of `data`, merged into runs: only these are
/// written, so zeros inside a partly used block stay holes in the output.
fn nonzero_runs(data: &[u8]) -> Vec<(usize, usize)> {
    const GRAIN: usize = 64 << 10;
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for s in (0..data.len()).step_by(GRAIN) {
        let e = (s + GRAIN).min(data.len());
        if is_zero(&data[s..e]) {
            continue;
        }
        match runs.last_mut() {
            Some(last) if last.1 == s => last.1 = e,
            _ => runs.push((s, e)),
        }
    }
    runs
}
