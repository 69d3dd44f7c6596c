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
