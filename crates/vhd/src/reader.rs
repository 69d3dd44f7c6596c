//! Random access to the virtual disk of a fixed, dynamic or differencing
//! VHD, reading through the parent chain. [`Vhd`] implements
//! [`fstree::ContentSource`] (`read_at` + `data_ranges`), so any consumer
//! of that trait (including our own converters) can stream from it.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use fstree::ContentSource;

use crate::format::{
    BAT_UNUSED, BATMAP_COOKIE, BatmapHeader, DiskType, DynamicHeader, FOOTER_COOKIE, FOOTER_SIZE,
    Footer, HEADER_COOKIE, HEADER_SIZE, MAX_BAT_ENTRIES, MAX_SIZE, SECTOR, platform,
};
use crate::{Error, Result};

/// How deep a differencing chain may go before we call it a loop.
pub(crate) const MAX_CHAIN: usize = 32;
/// Largest block size we accept (the spec only says "power of two").
const MAX_BLOCK: u32 = 1 << 28;

/// An open VHD image (and its parents).
#[derive(Debug)]
pub struct Vhd {
    path: PathBuf,
    file: File,
    file_len: u64,
    footer: Footer,
    footer_offset: u64,
    header: Option<DynamicHeader>,
    bat: Vec<u32>,
    batmap: Option<(BatmapHeader, Vec<u8>)>,
    parent: Option<Box<Vhd>>,
}

/// Read exactly `buf.len()` bytes at `offset`, or say which structure is cut short.
pub(crate) fn read_exact_at(
    file: &File,
    path: &Path,
    file_len: u64,
    what: &'static str,
    offset: u64,
    buf: &mut [u8],
) -> Result<()> {
    let end = offset.saturating_add(buf.len() as u64);
    if end > file_len {
        return Err(Error::Truncated {
            file: path.to_path_buf(),
            what,
            offset,
            end,
            len: file_len,
        });
    }
    file.read_exact_at(buf, offset)
        .map_err(|e| Error::io(path, e))
}

fn field(path: &Path, offset: u64, field: &'static str, problem: String) -> Error {
    Error::Field {
        file: path.to_path_buf(),
        offset,
        field,
        problem,
    }
}

/// Read the footer: the one at EOF, or the copy at offset 0 if the EOF one
/// is damaged (the copy exists only for dynamic and differencing images).
pub(crate) fn read_footer(file: &File, path: &Path, file_len: u64) -> Result<(Footer, u64)> {
    if file_len < 511 {
        return Err(Error::Truncated {
            file: path.to_path_buf(),
            what: "footer",
            offset: 0,
            end: 512,
            len: file_len,
        });
    }
    // Pre-2004 Virtual PC images have a 511-byte footer.
    let eof_off = if file_len % 512 == 511 {
        file_len - 511
    } else {
        file_len - 512
    };
    let mut b = [0u8; FOOTER_SIZE];
    read_exact_at(
        file,
        path,
        file_len,
        "footer",
        eof_off,
        &mut b[..(file_len - eof_off) as usize],
    )?;
    let problem = footer_problem(&b);
    let Some((problem_field, rel, msg)) = problem else {
        return Ok((Footer::decode(&b), eof_off));
    };
    if eof_off > 0 {
        let mut c = [0u8; FOOTER_SIZE];
        read_exact_at(file, path, file_len, "footer copy", 0, &mut c)?;
        if footer_problem(&c).is_none() {
            let f = Footer::decode(&c);
            if f.kind() != Some(DiskType::Fixed) {
                return Ok((f, eof_off));
            }
        }
    }
    Err(field(path, eof_off + rel, problem_field, msg))
}

fn footer_problem(b: &[u8; FOOTER_SIZE]) -> Option<(&'static str, u64, String)> {
    if &b[0..8] != FOOTER_COOKIE {
        return Some((
            "footer.cookie",
            0,
            format!(
                "found {:?}, expected \"conectix\"",
                b[0..8].escape_ascii().to_string()
            ),
        ));
    }
    let stored = u32::from_be_bytes(b[64..68].try_into().expect("4"));
    let computed = Footer::computed_checksum(b);
    if stored != computed {
        return Some((
            "footer.checksum",
            64,
            format!("stored {stored:#010x}, computed {computed:#010x}"),
        ));
    }
    None
}

impl Vhd {
    /// Open an image; differencing images find their parent through the
    /// parent locators (or the parent name) relative to the image.
    pub fn open(path: impl AsRef<Path>) -> Result<Vhd> {
        Self::open_depth(path.as_ref(), 0)
    }

    fn open_depth(path: &Path, depth: usize) -> Result<Vhd> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let (footer, footer_offset) = read_footer(&file, path, file_len)?;
        let kind = footer.kind().ok_or_else(|| {
            field(
                path,
                footer_offset + 60,
                "footer.disk_type",
                format!(
                    "{} is not 2 (fixed), 3 (dynamic) or 4 (differencing)",
                    footer.disk_type
                ),
            )
        })?;
        if footer.current_size > MAX_SIZE || footer.current_size % SECTOR != 0 {
            return Err(field(
                path,
                footer_offset + 48,
                "footer.current_size",
                format!(
                    "{} bytes: expected a multiple of 512 no larger than {MAX_SIZE} (2040 GiB)",
                    footer.current_size
                ),
            ));
        }
        let mut vhd = Vhd {
            path: path.to_path_buf(),
            file,
            file_len,
            footer,
            footer_offset,
            header: None,
            bat: Vec::new(),
            batmap: None,
            parent: None,
        };
        if kind == DiskType::Fixed {
            if footer_offset < vhd.footer.current_size {
                return Err(Error::Truncated {
                    file: path.to_path_buf(),
                    what: "fixed disk data",
                    offset: 0,
                    end: vhd.footer.current_size + 512,
                    len: file_len,
                });
            }
            return Ok(vhd);
        }
        vhd.load_dynamic()?;
        if kind == DiskType::Differencing {
            if depth >= MAX_CHAIN {
                return Err(Error::Parent {
                    file: path.to_path_buf(),
                    problem: format!("chain deeper than {MAX_CHAIN} images (a loop?)"),
                });
            }
            let parent_path = vhd.find_parent()?;
            let parent = Vhd::open_depth(&parent_path, depth + 1)?;
            let h = vhd.header.as_ref().expect("dynamic header loaded");
            if parent.footer.uuid != h.parent_uuid {
                return Err(Error::Parent {
                    file: path.to_path_buf(),
                    problem: format!(
                        "{} has unique id {}, header.parent_uuid expects {}",
                        parent_path.display(),
                        hex(&parent.footer.uuid),
                        hex(&h.parent_uuid)
                    ),
                });
            }
            vhd.parent = Some(Box::new(parent));
        }
        Ok(vhd)
    }

    fn load_dynamic(&mut self) -> Result<()> {
        let path = self.path.clone();
        let off = self.footer.data_offset;
        if !off.is_multiple_of(SECTOR) || off.checked_add(HEADER_SIZE as u64).is_none() {
            return Err(field(
                &path,
                self.footer_offset + 16,
                "footer.data_offset",
                format!("{off:#x}: expected a sector-aligned offset of the dynamic header"),
            ));
        }
        let mut b = [0u8; HEADER_SIZE];
        read_exact_at(
            &self.file,
            &path,
            self.file_len,
            "dynamic header",
            off,
            &mut b,
        )?;
        if &b[0..8] != HEADER_COOKIE {
            return Err(field(
                &path,
                off,
                "header.cookie",
                format!(
                    "found {:?}, expected \"cxsparse\"",
                    b[0..8].escape_ascii().to_string()
                ),
            ));
        }
        let h = DynamicHeader::decode(&b);
        let computed = DynamicHeader::computed_checksum(&b);
        if h.checksum != computed {
            return Err(field(
                &path,
                off + 36,
                "header.checksum",
                format!("stored {:#010x}, computed {computed:#010x}", h.checksum),
            ));
        }
        if !h.block_size.is_power_of_two() || !(512..=MAX_BLOCK).contains(&h.block_size) {
            return Err(field(
                &path,
                off + 32,
                "header.block_size",
                format!(
                    "{:#x}: expected a power of two between 512 and {MAX_BLOCK:#x}",
                    h.block_size
                ),
            ));
        }
        let need = self.footer.current_size.div_ceil(h.block_size as u64);
        if (h.max_table_entries as u64) < need {
            return Err(field(
                &path,
                off + 28,
                "header.max_table_entries",
                format!(
                    "{} entries cannot address current_size {} with {}-byte blocks (need {need})",
                    h.max_table_entries, self.footer.current_size, h.block_size
                ),
            ));
        }
        let bat_len = h.max_table_entries as u64 * 4;
        let bat_end = h.table_offset.saturating_add(bat_len);
        if !h.table_offset.is_multiple_of(SECTOR) || bat_end > self.file_len {
            return Err(field(
                &path,
                off + 16,
                "header.table_offset",
                format!(
                    "BAT at {:#x}..{bat_end:#x}: expected sector-aligned and inside the {}-byte file",
                    h.table_offset, self.file_len
                ),
            ));
        }
        // Entries past the disk's last block address nothing: only those
        // the disk needs are read, and no more than MAX_BAT_ENTRIES.
        if need > MAX_BAT_ENTRIES as u64 {
            return Err(field(
                &path,
                off + 32,
                "header.block_size",
                format!(
                    "{}-byte blocks make a {}-byte disk need {need} BAT entries; \
                     at most {MAX_BAT_ENTRIES} are read (use larger blocks)",
                    h.block_size, self.footer.current_size
                ),
            ));
        }
        let mut raw = vec![0u8; need as usize * 4];
        read_exact_at(
            &self.file,
            &path,
            self.file_len,
            "BAT",
            h.table_offset,
            &mut raw,
        )?;
        let bat: Vec<u32> = raw
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes(c.try_into().expect("4")))
            .collect();
        drop(raw);
        let span = h.bitmap_bytes() + h.block_size as u64;
        let mut used: Vec<(u64, u32)> = Vec::new();
        for (i, &e) in bat.iter().enumerate() {
            if e == BAT_UNUSED {
                continue;
            }
            let start = e as u64 * SECTOR;
            // The last block may be cut short by current_size, but never the footer.
            if start + span > self.footer_offset {
                return Err(field(
                    &path,
                    h.table_offset + 4 * i as u64,
                    "bat entry",
                    format!(
                        "block {i} at {start:#x}..{:#x} runs past the footer at {:#x}",
                        start + span,
                        self.footer_offset
                    ),
                ));
            }
            used.push((start, i as u32));
        }
        used.sort_unstable();
        for w in used.windows(2) {
            if w[0].0 + span > w[1].0 {
                return Err(field(
                    &path,
                    h.table_offset + 4 * w[1].1 as u64,
                    "bat entry",
                    format!(
                        "block {} at {:#x} overlaps block {} at {:#x}",
                        w[1].1, w[1].0, w[0].1, w[0].0
                    ),
                ));
            }
        }
        self.batmap = self.load_batmap(&h)?;
        self.header = Some(h);
        self.bat = bat;
        Ok(())
    }

    /// The batmap is optional and only advisory for reading; a damaged one
    /// is reported by `check`, not here.
    fn load_batmap(&self, h: &DynamicHeader) -> Result<Option<(BatmapHeader, Vec<u8>)>> {
        if &self.footer.creator_app[..3] != b"tap" {
            return Ok(None);
        }
        let off = h.table_offset + h.bat_bytes();
        let mut b = [0u8; 512];
        if off + 512 > self.file_len || self.file.read_exact_at(&mut b, off).is_err() {
            return Ok(None);
        }
        if &b[0..8] != BATMAP_COOKIE {
            return Ok(None);
        }
        let bh = BatmapHeader::decode(&b);
        let len = bh.map_sectors as u64 * SECTOR;
        if len > (1 << 24) || bh.map_offset.saturating_add(len) > self.file_len {
            return Ok(None);
        }
        let mut map = vec![0u8; len as usize];
        if self.file.read_exact_at(&mut map, bh.map_offset).is_err() {
            return Ok(None);
        }
        Ok(Some((bh, map)))
    }

    fn find_parent(&self) -> Result<PathBuf> {
        let h = self.header.as_ref().expect("dynamic header loaded");
        find_parent(&self.path, &self.file, self.file_len, h)
    }

    /// The image's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The footer in use (EOF, or the copy at 0 if the EOF one is damaged).
    pub fn footer(&self) -> &Footer {
        &self.footer
    }
    /// The dynamic header of dynamic and differencing images.
    pub fn header(&self) -> Option<&DynamicHeader> {
        self.header.as_ref()
    }
    /// The block allocation table's entries for the disk's blocks (entries
    /// past `current_size` address nothing and are not read); empty for
    /// fixed images.
    pub fn bat(&self) -> &[u32] {
        &self.bat
    }
    /// The tapdisk batmap, if present.
    pub fn batmap(&self) -> Option<&(BatmapHeader, Vec<u8>)> {
        self.batmap.as_ref()
    }
    /// The parent of a differencing image.
    pub fn parent(&self) -> Option<&Vhd> {
        self.parent.as_deref()
    }
    /// File length in bytes.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }
    /// The decoded disk type.
    pub fn disk_type(&self) -> DiskType {
        self.footer.kind().expect("validated on open")
    }
    /// Virtual disk size in bytes (`current_size`, as Hyper-V, tapdisk and
    /// QEMU >= 10 read it).
    pub fn size(&self) -> u64 {
        self.footer.current_size
    }
    /// Number of allocated blocks.
    pub fn allocated_blocks(&self) -> usize {
        self.bat.iter().filter(|&&e| e != BAT_UNUSED).count()
    }

    fn io_err(&self, e: io::Error) -> io::Error {
        io::Error::new(e.kind(), format!("{}: {e}", self.path.display()))
    }

    /// Fill `buf` from virtual offset `offset` within one block's sectors.
    fn read_block_part(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let h = self.header.as_ref().expect("dynamic");
        let bs = h.block_size as u64;
        let blk = (offset / bs) as usize;
        let within = offset % bs;
        let entry = self.bat.get(blk).copied().unwrap_or(BAT_UNUSED);
        if entry == BAT_UNUSED {
            return self.read_below(offset, buf);
        }
        let bitmap_at = entry as u64 * SECTOR;
        let data_at = bitmap_at + h.bitmap_bytes();
        let first = within / SECTOR;
        let last = (within + buf.len() as u64 - 1) / SECTOR;
        let (b0, b1) = ((first / 8) as usize, (last / 8) as usize);
        let mut bits = vec![0u8; b1 - b0 + 1];
        self.file
            .read_exact_at(&mut bits, bitmap_at + b0 as u64)
            .map_err(|e| self.io_err(e))?;
        let present = |s: u64| {
            let i = (s / 8) as usize - b0;
            bits[i] & (0x80 >> (s % 8)) != 0
        };
        // Walk runs of sectors with the same presence.
        let mut s = first;
        while s <= last {
            let p = present(s);
            let mut e = s;
            while e < last && present(e + 1) == p {
                e += 1;
            }
            let from = (s * SECTOR).max(within);
            let to = ((e + 1) * SECTOR).min(within + buf.len() as u64);
            let dst = &mut buf[(from - within) as usize..(to - within) as usize];
            if p {
                self.file
                    .read_exact_at(dst, data_at + from)
                    .map_err(|e| self.io_err(e))?;
            } else {
                self.read_below(offset - within + from, dst)?;
            }
            s = e + 1;
        }
        Ok(())
    }

    /// What lies under an unallocated sector: the parent, or zeros.
    fn read_below(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        match &self.parent {
            Some(p) => {
                let n = p.read_at(offset, buf)?;
                buf[n..].fill(0);
                Ok(())
            }
            None => {
                buf.fill(0);
                Ok(())
            }
        }
    }
}

impl ContentSource for Vhd {
    fn len(&self) -> u64 {
        self.footer.current_size
    }

    fn data_ranges(&self) -> io::Result<Vec<(u64, u64)>> {
        let size = self.footer.current_size;
        let Some(h) = &self.header else {
            return fstree::host_data_ranges(&self.file, size);
        };
        let bs = h.block_size as u64;
        let mut ranges: Vec<(u64, u64)> = self
            .bat
            .iter()
            .enumerate()
            .filter(|(i, e)| **e != BAT_UNUSED && (*i as u64) * bs < size)
            .map(|(i, _)| {
                let s = i as u64 * bs;
                (s, bs.min(size - s))
            })
            .collect();
        if let Some(p) = &self.parent {
            ranges.extend(
                p.data_ranges()?
                    .into_iter()
                    .filter(|r| r.0 < size)
                    .map(|(o, n)| (o, n.min(size - o))),
            );
            ranges.sort_unstable();
        }
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for (o, n) in ranges {
            match merged.last_mut() {
                Some(last) if last.0 + last.1 >= o => {
                    last.1 = last.1.max(o + n - last.0);
                }
                _ => merged.push((o, n)),
            }
        }
        Ok(merged)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let size = self.footer.current_size;
        if offset >= size {
            return Ok(0);
        }
        let n = buf.len().min((size - offset) as usize);
        let Some(h) = &self.header else {
            self.file
                .read_exact_at(&mut buf[..n], offset)
                .map_err(|e| self.io_err(e))?;
            return Ok(n);
        };
        let bs = h.block_size as u64;
        let mut done = 0usize;
        while done < n {
            let pos = offset + done as u64;
            let take = ((bs - pos % bs) as usize).min(n - done);
            self.read_block_part(pos, &mut buf[done..done + take])?;
            done += take;
        }
        Ok(n)
    }
}

/// Where the parent of the differencing image `path` is: the first parent
/// locator (relative or absolute UTF-16, or a `file://` URL) naming an
/// existing file, relative to the image's directory, else the parent name
/// in the header.
pub(crate) fn find_parent(
    path: &Path,
    file: &File,
    file_len: u64,
    h: &DynamicHeader,
) -> Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tried = Vec::new();
    for l in &h.locators {
        if !matches!(l.code, platform::W2KU | platform::W2RU | platform::MACX) {
            continue;
        }
        if l.data_len == 0 || l.data_len > 65536 {
            continue;
        }
        let mut b = vec![0u8; l.data_len as usize];
        read_exact_at(
            file,
            path,
            file_len,
            "parent locator data",
            l.data_offset,
            &mut b,
        )?;
        let name = if l.code == platform::MACX {
            let s = String::from_utf8_lossy(&b)
                .trim_end_matches('\0')
                .to_string();
            s.strip_prefix("file://").unwrap_or(&s).to_string()
        } else {
            let units: Vec<u16> = b
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|&u| u != 0)
                .collect();
            String::from_utf16_lossy(&units).replace('\\', "/")
        };
        let p = dir.join(name.trim_start_matches("./"));
        if p.is_file() {
            return Ok(p);
        }
        tried.push(p.display().to_string());
    }
    let name = h.parent_name();
    if !name.is_empty() {
        let p = dir.join(&name);
        if p.is_file() {
            return Ok(p);
        }
        tried.push(p.display().to_string());
    }
    Err(Error::Parent {
        file: path.to_path_buf(),
        problem: format!("no parent found (tried: {})", tried.join(", ")),
    })
}

/// Lower-case hex of a byte string.
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
