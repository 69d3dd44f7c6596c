mod common;
use common::*;
use extfs::build::FsType;

#[test]
fn smoke() {
    let d = scratch();
    for ty in [FsType::Ext2, FsType::Ext3, FsType::Ext4] {
        for bs in [1024, 4096] {
            let img = d.path().join(format!("{ty:?}-{bs}.img"));
            build_to(&every_kind(), &opts(ty, bs), &img);
            fsck_clean(&img);
        }
    }
}
