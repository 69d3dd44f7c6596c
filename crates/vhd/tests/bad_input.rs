//! Bad input never panics: each damaged image gives an error naming the
//! field and offset, and the checker lists the violation.

use std::path::Path;

use fstree::ContentSource;

use vhd::{CreateOptions, Profile, Vhd, check_file, convert_to_vhd};

fn good(dir: &Path, profile: Profile) -> Vec<u8> {
    let src = fstree::Sparse {
        len: 6 << 20,
        data: vec![(100, vec![7u8; 5000]), (4 << 20, vec![9u8; 512])],
    };
    let p = dir.join("good.vhd");
    convert_to_vhd(&src, &p, &CreateOptions::new(profile), &mut |_| {}).unwrap();
    std::fs::read(p).unwrap()
}

/// Write `bytes`, open them, and return the error text and check violations.
fn damaged(dir: &Path, bytes: &[u8]) -> (String, Vec<String>) {
    let p = dir.join("bad.vhd");
    std::fs::write(&p, bytes).unwrap();
    let err = Vhd::open(&p)
        .expect_err("damaged image must not open")
        .to_string();
    let v = check_file(&p)
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    (err, v)
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Recompute the dynamic header checksum after an edit so the edit itself is tested.
fn fix_header(b: &mut [u8]) {
    let mut h = [0u8; 1024];
    h.copy_from_slice(&b[512..1536]);
    let c = vhd::format::DynamicHeader::computed_checksum(&h);
    put32(b, 512 + 36, c);
}

#[test]
fn damaged_images_are_named_errors_and_check_violations() {
    let d = tempfile::tempdir().unwrap();
    let g = good(d.path(), Profile::Tap);
    let n = g.len();
    Vhd::open(d.path().join("good.vhd")).unwrap();
    assert!(check_file(&d.path().join("good.vhd")).unwrap().is_empty());

    // Truncated: every prefix fails cleanly (sampled).
    for cut in [0, 100, 511, 512, 1500, 3000, n / 2, n - 1] {
        let p = d.path().join("cut.vhd");
        std::fs::write(&p, &g[..cut]).unwrap();
        let _ = check_file(&p).unwrap();
        if let Err(e) = Vhd::open(&p) {
            assert!(!e.to_string().is_empty());
        }
    }

    let mut b = g.clone();
    b[n - 512 + 70] ^= 1; // flipped checksum-covered byte in the EOF footer
    b[70] ^= 1; // and in the copy
    let (e, v) = damaged(d.path(), &b);
    assert!(e.contains("footer.checksum"), "{e}");
    assert!(v.iter().any(|x| x.contains("footer.checksum")), "{v:?}");

    let mut b = g.clone();
    b[n - 512..n - 504].copy_from_slice(b"conectiX");
    b[0..8].copy_from_slice(b"conectiX");
    let (e, v) = damaged(d.path(), &b);
    assert!(
        e.contains("footer.cookie") && e.contains(&format!("{:#x}", n - 512)),
        "{e}"
    );
    assert!(v.iter().any(|x| x.contains("footer.cookie")));

    let mut b = g.clone();
    b[512..520].copy_from_slice(b"cxsparsX");
    fix_header(&mut b);
    let (e, v) = damaged(d.path(), &b);
    assert!(e.contains("header.cookie") && e.contains("0x200"), "{e}");
    assert!(v.iter().any(|x| x.contains("header.cookie")));

    let mut b = g.clone();
    b[512 + 40] ^= 0x55;
    let (e, _) = damaged(d.path(), &b);
    assert!(e.contains("header.checksum"), "{e}");

    let mut b = g.clone();
    put32(&mut b, 512 + 32, 3 << 20); // block size not a power of two
    fix_header(&mut b);
    let (e, v) = damaged(d.path(), &b);
    assert!(e.contains("header.block_size"), "{e}");
    assert!(v.iter().any(|x| x.contains("header.block_size")));

    let mut b = g.clone();
    put32(&mut b, 0x600, 0x00ff_ffff); // BAT entry past EOF
    let (e, v) = damaged(d.path(), &b);
    assert!(e.contains("bat entry") && e.contains("0x600"), "{e}");
    assert!(v.iter().any(|x| x.contains("bat[0]")), "{v:?}");

    let mut b = g.clone();
    let first = u32::from_be_bytes(b[0x600..0x604].try_into().unwrap());
    put32(&mut b, 0x608, first + 8); // block 2 overlaps block 0
    let (e, v) = damaged(d.path(), &b);
    assert!(e.contains("overlaps"), "{e}");
    assert!(v.iter().any(|x| x.contains("overlaps block")), "{v:?}");

    let mut b = g.clone();
    put32(&mut b, 512 + 28, 1); // too few BAT entries for the size
    fix_header(&mut b);
    let (e, _) = damaged(d.path(), &b);
    assert!(e.contains("max_table_entries"), "{e}");

    // Absurd size, footer re-checksummed so only the size is wrong.
    let mut b = g.clone();
    b[n - 512 + 48..n - 512 + 56].copy_from_slice(&u64::MAX.to_be_bytes());
    let mut f = [0u8; 512];
    f.copy_from_slice(&b[n - 512..]);
    let c = vhd::Footer::computed_checksum(&f);
    put32(&mut b, n - 512 + 64, c);
    let (e, v) = damaged(d.path(), &b);
    assert!(e.contains("current_size"), "{e}");
    assert!(v.iter().any(|x| x.contains("current_size")));

    // Batmap checksum flipped: opens (advisory) but check names it.
    let mut b = g.clone();
    b[0x818] ^= 0xff;
    let p = d.path().join("bm.vhd");
    std::fs::write(&p, &b).unwrap();
    assert!(Vhd::open(&p).is_ok());
    let v = check_file(&p).unwrap();
    assert!(v.iter().any(|x| x.field == "batmap.checksum"), "{v:?}");

    // Bitmap not full while the batmap says so.
    let mut b = g.clone();
    let at = first as usize * 512;
    b[at] = 0x7f;
    std::fs::write(&p, &b).unwrap();
    let v = check_file(&p).unwrap();
    assert!(
        v.iter().any(|x| x.field.starts_with("bitmap of block 0")),
        "{v:?}"
    );
}

fn corpus_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/vhd_open")
}

#[test]
fn every_fuzz_seed_goes_through_the_reader_without_panicking() {
    let dir = corpus_dir();
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let _ = check_file(&p).unwrap();
        if let Ok(v) = Vhd::open(&p) {
            let mut buf = vec![0u8; 1 << 16];
            for (o, _) in v.data_ranges().unwrap() {
                v.read_at(o, &mut buf).unwrap();
            }
        }
        n += 1;
    }
    assert!(n >= 4, "seed corpus in {} is missing", dir.display());
}

/// Regenerate the seed corpus (small images) with `VHD_WRITE_CORPUS=1`.
#[test]
fn seed_corpus_can_be_regenerated() {
    if std::env::var_os("VHD_WRITE_CORPUS").is_none() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let dir = corpus_dir();
    for (name, prof, fixed) in [
        ("tap.vhd", Profile::Tap, false),
        ("qemu.vhd", Profile::Qemu, false),
    ] {
        let src = fstree::Sparse {
            len: 2 << 20,
            data: vec![(0, vec![1u8; 700])],
        };
        let mut o = CreateOptions::new(prof);
        o.fixed = fixed;
        o.timestamp = Some(0);
        let p = d.path().join(name);
        convert_to_vhd(&src, &p, &o, &mut |_| {}).unwrap();
        // Keep only the metadata and the start of the block: small seeds.
        let b = std::fs::read(&p).unwrap();
        std::fs::write(dir.join(name), &b[..b.len().min(8192)]).unwrap();
        let mut t = b[..4096.min(b.len())].to_vec();
        t.extend_from_slice(&b[b.len() - 512..]);
        std::fs::write(dir.join(format!("short-{name}")), t).unwrap();
    }
    let mut o = CreateOptions::new(Profile::Fixed);
    o.timestamp = Some(0);
    let p = d.path().join("f.vhd");
    let src = fstree::Sparse {
        len: 1 << 20,
        data: vec![],
    };
    convert_to_vhd(&src, &p, &o, &mut |_| {}).unwrap();
    let b = std::fs::read(&p).unwrap();
    std::fs::write(dir.join("fixed-footer.bin"), &b[b.len() - 512..]).unwrap();
}

/// `bytes` minus its footer, then holes up to `footer_at`, then the footer:
/// a sparse file as large as a lying header needs, holding almost nothing.
fn spread(dir: &Path, bytes: &[u8], footer_at: u64) -> std::path::PathBuf {
    use std::os::unix::fs::FileExt;
    let n = bytes.len();
    let p = dir.join("spread.vhd");
    let f = std::fs::File::create(&p).unwrap();
    f.write_all_at(&bytes[..n - 512], 0).unwrap();
    f.write_all_at(&bytes[n - 512..], footer_at).unwrap();
    p
}

#[test]
fn a_bat_of_four_billion_entries_is_not_read_past_the_disks_blocks() {
    // The header claims 0xFFFFFFFF entries and the (sparse) file is large
    // enough to hold them: reading them all took 16 GiB of memory.
    let d = tempfile::tempdir().unwrap();
    let mut b = good(d.path(), Profile::Qemu);
    let want = {
        let v = Vhd::open(d.path().join("good.vhd")).unwrap();
        (v.bat().to_vec(), v.data_ranges().unwrap())
    };
    put32(&mut b, 512 + 28, u32::MAX);
    fix_header(&mut b);
    let p = spread(d.path(), &b, 17 << 30);
    let v = Vhd::open(&p).unwrap();
    assert_eq!(v.bat(), &want.0[..], "only the disk's 3 entries are read");
    assert_eq!(v.data_ranges().unwrap(), want.1);
    let viol = check_file(&p).unwrap();
    assert!(
        viol.iter()
            .any(|x| x.field == "header.max_table_entries" && x.problem.contains("not checked")),
        "{viol:?}"
    );
}

#[test]
fn a_bat_needing_more_than_the_limit_is_refused_naming_the_field() {
    // 512-byte blocks over 4 GiB need 8,388,608 entries: past MAX_BAT_ENTRIES.
    let d = tempfile::tempdir().unwrap();
    let mut b = good(d.path(), Profile::Qemu);
    let n = b.len();
    for at in [0, n - 512] {
        b[at + 40..at + 56].copy_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        let mut f = [0u8; 512];
        f.copy_from_slice(&b[at..at + 512]);
        put32(&mut b, at + 64, vhd::Footer::computed_checksum(&f));
    }
    put32(&mut b, 512 + 28, 1 << 23);
    put32(&mut b, 512 + 32, 512);
    fix_header(&mut b);
    let p = spread(d.path(), &b, 64 << 20);
    let e = Vhd::open(&p).unwrap_err().to_string();
    assert!(
        e.contains("header.block_size") && e.contains("at most 4194304"),
        "{e}"
    );
    let viol = check_file(&p).unwrap();
    assert!(
        viol.iter().any(|x| x.field == "header.max_table_entries"),
        "{viol:?}"
    );
}

#[test]
fn violations_past_the_limit_are_counted_not_listed() {
    // Every BAT entry pointing at sector 0 breaks rules in each entry.
    let d = tempfile::tempdir().unwrap();
    let mut b = good(d.path(), Profile::Qemu);
    put32(&mut b, 512 + 28, 1 << 16);
    fix_header(&mut b);
    let p = spread(d.path(), &b, 8 << 20);
    let viol = check_file(&p).unwrap();
    assert_eq!(
        viol.len(),
        vhd::check::MAX_VIOLATIONS + 1,
        "{:?}",
        &viol[..3]
    );
    assert!(
        viol.last()
            .unwrap()
            .problem
            .contains("more violations not listed")
    );
}
