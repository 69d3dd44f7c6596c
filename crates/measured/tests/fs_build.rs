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
