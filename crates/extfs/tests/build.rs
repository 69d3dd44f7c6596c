//! Build every fixture tree as ext2, ext3 and ext4 and check the result
//! with e2fsprogs: `e2fsck -fn` clean, and debugfs reading back exactly
//! the owners, modes, times, link counts, xattrs and contents of the tree.

mod common;
use common::*;
use extfs::build::FsType;
use fstree::Tree;

const TYPES: [FsType; 3] = [FsType::Ext2, FsType::Ext3, FsType::Ext4];

fn check_all(name: &str, tree: &Tree, sizes: &[u32], limit: usize) {
    let d = scratch();
    for ty in TYPES {
        for &bs in sizes {
            let img = d.path().join(format!("{name}-{ty:?}-{bs}.img"));
            build_to(tree, &opts(ty, bs), &img);
            fsck_clean(&img);
            check_tree(&img, tree, d.path(), limit);
        }
    }
}

#[test]
fn empty_tree_is_clean_in_every_type() {
    check_all("empty", &empty(), &[1024, 4096], usize::MAX);
}

#[test]
fn busybox_rootfs_reads_back_exactly() {
    check_all("busybox", &busybox(), &[1024, 2048, 4096], usize::MAX);
}

#[test]
fn every_file_kind_reads_back_exactly() {
    check_all("kinds", &every_kind(), &[1024, 2048, 4096], usize::MAX);
}

#[test]
fn hard_links_share_one_inode_with_the_right_count() {
    check_all("links", &hard_links(), &[4096], usize::MAX);
    let d = scratch();
    let img = d.path().join("l.img");
    build_to(&hard_links(), &opts(FsType::Ext4, 4096), &img);
    let a = debugfs(&img, "stat /a/one");
    let b = debugfs(&img, "stat /b/three");
    assert_eq!(
        a.split_whitespace().nth(1),
        b.split_whitespace().nth(1),
        "same inode number"
    );
}

#[test]
fn xattrs_and_acls_read_back_exactly() {
    check_all("xattr", &with_xattrs(), &[1024, 4096], usize::MAX);
}

#[test]
fn ten_thousand_entry_directory_is_clean() {
    check_all("bigdir", &big_dir(), &[4096], 40);
    let d = scratch();
    let img = d.path().join("b.img");
    build_to(&big_dir(), &opts(FsType::Ext4, 1024), &img);
    fsck_clean(&img);
    let ls = debugfs(&img, "ls /many");
    assert_eq!(ls.matches("entry-with-a-longish-name-").count(), 10_000);
}

/// The 5 GiB file keeps its holes (few blocks used) and its data at the
/// right offsets, found through debugfs's own `bmap` of our block map or
/// extent tree.
#[test]
fn five_gib_sparse_file_keeps_holes_and_data() {
    let d = scratch();
    let tree = sparse5g();
    for ty in TYPES {
        for bs in [1024u32, 2048, 4096] {
            let img = d.path().join(format!("sparse-{ty:?}-{bs}.img"));
            let report = build_to(&tree, &opts(ty, bs), &img);
            assert!(
                report.size_bytes < 64 << 20,
                "{ty:?}: image {} bytes",
                report.size_bytes
            );
            fsck_clean(&img);
            check_tree(&img, &tree, d.path(), usize::MAX);
            let raw = std::fs::read(&img).unwrap();
            for (off, want) in [
                (0u64, &b"head"[..]),
                (3 << 30, b"middle"),
                (FIVE_GIB - 4, b"tail"),
            ] {
                let lb = off / u64::from(bs);
                let out = debugfs(&img, &format!("bmap /sparse {lb}"));
                let pb: u64 = out.trim().parse().unwrap_or_else(|_| panic!("bmap: {out}"));
                let at = (pb * u64::from(bs) + off % u64::from(bs)) as usize;
                assert_eq!(&raw[at..at + want.len()], want, "{ty:?} {bs} at {off}");
            }
            let hole = debugfs(
                &img,
                &format!("bmap /sparse {}", (1u64 << 30) / u64::from(bs)),
            );
            assert_eq!(hole.trim(), "0", "a hole stays unmapped");
        }
    }
}

/// 2000 data islands force an extent tree of depth 2 with 1 KiB blocks
/// (84 entries per node) and double indirect blocks on ext2/ext3.
#[test]
fn fragmented_file_needs_deep_extent_trees_and_indirect_blocks() {
    let mut t = empty();
    let data = (0..2000u64)
        .map(|i| (i * 8192 + 100, format!("island {i}").into_bytes()))
        .collect();
    let s = fstree::Sparse {
        len: 2000 * 8192,
        data,
    };
    put(
        &mut t,
        "islands",
        fstree::Kind::File(fstree::Content::new(s)),
        meta(0o644, 0, 0, 1_650_000_000),
    );
    check_all("islands", &t, &[1024, 4096], usize::MAX);
    let d = scratch();
    let img = d.path().join("i.img");
    build_to(&t, &opts(FsType::Ext4, 1024), &img);
    let st = debugfs(&img, "stat /islands");
    assert!(
        st.contains("Blockcount: 4050"),
        "2000 data + 25 tree blocks of 1 KiB:\n{st}"
    );
    let ex = debugfs(&img, "ex /islands");
    assert!(
        ex.contains(" 0/ 2   1/  1 ") && ex.contains(" 1/ 2   1/ 24 "),
        "depth 2, 24 leaves:\n{ex}"
    );
}

/// On ext4 small attribute sets live in the inode (no xattr block), big
/// ones in a block; e2fsck and debugfs accept both.
#[test]
fn ext4_keeps_small_xattrs_in_the_inode() {
    let d = scratch();
    let img = d.path().join("x.img");
    build_to(&with_xattrs(), &opts(FsType::Ext4, 4096), &img);
    fsck_clean(&img);
    assert!(debugfs(&img, "stat /labelled").contains("File ACL: 0"));
    assert!(!debugfs(&img, "stat /big").contains("File ACL: 0"));
}
