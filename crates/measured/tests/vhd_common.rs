//! Helpers shared by the `vhd*` integration tests (included with `mod`).
#![allow(dead_code)]

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub fn measured() -> Command {
    Command::new(env!("CARGO_BIN_EXE_measured"))
}

/// Run a command, panicking with its stderr if it fails.
pub fn ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Deterministic pseudo-random bytes (xorshift64*).
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(n);
    v
}

/// A sparse raw file of `len` bytes with random data at `(offset, bytes)` spots.
pub fn sparse_raw(path: &Path, len: u64, spots: &[(u64, usize)]) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(len).unwrap();
    for (i, &(o, n)) in spots.iter().enumerate() {
        f.write_all_at(&noise(o ^ (i as u64 + 7), n), o).unwrap();
    }
}

/// `qemu-img info -f vpc` virtual size.
pub fn qemu_virtual_size(img: &Path) -> u64 {
    let out = ok(Command::new("qemu-img")
        .args(["info", "-f", "vpc", "--output", "json"])
        .arg(img));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["virtual-size"].as_u64().expect("virtual-size")
}

/// `vhdiinfo` media size in bytes.
pub fn vhdi_media_size(img: &Path) -> u64 {
    let out = ok(Command::new("vhdiinfo").arg(img));
    let s = String::from_utf8_lossy(&out.stdout);
    let line = s
        .lines()
        .find(|l| l.contains("Media size"))
        .unwrap_or_else(|| panic!("no media size in vhdiinfo output: {s}"));
    let inner = line.rsplit('(').next().unwrap();
    inner.split_whitespace().next().unwrap().parse().unwrap()
}

/// `qemu-img compare` raw vs vpc says identical.
pub fn qemu_identical(raw: &Path, img: &Path) {
    let out = Command::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "vpc"])
        .arg(raw)
        .arg(img)
        .output()
        .expect("qemu-img must be installed");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("identical"),
        "qemu-img compare {} {}: {}{}",
        raw.display(),
        img.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A scratch directory on a real disk (not tmpfs limits) for big sparse files.
pub fn scratch() -> tempfile::TempDir {
    let base = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    tempfile::tempdir_in(base).unwrap()
}
