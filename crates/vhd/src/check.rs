//! `vhd check`: every rule a strict reader (vhd-util check, QEMU, Hyper-V)
//! applies, each violation named with its offset.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::batmap::{BatmapHeader, creator_has_batmap, map_checksum, map_sectors};
use crate::dynamic::{DynamicHeader, HEADER_LEN, UNALLOCATED};
use crate::footer::{DiskType, FOOTER_LEN, Footer, be32, checksum};
use crate::geometry::{Geometry, MAX_SIZE};

/// One rule a VHD breaks.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// Byte offset of the offending field or structure.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

struct Findings(Vec<Violation>);

impl Findings {
    fn add(&mut self, offset: u64, message: impl Into<String>) {
        self.0.push(Violation {
            offset,
            message: message.into(),
        });
    }
}

/// Read `n` bytes at `at`, or `None` when they are not all in the file
/// (checked before allocating, so a lying length costs nothing).
fn read(f: &File, at: u64, n: usize) -> Option<Vec<u8>> {
    let len = f.metadata().ok()?.len();
    if at.checked_add(n as u64)? > len {
        return None;
    }
    let mut b = vec![0u8; n];
    f.read_exact_at(&mut b, at).ok().map(|_| b)
}

/// Check a VHD file; an empty list means no rule is broken.
pub fn check(path: &Path) -> std::io::Result<Vec<Violation>> {
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut out = Findings(Vec::new());
    if len < FOOTER_LEN as u64 {
        out.add(
            0,
            format!("file is {len} bytes, shorter than a footer (512)"),
        );
        return Ok(out.0);
    }
    let fat = len - FOOTER_LEN as u64;
    let raw = read(&f, fat, FOOTER_LEN).expect("length checked");
    let Some(footer) = check_footer(&raw, fat, &mut out) else {
        return Ok(out.0);
    };
    if footer.disk_type == DiskType::Fixed {
        if footer.data_offset != u64::MAX {
            out.add(fat + 16, "fixed disk: data_offset must be all ones");
        }
        if footer.current_size != fat {
            out.add(
                fat + 48,
                format!(
                    "fixed disk: current_size {} differs from the {fat} data bytes before the footer",
                    footer.current_size
                ),
            );
        }
        return Ok(out.0);
    }
    // Dynamic and differencing: the copy at 0 must equal the footer at EOF.
    match read(&f, 0, FOOTER_LEN) {
        Some(copy) if copy == raw => {}
        _ => out.add(
            0,
            "footer copy at offset 0 differs from the footer at the end",
        ),
    }
    let ho = footer.data_offset;
    if ho % 512 != 0 || ho + HEADER_LEN as u64 > fat {
        out.add(
            fat + 16,
            format!("data_offset {ho} does not point at a header inside the file"),
        );
        return Ok(out.0);
    }
    let hb: [u8; HEADER_LEN] = read(&f, ho, HEADER_LEN)
        .expect("bounds checked")
        .try_into()
        .expect("len");
    let header = match DynamicHeader::parse(&hb, ho) {
        Ok(h) => h,
        Err(e) => {
            out.add(ho, e.to_string());
            return Ok(out.0);
        }
    };
    if header.data_offset != u64::MAX {
        out.add(ho + 8, "dynamic header data_offset must be all ones");
    }
    if header.version != 0x0001_0000 {
        out.add(
            ho + 24,
            format!(
                "header version {:#010x}, expected 0x00010000",
                header.version
            ),
        );
    }
    if hb[60..64] != [0; 4] || hb[768..1024].iter().any(|&b| b != 0) {
        out.add(ho + 768, "reserved header bytes are not zero");
    }
    if footer.disk_type == DiskType::Dynamic
        && (header.parent_uuid != [0; 16] || !header.parent_name.is_empty())
    {
        out.add(
            ho + 40,
            "parent fields set on a dynamic (non-differencing) disk",
        );
    }
    let bs = header.block_size as u64;
    let need = footer.current_size.div_ceil(bs);
    if (header.max_table_entries as u64) < need {
        out.add(
            ho + 28,
            format!(
                "max_table_entries {} < {need} blocks the size needs",
                header.max_table_entries
            ),
        );
    }
    let bat_off = header.table_offset;
    let bat_len = header.max_table_entries as u64 * 4;
    if bat_off % 512 != 0 {
        out.add(
            ho + 16,
            format!("table_offset {bat_off} is not sector aligned"),
        );
    }
    if bat_off + bat_len > fat {
        out.add(
            ho + 16,
            format!(
                "BAT [{bat_off}, {}) runs past the footer",
                bat_off + bat_len
            ),
        );
        return Ok(out.0);
    }
    let bat_raw = read(&f, bat_off, bat_len as usize).expect("bounds checked");
    let bat: Vec<u32> = bat_raw.chunks_exact(4).map(|c| be32(c, 0)).collect();
    // Metadata regions no block may overlap: footer copy, header, BAT (+batmap).
    let mut meta_end = bat_off + bat_len.div_ceil(512) * 512;
    let mut batmap = None;
    if creator_has_batmap(&footer.creator_app, footer.creator_version) {
        let at = meta_end;
        match read(&f, at, 512).map(|b| BatmapHeader::parse(&b.try_into().expect("512"), at)) {
            Some(Ok(h)) => {
                let want = map_sectors(header.max_table_entries);
                if h.map_sectors < want {
                    out.add(
                        at + 16,
                        format!("batmap is {} sectors, needs {want}", h.map_sectors),
                    );
                }
                meta_end = h.map_offset + h.map_sectors as u64 * 512;
                match read(&f, h.map_offset, h.map_sectors as usize * 512) {
                    Some(map) => {
                        let c = map_checksum(&map);
                        if c != h.checksum {
                            out.add(
                                at + 24,
                                format!("batmap checksum {:#010x}, computed {c:#010x}", h.checksum),
                            );
                        }
                        batmap = Some(map);
                    }
                    None => out.add(h.map_offset, "batmap runs past the end of the file"),
                }
            }
            Some(Err(e)) => out.add(at, format!("tap creator without a batmap: {e}")),
            None => out.add(at, "tap creator without a batmap: file ends"),
        }
    }
    let block_bytes = header.bitmap_len() + bs;
    let mut spans: Vec<(u64, u64, usize)> = Vec::new();
    for (i, &e) in bat.iter().enumerate() {
        let at = bat_off + 4 * i as u64;
        if e == UNALLOCATED {
            if let Some(map) = &batmap {
                if map[i / 8] & (0x80 >> (i % 8)) != 0 {
                    out.add(
                        at,
                        format!("block {i} is unallocated but marked full in the batmap"),
                    );
                }
            }
            continue;
        }
        if i as u64 >= need {
            out.add(
                at,
                format!("block {i} is allocated past the end of the disk"),
            );
        }
        let start = e as u64 * 512;
        let end = start + block_bytes;
        if start < meta_end {
            out.add(
                at,
                format!("block {i} at {start} overlaps the headers/BAT/batmap (end {meta_end})"),
            );
        }
        if end > fat {
            out.add(
                at,
                format!("block {i} [{start}, {end}) clobbers the footer at {fat} or lies past EOF"),
            );
        }
        spans.push((start, end, i));
        if let Some(map) = &batmap {
            if map[i / 8] & (0x80 >> (i % 8)) != 0 {
                match read(&f, start, header.bitmap_len() as usize) {
                    Some(bm) => {
                        let sectors = (bs / 512) as usize;
                        let full = (0..sectors).all(|s| bm[s / 8] & (0x80 >> (s % 8)) != 0);
                        if !full {
                            out.add(
                                start,
                                format!(
                                    "block {i} is marked full in the batmap but its bitmap is not"
                                ),
                            );
                        }
                    }
                    None => out.add(start, format!("block {i}'s bitmap lies past EOF")),
                }
            }
        }
    }
    spans.sort();
    for w in spans.windows(2) {
        if w[1].0 < w[0].1 {
            out.add(
                w[1].0,
                format!("blocks {} and {} overlap at {}", w[0].2, w[1].2, w[1].0),
            );
        }
    }
    Ok(out.0)
}

fn check_footer(raw: &[u8], at: u64, out: &mut Findings) -> Option<Footer> {
    if &raw[0..8] != b"conectix" {
        out.add(
            at,
            format!(
                "footer cookie {:?}, expected \"conectix\"",
                String::from_utf8_lossy(&raw[0..8])
            ),
        );
        return None;
    }
    let stored = be32(raw, 64);
    let computed = checksum(raw, 64..68);
    if stored != computed {
        out.add(
            at + 64,
            format!("footer checksum {stored:#010x}, computed {computed:#010x}"),
        );
    }
    // Parse with the checksum repaired so every other field still gets checked.
    let mut fixed: [u8; FOOTER_LEN] = raw.try_into().expect("512");
    fixed[64..68].copy_from_slice(&computed.to_be_bytes());
    let footer = match Footer::parse(&fixed, at) {
        Ok(f) => f,
        Err(e) => {
            out.add(at + 60, e.to_string());
            return None;
        }
    };
    if footer.features & !0x3 != 0 || footer.features & 0x2 == 0 {
        out.add(
            at + 8,
            format!(
                "features {:#010x}: only 0x2 (reserved, required) and 0x1 may be set",
                footer.features
            ),
        );
    }
    if footer.version != 0x0001_0000 {
        out.add(
            at + 12,
            format!(
                "file format version {:#010x}, expected 0x00010000",
                footer.version
            ),
        );
    }
    if footer.current_size > MAX_SIZE {
        out.add(
            at + 48,
            format!("current_size {} is over 2040 GiB", footer.current_size),
        );
    }
    if footer.current_size % 512 != 0 {
        out.add(
            at + 48,
            format!(
                "current_size {} is not a whole number of sectors",
                footer.current_size
            ),
        );
    }
    let chs = Geometry::for_size(footer.current_size);
    if footer.geometry.packed() > chs.packed() {
        out.add(
            at + 56,
            format!(
                "geometry {}/{}/{} is larger than the size allows ({}/{}/{})",
                footer.geometry.cylinders,
                footer.geometry.heads,
                footer.geometry.sectors,
                chs.cylinders,
                chs.heads,
                chs.sectors
            ),
        );
    }
    if footer.saved_state > 1 || footer.hidden > 1 {
        out.add(at + 84, "saved_state and hidden must be 0 or 1");
    }
    if raw[86..].iter().any(|&b| b != 0) {
        out.add(at + 86, "reserved footer bytes are not zero");
    }
    Some(footer)
}
