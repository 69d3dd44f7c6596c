//! Helpers shared by the integration tests: run the binary, run oracle
//! tools (failing loudly when one is missing), make test data.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Run `measured` with `args`, returning its output whatever the exit code.
pub fn measured(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_measured"))
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("running measured")
}

/// Run `measured` and insist on success; returns stdout.
pub fn measured_ok(args: &[&str]) -> String {
    let out = measured(args);
    assert!(
        out.status.success(),
        "measured {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Run an oracle tool; a missing tool is a test failure, never a skip.
pub fn tool(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd).args(args).output().unwrap_or_else(|e| {
        panic!("oracle `{cmd}` could not run ({e}); install it with ci/install-oracles.sh")
    })
}

/// Run an oracle tool and insist on success; returns stdout.
pub fn tool_ok(cmd: &str, args: &[&str]) -> String {
    let out = tool(cmd, args);
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deterministic pseudo-random bytes (xorshift64*), so failures reproduce.
pub fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Write `data` at `offset` of the file at `path` (creating it).
pub fn write_at(path: &Path, offset: u64, data: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)
        .expect("open for write");
    f.write_all_at(data, offset).expect("write_at");
}

/// A sparse raw image of `size` bytes with pseudo-random `(offset, len)` pieces.
pub fn sparse_raw(path: &Path, size: u64, pieces: &[(u64, usize)]) {
    let f = std::fs::File::create(path).expect("create raw");
    f.set_len(size).expect("size raw");
    for (i, &(o, l)) in pieces.iter().enumerate() {
        write_at(path, o, &pseudo_random(i as u64 + 1, l));
    }
}

/// The repository's `shared/` directory: beside the clone (CI), or /work/shared.
pub fn shared_dir() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for cand in [repo.join("../shared"), PathBuf::from("/work/shared")] {
        if cand.join("testdata").is_dir() {
            return cand;
        }
    }
    panic!("shared/testdata not found beside the repository or at /work/shared");
}

/// `qemu-img info -f vpc`'s virtual size.
pub fn qemu_virtual_size(path: &Path) -> u64 {
    let out = tool_ok(
        "qemu-img",
        &[
            "info",
            "-f",
            "vpc",
            "--output",
            "json",
            path.to_str().unwrap(),
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("qemu-img json");
    v["virtual-size"].as_u64().expect("virtual-size")
}

/// `vhdiinfo`'s media size in bytes.
pub fn vhdiinfo_media_size(path: &Path) -> u64 {
    let out = tool_ok("vhdiinfo", &[path.to_str().unwrap()]);
    let line = out
        .lines()
        .find(|l| l.contains("Media size"))
        .unwrap_or_else(|| panic!("vhdiinfo printed no media size:\n{out}"));
    let inner = line
        .rsplit_once('(')
        .and_then(|(_, r)| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected vhdiinfo line {line:?}"));
    inner.parse().expect("media size bytes")
}
