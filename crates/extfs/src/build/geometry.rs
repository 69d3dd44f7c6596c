//! Where every group's metadata sits: superblock and descriptor backups
//! (`sparse_super`), bitmaps, inode table, then data.

use super::BuildError;

/// Bytes per on-disk inode (mke2fs's default for every ext type).
pub const INODE_SIZE: u64 = 256;
/// Bytes per group descriptor without `64bit`.
pub const DESC_SIZE: u64 = 32;

/// The shape of a volume.
#[derive(Clone, Debug)]
pub struct Geometry {
    /// Block size in bytes.
    pub bs: u64,
    /// Total blocks.
    pub blocks: u64,
    /// First data block (1 for 1 KiB blocks, else 0).
    pub fdb: u64,
    /// Blocks per group.
    pub bpg: u64,
    /// Number of groups.
    pub groups: u32,
    /// Inodes per group.
    pub ipg: u32,
    /// Blocks holding the group descriptor table.
    pub gdt_blocks: u64,
    /// Blocks of one group's inode table.
    pub itable_blocks: u64,
}

/// Is there a superblock backup in group `g` (0, 1 and powers of 3, 5, 7)?
pub fn has_super(g: u32) -> bool {
    if g <= 1 {
        return true;
    }
    [3u32, 5, 7].iter().any(|&p| {
        let mut x = g;
        while x.is_multiple_of(p) {
            x /= p;
        }
        x == 1
    })
}

impl Geometry {
    /// Lay out `blocks` blocks of `bs` bytes with room for at least
    /// `inodes` inodes. A last group too small for its own metadata is
    /// dropped, so `blocks` may come out smaller than asked.
    pub fn new(mut blocks: u64, bs: u64, inodes: u64) -> Result<Self, BuildError> {
        let fdb = u64::from(bs == 1024);
        let bpg = 8 * bs;
        let too_small = |blocks| BuildError::NoSpace {
            needed_blocks: None,
            have_blocks: blocks,
        };
        if blocks > u64::from(u32::MAX) {
            return Err(BuildError::Option(format!(
                "{blocks} blocks need 64-bit block numbers, which this builder does not write"
            )));
        }
        loop {
            if blocks <= fdb + 8 {
                return Err(too_small(blocks));
            }
            let groups = (blocks - fdb).div_ceil(bpg);
            let per_block = bs / INODE_SIZE;
            let align = per_block.max(8);
            let ipg = inodes.div_ceil(groups).div_ceil(align) * align;
            let ipg = ipg.max(align);
            if ipg > bpg || ipg > 65536 - align {
                // Too many inodes for this few groups: the volume is too small.
                return Err(too_small(blocks));
            }
            let geo = Geometry {
                bs,
                blocks,
                fdb,
                bpg,
                groups: groups as u32,
                ipg: ipg as u32,
                gdt_blocks: (groups * DESC_SIZE).div_ceil(bs),
                itable_blocks: ipg * INODE_SIZE / bs,
            };
            let last = geo.groups - 1;
            if geo.group_len(last) > geo.meta_blocks(last) {
                return Ok(geo);
            }
            if groups == 1 {
                return Err(too_small(blocks));
            }
            blocks -= geo.group_len(last);
        }
    }

    /// First block of group `g`.
    pub fn group_start(&self, g: u32) -> u64 {
        self.fdb + u64::from(g) * self.bpg
    }

    /// Blocks in group `g` (the last may be short).
    pub fn group_len(&self, g: u32) -> u64 {
        (self.blocks - self.group_start(g)).min(self.bpg)
    }

    /// Superblock + descriptor blocks at the start of group `g`.
    pub fn super_blocks(&self, g: u32) -> u64 {
        if has_super(g) { 1 + self.gdt_blocks } else { 0 }
    }

    /// Metadata blocks at the start of group `g`.
    pub fn meta_blocks(&self, g: u32) -> u64 {
        self.super_blocks(g) + 2 + self.itable_blocks
    }

    /// Block bitmap location of group `g` (inode bitmap follows, then the table).
    pub fn block_bitmap(&self, g: u32) -> u64 {
        self.group_start(g) + self.super_blocks(g)
    }

    /// First data block of group `g`.
    pub fn data_start(&self, g: u32) -> u64 {
        self.group_start(g) + self.meta_blocks(g)
    }

    /// Total inodes.
    pub fn inodes(&self) -> u32 {
        self.ipg * self.groups
    }

    /// Blocks left for data after all metadata.
    pub fn data_capacity(&self) -> u64 {
        (0..self.groups)
            .map(|g| self.group_len(g) - self.meta_blocks(g))
            .sum()
    }
}

/// Hands out data blocks in order, group by group, skipping metadata; the
/// used blocks of every group are therefore `data_start..cursor`.
#[derive(Clone, Debug)]
pub struct Allocator {
    geo: Geometry,
    group: u32,
    next: u64,
}

impl Allocator {
    /// Start at the first data block of group 0.
    pub fn new(geo: &Geometry) -> Self {
        Allocator {
            geo: geo.clone(),
            group: 0,
            next: geo.data_start(0),
        }
    }

    /// `n` blocks as physically contiguous runs `(start, len)`.
    pub fn alloc(&mut self, mut n: u64) -> Result<Vec<(u64, u64)>, BuildError> {
        let mut runs = Vec::new();
        while n > 0 {
            let end = self.geo.group_start(self.group) + self.geo.group_len(self.group);
            if self.next >= end {
                if self.group + 1 >= self.geo.groups {
                    return Err(BuildError::NoSpace {
                        needed_blocks: None,
                        have_blocks: self.geo.blocks,
                    });
                }
                self.group += 1;
                self.next = self.geo.data_start(self.group);
                continue;
            }
            let take = n.min(end - self.next);
            match runs.last_mut() {
                Some((s, l)) if *s + *l == self.next => *l += take,
                _ => runs.push((self.next, take)),
            }
            self.next += take;
            n -= take;
        }
        Ok(runs)
    }

    /// `n` blocks listed one by one.
    pub fn alloc_list(&mut self, n: u64) -> Result<Vec<u64>, BuildError> {
        Ok(self
            .alloc(n)?
            .into_iter()
            .flat_map(|(s, l)| s..s + l)
            .collect())
    }

    /// Data blocks used in group `g`.
    pub fn used_in(&self, g: u32) -> u64 {
        use std::cmp::Ordering::*;
        match g.cmp(&self.group) {
            Less => self.geo.group_len(g) - self.geo.meta_blocks(g),
            Equal => self.next - self.geo.data_start(g),
            Greater => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_super_groups_are_0_1_and_powers_of_3_5_7() {
        let got: Vec<u32> = (0..100).filter(|&g| has_super(g)).collect();
        assert_eq!(got, [0, 1, 3, 5, 7, 9, 25, 27, 49, 81]);
    }

    #[test]
    fn allocator_skips_group_metadata() {
        let geo = Geometry::new(3 * 8192 + 1, 1024, 64).unwrap();
        let mut a = Allocator::new(&geo);
        let cap = geo.data_capacity();
        let runs = a.alloc(cap).unwrap();
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[1].0, geo.data_start(1));
        assert!(a.alloc(1).is_err());
    }
}
