//! Impossible requests are errors that say what is wrong, never panics
//! or half-written images.

mod common;
use common::*;
use extfs::build::{BuildError, FsType, Size, build, min_size};

#[test]
fn too_small_an_image_is_a_no_space_error() {
    let mut o = opts(FsType::Ext4, 4096);
    o.size = Size::Bytes(1 << 20);
    let mut v = Vec::new();
    let e = build(&busybox(), &o, &mut v).unwrap_err();
    assert!(matches!(e, BuildError::NoSpace { .. }), "{e}");
}

#[test]
fn fit_size_is_the_minimum_plus_margin() {
    let t = busybox();
    let mut o = opts(FsType::Ext3, 1024);
    let min = min_size(&t, &o).unwrap();
    o.size = Size::Bytes(min);
    let mut v = Vec::new();
    build(&t, &o, &mut v).expect("the minimum fits");
    o.size = Size::Bytes(min - 64 * 1024);
    assert!(
        build(&t, &o, &mut v).is_err(),
        "well below the minimum does not"
    );
}

#[test]
fn bad_options_name_the_option() {
    let mut o = opts(FsType::Ext2, 8192);
    let mut v = Vec::new();
    let e = build(&empty(), &o, &mut v).unwrap_err().to_string();
    assert!(e.contains("block size 8192"), "{e}");
    o.block_size = 4096;
    o.label = vec![b'x'; 17];
    let e = build(&empty(), &o, &mut v).unwrap_err().to_string();
    assert!(e.contains("label"), "{e}");
    o.label.clear();
    o.inodes = Some(5);
    let e = build(&busybox(), &o, &mut v).unwrap_err().to_string();
    assert!(e.contains("inodes"), "{e}");
}

#[test]
fn huge_sparse_file_on_ext2_with_1k_blocks_is_refused_by_name() {
    let mut t = empty();
    let s = fstree::Sparse {
        len: 64 << 30,
        data: vec![((64 << 30) - 1, vec![1])],
    };
    put(
        &mut t,
        "big",
        fstree::Kind::File(fstree::Content::new(s)),
        meta(0o644, 0, 0, 1),
    );
    let mut v = Vec::new();
    let e = build(&t, &opts(FsType::Ext2, 1024), &mut v)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("/big:"), "{e}");
}

#[test]
fn times_ext_cannot_store_are_refused_by_path() {
    let mut t = empty();
    put(
        &mut t,
        "old",
        fstree::Kind::Fifo,
        meta(0o644, 0, 0, -(1i64 << 40)),
    );
    let mut v = Vec::new();
    let e = build(&t, &opts(FsType::Ext4, 4096), &mut v)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("/old:") && e.contains("outside"), "{e}");
}

#[test]
fn progress_reaches_the_data_total() {
    let mut seen = Vec::new();
    let mut v = Vec::new();
    extfs::build::build_with_progress(
        &busybox(),
        &opts(FsType::Ext4, 4096),
        &mut v,
        &mut |d, t| seen.push((d, t)),
    )
    .unwrap();
    let (d, t) = *seen.last().unwrap();
    assert!(t >= 200_000 && d == t, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0));
}
