//! Disk images where they lie: a VHD (fixed, dynamic or differencing, read
//! through `vhd`) or a raw disk, holding an ext filesystem on the whole
//! disk or in a partition (MBR or GPT; the first partition with an ext
//! filesystem). Nothing is converted or copied: the ext reader reads the
//! disk's blocks on demand.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use extfs::read::{Image, ImageSource};
use fstree::{ContentSource, Tree};

use crate::error::{LoadError, Result};

/// A whole disk as the ext reader's byte source.
#[derive(Debug)]
enum Disk {
    Raw(std::fs::File, u64),
    Vhd(Box<vhd::Vhd>),
}

impl Disk {
    fn read_exact(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        match self {
            Disk::Raw(f, _) => FileExt::read_exact_at(f, buf, offset),
            Disk::Vhd(v) => {
                let mut done = 0;
                while done < buf.len() {
                    let n = v.read_at(offset + done as u64, &mut buf[done..])?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    done += n;
                }
                Ok(())
            }
        }
    }

    fn size(&self) -> u64 {
        match self {
            Disk::Raw(_, n) => *n,
            Disk::Vhd(v) => v.size(),
        }
    }
}

/// A byte range of a disk (a partition, or all of it).
#[derive(Debug)]
struct Slice {
    disk: Arc<Disk>,
    start: u64,
    len: u64,
}

impl ImageSource for Slice {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.disk.read_exact(self.start.saturating_add(offset), buf)
    }
}

/// True when `head` (the first bytes) or `tail` (the last 512) carries a
/// VHD footer cookie.
pub fn is_vhd(head: &[u8], tail: &[u8]) -> bool {
    head.starts_with(b"conectix") || tail.starts_with(b"conectix")
}

/// True when `head` ends a master boot record (`55 AA` at 510).
pub fn is_mbr(head: &[u8]) -> bool {
    head.len() >= 512 && head[510..512] == [0x55, 0xaa]
}

fn le32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes(
        b[at..at + 4].try_into().expect("4 bytes"),
    ))
}
fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The partitions (start, length) in bytes the partition table names, in
/// table order.
fn partitions(disk: &Disk, path: &Path) -> Result<Vec<(u64, u64)>> {
    let io = |e| LoadError::io(path, e);
    let mut mbr = [0u8; 512];
    disk.read_exact(0, &mut mbr).map_err(io)?;
    let entries: Vec<(u8, u64, u64)> = (0..4)
        .map(|i| {
            let e = &mbr[446 + 16 * i..446 + 16 * (i + 1)];
            (e[4], le32(e, 8) * 512, le32(e, 12) * 512)
        })
        .filter(|&(t, _, n)| t != 0 && n > 0)
        .collect();
    if !entries.iter().any(|&(t, _, _)| t == 0xee) {
        return Ok(entries.into_iter().map(|(_, s, n)| (s, n)).collect());
    }
    // GPT behind a protective MBR: header at LBA 1.
    let mut h = [0u8; 92];
    disk.read_exact(512, &mut h).map_err(io)?;
    if &h[..8] != b"EFI PART" {
        return Err(LoadError::Disk {
            path: path.to_path_buf(),
            msg: "offset 512: protective MBR but no GPT header (\"EFI PART\")".into(),
        });
    }
    let (table, count, size) = (le64(&h, 72).saturating_mul(512), le32(&h, 80), le32(&h, 84));
    if !(128..=4096).contains(&size) || count > 1024 {
        return Err(LoadError::Disk {
            path: path.to_path_buf(),
            msg: format!(
                "offset 592: GPT holds {count} entries of {size} bytes (expected at most 1024 of 128..4096)"
            ),
        });
    }
    let mut out = Vec::new();
    let mut e = vec![0u8; size as usize];
    for i in 0..count {
        disk.read_exact(table.saturating_add(i * size), &mut e)
            .map_err(io)?;
        if e[..16].iter().all(|&b| b == 0) {
            continue;
        }
        let (first, last) = (le64(&e, 32), le64(&e, 40));
        if last >= first {
            out.push((
                first.saturating_mul(512),
                (last - first).saturating_add(1).saturating_mul(512),
            ));
        }
    }
    Ok(out)
}

fn has_ext(disk: &Disk, start: u64) -> bool {
    let mut m = [0u8; 2];
    disk.read_exact(start.saturating_add(1080), &mut m).is_ok() && m == [0x53, 0xef]
}

/// Read the ext filesystem of the disk image at `path`: on the whole disk,
/// or in its first partition that holds one.
pub fn load_disk(path: &Path, vhd: bool) -> Result<Tree> {
    let disk = if vhd {
        Disk::Vhd(Box::new(vhd::Vhd::open(path).map_err(|e| {
            LoadError::Disk {
                path: path.to_path_buf(),
                msg: e.to_string(),
            }
        })?))
    } else {
        let f = std::fs::File::open(path).map_err(|e| LoadError::io(path, e))?;
        let n = f.metadata().map_err(|e| LoadError::io(path, e))?.len();
        Disk::Raw(f, n)
    };
    let size = disk.size();
    let (start, len) = if has_ext(&disk, 0) {
        (0, size)
    } else {
        let parts = partitions(&disk, path)?;
        *parts
            .iter()
            .find(|&&(s, n)| s.checked_add(n).is_some_and(|e| e <= size) && has_ext(&disk, s))
            .ok_or_else(|| LoadError::Disk {
                path: path.to_path_buf(),
                msg: format!(
                    "no ext2/3/4 filesystem on the disk or in its {} partition(s)",
                    parts.len()
                ),
            })?
    };
    let src = Slice {
        disk: Arc::new(disk),
        start,
        len,
    };
    extfs::read::read_image(Image::new(Arc::new(src)))
        .map(|l| l.tree)
        .map_err(|source| LoadError::Ext {
            path: path.to_path_buf(),
            source,
        })
}
