//! Builder and reader agree: every fixture built as ext2/ext3/ext4 reads
//! back (through `extfs::read`) into the tree that went in.

mod common;
use common::*;
use extfs::build::{FsType, build};
use fstree::{Kind, Tree};

fn same_tree(a: &Tree, b: &Tree, what: &str) {
    let wa = a.walk();
    let wb: Vec<_> = b
        .walk()
        .into_iter()
        .filter(|(p, _)| p.to_string() != "/lost+found")
        .collect();
    assert_eq!(wa.len(), wb.len(), "{what}: entry count");
    let (ca, cb) = (a.link_counts(), b.link_counts());
    for ((pa, ia), (pb, ib)) in wa.iter().zip(&wb) {
        assert_eq!(pa, pb, "{what}");
        let (x, y) = (a.inode(*ia), b.inode(*ib));
        let ctx = format!("{what} {pa}");
        assert_eq!(
            (x.mode(), x.meta.uid, x.meta.gid),
            (y.mode(), y.meta.uid, y.meta.gid),
            "{ctx}"
        );
        assert_eq!(x.meta.mtime, y.meta.mtime, "{ctx}");
        if pa.depth() > 0 {
            assert_eq!(ca[ia.0 as usize], cb[ib.0 as usize], "{ctx}: links");
        }
        let names = |t: &fstree::Inode| t.xattrs.keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(x), names(y), "{ctx}: xattr names");
        for (k, v) in &x.xattrs {
            if !k.starts_with(b"system.posix_acl") {
                assert_eq!(
                    Some(v),
                    y.xattrs.get(k),
                    "{ctx}: {}",
                    String::from_utf8_lossy(k)
                );
            }
        }
        match (&x.kind, &y.kind) {
            (Kind::File(p), Kind::File(q)) => {
                assert_eq!(p.len(), q.len(), "{ctx}");
                for (off, len) in p.source().data_ranges().unwrap() {
                    let mut u = vec![0u8; len as usize];
                    let mut v = vec![0u8; len as usize];
                    p.source().read_at(off, &mut u).unwrap();
                    q.source().read_at(off, &mut v).unwrap();
                    assert!(u == v, "{ctx}: data at {off}");
                }
            }
            (Kind::Dir(_), Kind::Dir(_))
            | (Kind::Fifo, Kind::Fifo)
            | (Kind::Socket, Kind::Socket) => {}
            (Kind::Symlink(p), Kind::Symlink(q)) => assert_eq!(p, q, "{ctx}"),
            (
                Kind::CharDev {
                    major: a1,
                    minor: b1,
                },
                Kind::CharDev {
                    major: a2,
                    minor: b2,
                },
            )
            | (
                Kind::BlockDev {
                    major: a1,
                    minor: b1,
                },
                Kind::BlockDev {
                    major: a2,
                    minor: b2,
                },
            ) => {
                assert_eq!((a1, b1), (a2, b2), "{ctx}")
            }
            (p, q) => panic!("{ctx}: kind {p:?} became {q:?}"),
        }
    }
}

#[test]
fn every_fixture_reads_back_through_the_reader() {
    let fixtures = [
        ("busybox", busybox()),
        ("kinds", every_kind()),
        ("links", hard_links()),
        ("xattr", with_xattrs()),
        ("sparse5g", sparse5g()),
    ];
    for (name, tree) in &fixtures {
        for ty in [FsType::Ext2, FsType::Ext3, FsType::Ext4] {
            for bs in [1024, 2048, 4096] {
                let mut img = Vec::new();
                build(tree, &opts(ty, bs), &mut img).unwrap();
                let back = extfs::read::read_bytes(img)
                    .unwrap_or_else(|e| panic!("{name} {ty:?} {bs}: {e}"));
                same_tree(tree, &back.tree, &format!("{name} {ty:?} {bs}"));
            }
        }
    }
}
