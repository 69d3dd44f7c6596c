//! `DynamicWriter::write_anywhere`, the path a filesystem builder writes
//! through: writes in any order, overwriting, crossing blocks, ending in a
//! partial last block. qemu-img must read back exactly what a raw file
//! given the same writes holds, and our checker must find nothing wrong.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

use vhd::{CreateOptions, DynamicWriter, Profile};

const SIZE: u64 = 37 << 20; // not a multiple of the 2 MiB block

fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Out of order, overlapping, spanning block edges, touching the last byte.
fn writes() -> Vec<(u64, Vec<u8>)> {
    vec![
        (30 << 20, noise(1, 5000)),
        (1024, noise(2, 4096)),
        ((2 << 20) - 700, noise(3, 1400)), // crosses blocks 0 and 1
        (SIZE - 3000, noise(4, 3000)),     // the disk's last bytes
        (1024 + 100, noise(5, 50)),        // overwrites part of an earlier write
        (10 << 20, vec![0u8; 8192]),       // zeros still allocate, read as zeros
        (7 << 20, noise(6, 3 << 20)),      // several blocks at once
    ]
}

fn qemu_img(args: &[&str]) -> std::process::Output {
    Command::new("qemu-img")
        .args(args)
        .output()
        .expect("qemu-img is installed (ci/install-oracles.sh)")
}

fn build(dir: &Path, profile: Profile) -> (std::path::PathBuf, std::path::PathBuf) {
    let raw = dir.join("disk.raw");
    let img = dir.join(format!("disk-{profile:?}.vhd"));
    let r = std::fs::File::create(&raw).unwrap();
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&img)
        .unwrap();
    let mut opts = CreateOptions::new(profile);
    opts.timestamp = Some(0);
    let mut w = DynamicWriter::new(f, &img, SIZE, &opts).unwrap();
    r.set_len(w.size()).unwrap();
    for (at, data) in writes() {
        w.write_anywhere(at, &data).unwrap();
        r.write_all_at(&data, at).unwrap();
    }
    w.finish().unwrap();
    (raw, img)
}

#[test]
fn writes_in_any_order_read_back_identically_through_qemu_img() {
    for profile in [Profile::Tap, Profile::Qemu] {
        let dir = tempfile::tempdir().unwrap();
        let (raw, img) = build(dir.path(), profile);
        let out = qemu_img(&[
            "compare",
            "-f",
            "raw",
            "-F",
            "vpc",
            raw.to_str().unwrap(),
            img.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{profile:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let problems = vhd::check_file(&img).unwrap();
        assert!(problems.is_empty(), "{profile:?}: {problems:?}");
        let info = Command::new("vhdiinfo")
            .arg(&img)
            .output()
            .expect("vhdiinfo is installed (ci/install-oracles.sh)");
        assert!(info.status.success(), "{profile:?}: vhdiinfo rejected it");
    }
}

#[test]
fn a_write_past_the_disk_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("d.vhd");
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&img)
        .unwrap();
    let mut w = DynamicWriter::new(f, &img, 4 << 20, &CreateOptions::new(Profile::Tap)).unwrap();
    let e = w.write_anywhere((4 << 20) - 10, &[1u8; 20]).unwrap_err();
    assert!(e.to_string().contains("past the"), "{e}");
}

#[test]
fn the_same_writes_give_the_same_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (_, ia) = build(a.path(), Profile::Tap);
    let (_, ib) = build(b.path(), Profile::Tap);
    assert_eq!(std::fs::read(ia).unwrap(), std::fs::read(ib).unwrap());
}
