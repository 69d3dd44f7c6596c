//! Resources bounded by what the input really holds, end to end through the
//! binary: a rootfs holding a terabyte sparse file builds (holes stay holes
//! through loading, digests, the step cache and the disk writer) under a
//! memory limit, and the shipped example and a 20,000-file rootfs build with
//! 256 open files allowed. Limits are set on the child process only.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_measured");
const TIB: u64 = 1 << 40;
/// Offsets of the sparse file's data.
const DATA_AT: [u64; 3] = [0, 3 << 30, TIB - 4096];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `measured ARGS` with `ulimit LIMITS` applied to it alone (through sh).
fn limited(limits: &str, args: &[&std::ffi::OsStr]) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("ulimit {limits} && exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1700000000");
    c
}

fn ok(what: &str, o: Output) -> Output {
    assert!(
        o.status.success(),
        "{what}: exit {:?}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn tool(cmd: &str, args: &[&str]) -> String {
    let o = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e} (installed by ci/install-oracles.sh)"));
    assert!(
        o.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A minimal bzImage (`HdrS`, protocol 2.15, a version string).
fn fake_kernel() -> Vec<u8> {
    let mut b = vec![0x5a; 64 * 1024];
    b[..0x400].fill(0);
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    b[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
    let v = b"6.1.0-measured-test (t@t) #1\0";
    b[0x300..0x300 + v.len()].copy_from_slice(v);
    b
}

/// A spec for `rootfs` with a raw disk (so debugfs reads it directly); with
/// `launch`, a `[launch]` section for `measured build`.
fn spec(dir: &Path, rootfs: &Path, launch: bool, mib: u32) -> PathBuf {
    std::fs::write(dir.join("bzImage"), fake_kernel()).unwrap();
    let mut text = format!(
        "name = \"svc\"\nrootfs = \"{}\"\nkernel = \"bzImage\"\n\
         disk_size_mib = {mib}\nformat = \"raw\"\ninitramfs = \"never\"\n",
        rootfs.display()
    );
    if launch {
        text += &format!(
            "\n[launch]\nplatform = \"{}\"\nsinit = \"{}\"\ntboot = \"/boot/tboot.gz\"\n\
             tboot_cmdline = \"extpol=embedded\"\n\
             policy = \"default\"\n\n[[launch.modules]]\nfile = \"bundle:kernel\"\n",
            repo().join("examples/launch/platform.toml").display(),
            repo().join("examples/launch/sinit-synthetic.bin").display()
        );
    }
    let p = dir.join(if launch { "build.toml" } else { "image.toml" });
    std::fs::write(&p, text).unwrap();
    p
}

fn rootfs_dir(root: &Path) {
    use std::os::unix::fs::FileExt;
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/inittab"), "::sysinit:/bin/true\n").unwrap();
    let f = std::fs::File::create(root.join("big")).unwrap();
    f.set_len(TIB).unwrap();
    for o in DATA_AT {
        f.write_all_at(format!("data@{o}").as_bytes(), o).unwrap();
    }
}

/// The sparse file in the built disk: its size, the blocks it holds, and
/// its data, read back with debugfs; e2fsck finds the disk clean.
fn check_disk(disk: &Path) {
    let d = disk.to_str().unwrap();
    tool("e2fsck", &["-fn", d]);
    let stat = tool("debugfs", &["-R", "stat /big", d]);
    assert!(stat.contains(&format!("Size: {TIB}")), "{stat}");
    let blocks: u64 = stat
        .split("Blockcount: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{stat}"));
    assert!(
        blocks < 1024,
        "{blocks} sectors allocated for the sparse file"
    );
    // Each piece of data read from the disk where debugfs maps its block
    // (never dumped: debugfs writes holes out as zeros).
    use std::os::unix::fs::FileExt;
    let disk_file = std::fs::File::open(disk).unwrap();
    let head = tool("dumpe2fs", &["-h", d]);
    let bs: u64 = head
        .lines()
        .find_map(|l| l.strip_prefix("Block size:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{head}"));
    for o in DATA_AT {
        let bmap = tool("debugfs", &["-R", &format!("bmap /big {}", o / bs), d]);
        let phys: u64 = bmap
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("bmap: {bmap}"));
        assert_ne!(phys, 0, "no block for offset {o}");
        let want = format!("data@{o}");
        let mut b = vec![0u8; want.len()];
        disk_file.read_exact_at(&mut b, phys * bs + o % bs).unwrap();
        assert_eq!(b, want.as_bytes(), "data at {o}");
    }
}

/// 4 GiB of address space: reading the file, or hashing it whole, needs a
/// terabyte; a run that keeps holes needs a few hundred megabytes.
const MEM: &str = "-v 4194304";

#[test]
fn a_terabyte_sparse_file_builds_from_every_kind_of_rootfs() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let dir = t.join("rootfs");
    rootfs_dir(&dir);
    // The same tree as a GNU sparse tar.gz and as an ext4 image.
    let tgz = t.join("rootfs.tgz");
    tool(
        "tar",
        &[
            "-czSf",
            tgz.to_str().unwrap(),
            "-C",
            dir.to_str().unwrap(),
            ".",
        ],
    );
    let ext = t.join("rootfs.img");
    ok(
        "fs build",
        limited(
            MEM,
            &[
                "fs".as_ref(),
                "build".as_ref(),
                dir.as_os_str(),
                ext.as_os_str(),
            ],
        )
        .output()
        .unwrap(),
    );
    for (kind, rootfs) in [("dir", &dir), ("tar.gz", &tgz), ("ext4", &ext)] {
        let spec = spec(t, rootfs, false, 64);
        let out = t.join(format!("image-{kind}"));
        let args: [&std::ffi::OsStr; 5] = [
            "image".as_ref(),
            "build".as_ref(),
            spec.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ];
        ok(
            &format!("image build ({kind})"),
            limited(MEM, &args).output().unwrap(),
        );
        check_disk(&out.join("svc.img"));
    }
    // `measured build` digests the rootfs for its step cache too; a rerun
    // reuses every step.
    let spec = spec(t, &dir, true, 64);
    let out = t.join("build");
    let args: [&std::ffi::OsStr; 5] = [
        "build".as_ref(),
        spec.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--json".as_ref(),
    ];
    ok("build", limited(MEM, &args).output().unwrap());
    check_disk(&out.join("svc.img"));
    let again = ok("build again", limited(MEM, &args).output().unwrap());
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    for s in report["steps"].as_array().unwrap() {
        assert_eq!(s["built"], false, "{s}");
    }
}

#[test]
fn the_shipped_example_builds_with_256_open_files() {
    let prep = Command::new("bash")
        .arg(repo().join("scripts/example-inputs.sh"))
        .output()
        .unwrap();
    ok("scripts/example-inputs.sh", prep);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("svc");
    let spec = repo().join("examples/service-vm.toml");
    let args: [&std::ffi::OsStr; 4] = [
        "build".as_ref(),
        spec.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ];
    ok("example build", limited("-n 256", &args).output().unwrap());
    assert!(out.join("svc.vhd").is_file());
}

#[test]
fn twenty_thousand_files_build_with_256_open_files() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let root = t.join("rootfs");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/inittab"), "::sysinit:/bin/true\n").unwrap();
    for d in 0..20 {
        let dir = root.join(format!("data/d{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..1000 {
            std::fs::write(dir.join(format!("f{i}")), format!("file {d}/{i}\n")).unwrap();
        }
    }
    // Members over 1 MiB are spooled: 300 of them, each once its own
    // temporary file (and descriptor).
    let big = root.join("big");
    std::fs::create_dir_all(&big).unwrap();
    for i in 0..300u32 {
        let mut b = vec![0u8; (1 << 20) + 1];
        b[..4].copy_from_slice(&i.to_le_bytes());
        std::fs::write(big.join(format!("b{i}")), b).unwrap();
    }
    let tgz = t.join("rootfs.tgz");
    tool(
        "tar",
        &[
            "-czf",
            tgz.to_str().unwrap(),
            "-C",
            root.to_str().unwrap(),
            ".",
        ],
    );
    for (kind, rootfs, launch) in [("dir", &root, true), ("tar.gz", &tgz, false)] {
        let spec = spec(t, rootfs, launch, 512);
        let out = t.join(format!("out-{kind}"));
        let mut args: Vec<&std::ffi::OsStr> = if launch {
            vec!["build".as_ref()]
        } else {
            vec!["image".as_ref(), "build".as_ref()]
        };
        args.extend([spec.as_os_str(), "-o".as_ref(), out.as_os_str()]);
        ok(kind, limited("-n 256", &args).output().unwrap());
        let disk = out.join("svc.img");
        tool("e2fsck", &["-fn", disk.to_str().unwrap()]);
        let cat = tool(
            "debugfs",
            &["-R", "cat /data/d19/f999", disk.to_str().unwrap()],
        );
        assert_eq!(cat, "file 19/999\n", "{kind}");
    }
}
