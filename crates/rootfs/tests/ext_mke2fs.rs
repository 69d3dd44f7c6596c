//! Acceptance 2: images written by the real `mke2fs -d` (ext2, ext3, ext4;
//! 1 KiB and 4 KiB blocks; 128- and 256-byte inodes) read back through our
//! ext loader into the same tree the directory loader sees in the source.

mod common;

use common::{assert_same_tree, make_fixture, mke2fs};
use fstree::{Kind, NamePath};

#[test]
fn mke2fs_images_read_back_equal_to_their_source_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    make_fixture(&src);
    let img = tmp.path().join("fs.img");
    for (fs_type, block, isize) in [
        ("ext2", 1024, 128),
        ("ext2", 4096, 256),
        ("ext3", 1024, 256),
        ("ext3", 4096, 128),
        ("ext4", 1024, 256),
        ("ext4", 4096, 256),
    ] {
        mke2fs(&src, &img, fs_type, block, isize);
        // Load the source after mke2fs: reading it may have moved atimes,
        // which we do not compare, and nothing else.
        let want = rootfs::load_dir(&src).unwrap();
        let mut got = rootfs::load(&img).unwrap();
        let what = format!("{fs_type} -b {block} -I {isize}");
        // mke2fs adds lost+found; the source has none.
        let lf = got
            .lookup(&NamePath::parse("lost+found").unwrap())
            .expect("lost+found");
        assert!(got.inode(lf).kind.is_dir());
        got.unlink(fstree::ROOT, b"lost+found");
        // mke2fs 1.47.0 drops nanoseconds; those are checked below.
        assert_same_tree(&want, &got, false, &what);

        // The sparse file keeps its holes: only the ten islands are data.
        let id = got.lookup(&NamePath::parse("sparse").unwrap()).unwrap();
        let Kind::File(c) = &got.inode(id).kind else {
            panic!("{what}: sparse not a file")
        };
        let data: u64 = c.source().data_ranges().unwrap().iter().map(|r| r.1).sum();
        assert!(
            data <= 10 * 3 * u64::from(block).max(8192),
            "{what}: {data} data bytes"
        );
        assert!(data >= 10 * 5000, "{what}: {data} data bytes");
        // 256-byte inodes carry nanoseconds and a creation time: set them
        // with debugfs and check every time against what debugfs shows.
        if isize == 256 {
            let i = img.to_str().unwrap();
            for (field, v) in [
                ("mtime_extra", 123_456_789u32 << 2 | 1),
                ("crtime_extra", 42 << 2),
            ] {
                common::run(
                    "debugfs",
                    &["-w", "-R", &format!("sif /etc/hostname {field} {v}"), i],
                );
            }
        }
        let got = rootfs::load(&img).unwrap();
        let hn = got
            .lookup(&NamePath::parse("etc/hostname").unwrap())
            .unwrap();
        let m = &got.inode(hn).meta;
        assert_eq!(m.crtime.is_some(), isize == 256, "{what}: crtime");
        let shown = common::debugfs_times(&img, "/etc/hostname");
        assert_eq!(
            shown.len(),
            if isize == 256 { 4 } else { 3 },
            "{what}: {shown:?}"
        );
        for (name, secs, nanos) in shown {
            let ours = match name.as_str() {
                "ctime" => m.ctime.unwrap(),
                "atime" => m.atime.unwrap(),
                "mtime" => m.mtime,
                _ => m.crtime.unwrap(),
            };
            assert_eq!((ours.secs, ours.nanos), (secs, nanos), "{what}: {name}");
        }
        if isize == 256 {
            // Epoch bits extend the seconds past 2038.
            assert_eq!(m.mtime.nanos, 123_456_789, "{what}: mtime nanos");
            assert_eq!(
                m.mtime.secs,
                1_600_000_000 + (1 << 32),
                "{what}: mtime epoch"
            );
        }
    }
}
