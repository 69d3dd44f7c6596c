//! Turn a [`Plan`] into bytes: data, inode tables, bitmaps, group
//! descriptors and superblocks (primary and backups).

use super::geometry::INODE_SIZE;
use super::plan::Plan;
use super::{BuildError, BuildOptions, FsType, Report};
use crate::disk::group::{BG_INODE_ZEROED, GroupDesc};
use crate::disk::inode::{FIRST_INO, JOURNAL_INO};
use crate::disk::superblock::{self as sb, Superblock};
use crate::disk::{crc32c, xattr};
use crate::sink::BlockSink;
use fstree::{Kind, Tree};

const COPY_CHUNK: usize = 1 << 20;

pub fn write(
    tree: &Tree,
    opts: &BuildOptions,
    p: &Plan,
    out: &mut dyn BlockSink,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, BuildError> {
    let geo = &p.geo;
    let bs = geo.bs;
    let ext4 = opts.fs_type == FsType::Ext4;
    let csum_seed = crc32c(!0, &opts.uuid);
    out.set_len(geo.blocks * bs)?;

    for (b, data) in &p.blocks {
        out.write_at(b * bs, data)?;
    }
    for (b, data) in &p.xattr_blocks {
        let mut data = data.clone();
        if ext4 {
            xattr::seal_block(&mut data, csum_seed, *b);
        }
        out.write_at(b * bs, &data)?;
    }
    copy_files(tree, p, out, progress)?;

    // Inode tables: inodes 1..=last_ino are in use (reserved ones zeroed).
    let ipg = u64::from(geo.ipg);
    let mut tables: Vec<Vec<u8>> = (0..geo.groups)
        .map(|g| {
            let used = u64::from(p.last_ino)
                .saturating_sub(u64::from(g) * ipg)
                .min(ipg);
            vec![0u8; (used * INODE_SIZE) as usize]
        })
        .collect();
    let ibody: std::collections::HashMap<u32, &Vec<u8>> =
        p.ibody.iter().map(|(n, b)| (*n, b)).collect();
    for (nr, ino) in &p.inodes {
        let idx = u64::from(nr - 1);
        let (g, i) = ((idx / ipg) as usize, (idx % ipg * INODE_SIZE) as usize);
        let mut raw = ino.encode(INODE_SIZE as usize);
        if let Some(body) = ibody.get(nr) {
            raw[INODE_SIZE as usize - body.len()..].copy_from_slice(body);
        }
        if ext4 {
            crate::disk::Inode::seal(&mut raw, csum_seed, *nr);
        }
        tables[g][i..i + INODE_SIZE as usize].copy_from_slice(&raw);
    }

    let mut descs = Vec::with_capacity(geo.groups as usize);
    let (mut free_blocks, mut free_inodes) = (0u64, 0u64);
    for g in 0..geo.groups {
        let len = geo.group_len(g);
        let used_blocks = geo.meta_blocks(g) + p.alloc.used_in(g);
        let mut bbm = vec![0u8; bs as usize];
        set_bits(&mut bbm, 0, used_blocks);
        set_bits(&mut bbm, len, geo.bpg);
        let used_inodes = (tables[g as usize].len() as u64) / INODE_SIZE;
        let mut ibm = vec![0u8; bs as usize];
        set_bits(&mut ibm, 0, used_inodes);
        set_bits(&mut ibm, ipg, 8 * bs);
        let bb = geo.block_bitmap(g);
        out.write_at(bb * bs, &bbm)?;
        out.write_at((bb + 1) * bs, &ibm)?;
        if !tables[g as usize].is_empty() {
            out.write_at((bb + 2) * bs, &tables[g as usize])?;
        }
        let fb = len - used_blocks;
        let fi = ipg - used_inodes;
        free_blocks += fb;
        free_inodes += fi;
        let mut d = GroupDesc {
            block_bitmap: bb,
            inode_bitmap: bb + 1,
            inode_table: bb + 2,
            free_blocks_count: fb as u32,
            free_inodes_count: fi as u32,
            used_dirs_count: p.dirs_per_group[g as usize],
            ..Default::default()
        };
        if ext4 {
            d.flags = BG_INODE_ZEROED;
            d.itable_unused = fi as u32;
            d.block_bitmap_csum = crc32c(csum_seed, &bbm[..(geo.bpg / 8) as usize]) & 0xFFFF;
            d.inode_bitmap_csum = crc32c(csum_seed, &ibm[..(ipg / 8) as usize]) & 0xFFFF;
            descs.extend(d.seal(32, g, &opts.uuid, true));
        } else {
            descs.extend(d.encode(32));
        }
    }

    let mut s = superblock(opts, p, free_blocks, free_inodes);
    for g in (0..geo.groups).filter(|&g| super::has_super(g)) {
        s.block_group_nr = g as u16;
        let start = geo.group_start(g);
        let at = if g == 0 { 1024 } else { start * bs };
        out.write_at(at, &s.encode())?;
        out.write_at((start + 1) * bs, &descs)?;
    }
    Ok(Report {
        size_bytes: geo.blocks * bs,
        block_size: bs as u32,
        blocks: geo.blocks,
        used_blocks: geo.blocks - free_blocks,
        inodes: geo.inodes(),
        used_inodes: p.last_ino,
    })
}

fn superblock(opts: &BuildOptions, p: &Plan, free_blocks: u64, free_inodes: u64) -> Superblock {
    let geo = &p.geo;
    let t = opts.epoch.clamp(0, i64::from(u32::MAX)) as u32;
    let mut s = Superblock {
        inodes_count: geo.inodes(),
        blocks_count: geo.blocks,
        r_blocks_count: geo.blocks * u64::from(opts.reserved_percent) / 100,
        free_blocks_count: free_blocks,
        free_inodes_count: free_inodes as u32,
        first_data_block: geo.fdb as u32,
        log_block_size: (geo.bs / 1024).trailing_zeros(),
        log_cluster_size: (geo.bs / 1024).trailing_zeros(),
        blocks_per_group: geo.bpg as u32,
        clusters_per_group: geo.bpg as u32,
        inodes_per_group: geo.ipg,
        wtime: t,
        max_mnt_count: u16::MAX,
        state: 1,
        errors: 1,
        lastcheck: t,
        rev_level: 1,
        first_ino: FIRST_INO,
        inode_size: INODE_SIZE as u16,
        feature_compat: sb::COMPAT_EXT_ATTR,
        feature_incompat: sb::INCOMPAT_FILETYPE,
        feature_ro_compat: sb::RO_COMPAT_SPARSE_SUPER | sb::RO_COMPAT_LARGE_FILE,
        uuid: opts.uuid,
        hash_seed: opts.hash_seed,
        def_hash_version: 1,
        mkfs_time: t,
        min_extra_isize: 32,
        want_extra_isize: 32,
        flags: 1,
        ..Default::default()
    };
    s.volume_name[..opts.label.len()].copy_from_slice(&opts.label);
    if let Some((i_block, jb)) = p.journal {
        s.feature_compat |= sb::COMPAT_HAS_JOURNAL;
        s.journal_inum = JOURNAL_INO;
        s.jnl_backup_type = 1;
        for (i, w) in i_block.chunks(4).enumerate() {
            s.jnl_blocks[i] = u32::from_le_bytes(w.try_into().expect("4"));
        }
        let size = jb * geo.bs;
        s.jnl_blocks[15] = (size >> 32) as u32;
        s.jnl_blocks[16] = size as u32;
    }
    if opts.fs_type == FsType::Ext4 {
        s.feature_incompat |= sb::INCOMPAT_EXTENTS | sb::INCOMPAT_FLEX_BG;
        s.feature_ro_compat |= sb::RO_COMPAT_HUGE_FILE
            | sb::RO_COMPAT_DIR_NLINK
            | sb::RO_COMPAT_EXTRA_ISIZE
            | sb::RO_COMPAT_METADATA_CSUM;
        s.log_groups_per_flex = 4;
        s.checksum_type = 1;
        s.default_mount_opts = 0x000C; // user_xattr, acl
    }
    s
}

/// Set bits `from..to` of a bitmap.
fn set_bits(b: &mut [u8], from: u64, to: u64) {
    for i in from..to.min(8 * b.len() as u64) {
        b[(i / 8) as usize] |= 1 << (i % 8);
    }
}

/// Stream every regular file's data ranges into its blocks.
fn copy_files(
    tree: &Tree,
    p: &Plan,
    out: &mut dyn BlockSink,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), BuildError> {
    let bs = p.geo.bs;
    let mut buf = vec![0u8; COPY_CHUNK];
    let total: u64 = p.files.iter().flat_map(|f| &f.2).map(|r| r.len * bs).sum();
    let mut done = 0u64;
    progress(0, total);
    for (id, path, runs) in &p.files {
        let Kind::File(c) = &tree.inode(*id).kind else {
            continue;
        };
        let src = c.source();
        let read_err = |e| BuildError::Read {
            path: path.clone(),
            source: e,
        };
        let ranges = src.data_ranges().map_err(read_err)?;
        for (off, len) in ranges {
            let end = off + len;
            let mut pos = off;
            while pos < end {
                let lb = pos / bs;
                // Runs are sorted by logical block: a search, not a scan,
                // keeps a file of a million fragments linear.
                let i = runs.partition_point(|r| r.logical + r.len <= lb);
                let r =
                    runs.get(i)
                        .filter(|r| r.logical <= lb)
                        .ok_or_else(|| BuildError::Read {
                            path: path.clone(),
                            source: std::io::Error::other("data ranges changed while building"),
                        })?;
                let run_end = (r.logical + r.len) * bs;
                let phys = r.phys * bs + (pos - r.logical * bs);
                if let Some(f) = src.host_file() {
                    // A host file: copied file to file in the kernel.
                    let n = end.min(run_end) - pos;
                    out.copy_from(phys, &f, pos, n).map_err(read_err)?;
                    pos += n;
                    done += n;
                    progress(done.min(total), total);
                    continue;
                }
                let n = (end.min(run_end) - pos).min(COPY_CHUNK as u64) as usize;
                let mut got = 0;
                while got < n {
                    let k = src
                        .read_at(pos + got as u64, &mut buf[got..n])
                        .map_err(read_err)?;
                    if k == 0 {
                        return Err(BuildError::Read {
                            path: path.clone(),
                            source: std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                "file shorter than its length",
                            ),
                        });
                    }
                    got += k;
                }
                out.write_at(phys, &buf[..n])?;
                pos += n as u64;
                done += n as u64;
                progress(done.min(total), total);
            }
        }
    }
    // Partial last blocks count in the total; finish at 100 %.
    progress(total, total);
    Ok(())
}
