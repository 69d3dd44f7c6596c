//! Editing a rootfs tree safely: paths walked as the kernel would inside a
//! chroot (every symlink followed, never above the tree's root), so a
//! merged-/usr `/lib -> usr/lib` is written through, not replaced. The
//! pipeline's stages ([`crate::pipeline`]) make their edits with these.

use fstree::{Content, Inode, InodeId, Kind, NamePath, Tree, Xattrs};

use crate::error::ImageError;
use crate::hostdir::meta;

/// The contents of the file `path` names (symlinks followed), if any.
pub(crate) fn read_file(tree: &Tree, path: &str) -> Result<Option<Vec<u8>>, ImageError> {
    let Some((_, id)) = resolve(tree, path) else {
        return Ok(None);
    };
    match &tree.inode(id).kind {
        Kind::File(c) => c.read_all().map(Some).map_err(|e| ImageError::Rootfs {
            path: path.into(),
            msg: e.to_string(),
        }),
        _ => Err(ImageError::Rootfs {
            path: path.into(),
            msg: "expected a regular file".into(),
        }),
    }
}

/// Most symlinks one path may pass through (the kernel's limit).
const MAX_LINKS: usize = 40;

/// One step of a path walk inside the tree.
enum Step {
    /// A directory: descend.
    Dir,
    /// A symlink: continue with its target.
    Link(Vec<u8>),
    /// Nothing by that name.
    Missing,
    /// Something that is neither.
    Other,
}

fn step(tree: &Tree, dir: &[Vec<u8>], name: &[u8]) -> Step {
    let mut id = fstree::ROOT;
    for c in dir.iter().map(Vec::as_slice).chain([name]) {
        match tree.entries(id).and_then(|e| e.get(c)) {
            Some(&next) => id = next,
            None => return Step::Missing,
        }
    }
    match &tree.inode(id).kind {
        Kind::Dir(_) => Step::Dir,
        Kind::Symlink(t) => Step::Link(t.clone()),
        _ => Step::Other,
    }
}

fn components(p: &[u8]) -> std::collections::VecDeque<Vec<u8>> {
    p.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn show(p: &[Vec<u8>]) -> String {
    NamePath::parse(p.join(&b'/')).map_or_else(|_| "?".into(), |n| n.to_string())
}

/// A tree a path walk may or may not add directories to.
trait Walkable {
    fn tree(&self) -> &Tree;
    /// Create the directory `path` (its parent exists), if allowed.
    fn mkdir(&mut self, path: &NamePath) -> Result<bool, ImageError>;
}

impl Walkable for &Tree {
    fn tree(&self) -> &Tree {
        self
    }
    fn mkdir(&mut self, _: &NamePath) -> Result<bool, ImageError> {
        Ok(false)
    }
}

struct Creating<'a>(&'a mut Tree, fstree::Meta);

impl Walkable for Creating<'_> {
    fn tree(&self) -> &Tree {
        self.0
    }
    fn mkdir(&mut self, path: &NamePath) -> Result<bool, ImageError> {
        self.0.mkdir_p(path, &self.1)?;
        Ok(true)
    }
}

/// Walk `path` with the tree as the root directory, following every
/// symlink on the way as the kernel would inside a chroot (absolute
/// targets start at the tree's root, `..` stops there): what `/lib/modules`
/// names when `/lib -> usr/lib`. The last component is followed only when
/// `follow_last`; missing directories are created when `tree` may.
/// Returns the symlink-free path.
fn walk(mut tree: impl Walkable, path: &str, follow_last: bool) -> Result<NamePath, ImageError> {
    let err = |msg: String| ImageError::Rootfs {
        path: path.to_string(),
        msg,
    };
    let mut cur: Vec<Vec<u8>> = Vec::new();
    let mut rest = components(path.as_bytes());
    let mut links = 0;
    while let Some(c) = rest.pop_front() {
        match c.as_slice() {
            b"." => continue,
            b".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let last = rest.is_empty();
        match step(tree.tree(), &cur, &c) {
            Step::Dir => cur.push(c),
            Step::Link(_) if last && !follow_last => cur.push(c),
            Step::Link(target) => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(err(format!("more than {MAX_LINKS} symlinks (a loop?)")));
                }
                if target.starts_with(b"/") {
                    cur.clear();
                }
                for t in components(&target).into_iter().rev() {
                    rest.push_front(t);
                }
            }
            Step::Missing | Step::Other if last => cur.push(c),
            Step::Missing => {
                cur.push(c);
                if !tree.mkdir(&NamePath::parse(cur.join(&b'/'))?)? {
                    return Err(err(format!("{}: no such directory", show(&cur))));
                }
            }
            Step::Other => {
                cur.push(c);
                return Err(err(format!("{}: not a directory", show(&cur))));
            }
        }
    }
    Ok(NamePath::parse(cur.join(&b'/'))?)
}

/// The symlink-free path `path` names (every symlink followed, the last
/// too), and its inode; `None` when it does not resolve.
pub(crate) fn resolve(tree: &Tree, path: &str) -> Option<(String, InodeId)> {
    let real = walk(tree, path, true).ok()?;
    let id = tree.lookup(&real)?;
    Some((real.to_string(), id))
}

/// The symlink-free directory `path` names, created (with root-owned
/// `0755` directories) where missing.
pub fn real_dir(tree: &mut Tree, path: &str, epoch: i64) -> Result<NamePath, ImageError> {
    let real = walk(Creating(tree, meta(0o755, epoch)), path, true)?;
    tree.mkdir_p(&real, &meta(0o755, epoch))?;
    Ok(real)
}

/// Where an entry written at `path` lands: its parent directory resolved
/// (and created), its own name kept (an existing symlink there is
/// replaced, not followed).
fn place(tree: &mut Tree, path: &str, epoch: i64) -> Result<NamePath, ImageError> {
    let real = walk(Creating(tree, meta(0o755, epoch)), path, false)?;
    if let Some((parent, _)) = real.split_last() {
        tree.mkdir_p(&parent, &meta(0o755, epoch))?;
    }
    Ok(real)
}

/// Write a regular file (replacing what was there), creating parents;
/// symlinked directories on the way are followed.
pub fn put_file(
    tree: &mut Tree,
    path: &str,
    content: Content,
    perm: u16,
    epoch: i64,
) -> Result<(), ImageError> {
    let np = place(tree, path, epoch)?;
    tree.put(
        &np,
        Inode {
            kind: Kind::File(content),
            meta: meta(perm, epoch),
            xattrs: Xattrs::new(),
        },
    )?;
    Ok(())
}

/// Write a symlink (replacing what was there), creating parents;
/// symlinked directories on the way are followed.
pub fn put_symlink(
    tree: &mut Tree,
    path: &str,
    target: &str,
    epoch: i64,
) -> Result<(), ImageError> {
    let np = place(tree, path, epoch)?;
    tree.put(
        &np,
        Inode {
            kind: Kind::Symlink(target.as_bytes().to_vec()),
            meta: meta(0o777, epoch),
            xattrs: Xattrs::new(),
        },
    )?;
    Ok(())
}

/// A merged-/usr tree (`/lib -> usr/lib`, `/bin -> usr/bin`), for tests.
#[cfg(test)]
pub(crate) fn merged_usr() -> Tree {
    let dir = |tree: &mut Tree, path: &str| {
        let path = NamePath::parse(path).expect("static path");
        tree.mkdir_p(&path, &meta(0o755, 0)).expect("a new tree");
    };
    let mut tree = Tree::new(meta(0o755, 0));
    dir(&mut tree, "/usr/lib");
    dir(&mut tree, "/usr/bin");
    put_symlink(&mut tree, "/lib", "usr/lib", 0).expect("a new tree");
    put_symlink(&mut tree, "/bin", "usr/bin", 0).expect("a new tree");
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> NamePath {
        NamePath::parse(s).expect("static path")
    }

    #[test]
    fn merged_usr_links_are_followed_when_writing() {
        let mut tree = merged_usr();
        let at = real_dir(&mut tree, "/lib/modules", 0).unwrap();
        assert_eq!(at.to_string(), "/usr/lib/modules");
        put_file(
            &mut tree,
            "/lib/modules/6.1/modules.dep",
            Content::empty(),
            0o644,
            0,
        )
        .unwrap();
        assert!(
            tree.lookup(&p("/usr/lib/modules/6.1/modules.dep"))
                .is_some()
        );
        // The links themselves stay links.
        assert!(matches!(
            tree.inode(tree.lookup(&p("/lib")).unwrap()).kind,
            Kind::Symlink(_)
        ));
        // Absolute targets and `..` resolve inside the tree, never above it.
        put_symlink(&mut tree, "/usr/bin/busybox", "../../../../bin/real", 0).unwrap();
        put_file(&mut tree, "/usr/bin/real", Content::empty(), 0o755, 0).unwrap();
        assert_eq!(resolve(&tree, "/bin/busybox").unwrap().0, "/usr/bin/real");
        put_symlink(&mut tree, "/sbin", "/usr/bin", 0).unwrap();
        assert_eq!(resolve(&tree, "/sbin/real").unwrap().0, "/usr/bin/real");
    }

    #[test]
    fn link_loops_and_files_in_the_way_are_errors() {
        let mut tree = merged_usr();
        put_symlink(&mut tree, "/a", "b", 0).unwrap();
        put_symlink(&mut tree, "/b", "a", 0).unwrap();
        let e = put_file(&mut tree, "/a/x", Content::empty(), 0o644, 0).unwrap_err();
        assert!(e.to_string().contains("symlinks"), "{e}");
        put_file(&mut tree, "/usr/lib/f", Content::empty(), 0o644, 0).unwrap();
        let e = put_file(&mut tree, "/lib/f/x", Content::empty(), 0o644, 0).unwrap_err();
        assert!(e.to_string().contains("/usr/lib/f: not a directory"), "{e}");
    }
}
