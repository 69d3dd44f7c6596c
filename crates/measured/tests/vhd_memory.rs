//! Converting a 20 GiB sparse image keeps memory flat. Alone in its own
//! test binary so the peak RSS of finished children is only ours.

mod common;

use common::*;

#[test]
fn converting_a_20_gib_sparse_image_peaks_under_64_mib_rss() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("big.raw");
    let size = 20u64 << 30;
    // 64 pieces of 1 MiB spread over the disk: 64 MiB of real data to move.
    let pieces: Vec<(u64, usize)> = (0..64).map(|i| (i * (size / 64) + 4097, 1 << 20)).collect();
    sparse_raw(&raw, size, &pieces);
    let out = dir.path().join("big.vhd");
    let back = dir.path().join("back.raw");
    for (from, to) in [(&raw, &out), (&out, &back)] {
        let r = std::process::Command::new("/usr/bin/time")
            .args(["-f", "%M"])
            .arg(env!("CARGO_BIN_EXE_measured"))
            .args(["vhd", "convert"])
            .arg(from)
            .arg(to)
            .output()
            .expect("GNU time (package `time`) runs measured");
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let err = String::from_utf8_lossy(&r.stderr);
        let kib: u64 = err
            .lines()
            .last()
            .unwrap()
            .trim()
            .parse()
            .expect("max RSS in KiB");
        assert!(kib < 64 * 1024, "peak RSS {kib} KiB converting {from:?}");
    }
    tool_ok(
        "qemu-img",
        &[
            "compare",
            "-f",
            "raw",
            "-F",
            "vpc",
            raw.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
}
