//! Load a host directory with `lstat` (never following symlinks), xattrs
//! via `llistxattr`/`lgetxattr`, hard links by (device, inode), and file
//! contents left on the host as [`fstree::HostFile`].

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use fstree::{Content, HostFile, Inode, InodeId, Kind, Meta, Timestamp, Tree, Xattrs};

use crate::error::{LoadError, Result};

/// Split a Linux `dev_t` into (major, minor), glibc's encoding.
pub fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff);
    let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0xff);
    (major as u32, minor as u32)
}

fn ts(secs: i64, nanos: i64) -> Timestamp {
    Timestamp {
        secs,
        nanos: nanos.clamp(0, 999_999_999) as u32,
    }
}

fn meta(md: &Metadata) -> Meta {
    Meta {
        perm: (md.mode() & 0o7777) as u16,
        uid: md.uid(),
        gid: md.gid(),
        mtime: ts(md.mtime(), md.mtime_nsec()),
        atime: Some(ts(md.atime(), md.atime_nsec())),
        ctime: Some(ts(md.ctime(), md.ctime_nsec())),
        crtime: None,
    }
}

fn xattrs(path: &Path) -> Result<Xattrs> {
    let mut out = Xattrs::new();
    let names = match xattr::list(path) {
        Ok(n) => n,
        // Filesystems without xattr support simply have none.
        Err(e) if e.raw_os_error() == Some(95) => return Ok(out),
        Err(e) => return Err(LoadError::io(path, e)),
    };
    for name in names {
        if let Some(v) = xattr::get(path, &name).map_err(|e| LoadError::io(path, e))? {
            out.insert(name.as_bytes().to_vec(), v);
        }
    }
    Ok(out)
}

/// Load the tree under the host directory `root`.
pub fn load_dir(root: &Path) -> Result<Tree> {
    let md = std::fs::symlink_metadata(root).map_err(|e| LoadError::io(root, e))?;
    if !md.is_dir() {
        return Err(LoadError::io(
            root,
            std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        ));
    }
    let mut tree = Tree::new(meta(&md));
    tree.inode_mut(fstree::ROOT).xattrs = xattrs(root)?;
    let mut seen: HashMap<(u64, u64), InodeId> = HashMap::new();
    let mut stack = vec![(root.to_path_buf(), fstree::ROOT)];
    while let Some((dir, id)) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|e| LoadError::io(&dir, e))?;
        let mut names = Vec::new();
        for ent in rd {
            names.push(ent.map_err(|e| LoadError::io(&dir, e))?.file_name());
        }
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let md = std::fs::symlink_metadata(&path).map_err(|e| LoadError::io(&path, e))?;
            let key = (md.dev(), md.ino());
            let child = match seen.get(&key) {
                Some(&c) if !md.is_dir() => c,
                _ => {
                    let ft = md.file_type();
                    let kind = if ft.is_dir() {
                        Kind::Dir(Default::default())
                    } else if ft.is_file() {
                        Kind::File(Content::new(HostFile::new(&path, md.len())))
                    } else if ft.is_symlink() {
                        let t = std::fs::read_link(&path).map_err(|e| LoadError::io(&path, e))?;
                        Kind::Symlink(t.as_os_str().as_bytes().to_vec())
                    } else if ft.is_char_device() || ft.is_block_device() {
                        let (major, minor) = split_dev(md.rdev());
                        if ft.is_char_device() {
                            Kind::CharDev { major, minor }
                        } else {
                            Kind::BlockDev { major, minor }
                        }
                    } else if ft.is_fifo() {
                        Kind::Fifo
                    } else {
                        Kind::Socket
                    };
                    let is_dir = kind.is_dir();
                    let c = tree.add(Inode {
                        kind,
                        meta: meta(&md),
                        xattrs: xattrs(&path)?,
                    });
                    seen.insert(key, c);
                    if is_dir {
                        stack.push((path.clone(), c));
                    }
                    c
                }
            };
            tree.link(id, name.as_bytes(), child)?;
        }
    }
    Ok(tree)
}
