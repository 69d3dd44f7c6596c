//! Tree edits the image build needs, as thin wrappers over [`fstree::Tree`]
//! that never pass through a symlink: a path whose parent is a symlink is
//! an error naming the path, so `a -> /etc` then `a/passwd` cannot write
//! outside the tree's root.

use std::collections::BTreeMap;

use fstree::{Content, Inode, InodeId, Kind, Meta, NamePath, ROOT, Tree, Xattrs};

use crate::error::{LoadError, Result};

fn parse(path: &str) -> Result<NamePath> {
    NamePath::parse(path).map_err(|e| LoadError::Escape {
        entry: path.to_string(),
        msg: e.to_string(),
    })
}

/// Walk the directories of `path` (all but the last component), creating
/// missing ones with `create` when given. Symlinks and non-directories on
/// the way are errors naming `shown`.
pub(crate) fn parent_dir(
    tree: &mut Tree,
    path: &NamePath,
    create: Option<&Meta>,
    shown: &str,
) -> Result<(InodeId, Vec<u8>)> {
    let (parent, name) = path.split_last().ok_or_else(|| LoadError::Escape {
        entry: shown.to_string(),
        msg: "names the root itself".into(),
    })?;
    let name = name.to_vec();
    let dir = walk_dirs(tree, &parent, create, shown)?;
    Ok((dir, name))
}

pub(crate) fn walk_dirs(
    tree: &mut Tree,
    path: &NamePath,
    create: Option<&Meta>,
    shown: &str,
) -> Result<InodeId> {
    let mut cur = ROOT;
    for comp in path.components() {
        let next = tree.entries(cur).and_then(|e| e.get(comp)).copied();
        cur = match next {
            Some(id) => match &tree.inode(id).kind {
                Kind::Dir(_) => id,
                Kind::Symlink(_) => {
                    return Err(LoadError::Escape {
                        entry: shown.to_string(),
                        msg: format!(
                            "goes through the symlink {:?}",
                            String::from_utf8_lossy(comp)
                        ),
                    });
                }
                _ => {
                    return Err(LoadError::Escape {
                        entry: shown.to_string(),
                        msg: format!("{:?} is not a directory", String::from_utf8_lossy(comp)),
                    });
                }
            },
            None => match create {
                Some(meta) => {
                    let id = tree.add(Inode {
                        kind: Kind::Dir(BTreeMap::new()),
                        meta: meta.clone(),
                        xattrs: Xattrs::new(),
                    });
                    tree.link(cur, comp, id)?;
                    id
                }
                None => {
                    return Err(LoadError::Path(fstree::PathError::NotFound(
                        shown.to_string(),
                    )));
                }
            },
        };
    }
    Ok(cur)
}

/// Look `path` up without following any symlink.
pub fn lookup(tree: &Tree, path: &str) -> Result<InodeId> {
    let p = parse(path)?;
    let mut cur = ROOT;
    for comp in p.components() {
        let e = tree.entries(cur).ok_or_else(|| LoadError::Escape {
            entry: path.to_string(),
            msg: format!("{:?} is not a directory", String::from_utf8_lossy(comp)),
        })?;
        cur = *e
            .get(comp)
            .ok_or_else(|| LoadError::Path(fstree::PathError::NotFound(path.to_string())))?;
    }
    Ok(cur)
}

/// The directory at `path`, creating missing ones with `meta`.
pub fn mkdir_p(tree: &mut Tree, path: &str, meta: &Meta) -> Result<InodeId> {
    let p = parse(path)?;
    walk_dirs(tree, &p, Some(meta), path)
}

fn put(tree: &mut Tree, path: &str, inode: Inode) -> Result<InodeId> {
    let p = parse(path)?;
    let (dir, name) = parent_dir(tree, &p, None, path)?;
    if let Some(&old) = tree.entries(dir).and_then(|e| e.get(&name)) {
        if tree.inode(old).kind.is_dir() {
            return Err(LoadError::Escape {
                entry: path.to_string(),
                msg: "is a directory; remove it first".into(),
            });
        }
    }
    let id = tree.add(inode);
    tree.link(dir, &name, id)?;
    Ok(id)
}

/// Write a regular file at `path` (its directory must exist), replacing
/// any non-directory there.
pub fn write_file(tree: &mut Tree, path: &str, content: Content, meta: Meta) -> Result<InodeId> {
    put(
        tree,
        path,
        Inode {
            kind: Kind::File(content),
            meta,
            xattrs: Xattrs::new(),
        },
    )
}

/// Create a symlink at `path` pointing to `target`.
pub fn symlink(tree: &mut Tree, path: &str, target: &[u8], meta: Meta) -> Result<InodeId> {
    put(
        tree,
        path,
        Inode {
            kind: Kind::Symlink(target.to_vec()),
            meta,
            xattrs: Xattrs::new(),
        },
    )
}

/// Remove the entry at `path` (a directory goes with everything under it).
pub fn remove(tree: &mut Tree, path: &str) -> Result<()> {
    let p = parse(path)?;
    let (dir, name) = parent_dir(tree, &p, None, path)?;
    tree.unlink(dir, &name)
        .map(|_| ())
        .ok_or_else(|| LoadError::Path(fstree::PathError::NotFound(path.to_string())))
}

/// The contents of the regular file at `path` (not through symlinks).
pub fn read_file(tree: &Tree, path: &str) -> Result<Vec<u8>> {
    let id = lookup(tree, path)?;
    match &tree.inode(id).kind {
        Kind::File(c) => c.read_all().map_err(|e| LoadError::io(path.as_ref(), e)),
        _ => Err(LoadError::Escape {
            entry: path.to_string(),
            msg: "is not a regular file".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_refuse_paths_through_symlinks() {
        let mut t = Tree::new(Meta::default());
        mkdir_p(&mut t, "/usr/bin", &Meta::default()).unwrap();
        symlink(&mut t, "/bin", b"/etc", Meta::default()).unwrap();
        let err = write_file(&mut t, "/bin/passwd", Content::bytes("x"), Meta::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/bin/passwd") && err.contains("symlink"),
            "{err}"
        );
        write_file(&mut t, "/usr/bin/sh", Content::bytes("#!"), Meta::default()).unwrap();
        assert_eq!(read_file(&t, "/usr/bin/sh").unwrap(), b"#!");
        assert!(read_file(&t, "/bin/passwd").is_err());
        remove(&mut t, "/usr").unwrap();
        assert!(lookup(&t, "/usr/bin/sh").is_err());
        assert!(mkdir_p(&mut t, "/a/../b", &Meta::default()).is_err());
    }
}
