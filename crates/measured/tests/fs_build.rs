//! `measured fs build`: a tree from a directory or a tar archive becomes an
//! ext image that e2fsck passes and debugfs reads back, byte-identically
//! on every build.

use std::path::Path;
use std::process::Command;

fn measured(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_measured"))
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("running measured")
}

fn debugfs(img: &Path, req: &str) -> String {
    let o = Command::new("debugfs")
        .args(["-R", req])
        .arg(img)
        .output()
        .expect("debugfs (e2fsprogs) runs");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn fs_build_writes_clean_reproducible_images_from_a_dir_and_a_tar() {
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("tree");
    std::fs::create_dir_all(tree.join("etc/init.d")).unwrap();
    std::fs::write(tree.join("etc/inittab"), "::sysinit:/etc/init.d/rcS\n").unwrap();
    std::fs::write(tree.join("etc/init.d/rcS"), "#!/bin/sh\nmount -a\n").unwrap();
    std::os::unix::fs::symlink("inittab", tree.join("etc/link")).unwrap();
    let tar = d.path().join("tree.tar.gz");
    let t = Command::new("tar")
        .args(["-czf"])
        .arg(&tar)
        .args(["-C"])
        .arg(&tree)
        .arg(".")
        .status()
        .unwrap();
    assert!(t.success());
    for (src, ty) in [(&tree, "ext3"), (&tar, "ext4"), (&tree, "ext2")] {
        let a = d.path().join(format!("a-{ty}.img"));
        let b = d.path().join(format!("b-{ty}.img"));
        for img in [&a, &b] {
            let o = measured(&[
                "fs",
                "build",
                src.to_str().unwrap(),
                img.to_str().unwrap(),
                "--type",
                ty,
                "--size",
                "16M",
            ]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let fsck = Command::new("e2fsck").arg("-fn").arg(&a).output().unwrap();
        assert!(
            fsck.status.success(),
            "e2fsck on {ty}: {}",
            String::from_utf8_lossy(&fsck.stdout)
        );
        assert_eq!(std::fs::metadata(&a).unwrap().len(), 16 << 20);
        assert_eq!(debugfs(&a, "cat /etc/init.d/rcS"), "#!/bin/sh\nmount -a\n");
        assert!(debugfs(&a, "stat /etc/link").contains("Fast link dest: \"inittab\""));
        assert!(
            std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
            "{ty}: builds differ"
        );
    }
    // Too small a size is a clear error, and leaves no output behind.
    let small = d.path().join("small.img");
    let o = measured(&[
        "fs",
        "build",
        tree.to_str().unwrap(),
        small.to_str().unwrap(),
        "--size",
        "64K",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!small.exists());
}

/// An extent tree whose leaf block claims to be an index pointing at itself
/// would loop forever in a naive reader; ours must refuse it, quickly.
#[test]
fn an_extent_tree_that_loops_is_an_error_not_a_hang() {
    use std::io::{Seek, SeekFrom, Write};
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    std::fs::create_dir(&src).unwrap();
    {
        // Twelve separate extents: more than the inode holds, so the tree
        // gets a leaf block below the inode's index.
        let mut f = std::fs::File::create(src.join("f")).unwrap();
        for i in 0..12u64 {
            f.seek(SeekFrom::Start(i * 65536)).unwrap();
            f.write_all(&[b'x'; 4096]).unwrap();
        }
    }
    let img = d.path().join("loop.img");
    let mk = Command::new("mke2fs")
        .args([
            "-q",
            "-F",
            "-t",
            "ext4",
            "-O",
            "^metadata_csum",
            "-b",
            "4096",
            "-d",
        ])
        .arg(&src)
        .arg(&img)
        .arg("16M")
        .output()
        .expect("mke2fs (e2fsprogs) runs");
    assert!(
        mk.status.success(),
        "{}",
        String::from_utf8_lossy(&mk.stderr)
    );
    // debugfs `ex` names the leaf block on the level-0 line.
    let ex = debugfs(&img, "ex /f");
    let leaf: u64 = ex
        .lines()
        .find(|l| l.trim_start().starts_with("0/"))
        .and_then(|l| l.split_whitespace().nth(7))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no index line in debugfs ex output:\n{ex}"));
    // Rewrite the leaf as a depth-1 index node whose only entry is itself.
    let mut b = std::fs::read(&img).unwrap();
    let at = (leaf * 4096) as usize;
    assert_eq!(
        &b[at..at + 2],
        &[0x0A, 0xF3],
        "extent header magic at the leaf"
    );
    b[at + 2..at + 4].copy_from_slice(&1u16.to_le_bytes()); // one entry
    b[at + 6..at + 8].copy_from_slice(&1u16.to_le_bytes()); // depth 1
    b[at + 12..at + 16].copy_from_slice(&0u32.to_le_bytes()); // ei_block
    b[at + 16..at + 20].copy_from_slice(&(leaf as u32).to_le_bytes()); // ei_leaf_lo
    b[at + 20..at + 24].fill(0); // ei_leaf_hi, unused
    std::fs::write(&img, &b).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_measured"))
        .args(["fs", "cat"])
        .arg(&img)
        .arg("/f")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("measured fs cat hangs on a looping extent tree");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("extent"), "error names the extent tree: {err}");
}
