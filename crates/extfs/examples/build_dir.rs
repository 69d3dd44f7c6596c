//! Build an ext image from a host directory:
//! `build_dir SRC OUT.img ext2|ext3|ext4 [SIZE_BYTES]`.
//!
//! A minimal host-directory walker for benchmarks and manual checks until
//! the rootfs loader drives the builder; owners and times are taken from
//! the host, `SOURCE_DATE_EPOCH` fills the rest.

use extfs::build::{BuildOptions, FsType, Size, build};
use fstree::{Content, HostFile, Inode, InodeId, Kind, Meta, NamePath, Timestamp, Tree};
use std::collections::HashMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

fn meta(m: &std::fs::Metadata) -> Meta {
    Meta {
        perm: (m.mode() & 0o7777) as u16,
        uid: m.uid(),
        gid: m.gid(),
        mtime: Timestamp {
            secs: m.mtime(),
            nanos: m.mtime_nsec() as u32,
        },
        atime: None,
        ctime: None,
        crtime: None,
    }
}

fn kind(p: &Path, m: &std::fs::Metadata) -> std::io::Result<Kind> {
    let ft = m.file_type();
    let dev = || {
        (
            ((m.rdev() >> 8) & 0xfff) as u32,
            ((m.rdev() & 0xff) | ((m.rdev() >> 12) & 0xfff00)) as u32,
        )
    };
    Ok(if ft.is_dir() {
        Kind::Dir(Default::default())
    } else if ft.is_symlink() {
        Kind::Symlink(
            std::os::unix::ffi::OsStrExt::as_bytes(std::fs::read_link(p)?.as_os_str()).to_vec(),
        )
    } else if ft.is_char_device() {
        let (major, minor) = dev();
        Kind::CharDev { major, minor }
    } else if ft.is_block_device() {
        let (major, minor) = dev();
        Kind::BlockDev { major, minor }
    } else if ft.is_fifo() {
        Kind::Fifo
    } else if ft.is_socket() {
        Kind::Socket
    } else {
        Kind::File(Content::new(HostFile::new(p, m.len())))
    })
}

fn load(root: &Path) -> std::io::Result<Tree> {
    let mut tree = Tree::new(meta(&std::fs::metadata(root)?));
    let mut seen: HashMap<(u64, u64), InodeId> = HashMap::new();
    let mut stack = vec![(root.to_path_buf(), NamePath::root(), fstree::ROOT)];
    while let Some((dir, at, id)) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p)?;
            let name = std::os::unix::ffi::OsStrExt::as_bytes(e.file_name().as_os_str()).to_vec();
            if !m.is_dir() && m.nlink() > 1 {
                if let Some(&old) = seen.get(&(m.dev(), m.ino())) {
                    tree.link(id, &name, old).map_err(std::io::Error::other)?;
                    continue;
                }
            }
            let child = tree.add(Inode {
                kind: kind(&p, &m)?,
                meta: meta(&m),
                xattrs: Default::default(),
            });
            tree.link(id, &name, child).map_err(std::io::Error::other)?;
            if m.is_dir() {
                stack.push((p, at.join(&name), child));
            } else if m.nlink() > 1 {
                seen.insert((m.dev(), m.ino()), child);
            }
        }
    }
    Ok(tree)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: build_dir SRC OUT.img ext2|ext3|ext4 [SIZE_BYTES]".into());
    }
    let tree = load(Path::new(&args[1]))?;
    let mut opts = BuildOptions::new(args[3].parse::<FsType>()?);
    if let Some(s) = args.get(4) {
        opts.size = Size::Bytes(s.parse()?);
    }
    if let Ok(e) = std::env::var("SOURCE_DATE_EPOCH") {
        opts.epoch = e.parse()?;
    }
    let out = Path::new(&args[2]);
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    let report = build(&tree, &opts, tmp.as_file_mut())?;
    // mke2fs fsyncs its image; so do we, for a fair and durable result.
    tmp.as_file().sync_all()?;
    tmp.persist(out)?;
    eprintln!("{report:?}");
    Ok(())
}
