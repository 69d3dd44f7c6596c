//! `measured fs`: inspect a filesystem tree (ext image, tar archive or
//! directory) the way `measured` sees it: `ls`, `cat`, `stat`.
//!
//! `fs build` arrives with the ext builder (`extfs::build`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use fstree::{Inode, Kind, Timestamp, Tree};
use serde::Serialize;

use crate::exit::Status;
use crate::output::Ctx;

/// The `fs` subcommands.
#[derive(Subcommand, Debug)]
pub enum FsCommand {
    /// List a directory (or show one entry) inside an image, tar or directory.
    Ls {
        /// ext2/3/4 image, tar archive (any compression) or host directory.
        source: PathBuf,
        /// Path inside it.
        #[arg(default_value = "/")]
        path: String,
    },
    /// Write a regular file's contents to stdout.
    Cat {
        /// ext2/3/4 image, tar archive (any compression) or host directory.
        source: PathBuf,
        /// Path inside it.
        path: String,
    },
    /// Show one entry's type, mode, owner, times, size, links and xattrs.
    Stat {
        /// ext2/3/4 image, tar archive (any compression) or host directory.
        source: PathBuf,
        /// Path inside it.
        path: String,
    },
}

/// One entry as `ls` and `stat` report it.
#[derive(Serialize, Debug)]
struct EntryInfo {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    mode: String,
    uid: u32,
    gid: u32,
    size: u64,
    links: u32,
    mtime: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    atime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ctime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    crtime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<(u32, u32)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    xattrs: Vec<(String, String)>,
}

fn ts(t: Timestamp) -> String {
    format!("{}.{:09}", t.secs, t.nanos)
}

fn kind_name(k: &Kind) -> &'static str {
    match k {
        Kind::File(_) => "file",
        Kind::Dir(_) => "dir",
        Kind::Symlink(_) => "symlink",
        Kind::CharDev { .. } => "chardev",
        Kind::BlockDev { .. } => "blockdev",
        Kind::Fifo => "fifo",
        Kind::Socket => "socket",
    }
}

fn hex(v: &[u8]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}

fn info(name: &str, inode: &Inode, links: u32) -> EntryInfo {
    let m = &inode.meta;
    EntryInfo {
        name: name.to_string(),
        kind: kind_name(&inode.kind),
        mode: format!("{:06o}", inode.mode()),
        uid: m.uid,
        gid: m.gid,
        size: match &inode.kind {
            Kind::File(c) => c.len(),
            Kind::Symlink(t) => t.len() as u64,
            _ => 0,
        },
        links,
        mtime: ts(m.mtime),
        atime: m.atime.map(ts),
        ctime: m.ctime.map(ts),
        crtime: m.crtime.map(ts),
        target: match &inode.kind {
            Kind::Symlink(t) => Some(String::from_utf8_lossy(t).into_owned()),
            _ => None,
        },
        device: match inode.kind {
            Kind::CharDev { major, minor } | Kind::BlockDev { major, minor } => {
                Some((major, minor))
            }
            _ => None,
        },
        xattrs: inode
            .xattrs
            .iter()
            .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), hex(v)))
            .collect(),
    }
}

fn load(source: &std::path::Path) -> anyhow::Result<Tree> {
    rootfs::load(source).with_context(|| format!("loading {}", source.display()))
}

/// Run one `fs` subcommand.
pub fn run(cmd: FsCommand, ctx: &Ctx) -> anyhow::Result<Status> {
    match cmd {
        FsCommand::Ls { source, path } => {
            let tree = load(&source)?;
            let id = rootfs::lookup(&tree, &path)?;
            let links = tree.link_counts();
            let rows: Vec<EntryInfo> = match tree.entries(id) {
                Some(e) => e
                    .iter()
                    .map(|(n, &c)| {
                        info(
                            &String::from_utf8_lossy(n),
                            tree.inode(c),
                            links[c.0 as usize],
                        )
                    })
                    .collect(),
                None => vec![info(&path, tree.inode(id), links[id.0 as usize])],
            };
            if ctx.json {
                ctx.print_json(&rows)?;
            } else {
                for r in rows {
                    let arrow = r
                        .target
                        .as_deref()
                        .map(|t| format!(" -> {t}"))
                        .unwrap_or_default();
                    let size = match r.device {
                        Some((a, b)) => format!("{a}, {b}"),
                        None => r.size.to_string(),
                    };
                    println!(
                        "{} {:>3} {:>5} {:>5} {:>12} {} {}{}",
                        r.mode, r.links, r.uid, r.gid, size, r.mtime, r.name, arrow
                    );
                }
            }
        }
        FsCommand::Cat { source, path } => {
            let tree = load(&source)?;
            let id = rootfs::lookup(&tree, &path)?;
            let Kind::File(c) = &tree.inode(id).kind else {
                anyhow::bail!("{path}: not a regular file");
            };
            let mut out = std::io::stdout().lock();
            let mut buf = vec![0u8; 1 << 20];
            let mut off = 0u64;
            while off < c.len() {
                let n = c
                    .source()
                    .read_at(off, &mut buf)
                    .with_context(|| format!("{path}: reading at {off}"))?;
                if n == 0 {
                    anyhow::bail!("{path}: contents end at {off} of {} bytes", c.len());
                }
                out.write_all(&buf[..n])?;
                off += n as u64;
            }
            out.flush()?;
        }
        FsCommand::Stat { source, path } => {
            let tree = load(&source)?;
            let id = rootfs::lookup(&tree, &path)?;
            let links = tree.link_counts();
            let r = info(&path, tree.inode(id), links[id.0 as usize]);
            if ctx.json {
                ctx.print_json(&r)?;
            } else {
                println!(
                    "  File: {}{}",
                    r.name,
                    r.target
                        .as_deref()
                        .map(|t| format!(" -> {t}"))
                        .unwrap_or_default()
                );
                println!(
                    "  Type: {}  Mode: {}  Uid: {}  Gid: {}",
                    r.kind, r.mode, r.uid, r.gid
                );
                println!("  Size: {}  Links: {}", r.size, r.links);
                if let Some((a, b)) = r.device {
                    println!("Device: {a},{b}");
                }
                println!(" mtime: {}", r.mtime);
                for (n, v) in [
                    ("atime", &r.atime),
                    ("ctime", &r.ctime),
                    ("crtime", &r.crtime),
                ] {
                    if let Some(v) = v {
                        println!("{n:>6}: {v}");
                    }
                }
                for (k, v) in &r.xattrs {
                    println!(" xattr: {k} = 0x{v}");
                }
            }
        }
    }
    Ok(Status::Ok)
}
