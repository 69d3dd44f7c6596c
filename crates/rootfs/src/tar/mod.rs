//! Load a tar archive (ustar, GNU and PAX; plain or gzip, bzip2, xz, zstd).
//!
//! Entries are applied in order, as `tar -x` would: later entries replace
//! earlier ones of the same name, missing parent directories are created
//! (root-owned, 0755, time 0) and get their metadata when their own entry
//! comes. Absolute names, `..`, and names that pass through a symlink are
//! errors naming the entry. Members over [`SPOOL_THRESHOLD`] bytes go to an
//! anonymous temporary file instead of memory.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use fstree::{Content, ContentSource, Inode, Kind, Meta, NamePath, Timestamp, Tree, Xattrs};

use crate::edit::parent_dir;
use crate::error::{LoadError, Result};
use crate::{Compression, SourceKind, detect_bytes};

/// Members larger than this are spooled to a temporary file.
pub const SPOOL_THRESHOLD: u64 = 1 << 20;

/// A tar member's contents in an unlinked temporary file.
#[derive(Debug)]
struct Spooled {
    file: File,
    len: u64,
}

impl ContentSource for Spooled {
    fn len(&self) -> u64 {
        self.len
    }
    fn data_ranges(&self) -> io::Result<Vec<(u64, u64)>> {
        fstree::host_data_ranges(&self.file, self.len)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let n = buf.len().min((self.len - offset) as usize);
        self.file.read_exact_at(&mut buf[..n], offset)?;
        Ok(n)
    }
}

/// Load the tar archive at `path`, decompressing by magic number.
pub fn load_tar(path: &Path) -> Result<Tree> {
    let f = File::open(path).map_err(|e| LoadError::io(path, e))?;
    load_tar_reader(BufReader::new(f), &path.display().to_string())
}

/// Load a tar archive from a stream; `label` names it in errors.
pub fn load_tar_reader(mut r: impl io::BufRead, label: &str) -> Result<Tree> {
    let head = r.fill_buf().map_err(|e| LoadError::io(label.as_ref(), e))?;
    let compression = match detect_bytes(head) {
        Some(SourceKind::Tar(c)) => c,
        _ => Compression::None,
    };
    let inner: Box<dyn Read> = match compression {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(r)),
        Compression::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(r)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(r)
                .map_err(|e| LoadError::io(label.as_ref(), e))?,
        ),
    };
    Loader::new(label).run(inner)
}

struct Loader {
    label: String,
    tree: Tree,
    implicit: Meta,
}

/// Metadata a PAX header may override.
#[derive(Default)]
struct Pax {
    xattrs: Xattrs,
    mtime: Option<Timestamp>,
    atime: Option<Timestamp>,
    ctime: Option<Timestamp>,
    uid: Option<u32>,
    gid: Option<u32>,
}

/// A PAX time: decimal seconds with an optional fraction.
fn pax_time(v: &[u8]) -> Option<Timestamp> {
    let s = std::str::from_utf8(v).ok()?;
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = whole.parse().ok()?;
    let mut digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    while digits.len() < 9 {
        digits.push('0');
    }
    let mut nanos: u32 = digits.parse().ok()?;
    let mut secs = secs;
    // "-1.5" is 1.5 s before the epoch.
    if whole.starts_with('-') && nanos > 0 {
        secs -= 1;
        nanos = 1_000_000_000 - nanos;
    }
    Some(Timestamp { secs, nanos })
}

impl Loader {
    fn new(label: &str) -> Self {
        let implicit = Meta {
            perm: 0o755,
            ..Meta::default()
        };
        Loader {
            label: label.to_string(),
            tree: Tree::new(implicit.clone()),
            implicit,
        }
    }

    fn err(&self, index: usize, entry: &str, msg: impl Into<String>) -> LoadError {
        LoadError::Tar {
            archive: self.label.clone(),
            index,
            entry: entry.to_string(),
            msg: msg.into(),
        }
    }

    fn run(mut self, r: impl Read) -> Result<Tree> {
        let mut ar = tar::Archive::new(r);
        let entries = ar
            .entries()
            .map_err(|e| self.err(0, "", format!("reading archive: {e}")))?;
        for (index, entry) in entries.enumerate() {
            let entry = entry.map_err(|e| self.err(index, "", e.to_string()))?;
            self.entry(index, entry)?;
        }
        Ok(self.tree)
    }

    fn pax(&self, index: usize, name: &str, entry: &mut tar::Entry<impl Read>) -> Result<Pax> {
        let mut p = Pax::default();
        let Some(exts) = entry
            .pax_extensions()
            .map_err(|e| self.err(index, name, format!("PAX header: {e}")))?
        else {
            return Ok(p);
        };
        for ext in exts {
            let ext = ext.map_err(|e| self.err(index, name, format!("PAX record: {e}")))?;
            let (k, v) = (ext.key_bytes(), ext.value_bytes());
            let bad = || {
                self.err(
                    index,
                    name,
                    format!("PAX {:?}: bad value", String::from_utf8_lossy(k)),
                )
            };
            let num = |v: &[u8]| {
                std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse::<u32>().ok())
            };
            if let Some(x) = k
                .strip_prefix(b"SCHILY.xattr.")
                .or_else(|| k.strip_prefix(b"LIBARCHIVE.xattr."))
            {
                if x.is_empty() {
                    return Err(bad());
                }
                p.xattrs.insert(x.to_vec(), v.to_vec());
                continue;
            }
            match k {
                b"mtime" => p.mtime = Some(pax_time(v).ok_or_else(bad)?),
                b"atime" => p.atime = Some(pax_time(v).ok_or_else(bad)?),
                b"ctime" => p.ctime = Some(pax_time(v).ok_or_else(bad)?),
                b"uid" => p.uid = Some(num(v).ok_or_else(bad)?),
                b"gid" => p.gid = Some(num(v).ok_or_else(bad)?),
                _ => {}
            }
        }
        Ok(p)
    }

    fn entry(&mut self, index: usize, mut entry: tar::Entry<impl Read>) -> Result<()> {
        use tar::EntryType as T;
        let raw_name = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_name).into_owned();
        let et = entry.header().entry_type();
        if matches!(et, T::XGlobalHeader) {
            return Ok(());
        }
        if raw_name.first() == Some(&b'/') {
            return Err(LoadError::Escape {
                entry: name,
                msg: "absolute name in a tar archive".into(),
            });
        }
        let path = NamePath::parse(&raw_name).map_err(|e| LoadError::Escape {
            entry: name.clone(),
            msg: e.to_string(),
        })?;
        let pax = self.pax(index, &name, &mut entry)?;
        let h = entry.header();
        let field = |r: io::Result<u64>, what: &str| {
            r.map_err(|e| self.err(index, &name, format!("header field {what}: {e}")))
        };
        let mode = field(h.mode().map(u64::from), "mode")? as u16;
        let uid = field(h.uid(), "uid")?;
        let gid = field(h.gid(), "gid")?;
        let mtime = field(h.mtime(), "mtime")?;
        let to32 = |v: u64, what: &str| {
            u32::try_from(v)
                .map_err(|_| self.err(index, &name, format!("{what} {v} exceeds 32 bits")))
        };
        let meta = Meta {
            perm: mode & 0o7777,
            uid: pax.uid.map_or_else(|| to32(uid, "uid"), Ok)?,
            gid: pax.gid.map_or_else(|| to32(gid, "gid"), Ok)?,
            mtime: pax.mtime.unwrap_or(Timestamp::from_secs(
                i64::try_from(mtime).unwrap_or(i64::MAX),
            )),
            atime: pax.atime,
            ctime: pax.ctime,
            crtime: None,
        };
        let dev = |h: &tar::Header| -> Result<(u32, u32)> {
            let major = h
                .device_major()
                .map_err(|e| self.err(index, &name, format!("devmajor: {e}")))?
                .unwrap_or(0);
            let minor = h
                .device_minor()
                .map_err(|e| self.err(index, &name, format!("devminor: {e}")))?
                .unwrap_or(0);
            Ok((major, minor))
        };
        let kind = match et {
            T::Directory => {
                if path.depth() == 0 {
                    let root = self.tree.inode_mut(fstree::ROOT);
                    root.meta = meta;
                    root.xattrs = pax.xattrs;
                    return Ok(());
                }
                Kind::Dir(Default::default())
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                let len = entry.size();
                Kind::File(self.contents(index, &name, &mut entry, len)?)
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| self.err(index, &name, "symlink without a target"))?;
                if target.is_empty() {
                    return Err(self.err(index, &name, "symlink with an empty target"));
                }
                Kind::Symlink(target.into_owned())
            }
            T::Link => return self.hard_link(index, &name, &path, &entry),
            T::Char => {
                let (major, minor) = dev(h)?;
                Kind::CharDev { major, minor }
            }
            T::Block => {
                let (major, minor) = dev(h)?;
                Kind::BlockDev { major, minor }
            }
            T::Fifo => Kind::Fifo,
            other => {
                return Err(self.err(
                    index,
                    &name,
                    format!("unsupported entry type {:?}", other.as_byte() as char),
                ));
            }
        };
        let implicit = self.implicit.clone();
        let (dir, leaf) = parent_dir(&mut self.tree, &path, Some(&implicit), &name)?;
        let existing = self.tree.entries(dir).and_then(|e| e.get(&leaf)).copied();
        if let Some(old) = existing {
            if self.tree.inode(old).kind.is_dir() {
                if kind.is_dir() {
                    let ino = self.tree.inode_mut(old);
                    ino.meta = meta;
                    ino.xattrs = pax.xattrs;
                    return Ok(());
                }
                return Err(self.err(index, &name, "replaces a directory with a non-directory"));
            }
        }
        let id = self.tree.add(Inode {
            kind,
            meta,
            xattrs: pax.xattrs,
        });
        self.tree.link(dir, &leaf, id)?;
        Ok(())
    }

    fn hard_link(
        &mut self,
        index: usize,
        name: &str,
        path: &NamePath,
        entry: &tar::Entry<impl Read>,
    ) -> Result<()> {
        let target = entry
            .link_name_bytes()
            .ok_or_else(|| self.err(index, name, "hard link without a target"))?
            .into_owned();
        let shown = String::from_utf8_lossy(&target).into_owned();
        if target.first() == Some(&b'/') {
            return Err(LoadError::Escape {
                entry: name.to_string(),
                msg: format!("hard link to absolute name {shown:?}"),
            });
        }
        let tpath = NamePath::parse(&target).map_err(|e| LoadError::Escape {
            entry: name.to_string(),
            msg: format!("hard link target: {e}"),
        })?;
        let (tdir, tleaf) = parent_dir(&mut self.tree, &tpath, None, name)?;
        let id = self
            .tree
            .entries(tdir)
            .and_then(|e| e.get(&tleaf))
            .copied()
            .ok_or_else(|| {
                self.err(
                    index,
                    name,
                    format!("hard link target {shown:?} not in the archive before it"),
                )
            })?;
        if self.tree.inode(id).kind.is_dir() {
            return Err(self.err(index, name, format!("hard link to directory {shown:?}")));
        }
        let implicit = self.implicit.clone();
        let (dir, leaf) = parent_dir(&mut self.tree, path, Some(&implicit), name)?;
        if let Some(&old) = self.tree.entries(dir).and_then(|e| e.get(&leaf)) {
            if self.tree.inode(old).kind.is_dir() {
                return Err(self.err(index, name, "replaces a directory with a hard link"));
            }
        }
        self.tree.link(dir, &leaf, id)?;
        Ok(())
    }

    fn contents(&self, index: usize, name: &str, r: &mut impl Read, len: u64) -> Result<Content> {
        let short =
            |e: io::Error| self.err(index, name, format!("reading {len} bytes of data: {e}"));
        if len <= SPOOL_THRESHOLD {
            let mut v = Vec::with_capacity(len as usize);
            r.read_to_end(&mut v).map_err(short)?;
            if v.len() as u64 != len {
                return Err(self.err(
                    index,
                    name,
                    format!("data ends after {} of {len} bytes", v.len()),
                ));
            }
            return Ok(Content::bytes(v));
        }
        let mut file =
            tempfile::tempfile().map_err(|e| LoadError::io(Path::new("temporary file"), e))?;
        let got = io::copy(r, &mut file).map_err(short)?;
        if got != len {
            return Err(self.err(index, name, format!("data ends after {got} of {len} bytes")));
        }
        Ok(Content::new(Spooled { file, len }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_keep_fractions_and_negative_times() {
        assert_eq!(
            pax_time(b"12.5"),
            Some(Timestamp {
                secs: 12,
                nanos: 500_000_000
            })
        );
        assert_eq!(
            pax_time(b"-1.25"),
            Some(Timestamp {
                secs: -2,
                nanos: 750_000_000
            })
        );
        assert_eq!(pax_time(b"7"), Some(Timestamp::from_secs(7)));
        assert_eq!(pax_time(b"x"), None);
    }
}
