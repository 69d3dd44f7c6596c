//! `measured fs ls/cat/stat` read a VM disk where it lies: a dynamic, a
//! fixed and a differencing VHD, a raw whole-disk ext image, and raw disks
//! partitioned with MBR and GPT (by util-linux's sfdisk), each holding an
//! ext4 made by mke2fs from the same tree. Every form lists, cats and
//! stats the same.

mod vhd_common;
use vhd_common::*;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use vhd::format::{DynamicHeader, ParentLocator, platform};

const MIB: u64 = 1 << 20;

fn tree(dir: &Path) -> PathBuf {
    let t = dir.join("tree");
    std::fs::create_dir_all(t.join("etc")).unwrap();
    std::fs::write(t.join("etc/hostname"), "svc\n").unwrap();
    std::fs::write(t.join("etc/motd"), noise(7, 300_000)).unwrap();
    std::os::unix::fs::symlink("etc/hostname", t.join("name")).unwrap();
    t
}

fn mke2fs(tree: &Path, img: &Path, size: &str) {
    ok(Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-d"])
        .arg(tree)
        .arg(img)
        .arg(size));
}

/// A raw disk of `mib` MiB partitioned by sfdisk with `label`, the ext
/// image written into its second partition (a small first one before it).
fn partitioned(dir: &Path, ext: &Path, label: &str) -> PathBuf {
    let disk = dir.join(format!("{label}.img"));
    let f = std::fs::File::create(&disk).unwrap();
    f.set_len(24 * MIB).unwrap();
    drop(f);
    let mut sf = Command::new("sfdisk")
        .args(["-q", "--no-reread", "--no-tell-kernel"])
        .arg(&disk)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sfdisk (util-linux)");
    use std::io::Write;
    sf.stdin
        .take()
        .unwrap()
        .write_all(
            format!("label: {label}\nstart=2048, size=2048\nstart=4096, size=36864\n").as_bytes(),
        )
        .unwrap();
    assert!(sf.wait().unwrap().success());
    let data = std::fs::read(ext).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
    f.write_all_at(&data, 4096 * 512).unwrap();
    disk
}

/// A differencing VHD over `parent` that holds nothing of its own.
fn empty_child(dir: &Path, parent: &Path) -> PathBuf {
    let pv = vhd::Vhd::open(parent).unwrap();
    let entries = pv.size().div_ceil(2 * MIB) as u32;
    let bat_bytes = (entries as u64 * 4).div_ceil(512) * 512;
    let mut h = DynamicHeader::new(1536, entries, 2 << 20);
    h.parent_uuid = pv.footer().uuid;
    let name: Vec<u8> = "parent.vhd"
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .collect();
    h.parent_name_raw[..name.len()].copy_from_slice(&name);
    let loc: Vec<u8> = ".\\parent.vhd"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let loc_at = 1536 + bat_bytes;
    h.locators[0] = ParentLocator {
        code: platform::W2RU,
        data_space: 512,
        data_len: loc.len() as u32,
        reserved: 0,
        data_offset: loc_at,
    };
    let mut f = pv.footer().clone();
    f.disk_type = 4;
    f.data_offset = 512;
    f.uuid = [0x42; 16];
    let child = dir.join("child.vhd");
    let file = std::fs::File::create(&child).unwrap();
    file.write_all_at(&f.encode(), 0).unwrap();
    file.write_all_at(&h.encode(), 512).unwrap();
    file.write_all_at(&vec![0xFF; bat_bytes as usize], 1536)
        .unwrap();
    file.write_all_at(&loc, loc_at).unwrap();
    file.write_all_at(&f.encode(), loc_at + 512).unwrap();
    child
}

fn fs(args: &[&str], src: &Path) -> Vec<u8> {
    let mut c = measured();
    c.arg("fs").arg(args[0]).arg(src).args(&args[1..]);
    ok(&mut c).stdout
}

#[test]
fn fs_reads_vhds_and_raw_disks_where_they_lie() {
    let d = tempfile::tempdir().unwrap();
    let t = tree(d.path());
    let ext = d.path().join("root.ext4");
    mke2fs(&t, &ext, "18M");
    let parent = d.path().join("parent.vhd");
    ok(measured()
        .args(["vhd", "convert", "--profile", "qemu"])
        .arg(&ext)
        .arg(&parent));
    let fixed = d.path().join("fixed.vhd");
    ok(measured()
        .args(["vhd", "convert", "--profile", "fixed"])
        .arg(&ext)
        .arg(&fixed));
    let child = empty_child(d.path(), &parent);
    let mbr = partitioned(d.path(), &ext, "dos");
    let gpt = partitioned(d.path(), &ext, "gpt");
    // The same partitioned disk inside a dynamic VHD.
    let gpt_vhd = d.path().join("gpt.vhd");
    ok(measured().args(["vhd", "convert"]).arg(&gpt).arg(&gpt_vhd));

    let want_ls = fs(&["ls", "/etc"], &ext);
    let want_stat = fs(&["stat", "/name", "--json"], &ext);
    assert!(String::from_utf8_lossy(&want_ls).contains("motd"));
    for src in [&parent, &fixed, &child, &mbr, &gpt, &gpt_vhd] {
        assert_eq!(fs(&["ls", "/etc"], src), want_ls, "{}", src.display());
        assert_eq!(
            fs(&["cat", "/etc/motd"], src),
            noise(7, 300_000),
            "{}",
            src.display()
        );
        assert_eq!(
            fs(&["stat", "/name", "--json"], src),
            want_stat,
            "{}",
            src.display()
        );
    }

    // A raw disk with a partition table but no ext filesystem is a clear error.
    let empty = d.path().join("empty.img");
    std::fs::copy(&mbr, &empty).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&empty)
        .unwrap();
    f.write_all_at(&[0u8; 4096], 4096 * 512).unwrap();
    let out = measured().args(["fs", "ls"]).arg(&empty).output().unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("no ext2/3/4 filesystem") && e.contains("2 partition"),
        "{e}"
    );
}
