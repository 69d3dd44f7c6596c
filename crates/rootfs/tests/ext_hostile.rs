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

/// An ext3 image (block maps, 1 KiB blocks) holding `f` (20,000 bytes: an
/// indirect block), `a` and `b`.
fn ext3_image(dir: &std::path::Path) -> std::path::PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8 + 1).collect();
    std::fs::write(src.join("f"), data).unwrap();
    std::fs::write(src.join("a"), b"a\n").unwrap();
    std::fs::write(src.join("b"), b"b\n").unwrap();
    let img = dir.join("fs.img");
    let (s, i) = (src.to_str().unwrap(), img.to_str().unwrap());
    common::run(
        "mke2fs",
        &["-q", "-F", "-t", "ext3", "-b", "1024", "-d", s, i, "2M"],
    );
    img
}

/// The block numbers debugfs lists for `path`.
fn blocks(img: &std::path::Path, path: &str) -> Vec<u64> {
    let out = common::run(
        "debugfs",
        &["-R", &format!("blocks {path}"), img.to_str().unwrap()],
    );
    out.split_whitespace().map(|w| w.parse().unwrap()).collect()
}

fn debugfs_w(img: &std::path::Path, req: &str) {
    common::run("debugfs", &["-w", "-R", req, img.to_str().unwrap()]);
}

#[test]
fn an_i_size_past_what_the_map_addresses_is_refused() {
    // i_size 2^63 made `fs cat` write zeros forever.
    let tmp = tempfile::tempdir().unwrap();
    let img = ext3_image(tmp.path());
    debugfs_w(&img, "sif /b size 0x8000000000000000");
    let e = rootfs::load(&img).unwrap_err().to_string();
    assert!(
        e.contains("inode 13") && e.contains("i_size 9223372036854775808"),
        "{e}"
    );
    // The same through extents (ext4): 2^32 blocks at most.
    let src = tmp.path().join("src4");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("x"), b"x").unwrap();
    let img4 = tmp.path().join("fs4.img");
    common::mke2fs(&src, &img4, "ext4", 4096, 256);
    debugfs_w(&img4, "sif /x size 0x100000000001");
    let e = rootfs::load(&img4).unwrap_err().to_string();
    assert!(e.contains("i_size") && e.contains("address"), "{e}");
}

#[test]
fn cross_linked_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let img = ext3_image(tmp.path());
    let a = blocks(&img, "/a")[0];
    debugfs_w(&img, &format!("sif /b block[0] {a}"));
    let e = rootfs::load(&img).unwrap_err().to_string();
    assert!(
        e.contains(&format!("block {a}")) && e.contains("cross-linked"),
        "{e}"
    );
    // Extents (ext4): /b's first extent starts at /a's block. In an extent
    // inode, i_block[5] is the first leaf's ee_start_lo.
    let src = tmp.path().join("src4");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a"), b"a\n").unwrap();
    std::fs::write(src.join("b"), b"b\n").unwrap();
    let img4 = tmp.path().join("fs4.img");
    common::mke2fs(&src, &img4, "ext4", 4096, 256);
    let a4 = blocks(&img4, "/a")[0];
    debugfs_w(&img4, &format!("sif /b block[5] {a4}"));
    let e = rootfs::load(&img4).unwrap_err().to_string();
    assert!(
        e.contains(&format!("block {a4}")) && e.contains("cross-linked"),
        "{e}"
    );
    // A file inside the inode table.
    let img = ext3_image(tmp.path());
    let groups = common::run("dumpe2fs", &[img.to_str().unwrap()]);
    let at = groups.split("Inode table at ").nth(1).unwrap();
    let table: u64 = at.split('-').next().unwrap().trim().parse().unwrap();
    debugfs_w(&img, &format!("sif /a block[0] {}", table + 1));
    let e = rootfs::load(&img).unwrap_err().to_string();
    assert!(
        e.contains("the inode tables") && e.contains("inode 12"),
        "{e}"
    );
}

#[test]
fn indirect_blocks_naming_themselves_are_refused() {
    use std::os::unix::fs::FileExt;
    let tmp = tempfile::tempdir().unwrap();
    let img = ext3_image(tmp.path());
    let f = blocks(&img, "/f");
    // debugfs lists data blocks with the indirect block in file order:
    // 12 direct, then the indirect one.
    let ind = f[12];
    let file = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    // Its first entry names itself: block 12 of the file is the map.
    file.write_all_at(&(ind as u32).to_le_bytes(), ind * 1024)
        .unwrap();
    let e = rootfs::load(&img).unwrap_err().to_string();
    assert!(
        e.contains(&format!("block {ind}")) && e.contains("cross-linked"),
        "{e}"
    );
    // As a double indirect block, it loops: refused when met again.
    debugfs_w(&img, &format!("sif /f block[DIND] {ind}"));
    debugfs_w(&img, "sif /f size 400000");
    let e = rootfs::load(&img).unwrap_err().to_string();
    assert!(e.contains("referenced twice"), "{e}");
}

#[test]
fn paths_longer_than_path_max_are_refused() {
    // A chain of 2100 directories: every path listed would cost the square
    // of the depth; past 4095 bytes the image is refused.
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("deep.img");
    let i = img.to_str().unwrap();
    common::run(
        "mke2fs",
        &[
            "-q", "-F", "-t", "ext2", "-b", "1024", "-N", "3000", i, "8M",
        ],
    );
    let script = tmp.path().join("deep.debugfs");
    std::fs::write(&script, "mkdir a\ncd a\n".repeat(2100)).unwrap();
    common::run("debugfs", &["-w", "-f", script.to_str().unwrap(), i]);
    let depth = common::run(
        "debugfs",
        &["-R", &format!("stat /{}", "a/".repeat(2100)), i],
    );
    assert!(depth.contains("Type: directory"), "debugfs made the chain");
    let e = rootfs::load(&img).unwrap_err().to_string();
    assert!(
        e.contains("longer than the 4095"),
        "{}",
        &e[..e.len().min(300)]
    );
}
