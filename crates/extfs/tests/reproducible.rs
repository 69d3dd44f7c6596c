//! Same tree and options give the same bytes; a different
//! `SOURCE_DATE_EPOCH` changes only the time fields it feeds.

mod common;
use common::*;
use extfs::build::{FsType, Size, build};
use extfs::disk::Superblock;

fn image(tree: &fstree::Tree, ty: FsType, epoch: i64) -> Vec<u8> {
    let mut o = opts(ty, 4096);
    o.epoch = epoch;
    o.size = Size::Bytes(64 << 20);
    let mut v = Vec::new();
    build(tree, &o, &mut v).unwrap();
    v
}

#[test]
fn two_builds_are_byte_identical() {
    for ty in [FsType::Ext2, FsType::Ext3, FsType::Ext4] {
        let t = busybox();
        assert!(image(&t, ty, EPOCH) == image(&t, ty, EPOCH), "{ty:?}");
    }
}

/// Builds at two epochs differ only inside the superblock time fields,
/// inode ctime/crtime/atime words and the checksums covering them.
#[test]
fn epoch_changes_only_time_fields() {
    for ty in [FsType::Ext2, FsType::Ext3, FsType::Ext4] {
        let t = every_kind();
        let a = image(&t, ty, EPOCH);
        let b = image(&t, ty, EPOCH + 1000);
        assert_eq!(a.len(), b.len());
        let sa = Superblock::decode(&a[1024..2048]).unwrap();
        let sb = Superblock::decode(&b[1024..2048]).unwrap();
        assert_eq!(sb.mkfs_time - sa.mkfs_time, 1000);
        let bs = sa.block_size() as usize;
        // The inode table of group 0 (from the group descriptor at block 1).
        let itable = u32::from_le_bytes(a[bs + 8..bs + 12].try_into().unwrap()) as usize * bs;
        let itable_end = itable + sa.inodes_per_group as usize * 256;
        let sb_times = [0x2C..0x34, 0x40..0x44, 0x108..0x10C, 0x3FC..0x400];
        // Inode fields fed by the epoch: ctime, crtime (+extras), atime when
        // the tree has none, and the checksum halves.
        let inode_times = [0x08..0x10, 0x7C..0x7E, 0x82..0x88, 0x8C..0x98];
        let mut diffs = 0;
        for i in 0..a.len() {
            if a[i] == b[i] {
                continue;
            }
            diffs += 1;
            let in_sb =
                (1024..2048).contains(&i) && sb_times.iter().any(|r| r.contains(&(i - 1024)));
            // The journal (8) and the added lost+found (11) are not in the
            // tree, so their mtime comes from the epoch too.
            let ino = (i.wrapping_sub(itable)) / 256 + 1;
            let off = (i.wrapping_sub(itable)) % 256;
            let ours = [0x10..0x14, 0x88..0x8C];
            let in_inode = (itable..itable_end).contains(&i)
                && (inode_times.iter().any(|r| r.contains(&off))
                    || (ino == 8 || ino == 11) && ours.iter().any(|r| r.contains(&off)));
            assert!(
                in_sb || in_inode,
                "{ty:?}: byte {i:#x} changed (itable at {itable:#x})"
            );
        }
        assert!(diffs > 0);
    }
}
