//! A host directory into the tree (all files owned by root, times pinned to
//! the build epoch so the result does not depend on the host), and a tree
//! back out to a host directory.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use fstree::{Content, HostFile, Inode, InodeId, Kind, Meta, NamePath, Timestamp, Tree, Xattrs};

use crate::error::ImageError;

/// Metadata for something we create: root-owned, `perm`, pinned time.
pub fn meta(perm: u16, epoch: i64) -> Meta {
    Meta {
        perm,
        uid: 0,
        gid: 0,
        mtime: Timestamp::from_secs(epoch),
        atime: None,
        ctime: None,
        crtime: None,
    }
}

/// Load the host directory `src` into a new tree.
pub fn load(src: &Path, epoch: i64) -> Result<Tree, ImageError> {
    let md = std::fs::metadata(src).map_err(ImageError::io(src))?;
    if !md.is_dir() {
        return Err(ImageError::Rootfs {
            path: src.display().to_string(),
            msg: "not a directory".into(),
        });
    }
    let mut tree = Tree::new(meta((md.mode() & 0o7777) as u16, epoch));
    load_into(&mut tree, src, &NamePath::root(), epoch)?;
    Ok(tree)
}

/// Copy the host directory `src` into `tree` at `at` (created if missing).
pub fn load_into(tree: &mut Tree, src: &Path, at: &NamePath, epoch: i64) -> Result<(), ImageError> {
    let dir_meta = meta(0o755, epoch);
    tree.mkdir_p(at, &dir_meta)?;
    let mut seen: HashMap<(u64, u64), InodeId> = HashMap::new();
    let mut stack = vec![(src.to_path_buf(), at.clone())];
    while let Some((host, inside)) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(&host)
            .map_err(ImageError::io(&host))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(ImageError::io(&host))?;
        names.sort();
        for name in names {
            let hp = host.join(&name);
            let ip = inside.join(name.as_encoded_bytes());
            let md = std::fs::symlink_metadata(&hp).map_err(ImageError::io(&hp))?;
            let m = meta((md.permissions().mode() & 0o7777) as u16, epoch);
            let ft = md.file_type();
            if ft.is_dir() {
                tree.mkdir_p(&ip, &m)?;
                stack.push((hp, ip));
                continue;
            }
            if md.nlink() > 1 {
                if let Some(&id) = seen.get(&(md.dev(), md.ino())) {
                    let (parent, n) = ip.split_last().expect("not root");
                    let dir = tree.lookup(&parent).expect("parent made above");
                    tree.link(dir, n, id)?;
                    continue;
                }
            }
            let kind = if ft.is_symlink() {
                let t = std::fs::read_link(&hp).map_err(ImageError::io(&hp))?;
                Kind::Symlink(t.into_os_string().into_encoded_bytes())
            } else if ft.is_file() {
                Kind::File(Content::new(HostFile::new(&hp, md.len())))
            } else {
                return Err(ImageError::Rootfs {
                    path: hp.display().to_string(),
                    msg: "device, fifo or socket in a host directory is not supported".into(),
                });
            };
            let id = tree.put(
                &ip,
                Inode {
                    kind,
                    meta: m,
                    xattrs: Xattrs::new(),
                },
            )?;
            if md.nlink() > 1 {
                seen.insert((md.dev(), md.ino()), id);
            }
        }
    }
    Ok(())
}

/// Write `tree` out below `dst` (which must exist): directories, files and
/// symlinks; permissions kept, ownership left to the caller.
pub fn materialize(tree: &Tree, dst: &Path) -> Result<(), ImageError> {
    let mut done: BTreeMap<InodeId, std::path::PathBuf> = BTreeMap::new();
    let mut dirs = Vec::new();
    for (p, id) in tree.walk() {
        let host = p.components().fold(dst.to_path_buf(), |acc, c| {
            acc.join(String::from_utf8_lossy(c).as_ref())
        });
        let ino = tree.inode(id);
        match &ino.kind {
            Kind::Dir(_) => {
                std::fs::create_dir_all(&host).map_err(ImageError::io(&host))?;
                dirs.push((host, ino.meta.perm));
                continue;
            }
            Kind::File(c) => {
                if let Some(first) = done.get(&id) {
                    std::fs::hard_link(first, &host).map_err(ImageError::io(&host))?;
                } else {
                    let data = c.read_all().map_err(ImageError::io(&host))?;
                    std::fs::write(&host, data).map_err(ImageError::io(&host))?;
                    done.insert(id, host.clone());
                }
            }
            Kind::Symlink(t) => {
                use std::os::unix::ffi::OsStrExt;
                let t = std::ffi::OsStr::from_bytes(t);
                std::os::unix::fs::symlink(t, &host).map_err(ImageError::io(&host))?;
                continue;
            }
            _ => {
                return Err(ImageError::Rootfs {
                    path: p.to_string(),
                    msg: "device nodes cannot be written to a host directory".into(),
                });
            }
        }
        std::fs::set_permissions(
            &host,
            std::fs::Permissions::from_mode(u32::from(ino.meta.perm)),
        )
        .map_err(ImageError::io(&host))?;
    }
    // Directory modes last, deepest first, so a read-only directory does not
    // stop its own children from being written.
    for (host, perm) in dirs.into_iter().rev() {
        std::fs::set_permissions(&host, std::fs::Permissions::from_mode(u32::from(perm)))
            .map_err(ImageError::io(&host))?;
    }
    Ok(())
}
