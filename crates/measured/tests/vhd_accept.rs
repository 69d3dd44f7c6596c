//! Acceptance points 1-3 of `measured vhd`, checked against qemu-img and vhdiinfo.

mod vhd_common;
use vhd_common::*;

use std::path::Path;
use std::process::Command;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// What `qemu-img create -f vpc SIZE` gives as virtual size (the qemu profile's target).
fn qemu_created_size(dir: &Path, size: u64) -> u64 {
    let p = dir.join("qemu-ref.vhd");
    ok(Command::new("qemu-img")
        .args(["create", "-q", "-f", "vpc"])
        .arg(&p)
        .arg(size.to_string()));
    let s = qemu_virtual_size(&p);
    std::fs::remove_file(p).unwrap();
    s
}

fn intended(dir: &Path, profile: &str, size: u64) -> u64 {
    match profile {
        "tap" => size.next_multiple_of(2 * MIB),
        "fixed" => size.next_multiple_of(MIB),
        _ => qemu_created_size(dir, size),
    }
}

/// Random data in partial blocks, across block boundaries and in the last block.
fn spots(size: u64) -> Vec<(u64, usize)> {
    let mut v = vec![(0, 4096), (size / 3 + 5, 1234), (size - 777, 777)];
    if size > 8 * MIB {
        v.push((3 * MIB / 2, MIB as usize + 1234));
        v.push((5 * MIB + 512, 512));
        v.push((size / 2 + 100, 300_000));
    }
    v.sort();
    v
}

#[test]
fn every_profile_at_every_size_is_read_by_qemu_img_and_vhdiinfo_with_identical_data() {
    let d = scratch();
    let sizes = [MIB, 100 * MIB, GIB, 127 * GIB, 2040 * GIB];
    for &size in &sizes {
        for (profile, fixed) in [
            ("tap", false),
            ("qemu", false),
            ("fixed", true),
            ("qemu", true),
        ] {
            if fixed && size == 2040 * GIB {
                continue; // a 2 TiB sparse file exceeds some scratch filesystems
            }
            let want = intended(d.path(), profile, size);
            let img = d.path().join(format!("{profile}-{fixed}-{size}.vhd"));
            if size == 2040 * GIB {
                // Header only: create.
                let mut c = measured();
                c.args(["vhd", "create", &size.to_string()])
                    .arg(&img)
                    .args(["--profile", profile]);
                ok(&mut c);
            } else {
                let raw = d.path().join(format!("in-{size}.raw"));
                sparse_raw(&raw, size, &spots(size));
                let mut c = measured();
                c.args(["vhd", "convert"])
                    .arg(&raw)
                    .arg(&img)
                    .args(["--profile", profile]);
                if fixed {
                    c.arg("--fixed");
                }
                ok(&mut c);
                // qemu-img compare reads a fixed VHD in full; skip that only for 127 GiB fixed.
                if !(fixed && size > 2 * GIB) {
                    qemu_identical(&raw, &img);
                }
                std::fs::remove_file(&raw).unwrap();
            }
            assert_eq!(
                qemu_virtual_size(&img),
                want,
                "qemu-img size of {}",
                img.display()
            );
            assert_eq!(
                vhdi_media_size(&img),
                want,
                "vhdiinfo size of {}",
                img.display()
            );
            let chk = measured()
                .args(["vhd", "check"])
                .arg(&img)
                .output()
                .unwrap();
            assert!(
                chk.status.success(),
                "{}",
                String::from_utf8_lossy(&chk.stdout)
            );
            std::fs::remove_file(&img).unwrap();
        }
    }
}

#[test]
fn raw_to_vhd_to_raw_round_trips_are_cmp_identical() {
    let d = scratch();
    let raw = d.path().join("in.raw");
    // Not a multiple of the block size, data in the last partial block.
    let size = 37 * MIB + 4096;
    sparse_raw(&raw, size, &spots(size));
    for (profile, fixed) in [("tap", false), ("qemu", false), ("fixed", true)] {
        let img = d.path().join("x.vhd");
        let back = d.path().join("back.raw");
        let mut c = measured();
        c.args(["vhd", "convert"])
            .arg(&raw)
            .arg(&img)
            .args(["--profile", profile]);
        if fixed {
            c.arg("--fixed");
        }
        ok(&mut c);
        ok(measured().args(["vhd", "convert"]).arg(&img).arg(&back));
        let a = std::fs::read(&raw).unwrap();
        let b = std::fs::read(&back).unwrap();
        assert!(b.len() as u64 >= size);
        assert_eq!(&a[..], &b[..a.len()], "{profile}: data differs");
        assert!(
            b[a.len()..].iter().all(|&x| x == 0),
            "{profile}: tail not zero"
        );
        // VHD -> VHD flattening also keeps the data.
        let img2 = d.path().join("y.vhd");
        ok(measured()
            .args(["vhd", "convert", "--to", "vhd"])
            .arg(&img)
            .arg(&img2));
        qemu_identical(&raw, &img2);
    }
}

#[test]
fn images_written_by_qemu_img_are_read_correctly() {
    let d = scratch();
    let raw = d.path().join("in.raw");
    let size = 50 * MIB;
    sparse_raw(&raw, size, &spots(size));
    let variants: [&[&str]; 4] = [
        &["-o", "subformat=dynamic"],
        &["-o", "subformat=fixed"],
        &["-o", "subformat=dynamic,force_size=on"],
        &["-o", "subformat=fixed,force_size=on"],
    ];
    for opts in variants {
        let img = d.path().join("q.vhd");
        let back = d.path().join("back.raw");
        ok(Command::new("qemu-img")
            .args(["convert", "-f", "raw", "-O", "vpc"])
            .args(opts)
            .arg(&raw)
            .arg(&img));
        let v = vhd::Vhd::open(&img).unwrap();
        assert_eq!(v.size(), qemu_virtual_size(&img), "{opts:?}");
        ok(measured().args(["vhd", "convert"]).arg(&img).arg(&back));
        let a = std::fs::read(&raw).unwrap();
        let b = std::fs::read(&back).unwrap();
        assert_eq!(&a[..], &b[..a.len()], "{opts:?}");
        assert!(b[a.len()..].iter().all(|&x| x == 0));
    }
    // Data qemu-io wrote into a partially filled block of a dynamic image.
    let img = d.path().join("io.vhd");
    ok(Command::new("qemu-img")
        .args(["create", "-q", "-f", "vpc"])
        .arg(&img)
        .arg("8M"));
    ok(Command::new("qemu-io")
        .args([
            "-f",
            "vpc",
            "-c",
            "write -P 0xab 4k 4k",
            "-c",
            "write -P 0xcd 3M 512",
        ])
        .arg(&img));
    let v = vhd::Vhd::open(&img).unwrap();
    let mut b = vec![0u8; 4 * MIB as usize];
    use fstree::ContentSource;
    v.read_at(0, &mut b).unwrap();
    assert!(b[..4096].iter().all(|&x| x == 0));
    assert!(b[4096..8192].iter().all(|&x| x == 0xab));
    assert!(
        b[3 * MIB as usize..3 * MIB as usize + 512]
            .iter()
            .all(|&x| x == 0xcd)
    );
    assert!(b[3 * MIB as usize + 512..].iter().all(|&x| x == 0));
}

#[test]
fn tap_profile_header_bytes_equal_what_vhd_util_create_writes() {
    let d = scratch();
    let img = d.path().join("t.vhd");
    ok(measured().args(["vhd", "create", "100M"]).arg(&img));
    let b = std::fs::read(&img).unwrap();
    // vhd-util create -s 100: 3584 bytes, footer copy, header, BAT, batmap, footer.
    assert_eq!(b.len(), 3584);
    assert_eq!(&b[0..512], &b[0xC00..0xE00], "footer copy equals footer");
    assert_eq!(&b[0..8], b"conectix");
    assert_eq!(&b[8..16], &[0, 0, 0, 2, 0, 1, 0, 0]);
    assert_eq!(&b[16..24], &512u64.to_be_bytes());
    assert_eq!(&b[28..32], b"tap\0");
    assert_eq!(&b[32..36], &[0, 1, 0, 3]);
    assert_eq!(&b[36..40], &[0, 0, 0, 0], "host OS 0");
    assert_eq!(&b[40..48], &0x640_0000u64.to_be_bytes());
    assert_eq!(&b[48..56], &0x640_0000u64.to_be_bytes());
    assert_eq!(&b[56..60], &[0x03, 0xeb, 12, 17], "floor CHS 1003/12/17");
    assert_eq!(&b[60..64], &[0, 0, 0, 3]);
    assert!(b[85..512].iter().all(|&x| x == 0));
    let h = &b[512..1536];
    assert_eq!(&h[0..8], b"cxsparse");
    assert_eq!(&h[8..16], &[0xff; 8]);
    assert_eq!(&h[16..24], &0x600u64.to_be_bytes());
    assert_eq!(&h[24..28], &[0, 1, 0, 0]);
    assert_eq!(&h[28..32], &50u32.to_be_bytes());
    assert_eq!(&h[32..36], &0x20_0000u32.to_be_bytes());
    assert!(
        b[0x600..0x600 + 200].iter().all(|&x| x == 0xff),
        "50 unused entries"
    );
    assert!(
        b[0x600 + 200..0x800].iter().all(|&x| x == 0),
        "zeroed BAT padding"
    );
    assert_eq!(&b[0x800..0x808], b"tdbatmap");
    assert_eq!(&b[0x808..0x810], &0xA00u64.to_be_bytes());
    assert_eq!(&b[0x810..0x814], &1u32.to_be_bytes());
    assert_eq!(&b[0x814..0x818], &0x0001_0002u32.to_be_bytes());
    assert_eq!(&b[0x818..0x81c], &0xffff_ffffu32.to_be_bytes());
}

#[test]
fn tap_blocks_have_page_aligned_payloads_and_batmap_bits() {
    let d = scratch();
    let raw = d.path().join("in.raw");
    sparse_raw(&raw, 20 * MIB, &[(0, 100), (9 * MIB, 10)]);
    let img = d.path().join("t.vhd");
    ok(measured().args(["vhd", "convert"]).arg(&raw).arg(&img));
    let v = vhd::Vhd::open(&img).unwrap();
    let used: Vec<(usize, u32)> = v
        .bat()
        .iter()
        .copied()
        .enumerate()
        .filter(|e| e.1 != u32::MAX)
        .collect();
    assert_eq!(used.iter().map(|e| e.0).collect::<Vec<_>>(), vec![0, 4]);
    for (_, e) in &used {
        assert_eq!((*e as u64 * 512 + 512) % 4096, 0);
    }
    let (_, map) = v.batmap().expect("batmap");
    assert_eq!(map[0], 0b1000_1000);
}

#[test]
fn same_input_and_source_date_epoch_give_the_same_bytes() {
    let d = scratch();
    let raw = d.path().join("in.raw");
    sparse_raw(&raw, 10 * MIB, &[(5000, 100_000)]);
    let mut outs = Vec::new();
    for i in 0..2 {
        let img = d.path().join(format!("{i}.vhd"));
        ok(measured()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args(["vhd", "convert"])
            .arg(&raw)
            .arg(&img));
        outs.push(std::fs::read(&img).unwrap());
    }
    assert_eq!(outs[0], outs[1]);
}
