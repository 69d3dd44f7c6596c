//! How an inode finds its blocks: an extent tree (ext4) or the classic
//! direct/indirect block map (ext2/ext3). Both take the file's runs
//! `(logical, physical, len)` and return `i_block` plus the tree blocks.

use super::BuildError;
use super::geometry::Allocator;
use crate::disk::extent::{self, Extent, ExtentHeader, ExtentIndex};
use std::collections::BTreeMap;

/// A mapped inode: its `i_block`, the blocks holding the map itself
/// (physical block, contents) and how many there are.
pub struct Mapped {
    /// The 60-byte `i_block` area.
    pub i_block: [u8; 60],
    /// Tree / indirect blocks to write.
    pub blocks: Vec<(u64, Vec<u8>)>,
}

/// A contiguous piece of a file: `len` blocks from logical `logical` at `phys`.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    /// First logical block.
    pub logical: u64,
    /// First physical block.
    pub phys: u64,
    /// Length in blocks.
    pub len: u64,
}

/// Build an extent tree of minimal depth; `seed` is the inode's checksum
/// seed (`None` without `metadata_csum`).
pub fn extents(
    runs: &[Run],
    bs: usize,
    alloc: &mut Allocator,
    seed: Option<u32>,
) -> Result<Mapped, BuildError> {
    let mut exts = Vec::new();
    for r in runs {
        let mut done = 0;
        while done < r.len {
            let len = (r.len - done).min(u64::from(extent::MAX_LEN));
            exts.push((
                r.logical + done,
                Extent {
                    block: (r.logical + done) as u32,
                    len: len as u16,
                    start: r.phys + done,
                },
            ));
            done += len;
        }
    }
    let per = extent::entries_per_block(bs);
    let mut blocks = Vec::new();
    // Each level: (first logical block, 12-byte entry) pairs.
    let mut level: Vec<(u64, [u8; 12])> = exts
        .iter()
        .map(|(l, e)| {
            let mut b = [0u8; 12];
            e.encode(&mut b);
            (*l, b)
        })
        .collect();
    let mut depth = 0u16;
    while level.len() > 4 {
        let nodes = level.len().div_ceil(per);
        let phys = alloc.alloc_list(nodes as u64)?;
        let mut up = Vec::with_capacity(nodes);
        for (chunk, &p) in level.chunks(per).zip(&phys) {
            let mut b = vec![0u8; bs];
            ExtentHeader {
                entries: chunk.len() as u16,
                max: per as u16,
                depth,
            }
            .encode(&mut b);
            for (i, (_, e)) in chunk.iter().enumerate() {
                b[12 + 12 * i..24 + 12 * i].copy_from_slice(e);
            }
            if let Some(s) = seed {
                extent::seal_block(&mut b, s);
            }
            blocks.push((p, b));
            let mut e = [0u8; 12];
            ExtentIndex {
                block: chunk[0].0 as u32,
                leaf: p,
            }
            .encode(&mut e);
            up.push((chunk[0].0, e));
        }
        level = up;
        depth += 1;
    }
    let mut i_block = [0u8; 60];
    ExtentHeader {
        entries: level.len() as u16,
        max: 4,
        depth,
    }
    .encode(&mut i_block);
    for (i, (_, e)) in level.iter().enumerate() {
        i_block[12 + 12 * i..24 + 12 * i].copy_from_slice(e);
    }
    Ok(Mapped { i_block, blocks })
}

/// Highest logical block a block map can address, plus one.
pub fn block_map_limit(bs: u64) -> u64 {
    let a = bs / 4;
    12 + a + a * a + a * a * a
}

/// Build a direct/indirect block map. Holes stay zero pointers and need no
/// indirect block unless something below them is mapped.
pub fn block_map(runs: &[Run], bs: usize, alloc: &mut Allocator) -> Result<Mapped, BuildError> {
    let apb = (bs / 4) as u64;
    let mut i_block = [0u8; 60];
    // Node key: (tier 1..=3, level 1..=tier, node number); value: pointers.
    let mut nodes: BTreeMap<(u8, u8, u64), Vec<u32>> = BTreeMap::new();
    let mut leaf_ptrs: Vec<((u8, u8, u64), usize, u32)> = Vec::new();
    for r in runs {
        for i in 0..r.len {
            let l = r.logical + i;
            let p = (r.phys + i) as u32;
            if l < 12 {
                i_block[4 * l as usize..4 * l as usize + 4].copy_from_slice(&p.to_le_bytes());
                continue;
            }
            let (tier, x) = tier_of(l - 12, apb);
            for d in 1..=tier {
                let node = x / apb.pow(u32::from(tier - d + 1));
                nodes
                    .entry((tier, d, node))
                    .or_insert_with(|| vec![0; apb as usize]);
            }
            leaf_ptrs.push(((tier, tier, x / apb), (x % apb) as usize, p));
        }
    }
    let phys: BTreeMap<_, u64> = nodes
        .keys()
        .copied()
        .zip(alloc.alloc_list(nodes.len() as u64)?)
        .collect();
    for (key, slot, p) in leaf_ptrs {
        nodes.get_mut(&key).expect("node made above")[slot] = p;
    }
    for (&(tier, d, node), &p) in &phys {
        if d == 1 {
            let o = 4 * (11 + tier as usize);
            i_block[o..o + 4].copy_from_slice(&(p as u32).to_le_bytes());
        } else {
            let parent = (tier, d - 1, node / apb);
            nodes.get_mut(&parent).expect("parents exist")[(node % apb) as usize] = p as u32;
        }
    }
    let blocks = nodes
        .into_iter()
        .map(|(k, ptrs)| {
            (
                phys[&k],
                ptrs.iter().flat_map(|p| p.to_le_bytes()).collect(),
            )
        })
        .collect();
    Ok(Mapped { i_block, blocks })
}

/// Which indirection tier maps block `l` (counted past the 12 direct ones),
/// and its offset within that tier.
fn tier_of(l: u64, apb: u64) -> (u8, u64) {
    if l < apb {
        (1, l)
    } else if l - apb < apb * apb {
        (2, l - apb)
    } else {
        (3, l - apb - apb * apb)
    }
}
