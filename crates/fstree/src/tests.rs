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
