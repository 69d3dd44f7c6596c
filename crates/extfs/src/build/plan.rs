//! Decide everything before writing: inode numbers, directory blocks,
//! xattr blocks, where each file's data goes and how it is mapped.

use super::geometry::{Allocator, Geometry};
use super::mapping::{self, Run};
use super::{BuildError, BuildOptions, FsType};
use crate::disk::dir::{self, DirEntry, FileType};
use crate::disk::inode::{self, FIRST_INO, FL_EXTENTS, JOURNAL_INO, ROOT_INO, Time};
use crate::disk::journal::{JournalSuperblock, SUPERBLOCK_V2};
use crate::disk::xattr;
use fstree::{InodeId, Kind, NamePath, Timestamp, Tree};
use std::collections::HashMap;

/// Bytes after the 128-byte base and 32 extra bytes of a 256-byte inode.
pub const IBODY_SPACE: usize = 256 - 128 - 32;

/// Everything the writer needs, all block numbers final.
pub struct Plan {
    /// Volume shape.
    pub geo: Geometry,
    /// Allocator state after the last allocation (gives used blocks).
    pub alloc: Allocator,
    /// Every in-use inode but the zeroed reserved ones.
    pub inodes: Vec<(u32, inode::Inode)>,
    /// Highest inode number in use.
    pub last_ino: u32,
    /// Directories per group.
    pub dirs_per_group: Vec<u32>,
    /// Metadata and small data blocks to write verbatim.
    pub blocks: Vec<(u64, Vec<u8>)>,
    /// xattr blocks and the number of the block (checksummed at write time).
    pub xattr_blocks: Vec<(u64, Vec<u8>)>,
    /// Regular files: tree inode, path, runs.
    pub files: Vec<(InodeId, String, Vec<Run>)>,
    /// In-inode xattr areas (written after `i_extra_isize`).
    pub ibody: Vec<(u32, Vec<u8>)>,
    /// Journal inode's `i_block`, size in blocks.
    pub journal: Option<([u8; 60], u64)>,
}

/// Maps an inode's runs (extents or block map) allocating tree blocks.
type MapFn<'a> =
    dyn Fn(&[Run], &mut Allocator, u32, bool) -> Result<mapping::Mapped, BuildError> + 'a;

/// One inode to create, in inode-number order.
struct Node {
    id: Option<InodeId>,
    path: NamePath,
    parent: u32,
}

/// Default journal size in blocks for a volume of `blocks` blocks
/// (mke2fs's `ext2fs_default_journal_size` steps).
pub fn journal_blocks(blocks: u64) -> u64 {
    match blocks {
        0..32768 => 1024,
        32768..262144 => 4096,
        262144..524288 => 8192,
        524288..1048576 => 16384,
        1048576..2097152 => 32768,
        _ => 65536,
    }
}

fn file_type(k: &Kind) -> FileType {
    match k {
        Kind::File(_) => FileType::Regular,
        Kind::Dir(_) => FileType::Dir,
        Kind::Symlink(_) => FileType::Symlink,
        Kind::CharDev { .. } => FileType::CharDev,
        Kind::BlockDev { .. } => FileType::BlockDev,
        Kind::Fifo => FileType::Fifo,
        Kind::Socket => FileType::Socket,
    }
}

fn time(t: Option<Timestamp>, epoch: i64) -> Time {
    let t = t.unwrap_or(Timestamp::from_secs(epoch));
    Time {
        secs: t.secs,
        nanos: t.nanos,
    }
}

/// Number the tree's inodes: root 2, then `lost+found` (added when the
/// tree lacks it) and everything else from 11 in walk order.
fn number(tree: &Tree) -> Result<(Vec<Node>, Vec<u32>, bool), BuildError> {
    let mut ino_of = vec![0u32; tree.inode_count()];
    let mut nodes = vec![Node {
        id: Some(fstree::ROOT),
        path: NamePath::root(),
        parent: ROOT_INO,
    }];
    ino_of[fstree::ROOT.0 as usize] = ROOT_INO;
    let root_entries = tree.entries(fstree::ROOT).expect("root is a dir");
    let add_lpf = !root_entries.contains_key(b"lost+found".as_slice());
    let mut next = FIRST_INO;
    if add_lpf {
        nodes.push(Node {
            id: None,
            path: NamePath::root().join(b"lost+found"),
            parent: ROOT_INO,
        });
        next += 1;
    }
    // Depth-first in name order, like `Tree::walk`, remembering parents.
    let mut stack = vec![(fstree::ROOT, NamePath::root())];
    while let Some((dir, path)) = stack.pop() {
        let entries = tree.entries(dir).expect("only dirs are stacked");
        let parent = ino_of[dir.0 as usize];
        let mut subdirs = Vec::new();
        for (name, &c) in entries {
            let slot = &mut ino_of[c.0 as usize];
            let is_dir = tree.inode(c).kind.is_dir();
            if *slot != 0 {
                if is_dir {
                    return Err(BuildError::Unsupported {
                        path: path.join(name).to_string(),
                        what: "a directory with two names (directory hard link)".into(),
                    });
                }
                continue;
            }
            *slot = next;
            next = next
                .checked_add(1)
                .ok_or_else(|| BuildError::Option("too many inodes".into()))?;
            nodes.push(Node {
                id: Some(c),
                path: path.join(name),
                parent,
            });
            if is_dir {
                subdirs.push((c, path.join(name)));
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    Ok((nodes, ino_of, add_lpf))
}

/// Logical block runs holding data, from a file's data ranges.
fn logical_runs(ranges: &[(u64, u64)], bs: u64) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &(off, len) in ranges {
        if len == 0 {
            continue;
        }
        let first = off / bs;
        let end = (off + len).div_ceil(bs);
        match out.last_mut() {
            Some((s, l)) if *s + *l >= first => *l = (*l).max(end - *s),
            _ => out.push((first, end - first)),
        }
    }
    out
}

/// Pack directory entries into blocks (checksum tails added when `seed`).
fn dir_blocks(entries: &[(u32, u8, &[u8])], bs: usize, seed: Option<u32>) -> Vec<Vec<u8>> {
    let usable = bs - if seed.is_some() { dir::TAIL_SIZE } else { 0 };
    let mut blocks = Vec::new();
    let mut cur = vec![0u8; bs];
    let mut at = 0usize;
    let mut last = 0usize;
    let finish = |b: &mut Vec<u8>, last: usize, at: usize| {
        if at == 0 {
            // An empty block: one unused entry spanning it.
            DirEntry {
                inode: 0,
                rec_len: usable as u16,
                file_type: 0,
                name: vec![],
            }
            .encode(b);
        } else {
            let rec = (usable - last) as u16;
            b[last + 4..last + 6].copy_from_slice(&rec.to_le_bytes());
        }
        if let Some(s) = seed {
            dir::seal_block(b, s);
        }
    };
    for &(ino, ft, name) in entries {
        let rec = DirEntry::min_rec_len(name.len());
        if at + rec > usable {
            finish(&mut cur, last, at);
            blocks.push(std::mem::replace(&mut cur, vec![0u8; bs]));
            at = 0;
        }
        DirEntry {
            inode: ino,
            rec_len: rec as u16,
            file_type: ft,
            name: name.to_vec(),
        }
        .encode(&mut cur[at..]);
        last = at;
        at += rec;
    }
    finish(&mut cur, last, at);
    blocks.push(cur);
    blocks
}

/// Disk-form xattr entries of an inode.
fn xattr_entries(x: &fstree::Xattrs, path: &NamePath) -> Result<Vec<xattr::Entry>, BuildError> {
    let mut out = Vec::new();
    for (name, value) in x {
        let (index, suffix) = xattr::split_name(name);
        if suffix.len() > 255 || suffix.is_empty() && index == 0 {
            return Err(BuildError::Unsupported {
                path: path.to_string(),
                what: format!(
                    "xattr name {:?} is empty or too long",
                    String::from_utf8_lossy(name)
                ),
            });
        }
        let value = if index == 2 || index == 3 {
            xattr::acl_to_disk(value).map_err(|e| BuildError::Unsupported {
                path: path.to_string(),
                what: format!("{}: {e}", String::from_utf8_lossy(name)),
            })?
        } else {
            value.clone()
        };
        out.push(xattr::Entry {
            index,
            name: suffix.to_vec(),
            value,
        });
    }
    Ok(out)
}

/// A lower bound-ish estimate of the data blocks a tree needs, to start
/// the search for the smallest image.
pub fn estimate_blocks(tree: &Tree, opts: &BuildOptions) -> Result<u64, BuildError> {
    let bs = u64::from(opts.block_size);
    let mut n = 16u64;
    for (_, id) in tree.walk() {
        let ino = tree.inode(id);
        n += match &ino.kind {
            Kind::File(c) => {
                let r = c.source().data_ranges().map_err(|e| BuildError::Read {
                    path: "?".into(),
                    source: e,
                })?;
                let b: u64 = logical_runs(&r, bs).iter().map(|x| x.1).sum();
                b + b / (bs / 4) + 1
            }
            Kind::Dir(e) => {
                e.keys()
                    .map(|k| DirEntry::min_rec_len(k.len()) as u64)
                    .sum::<u64>()
                    / bs
                    + 1
            }
            Kind::Symlink(t) => u64::from(t.len() >= 60),
            _ => 0,
        } + u64::from(!ino.xattrs.is_empty());
    }
    if opts.fs_type != FsType::Ext2 {
        n += 1024;
    }
    Ok(n)
}

impl Plan {
    /// Plan the volume at `blocks` blocks; [`BuildError::NoSpace`] when it
    /// does not fit.
    pub fn make(tree: &Tree, opts: &BuildOptions, blocks: u64) -> Result<Plan, BuildError> {
        let bs = u64::from(opts.block_size);
        let ext4 = opts.fs_type == FsType::Ext4;
        let (nodes, ino_of, add_lpf) = number(tree)?;
        let needed = FIRST_INO - 1 + (nodes.len() as u32 - 1);
        let wanted = match opts.inodes {
            Some(n) if n < needed => {
                return Err(BuildError::Option(format!(
                    "{n} inodes requested, the tree needs {needed}"
                )));
            }
            Some(n) => u64::from(n),
            None => (blocks * bs / opts.bytes_per_inode).max(u64::from(needed)),
        };
        let geo = Geometry::new(blocks, bs, wanted)?;
        let mut alloc = Allocator::new(&geo);
        let csum_seed = crate::disk::crc32c(!0, &opts.uuid);
        let seed_of = |ino: u32| ext4.then(|| inode::inode_seed(csum_seed, ino, 0));
        let map = |runs: &[Run], alloc: &mut Allocator, ino: u32, extents: bool| {
            if extents {
                mapping::extents(runs, bs as usize, alloc, seed_of(ino))
            } else {
                mapping::block_map(runs, bs as usize, alloc)
            }
        };
        let mut plan = Plan {
            geo: geo.clone(),
            alloc: alloc.clone(),
            inodes: Vec::new(),
            last_ino: FIRST_INO - 1 + (nodes.len() as u32 - 1),
            dirs_per_group: vec![0; geo.groups as usize],
            blocks: Vec::new(),
            xattr_blocks: Vec::new(),
            files: Vec::new(),
            ibody: Vec::new(),
            journal: None,
        };
        let base = |mode: u16, meta: &fstree::Meta| inode::Inode {
            mode,
            uid: meta.uid,
            gid: meta.gid,
            atime: time(meta.atime, opts.epoch),
            ctime: time(meta.ctime, opts.epoch),
            mtime: time(Some(meta.mtime), opts.epoch),
            crtime: time(meta.crtime, opts.epoch),
            extra_isize: 32,
            ..Default::default()
        };
        if opts.fs_type != FsType::Ext2 {
            let jb = journal_blocks(geo.blocks);
            let runs: Vec<Run> = to_runs(0, &alloc.alloc(jb)?);
            let m = map(&runs, &mut alloc, JOURNAL_INO, ext4)?;
            let meta = fstree::Meta {
                perm: 0o600,
                uid: 0,
                gid: 0,
                mtime: Timestamp::from_secs(opts.epoch),
                atime: None,
                ctime: None,
                crtime: None,
            };
            let mut ino = base(0o100600, &meta);
            ino.size = jb * bs;
            ino.links_count = 1;
            ino.blocks = (jb + m.blocks.len() as u64) * (bs / 512);
            ino.flags = if ext4 { FL_EXTENTS } else { 0 };
            ino.block = m.i_block;
            let jsb = JournalSuperblock {
                blocktype: SUPERBLOCK_V2,
                first_seq: 1,
                block_size: bs as u32,
                maxlen: jb as u32,
                first: 1,
                uuid: opts.uuid,
                nr_users: 1,
                ..Default::default()
            };
            let mut b = vec![0u8; bs as usize];
            b[..1024].copy_from_slice(&jsb.encode());
            plan.blocks.push((runs[0].phys, b));
            plan.blocks.extend(m.blocks);
            plan.inodes.push((JOURNAL_INO, ino));
            plan.journal = Some((m.i_block, jb));
        }
        let mut names = vec![0u32; tree.inode_count()];
        for n in &nodes {
            if let Some(id) = n.id {
                if let Some(e) = tree.entries(id) {
                    for c in e.values() {
                        names[c.0 as usize] += 1;
                    }
                }
            }
        }
        let mut shared_xattrs: HashMap<Vec<xattr::Entry>, usize> = HashMap::new();
        let mut xattr_refs: Vec<(Vec<xattr::Entry>, u64, u32)> = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            let ino_nr = if i == 0 {
                ROOT_INO
            } else {
                FIRST_INO + i as u32 - 1
            };
            let Some(id) = n.id else {
                // lost+found: 16 KiB (at most the 12 direct blocks) for e2fsck to use.
                let nb = (16384 / bs).clamp(2, 12);
                let mut blocks = dir_blocks(
                    &[
                        (ino_nr, FileType::Dir as u8, b"."),
                        (ROOT_INO, FileType::Dir as u8, b".."),
                    ],
                    bs as usize,
                    seed_of(ino_nr),
                );
                let empty = dir_blocks(&[], bs as usize, seed_of(ino_nr)).remove(0);
                blocks.resize(nb as usize, empty);
                let meta = fstree::Meta {
                    perm: 0o700,
                    uid: 0,
                    gid: 0,
                    mtime: Timestamp::from_secs(opts.epoch),
                    atime: None,
                    ctime: None,
                    crtime: None,
                };
                let mut ino = base(0o040700, &meta);
                plan.place_blocks(&mut alloc, ino_nr, &mut ino, blocks, ext4, &map)?;
                ino.links_count = 2;
                plan.dirs_per_group[((ino_nr - 1) / geo.ipg) as usize] += 1;
                plan.inodes.push((ino_nr, ino));
                continue;
            };
            let t = tree.inode(id);
            let path = n.path.to_string();
            check_times(&t.meta, &path)?;
            let mut ino = base(t.mode(), &t.meta);
            let entries = xattr_entries(&t.xattrs, &n.path)?;
            // ext4's 256-byte inodes hold small attribute sets themselves.
            let ibody = (ext4 && !entries.is_empty())
                .then(|| xattr::encode_ibody(&entries, IBODY_SPACE))
                .flatten();
            if let Some(body) = ibody {
                plan.ibody.push((ino_nr, body));
            } else if !entries.is_empty() {
                let k = match shared_xattrs.get(&entries) {
                    Some(&k) => k,
                    None => {
                        if xattr::block_bytes(&entries) > bs as usize {
                            return Err(BuildError::Unsupported {
                                path,
                                what: "extended attributes do not fit in one block".into(),
                            });
                        }
                        let b = alloc.alloc_list(1)?[0];
                        xattr_refs.push((entries.clone(), b, 0));
                        shared_xattrs.insert(entries, xattr_refs.len() - 1);
                        xattr_refs.len() - 1
                    }
                };
                xattr_refs[k].2 += 1;
                ino.file_acl = xattr_refs[k].1;
                ino.blocks += bs / 512;
            }
            let links = names[id.0 as usize].max(1);
            if links > 65000 && !t.kind.is_dir() {
                return Err(BuildError::Unsupported {
                    path,
                    what: format!("{links} hard links (ext allows 65000)"),
                });
            }
            ino.links_count = links as u16;
            match &t.kind {
                Kind::Dir(entries) => {
                    let mut list: Vec<(u32, u8, &[u8])> = vec![
                        (ino_nr, FileType::Dir as u8, b"."),
                        (n.parent, FileType::Dir as u8, b".."),
                    ];
                    let mut subdirs = 0u32;
                    if i == 0 && add_lpf {
                        list.push((FIRST_INO, FileType::Dir as u8, b"lost+found"));
                        subdirs += 1;
                    }
                    for (name, &c) in entries {
                        let k = &tree.inode(c).kind;
                        subdirs += u32::from(k.is_dir());
                        list.push((ino_of[c.0 as usize], file_type(k) as u8, name));
                    }
                    let links = 2 + subdirs;
                    ino.links_count = if links < 65000 {
                        links as u16
                    } else if ext4 {
                        1
                    } else {
                        return Err(BuildError::Unsupported {
                            path,
                            what: format!("{subdirs} subdirectories need ext4's dir_nlink"),
                        });
                    };
                    let blocks = dir_blocks(&list, bs as usize, seed_of(ino_nr));
                    plan.place_blocks(&mut alloc, ino_nr, &mut ino, blocks, ext4, &map)?;
                    plan.dirs_per_group[((ino_nr - 1) / geo.ipg) as usize] += 1;
                }
                Kind::File(c) => {
                    let len = c.len();
                    let ranges = c.source().data_ranges().map_err(|e| BuildError::Read {
                        path: path.clone(),
                        source: e,
                    })?;
                    let lruns = logical_runs(&ranges, bs);
                    let end = lruns.last().map_or(0, |r| r.0 + r.1);
                    let limit = if ext4 {
                        1u64 << 32
                    } else {
                        mapping::block_map_limit(bs)
                    };
                    if end > limit || len.div_ceil(bs) > limit {
                        return Err(BuildError::Unsupported {
                            path,
                            what: format!("{len} bytes is too large for {:?}", opts.fs_type),
                        });
                    }
                    let mut runs = Vec::new();
                    for (l, n) in lruns {
                        runs.extend(to_runs(l, &alloc.alloc(n)?));
                    }
                    let data: u64 = runs.iter().map(|r| r.len).sum();
                    let m = map(&runs, &mut alloc, ino_nr, ext4)?;
                    ino.size = len;
                    ino.flags = if ext4 { FL_EXTENTS } else { 0 };
                    ino.block = m.i_block;
                    ino.blocks += (data + m.blocks.len() as u64) * (bs / 512);
                    plan.blocks.extend(m.blocks);
                    plan.files.push((id, path, runs));
                }
                Kind::Symlink(target) => {
                    ino.size = target.len() as u64;
                    if target.len() < 60 {
                        ino.block[..target.len()].copy_from_slice(target);
                    } else if target.len() < bs as usize {
                        let mut b = vec![0u8; bs as usize];
                        b[..target.len()].copy_from_slice(target);
                        let size = ino.size;
                        plan.place_blocks(&mut alloc, ino_nr, &mut ino, vec![b], ext4, &map)?;
                        ino.size = size;
                    } else {
                        return Err(BuildError::Unsupported {
                            path,
                            what: format!(
                                "symlink target of {} bytes is longer than a block",
                                target.len()
                            ),
                        });
                    }
                }
                Kind::CharDev { major, minor } | Kind::BlockDev { major, minor } => {
                    if *major > 0xfff || *minor > 0xf_ffff {
                        return Err(BuildError::Unsupported {
                            path,
                            what: format!("device {major}:{minor} out of range"),
                        });
                    }
                    ino.block = inode::encode_dev(*major, *minor);
                }
                Kind::Fifo | Kind::Socket => {}
            }
            plan.inodes.push((ino_nr, ino));
        }
        for (entries, b, refs) in xattr_refs {
            let block =
                xattr::encode_block(&entries, bs as usize, refs).expect("size checked above");
            plan.xattr_blocks.push((b, block));
        }
        if plan.last_ino > geo.inodes() {
            return Err(BuildError::Option(format!(
                "{} inodes needed, {} available",
                plan.last_ino,
                geo.inodes()
            )));
        }
        plan.alloc = alloc;
        Ok(plan)
    }

    /// Allocate and map `blocks` (a directory or slow symlink) for `ino`.
    #[allow(clippy::too_many_arguments)]
    fn place_blocks(
        &mut self,
        alloc: &mut Allocator,
        ino_nr: u32,
        ino: &mut inode::Inode,
        blocks: Vec<Vec<u8>>,
        ext4: bool,
        map: &MapFn,
    ) -> Result<(), BuildError> {
        let bs = self.geo.bs;
        let runs = to_runs(0, &alloc.alloc(blocks.len() as u64)?);
        let m = map(&runs, alloc, ino_nr, ext4)?;
        ino.size = blocks.len() as u64 * bs;
        ino.flags = if ext4 { FL_EXTENTS } else { 0 };
        ino.block = m.i_block;
        ino.blocks += (blocks.len() as u64 + m.blocks.len() as u64) * (bs / 512);
        let phys = runs.iter().flat_map(|r| r.phys..r.phys + r.len);
        self.blocks.extend(phys.zip(blocks));
        self.blocks.extend(m.blocks);
        Ok(())
    }
}

/// ext stores 34-bit signed-epoch seconds: 1901-12-13 to 2446-05-10.
fn check_times(m: &fstree::Meta, path: &str) -> Result<(), BuildError> {
    const LO: i64 = -(1 << 31);
    const HI: i64 = (1 << 31) + (3 << 32) - 1;
    for t in [Some(m.mtime), m.atime, m.ctime, m.crtime]
        .into_iter()
        .flatten()
    {
        if !(LO..=HI).contains(&t.secs) || t.nanos >= 1_000_000_000 {
            return Err(BuildError::Unsupported {
                path: path.to_string(),
                what: format!(
                    "time {}.{:09} is outside what ext can store (1901..2446)",
                    t.secs, t.nanos
                ),
            });
        }
    }
    Ok(())
}

/// Physical runs placed one after another from logical block `logical`.
fn to_runs(mut logical: u64, phys: &[(u64, u64)]) -> Vec<Run> {
    phys.iter()
        .map(|&(p, l)| {
            let r = Run {
                logical,
                phys: p,
                len: l,
            };
            logical += l;
            r
        })
        .collect()
}
