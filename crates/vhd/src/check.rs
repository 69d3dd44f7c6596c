//! `vhd check`: every rule `vhd-util check` enforces (and a few more),
//! each broken rule reported as a [`Violation`] naming the field and offset.
//! Unlike [`crate::Vhd::open`], the checker keeps going after a problem.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::Serialize;

use crate::format::{
    BAT_UNUSED, BATMAP_COOKIE, BatmapHeader, DiskType, DynamicHeader, FEATURES_RESERVED,
    FOOTER_COOKIE, FOOTER_SIZE, Footer, HEADER_COOKIE, HEADER_SIZE, MAX_BAT_ENTRIES, MAX_SIZE,
    SECTOR, VERSION_1_0,
};
use crate::geometry::Geometry;
use crate::{Error, Result};

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Absolute offset of the offending bytes.
    pub offset: u64,
    /// The field, e.g. `footer.checksum` or `bat[3]`.
    pub field: String,
    /// What is wrong and what was expected.
    pub problem: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {:#x}: {}", self.field, self.offset, self.problem)
    }
}

/// The most violations listed; past it they are counted in one last entry
/// (a hostile BAT can break a rule in each of millions of entries).
pub const MAX_VIOLATIONS: usize = 1000;

#[derive(Default)]
struct Checker {
    out: Vec<Violation>,
    /// Violations past MAX_VIOLATIONS, counted in the last entry.
    more: u64,
}

impl Checker {
    fn add(&mut self, offset: u64, field: impl Into<String>, problem: impl Into<String>) {
        if self.out.len() < MAX_VIOLATIONS {
            self.out.push(Violation {
                offset,
                field: field.into(),
                problem: problem.into(),
            });
            return;
        }
        self.more += 1;
        let summary = format!("{} more violations not listed", self.more);
        if self.more == 1 {
            self.out.push(Violation {
                offset,
                field: "file".into(),
                problem: summary,
            });
        } else if let Some(last) = self.out.last_mut() {
            last.problem = summary;
        }
    }
}

fn read(file: &File, off: u64, buf: &mut [u8], len: u64) -> bool {
    off.checked_add(buf.len() as u64).is_some_and(|e| e <= len)
        && file.read_exact_at(buf, off).is_ok()
}

/// What a differencing image says about its parent, for the chain check.
struct ParentRef {
    file: File,
    len: u64,
    header: DynamicHeader,
    /// Offset of the dynamic header.
    hoff: u64,
}

/// Check the image at `path` and, for a differencing image, every image of
/// its parent chain; an empty list means the chain is valid. A parent that
/// is missing, not a VHD, another image than the one recorded (unique id,
/// modification time), or already in the chain (a loop) is a violation, and
/// so is anything wrong inside a parent (named by its path). Only I/O
/// errors opening `path` itself are returned as `Err`.
pub fn check_file(path: &Path) -> Result<Vec<Violation>> {
    let (mut out, mut diff) = check_image(path)?;
    let mut seen = vec![identity(path)];
    let mut child = path.to_path_buf();
    while let Some(p) = diff.take() {
        let at_loc = p.hoff + 576;
        let at = |offset, field: &str, problem: String| Violation {
            offset,
            field: format!("{}: {field}", child.display()),
            problem,
        };
        let parent = match crate::reader::find_parent(&child, &p.file, p.len, &p.header) {
            Ok(pp) => pp,
            Err(e) => {
                out.push(at(at_loc, "header.parent_locator", format!("{e}")));
                break;
            }
        };
        let id = identity(&parent);
        if id.is_some() && seen.contains(&id) {
            out.push(at(
                at_loc,
                "header.parent_locator",
                format!(
                    "parent {} is already in the chain (a loop)",
                    parent.display()
                ),
            ));
            break;
        }
        if seen.len() > crate::reader::MAX_CHAIN {
            out.push(at(
                at_loc,
                "header.parent_locator",
                format!("chain deeper than {} images", crate::reader::MAX_CHAIN),
            ));
            break;
        }
        seen.push(id);
        let Some((pfooter, pmtime)) = parent_footer(&parent) else {
            out.push(at(
                at_loc,
                "header.parent_locator",
                format!("parent {} is not a VHD (no valid footer)", parent.display()),
            ));
            break;
        };
        if pfooter.uuid != p.header.parent_uuid {
            out.push(at(
                p.hoff + 40,
                "header.parent_uuid",
                format!(
                    "{}, but parent {} has unique id {}",
                    crate::reader::hex(&p.header.parent_uuid),
                    parent.display(),
                    crate::reader::hex(&pfooter.uuid)
                ),
            ));
        }
        // libvhd and VirtualBox record the parent file's modification time
        // (VHD epoch) when they make the child; a parent written since is
        // not the image the child was made against.
        if p.header.parent_timestamp != 0
            && let Some(m) = pmtime
            && m != p.header.parent_timestamp
        {
            out.push(at(
                p.hoff + 56,
                "header.parent_timestamp",
                format!(
                    "{}, but parent {} was last modified at {m} (seconds since 2000): changed after the child was made, or copied without its time",
                    p.header.parent_timestamp,
                    parent.display()
                ),
            ));
        }
        let (pv, next) = match check_image(&parent) {
            Ok(r) => r,
            Err(e) => {
                out.push(at(at_loc, "header.parent_locator", format!("parent: {e}")));
                break;
            }
        };
        out.extend(pv.into_iter().map(|v| Violation {
            field: format!("{}: {}", parent.display(), v.field),
            ..v
        }));
        diff = next;
        child = parent;
    }
    Ok(out)
}

/// Device and inode of a file, to see a loop in a chain whatever path
/// names each image.
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// A parent's footer (at EOF, or its copy at 0) when it has a `conectix`
/// one, and its modification time as a VHD timestamp.
fn parent_footer(path: &Path) -> Option<(Footer, Option<u32>)> {
    let file = File::open(path).ok()?;
    let m = file.metadata().ok()?;
    let (footer, _) = crate::reader::read_footer(&file, path, m.len()).ok()?;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| crate::writer::vhd_timestamp(d.as_secs()));
    Some((footer, mtime))
}

/// Check one image; for a differencing image whose header could be read,
/// also what it says about its parent.
fn check_image(path: &Path) -> Result<(Vec<Violation>, Option<ParentRef>)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut c = Checker::default();
    let mut parent = None;
    check_into(&mut c, path, &file, len, &mut parent)?;
    Ok((
        c.out,
        parent.map(|(header, hoff)| ParentRef {
            file,
            len,
            header,
            hoff,
        }),
    ))
}

fn check_into(
    c: &mut Checker,
    path: &Path,
    file: &File,
    len: u64,
    parent: &mut Option<(DynamicHeader, u64)>,
) -> Result<()> {
    if len < 512 {
        c.add(
            0,
            "file",
            format!("{len} bytes: too short to hold a 512-byte footer"),
        );
        return Ok(());
    }
    let foff = if len % 512 == 511 {
        len - 511
    } else {
        len - 512
    };
    let mut fb = [0u8; FOOTER_SIZE];
    file.read_exact_at(&mut fb[..(len - foff) as usize], foff)
        .map_err(|e| Error::io(path, e))?;
    let footer = check_footer(c, &fb, foff, "footer");
    let Some(kind) = footer.kind() else {
        return Ok(());
    };
    if kind == DiskType::Fixed {
        if foff < footer.current_size {
            c.add(
                foff,
                "file",
                format!(
                    "fixed disk of {} bytes needs a {}-byte file, found {len}",
                    footer.current_size,
                    u128::from(footer.current_size) + 512
                ),
            );
        } else if foff > footer.current_size {
            c.add(
                footer.current_size,
                "file",
                format!(
                    "{} bytes between the data and the footer",
                    foff - footer.current_size
                ),
            );
        }
        return Ok(());
    }
    // The copy at offset 0 must match the footer at EOF.
    let mut copy = [0u8; FOOTER_SIZE];
    if read(file, 0, &mut copy, len) && copy != fb {
        c.add(
            0,
            "footer copy",
            "differs from the footer at the end of the file",
        );
    }
    let hoff = footer.data_offset;
    let mut hb = [0u8; HEADER_SIZE];
    if !hoff.is_multiple_of(SECTOR) || !read(file, hoff, &mut hb, foff) {
        c.add(
            foff + 16,
            "footer.data_offset",
            format!("{hoff:#x}: no 1024-byte dynamic header fits there before the footer"),
        );
        return Ok(());
    }
    let h = DynamicHeader::decode(&hb);
    if kind == DiskType::Differencing {
        *parent = Some((h.clone(), hoff));
        if u64::from(h.parent_timestamp) + crate::format::VHD_EPOCH > now() + 1800 {
            c.add(
                hoff + 56,
                "header.parent_timestamp",
                "more than 30 minutes in the future",
            );
        }
    }
    if &h.cookie != HEADER_COOKIE {
        c.add(
            hoff,
            "header.cookie",
            format!(
                "found {:?}, expected \"cxsparse\"",
                h.cookie.escape_ascii().to_string()
            ),
        );
    }
    let hc = DynamicHeader::computed_checksum(&hb);
    if h.checksum != hc {
        c.add(
            hoff + 36,
            "header.checksum",
            format!("stored {:#010x}, computed {hc:#010x}", h.checksum),
        );
    }
    if h.data_offset != u64::MAX {
        c.add(
            hoff + 8,
            "header.data_offset",
            format!("{:#x}, expected all ones", h.data_offset),
        );
    }
    if h.version != VERSION_1_0 {
        c.add(
            hoff + 24,
            "header.version",
            format!("{:#010x}, expected 0x00010000", h.version),
        );
    }
    if !h.reserved_zero || h.reserved1 != 0 {
        c.add(hoff + 768, "header.reserved", "not zero");
    }
    let bs_ok = h.block_size.is_power_of_two() && h.block_size >= 512;
    if !bs_ok {
        c.add(
            hoff + 32,
            "header.block_size",
            format!(
                "{:#x}: expected a power of two of at least 512",
                h.block_size
            ),
        );
    }
    if bs_ok {
        let need = footer.current_size.div_ceil(h.block_size as u64);
        if (h.max_table_entries as u64) < need {
            c.add(
                hoff + 28,
                "header.max_table_entries",
                format!("{}: the disk size needs {need}", h.max_table_entries),
            );
        }
    }
    if kind != DiskType::Differencing
        && (h.parent_uuid != [0; 16] || h.locators.iter().any(|l| l.code != 0))
    {
        c.add(
            hoff + 40,
            "header.parent",
            "parent fields set on a non-differencing disk",
        );
    }
    let bat_end = h.table_offset.saturating_add(h.bat_bytes());
    if !h.table_offset.is_multiple_of(SECTOR) || bat_end > foff {
        c.add(
            hoff + 16,
            "header.table_offset",
            format!(
                "BAT at {:#x}..{bat_end:#x}: expected sector-aligned and before the footer at {foff:#x}",
                h.table_offset
            ),
        );
        return Ok(());
    }
    if h.table_offset < hoff.saturating_add(HEADER_SIZE as u64) && hoff < bat_end {
        c.add(
            hoff + 16,
            "header.table_offset",
            "BAT overlaps the dynamic header",
        );
    }
    // The table lies inside the file (checked above), and is read only up
    // to MAX_BAT_ENTRIES: memory is never sized by the header alone.
    if h.max_table_entries > MAX_BAT_ENTRIES {
        c.add(
            hoff + 28,
            "header.max_table_entries",
            format!(
                "{} entries: more than the {MAX_BAT_ENTRIES} this checker reads; BAT not checked",
                h.max_table_entries
            ),
        );
        return Ok(());
    }
    let mut raw = vec![0u8; (h.max_table_entries as usize) * 4];
    if !read(file, h.table_offset, &mut raw, len) {
        c.add(h.table_offset, "bat", "cannot be read");
        return Ok(());
    }
    let bat: Vec<u32> = raw
        .chunks_exact(4)
        .map(|x| u32::from_be_bytes(x.try_into().expect("4")))
        .collect();
    // Metadata regions no block may touch: footer copy, header, BAT, batmap.
    let mut meta: Vec<(u64, u64, &str)> = vec![
        (0, 512, "footer copy"),
        (
            hoff,
            hoff.saturating_add(HEADER_SIZE as u64),
            "dynamic header",
        ),
        (h.table_offset, bat_end, "BAT"),
    ];
    let batmap = if &footer.creator_app[..3] == b"tap" && footer.creator_version >= 0x0001_0002 {
        check_batmap(c, file, len, &footer, &h, bat_end)
    } else {
        None
    };
    if let Some((bh, _)) = &batmap {
        meta.push((bat_end, bat_end.saturating_add(512), "batmap header"));
        meta.push((
            bh.map_offset,
            bh.map_offset
                .saturating_add(u64::from(bh.map_sectors) * SECTOR),
            "batmap",
        ));
    }
    // Offsets and sizes below come from the file: add without wrapping (a
    // range past the end of the address space just ends there).
    for l in h.locators.iter().filter(|l| l.code != 0) {
        meta.push((
            l.data_offset,
            l.data_offset
                .saturating_add(u64::from(l.data_space.max(l.data_len))),
            "parent locator",
        ));
    }
    if !bs_ok {
        return Ok(());
    }
    let bm = h.bitmap_bytes();
    let span = bm + h.block_size as u64;
    let mut blocks: Vec<(u64, usize)> = Vec::new();
    for (i, &e) in bat.iter().enumerate() {
        if e == BAT_UNUSED {
            continue;
        }
        let at = h.table_offset.saturating_add(4 * i as u64);
        let s = u64::from(e) * SECTOR;
        let end = s.saturating_add(span);
        if end > foff {
            c.add(
                at,
                format!("bat[{i}]"),
                format!(
                    "block at {s:#x}..{end:#x} clobbers the footer at {foff:#x} or runs past EOF"
                ),
            );
        }
        for (ms, me, name) in &meta {
            if s < *me && *ms < end {
                c.add(
                    at,
                    format!("bat[{i}]"),
                    format!("block at {s:#x} overlaps the {name}"),
                );
            }
        }
        blocks.push((s, i));
    }
    blocks.sort_unstable();
    for w in blocks.windows(2) {
        if w[0].0.saturating_add(span) > w[1].0 {
            c.add(
                h.table_offset.saturating_add(4 * w[1].1 as u64),
                format!("bat[{}]", w[1].1),
                format!(
                    "block at {:#x} overlaps block {} at {:#x}",
                    w[1].0, w[0].1, w[0].0
                ),
            );
        }
    }
    // Batmap bits claim "fully allocated": the block's bitmap must be all ones.
    if let Some((_, map)) = &batmap {
        let full = vec![0xFFu8; (h.block_size as u64 / SECTOR / 8) as usize];
        let mut bits = vec![0u8; full.len()];
        for (i, &e) in bat.iter().enumerate() {
            let set = map.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0);
            if !set {
                continue;
            }
            if e == BAT_UNUSED {
                c.add(
                    bat_end + 512,
                    format!("batmap[{i}]"),
                    "set for an unallocated block",
                );
                continue;
            }
            if read(file, e as u64 * SECTOR, &mut bits, len) && bits != full {
                c.add(
                    e as u64 * SECTOR,
                    format!("bitmap of block {i}"),
                    "batmap says fully allocated but the sector bitmap is not all ones",
                );
            }
        }
    }
    Ok(())
}

fn check_footer(c: &mut Checker, b: &[u8; FOOTER_SIZE], at: u64, name: &str) -> Footer {
    let f = Footer::decode(b);
    let fld = |s: &str| format!("{name}.{s}");
    if &f.cookie != FOOTER_COOKIE {
        c.add(
            at,
            fld("cookie"),
            format!(
                "found {:?}, expected \"conectix\"",
                f.cookie.escape_ascii().to_string()
            ),
        );
    }
    let cs = Footer::computed_checksum(b);
    if f.checksum != cs {
        c.add(
            at + 64,
            fld("checksum"),
            format!("stored {:#010x}, computed {cs:#010x}", f.checksum),
        );
    }
    if f.features & !1 != FEATURES_RESERVED {
        c.add(
            at + 8,
            fld("features"),
            format!("{:#010x}, expected 0x00000002 (+0x1 temporary)", f.features),
        );
    }
    if f.version != VERSION_1_0 {
        c.add(
            at + 12,
            fld("version"),
            format!("{:#010x}, expected 0x00010000", f.version),
        );
    }
    match f.kind() {
        None => c.add(
            at + 60,
            fld("disk_type"),
            format!("{}: expected 2, 3 or 4", f.disk_type),
        ),
        Some(DiskType::Fixed) if f.data_offset != u64::MAX => c.add(
            at + 16,
            fld("data_offset"),
            format!("{:#x}: a fixed disk needs all ones", f.data_offset),
        ),
        _ => {}
    }
    if f.current_size > MAX_SIZE || !f.current_size.is_multiple_of(SECTOR) {
        c.add(
            at + 48,
            fld("current_size"),
            format!(
                "{}: expected a multiple of 512 up to 2040 GiB",
                f.current_size
            ),
        );
    }
    let chs = Geometry::floor(f.current_size);
    if f.geometry.packed() > chs.packed() && f.geometry != crate::geometry::MAX_GEOMETRY {
        c.add(
            at + 56,
            fld("geometry"),
            format!(
                "{}/{}/{} addresses more than current_size allows ({}/{}/{})",
                f.geometry.cylinders,
                f.geometry.heads,
                f.geometry.sectors,
                chs.cylinders,
                chs.heads,
                chs.sectors
            ),
        );
    } else if f.geometry == crate::geometry::MAX_GEOMETRY && chs != f.geometry {
        c.add(
            at + 56,
            fld("geometry"),
            "65535/16/255 marker: vhd-util rejects it as \"geometry too large\"",
        );
    }
    if &f.creator_app[..3] == b"tap" && f.creator_version > 0x0001_0003 {
        c.add(
            at + 32,
            fld("creator_version"),
            format!("{:#010x}: tap images go up to 1.3", f.creator_version),
        );
    }
    if f.saved_state > 1 || f.hidden > 1 {
        c.add(
            at + 84,
            fld("saved_state"),
            "saved state and hidden flags must be 0 or 1",
        );
    }
    if !f.reserved_zero {
        c.add(at + 86, fld("reserved"), "not zero");
    }
    if f.timestamp as u64 + crate::format::VHD_EPOCH > now() + 1800 {
        c.add(
            at + 24,
            fld("timestamp"),
            "more than 30 minutes in the future",
        );
    }
    f
}

/// Seconds since 1970, now.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn check_batmap(
    c: &mut Checker,
    file: &File,
    len: u64,
    footer: &Footer,
    h: &DynamicHeader,
    at: u64,
) -> Option<(BatmapHeader, Vec<u8>)> {
    let mut b = [0u8; 512];
    if !read(file, at, &mut b, len) || &b[0..8] != BATMAP_COOKIE {
        c.add(
            at,
            "batmap.cookie",
            "tap creator 1.2+ without a \"tdbatmap\" header after the BAT (vhd-util rejects this)",
        );
        return None;
    }
    let bh = BatmapHeader::decode(&b);
    let need = BatmapHeader::sectors_for(h.max_table_entries);
    if bh.map_sectors < need {
        c.add(
            at + 16,
            "batmap.size",
            format!("{} sectors, {need} needed for the BAT", bh.map_sectors),
        );
    }
    let mlen = bh.map_sectors as u64 * SECTOR;
    let mut map = vec![0u8; mlen.min(1 << 24) as usize];
    if mlen > 1 << 24 || !read(file, bh.map_offset, &mut map, len) {
        c.add(
            at + 8,
            "batmap.offset",
            format!(
                "map at {:#x} ({} sectors) is not inside the file",
                bh.map_offset, bh.map_sectors
            ),
        );
        return None;
    }
    let cs = BatmapHeader::map_checksum(&map, footer.current_size, bh.version);
    if cs != bh.checksum {
        c.add(
            at + 24,
            "batmap.checksum",
            format!("stored {:#010x}, computed {cs:#010x}", bh.checksum),
        );
    }
    Some((bh, map))
}
