//! `measured vhd` against qemu-img and vhdiinfo: sizes, contents, round
//! trips, tap header bytes, and bad input.

mod common;

use std::path::Path;

use common::*;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The size each profile promises for a request, with qemu-img's own
/// rounding as the oracle for the qemu profile.
fn intended(profile: &str, size: u64, dir: &Path) -> u64 {
    match profile {
        "tap" => size.div_ceil(2 * MIB) * 2 * MIB,
        "fixed" => size.div_ceil(MIB) * MIB,
        "qemu" => {
            let p = dir.join("oracle.vhd");
            tool_ok(
                "qemu-img",
                &["create", "-q", "-f", "vpc", s(&p), &size.to_string()],
            );
            let v = qemu_virtual_size(&p);
            std::fs::remove_file(&p).unwrap();
            v
        }
        _ => unreachable!(),
    }
}

#[test]
fn created_images_of_every_profile_have_the_intended_size_for_qemu_img_and_vhdiinfo() {
    let dir = tempfile::tempdir().unwrap();
    for size in [MIB, 100 * MIB, GIB, 127 * GIB, 2040 * GIB] {
        for profile in ["tap", "qemu", "fixed"] {
            for fixed in [false, true] {
                let out = dir.path().join(format!("{profile}-{fixed}-{size}.vhd"));
                let mut args = vec!["vhd", "create", "--profile", profile];
                let sz = size.to_string();
                args.extend([sz.as_str(), s(&out)]);
                if fixed {
                    args.push("--fixed");
                }
                measured_ok(&args);
                let want = intended(profile, size, dir.path());
                assert_eq!(qemu_virtual_size(&out), want, "qemu-img on {out:?}");
                assert_eq!(vhdiinfo_media_size(&out), want, "vhdiinfo on {out:?}");
                measured_ok(&["vhd", "check", s(&out)]);
                std::fs::remove_file(&out).unwrap();
            }
        }
    }
}

/// Pieces that hit the first sector, straddle block boundaries, end
/// mid-sector and fill the last bytes of the disk.
fn pieces(size: u64) -> Vec<(u64, usize)> {
    let mut v = vec![(0, 1000), (size - 777, 777)];
    if size > 4 * MIB {
        v.push((2 * MIB - 3000, 7000));
        v.push((size / 2 + 12345, 300_001));
        v.push((size - 2 * MIB - 100, 200));
    }
    v
}

#[test]
fn qemu_img_compare_finds_converted_images_identical_to_their_raw_source() {
    let dir = tempfile::tempdir().unwrap();
    for size in [MIB, 100 * MIB, GIB, 127 * GIB] {
        let raw = dir.path().join("src.raw");
        sparse_raw(&raw, size, &pieces(size));
        for profile in ["tap", "qemu", "fixed"] {
            for fixed in [false, true] {
                if fixed && size > GIB {
                    // qemu-img compare reads every byte of a fixed image;
                    // the 127 GiB case is covered by the dynamic variants.
                    continue;
                }
                let out = dir.path().join(format!("{profile}-{fixed}.vhd"));
                let mut args = vec!["vhd", "convert", s(&raw), s(&out), "--profile", profile];
                if fixed {
                    args.push("--fixed");
                }
                measured_ok(&args);
                let cmp = tool(
                    "qemu-img",
                    &["compare", "-f", "raw", "-F", "vpc", s(&raw), s(&out)],
                );
                assert!(
                    cmp.status.success(),
                    "{profile} fixed={fixed} size={size}: {}",
                    String::from_utf8_lossy(&cmp.stdout)
                );
                measured_ok(&["vhd", "check", s(&out)]);
                std::fs::remove_file(&out).unwrap();
            }
        }
        std::fs::remove_file(&raw).unwrap();
    }
}

#[test]
fn raw_to_vhd_to_raw_round_trips_are_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let size = 37 * MIB + 512 * 3;
    let raw = dir.path().join("a.raw");
    sparse_raw(&raw, size, &pieces(size));
    for (profile, fixed) in [
        ("tap", false),
        ("tap", true),
        ("fixed", true),
        ("qemu", false),
    ] {
        let v = dir.path().join("a.vhd");
        let back = dir.path().join("back.raw");
        let mut args = vec!["vhd", "convert", s(&raw), s(&v), "--profile", profile];
        if fixed {
            args.push("--fixed");
        }
        measured_ok(&args);
        measured_ok(&["vhd", "convert", s(&v), s(&back), "--to", "raw"]);
        let (a, b) = (std::fs::read(&raw).unwrap(), std::fs::read(&back).unwrap());
        // Profiles may round the size up; the tail must then be zeros.
        assert!(b.len() >= a.len(), "{profile}: output shorter than input");
        assert!(
            b[..a.len()] == a[..],
            "{profile} fixed={fixed}: contents differ"
        );
        assert!(
            b[a.len()..].iter().all(|&x| x == 0),
            "{profile}: non-zero tail"
        );
    }
}

#[test]
fn images_written_by_qemu_img_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let size = 9 * MIB + 4096;
    let raw = dir.path().join("q.raw");
    sparse_raw(&raw, size, &pieces(size));
    let want = std::fs::read(&raw).unwrap();
    for opts in [
        "subformat=dynamic",
        "subformat=fixed",
        "force_size=on",
        "subformat=fixed,force_size=on",
    ] {
        let v = dir.path().join("q.vhd");
        tool_ok(
            "qemu-img",
            &[
                "convert",
                "-f",
                "raw",
                "-O",
                "vpc",
                "-o",
                opts,
                s(&raw),
                s(&v),
            ],
        );
        let back = dir.path().join("q-back.raw");
        measured_ok(&["vhd", "convert", s(&v), s(&back), "--to", "raw"]);
        let got = std::fs::read(&back).unwrap();
        assert!(got.len() >= want.len(), "{opts}: short read");
        assert!(got[..want.len()] == want[..], "{opts}: contents differ");
        assert!(
            got[want.len()..].iter().all(|&b| b == 0),
            "{opts}: non-zero tail"
        );
        let info: serde_json::Value =
            serde_json::from_str(&measured_ok(&["--json", "vhd", "info", s(&v)])).unwrap();
        assert_eq!(
            info["virtual_size"].as_u64().unwrap(),
            qemu_virtual_size(&v),
            "{opts}"
        );
    }
}

/// qemu-img cannot create differencing VHDs, so build one per the spec:
/// a child whose block 0 holds sectors 1..=3 and whose other sectors come
/// from the parent it names by a relative W2ru locator.
fn build_differencing_child(dir: &Path, parent: &Path, size: u64) -> Vec<u8> {
    use vhd::{DiskType, DynamicHeader, Footer, Geometry, ParentLocator};
    let pv = vhd::Vhd::open(parent).unwrap();
    let bs: u64 = 2 * MIB;
    let entries = size.div_ceil(bs) as u32;
    let mut h = DynamicHeader::new(1536, entries, bs as u32);
    h.parent_uuid = pv.footer().uuid;
    h.parent_name = "parent.vhd".into();
    let loc_data: Vec<u8> = ".\\parent.vhd"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let bat_end = 1536 + (entries as u64 * 4).div_ceil(512) * 512;
    h.locators[0] = ParentLocator {
        code: vhd::dynamic::LOC_W2RU,
        data_space: 512,
        data_len: loc_data.len() as u32,
        data_offset: bat_end,
    };
    let block_at = bat_end + 512;
    let mut bat = vec![0xFFu8; (bat_end - 1536) as usize];
    bat[0..4].copy_from_slice(&((block_at / 512) as u32).to_be_bytes());
    let mut bitmap = vec![0u8; 512];
    bitmap[0] = 0b0111_0000; // sectors 1, 2, 3
    let payload = vec![0xABu8; bs as usize];
    let footer_at = block_at + 512 + bs;
    let footer = Footer {
        features: 2,
        version: 0x0001_0000,
        data_offset: 512,
        timestamp: 0,
        creator_app: *b"win ",
        creator_version: 0x000A_0000,
        creator_os: *b"Wi2k",
        original_size: size,
        current_size: size,
        geometry: Geometry::for_size(size),
        disk_type: DiskType::Differencing,
        checksum: 0,
        uuid: [7; 16],
        saved_state: 0,
        hidden: 0,
    };
    let child = dir.join("child.vhd");
    write_at(&child, 0, &footer.encode());
    write_at(&child, 512, &h.encode());
    write_at(&child, 1536, &bat);
    write_at(&child, bat_end, &loc_data);
    write_at(&child, block_at, &bitmap);
    write_at(&child, block_at + 512, &payload);
    write_at(&child, footer_at, &footer.encode());
    let mut want = vec![0u8; size as usize];
    pv.read_at(0, &mut want).unwrap();
    want[512..4 * 512].fill(0xAB);
    want
}

#[test]
fn differencing_disks_read_through_their_parent_and_flatten() {
    let dir = tempfile::tempdir().unwrap();
    let size = 6 * MIB;
    let raw = dir.path().join("base.raw");
    sparse_raw(&raw, size, &[(0, 8192), (3 * MIB, 5000)]);
    let parent = dir.path().join("parent.vhd");
    measured_ok(&["vhd", "convert", s(&raw), s(&parent)]);
    let want = build_differencing_child(dir.path(), &parent, size);
    let child = dir.path().join("child.vhd");
    let out = dir.path().join("flat.raw");
    measured_ok(&["vhd", "convert", s(&child), s(&out), "--to", "raw"]);
    assert!(
        std::fs::read(&out).unwrap() == want,
        "child read differs from parent+overlay"
    );
    let info = measured_ok(&["vhd", "info", s(&child)]);
    assert!(
        info.contains("parent.vhd"),
        "info names the parent:\n{info}"
    );
    // VHD -> VHD flattens the chain: qemu-img, which cannot follow a vpc
    // parent, sees the merged contents.
    let flat = dir.path().join("flat.vhd");
    measured_ok(&["vhd", "convert", s(&child), s(&flat)]);
    std::fs::write(&out, &want).unwrap();
    tool_ok(
        "qemu-img",
        &["compare", "-f", "raw", "-F", "vpc", s(&out), s(&flat)],
    );
    // A parent whose UUID does not match is refused, by name.
    let other = dir.path().join("other.vhd");
    measured_ok(&[
        "vhd",
        "convert",
        s(&raw),
        s(&other),
        "--uuid",
        "00112233445566778899aabbccddeeff",
    ]);
    std::fs::rename(&other, &parent).unwrap();
    let r = measured(&["vhd", "info", s(&child)]);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("expects"),
        "{r:?}"
    );
}

fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes(b[o..o + 4].try_into().unwrap())
}

fn be64(b: &[u8], o: usize) -> u64 {
    u64::from_be_bytes(b[o..o + 8].try_into().unwrap())
}

#[test]
fn tap_profile_headers_are_what_vhd_util_create_writes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.vhd");
    measured_ok(&["vhd", "create", "100M", s(&p)]);
    let b = std::fs::read(&p).unwrap();
    // vhd-util create -s 100: footer, header@0x200, BAT@0x600 (50 entries),
    // batmap header@0x800, batmap@0xA00, footer@0xC00: 3584 bytes.
    assert_eq!(b.len(), 3584);
    assert_eq!(&b[0..8], b"conectix");
    assert_eq!(
        b[0..512],
        b[0xC00..0xE00],
        "footer copy at 0 equals the footer"
    );
    assert_eq!(be32(&b, 8), 2, "features");
    assert_eq!(be64(&b, 16), 512, "data offset");
    assert_eq!(&b[28..32], b"tap\0", "creator application");
    assert_eq!(be32(&b, 32), 0x0001_0003, "creator version 1.3");
    assert_eq!(be32(&b, 36), 0, "creator OS is 0");
    assert_eq!(be64(&b, 40), 100 * MIB);
    assert_eq!(be64(&b, 48), 100 * MIB);
    assert_eq!(
        (u16::from_be_bytes([b[56], b[57]]), b[58], b[59]),
        (1003, 12, 17),
        "floor CHS"
    );
    assert_eq!(be32(&b, 60), 3, "dynamic");
    let h = &b[0x200..0x600];
    assert_eq!(&h[0..8], b"cxsparse");
    assert_eq!(be64(h, 8), u64::MAX);
    assert_eq!(be64(h, 16), 0x600, "BAT offset");
    assert_eq!(be32(h, 28), 50, "BAT entries");
    assert_eq!(be32(h, 32), 2 * MIB as u32);
    assert!(
        b[0x600..0x600 + 200].iter().all(|&x| x == 0xFF),
        "BAT all unallocated"
    );
    let m = &b[0x800..0xA00];
    assert_eq!(&m[0..8], b"tdbatmap");
    assert_eq!(be64(m, 8), 0xA00, "batmap offset");
    assert_eq!(be32(m, 16), 1, "batmap sectors");
    assert_eq!(be32(m, 20), 0x0001_0002, "batmap version");
    assert_eq!(be32(m, 24), 0xFFFF_FFFF, "checksum of an empty map");
    // A block written later starts its payload on a 4 KiB boundary and is
    // marked full in the batmap.
    let raw = dir.path().join("one.raw");
    sparse_raw(&raw, 100 * MIB, &[(5 * MIB, 10)]);
    let w = dir.path().join("w.vhd");
    measured_ok(&["vhd", "convert", s(&raw), s(&w)]);
    let b = std::fs::read(&w).unwrap();
    let entry = be32(&b, 0x600 + 4 * 2) as u64 * 512;
    assert_eq!((entry + 512) % 4096, 0, "payload page aligned");
    assert_eq!(b[0xA00], 0b0010_0000, "batmap bit for block 2");
    let sum: u32 = b[0xA00..0xC00].iter().map(|&x| x as u32).sum();
    assert_eq!(be32(&b, 0x800 + 24), !sum, "batmap checksum");
}

/// Corrupt a good image in one place and expect `vhd info` to refuse it with
/// exit 2 naming `needle`, and `vhd check` to report it with exit 1.
fn refused(dir: &Path, name: &str, corrupt: impl Fn(&mut Vec<u8>), needle: &str) {
    let raw = dir.join("good.raw");
    sparse_raw(&raw, 8 * MIB, &[(0, 5000), (5 * MIB, 9000)]);
    let good = dir.join("good.vhd");
    measured_ok(&["vhd", "convert", s(&raw), s(&good)]);
    let mut b = std::fs::read(&good).unwrap();
    corrupt(&mut b);
    let bad = dir.join(name);
    std::fs::write(&bad, &b).unwrap();
    let r = measured(&["vhd", "info", s(&bad)]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{name}: {err}");
    assert!(
        err.contains(needle),
        "{name}: error lacks {needle:?}: {err}"
    );
    assert!(!err.contains("panicked"), "{name}: {err}");
    let c = measured(&["vhd", "check", s(&bad)]);
    assert!(
        matches!(c.status.code(), Some(1) | Some(2)),
        "{name}: check said {:?}",
        c.status
    );
}

#[test]
fn corrupt_images_are_refused_with_the_field_and_offset() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let end = |b: &Vec<u8>| b.len() - 512;
    refused(d, "truncated", |b| b.truncate(300), "truncated");
    refused(
        d,
        "cut-mid",
        |b| {
            let n = b.len() - 700;
            b.truncate(n)
        },
        "footer.cookie",
    );
    refused(
        d,
        "checksum",
        |b| {
            let e = end(b);
            b[e + 65] ^= 0x10
        },
        "footer.checksum at offset",
    );
    refused(
        d,
        "cookie",
        |b| {
            let e = end(b);
            b[e] = b'X'
        },
        "footer.cookie",
    );
    refused(
        d,
        "hdr-cookie",
        |b| b[512] = b'X',
        "dynamic header.cookie at offset 512",
    );
    refused(
        d,
        "block-size",
        |b| {
            b[512 + 32..512 + 36].copy_from_slice(&3_000_000u32.to_be_bytes());
            fix_header_checksum(b);
        },
        "block_size",
    );
    refused(
        d,
        "bat-past-eof",
        |b| {
            b[1536..1540].copy_from_slice(&0x0100_0000u32.to_be_bytes());
        },
        "BAT.entry at offset 1536",
    );
    refused(
        d,
        "bat-overlap",
        |b| {
            let first = b[1536..1540].to_vec();
            b[1536 + 8..1536 + 12].copy_from_slice(&first);
        },
        "BAT.entry",
    );
    refused(
        d,
        "absurd-size",
        |b| {
            let e = end(b);
            b[e + 48..e + 56].copy_from_slice(&(1u64 << 62).to_be_bytes());
            fix_footer_checksum(b, e);
        },
        "current_size",
    );
    refused(
        d,
        "huge-bat",
        |b| {
            b[512 + 28..512 + 32].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
            fix_header_checksum(b);
        },
        "table_offset",
    );
    refused(
        d,
        "disk-type",
        |b| {
            let e = end(b);
            b[e + 60..e + 64].copy_from_slice(&9u32.to_be_bytes());
            fix_footer_checksum(b, e);
        },
        "disk_type",
    );
}

fn fix_footer_checksum(b: &mut [u8], at: usize) {
    let f: &mut [u8] = &mut b[at..at + 512];
    f[64..68].fill(0);
    let sum: u32 = f.iter().map(|&x| x as u32).sum();
    f[64..68].copy_from_slice(&(!sum).to_be_bytes());
}

fn fix_header_checksum(b: &mut [u8]) {
    let h = &mut b[512..1536];
    h[36..40].fill(0);
    let sum: u32 = h.iter().map(|&x| x as u32).sum();
    h[36..40].copy_from_slice(&(!sum).to_be_bytes());
}

#[test]
fn check_names_every_violation_it_finds() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("c.raw");
    sparse_raw(&raw, 8 * MIB, &[(0, 5000), (5 * MIB, 9000)]);
    let good = dir.path().join("c.vhd");
    measured_ok(&["vhd", "convert", s(&raw), s(&good)]);
    let mut b = std::fs::read(&good).unwrap();
    let e = b.len() - 512;
    b[e + 65] ^= 1; // footer checksum
    b[0xA00] = 0xFF; // batmap claims every block full
    std::fs::write(&good, &b).unwrap();
    let r = measured(&["--json", "vhd", "check", s(&good)]);
    assert_eq!(r.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let msgs: Vec<String> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        msgs.iter().any(|m| m.contains("footer checksum")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|m| m.contains("batmap checksum")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("unallocated but marked full")),
        "{msgs:?}"
    );
    assert!(msgs.iter().any(|m| m.contains("footer copy")), "{msgs:?}");
}
