//! Acceptance 4 (part): corrupt ext images give errors naming the field or
//! offset, never a panic.

mod common;

fn image() -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("a/b")).unwrap();
    std::fs::write(src.join("zzvictim"), b"data").unwrap();
    let img = tmp.path().join("fs.img");
    common::run(
        "mke2fs",
        &[
            "-q",
            "-F",
            "-t",
            "ext4",
            "-b",
            "1024",
            "-d",
            src.to_str().unwrap(),
            img.to_str().unwrap(),
            "2M",
        ],
    );
    std::fs::read(img).unwrap()
}

fn err(bytes: Vec<u8>) -> String {
    extfs::read::read_bytes(bytes).unwrap_err().to_string()
}

#[test]
fn corrupt_images_give_errors_naming_the_field() {
    let good = image();
    assert!(extfs::read::read_bytes(good.clone()).is_ok());

    let mut b = good.clone();
    b[1080] = 0;
    assert!(err(b).contains("magic"));

    let b = good[..good.len() / 2].to_vec();
    assert!(err(b).contains("truncated"));

    // 1 KiB blocks: descriptors at block 2; bg_inode_table_lo at +8.
    let mut b = good.clone();
    b[2048 + 8..2048 + 12].copy_from_slice(&0xFFFF_FF00u32.to_le_bytes());
    assert!(err(b).contains("bg_inode_table"));

    let mut b = good.clone();
    let pos = b.windows(8).position(|w| w == b"zzvictim").unwrap();
    b[pos - 8..pos - 4].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    let e = err(b);
    assert!(e.contains("out of range") && e.contains("zzvictim"), "{e}");
}

#[test]
fn byte_flips_in_metadata_never_panic() {
    let good = image();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..400 {
        let mut b = good.clone();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let off = (x % 40_960) as usize;
            b[off] ^= (x >> 32) as u8 | 1;
        }
        let _ = extfs::read::read_bytes(b);
    }
}

#[test]
fn a_directory_linked_twice_is_a_cycle_error() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("fs.img");
    std::fs::write(&img, image()).unwrap();
    let i = img.to_str().unwrap();
    common::run("debugfs", &["-w", "-R", "ln /a /a/b/loop", i]);
    let e = rootfs::load(&img).unwrap_err().to_string();
    assert!(e.contains("/a/b/loop") && e.contains("cycle"), "{e}");
}
