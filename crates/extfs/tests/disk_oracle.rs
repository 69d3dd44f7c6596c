//! The disk structures decode what real `mke2fs` writes, and our
//! checksums agree with the ones e2fsprogs computed.

mod common;
use extfs::disk::{GroupDesc, Inode, Superblock, inode};
use std::process::Command;

fn mke2fs(args: &[&str], img: &std::path::Path, src: &std::path::Path) {
    let st = Command::new("mke2fs")
        .args([
            "-q",
            "-F",
            "-U",
            "01234567-89ab-cdef-0123-456789abcdef",
            "-E",
            "hash_seed=01234567-89ab-cdef-0123-456789abcdef",
        ])
        .args(args)
        .arg("-d")
        .arg(src)
        .arg(img)
        .arg("8M")
        .status()
        .expect("mke2fs must be installed");
    assert!(st.success());
}

#[test]
fn decodes_mke2fs_ext4_and_verifies_its_checksums() {
    let d = common::scratch();
    let src = d.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("hello"), b"hello world\n").unwrap();
    for bs in ["1024", "4096"] {
        let img = d.path().join(format!("m{bs}.img"));
        mke2fs(&["-t", "ext4", "-b", bs, "-O", "^64bit"], &img, &src);
        let raw = std::fs::read(&img).unwrap();
        let sb = Superblock::decode(&raw[1024..2048]).unwrap();
        assert!(Superblock::checksum_ok(&raw[1024..2048]));
        assert!(sb.has_metadata_csum());
        assert_eq!(sb.block_size().to_string(), bs);
        assert_eq!(sb.uuid[..4], [0x01, 0x23, 0x45, 0x67]);
        // Round trip of the modelled fields (the checksum differs because
        // fields we do not model are dropped).
        let mut again = Superblock::decode(&sb.encode()).unwrap();
        again.checksum = sb.checksum;
        assert_eq!(again, sb);
        let bs = sb.block_size() as usize;
        let gdt = (sb.first_data_block as usize + 1) * bs;
        let gd_raw = &raw[gdt..gdt + 32];
        let gd = GroupDesc::decode(gd_raw, 32).unwrap();
        assert_eq!(
            GroupDesc::checksum_of(gd_raw, 0, &sb.uuid, true),
            gd.checksum
        );
        let it = gd.inode_table as usize * bs;
        let isz = sb.inode_size as usize;
        for ino in [inode::ROOT_INO, inode::JOURNAL_INO, 11, 12] {
            let r = &raw[it + (ino as usize - 1) * isz..it + ino as usize * isz];
            let i = Inode::decode(r, isz).unwrap();
            let c = Inode::checksum_of(r, sb.csum_seed(), ino);
            assert_eq!(
                c as u16,
                u16::from_le_bytes([r[0x7C], r[0x7D]]),
                "inode {ino}"
            );
            assert_eq!(
                (c >> 16) as u16,
                u16::from_le_bytes([r[0x82], r[0x83]]),
                "inode {ino}"
            );
            if ino == 12 {
                assert_eq!(i.size, 12);
                assert_eq!(i.mode & 0o170000, 0o100000);
            }
        }
    }
}

#[test]
fn bad_superblock_magic_is_an_error_not_a_panic() {
    let mut raw = vec![0u8; 1024];
    assert!(Superblock::decode(&raw).is_err());
    assert!(Superblock::decode(&raw[..100]).is_err());
    raw[0x38..0x3A].copy_from_slice(&0xEF53u16.to_le_bytes());
    raw[0x18] = 40;
    assert!(
        Superblock::decode(&raw).is_err(),
        "absurd block size refused"
    );
}
