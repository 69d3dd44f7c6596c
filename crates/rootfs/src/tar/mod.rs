//! Load a tar archive (ustar, GNU and PAX; plain or gzip, bzip2, xz, zstd).
//!
//! Entries are applied in order, as `tar -x` would: later entries replace
//! earlier ones of the same name, missing parent directories are created
//! (root-owned, 0755, time 0) and get their metadata when their own entry
//! comes. Absolute names, `..`, and names that pass through a symlink are
//! errors naming the entry. Members over [`SPOOL_THRESHOLD`] bytes go to
//! one shared, unlinked temporary file ([`spool`]) with their zero blocks
//! left as holes; sparse members ([`sparse`]) keep their holes; and what
//! the archive may make us read is bounded ([`guard`]).

mod guard;
mod sparse;
mod spool;

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use fstree::{Content, Inode, Kind, Meta, NamePath, Timestamp, Tree, Xattrs};

pub use guard::{EXPANSION_ALLOWANCE, MAX_EXPANSION, MAX_METADATA};

use crate::edit::parent_dir;
use crate::error::{LoadError, Result};
use crate::{Compression, SourceKind, detect_bytes};

/// Members larger than this are spooled to a temporary file.
pub const SPOOL_THRESHOLD: u64 = 1 << 20;

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
    let meter = guard::Meter::new(compression != Compression::None);
    let r = guard::CountIn {
        inner: r,
        meter: meter.clone(),
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
    let guarded = guard::Guard {
        inner,
        meter: meter.clone(),
    };
    Loader::new(label, meter).run(guarded)
}

struct Loader {
    label: String,
    tree: Tree,
    implicit: Meta,
    meter: Rc<guard::Meter>,
    spool: spool::Spool,
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
    sparse: sparse::PaxSparse,
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
    fn new(label: &str, meter: Rc<guard::Meter>) -> Self {
        let implicit = Meta {
            perm: 0o755,
            ..Meta::default()
        };
        Loader {
            label: label.to_string(),
            tree: Tree::new(implicit.clone()),
            implicit,
            meter,
            spool: spool::Spool::default(),
        }
    }

    fn err(&self, index: usize, entry: &str, msg: impl Into<String>) -> LoadError {
        tar_err(&self.label, index, entry, msg)
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
            if p.sparse
                .record(k, v)
                .map_err(|m| self.err(index, name, m))?
            {
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
        let mut raw_name = entry.path_bytes().into_owned();
        let et = entry.header().entry_type();
        if matches!(et, T::XGlobalHeader) {
            return Ok(());
        }
        let pax = {
            let shown = shown_name(&raw_name);
            self.pax(index, &shown, &mut entry)?
        };
        // A PAX sparse member's real name (its header holds a stand-in).
        if let Some(n) = &pax.sparse.name {
            raw_name = n.clone();
        }
        let name = shown_name(&raw_name);
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
        let h = entry.header().clone();
        let h = &h;
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
            T::GNUSparse => Kind::File(self.gnu_sparse(index, &name, &mut entry)?),
            T::Regular | T::Continuous if pax.sparse.any => {
                Kind::File(self.pax_sparse(index, &name, &mut entry, &pax.sparse)?)
            }
            T::Regular | T::Continuous => {
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

    /// Read a member's `len` bytes of data: small ones into memory, the
    /// rest into the spool.
    fn contents(
        &mut self,
        index: usize,
        name: &str,
        r: &mut impl Read,
        len: u64,
    ) -> Result<Content> {
        let label = &self.label;
        let short = |e: io::Error| {
            tar_err(
                label,
                index,
                name,
                format!("reading {len} bytes of data: {e}"),
            )
        };
        self.meter.set_in_data(true);
        if len <= SPOOL_THRESHOLD {
            let mut v = Vec::with_capacity(len as usize);
            let got = r.read_to_end(&mut v);
            self.meter.set_in_data(false);
            got.map_err(short)?;
            if v.len() as u64 != len {
                let msg = format!("data ends after {} of {len} bytes", v.len());
                return Err(tar_err(label, index, name, msg));
            }
            return Ok(Content::bytes(v));
        }
        let spool_err = |e| LoadError::io(Path::new("temporary spool file"), e);
        let m = self.spool.member().map_err(spool_err)?;
        let got = copy_into(r, &m, &[(0, len)]);
        self.meter.set_in_data(false);
        match got {
            Ok(n) if n == len => {}
            Ok(n) => {
                let msg = format!("data ends after {n} of {len} bytes");
                return Err(tar_err(label, index, name, msg));
            }
            Err(Copy::Read(e)) => return Err(short(e)),
            Err(Copy::Write(e)) => return Err(spool_err(e)),
        }
        self.spool.finish(m, len).map_err(spool_err)
    }

    /// An old-GNU sparse member (type `S`): the tar crate knows its map and
    /// writes it out with holes; its data then joins the spool.
    fn gnu_sparse(
        &mut self,
        index: usize,
        name: &str,
        entry: &mut tar::Entry<impl Read>,
    ) -> Result<Content> {
        let len = entry.size();
        let tmp_err = |e| LoadError::io(Path::new("temporary directory"), e);
        let dir = tempfile::Builder::new()
            .prefix(".measured-sparse-")
            .tempdir()
            .map_err(tmp_err)?;
        let p = dir.path().join("member");
        self.meter.set_in_data(true);
        let unpacked = entry.unpack(&p);
        self.meter.set_in_data(false);
        unpacked.map_err(|e| self.err(index, name, format!("sparse member: {e}")))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).map_err(tmp_err)?;
        let f = File::open(&p).map_err(tmp_err)?;
        let spool_err = |e| LoadError::io(Path::new("temporary spool file"), e);
        let m = self.spool.member().map_err(spool_err)?;
        m.copy_sparse(&f, len).map_err(spool_err)?;
        self.spool.finish(m, len).map_err(spool_err)
    }

    /// A PAX sparse member (GNU format 0.0, 0.1 or 1.0): regions of data
    /// placed by its map, holes between them.
    fn pax_sparse(
        &mut self,
        index: usize,
        name: &str,
        entry: &mut tar::Entry<impl Read>,
        sp: &sparse::PaxSparse,
    ) -> Result<Content> {
        let label = &self.label;
        let bad = |m: String| tar_err(label, index, name, m);
        let real = sp
            .real_size
            .ok_or_else(|| bad("GNU sparse member without GNU.sparse.size/realsize".into()))?;
        let avail = entry.size();
        self.meter.set_in_data(true);
        let map = if sp.map_in_data().map_err(bad)? {
            sparse::read_data_map(entry, avail)
        } else {
            sp.pax_map().map(|m| (m, 0))
        };
        let (regions, map_len) = match map {
            Ok(m) => m,
            Err(e) => {
                self.meter.set_in_data(false);
                return Err(bad(e));
            }
        };
        if let Err(e) = sparse::check_map(&regions, real, avail - map_len) {
            self.meter.set_in_data(false);
            return Err(bad(e));
        }
        let spool_err = |e| LoadError::io(Path::new("temporary spool file"), e);
        let m = match self.spool.member() {
            Ok(m) => m,
            Err(e) => {
                self.meter.set_in_data(false);
                return Err(spool_err(e));
            }
        };
        let want: u64 = regions.iter().map(|r| r.1).sum();
        let got = copy_into(entry, &m, &regions);
        self.meter.set_in_data(false);
        match got {
            Ok(n) if n == want => {}
            Ok(n) => return Err(bad(format!("sparse data ends after {n} of {want} bytes"))),
            Err(Copy::Read(e)) => return Err(bad(format!("reading sparse data: {e}"))),
            Err(Copy::Write(e)) => return Err(spool_err(e)),
        }
        self.spool.finish(m, real).map_err(spool_err)
    }
}

/// An entry's name as errors show it: lossy UTF-8, and cut short (a PAX
/// path may be megabytes long).
fn shown_name(raw: &[u8]) -> String {
    const MAX: usize = 256;
    let s = String::from_utf8_lossy(&raw[..raw.len().min(MAX)]).into_owned();
    if raw.len() > MAX {
        format!("{s}... ({} bytes)", raw.len())
    } else {
        s
    }
}

fn tar_err(archive: &str, index: usize, entry: &str, msg: impl Into<String>) -> LoadError {
    LoadError::Tar {
        archive: archive.to_string(),
        index,
        entry: entry.to_string(),
        msg: msg.into(),
    }
}

/// Why copying a member into the spool stopped.
enum Copy {
    Read(io::Error),
    Write(io::Error),
}

/// Copy `regions` (offset in the member, length), in order, from `r` into
/// `m`; returns the bytes copied (fewer when `r` ends early).
fn copy_into(
    r: &mut impl Read,
    m: &spool::Member,
    regions: &[(u64, u64)],
) -> std::result::Result<u64, Copy> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    for &(off, len) in regions {
        let mut done = 0u64;
        while done < len {
            let want = (len - done).min(buf.len() as u64) as usize;
            let n = match r.read(&mut buf[..want]) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Copy::Read(e)),
            };
            m.write(off + done, &buf[..n]).map_err(Copy::Write)?;
            done += n as u64;
            total += n as u64;
        }
    }
    Ok(total)
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
