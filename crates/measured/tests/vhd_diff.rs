//! Differencing images (qemu-img cannot create them for vpc: "Backing file
//! not supported"), built per the spec here and read through the chain; and
//! flat memory on a 20 GiB sparse convert.

mod vhd_common;
use vhd_common::*;

use std::os::unix::fs::FileExt;

use vhd::format::{DynamicHeader, Footer, ParentLocator, platform};

const MIB: u64 = 1 << 20;

#[test]
fn differencing_child_reads_its_sectors_and_the_parent_elsewhere() {
    let d = scratch();
    let size = 6 * MIB;
    let raw = d.path().join("parent.raw");
    sparse_raw(&raw, size, &[(0, 3 * MIB as usize), (5 * MIB, 4096)]);
    let parent = d.path().join("parent.vhd");
    ok(measured()
        .args(["vhd", "convert", "--profile", "qemu"])
        .arg(&raw)
        .arg(&parent));
    let pv = vhd::Vhd::open(&parent).unwrap();
    let size = pv.size();

    // Child layout: footer copy, header @512, BAT @1536 (1 sector),
    // locator data @2048 (1 sector), block 0 bitmap @2560, data @3072, footer.
    let entries = size.div_ceil(2 * MIB) as u32;
    let mut h = DynamicHeader::new(1536, entries, 2 << 20);
    h.parent_uuid = pv.footer().uuid;
    let name: Vec<u8> = "parent.vhd"
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .collect();
    h.parent_name_raw[..name.len()].copy_from_slice(&name);
    let loc: Vec<u8> = ".\\parent.vhd"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    h.locators[0] = ParentLocator {
        code: platform::W2RU,
        data_space: 512,
        data_len: loc.len() as u32,
        reserved: 0,
        data_offset: 2048,
    };
    let mut f = pv.footer().clone();
    f.disk_type = 4;
    f.data_offset = 512;
    f.uuid = [0x42; 16];
    f.creator_app = *b"test";
    let fb = f.encode();
    let hb = h.encode();
    let child = d.path().join("child.vhd");
    let file = std::fs::File::create(&child).unwrap();
    let mut bat = vec![0xFFu8; 512];
    bat[0..4].copy_from_slice(&(2560u32 / 512).to_be_bytes());
    // Sectors 2..4 and 100 of block 0 are in the child (MSB first).
    let mut bitmap = [0u8; 512];
    bitmap[0] = 0b0011_1000;
    bitmap[100 / 8] |= 0x80 >> (100 % 8);
    let payload = noise(99, 2 * MIB as usize);
    file.write_all_at(&fb, 0).unwrap();
    file.write_all_at(&hb, 512).unwrap();
    file.write_all_at(&bat, 1536).unwrap();
    file.write_all_at(&loc, 2048).unwrap();
    file.write_all_at(&bitmap, 2560).unwrap();
    file.write_all_at(&payload, 3072).unwrap();
    file.write_all_at(&fb, 3072 + 2 * MIB).unwrap();
    drop(file);

    let mut expect = std::fs::read(&raw).unwrap();
    expect.resize(size as usize, 0);
    for s in [2usize, 3, 4, 100] {
        expect[s * 512..s * 512 + 512].copy_from_slice(&payload[s * 512..s * 512 + 512]);
    }
    let out = d.path().join("flat.raw");
    ok(measured().args(["vhd", "convert"]).arg(&child).arg(&out));
    assert!(
        std::fs::read(&out).unwrap() == expect,
        "flattened child differs"
    );
    // Flattening to a VHD gives what qemu-img reads as the same bytes.
    let flat = d.path().join("flat.vhd");
    let exp = d.path().join("expect.raw");
    std::fs::write(&exp, &expect).unwrap();
    ok(measured()
        .args(["vhd", "convert", "--to", "vhd"])
        .arg(&child)
        .arg(&flat));
    qemu_identical(&exp, &flat);
    // info shows the chain.
    let info = ok(measured().args(["vhd", "info", "--json"]).arg(&child));
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(v["vhd"]["disk-type"], "differencing");
    assert_eq!(v["backing-image"]["vhd"]["disk-type"], "dynamic");
    assert_eq!(v["backing-filename"], v["backing-image"]["filename"]);

    // A parent with another unique id is refused with a named error.
    let mut f2 = Footer::decode(&std::fs::read(&parent).unwrap()[..512].try_into().unwrap());
    f2.uuid = [1; 16];
    let b2 = f2.encode();
    let pf = std::fs::OpenOptions::new()
        .write(true)
        .open(&parent)
        .unwrap();
    let plen = pf.metadata().unwrap().len();
    pf.write_all_at(&b2, 0).unwrap();
    pf.write_all_at(&b2, plen - 512).unwrap();
    let e = vhd::Vhd::open(&child).unwrap_err().to_string();
    assert!(e.contains("parent_uuid"), "{e}");
    let st = measured()
        .args(["vhd", "info"])
        .arg(&child)
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(2));
}

#[test]
fn converting_20_gib_sparse_stays_under_64_mib_rss() {
    let d = scratch();
    let raw = d.path().join("big.raw");
    let spots: Vec<(u64, usize)> = (0..20).map(|i| (i * (1 << 30) + 12345, 3 << 20)).collect();
    sparse_raw(&raw, 20 << 30, &spots);
    let img = d.path().join("big.vhd");
    ok(measured().args(["vhd", "convert"]).arg(&raw).arg(&img));
    let back = d.path().join("back.raw");
    ok(measured().args(["vhd", "convert"]).arg(&img).arg(&back));
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one rusage into the pointer we pass, which
    // points to a zeroed, properly aligned MaybeUninit<rusage> we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, ru.as_mut_ptr()) };
    assert_eq!(rc, 0);
    // SAFETY: getrusage returned 0, so it filled the struct.
    let maxrss_kib = unsafe { ru.assume_init() }.ru_maxrss;
    assert!(maxrss_kib > 0);
    assert!(
        maxrss_kib < 64 * 1024,
        "peak RSS of a child was {maxrss_kib} KiB"
    );
    let v = vhd::Vhd::open(&img).unwrap();
    assert_eq!(v.allocated_blocks(), 40);
}
