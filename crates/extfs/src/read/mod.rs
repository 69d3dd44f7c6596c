//! Read an ext2/ext3/ext4 image into an [`fstree::Tree`].
//!
//! Parsed by hand rather than through `ext4-view`, which exposes neither
//! xattrs, device numbers nor raw inode numbers (needed for hard links).
//! Everything from the image is untrusted: every offset is bounds-checked,
//! every walk is bounded, and every failure names the inode, block or field.

mod content;
mod dir;
mod error;
mod inode;
mod map;
mod source;
mod superblock;
mod xattr;

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use fstree::{Content, Inode, InodeId, Kind, Meta, Tree, Xattrs};

pub use content::ExtContent;
pub use error::{ReadError, Result};
pub use inode::RawInode;
pub use map::Run;
pub use source::{Image, ImageSource, MemImage};
pub use superblock::{EXT_MAGIC, Superblock};

use map::MapCtx;

/// Root directory inode number.
pub const ROOT_INO: u32 = 2;
/// Largest slow symlink target we accept (the kernel's `PATH_MAX`).
const MAX_SYMLINK: u64 = 4096;
/// Largest xattr value stored in its own inode (`XATTR_SIZE_MAX`).
const MAX_XATTR_VALUE: u32 = 65536;

/// A tree read from an image, with each tree inode's ext inode number.
#[derive(Debug)]
pub struct LoadedImage {
    /// The file tree.
    pub tree: Tree,
    /// ext inode number of each tree inode, indexed by `InodeId`.
    pub ext_inos: Vec<u32>,
    /// The superblock it came from.
    pub superblock: Superblock,
}

/// Read the image file at `path`.
pub fn read_path(path: &Path) -> Result<LoadedImage> {
    let f = std::fs::File::open(path).map_err(|source| ReadError::Io {
        what: path.display().to_string(),
        offset: 0,
        source,
    })?;
    read_image(Image::new(Arc::new(f)))
}

/// Read an image held in memory (tests, fuzzing).
pub fn read_bytes(bytes: Vec<u8>) -> Result<LoadedImage> {
    read_image(Image::new(Arc::new(MemImage(bytes))))
}

/// Read an image from any source.
pub fn read_image(img: Image) -> Result<LoadedImage> {
    let sb = Superblock::read(&img)?;
    let tables = sb.inode_tables(&img)?;
    let r = Reader {
        img,
        sb,
        tables,
        dir_blocks_left: 0,
        claims: RefCell::new(Vec::new()),
    };
    r.load()
}

/// Blocks `(first, count)` one owner uses: an inode (its data and map
/// blocks), or 0 for the inode tables.
type Claim = (u64, u64, u32);

struct Reader {
    img: Image,
    sb: Superblock,
    tables: Vec<u64>,
    /// Directory blocks we may still read: a sane filesystem cannot have
    /// more than it has blocks, so hostile maps that reuse blocks stop here.
    dir_blocks_left: u64,
    /// Every block claimed so far, checked for double claims at the end:
    /// cross-linked files would otherwise each read the same blocks, and a
    /// small image could stand for a tree many times its size.
    claims: RefCell<Vec<Claim>>,
}

impl Reader {
    fn map(&self) -> MapCtx<'_> {
        MapCtx {
            img: &self.img,
            block_size: self.sb.block_size,
            blocks_count: self.sb.blocks_count,
        }
    }

    fn check_ino(&self, what: impl FnOnce() -> String, ino: u32) -> Result<()> {
        let ok = ino == ROOT_INO || (ino >= self.sb.first_ino && ino <= self.sb.inodes_count);
        if !ok {
            return Err(ReadError::InodeOutOfRange {
                what: what(),
                ino: ino.into(),
                count: self.sb.inodes_count,
                first: self.sb.first_ino,
            });
        }
        Ok(())
    }

    fn raw_inode(&self, ino: u32) -> Result<RawInode> {
        let idx = ino - 1;
        let group = (idx / self.sb.inodes_per_group) as usize;
        let within = u64::from(idx % self.sb.inodes_per_group);
        let size = u64::from(self.sb.inode_size);
        let off = self.tables[group] * u64::from(self.sb.block_size) + within * size;
        let b = self
            .img
            .read_vec(|| format!("inode {ino}"), off, size as usize)?;
        RawInode::parse(ino, &b)
    }

    /// The runs of `raw`'s first `size` bytes, its data and map blocks
    /// recorded as claimed by it.
    fn claimed_runs(&self, raw: &RawInode, size: u64) -> Result<Vec<Run>> {
        let (runs, meta) = self.map().runs(raw, size)?;
        let mut c = self.claims.borrow_mut();
        c.extend(runs.iter().map(|r| (r.physical, r.len, raw.ino)));
        c.extend(meta.into_iter().map(|b| (b, 1, raw.ino)));
        Ok(runs)
    }

    /// Refuse any block claimed twice (inode tables included).
    fn check_claims(&self) -> Result<()> {
        let mut c = self.claims.take();
        let table_blocks = (u64::from(self.sb.inodes_per_group) * u64::from(self.sb.inode_size))
            .div_ceil(u64::from(self.sb.block_size));
        c.extend(self.tables.iter().map(|&t| (t, table_blocks, 0)));
        c.sort_unstable();
        let mut reach: Option<(u64, u32)> = None; // furthest end so far, and whose
        for &(start, len, owner) in &c {
            if let Some((end, prev)) = reach
                && start < end
            {
                return Err(ReadError::CrossLinked {
                    block: start,
                    first: prev,
                    second: owner,
                });
            }
            let end = start.saturating_add(len);
            if reach.is_none_or(|(e, _)| end > e) {
                reach = Some((end, owner));
            }
        }
        Ok(())
    }

    fn load(mut self) -> Result<LoadedImage> {
        self.dir_blocks_left = self.sb.blocks_count;
        let root_raw = self.raw_inode(ROOT_INO)?;
        if root_raw.format() != 0o040000 {
            return Err(ReadError::BadInode {
                ino: ROOT_INO,
                msg: format!("root i_mode {:#o} is not a directory", root_raw.mode),
            });
        }
        let (root_xattrs, root_inline) = self.xattrs(&root_raw)?;
        let mut tree = Tree::new(meta(&root_raw));
        tree.inode_mut(fstree::ROOT).xattrs = root_xattrs;
        let mut ext_inos = vec![ROOT_INO];
        let mut ids: HashMap<u32, InodeId> = HashMap::from([(ROOT_INO, fstree::ROOT)]);
        let mut queue = VecDeque::from([(root_raw, root_inline, fstree::ROOT, String::new())]);
        while let Some((raw, inline, dir_id, path)) = queue.pop_front() {
            for e in self.dir_entries(&raw, inline.as_deref())? {
                let name_str = String::from_utf8_lossy(&e.name).into_owned();
                let child_path = format!("{path}/{name_str}");
                // Every path of the tree is listed (and held) when it is
                // built on: a bound on paths bounds that cost.
                if child_path.len() > fstree::MAX_PATH {
                    return Err(ReadError::BadName {
                        ino: raw.ino,
                        name: name_str,
                        source: fstree::PathError::TooLong(
                            child_path.chars().take(100).collect(),
                            child_path.len(),
                        ),
                    });
                }
                self.check_ino(|| format!("directory entry {child_path}"), e.ino)?;
                let id = if let Some(&id) = ids.get(&e.ino) {
                    if tree.inode(id).kind.is_dir() {
                        return Err(ReadError::DirCycle {
                            path: child_path,
                            ino: e.ino,
                        });
                    }
                    id
                } else {
                    let craw = self.raw_inode(e.ino)?;
                    if craw.links == 0 || craw.mode == 0 {
                        return Err(ReadError::BadInode {
                            ino: e.ino,
                            msg: format!("{child_path} names a free inode (i_links_count 0)"),
                        });
                    }
                    let (xattrs, cinline) = self.xattrs(&craw)?;
                    let kind = self.kind(&craw, cinline.as_deref())?;
                    let is_dir = kind.is_dir();
                    let id = tree.add(Inode {
                        kind,
                        meta: meta(&craw),
                        xattrs,
                    });
                    ext_inos.push(e.ino);
                    ids.insert(e.ino, id);
                    if is_dir {
                        queue.push_back((craw, cinline, id, child_path.clone()));
                    }
                    id
                };
                tree.link(dir_id, &e.name, id)
                    .map_err(|source| ReadError::BadName {
                        ino: raw.ino,
                        name: name_str,
                        source,
                    })?;
            }
        }
        self.check_claims()?;
        Ok(LoadedImage {
            tree,
            ext_inos,
            superblock: self.sb,
        })
    }

    /// The inode's xattrs, and separately the inline-data continuation
    /// (`system.data`), which is file contents, not an attribute.
    fn xattrs(&self, raw: &RawInode) -> Result<(Xattrs, Option<Vec<u8>>)> {
        let mut out = Xattrs::new();
        let mut external = Vec::new();
        if raw.extra.len() >= 4 && source::le32(&raw.extra, 0) == xattr::XATTR_MAGIC {
            external.extend(xattr::parse_entries(
                raw.ino,
                "in-inode xattrs",
                &raw.extra,
                4,
                4,
                &mut out,
            )?);
        }
        if raw.file_acl != 0 {
            let bs = self.sb.block_size;
            if raw.file_acl >= self.sb.blocks_count {
                return Err(ReadError::BlockOutOfRange {
                    what: format!("inode {} i_file_acl", raw.ino),
                    block: raw.file_acl,
                    blocks: self.sb.blocks_count,
                });
            }
            let b = self.img.read_vec(
                || format!("inode {} xattr block", raw.ino),
                raw.file_acl * u64::from(bs),
                bs as usize,
            )?;
            let magic = source::le32(&b, 0);
            if magic != xattr::XATTR_MAGIC || source::le32(&b, 8) != 1 {
                return Err(ReadError::BadInode {
                    ino: raw.ino,
                    msg: format!(
                        "xattr block {}: h_magic {magic:#x} / h_blocks {} (expected 0xea020000 / 1)",
                        raw.file_acl,
                        source::le32(&b, 8)
                    ),
                });
            }
            external.extend(xattr::parse_entries(
                raw.ino,
                "xattr block",
                &b,
                32,
                0,
                &mut out,
            )?);
        }
        for v in external {
            out.insert(v.name, self.ea_inode_value(raw.ino, v.inum, v.size)?);
        }
        let inline = out.remove(b"system.data".as_slice());
        Ok((out, inline))
    }

    fn ea_inode_value(&self, owner: u32, inum: u32, size: u32) -> Result<Vec<u8>> {
        self.check_ino(|| format!("inode {owner} xattr e_value_inum"), inum)?;
        if size > MAX_XATTR_VALUE {
            return Err(ReadError::BadInode {
                ino: owner,
                msg: format!("xattr value of {size} bytes in inode {inum} exceeds 65536"),
            });
        }
        let vraw = self.raw_inode(inum)?;
        // Value inodes may be shared by reference count: not claimed.
        let (runs, _) = self.map().runs(&vraw, u64::from(size))?;
        self.file_bytes(&vraw, u64::from(size), runs)
    }

    /// Read the first `len` bytes of a (small) file's data, stored in
    /// `runs`, into memory.
    fn file_bytes(&self, raw: &RawInode, len: u64, runs: Vec<Run>) -> Result<Vec<u8>> {
        let c = ExtContent::new(self.img.clone(), self.sb.block_size, len, runs);
        Content::new(c).read_all().map_err(|e| ReadError::BadInode {
            ino: raw.ino,
            msg: format!("reading data: {e}"),
        })
    }

    fn inline_bytes(raw: &RawInode, inline: Option<&[u8]>) -> Vec<u8> {
        let mut v = raw.block.to_vec();
        v.extend_from_slice(inline.unwrap_or_default());
        v.truncate(usize::try_from(raw.size).unwrap_or(usize::MAX));
        v
    }

    fn kind(&self, raw: &RawInode, inline: Option<&[u8]>) -> Result<Kind> {
        let is_inline = raw.flags & inode::FLAG_INLINE_DATA != 0;
        Ok(match raw.format() {
            0o040000 => Kind::Dir(Default::default()),
            0o100000 => {
                if is_inline {
                    Kind::File(Content::bytes(Self::inline_bytes(raw, inline)))
                } else {
                    let runs = self.claimed_runs(raw, raw.size)?;
                    Kind::File(Content::new(ExtContent::new(
                        self.img.clone(),
                        self.sb.block_size,
                        raw.size,
                        runs,
                    )))
                }
            }
            0o120000 => {
                if raw.size > MAX_SYMLINK {
                    return Err(ReadError::BadInode {
                        ino: raw.ino,
                        msg: format!("symlink i_size {} exceeds 4096", raw.size),
                    });
                }
                if is_inline {
                    Kind::Symlink(Self::inline_bytes(raw, inline))
                } else if raw.flags & inode::FLAG_EXTENTS == 0 && raw.size < 60 {
                    Kind::Symlink(raw.block[..raw.size as usize].to_vec())
                } else {
                    let runs = self.claimed_runs(raw, raw.size)?;
                    Kind::Symlink(self.file_bytes(raw, raw.size, runs)?)
                }
            }
            f @ (0o020000 | 0o060000) => {
                let (major, minor) = decode_dev(raw.block_word(0), raw.block_word(1));
                if f == 0o020000 {
                    Kind::CharDev { major, minor }
                } else {
                    Kind::BlockDev { major, minor }
                }
            }
            0o010000 => Kind::Fifo,
            0o140000 => Kind::Socket,
            _ => {
                return Err(ReadError::BadInode {
                    ino: raw.ino,
                    msg: format!("i_mode {:#o} has no valid file type", raw.mode),
                });
            }
        })
    }

    fn dir_entries(&mut self, raw: &RawInode, inline: Option<&[u8]>) -> Result<Vec<dir::DirEntry>> {
        let filetype = self.sb.has_incompat(superblock::INCOMPAT_FILETYPE);
        let mut out = Vec::new();
        if raw.flags & inode::FLAG_INLINE_DATA != 0 {
            // Inline directories: the parent's number, then entries; more
            // entries continue in `system.data`.
            dir::parse_block(raw.ino, 0, &raw.block[4..], filetype, &mut out)?;
            if let Some(more) = inline {
                dir::parse_block(raw.ino, 1, more, filetype, &mut out)?;
            }
            return Ok(out);
        }
        let bs = u64::from(self.sb.block_size);
        for run in self.claimed_runs(raw, raw.size)? {
            for i in 0..run.len {
                if self.dir_blocks_left == 0 {
                    return Err(ReadError::BadInode {
                        ino: raw.ino,
                        msg: "directories span more blocks than the filesystem has".into(),
                    });
                }
                self.dir_blocks_left -= 1;
                let data = self.img.read_vec(
                    || format!("directory inode {} block {}", raw.ino, run.logical + i),
                    (run.physical + i) * bs,
                    bs as usize,
                )?;
                dir::parse_block(raw.ino, run.logical + i, &data, filetype, &mut out)?;
            }
        }
        Ok(out)
    }
}

/// Device numbers from `i_block`: the old 8:8 encoding in word 0, or the
/// new one in word 1 (minor low 8 bits, major 12 bits, minor high 12 bits).
fn decode_dev(w0: u32, w1: u32) -> (u32, u32) {
    if w0 != 0 {
        ((w0 >> 8) & 0xff, w0 & 0xff)
    } else {
        ((w1 & 0xfff00) >> 8, (w1 & 0xff) | ((w1 >> 12) & 0xfff00))
    }
}

fn meta(raw: &RawInode) -> Meta {
    Meta {
        perm: raw.mode & 0o7777,
        uid: raw.uid,
        gid: raw.gid,
        mtime: raw.mtime,
        atime: Some(raw.atime),
        ctime: Some(raw.ctime),
        crtime: raw.crtime,
    }
}
