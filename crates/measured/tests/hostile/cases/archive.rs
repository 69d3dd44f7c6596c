//! Archives (tar in every compression) and host directories as a rootfs:
//! damaged headers, path traversal, huge sparse members, bombs.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::super::Case;
use super::{mutated, out, put};
use crate::mutation::{Hot, Rng, mutate};
use crate::seeds::Seeds;

const COMPRESSORS: [(&str, &str); 5] = [
    ("tar", ""),
    ("tgz", "gzip"),
    ("tbz", "bzip2"),
    ("txz", "xz"),
    ("tzst", "zstd"),
];

fn compress(tool: &str, b: &[u8]) -> Vec<u8> {
    if tool.is_empty() {
        return b.to_vec();
    }
    let mut c = Command::new(tool)
        .args(["-c", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool}: {e} (ci/install-oracles.sh)"));
    let mut stdin = c.stdin.take().unwrap();
    let data = b.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&data));
    let o = c.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(o.status.success(), "{tool}");
    o.stdout
}

/// Recompute the checksum of every ustar header block, so that damage to a
/// header's fields is read, not refused by the checksum.
fn fix_checksums(b: &mut [u8]) {
    for blk in b.chunks_exact_mut(512) {
        if &blk[257..262] != b"ustar" {
            continue;
        }
        blk[148..156].fill(b' ');
        let sum: u32 = blk.iter().map(|&x| u32::from(x)).sum();
        blk[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    }
}

/// PAX records, key and value.
type Records<'a> = Vec<(&'a str, &'a [u8])>;

/// One ustar member: header and padded data.
fn member(name: &[u8], typ: u8, link: &[u8], data: &[u8], size: Option<u64>) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    let oct = |h: &mut [u8; 512], at: usize, w: usize, v: u64| {
        h[at..at + w].copy_from_slice(format!("{v:0width$o}\0", width = w - 1).as_bytes());
    };
    oct(&mut h, 100, 8, 0o644);
    oct(&mut h, 108, 8, 0);
    oct(&mut h, 116, 8, 0);
    oct(&mut h, 124, 12, size.unwrap_or(data.len() as u64));
    oct(&mut h, 136, 12, 0);
    h[156] = typ;
    h[157..157 + link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    let mut v = h.to_vec();
    fix_checksums(&mut v);
    v.extend_from_slice(data);
    v.resize(v.len().next_multiple_of(512), 0);
    v
}

fn archive(members: &[Vec<u8>]) -> Vec<u8> {
    let mut v = members.concat();
    v.extend_from_slice(&[0u8; 1024]);
    v
}

/// A PAX extended header member holding `records`.
fn pax(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, val) in records {
        let rest = k.len() + val.len() + 3;
        let mut n = rest + 1;
        while n.to_string().len() + rest != n {
            n = n.to_string().len() + rest;
        }
        body.extend_from_slice(format!("{n} {k}=").as_bytes());
        body.extend_from_slice(val);
        body.push(b'\n');
    }
    member(b"pax", b'x', b"", &body, None)
}

fn fs_case(dir: &Path, name: &str, f: &Path, build: bool) -> Case {
    if build {
        let o = out(dir, name, "fs.img");
        Case::new(format!("tar/{name}-build"), f, a!["fs", "build", f, &o]).out(&o)
    } else {
        Case::new(format!("tar/{name}-ls"), f, a!["fs", "ls", f])
    }
}

pub fn tar(s: &Seeds, dir: &Path) -> Vec<Case> {
    let mut v = Vec::new();
    let mut rng = Rng::new(0x0074_6172);
    let seeds: Vec<Vec<u8>> = s.tar.iter().map(|p| std::fs::read(p).unwrap()).collect();
    // Damaged archives (headers re-checksummed half the time), in every
    // compression.
    for i in 0..45 {
        let hot = Hot {
            head: 8192,
            tail: 1024,
        };
        let (mut b, what) = mutate(&seeds[i % seeds.len()], &mut rng, hot);
        if i % 2 == 0 {
            fix_checksums(&mut b);
        }
        let (ext, tool) = COMPRESSORS[i % COMPRESSORS.len()];
        let name = format!("{i:03}-{what}-{ext}");
        let f = put(dir, &format!("tar-{name}.{ext}"), &compress(tool, &b));
        v.push(fs_case(dir, &name, &f, i % 3 == 0));
    }
    // Compressed streams damaged after compression.
    for i in 0..10 {
        let (ext, tool) = COMPRESSORS[1 + i % 4];
        let c = compress(tool, &seeds[i % seeds.len()]);
        let (b, what) = mutate(&c, &mut rng, Hot { head: 64, tail: 64 });
        let name = format!("z{i:02}-{what}-{ext}");
        let f = put(dir, &format!("tar-{name}.{ext}"), &b);
        v.push(fs_case(dir, &name, &f, false));
    }
    // Path traversal.
    let x = b"x".as_slice();
    let deep = "a/".repeat(20_000) + "f";
    let traversal: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("dotdot", vec![member(b"../evil", b'0', b"", x, None)]),
        ("absolute", vec![member(b"/etc/evil", b'0', b"", x, None)]),
        (
            "inner-dotdot",
            vec![member(b"a/../../evil", b'0', b"", x, None)],
        ),
        (
            "through-symlink",
            vec![
                member(b"a", b'2', b"/etc", b"", None),
                member(b"a/passwd", b'0', b"", x, None),
            ],
        ),
        (
            "through-up-link",
            vec![
                member(b"b", b'2', b"../..", b"", None),
                member(b"b/x", b'0', b"", x, None),
            ],
        ),
        ("hardlink-up", vec![member(b"h", b'1', b"../x", b"", None)]),
        (
            "hardlink-abs",
            vec![member(b"h", b'1', b"/etc/passwd", b"", None)],
        ),
        (
            "hardlink-dir",
            vec![
                member(b"d", b'5', b"", b"", None),
                member(b"h", b'1', b"d", b"", None),
            ],
        ),
        (
            "dir-over-file",
            vec![
                member(b"f", b'0', b"", x, None),
                member(b"f/g", b'0', b"", x, None),
            ],
        ),
        (
            "lying-size",
            vec![member(b"f", b'0', b"", x, Some(0o77777777777))],
        ),
        (
            "pax-path-up",
            vec![
                pax(&[("path", b"../../evil")]),
                member(b"ok", b'0', b"", x, None),
            ],
        ),
        // 20,000 directories deep: a path past PATH_MAX.
        (
            "deep-path",
            vec![
                pax(&[("path", deep.as_bytes())]),
                member(b"ok", b'0', b"", x, None),
            ],
        ),
    ];
    for (name, members) in traversal {
        let f = put(dir, &format!("tar-{name}.tar"), &archive(&members));
        v.push(fs_case(dir, name, &f, true));
    }
    // Bombs: gigabytes of zeros in small streams (concatenated members or
    // frames of one compressed megabyte). gzip cannot pass the expansion
    // limit (about 1000:1), so its 2 GiB are read and kept as holes.
    let mib = vec![0u8; 1 << 20];
    for (ext, tool, gib) in [
        ("tgz", "gzip", 2),
        ("tzst", "zstd", 3),
        ("txz", "xz", 3),
        ("tbz", "bzip2", 3),
    ] {
        let head = member(b"bomb", b'0', b"", b"", Some(gib << 30));
        let mut b = compress(tool, &head[..512]);
        let one = compress(tool, &mib);
        for _ in 0..gib * 1024 {
            b.extend_from_slice(&one);
        }
        b.extend(compress(tool, &[0u8; 1024]));
        let f = put(dir, &format!("tar-bomb.{ext}"), &b);
        v.push(fs_case(dir, &format!("bomb-{ext}"), &f, ext == "tgz"));
    }
    // Metadata bombs: a 20 MiB PAX record, a 20 MiB GNU long name.
    let big = vec![b'a'; 20 << 20];
    let pax_bomb = archive(&[pax(&[("comment", &big)]), member(b"f", b'0', b"", x, None)]);
    let f = put(dir, "tar-pax-bomb.tgz", &compress("gzip", &pax_bomb));
    v.push(fs_case(dir, "pax-bomb", &f, false));
    let long = archive(&[
        member(b"././@LongLink", b'L', b"", &big, None),
        member(b"f", b'0', b"", x, None),
    ]);
    let f = put(dir, "tar-longname-bomb.tgz", &compress("gzip", &long));
    v.push(fs_case(dir, "longname-bomb", &f, false));
    // Sparse members: a terabyte file of GNU tar's two sparse formats, and
    // PAX sparse maps that lie.
    let src = dir.join("sparse-src");
    std::fs::create_dir_all(&src).unwrap();
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::create(src.join("big")).unwrap();
        f.set_len(1 << 40).unwrap();
        f.write_all_at(b"data", 1 << 39).unwrap();
    }
    for (fmt, extra) in [("gnu", None), ("posix", Some("--sparse-version=1.0"))] {
        let f = dir.join(format!("tar-sparse-{fmt}.tgz"));
        let mut c = Command::new("tar");
        c.args(["-czSf", f.to_str().unwrap(), &format!("--format={fmt}")]);
        if let Some(e) = extra {
            c.arg(e);
        }
        assert!(
            c.args(["-C", src.to_str().unwrap(), "big"])
                .status()
                .unwrap()
                .success()
        );
        v.push(fs_case(dir, &format!("sparse-{fmt}"), &f, true));
    }
    let lies: Vec<(&str, Records, Vec<u8>)> = vec![
        (
            "map-count",
            vec![
                ("GNU.sparse.major", b"1"),
                ("GNU.sparse.minor", b"0"),
                ("GNU.sparse.realsize", b"100"),
                ("GNU.sparse.name", b"s"),
            ],
            b"99999999999\n".to_vec(),
        ),
        (
            "map-past-size",
            vec![
                ("GNU.sparse.major", b"1"),
                ("GNU.sparse.minor", b"0"),
                ("GNU.sparse.realsize", b"10"),
                ("GNU.sparse.name", b"s"),
            ],
            b"1\n5\n100\n".to_vec(),
        ),
        (
            "map-0-1",
            vec![
                ("GNU.sparse.size", b"1099511627776"),
                ("GNU.sparse.map", b"0,4,0,4"),
                ("GNU.sparse.name", b"s"),
            ],
            b"abcdabcd".to_vec(),
        ),
        (
            "map-odd",
            vec![
                ("GNU.sparse.size", b"10"),
                ("GNU.sparse.map", b"0,4,9"),
                ("GNU.sparse.name", b"s"),
            ],
            b"abcd".to_vec(),
        ),
        (
            "name-up",
            vec![
                ("GNU.sparse.size", b"4"),
                ("GNU.sparse.map", b"0,4"),
                ("GNU.sparse.name", b"../../s"),
            ],
            b"abcd".to_vec(),
        ),
        (
            "version-2",
            vec![
                ("GNU.sparse.major", b"2"),
                ("GNU.sparse.minor", b"0"),
                ("GNU.sparse.realsize", b"4"),
            ],
            b"abcd".to_vec(),
        ),
    ];
    for (name, recs, data) in lies {
        let f = put(
            dir,
            &format!("tar-sparse-{name}.tar"),
            &archive(&[
                pax(&recs),
                member(b"GNUSparseFile.0/s", b'0', b"", &data, None),
            ]),
        );
        v.push(fs_case(dir, &format!("sparse-{name}"), &f, true));
    }
    v
}

/// Hostile host directories as a rootfs.
pub fn dir(s: &Seeds, dir: &Path) -> Vec<Case> {
    use std::os::unix::fs::symlink;
    let mut v = Vec::new();
    let make = |name: &str, f: &dyn Fn(&Path)| {
        let root = dir.join(format!("dir-{name}"));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/inittab"), "::sysinit:/bin/true\n").unwrap();
        f(&root);
        root
    };
    let dirs = vec![
        make("symlink-loop", &|r| {
            symlink("a", r.join("a")).unwrap();
            symlink("c", r.join("b")).unwrap();
            symlink("b", r.join("c")).unwrap();
            symlink("..", r.join("etc/up")).unwrap();
        }),
        make("fifo-socket", &|r| {
            assert!(
                Command::new("mkfifo")
                    .arg(r.join("fifo"))
                    .status()
                    .unwrap()
                    .success()
            );
            let _l = std::os::unix::net::UnixListener::bind(r.join("sock")).unwrap();
        }),
        make("terabyte-sparse", &|r| {
            let f = std::fs::File::create(r.join("big")).unwrap();
            f.set_len(1 << 40).unwrap();
        }),
        make("deep", &|r| {
            let mut p = r.to_path_buf();
            for _ in 0..300 {
                p.push("d");
            }
            std::fs::create_dir_all(&p).unwrap();
            std::fs::write(p.join("f"), b"deep").unwrap();
        }),
        make("wide", &|r| {
            std::fs::create_dir(r.join("w")).unwrap();
            for i in 0..5000 {
                std::fs::write(r.join(format!("w/{i:05}-{}", "n".repeat(200))), b"").unwrap();
            }
        }),
        make("odd-names", &|r| {
            use std::os::unix::ffi::OsStrExt;
            for n in [&b"new\nline"[..], b"\xff\xfe", b" ", b"-rf", b"tab\there"] {
                std::fs::write(r.join(std::ffi::OsStr::from_bytes(n)), b"x").unwrap();
            }
        }),
        make("links", &|r| {
            std::fs::write(r.join("f"), b"x").unwrap();
            for i in 0..200 {
                std::fs::hard_link(r.join("f"), r.join(format!("h{i}"))).unwrap();
            }
            symlink("/etc/shadow", r.join("abs")).unwrap();
            symlink("/dev/zero", r.join("etc/hostname")).unwrap();
            symlink("nowhere/at/all", r.join("dangling")).unwrap();
        }),
        make("devices", &|r| {
            let _ = Command::new("mknod")
                .args([r.join("null").to_str().unwrap(), "c", "1", "3"])
                .status();
            let _ = Command::new("mknod")
                .args([r.join("sda").to_str().unwrap(), "b", "8", "0"])
                .status();
        }),
        make("unreadable", &|r| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(r.join("secret"), b"x").unwrap();
            std::fs::set_permissions(r.join("secret"), std::fs::Permissions::from_mode(0o000))
                .unwrap();
            std::fs::create_dir(r.join("closed")).unwrap();
            std::fs::write(r.join("closed/f"), b"x").unwrap();
            std::fs::set_permissions(r.join("closed"), std::fs::Permissions::from_mode(0o000))
                .unwrap();
        }),
    ];
    for root in &dirs {
        let name = root.file_name().unwrap().to_string_lossy().into_owned();
        let o = out(dir, &name, "fs.img");
        v.push(
            Case::new(
                format!("dir/{name}-build"),
                root,
                a!["fs", "build", root, &o],
            )
            .out(&o),
        );
        v.push(Case::new(
            format!("dir/{name}-ls"),
            root,
            a!["fs", "ls", root],
        ));
    }
    // Through `image build` too (it reads and edits files of the tree).
    for root in &dirs[..3] {
        let name = root.file_name().unwrap().to_string_lossy().into_owned();
        let spec = dir.join(format!("{name}.toml"));
        let text = s.specs[0]
            .0
            .replace(s.rootfs.to_str().unwrap(), root.to_str().unwrap());
        std::fs::write(&spec, text).unwrap();
        let o = out(dir, &format!("{name}-image"), "bundle");
        v.push(
            Case::new(
                format!("dir/{name}-image-build"),
                &spec,
                a!["image", "build", &spec, "-o", &o],
            )
            .out(&o)
            .also_naming(&name),
        );
    }
    let _ = mutated;
    v
}
