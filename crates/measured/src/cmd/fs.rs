//! `measured fs`: build an ext2/3/4 image from a tree (ext image, tar
//! archive or directory), and inspect a tree the way `measured` sees it:
//! `ls`, `cat`, `stat`, also straight from a built VM disk (VHD or raw).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use fstree::{Inode, Kind, Timestamp, Tree};
use serde::Serialize;

use crate::exit::Status;
use crate::outln;
use crate::output::Ctx;

// The `fs` subcommands. A plain comment: clap would show a doc comment here as
// the group's description, in place of the one on its variant in `main.rs`.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum FsCommand {
    /// Build an ext2/3/4 image from an ext image, tar archive or directory.
    Build {
        /// ext2/3/4 image, tar archive (any compression) or host directory.
        source: PathBuf,
        /// The image to write (replaced atomically).
        out: PathBuf,
        /// Filesystem type.
        #[arg(long = "type", default_value = "ext4")]
        fs_type: extfs::build::FsType,
        /// Image size (e.g. 100M); default: the smallest that fits plus --margin.
        #[arg(long, value_parser = parse_size_arg)]
        size: Option<u64>,
        /// Extra space over the minimum, in percent, when --size is not given.
        #[arg(long, default_value_t = 10)]
        margin: u32,
        /// Block size: 1024, 2048 or 4096.
        #[arg(long, default_value_t = 4096)]
        block_size: u32,
        /// Inode count (default: one per --bytes-per-inode, like mke2fs).
        #[arg(long)]
        inodes: Option<u32>,
        /// Bytes per inode when --inodes is not given.
        #[arg(long, default_value_t = 16384)]
        bytes_per_inode: u64,
        /// Blocks reserved for root, in percent.
        #[arg(long, default_value_t = 5)]
        reserved_percent: u32,
        /// Filesystem UUID (32 hex digits, dashes optional).
        #[arg(long)]
        uuid: Option<String>,
        /// Directory hash seed (32 hex digits, dashes optional).
        #[arg(long)]
        hash_seed: Option<String>,
        /// Volume label.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List a directory (or show one entry) inside an image, disk, tar or directory.
    Ls {
        /// ext2/3/4 image, disk image holding one (VHD of any type, or raw
        /// with an MBR/GPT partition table), tar archive or host directory.
        source: PathBuf,
        /// Path inside it.
        #[arg(default_value = "/")]
        path: String,
    },
    /// Write a regular file's contents to stdout.
    Cat {
        /// ext2/3/4 image, disk image holding one (VHD of any type, or raw
        /// with an MBR/GPT partition table), tar archive or host directory.
        source: PathBuf,
        /// Path inside it.
        path: String,
    },
    /// Show one entry's type, mode, owner, times, size, links and xattrs.
    Stat {
        /// ext2/3/4 image, disk image holding one (VHD of any type, or raw
        /// with an MBR/GPT partition table), tar archive or host directory.
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

/// `path` inside the tree loaded from `source`; a failure names both.
fn lookup(tree: &Tree, source: &std::path::Path, path: &str) -> anyhow::Result<fstree::InodeId> {
    rootfs::lookup(tree, path).with_context(|| format!("{}", source.display()))
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    vhd::parse_size(s).map_err(|e| e.to_string())
}

fn parse_id(flag: &str, s: &str) -> anyhow::Result<[u8; 16]> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    anyhow::ensure!(
        hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        "{flag} {s:?}: expected 32 hex digits, dashes optional"
    );
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)?;
    }
    Ok(id)
}

/// Run one `fs` subcommand.
pub fn run(cmd: FsCommand, ctx: &Ctx) -> anyhow::Result<Status> {
    match cmd {
        FsCommand::Build {
            source,
            out,
            fs_type,
            size,
            margin,
            block_size,
            inodes,
            bytes_per_inode,
            reserved_percent,
            uuid,
            hash_seed,
            label,
        } => {
            let tree = load(&source)?;
            let mut o = extfs::build::BuildOptions::new(fs_type);
            o.size = match size {
                Some(b) => extfs::build::Size::Bytes(b),
                None => extfs::build::Size::Fit {
                    margin_percent: margin,
                },
            };
            o.block_size = block_size;
            o.inodes = inodes;
            o.bytes_per_inode = bytes_per_inode;
            o.reserved_percent = reserved_percent;
            if let Some(u) = &uuid {
                o.uuid = parse_id("--uuid", u)?;
            }
            if let Some(h) = &hash_seed {
                o.hash_seed = parse_id("--hash-seed", h)?;
            }
            o.label = label.into_bytes();
            o.epoch = crate::cmd::build_epoch()?;
            // Written beside `out`, renamed into place when complete; the
            // file's mode follows the umask, as `cp`'s does.
            let tmp = outputs::AtomicFile::create(&out)?;
            let mut f = tmp.file().try_clone()?;
            let bar = ctx.bytes_bar(0, "building");
            let report =
                extfs::build::build_with_progress(&tree, &o, &mut f, &mut |done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .with_context(|| format!("building {}", out.display()))?;
            bar.finish_and_clear();
            tmp.commit()?;
            if ctx.json {
                ctx.print_json(&serde_json::json!({
                    "output": out,
                    "type": format!("{fs_type:?}").to_lowercase(),
                    "size_bytes": report.size_bytes,
                    "block_size": report.block_size,
                }))?;
            } else {
                outln!(
                    "{}: {} bytes of {}, {}-byte blocks",
                    out.display(),
                    report.size_bytes,
                    format!("{fs_type:?}").to_lowercase(),
                    report.block_size
                );
            }
        }
        FsCommand::Ls { source, path } => {
            let tree = load(&source)?;
            let id = lookup(&tree, &source, &path)?;
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
                    outln!(
                        "{} {:>3} {:>5} {:>5} {:>12} {} {}{}",
                        r.mode,
                        r.links,
                        r.uid,
                        r.gid,
                        size,
                        r.mtime,
                        r.name,
                        arrow
                    );
                }
            }
        }
        FsCommand::Cat { source, path } => {
            let tree = load(&source)?;
            let id = lookup(&tree, &source, &path)?;
            let Kind::File(c) = &tree.inode(id).kind else {
                anyhow::bail!("{path}: not a regular file");
            };
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
                if !crate::output::write_stdout_bytes(&buf[..n]) {
                    break;
                }
                off += n as u64;
            }
        }
        FsCommand::Stat { source, path } => {
            let tree = load(&source)?;
            let id = lookup(&tree, &source, &path)?;
            let links = tree.link_counts();
            let r = info(&path, tree.inode(id), links[id.0 as usize]);
            if ctx.json {
                ctx.print_json(&r)?;
            } else {
                outln!(
                    "  File: {}{}",
                    r.name,
                    r.target
                        .as_deref()
                        .map(|t| format!(" -> {t}"))
                        .unwrap_or_default()
                );
                outln!(
                    "  Type: {}  Mode: {}  Uid: {}  Gid: {}",
                    r.kind,
                    r.mode,
                    r.uid,
                    r.gid
                );
                outln!("  Size: {}  Links: {}", r.size, r.links);
                if let Some((a, b)) = r.device {
                    outln!("Device: {a},{b}");
                }
                outln!(" mtime: {}", r.mtime);
                for (n, v) in [
                    ("atime", &r.atime),
                    ("ctime", &r.ctime),
                    ("crtime", &r.crtime),
                ] {
                    if let Some(v) = v {
                        outln!("{n:>6}: {v}");
                    }
                }
                for (k, v) in &r.xattrs {
                    outln!(" xattr: {k} = 0x{v}");
                }
            }
        }
    }
    Ok(Status::Ok)
}
