//! Where a file's blocks are: classic block maps (direct, indirect, double
//! and triple indirect) and extent trees, both flattened into sorted runs.
//! Hostile maps cannot loop: block maps have fixed depth, extent trees must
//! strictly descend in depth, and no indirect or tree block may be visited
//! twice. The map blocks themselves are returned too, so that the reader can
//! refuse blocks claimed twice (cross-linked files, a map naming itself).

use std::collections::HashSet;

use super::error::{ReadError, Result};
use super::inode::RawInode;
use super::source::{Image, le16, le32};

/// Consecutive file blocks stored in consecutive disk blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// First file (logical) block.
    pub logical: u64,
    /// First disk (physical) block.
    pub physical: u64,
    /// Number of blocks.
    pub len: u64,
}

/// What the mapper needs from the filesystem.
pub struct MapCtx<'a> {
    /// The image.
    pub img: &'a Image,
    /// Block size in bytes.
    pub block_size: u32,
    /// Filesystem size in blocks.
    pub blocks_count: u64,
}

const EXTENT_MAGIC: u16 = 0xF30A;

/// The state of one block-map walk.
struct Walk<'a> {
    /// Blocks the file's size covers.
    nblocks: u64,
    /// Indirect blocks we may still read.
    budget: &'a mut u64,
    /// Indirect blocks read so far.
    seen: &'a mut HashSet<u64>,
}
/// The kernel never builds deeper trees than this.
const MAX_EXTENT_DEPTH: u16 = 5;

impl MapCtx<'_> {
    fn check(&self, ino: u32, what: &str, block: u64, len: u64) -> Result<()> {
        if block.checked_add(len).is_none_or(|e| e > self.blocks_count) {
            return Err(ReadError::BlockOutOfRange {
                what: format!("inode {ino} {what}"),
                block,
                blocks: self.blocks_count,
            });
        }
        Ok(())
    }

    fn read_block(&self, ino: u32, what: &str, block: u64) -> Result<Vec<u8>> {
        self.check(ino, what, block, 1)?;
        self.img.read_vec(
            || format!("inode {ino} {what} block {block}"),
            block * u64::from(self.block_size),
            self.block_size as usize,
        )
    }

    /// The largest file the inode's mapping can address, in bytes: 2^32
    /// blocks with extents, the direct and three indirect levels without.
    pub fn max_size(&self, inode: &RawInode) -> u64 {
        let bs = u64::from(self.block_size);
        let blocks = if inode.flags & super::inode::FLAG_EXTENTS != 0 {
            1u64 << 32
        } else {
            let per = bs / 4;
            12 + per + per * per + per * per * per
        };
        blocks * bs
    }

    /// The runs of an inode's data, sorted by logical block, covering at
    /// most the blocks `size` needs; and the blocks of the map itself
    /// (indirect blocks, extent tree nodes).
    pub fn runs(&self, inode: &RawInode, size: u64) -> Result<(Vec<Run>, Vec<u64>)> {
        if size > self.max_size(inode) {
            return Err(ReadError::BadInode {
                ino: inode.ino,
                msg: format!(
                    "i_size {size} is more than its block map can address ({} bytes)",
                    self.max_size(inode)
                ),
            });
        }
        let nblocks = size.div_ceil(u64::from(self.block_size));
        let mut seen = HashSet::new();
        let mut runs = if inode.flags & super::inode::FLAG_EXTENTS != 0 {
            let mut out = Vec::new();
            self.extent_node(inode.ino, &inode.block, None, &mut seen, &mut out)?;
            out.sort_by_key(|r| r.logical);
            for w in out.windows(2) {
                if w[0].logical + w[0].len > w[1].logical {
                    return Err(ReadError::BadInode {
                        ino: inode.ino,
                        msg: format!("extents overlap at logical block {}", w[1].logical),
                    });
                }
            }
            out
        } else {
            self.block_map(inode, nblocks, &mut seen)?
        };
        // Blocks past i_size (preallocated) are not file data.
        runs.retain_mut(|r| {
            if r.logical >= nblocks {
                return false;
            }
            r.len = r.len.min(nblocks - r.logical);
            true
        });
        let mut meta: Vec<u64> = seen.into_iter().collect();
        meta.sort_unstable();
        Ok((runs, meta))
    }

    fn extent_node(
        &self,
        ino: u32,
        node: &[u8],
        want_depth: Option<u16>,
        seen: &mut HashSet<u64>,
        out: &mut Vec<Run>,
    ) -> Result<()> {
        let bad = |msg: String| ReadError::BadInode { ino, msg };
        if le16(node, 0) != EXTENT_MAGIC {
            return Err(bad(format!(
                "extent header magic {:#06x}, expected 0xf30a",
                le16(node, 0)
            )));
        }
        let entries = usize::from(le16(node, 2));
        let depth = le16(node, 6);
        if 12 + entries * 12 > node.len() {
            return Err(bad(format!(
                "extent node claims {entries} entries, room for {}",
                node.len() / 12 - 1
            )));
        }
        if depth > MAX_EXTENT_DEPTH || want_depth.is_some_and(|w| w != depth) {
            return Err(bad(format!(
                "extent node depth {depth}, expected {}",
                want_depth.map_or("at most 5".to_string(), |w| w.to_string())
            )));
        }
        for i in 0..entries {
            let e = &node[12 + i * 12..24 + i * 12];
            let logical = u64::from(le32(e, 0));
            if depth == 0 {
                let raw_len = le16(e, 4);
                let physical = u64::from(le32(e, 8)) | u64::from(le16(e, 6)) << 32;
                // Lengths above 32768 mark unwritten extents: they read as
                // zeros, so they are holes for us.
                if raw_len > 32768 || raw_len == 0 {
                    continue;
                }
                let len = u64::from(raw_len);
                self.check(ino, "extent", physical, len)?;
                out.push(Run {
                    logical,
                    physical,
                    len,
                });
            } else {
                let child = u64::from(le32(e, 4)) | u64::from(le16(e, 8)) << 32;
                if !seen.insert(child) {
                    return Err(bad(format!(
                        "extent tree block {child} is referenced twice (loop)"
                    )));
                }
                let data = self.read_block(ino, "extent tree", child)?;
                self.extent_node(ino, &data, Some(depth - 1), seen, out)?;
            }
        }
        Ok(())
    }

    fn block_map(
        &self,
        inode: &RawInode,
        nblocks: u64,
        seen: &mut HashSet<u64>,
    ) -> Result<Vec<Run>> {
        let mut out: Vec<Run> = Vec::new();
        let per = u64::from(self.block_size / 4);
        let mut mapped = 0u64;
        let limit = self.blocks_count;
        let ino = inode.ino;
        // A file cannot own more blocks than the filesystem has; a map that
        // says so reuses blocks and could take forever to walk.
        let mut push = |logical: u64, physical: u64| -> Result<()> {
            mapped += 1;
            if mapped > limit {
                return Err(ReadError::BadInode {
                    ino,
                    msg: format!("block map maps more blocks than the filesystem's {limit}"),
                });
            }
            if let Some(last) = out.last_mut() {
                if last.logical + last.len == logical && last.physical + last.len == physical {
                    last.len += 1;
                    return Ok(());
                }
            }
            out.push(Run {
                logical,
                physical,
                len: 1,
            });
            Ok(())
        };
        for i in 0..12u64 {
            let b = u64::from(inode.block_word(i as usize));
            if i < nblocks && b != 0 {
                self.check(inode.ino, "direct block", b, 1)?;
                push(i, b)?;
            }
        }
        // Indirect blocks read, bounded like data blocks so that a map whose
        // pointers all name one block cannot make us read it a billion times.
        let mut budget = self.blocks_count;
        let mut start = 12u64;
        for (level, slot) in [(1u32, 12usize), (2, 13), (3, 14)] {
            let span = per.pow(level);
            let b = u64::from(inode.block_word(slot));
            if start < nblocks && b != 0 {
                let mut walk = Walk {
                    nblocks,
                    budget: &mut budget,
                    seen,
                };
                self.indirect(inode.ino, b, level, start, &mut walk, &mut push)?;
            }
            start = start.saturating_add(span);
        }
        Ok(out)
    }

    fn indirect(
        &self,
        ino: u32,
        block: u64,
        level: u32,
        start: u64,
        walk: &mut Walk<'_>,
        push: &mut impl FnMut(u64, u64) -> Result<()>,
    ) -> Result<()> {
        if *walk.budget == 0 {
            return Err(ReadError::BadInode {
                ino,
                msg: "block map reads more indirect blocks than the filesystem has".into(),
            });
        }
        *walk.budget -= 1;
        if !walk.seen.insert(block) {
            return Err(ReadError::BadInode {
                ino,
                msg: format!("indirect block {block} is referenced twice (a loop)"),
            });
        }
        let data = self.read_block(ino, "indirect", block)?;
        let per = u64::from(self.block_size / 4);
        let span = per.pow(level - 1);
        for i in 0..per {
            let logical = start + i * span;
            if logical >= walk.nblocks {
                break;
            }
            let b = u64::from(le32(&data, (i * 4) as usize));
            if b == 0 {
                continue;
            }
            if level == 1 {
                self.check(ino, "data block", b, 1)?;
                push(logical, b)?;
            } else {
                self.indirect(ino, b, level - 1, logical, walk, push)?;
            }
        }
        Ok(())
    }
}
