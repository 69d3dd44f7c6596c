//! The in-memory file tree every filesystem path in `measured` goes through:
//! loaders (ext image, tar, directory) produce a [`Tree`], edits change it,
//! and the ext builder writes it out.
//!
//! The tree is an inode table plus directories that name inodes, so hard
//! links are simply two names for one [`InodeId`]. File contents are not held
//! here but behind [`Content`], which reads on demand and knows its holes, so
//! a 5 GiB sparse file costs nothing until it is written.

mod content;
pub mod digest;
mod path;

use std::collections::BTreeMap;

pub use content::{
    Bytes, Content, ContentSource, HostFile, MAX_OPEN_HOST_FILES, MAX_READ_ALL, Sparse,
    copy_file_range_all, host_data_ranges, host_data_ranges_in,
};
pub use digest::{content_sha256, is_zero};
pub use path::{MAX_PATH, NamePath, PathError};

/// Index of an inode in its [`Tree`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InodeId(pub u32);

/// A point in time, seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z (may be negative).
    pub secs: i64,
    /// Nanoseconds within the second, below 1e9.
    pub nanos: u32,
}

impl Timestamp {
    /// A whole-second time.
    pub const fn from_secs(secs: i64) -> Self {
        Timestamp { secs, nanos: 0 }
    }
}

/// Ownership, permissions and times of an inode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits including setuid, setgid and sticky (`0o7777`); the
    /// file type lives in [`Kind`], never here.
    pub perm: u16,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Modification time.
    pub mtime: Timestamp,
    /// Access time, where the source had one.
    pub atime: Option<Timestamp>,
    /// Inode change time, where the source had one.
    pub ctime: Option<Timestamp>,
    /// Creation time, where the source had one (ext4 `crtime`).
    pub crtime: Option<Timestamp>,
}

/// One extended attribute: full name with namespace prefix
/// (`security.selinux`, `system.posix_acl_access`, `security.capability`,
/// `user.foo`, `trusted.bar`) and its raw value as Linux `getxattr` returns it.
pub type Xattrs = BTreeMap<Vec<u8>, Vec<u8>>;

/// A directory entry name: any bytes but `/` and NUL, 1..=255 bytes.
pub type Name = Vec<u8>;

/// What an inode is, with the data that kind carries.
#[derive(Clone, Debug)]
pub enum Kind {
    /// A regular file and its contents.
    File(Content),
    /// A directory: names to inodes, kept sorted so every walk is reproducible.
    Dir(BTreeMap<Name, InodeId>),
    /// A symbolic link and its target, as bytes.
    Symlink(Vec<u8>),
    /// A character device.
    CharDev {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDev {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
}

impl Kind {
    /// The `S_IFMT` bits of this kind.
    pub fn format_bits(&self) -> u16 {
        match self {
            Kind::Fifo => 0o010000,
            Kind::CharDev { .. } => 0o020000,
            Kind::Dir(_) => 0o040000,
            Kind::BlockDev { .. } => 0o060000,
            Kind::File(_) => 0o100000,
            Kind::Symlink(_) => 0o120000,
            Kind::Socket => 0o140000,
        }
    }

    /// True for directories.
    pub fn is_dir(&self) -> bool {
        matches!(self, Kind::Dir(_))
    }
}

/// One inode: its kind, metadata and extended attributes.
#[derive(Clone, Debug)]
pub struct Inode {
    /// What it is.
    pub kind: Kind,
    /// Owner, permissions, times.
    pub meta: Meta,
    /// Extended attributes.
    pub xattrs: Xattrs,
}

impl Inode {
    /// Full `st_mode`: format bits from the kind plus permission bits.
    pub fn mode(&self) -> u16 {
        self.kind.format_bits() | (self.meta.perm & 0o7777)
    }
}

/// A whole file tree rooted at one directory.
#[derive(Clone, Debug)]
pub struct Tree {
    inodes: Vec<Inode>,
}

/// The root directory is always the first inode.
pub const ROOT: InodeId = InodeId(0);

impl Tree {
    /// A tree holding only a root directory with this metadata.
    pub fn new(root_meta: Meta) -> Self {
        Tree {
            inodes: vec![Inode {
                kind: Kind::Dir(BTreeMap::new()),
                meta: root_meta,
                xattrs: Xattrs::new(),
            }],
        }
    }

    /// The inode with this id. Ids come from this tree, so this cannot miss.
    pub fn inode(&self, id: InodeId) -> &Inode {
        &self.inodes[id.0 as usize]
    }

    /// Mutable access to one inode.
    pub fn inode_mut(&mut self, id: InodeId) -> &mut Inode {
        &mut self.inodes[id.0 as usize]
    }

    /// Number of inodes, including ones no longer linked anywhere.
    pub fn inode_count(&self) -> usize {
        self.inodes.len()
    }

    /// Add an inode that no directory names yet; link it with [`Tree::link`].
    pub fn add(&mut self, inode: Inode) -> InodeId {
        let id = InodeId(u32::try_from(self.inodes.len()).expect("over 4 billion inodes"));
        self.inodes.push(inode);
        id
    }

    /// The entries of a directory, or `None` when `dir` is not one.
    pub fn entries(&self, dir: InodeId) -> Option<&BTreeMap<Name, InodeId>> {
        match &self.inode(dir).kind {
            Kind::Dir(e) => Some(e),
            _ => None,
        }
    }

    /// Name `child` as `name` in directory `dir`, replacing any entry of that
    /// name. Linking a directory under itself or a descendant is refused.
    pub fn link(&mut self, dir: InodeId, name: &[u8], child: InodeId) -> Result<(), PathError> {
        path::check_name(name)?;
        if self.inode(child).kind.is_dir() && (child == dir || self.is_ancestor(child, dir)) {
            return Err(PathError::Cycle(String::from_utf8_lossy(name).into_owned()));
        }
        match &mut self.inode_mut(dir).kind {
            Kind::Dir(e) => {
                e.insert(name.to_vec(), child);
                Ok(())
            }
            _ => Err(PathError::NotADirectory(
                String::from_utf8_lossy(name).into_owned(),
            )),
        }
    }

    /// Remove the entry `name` from `dir`, returning what it named.
    pub fn unlink(&mut self, dir: InodeId, name: &[u8]) -> Option<InodeId> {
        match &mut self.inode_mut(dir).kind {
            Kind::Dir(e) => e.remove(name),
            _ => None,
        }
    }

    fn is_ancestor(&self, maybe_ancestor: InodeId, of: InodeId) -> bool {
        // Directories have exactly one parent in a valid tree; search from the
        // root for `of` and see whether the path passes `maybe_ancestor`.
        let mut stack = vec![(ROOT, false)];
        while let Some((id, under)) = stack.pop() {
            let under = under || id == maybe_ancestor;
            if id == of {
                return under;
            }
            if let Some(e) = self.entries(id) {
                for &c in e.values() {
                    if self.inode(c).kind.is_dir() {
                        stack.push((c, under));
                    }
                }
            }
        }
        false
    }

    /// Look a path up from the root without following symlinks anywhere.
    pub fn lookup(&self, path: &NamePath) -> Option<InodeId> {
        let mut cur = ROOT;
        for comp in path.components() {
            cur = *self.entries(cur)?.get(comp)?;
        }
        Some(cur)
    }

    /// The directory at `path`, creating missing directories with `meta`.
    pub fn mkdir_p(&mut self, path: &NamePath, meta: &Meta) -> Result<InodeId, PathError> {
        let mut cur = ROOT;
        for comp in path.components() {
            let next = self.entries(cur).and_then(|e| e.get(comp)).copied();
            cur = match next {
                Some(id) if self.inode(id).kind.is_dir() => id,
                Some(_) => return Err(PathError::NotADirectory(path.to_string())),
                None => {
                    let id = self.add(Inode {
                        kind: Kind::Dir(BTreeMap::new()),
                        meta: meta.clone(),
                        xattrs: Xattrs::new(),
                    });
                    self.link(cur, comp, id)?;
                    id
                }
            };
        }
        Ok(cur)
    }

    /// Put `inode` at `path` (parents must exist), replacing what was there.
    pub fn put(&mut self, path: &NamePath, inode: Inode) -> Result<InodeId, PathError> {
        let (parent, name) = path
            .split_last()
            .ok_or_else(|| PathError::IsRoot(path.to_string()))?;
        let dir = self
            .lookup(&parent)
            .ok_or_else(|| PathError::NotFound(parent.to_string()))?;
        let id = self.add(inode);
        self.link(dir, name, id)?;
        Ok(id)
    }

    /// Copy the subtree of `other` rooted at directory `from` to `at` in
    /// this tree (created with `from`'s metadata if missing; entries already
    /// there are replaced). Hard links inside the subtree stay hard links;
    /// contents are shared, not copied.
    pub fn graft(&mut self, at: &NamePath, other: &Tree, from: InodeId) -> Result<(), PathError> {
        let top = self.mkdir_p(at, &other.inode(from).meta)?;
        let mut copied: std::collections::HashMap<InodeId, InodeId> = Default::default();
        let mut stack = vec![(from, top)];
        while let Some((src_dir, dst_dir)) = stack.pop() {
            let Some(entries) = other.entries(src_dir) else {
                continue;
            };
            for (name, &child) in entries {
                if let Some(&id) = copied.get(&child) {
                    self.link(dst_dir, name, id)?;
                    continue;
                }
                let src = other.inode(child);
                let kind = match &src.kind {
                    Kind::Dir(_) => Kind::Dir(BTreeMap::new()),
                    k => k.clone(),
                };
                let id = self.add(Inode {
                    kind,
                    meta: src.meta.clone(),
                    xattrs: src.xattrs.clone(),
                });
                self.unlink(dst_dir, name);
                self.link(dst_dir, name, id)?;
                copied.insert(child, id);
                if src.kind.is_dir() {
                    stack.push((child, id));
                }
            }
        }
        Ok(())
    }

    /// Every linked inode once, depth first in name order, with the path it
    /// was first reached by. The root comes first with the empty path.
    pub fn walk(&self) -> Vec<(NamePath, InodeId)> {
        let mut out = Vec::new();
        let mut seen = vec![false; self.inodes.len()];
        let mut stack = vec![(NamePath::root(), ROOT)];
        while let Some((p, id)) = stack.pop() {
            if std::mem::replace(&mut seen[id.0 as usize], true) {
                continue;
            }
            if let Some(e) = self.entries(id) {
                for (name, &c) in e.iter().rev() {
                    stack.push((p.join(name), c));
                }
            }
            out.push((p, id));
        }
        out
    }

    /// Link counts as a filesystem would store them: names pointing at each
    /// inode, plus for directories their `.` and each child's `..`.
    pub fn link_counts(&self) -> Vec<u32> {
        let mut n = vec![0u32; self.inodes.len()];
        n[ROOT.0 as usize] = 1; // the root's `..` names itself
        for (_, id) in self.walk() {
            if let Some(e) = self.entries(id) {
                n[id.0 as usize] += 1; // `.`
                for &c in e.values() {
                    n[c.0 as usize] += 1;
                    if self.inode(c).kind.is_dir() {
                        n[id.0 as usize] += 1; // child's `..`
                    }
                }
            }
        }
        n
    }
}

#[cfg(test)]
mod tests;
