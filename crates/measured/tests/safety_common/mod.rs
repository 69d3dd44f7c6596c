//! Shared by the output-safety, clean-failure and SIGKILL tests: a small
//! service-VM fixture (busybox-free rootfs, a minimal bzImage), a runner,
//! and a tree snapshot to prove nothing else was written.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_measured");

/// A minimal bzImage (`HdrS`, protocol 2.15, a version string).
pub fn fake_kernel(tag: u8) -> Vec<u8> {
    let mut b = vec![tag; 256 * 1024];
    b[..0x400].fill(0);
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    b[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
    let v = b"6.1.0-measured-test (t@t) #1\0";
    b[0x300..0x300 + v.len()].copy_from_slice(v);
    b
}

pub struct Fixture {
    pub tmp: tempfile::TempDir,
}

pub const SPEC: &str = "name = \"svc\"\nrootfs = \"rootfs\"\nkernel = \"bzImage\"\n\
disk_size_mib = 16\ninitramfs = \"never\"\n";

impl Fixture {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path();
        std::fs::create_dir_all(p.join("rootfs/etc")).unwrap();
        std::fs::create_dir_all(p.join("rootfs/bin")).unwrap();
        std::fs::write(
            p.join("rootfs/etc/inittab"),
            "::sysinit:/etc/init.d/rcS\nttyS0::respawn:/sbin/getty -L ttyS0 115200 vt100\n",
        )
        .unwrap();
        std::fs::write(p.join("rootfs/etc/hostname"), "svc\n").unwrap();
        std::fs::write(p.join("bzImage"), fake_kernel(0x5a)).unwrap();
        std::fs::write(p.join("spec.toml"), SPEC).unwrap();
        Fixture { tmp }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn spec(&self) -> PathBuf {
        self.path().join("spec.toml")
    }

    /// Write a spec with `key = value` lines replaced or added.
    pub fn spec_with(&self, file: &str, sets: &[(&str, &str)]) -> PathBuf {
        let mut lines: Vec<String> = SPEC.lines().map(str::to_string).collect();
        for (k, v) in sets {
            let line = format!("{k} = {v}");
            match lines.iter_mut().find(|l| l.starts_with(&format!("{k} = "))) {
                Some(l) => *l = line,
                None => lines.push(line),
            }
        }
        let p = self.path().join(file);
        std::fs::write(&p, lines.join("\n") + "\n").unwrap();
        p
    }

    /// `measured ARGS` in the fixture directory, reproducible time.
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Command::new(BIN)
            .args(args)
            .current_dir(self.path())
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap()
    }
}

/// Stderr as text.
pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert success, showing stderr otherwise.
pub fn ok(o: Output) -> Output {
    assert!(o.status.success(), "failed: {}", err(&o));
    o
}

/// Every path under `root` with its kind and content, sorted.
pub fn snapshot(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
                out.push((rel, "dir".into()));
            } else if m.is_file() {
                let b = std::fs::read(&p).unwrap();
                out.push((rel, format!("{} bytes {:x}", b.len(), fnv(&b))));
            } else {
                out.push((rel, "other".into()));
            }
        }
    }
    out.sort();
    out
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Names in a directory, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}
