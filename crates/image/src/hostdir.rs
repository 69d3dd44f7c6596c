//! Host directories into the tree: a rootfs directory taken as it is
//! ([`load_rootfs`], with the ownership rule), and the inputs we own
//! (modules; all root's, times pinned to the build epoch so the result does
//! not depend on the host) with [`load`]; and a tree back out to a host
//! directory.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use fstree::{Content, HostFile, Inode, InodeId, Kind, Meta, NamePath, Timestamp, Tree, Xattrs};

use crate::error::ImageError;
use crate::spec::Owners;

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

/// Load a rootfs directory as it is: device nodes, xattrs (capabilities,
/// ACLs), setuid/setgid bits and owners (as `owners` says); modification
/// times later than `epoch` clamped to it, access and change times (which
/// reading alone changes) dropped, so the same tree gives the same disk.
pub fn load_rootfs(src: &Path, epoch: i64, owners: Owners) -> Result<Tree, ImageError> {
    let mut tree = rootfs::load_dir(src).map_err(|e| ImageError::Rootfs {
        path: src.display().to_string(),
        msg: e.to_string(),
    })?;
    let me = builder();
    for (_, id) in tree.walk() {
        let ino = tree.inode_mut(id);
        let m = &mut ino.meta;
        if m.mtime.secs > epoch {
            m.mtime = Timestamp::from_secs(epoch);
        }
        m.atime = None;
        m.ctime = None;
        m.crtime = None;
        map_owner(&mut ino.meta, ino.kind.is_dir(), owners, Some(me));
    }
    Ok(tree)
}

/// The (uid, gid) running the build: whose files [`Owners::Auto`] makes
/// root's in a directory rootfs.
pub fn builder() -> (u32, u32) {
    (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    )
}

/// Apply the ownership rule to one inode. `builder` is the (uid, gid)
/// running the build, for [`Owners::Auto`] on a directory rootfs; `None`
/// for archives and images, which keep their owners under `Auto`.
pub fn map_owner(m: &mut Meta, is_dir: bool, owners: Owners, builder: Option<(u32, u32)>) {
    let (uid, gid) = match (owners, builder) {
        (Owners::Keep, _) | (Owners::Auto, None) => return,
        (Owners::Root, _) => (0, 0),
        (Owners::Auto, Some((bu, bg))) => (
            if m.uid == bu { 0 } else { m.uid },
            if m.gid == bg { 0 } else { m.gid },
        ),
    };
    // A set-id bit follows its owner: if the owner changes to root, the
    // file would run as root. The builder's own files were meant to be
    // root's (a tree unpacked without root), so setuid on them stays; any
    // other owner, and any group (the group's name is lost), drops it.
    if !is_dir && m.uid != uid && Some(m.uid) != builder.map(|b| b.0) {
        m.perm &= !0o4000;
    }
    if !is_dir && m.gid != gid {
        m.perm &= !0o2000;
    }
    m.uid = uid;
    m.gid = gid;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn m(perm: u16, uid: u32, gid: u32) -> Meta {
        Meta {
            perm,
            uid,
            gid,
            ..Meta::default()
        }
    }

    #[test]
    fn ownership_rule_maps_the_builder_and_keeps_everyone_else() {
        let me = Some((1000, 1000));
        // A tree the builder unpacked: theirs becomes root's, setuid kept
        // (the package meant root), setgid dropped (its group is lost).
        let mut a = m(0o4755, 1000, 1000);
        map_owner(&mut a, false, Owners::Auto, me);
        assert_eq!((a.uid, a.gid, a.perm), (0, 0, 0o4755));
        let mut g = m(0o2755, 1000, 1000);
        map_owner(&mut g, false, Owners::Auto, me);
        assert_eq!((g.gid, g.perm), (0, 0o755));
        // A tree made as root: chage stays setgid shadow (42).
        let mut chage = m(0o2755, 0, 42);
        map_owner(&mut chage, false, Owners::Auto, me);
        assert_eq!((chage.uid, chage.gid, chage.perm), (0, 42, 0o2755));
        map_owner(&mut chage, false, Owners::Auto, Some((0, 0)));
        assert_eq!((chage.gid, chage.perm), (42, 0o2755));
        // owners = "root": never setgid-root from setgid-shadow, never
        // setuid-root from another user's setuid file.
        let mut c = m(0o2755, 0, 42);
        map_owner(&mut c, false, Owners::Root, me);
        assert_eq!((c.gid, c.perm), (0, 0o755));
        let mut games = m(0o4755, 5, 0);
        map_owner(&mut games, false, Owners::Root, None);
        assert_eq!((games.uid, games.perm), (0, 0o755));
        // A setgid directory only passes its group on: kept.
        let mut d = m(0o2775, 0, 50);
        map_owner(&mut d, true, Owners::Root, None);
        assert_eq!((d.gid, d.perm), (0, 0o2775));
        // keep: untouched; archives under auto: untouched.
        let mut k = m(0o2755, 1000, 42);
        map_owner(&mut k, false, Owners::Keep, me);
        map_owner(&mut k, false, Owners::Auto, None);
        assert_eq!((k.uid, k.gid, k.perm), (1000, 42, 0o2755));
    }
}
