//! `vhd check` follows a differencing image's parent chain: a parent that
//! is missing, not a VHD, another image than the one recorded, or already
//! in the chain is a violation; and lying offsets never overflow.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use vhd::format::{DynamicHeader, Footer, ParentLocator, platform};
use vhd::{CreateOptions, Profile, Vhd, check_file, convert_to_vhd};

const MIB: u64 = 1 << 20;

/// A dynamic parent of 4 MiB with some data; returns its footer.
fn parent(dir: &Path, name: &str) -> Footer {
    let src = fstree::Sparse {
        len: 4 * MIB,
        data: vec![(0, vec![5u8; 8192])],
    };
    let p = dir.join(name);
    convert_to_vhd(&src, &p, &CreateOptions::new(Profile::Qemu), &mut |_| {}).unwrap();
    Vhd::open(&p).unwrap().footer().clone()
}

/// The parent's modification time as libvhd records it.
fn mtime_vhd(p: &Path) -> u32 {
    let t = std::fs::metadata(p).unwrap().modified().unwrap();
    vhd::writer::vhd_timestamp(t.duration_since(UNIX_EPOCH).unwrap().as_secs())
}

/// A differencing image `name` in `dir` whose header names `parent_name`
/// (relative locator and parent name) with `parent_uuid` and `parent_ts`.
fn child(
    dir: &Path,
    name: &str,
    like: &Footer,
    uuid: [u8; 16],
    parent_name: &str,
    parent_uuid: [u8; 16],
    parent_ts: u32,
) -> PathBuf {
    let entries = like.current_size.div_ceil(2 * MIB) as u32;
    let mut h = DynamicHeader::new(1536, entries, 2 << 20);
    h.parent_uuid = parent_uuid;
    h.parent_timestamp = parent_ts;
    let n: Vec<u8> = parent_name
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .collect();
    h.parent_name_raw[..n.len()].copy_from_slice(&n);
    let loc: Vec<u8> = format!(".\\{parent_name}")
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
    let mut f = like.clone();
    f.disk_type = 4;
    f.data_offset = 512;
    f.uuid = uuid;
    f.creator_app = *b"test";
    let fb = f.encode();
    let p = dir.join(name);
    let file = std::fs::File::create(&p).unwrap();
    file.write_all_at(&fb, 0).unwrap();
    file.write_all_at(&h.encode(), 512).unwrap();
    file.write_all_at(&vec![0xFFu8; 512], 1536).unwrap();
    file.write_all_at(&loc, 2048).unwrap();
    file.write_all_at(&fb, 2560).unwrap();
    p
}

fn violations(p: &Path) -> Vec<String> {
    check_file(p)
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect()
}

#[test]
fn a_whole_chain_is_valid() {
    let d = tempfile::tempdir().unwrap();
    let pf = parent(d.path(), "base.vhd");
    let ts = mtime_vhd(&d.path().join("base.vhd"));
    let c = child(d.path(), "c.vhd", &pf, [0x42; 16], "base.vhd", pf.uuid, ts);
    assert_eq!(violations(&c), Vec::<String>::new());
    Vhd::open(&c).unwrap();
}

#[test]
fn a_missing_parent_is_a_violation() {
    let d = tempfile::tempdir().unwrap();
    let pf = parent(d.path(), "base.vhd");
    let c = child(d.path(), "c.vhd", &pf, [0x42; 16], "gone.vhd", pf.uuid, 0);
    let v = violations(&c);
    assert!(
        v.len() == 1 && v[0].contains("header.parent_locator") && v[0].contains("gone.vhd"),
        "{v:?}"
    );
}

#[test]
fn a_parent_with_another_unique_id_is_a_violation() {
    let d = tempfile::tempdir().unwrap();
    let pf = parent(d.path(), "base.vhd");
    let c = child(d.path(), "c.vhd", &pf, [0x42; 16], "base.vhd", [9; 16], 0);
    let v = violations(&c);
    assert!(
        v.len() == 1 && v[0].contains("header.parent_uuid") && v[0].contains("base.vhd"),
        "{v:?}"
    );
}

#[test]
fn a_parent_modified_after_the_child_was_made_is_a_violation() {
    let d = tempfile::tempdir().unwrap();
    let pf = parent(d.path(), "base.vhd");
    let base = d.path().join("base.vhd");
    let ts = mtime_vhd(&base);
    let c = child(d.path(), "c.vhd", &pf, [0x42; 16], "base.vhd", pf.uuid, ts);
    let later = std::fs::metadata(&base).unwrap().modified().unwrap() + Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&base)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let v = violations(&c);
    assert!(
        v.len() == 1 && v[0].contains("header.parent_timestamp"),
        "{v:?}"
    );
}

#[test]
fn a_parent_that_is_not_a_vhd_is_a_violation() {
    let d = tempfile::tempdir().unwrap();
    let pf = parent(d.path(), "base.vhd");
    std::fs::write(d.path().join("notes.txt"), vec![b'x'; 4096]).unwrap();
    let c = child(d.path(), "c.vhd", &pf, [0x42; 16], "notes.txt", pf.uuid, 0);
    let v = violations(&c);
    assert!(
        v.len() == 1 && v[0].contains("not a VHD") && v[0].contains("notes.txt"),
        "{v:?}"
    );
}

#[test]
fn a_loop_in_the_chain_is_a_violation_not_a_hang() {
    let d = tempfile::tempdir().unwrap();
    let pf = parent(d.path(), "base.vhd");
    // a -> b -> a, and an image that is its own parent.
    let a = child(d.path(), "a.vhd", &pf, [0xa; 16], "b.vhd", [0xb; 16], 0);
    child(d.path(), "b.vhd", &pf, [0xb; 16], "a.vhd", [0xa; 16], 0);
    let v = violations(&a);
    assert!(v.len() == 1 && v[0].contains("loop"), "{v:?}");
    let s = child(d.path(), "s.vhd", &pf, [0x5; 16], "s.vhd", [0x5; 16], 0);
    let v = violations(&s);
    assert!(v.len() == 1 && v[0].contains("loop"), "{v:?}");
}

#[test]
fn a_damaged_parent_is_reported_under_its_own_name() {
    let d = tempfile::tempdir().unwrap();
    let pf = parent(d.path(), "base.vhd");
    let base = d.path().join("base.vhd");
    // Break the parent's dynamic header checksum, keep its time.
    let t = std::fs::metadata(&base).unwrap().modified().unwrap();
    let f = std::fs::File::options().write(true).open(&base).unwrap();
    f.write_all_at(&[0xde, 0xad, 0xbe, 0xef], 512 + 36).unwrap();
    f.set_modified(t).unwrap();
    let c = child(
        d.path(),
        "c.vhd",
        &pf,
        [0x42; 16],
        "base.vhd",
        pf.uuid,
        mtime_vhd(&base),
    );
    let v = violations(&c);
    assert!(
        v.len() == 1 && v[0].contains("base.vhd: header.checksum"),
        "{v:?}"
    );
}

#[test]
fn lying_offsets_and_sizes_are_reported_without_overflow() {
    let d = tempfile::tempdir().unwrap();
    let pf = parent(d.path(), "base.vhd");
    let good = std::fs::read(d.path().join("base.vhd")).unwrap();
    let p = d.path().join("bad.vhd");

    // A parent locator at the end of the address space, with the largest
    // data space: its end cannot be computed by plain addition.
    let mut h = DynamicHeader::decode(&good[512..1536].try_into().unwrap());
    h.locators[0] = ParentLocator {
        code: platform::W2RU,
        data_space: u32::MAX,
        data_len: u32::MAX,
        reserved: 0,
        data_offset: u64::MAX - 10,
    };
    let mut b = good.clone();
    b[512..1536].copy_from_slice(&h.encode());
    std::fs::write(&p, &b).unwrap();
    let v = violations(&p);
    assert!(v.iter().any(|x| x.contains("header.parent")), "{v:?}");

    // A fixed disk claiming the largest size.
    let mut f = pf.clone();
    f.disk_type = 2;
    f.data_offset = u64::MAX;
    f.current_size = u64::MAX - 511;
    let mut b = vec![0u8; 4096];
    b.extend_from_slice(&f.encode());
    std::fs::write(&p, &b).unwrap();
    let v = violations(&p);
    assert!(v.iter().any(|x| x.contains("current_size")), "{v:?}");

    // BAT entries at the far end of the sector range.
    let mut b = good.clone();
    for i in 0..2 {
        let at = 1536 + 4 * i;
        b[at..at + 4].copy_from_slice(&(u32::MAX - 1).to_be_bytes());
    }
    std::fs::write(&p, &b).unwrap();
    let v = violations(&p);
    assert!(v.iter().any(|x| x.contains("bat[0]")), "{v:?}");
}
