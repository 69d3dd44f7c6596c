//! Fixtures shared by the rootfs integration tests: a host tree with every
//! file type, images made from it by the real `mke2fs -d`, and a tree
//! comparison.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

use fstree::{InodeId, Kind, NamePath, Tree};

/// Run a tool, failing the test (never skipping) when it is missing or fails.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} is required for this test (ci/install-oracles.sh): {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn set_times(p: &Path, secs: i64, nanos: u32) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(secs as u64, nanos);
    let f = fs::File::options()
        .write(true)
        .open(p)
        .or_else(|_| fs::File::open(p))
        .unwrap();
    f.set_times(fs::FileTimes::new().set_modified(t).set_accessed(t))
        .unwrap();
}

/// A Linux-format POSIX ACL: owner rw, user 1000 r, group r, mask r, other r.
pub fn linux_acl() -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (1u16, 6u16, u32::MAX),
        (2, 4, 1000),
        (4, 4, u32::MAX),
        (0x10, 4, u32::MAX),
        (0x20, 4, u32::MAX),
    ] {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm.to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

/// Build the fixture tree under `root` (which must exist and be empty).
/// Needs root for device nodes and foreign owners; CI runs as root.
pub fn make_fixture(root: &Path) {
    let w = |p: &str, data: &[u8]| fs::write(root.join(p), data).unwrap();
    fs::create_dir_all(root.join("deep/a/b/c/d/e")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(root.join("many")).unwrap();
    fs::create_dir(root.join("tmp")).unwrap();
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    w("etc/hostname", b"measured\n");
    w("empty", b"");
    w("deep/a/b/c/d/e/leaf", b"deep leaf");
    // 300 KiB: past 12 direct + 256 single-indirect 1 KiB blocks.
    let big: Vec<u8> = (0..300 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    w("big", &big);
    // Sparse, with ten separate data islands: more extents than fit in the
    // inode, so ext4 needs an extent tree of depth 1.
    {
        let f = fs::File::create(root.join("sparse")).unwrap();
        f.set_len(12 << 20).unwrap();
        for i in 0..10u64 {
            use std::os::unix::fs::FileExt;
            f.write_all_at(&[i as u8 + 1; 5000], i * (1 << 20) + 4096)
                .unwrap();
        }
    }
    w("h1", b"hard linked");
    fs::hard_link(root.join("h1"), root.join("etc/h2")).unwrap();
    symlink("etc/hostname", root.join("short")).unwrap();
    symlink("x".repeat(100), root.join("long")).unwrap();
    run("mkfifo", &[root.join("fifo").to_str().unwrap()]);
    let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    run(
        "mknod",
        &[root.join("null").to_str().unwrap(), "c", "1", "3"],
    );
    run(
        "mknod",
        &[root.join("loop0").to_str().unwrap(), "b", "7", "0"],
    );
    run(
        "mknod",
        &[root.join("bigdev").to_str().unwrap(), "c", "300", "70000"],
    );
    for i in 0..400 {
        w(
            &format!("many/entry-with-a-longish-name-{i:04}"),
            format!("{i}").as_bytes(),
        );
    }
    w("suid", b"#!/bin/sh\n");
    fs::set_permissions(root.join("suid"), fs::Permissions::from_mode(0o4755)).unwrap();
    std::os::unix::fs::lchown(root.join("suid"), Some(1234), Some(5678)).unwrap();
    std::os::unix::fs::lchown(root.join("etc/hostname"), Some(70000), Some(80000)).unwrap();
    std::os::unix::fs::lchown(root.join("long"), Some(5), Some(6)).unwrap();
    xattr::set(root.join("etc/hostname"), "user.comment", b"hello xattr").unwrap();
    xattr::set(root.join("etc/hostname"), "trusted.t", &[0u8, 1, 2, 255]).unwrap();
    // A valid VFS_CAP_REVISION_2 capability: cap_net_raw permitted+effective.
    let mut cap = 0x0200_0001u32.to_le_bytes().to_vec();
    cap.extend_from_slice(&[0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    xattr::set(root.join("suid"), "security.capability", &cap).unwrap();
    xattr::set(root.join("h1"), "system.posix_acl_access", &linux_acl()).unwrap();
    xattr::set(root.join("deep"), "user.dir", b"on a directory").unwrap();
    xattr::set(root.join("big"), "user.large", &vec![b'v'; 900]).unwrap();
    for p in ["etc/hostname", "big", "sparse", "h1", "deep/a/b/c/d/e/leaf"] {
        set_times(&root.join(p), 1_600_000_000, 123_456_789);
    }
    let _ = std::io::stdout().flush();
}

/// Make an image of `size` from `dir` with the real mke2fs.
pub fn mke2fs(dir: &Path, img: &Path, fs_type: &str, block: u32, inode_size: u32) {
    let _ = fs::remove_file(img);
    run(
        "mke2fs",
        &[
            "-q",
            "-F",
            "-t",
            fs_type,
            "-b",
            &block.to_string(),
            "-I",
            &inode_size.to_string(),
            "-d",
            dir.to_str().unwrap(),
            img.to_str().unwrap(),
            "48M",
        ],
    );
}

/// Paths of every linked inode, grouped by inode, for hard-link identity.
fn link_groups(t: &Tree) -> Vec<Vec<NamePath>> {
    let mut by: BTreeMap<InodeId, Vec<NamePath>> = BTreeMap::new();
    let mut stack = vec![(NamePath::root(), fstree::ROOT)];
    while let Some((p, id)) = stack.pop() {
        if let Some(e) = t.entries(id) {
            for (n, &c) in e {
                by.entry(c).or_default().push(p.join(n));
                stack.push((p.join(n), c));
            }
        }
    }
    let mut g: Vec<Vec<NamePath>> = by
        .into_values()
        .map(|mut v| {
            v.sort();
            v
        })
        .collect();
    g.sort();
    g
}

/// Assert two trees hold the same entries, kinds, owners, modes, mtimes
/// (to the second unless `nanos`), xattrs, contents and hard links.
/// ctime/atime are not compared: mke2fs 1.47.0 does not copy them.
pub fn assert_same_tree(want: &Tree, got: &Tree, nanos: bool, what: &str) {
    let a = want.walk();
    let b = got.walk();
    let names =
        |w: &[(NamePath, InodeId)]| w.iter().map(|(p, _)| p.to_string()).collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b), "{what}: different paths");
    let t = |x: fstree::Timestamp| {
        if nanos {
            x
        } else {
            fstree::Timestamp::from_secs(x.secs)
        }
    };
    for ((p, ia), (_, ib)) in a.iter().zip(&b) {
        let (x, y) = (want.inode(*ia), got.inode(*ib));
        let ctx = format!("{what}: {p}");
        assert_eq!(x.mode(), y.mode(), "{ctx}: mode");
        assert_eq!(
            (x.meta.uid, x.meta.gid),
            (y.meta.uid, y.meta.gid),
            "{ctx}: owner"
        );
        // mke2fs 1.47.0 stamps the root with the creation time instead of
        // copying the source directory's times.
        if p.depth() > 0 {
            assert_eq!(t(x.meta.mtime), t(y.meta.mtime), "{ctx}: mtime");
        }
        assert_eq!(x.xattrs, y.xattrs, "{ctx}: xattrs");
        match (&x.kind, &y.kind) {
            (Kind::File(c), Kind::File(d)) => {
                assert_eq!(c.len(), d.len(), "{ctx}: size");
                assert!(
                    c.read_all().unwrap() == d.read_all().unwrap(),
                    "{ctx}: contents differ"
                );
            }
            (Kind::Symlink(s), Kind::Symlink(u)) => assert_eq!(s, u, "{ctx}: target"),
            (Kind::CharDev { major, minor }, Kind::CharDev { major: m, minor: n })
            | (Kind::BlockDev { major, minor }, Kind::BlockDev { major: m, minor: n }) => {
                assert_eq!((major, minor), (m, n), "{ctx}: device")
            }
            (k, l) => assert_eq!(k.format_bits(), l.format_bits(), "{ctx}: kind"),
        }
    }
    assert_eq!(link_groups(want), link_groups(got), "{what}: hard links");
}

/// The times `debugfs stat` shows for `path`: (name, seconds, extra word).
pub fn debugfs_times(img: &Path, path: &str) -> Vec<(String, i64, u32)> {
    let out = run(
        "debugfs",
        &["-R", &format!("stat {path}"), img.to_str().unwrap()],
    );
    let mut v = Vec::new();
    for line in out.lines() {
        let line = line.trim();
        for name in ["ctime", "atime", "mtime", "crtime"] {
            if let Some(rest) = line.strip_prefix(&format!("{name}: 0x")) {
                let hex = rest.split_whitespace().next().unwrap();
                let (s, x) = hex.split_once(':').unwrap_or((hex, "0"));
                let secs = u32::from_str_radix(s, 16).unwrap() as i32 as i64;
                let extra = u32::from_str_radix(x, 16).unwrap();
                v.push((
                    name.to_string(),
                    secs + (i64::from(extra & 3) << 32),
                    extra >> 2,
                ));
            }
        }
    }
    v
}
