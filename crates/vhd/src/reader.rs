//! Reading any VHD: fixed, dynamic, and differencing through its parents.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::batmap::{BatmapHeader, creator_has_batmap};
use crate::dynamic::{DynamicHeader, HEADER_LEN, LOC_MACX, LOC_W2KU, LOC_W2RU, UNALLOCATED};
use crate::error::{Error, Result};
use crate::footer::{DiskType, FOOTER_LEN, Footer};
use crate::geometry::MAX_SIZE;

/// How deep a differencing chain may go before we call it a loop.
const MAX_CHAIN: usize = 32;

/// An open VHD, readable at any offset of its virtual disk.
#[derive(Debug)]
pub struct Vhd {
    path: PathBuf,
    file: File,
    file_len: u64,
    footer: Footer,
    sparse: Option<Sparse>,
}

/// The parts only dynamic and differencing disks have.
#[derive(Debug)]
struct Sparse {
    header: DynamicHeader,
    bat: Vec<u32>,
    batmap: Option<BatmapHeader>,
    parent: Option<Box<Vhd>>,
    /// The sector bitmap of the block read last: (block index, bitmap).
    bitmap_cache: Mutex<Option<(u32, Vec<u8>)>>,
}

fn read_exact_at(f: &File, buf: &mut [u8], at: u64, what: &'static str, len: u64) -> Result<()> {
    if at.checked_add(buf.len() as u64).is_none_or(|end| end > len) {
        return Err(Error::Truncated {
            what,
            offset: at,
            need: buf.len() as u64,
            have: len,
        });
    }
    f.read_exact_at(buf, at).map_err(Error::io(what))
}

impl Vhd {
    /// Open a VHD and, for differencing disks, its chain of parents.
    pub fn open(path: impl AsRef<Path>) -> Result<Vhd> {
        Vhd::open_depth(path.as_ref(), 0)
    }

    fn open_depth(path: &Path, depth: usize) -> Result<Vhd> {
        let file = File::open(path).map_err(Error::io(format!("opening {}", path.display())))?;
        let file_len = file
            .metadata()
            .map_err(Error::io(format!("stat {}", path.display())))?
            .len();
        Vhd::from_file(path, file, file_len, depth)
    }

    /// Read a VHD from an already open file; `path` names it in errors and
    /// anchors relative parent locators.
    pub fn open_file(path: impl AsRef<Path>, file: File) -> Result<Vhd> {
        let path = path.as_ref();
        let file_len = file
            .metadata()
            .map_err(Error::io(format!("stat {}", path.display())))?
            .len();
        Vhd::from_file(path, file, file_len, 0)
    }

    fn from_file(path: &Path, file: File, file_len: u64, depth: usize) -> Result<Vhd> {
        if file_len < FOOTER_LEN as u64 {
            return Err(Error::Truncated {
                what: "footer",
                offset: 0,
                need: FOOTER_LEN as u64,
                have: file_len,
            });
        }
        // The footer is the last 512 bytes; pre-2004 images have a 511-byte one.
        let mut fb = [0u8; FOOTER_LEN];
        let at = file_len - FOOTER_LEN as u64;
        read_exact_at(&file, &mut fb, at, "footer", file_len)?;
        let footer = match Footer::parse(&fb, at) {
            Ok(f) => f,
            Err(e) => {
                let mut fb2 = [0u8; FOOTER_LEN];
                let at2 = file_len - 511;
                fb2[..511].copy_from_slice(&fb[1..]);
                match Footer::parse(&fb2, at2) {
                    Ok(f) if file_len % 512 == 511 => f,
                    _ => return Err(e),
                }
            }
        };
        if footer.current_size > MAX_SIZE {
            return Err(Error::field(
                "footer",
                "current_size",
                at + 48,
                format!("at most {MAX_SIZE} (2040 GiB)"),
                footer.current_size.to_string(),
            ));
        }
        let sparse = match footer.disk_type {
            DiskType::Fixed => {
                if footer.current_size > at {
                    return Err(Error::field(
                        "footer",
                        "current_size",
                        at + 48,
                        format!("at most {at} (the data before the footer)"),
                        footer.current_size.to_string(),
                    ));
                }
                None
            }
            DiskType::Dynamic | DiskType::Differencing => {
                Some(Vhd::read_sparse(path, &file, file_len, &footer, at, depth)?)
            }
        };
        Ok(Vhd {
            path: path.to_path_buf(),
            file,
            file_len,
            footer,
            sparse,
        })
    }

    fn read_sparse(
        path: &Path,
        file: &File,
        file_len: u64,
        footer: &Footer,
        footer_at: u64,
        depth: usize,
    ) -> Result<Sparse> {
        let ho = footer.data_offset;
        if ho % 512 != 0
            || ho
                .checked_add(HEADER_LEN as u64)
                .is_none_or(|e| e > footer_at)
        {
            return Err(Error::field(
                "footer",
                "data_offset",
                footer_at + 16,
                format!("a sector-aligned offset of a dynamic header before {footer_at}"),
                ho.to_string(),
            ));
        }
        let mut hb = [0u8; HEADER_LEN];
        read_exact_at(file, &mut hb, ho, "dynamic header", file_len)?;
        let header = DynamicHeader::parse(&hb, ho)?;
        let bs = header.block_size as u64;
        let needed = footer.current_size.div_ceil(bs);
        if (header.max_table_entries as u64) < needed {
            return Err(Error::field(
                "dynamic header",
                "max_table_entries",
                ho + 28,
                format!("at least {needed} for a {} byte disk", footer.current_size),
                header.max_table_entries.to_string(),
            ));
        }
        let bat_len = header.max_table_entries as u64 * 4;
        if header.table_offset % 512 != 0
            || header
                .table_offset
                .checked_add(bat_len)
                .is_none_or(|e| e > footer_at)
        {
            return Err(Error::field(
                "dynamic header",
                "table_offset",
                ho + 16,
                format!("a sector-aligned offset with {bat_len} BAT bytes before the footer"),
                header.table_offset.to_string(),
            ));
        }
        let mut raw = vec![0u8; bat_len as usize];
        read_exact_at(file, &mut raw, header.table_offset, "BAT", file_len)?;
        let bat: Vec<u32> = raw
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes(c.try_into().expect("4")))
            .collect();
        check_blocks(&header, &bat, footer_at)?;
        let batmap = if creator_has_batmap(&footer.creator_app, footer.creator_version) {
            let at = header.table_offset + bat_len.div_ceil(512) * 512;
            let mut b = [0u8; 512];
            read_exact_at(file, &mut b, at, "batmap header", file_len)?;
            BatmapHeader::parse(&b, at).ok()
        } else {
            None
        };
        let parent = if footer.disk_type == DiskType::Differencing {
            if depth >= MAX_CHAIN {
                return Err(Error::Parent(format!(
                    "{}: chain deeper than {MAX_CHAIN} (a loop?)",
                    path.display()
                )));
            }
            let p = Vhd::open_parent(path, file, file_len, &header, depth)?;
            if p.footer.uuid != header.parent_uuid {
                return Err(Error::Parent(format!(
                    "{} has UUID {}, {} expects {}",
                    p.path.display(),
                    crate::footer::format_uuid(&p.footer.uuid),
                    path.display(),
                    crate::footer::format_uuid(&header.parent_uuid)
                )));
            }
            Some(Box::new(p))
        } else {
            None
        };
        Ok(Sparse {
            header,
            bat,
            batmap,
            parent,
            bitmap_cache: Mutex::new(None),
        })
    }

    fn open_parent(
        path: &Path,
        file: &File,
        file_len: u64,
        header: &DynamicHeader,
        depth: usize,
    ) -> Result<Vhd> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut tried = Vec::new();
        let mut candidates = Vec::new();
        for code in [LOC_W2RU, LOC_W2KU, LOC_MACX] {
            for loc in header.locators.iter().filter(|l| l.code == code) {
                if loc.data_len == 0 || loc.data_len > 64 * 1024 {
                    continue;
                }
                let mut buf = vec![0u8; loc.data_len as usize];
                if read_exact_at(file, &mut buf, loc.data_offset, "parent locator", file_len)
                    .is_err()
                {
                    continue;
                }
                let text = if code == LOC_MACX {
                    let s = String::from_utf8_lossy(&buf).into_owned();
                    s.strip_prefix("file://").unwrap_or(&s).to_string()
                } else {
                    let units: Vec<u16> = buf
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]))
                        .take_while(|&u| u != 0)
                        .collect();
                    String::from_utf16_lossy(&units)
                };
                candidates.push(text);
            }
        }
        if !header.parent_name.is_empty() {
            candidates.push(header.parent_name.clone());
        }
        for c in candidates {
            let c = c.replace('\\', "/");
            let c = c.strip_prefix("./").unwrap_or(&c);
            let p = if Path::new(c).is_absolute() {
                PathBuf::from(c)
            } else {
                dir.join(c)
            };
            if p.is_file() {
                return Vhd::open_depth(&p, depth + 1);
            }
            tried.push(p.display().to_string());
        }
        Err(Error::Parent(format!(
            "{}: no parent found (tried {})",
            path.display(),
            if tried.is_empty() {
                "no locators".to_string()
            } else {
                tried.join(", ")
            }
        )))
    }

    /// The footer at the end of the file.
    pub fn footer(&self) -> &Footer {
        &self.footer
    }

    /// The dynamic header, for dynamic and differencing disks.
    pub fn header(&self) -> Option<&DynamicHeader> {
        self.sparse.as_ref().map(|s| &s.header)
    }

    /// The block allocation table, for dynamic and differencing disks.
    pub fn bat(&self) -> Option<&[u32]> {
        self.sparse.as_ref().map(|s| s.bat.as_slice())
    }

    /// The batmap header, where the creator writes one.
    pub fn batmap(&self) -> Option<&BatmapHeader> {
        self.sparse.as_ref().and_then(|s| s.batmap.as_ref())
    }

    /// The parent of a differencing disk.
    pub fn parent(&self) -> Option<&Vhd> {
        self.sparse.as_ref().and_then(|s| s.parent.as_deref())
    }

    /// The path this disk was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Length of the file itself.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Size of the virtual disk in bytes.
    pub fn size(&self) -> u64 {
        self.footer.virtual_size()
    }

    /// The underlying file, for checks that read raw structures.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Read virtual-disk bytes at `offset`; returns fewer only at the end.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let size = self.size();
        if offset >= size {
            return Ok(0);
        }
        let n = buf.len().min((size - offset) as usize);
        let buf = &mut buf[..n];
        match &self.sparse {
            None => self.file.read_exact_at(buf, offset)?,
            Some(s) => {
                let bs = s.header.block_size as u64;
                let mut done = 0usize;
                while done < n {
                    let pos = offset + done as u64;
                    let blk = (pos / bs) as usize;
                    let within = pos % bs;
                    let take = ((bs - within) as usize).min(n - done);
                    self.read_in_block(s, blk, within, &mut buf[done..done + take], pos)?;
                    done += take;
                }
            }
        }
        Ok(n)
    }

    fn read_in_block(
        &self,
        s: &Sparse,
        blk: usize,
        within: u64,
        out: &mut [u8],
        vpos: u64,
    ) -> io::Result<()> {
        let entry = s.bat[blk];
        if entry == UNALLOCATED {
            return match &s.parent {
                Some(p) => read_full(p, vpos, out),
                None => {
                    out.fill(0);
                    Ok(())
                }
            };
        }
        let start = entry as u64 * 512;
        let bm_len = s.header.bitmap_len();
        let data = start + bm_len;
        let bitmap = self.bitmap(s, blk as u32, start, bm_len)?;
        // Walk runs of sectors that share a bitmap bit; a set bit means the
        // sector lives in this file, a clear one means zero (dynamic) or the
        // parent's (differencing).
        let mut done = 0usize;
        while done < out.len() {
            let off = within + done as u64;
            let sector = (off / 512) as usize;
            let present = bitmap[sector / 8] & (0x80 >> (sector % 8)) != 0;
            let mut end = done + (512 - (off % 512) as usize).min(out.len() - done);
            while end < out.len() {
                let sec = ((within + end as u64) / 512) as usize;
                if (bitmap[sec / 8] & (0x80 >> (sec % 8)) != 0) != present {
                    break;
                }
                end += 512.min(out.len() - end);
            }
            let part = &mut out[done..end];
            if present {
                self.file.read_exact_at(part, data + off)?;
            } else if let Some(p) = &s.parent {
                read_full(p, vpos + done as u64, part)?;
            } else {
                part.fill(0);
            }
            done = end;
        }
        Ok(())
    }

    fn bitmap(&self, s: &Sparse, blk: u32, start: u64, len: u64) -> io::Result<Vec<u8>> {
        let mut cache = s.bitmap_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((b, bm)) = cache.as_ref() {
            if *b == blk {
                return Ok(bm.clone());
            }
        }
        let mut bm = vec![0u8; len as usize];
        self.file.read_exact_at(&mut bm, start)?;
        *cache = Some((blk, bm.clone()));
        Ok(bm)
    }

    /// Ranges `(offset, len)` of the virtual disk that may hold data: the
    /// whole disk for fixed images, the allocated blocks (here or in a
    /// parent) for sparse ones. Everything else reads as zeros.
    pub fn data_ranges(&self) -> Vec<(u64, u64)> {
        let size = self.size();
        let Some(s) = &self.sparse else {
            return if size == 0 { vec![] } else { vec![(0, size)] };
        };
        let bs = s.header.block_size as u64;
        let parent_ranges = s
            .parent
            .as_ref()
            .map(|p| p.data_ranges())
            .unwrap_or_default();
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        let mut push = |o: u64, l: u64| {
            if let Some(last) = ranges.last_mut() {
                if last.0 + last.1 >= o {
                    let end = (last.0 + last.1).max(o + l);
                    last.1 = end - last.0;
                    return;
                }
            }
            ranges.push((o, l));
        };
        let nblocks = size.div_ceil(bs) as usize;
        let mut pi = 0;
        for blk in 0..nblocks {
            let (o, e) = (blk as u64 * bs, ((blk as u64 + 1) * bs).min(size));
            let here = s.bat[blk] != UNALLOCATED;
            while pi < parent_ranges.len() && parent_ranges[pi].0 + parent_ranges[pi].1 <= o {
                pi += 1;
            }
            let in_parent = pi < parent_ranges.len() && parent_ranges[pi].0 < e;
            if here || in_parent {
                push(o, e - o);
            }
        }
        ranges
    }
}

/// Every allocated block must lie between the BAT and the footer and
/// overlap no other block: reading one would otherwise return another's
/// data or metadata.
fn check_blocks(header: &DynamicHeader, bat: &[u32], footer_at: u64) -> Result<()> {
    let block_bytes = header.bitmap_len() + header.block_size as u64;
    let bat_end = header.table_offset + bat.len() as u64 * 4;
    let entry_at = |i: usize| header.table_offset + 4 * i as u64;
    let mut spans: Vec<(u64, usize)> = Vec::new();
    for (i, &e) in bat.iter().enumerate() {
        if e == UNALLOCATED {
            continue;
        }
        let start = e as u64 * 512;
        if start < bat_end || start + block_bytes > footer_at {
            return Err(Error::field(
                "BAT",
                "entry",
                entry_at(i),
                format!("block {i} between the BAT end {bat_end} and the footer at {footer_at}"),
                format!("sector {e} (bytes {start}..{})", start + block_bytes),
            ));
        }
        spans.push((start, i));
    }
    spans.sort_unstable();
    for w in spans.windows(2) {
        if w[1].0 < w[0].0 + block_bytes {
            return Err(Error::field(
                "BAT",
                "entry",
                entry_at(w[1].1),
                format!("block {} not overlapping block {}", w[1].1, w[0].1),
                format!(
                    "bytes {}.. overlap {}..{}",
                    w[1].0,
                    w[0].0,
                    w[0].0 + block_bytes
                ),
            ));
        }
    }
    Ok(())
}

fn read_full(v: &Vhd, offset: u64, out: &mut [u8]) -> io::Result<()> {
    let n = v.read_at(offset, out)?;
    // A parent smaller than its child reads as zeros past its end.
    out[n..].fill(0);
    Ok(())
}

impl fstree::ContentSource for Vhd {
    fn len(&self) -> u64 {
        self.size()
    }
    fn data_ranges(&self) -> io::Result<Vec<(u64, u64)>> {
        Ok(Vhd::data_ranges(self))
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        Vhd::read_at(self, offset, buf)
    }
}
