use super::*;

fn meta(perm: u16) -> Meta {
    Meta {
        perm,
        ..Meta::default()
    }
}

fn file(data: &[u8]) -> Inode {
    Inode {
        kind: Kind::File(Content::bytes(data)),
        meta: meta(0o644),
        xattrs: Xattrs::new(),
    }
}

#[test]
fn dotdot_and_bad_names_are_refused() {
    assert!(matches!(
        NamePath::parse("a/../b"),
        Err(PathError::Escapes(_))
    ));
    assert!(matches!(
        NamePath::parse("../etc"),
        Err(PathError::Escapes(_))
    ));
    assert!(NamePath::parse("/./etc//passwd/").unwrap().depth() == 2);
    let long = vec![b'x'; 256];
    assert!(matches!(NamePath::parse(&long), Err(PathError::BadName(_))));
}

#[test]
fn hard_links_share_an_inode_and_count_twice() {
    let mut t = Tree::new(meta(0o755));
    let etc = t
        .mkdir_p(&NamePath::parse("etc").unwrap(), &meta(0o755))
        .unwrap();
    let f = t
        .put(&NamePath::parse("etc/a").unwrap(), file(b"x"))
        .unwrap();
    t.link(etc, b"b", f).unwrap();
    let n = t.link_counts();
    assert_eq!(n[f.0 as usize], 2);
    assert_eq!(n[etc.0 as usize], 2); // "etc" in root and its "."
    assert_eq!(n[ROOT.0 as usize], 3); // ".", "..", and etc's ".."
    // walk visits the shared inode once
    assert_eq!(t.walk().iter().filter(|(_, id)| *id == f).count(), 1);
}

#[test]
fn linking_a_directory_under_itself_is_a_cycle() {
    let mut t = Tree::new(meta(0o755));
    let a = t
        .mkdir_p(&NamePath::parse("a/b").unwrap(), &meta(0o755))
        .unwrap();
    let top = t.lookup(&NamePath::parse("a").unwrap()).unwrap();
    assert!(matches!(t.link(a, b"loop", top), Err(PathError::Cycle(_))));
}

#[test]
fn sparse_reads_zeros_around_data() {
    let s = Sparse {
        len: 10,
        data: vec![(3, b"abc".to_vec())],
    };
    let c = Content::new(s);
    assert_eq!(c.read_all().unwrap(), b"\0\0\0abc\0\0\0\0");
    assert_eq!(c.source().data_ranges().unwrap(), vec![(3, 3)]);
}

#[test]
fn host_file_finds_its_holes() {
    use std::io::{Seek, SeekFrom, Write};
    let dir = std::env::temp_dir().join(format!("fstree-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("sparse");
    let mut f = std::fs::File::create(&p).unwrap();
    f.seek(SeekFrom::Start(8 << 20)).unwrap();
    f.write_all(b"tail").unwrap();
    drop(f);
    let h = HostFile::new(&p, (8 << 20) + 4);
    let ranges = h.data_ranges().unwrap();
    assert!(ranges.iter().all(|(o, _)| *o >= 4096), "{ranges:?}");
    let mut buf = [0u8; 4];
    h.read_at(8 << 20, &mut buf).unwrap();
    assert_eq!(&buf, b"tail");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn graft_copies_a_subtree_keeping_hard_links_and_replacing_entries() {
    let mut src = Tree::new(meta(0o755));
    let d = NamePath::parse("/lib/modules/6.1").unwrap();
    src.mkdir_p(&d.join(b"kernel"), &meta(0o755)).unwrap();
    let a = src
        .put(&d.join(b"kernel").join(b"a.ko"), file(b"A"))
        .unwrap();
    let kdir = src.lookup(&d.join(b"kernel")).unwrap();
    src.link(kdir, b"a-link.ko", a).unwrap();
    src.put(&d.join(b"modules.dep"), file(b"new dep")).unwrap();

    let mut dst = Tree::new(meta(0o755));
    let at = NamePath::parse("/usr/lib/modules/6.1").unwrap();
    dst.mkdir_p(&at, &meta(0o700)).unwrap();
    dst.put(&at.join(b"modules.dep"), file(b"old")).unwrap();
    dst.graft(&at, &src, src.lookup(&d).unwrap()).unwrap();

    let k = at.join(b"kernel");
    let (x, y) = (
        dst.lookup(&k.join(b"a.ko")).unwrap(),
        dst.lookup(&k.join(b"a-link.ko")).unwrap(),
    );
    assert_eq!(x, y, "a hard link stays one inode");
    let Kind::File(c) = &dst
        .inode(dst.lookup(&at.join(b"modules.dep")).unwrap())
        .kind
    else {
        panic!("modules.dep is a file");
    };
    assert_eq!(c.read_all().unwrap(), b"new dep");
    assert_eq!(dst.link_counts()[x.0 as usize], 2);
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn host_files_hold_at_most_a_few_descriptors_however_many_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<HostFile> = (0..600)
        .map(|i| {
            let p = dir.path().join(format!("f{i}"));
            std::fs::write(&p, format!("file {i}")).unwrap();
            HostFile::new(&p, format!("file {i}").len() as u64)
        })
        .collect();
    let before = open_fds();
    for (i, f) in files.iter().enumerate() {
        let mut b = vec![0u8; f.len() as usize];
        f.read_at(0, &mut b).unwrap();
        assert_eq!(b, format!("file {i}").as_bytes());
        assert!(!f.data_ranges().unwrap().is_empty());
    }
    // Other tests may hold a few of the shared slots already.
    assert!(
        open_fds() <= before + crate::MAX_OPEN_HOST_FILES,
        "{} open after reading 600 files, {before} before",
        open_fds()
    );
    drop(files);
}

#[test]
fn a_host_file_replaced_between_reads_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f");
    std::fs::write(&p, b"first").unwrap();
    let f = HostFile::new(&p, 5);
    let mut b = [0u8; 5];
    f.read_at(0, &mut b).unwrap();
    // Push it out of the cache, then replace it by a rename.
    let others: Vec<HostFile> = (0..crate::MAX_OPEN_HOST_FILES + 1)
        .map(|i| {
            let q = dir.path().join(format!("o{i}"));
            std::fs::write(&q, b"x").unwrap();
            let h = HostFile::new(&q, 1);
            h.read_at(0, &mut [0u8; 1]).unwrap();
            h
        })
        .collect();
    std::fs::write(dir.path().join("new"), b"other").unwrap();
    std::fs::rename(dir.path().join("new"), &p).unwrap();
    let e = f.read_at(0, &mut b).unwrap_err().to_string();
    assert!(e.contains("replaced"), "{e}");
    drop(others);
}

#[test]
fn content_digest_depends_on_bytes_not_on_holes() {
    use crate::content_sha256;
    let mut dense = vec![0u8; 300_000];
    dense[70_000..70_003].copy_from_slice(b"abc");
    dense[299_999] = 1;
    let sparse = Sparse {
        len: 300_000,
        data: vec![(70_000, b"abc".to_vec()), (299_999, vec![1])],
    };
    let a = content_sha256(&Bytes(dense.clone())).unwrap();
    assert_eq!(a, content_sha256(&sparse).unwrap());
    dense[5] = 1;
    assert_ne!(a, content_sha256(&Bytes(dense)).unwrap());
    // Same bytes, different length: different digest.
    let shorter = Sparse {
        len: 299_999,
        data: vec![(70_000, b"abc".to_vec())],
    };
    let longer = Sparse {
        len: 300_000,
        data: vec![(70_000, b"abc".to_vec())],
    };
    assert_ne!(
        content_sha256(&shorter).unwrap(),
        content_sha256(&longer).unwrap()
    );
    // A terabyte of holes costs its data only.
    let huge = Sparse {
        len: 1 << 40,
        data: vec![(1 << 39, b"middle".to_vec())],
    };
    let h = content_sha256(&huge).unwrap();
    assert_ne!(
        h,
        content_sha256(&Sparse {
            len: 1 << 40,
            data: vec![]
        })
        .unwrap()
    );
}

#[test]
fn paths_are_one_string_and_bounded() {
    let p = NamePath::parse("/a//b/./c/").unwrap();
    assert_eq!(p.depth(), 3);
    assert_eq!(p.components().collect::<Vec<_>>(), [b"a", b"b", b"c"]);
    assert_eq!(p.to_string(), "/a/b/c");
    let (parent, last) = p.split_last().unwrap();
    assert_eq!(
        (parent.to_string().as_str(), last),
        ("/a/b", b"c".as_slice())
    );
    assert_eq!(parent.join(b"c"), p);
    assert_eq!(
        NamePath::root().join(b"x").split_last().unwrap().0,
        NamePath::root()
    );
    assert_eq!(NamePath::root().components().count(), 0);
    // Deep paths cost their length, and stop at PATH_MAX: listing every
    // path of a tree 20,000 directories deep once took gigabytes.
    let deep = "d/".repeat(2047) + "f";
    assert_eq!(NamePath::parse(&deep).unwrap().len(), 4095);
    let e = NamePath::parse(format!("x{deep}")).unwrap_err().to_string();
    assert!(e.contains("longer than the 4095"), "{e}");
}
