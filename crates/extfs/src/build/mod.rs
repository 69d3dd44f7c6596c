//! Build a fresh ext2, ext3 or ext4 filesystem from an [`fstree::Tree`].
//!
//! Everything in the image comes from the tree and [`BuildOptions`]: no host
//! uid, time or randomness, so the same inputs give the same bytes. The
//! image is written through a [`BlockSink`] in any order; blocks never
//! written are zeros (holes in a sparse file).

mod geometry;
mod mapping;
mod plan;
mod write;

pub use geometry::{Geometry, has_super};

use crate::sink::BlockSink;
use fstree::Tree;
use std::io;

/// Which ext flavour to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsType {
    /// Block maps, no journal.
    Ext2,
    /// ext2 plus an internal JBD2 journal (inode 8), as OE's `.ext3` images.
    Ext3,
    /// Extents, `flex_bg`, `huge_file`, `dir_nlink`, `extra_isize`,
    /// `metadata_csum`, a journal; `64bit` off.
    Ext4,
}

impl std::str::FromStr for FsType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ext2" => Ok(FsType::Ext2),
            "ext3" => Ok(FsType::Ext3),
            "ext4" => Ok(FsType::Ext4),
            _ => Err(format!(
                "unknown filesystem type {s:?} (want ext2, ext3 or ext4)"
            )),
        }
    }
}

/// How big the image is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// Exactly this many bytes (rounded down to whole blocks).
    Bytes(u64),
    /// The smallest size that fits, plus this many percent.
    Fit {
        /// Extra space in percent of the minimum.
        margin_percent: u32,
    },
}

/// Everything that shapes the image besides the tree.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// ext2, ext3 or ext4.
    pub fs_type: FsType,
    /// Image size.
    pub size: Size,
    /// 1024, 2048 or 4096.
    pub block_size: u32,
    /// Exact inode count wanted (rounded up to fill inode table blocks).
    pub inodes: Option<u32>,
    /// Otherwise one inode per this many bytes (mke2fs default 16384).
    pub bytes_per_inode: u64,
    /// Blocks reserved for root, in percent (mke2fs default 5).
    pub reserved_percent: u32,
    /// Volume UUID.
    pub uuid: [u8; 16],
    /// Directory hash seed.
    pub hash_seed: [u8; 16],
    /// Volume label, at most 16 bytes.
    pub label: Vec<u8>,
    /// `SOURCE_DATE_EPOCH`: superblock times and inode times the tree lacks.
    pub epoch: i64,
}

impl BuildOptions {
    /// mke2fs-like defaults: 4 KiB blocks, 16 KiB per inode, 5 % reserved,
    /// a fixed UUID and hash seed, epoch 0, size to fit plus 10 %.
    pub fn new(fs_type: FsType) -> Self {
        BuildOptions {
            fs_type,
            size: Size::Fit { margin_percent: 10 },
            block_size: 4096,
            inodes: None,
            bytes_per_inode: 16384,
            reserved_percent: 5,
            // Fixed, recognisable, valid version-4 style ids; callers who
            // need unique ones pass them in.
            uuid: *b"measured-ext-fs\x01",
            hash_seed: *b"measured-hashsd\x02",
            label: Vec::new(),
            epoch: 0,
        }
    }
}

/// What a build produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Image size in bytes.
    pub size_bytes: u64,
    /// Block size.
    pub block_size: u32,
    /// Total blocks.
    pub blocks: u64,
    /// Blocks in use (metadata included).
    pub used_blocks: u64,
    /// Total inodes.
    pub inodes: u32,
    /// Inodes in use (reserved ones included).
    pub used_inodes: u32,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The tree needs more space than the image has.
    #[error("the tree does not fit: {have_blocks} blocks available{}", .needed_blocks.map(|n| format!(", about {n} needed")).unwrap_or_default())]
    NoSpace {
        /// Blocks the tree needs, when known.
        needed_blocks: Option<u64>,
        /// Blocks in the image.
        have_blocks: u64,
    },
    /// An option is out of range.
    #[error("invalid option: {0}")]
    Option(String),
    /// Something in the tree cannot be stored in this filesystem type.
    #[error("{path}: {what}")]
    Unsupported {
        /// Path in the tree.
        path: String,
        /// What is wrong.
        what: String,
    },
    /// A file's contents could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// Path in the tree.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The sink refused a write.
    #[error("writing the image: {0}")]
    Write(#[from] io::Error),
}

/// Build the filesystem for `tree` into `out`.
pub fn build(
    tree: &Tree,
    opts: &BuildOptions,
    out: &mut dyn BlockSink,
) -> Result<Report, BuildError> {
    build_with_progress(tree, opts, out, &mut |_, _| {})
}

/// [`build`], calling `progress(done, total)` with file data bytes copied
/// so far (for a progress bar); `total` is known before the first call.
pub fn build_with_progress(
    tree: &Tree,
    opts: &BuildOptions,
    out: &mut dyn BlockSink,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, BuildError> {
    check_options(opts)?;
    let blocks = match opts.size {
        Size::Bytes(b) => b / u64::from(opts.block_size),
        Size::Fit { margin_percent } => {
            let min = min_blocks(tree, opts)?;
            min + min * u64::from(margin_percent) / 100
        }
    };
    let p = plan::Plan::make(tree, opts, blocks)?;
    write::write(tree, opts, &p, out, progress)
}

/// The smallest image size in bytes that holds `tree` with these options
/// (their `size` is ignored).
pub fn min_size(tree: &Tree, opts: &BuildOptions) -> Result<u64, BuildError> {
    check_options(opts)?;
    Ok(min_blocks(tree, opts)? * u64::from(opts.block_size))
}

/// Whether `tree` fits a filesystem of exactly `opts.size` bytes (one
/// layout plan; [`min_size`] searches over many).
pub fn fits(tree: &Tree, opts: &BuildOptions) -> Result<bool, BuildError> {
    check_options(opts)?;
    let Size::Bytes(b) = opts.size else {
        return Ok(true); // `Fit` sizes itself to the tree
    };
    match plan::Plan::make(tree, opts, b / u64::from(opts.block_size)) {
        Ok(_) => Ok(true),
        Err(BuildError::NoSpace { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

fn check_options(opts: &BuildOptions) -> Result<(), BuildError> {
    if !matches!(opts.block_size, 1024 | 2048 | 4096) {
        return Err(BuildError::Option(format!(
            "block size {} (want 1024, 2048 or 4096)",
            opts.block_size
        )));
    }
    if opts.label.len() > 16 {
        return Err(BuildError::Option(
            "volume label longer than 16 bytes".into(),
        ));
    }
    if opts.reserved_percent > 50 {
        return Err(BuildError::Option("reserved blocks above 50 %".into()));
    }
    if opts.bytes_per_inode < 1024 {
        return Err(BuildError::Option("bytes per inode below 1024".into()));
    }
    Ok(())
}

/// Grow from an estimate until a full plan succeeds, then bisect down to
/// the smallest block count that still plans.
fn min_blocks(tree: &Tree, opts: &BuildOptions) -> Result<u64, BuildError> {
    let bs = u64::from(opts.block_size);
    let need = plan::estimate_blocks(tree, opts)?;
    let mut blocks = need + need / 32 + 64;
    for _ in 0..200 {
        match plan::Plan::make(tree, opts, blocks) {
            Ok(p) => {
                // Everything allocated is a lower bound: metadata only adds.
                let used: u64 = (0..p.geo.groups).map(|g| p.alloc.used_in(g)).sum();
                let (mut lo, mut hi) = (used.max(16), p.geo.blocks);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    match plan::Plan::make(tree, opts, mid) {
                        Ok(p) => hi = p.geo.blocks.min(mid),
                        Err(BuildError::NoSpace { .. }) => lo = mid + 1,
                        Err(e) => return Err(e),
                    }
                }
                return Ok(hi);
            }
            Err(BuildError::NoSpace { .. }) => blocks += blocks / 16 + 8 * bs / 1024,
            Err(e) => return Err(e),
        }
    }
    Err(BuildError::NoSpace {
        needed_blocks: Some(need),
        have_blocks: blocks,
    })
}
