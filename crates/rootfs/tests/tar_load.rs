//! Tar loading: GNU tar's PAX archives (every compression) read back to the
//! tree the directory loader sees; hostile names are errors naming the entry.

mod common;

use std::io::Write;

use fstree::NamePath;

#[test]
fn gnu_tar_archives_load_like_their_source_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    common::make_fixture(&src);
    std::fs::remove_file(src.join("sock")).unwrap(); // tar cannot store sockets
    let mut want = rootfs::load_dir(&src).unwrap();
    want.inode_mut(fstree::ROOT).xattrs.clear();
    for (flag, ext) in [
        ("", "tar"),
        ("-z", "tgz"),
        ("-j", "tbz"),
        ("-J", "txz"),
        ("--zstd", "tzst"),
    ] {
        let ar = tmp.path().join(format!("a.{ext}"));
        let mut args = vec![
            "--format=posix",
            "--xattrs",
            "--xattrs-include=*",
            "-cf",
            ar.to_str().unwrap(),
            "-C",
            src.to_str().unwrap(),
            ".",
        ];
        if !flag.is_empty() {
            args.insert(0, flag);
        }
        common::run("tar", &args);
        let got = rootfs::load(&ar).unwrap();
        common::assert_same_tree(&want, &got, true, ext);
        assert!(got.lookup(&NamePath::parse("many").unwrap()).is_some());
    }
}

fn raw(name: &[u8], typ: u8, link: &[u8], data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_entry_type(tar::EntryType::new(typ));
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    let mut v = h.as_bytes().to_vec();
    v.extend_from_slice(data);
    v.resize(v.len().div_ceil(512) * 512, 0);
    v
}

fn load_err(entries: &[Vec<u8>]) -> String {
    let mut v: Vec<u8> = entries.concat();
    v.write_all(&[0u8; 1024]).unwrap();
    rootfs::load_tar_reader(&v[..], "t.tar")
        .unwrap_err()
        .to_string()
}

#[test]
fn hostile_tar_entries_are_errors_naming_the_entry() {
    assert!(load_err(&[raw(b"../evil", b'0', b"", b"x")]).contains("../evil"));
    assert!(load_err(&[raw(b"/etc/passwd", b'0', b"", b"x")]).contains("/etc/passwd"));
    let e = load_err(&[
        raw(b"a", b'2', b"/etc", b""),
        raw(b"a/passwd", b'0', b"", b"x"),
    ]);
    assert!(e.contains("a/passwd") && e.contains("symlink"), "{e}");
    let e = load_err(&[raw(b"h", b'1', b"../x", b"")]);
    assert!(e.contains("\"h\""), "{e}");
    let e = load_err(&[raw(b"h", b'1', b"missing", b"")]);
    assert!(e.contains("missing"), "{e}");
    let mut bad = raw(b"f", b'0', b"", b"");
    bad[148] = b'9'; // checksum no longer matches
    assert!(!load_err(&[bad]).is_empty());
}

/// A sparse file of `len` bytes with a few bytes of data at `at`.
fn sparse_file(path: &std::path::Path, len: u64, at: &[u64]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::create(path).unwrap();
    f.set_len(len).unwrap();
    for &o in at {
        f.write_all_at(format!("data@{o}").as_bytes(), o).unwrap();
    }
}

fn read_at(c: &fstree::Content, at: u64, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    c.source().read_at(at, &mut b).unwrap();
    b
}

fn file_content(t: &fstree::Tree, p: &str) -> fstree::Content {
    match &t
        .inode(t.lookup(&NamePath::parse(p).unwrap()).unwrap())
        .kind
    {
        fstree::Kind::File(c) => c.clone(),
        k => panic!("{p}: {k:?}"),
    }
}

#[test]
fn sparse_members_of_every_gnu_format_keep_their_holes() {
    // A terabyte file holding 3 x 20 bytes: expanded, it would take hours
    // and a terabyte of temp space; kept sparse, it takes nothing.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let at = [0, 5 << 30, (1 << 40) - 4096];
    sparse_file(&src.join("big"), 1 << 40, &at);
    std::fs::write(src.join("small"), b"plain").unwrap();
    for (fmt, extra) in [
        ("gnu", None),
        ("posix", Some("0.0")),
        ("posix", Some("0.1")),
        ("posix", Some("1.0")),
    ] {
        let ar = tmp
            .path()
            .join(format!("{fmt}-{}.tgz", extra.unwrap_or("S")));
        let fmt_arg = format!("--format={fmt}");
        let ver = extra.map(|v| format!("--sparse-version={v}"));
        let mut args = vec!["-czSf", ar.to_str().unwrap(), fmt_arg.as_str()];
        if let Some(v) = &ver {
            args.push(v);
        }
        args.extend(["-C", src.to_str().unwrap(), "big", "small"]);
        common::run("tar", &args);
        let t = rootfs::load(&ar).unwrap_or_else(|e| panic!("{ar:?}: {e}"));
        let c = file_content(&t, "big");
        assert_eq!(c.len(), 1 << 40, "{ar:?}");
        for &o in &at {
            let want = format!("data@{o}");
            assert_eq!(read_at(&c, o, want.len()), want.as_bytes(), "{ar:?} at {o}");
            assert_eq!(read_at(&c, o + 4096, 4), [0; 4], "{ar:?}");
        }
        let data: u64 = c.source().data_ranges().unwrap().iter().map(|r| r.1).sum();
        assert!(data <= 3 * (64 << 10), "{ar:?}: {data} bytes of data kept");
        assert_eq!(
            file_content(&t, "small").read_all().unwrap(),
            b"plain",
            "{ar:?}"
        );
        assert!(
            t.lookup(&NamePath::parse("GNUSparseFile.0").unwrap())
                .is_none()
        );
    }
}

fn header(name: &str, size: u64, typ: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_path(name).unwrap();
    h.set_entry_type(typ);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    h
}

/// One PAX record `LEN key=value\n`, LEN counting itself.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut n = rest + 1;
    while n.to_string().len() + rest != n {
        n = n.to_string().len() + rest;
    }
    let mut r = format!("{n} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    assert_eq!(r.len(), n);
    r
}

fn gz(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// A tar member's data block padding.
fn pad(n: u64) -> Vec<u8> {
    vec![0u8; (n.next_multiple_of(512) - n) as usize]
}

#[test]
fn a_member_of_zeros_spools_no_data() {
    // 256 MiB of zeros is a few hundred kilobytes of gzip (concatenated
    // members here, cheap to make); spooled as written it took 256 MiB of
    // temp space, now its blocks stay holes.
    let mut bytes = gz(header("zeros", 256 << 20, tar::EntryType::Regular).as_bytes());
    let mib = gz(&vec![0u8; 1 << 20]);
    for _ in 0..256 {
        bytes.extend_from_slice(&mib);
    }
    let mut tail = header("after", 4, tar::EntryType::Regular)
        .as_bytes()
        .to_vec();
    tail.extend_from_slice(b"tail");
    tail.extend(pad(4));
    tail.extend([0u8; 1024]);
    bytes.extend(gz(&tail));
    let t = rootfs::load_tar_reader(&bytes[..], "zeros.tgz").unwrap();
    let c = file_content(&t, "zeros");
    assert_eq!(c.len(), 256 << 20);
    assert_eq!(c.source().data_ranges().unwrap(), vec![]);
    assert_eq!(read_at(&c, 100 << 20, 8), [0; 8]);
    assert_eq!(file_content(&t, "after").read_all().unwrap(), b"tail");
}

#[test]
fn decompression_bombs_and_huge_records_are_refused() {
    // 3 GiB of zeros in zstd frames of a megabyte each is 60 kB: past 1024
    // times its size plus 1 GiB, decompression stops.
    let frame = |b: &[u8]| zstd::encode_all(b, 3).unwrap();
    let mut bytes = frame(header("bomb", 3 << 30, tar::EntryType::Regular).as_bytes());
    let mib = frame(&vec![0u8; 1 << 20]);
    for _ in 0..3072 {
        bytes.extend_from_slice(&mib);
    }
    bytes.extend(frame(&[0u8; 1024]));
    assert!(bytes.len() < 1 << 20, "{}", bytes.len());
    let e = rootfs::load_tar_reader(&bytes[..], "bomb.tar.zst")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bomb.tar.zst") && e.contains("decompression bomb"),
        "{e}"
    );

    // A 20 MiB PAX record would be held in memory: refused past 16 MiB.
    let body = pax_record("comment", &vec![b'a'; 20 << 20]);
    let mut tar = header("pax", body.len() as u64, tar::EntryType::XHeader)
        .as_bytes()
        .to_vec();
    tar.extend(pad(body.len() as u64));
    let mut bytes = gz(&tar[..512]);
    bytes.extend(gz(&body));
    bytes.extend(gz(&tar[512..]));
    bytes.extend(gz(&[0u8; 1024]));
    let e = rootfs::load_tar_reader(&bytes[..], "pax.tgz")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("pax.tgz") && e.contains("headers and records"),
        "{e}"
    );
}

#[test]
fn a_path_longer_than_path_max_is_refused_with_a_short_message() {
    // 20,000 directories deep in a 50 KB archive took gigabytes to list.
    let path = "a/".repeat(20_000) + "f";
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, &path, &b"x"[..]).unwrap();
    let bytes = tar.into_inner().unwrap();
    let e = rootfs::load_tar_reader(&bytes[..], "deep.tar")
        .unwrap_err()
        .to_string();
    assert!(e.contains("longer than the 4095") && e.len() < 1000, "{e}");
}
