//! Fixture trees and oracle helpers shared by the builder tests.
#![allow(dead_code)]

use extfs::build::{BuildOptions, FsType, Report, Size, build};
use fstree::{Content, Inode, Kind, Meta, NamePath, Sparse, Timestamp, Tree};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const EPOCH: i64 = 1_700_000_000;

pub fn meta(perm: u16, uid: u32, gid: u32, secs: i64) -> Meta {
    Meta {
        perm,
        uid,
        gid,
        mtime: Timestamp {
            secs,
            nanos: 123_456_789,
        },
        atime: Some(Timestamp {
            secs: secs + 1,
            nanos: 5,
        }),
        ctime: None,
        crtime: None,
    }
}

pub fn put(t: &mut Tree, path: &str, kind: Kind, m: Meta) {
    let p = NamePath::parse(path).unwrap();
    if let Some((parent, _)) = p.split_last() {
        t.mkdir_p(&parent, &meta(0o755, 0, 0, 1_600_000_000))
            .unwrap();
    }
    t.put(
        &p,
        Inode {
            kind,
            meta: m,
            xattrs: Default::default(),
        },
    )
    .unwrap();
}

pub fn file(t: &mut Tree, path: &str, data: &[u8], perm: u16, uid: u32) {
    put(
        t,
        path,
        Kind::File(Content::bytes(data.to_vec())),
        meta(perm, uid, uid + 1, 1_650_000_000),
    );
}

pub fn empty() -> Tree {
    Tree::new(meta(0o755, 0, 0, 1_600_000_000))
}

/// A small busybox-style rootfs: /bin/busybox with applet hard links and
/// symlinks, /etc files, /dev nodes, /tmp sticky.
pub fn busybox() -> Tree {
    let mut t = empty();
    let bb: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    file(&mut t, "bin/busybox", &bb, 0o755, 0);
    let id = t.lookup(&NamePath::parse("bin/busybox").unwrap()).unwrap();
    let bin = t.lookup(&NamePath::parse("bin").unwrap()).unwrap();
    for a in ["sh", "ls", "cat"] {
        t.link(bin, a.as_bytes(), id).unwrap();
    }
    for a in ["mount", "umount", "init"] {
        put(
            &mut t,
            &format!("sbin/{a}"),
            Kind::Symlink(b"../bin/busybox".to_vec()),
            meta(0o777, 0, 0, 1_650_000_000),
        );
    }
    file(
        &mut t,
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\n",
        0o644,
        0,
    );
    file(
        &mut t,
        "etc/shadow",
        b"root::19000:0:99999:7:::\n",
        0o600,
        0,
    );
    file(
        &mut t,
        "etc/inittab",
        b"::sysinit:/etc/init.d/rcS\n",
        0o644,
        0,
    );
    put(
        &mut t,
        "dev/console",
        Kind::CharDev { major: 5, minor: 1 },
        meta(0o600, 0, 5, 1_650_000_000),
    );
    put(
        &mut t,
        "dev/null",
        Kind::CharDev { major: 1, minor: 3 },
        meta(0o666, 0, 0, 1_650_000_000),
    );
    put(
        &mut t,
        "tmp",
        Kind::Dir(Default::default()),
        meta(0o1777, 0, 0, 1_650_000_000),
    );
    put(
        &mut t,
        "root",
        Kind::Dir(Default::default()),
        meta(0o700, 0, 0, 1_650_000_000),
    );
    t
}

/// One of every kind, both device encodings, fast and slow symlinks, a
/// deep path, odd owners and times.
pub fn every_kind() -> Tree {
    let mut t = empty();
    file(&mut t, "f", b"hello\n", 0o4755, 1000);
    file(&mut t, "empty", b"", 0o600, 70000);
    put(
        &mut t,
        "d",
        Kind::Dir(Default::default()),
        meta(0o2750, 3, 4, 1_500_000_000),
    );
    put(
        &mut t,
        "fast",
        Kind::Symlink(b"f".to_vec()),
        meta(0o777, 0, 0, 1_650_000_000),
    );
    let long = "x/".repeat(100);
    put(
        &mut t,
        "slow",
        Kind::Symlink(long.as_bytes().to_vec()),
        meta(0o777, 0, 0, 1_650_000_000),
    );
    put(
        &mut t,
        "chr",
        Kind::CharDev {
            major: 4,
            minor: 64,
        },
        meta(0o620, 0, 5, 1_650_000_000),
    );
    put(
        &mut t,
        "blk_new",
        Kind::BlockDev {
            major: 259,
            minor: 70000,
        },
        meta(0o660, 0, 6, 1_650_000_000),
    );
    put(&mut t, "fifo", Kind::Fifo, meta(0o644, 0, 0, 1_650_000_000));
    put(
        &mut t,
        "sock",
        Kind::Socket,
        meta(0o755, 0, 0, 1_650_000_000),
    );
    let deep: Vec<String> = (0..40).map(|i| format!("level{i}")).collect();
    file(
        &mut t,
        &format!("{}/leaf", deep.join("/")),
        b"deep\n",
        0o644,
        0,
    );
    t
}

pub fn big_dir() -> Tree {
    let mut t = empty();
    put(
        &mut t,
        "many",
        Kind::Dir(Default::default()),
        meta(0o755, 0, 0, 1_650_000_000),
    );
    for i in 0..10_000 {
        file(
            &mut t,
            &format!("many/entry-with-a-longish-name-{i:05}"),
            format!("{i}\n").as_bytes(),
            0o644,
            0,
        );
    }
    t
}

pub fn hard_links() -> Tree {
    let mut t = empty();
    file(&mut t, "a/one", b"shared contents\n", 0o640, 10);
    let id = t.lookup(&NamePath::parse("a/one").unwrap()).unwrap();
    t.mkdir_p(
        &NamePath::parse("b").unwrap(),
        &meta(0o755, 0, 0, 1_600_000_000),
    )
    .unwrap();
    let a = t.lookup(&NamePath::parse("a").unwrap()).unwrap();
    let b = t.lookup(&NamePath::parse("b").unwrap()).unwrap();
    t.link(a, b"two", id).unwrap();
    t.link(b, b"three", id).unwrap();
    t
}

pub fn acl_value() -> Vec<u8> {
    let mut x = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (1u16, 6u16, u32::MAX),
        (2, 4, 1000),
        (4, 4, u32::MAX),
        (0x10, 4, u32::MAX),
        (0x20, 0, u32::MAX),
    ] {
        x.extend_from_slice(&tag.to_le_bytes());
        x.extend_from_slice(&perm.to_le_bytes());
        x.extend_from_slice(&id.to_le_bytes());
    }
    x
}

pub fn with_xattrs() -> Tree {
    let mut t = empty();
    file(&mut t, "labelled", b"x", 0o644, 0);
    file(&mut t, "same-label", b"y", 0o644, 0);
    file(&mut t, "acl", b"z", 0o644, 0);
    file(&mut t, "cap", b"w", 0o755, 0);
    // Too big for the inode: goes to an xattr block on ext4 too.
    file(&mut t, "big", b"v", 0o644, 0);
    let mut cap = vec![0u8; 20];
    cap[0..4].copy_from_slice(&0x0200_0001u32.to_le_bytes());
    cap[4] = 0x00;
    cap[5] = 0x20; // cap_net_bind_service... any bits will do
    for (p, n, v) in [
        (
            "labelled",
            "security.selinux",
            b"system_u:object_r:etc_t:s0\0".to_vec(),
        ),
        (
            "same-label",
            "security.selinux",
            b"system_u:object_r:etc_t:s0\0".to_vec(),
        ),
        ("acl", "system.posix_acl_access", acl_value()),
        ("cap", "security.capability", cap),
        ("cap", "user.note", b"hello".to_vec()),
        ("big", "user.big", vec![b'b'; 300]),
        (
            "big",
            "security.selinux",
            b"system_u:object_r:etc_t:s0\0".to_vec(),
        ),
    ] {
        let id = t.lookup(&NamePath::parse(p).unwrap()).unwrap();
        t.inode_mut(id).xattrs.insert(n.as_bytes().to_vec(), v);
    }
    t
}

pub const FIVE_GIB: u64 = 5 << 30;

pub fn sparse5g() -> Tree {
    let mut t = empty();
    let s = Sparse {
        len: FIVE_GIB,
        data: vec![
            (0, b"head".to_vec()),
            (3 << 30, b"middle".to_vec()),
            (FIVE_GIB - 4, b"tail".to_vec()),
        ],
    };
    put(
        &mut t,
        "sparse",
        Kind::File(Content::new(s)),
        meta(0o644, 0, 0, 1_650_000_000),
    );
    t
}

pub fn opts(ty: FsType, bs: u32) -> BuildOptions {
    let mut o = BuildOptions::new(ty);
    o.block_size = bs;
    o.epoch = EPOCH;
    o.size = Size::Fit { margin_percent: 20 };
    o
}

pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn build_to(tree: &Tree, o: &BuildOptions, path: &Path) -> Report {
    let mut f = std::fs::File::create(path).unwrap();
    build(tree, o, &mut f).unwrap()
}

/// `e2fsck -fn` must exit 0 and report nothing to fix.
pub fn fsck_clean(img: &Path) {
    let out = Command::new("e2fsck")
        .args(["-fn"])
        .arg(img)
        .output()
        .expect("e2fsck must be installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "e2fsck -fn {} failed ({:?}):\n{text}",
        img.display(),
        out.status.code()
    );
}

pub fn debugfs(img: &Path, req: &str) -> String {
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(req)
        .arg(img)
        .output()
        .expect("debugfs must be installed");
    assert!(
        out.status.success(),
        "debugfs {req}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn dump(img: &Path, path: &str, dir: &Path) -> Vec<u8> {
    let dst: PathBuf = dir.join("dumped");
    let _ = std::fs::remove_file(&dst);
    debugfs(img, &format!("dump {path} {}", dst.display()));
    std::fs::read(dst).unwrap()
}

/// Run many debugfs requests in one process; returns each request's output.
pub fn debugfs_batch(img: &Path, reqs: &[String], dir: &Path) -> Vec<String> {
    let cmds = dir.join("cmds");
    std::fs::write(&cmds, reqs.join("\n") + "\n").unwrap();
    let out = Command::new("debugfs")
        .arg("-f")
        .arg(&cmds)
        .arg(img)
        .output()
        .expect("debugfs must be installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let parts: Vec<String> = text.split("debugfs: ").skip(1).map(str::to_owned).collect();
    assert_eq!(parts.len(), reqs.len(), "debugfs output:\n{text}");
    parts
}

fn field<'a>(s: &'a str, key: &str) -> &'a str {
    let i = s.find(key).unwrap_or_else(|| panic!("no {key:?} in:\n{s}"));
    s[i + key.len()..].split_whitespace().next().unwrap()
}

/// `0xSECS:EXTRA` as debugfs prints a time, decoded.
fn dbg_time(s: &str, key: &str) -> (i64, u32) {
    let v = field(s, key);
    let (a, b) = v.split_once(':').unwrap();
    let secs = u32::from_str_radix(a.trim_start_matches("0x"), 16).unwrap() as i32 as i64;
    let extra = u32::from_str_radix(b, 16).unwrap();
    (secs + (((extra & 3) as i64) << 32), extra >> 2)
}

/// Check every inode of `tree` (or the first `limit` paths) against what
/// debugfs reads from the image: type and mode, owners, link count, times,
/// size, device numbers, symlink targets, file contents and xattrs.
pub fn check_tree(img: &Path, tree: &Tree, dir: &Path, limit: usize) {
    let counts = tree.link_counts();
    let walk = tree.walk();
    let lpf_added = tree
        .entries(fstree::ROOT)
        .unwrap()
        .get(b"lost+found".as_slice())
        .is_none();
    let picked: Vec<_> = walk.iter().take(limit).chain(walk.last()).collect();
    let abs = |p: &NamePath| p.to_string();
    let reqs: Vec<String> = picked
        .iter()
        .map(|(p, _)| format!("stat \"{}\"", abs(p)))
        .collect();
    let stats = debugfs_batch(img, &reqs, dir);
    for ((path, id), st) in picked.iter().zip(&stats) {
        let ino = tree.inode(*id);
        let path = &abs(path)[1..];
        let ctx = format!("/{path}:\n{st}");
        assert_eq!(
            u16::from_str_radix(field(st, "Mode:"), 8).unwrap(),
            ino.meta.perm,
            "{ctx}"
        );
        assert_eq!(
            field(st, "User:").parse::<u32>().unwrap(),
            ino.meta.uid,
            "{ctx}"
        );
        assert_eq!(
            field(st, "Group:").parse::<u32>().unwrap(),
            ino.meta.gid,
            "{ctx}"
        );
        let mut links = counts[id.0 as usize];
        if *id == fstree::ROOT && lpf_added {
            links += 1;
        }
        assert_eq!(field(st, "Links:").parse::<u32>().unwrap(), links, "{ctx}");
        let m = ino.meta.mtime;
        assert_eq!(dbg_time(st, "mtime:"), (m.secs, m.nanos), "{ctx}");
        let a = ino.meta.atime.unwrap_or(Timestamp::from_secs(EPOCH));
        assert_eq!(dbg_time(st, "atime:"), (a.secs, a.nanos), "{ctx}");
        assert_eq!(dbg_time(st, "ctime:"), (EPOCH, 0), "{ctx}");
        let want_type = match &ino.kind {
            Kind::File(_) => "regular",
            Kind::Dir(_) => "directory",
            Kind::Symlink(_) => "symlink",
            Kind::CharDev { .. } => "character",
            Kind::BlockDev { .. } => "block",
            Kind::Fifo => "FIFO",
            Kind::Socket => "socket",
        };
        assert_eq!(field(st, "Type:"), want_type, "{ctx}");
        match &ino.kind {
            Kind::File(c) => {
                assert_eq!(field(st, "Size:").parse::<u64>().unwrap(), c.len(), "{ctx}");
                if c.len() < 64 << 20 {
                    assert_eq!(
                        dump(img, &format!("\"/{path}\""), dir),
                        c.read_all().unwrap(),
                        "{ctx}"
                    );
                }
            }
            Kind::Symlink(t) if t.len() < 60 => {
                assert!(
                    st.contains(&format!(
                        "Fast link dest: \"{}\"",
                        String::from_utf8_lossy(t)
                    )),
                    "{ctx}"
                );
            }
            Kind::Symlink(t) => assert_eq!(&dump(img, &format!("\"/{path}\""), dir), t, "{ctx}"),
            Kind::CharDev { major, minor } | Kind::BlockDev { major, minor } => {
                let v = field(st, "major/minor number:");
                let (a, b) = v.split_once(':').unwrap();
                assert_eq!(
                    (a.parse::<u32>().unwrap(), b.parse::<u32>().unwrap()),
                    (*major, *minor),
                    "{ctx}"
                );
            }
            _ => {}
        }
        for (name, value) in &ino.xattrs {
            let n = String::from_utf8_lossy(name);
            let out = dir.join("xattr");
            let _ = std::fs::remove_file(&out);
            debugfs(img, &format!("ea_get -f {} \"/{path}\" {n}", out.display()));
            let mut got = std::fs::read(&out).unwrap();
            let mut want = value.clone();
            if n.starts_with("system.posix_acl") {
                // e2fsprogs writes id 0 where the kernel writes -1 for
                // entries without a qualifier; only named entries carry one.
                unqualify(&mut got);
                unqualify(&mut want);
            }
            assert_eq!(got, want, "xattr {n} of /{path}");
        }
        if !ino.xattrs.is_empty() {
            let list = debugfs(img, &format!("ea_list \"/{path}\""));
            for name in ino.xattrs.keys() {
                assert!(
                    list.contains(&*String::from_utf8_lossy(name)),
                    "ea_list /{path}: {list}"
                );
            }
        }
    }
}

fn unqualify(acl: &mut [u8]) {
    for e in acl[4..].chunks_mut(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        if tag != 2 && tag != 8 {
            e[4..8].fill(0);
        }
    }
}
