//! Acceptance 2 and 4: an OE core-image-minimal-shaped ext3 (made by
//! `mke2fs -d`) through `measured image build`, checked with e2fsprogs;
//! byte-identical rebuilds; clear errors with nothing written; modules from
//! a tarball; progress on a terminal (acceptance 5).

mod image_common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use image_common::*;

/// A small modules dir: virtio_blk and its dependencies from the real kernel.
fn small_modules(dir: &Path, release: &str) -> PathBuf {
    let src = debian_root().join("lib/modules").join(release);
    let dst = dir.join(release);
    for m in [
        "kernel/drivers/block/virtio_blk.ko",
        "kernel/drivers/virtio/virtio.ko",
        "kernel/drivers/virtio/virtio_ring.ko",
    ] {
        std::fs::create_dir_all(dst.join(m).parent().unwrap()).unwrap();
        std::fs::copy(src.join(m), dst.join(m)).unwrap();
    }
    std::fs::copy(src.join("modules.builtin"), dst.join("modules.builtin")).unwrap();
    dst
}

fn oe_ext3(dir: &Path) -> PathBuf {
    let tree = dir.join("oe-tree");
    oe_rootfs(&tree);
    let img = dir.join("core-image-minimal-qemux86-64.ext3");
    let st = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext3", "-d"])
        .arg(&tree)
        .arg(&img)
        .arg("16M")
        .status()
        .expect("mke2fs (e2fsprogs) must be installed");
    assert!(st.success());
    img
}

fn write_spec(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("svc.toml");
    std::fs::write(&p, body).unwrap();
    p
}

fn build(spec: &Path, out: &Path) -> std::process::Output {
    measured(&[
        OsStr::new("image"),
        OsStr::new("build"),
        spec.as_os_str(),
        OsStr::new("-o"),
        out.as_os_str(),
    ])
}

fn oe_spec(t: &Path, format: &str) -> PathBuf {
    let (kernel, release) = kernel();
    let img = oe_ext3(t);
    let modules = small_modules(t, &release);
    write_spec(
        t,
        &format!(
            "name = \"oe\"\nrootfs = {img:?}\nkernel = {kernel:?}\nmodules = {modules:?}\n\
             root_modules = [\"virtio_blk\"]\ndisk_size_mib = 100\nformat = \"{format}\"\n"
        ),
    )
}

#[test]
fn oe_ext3_gets_kernel_links_modules_console_and_fills_disk() {
    let (kernel, release) = kernel();
    let t = tempfile::tempdir().unwrap();
    let spec = oe_spec(t.path(), "vhd-tap");
    let out = t.path().join("bundle");
    let r = build(&spec, &out);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let raw = t.path().join("disk.raw");
    vhd_to_raw(&out.join("oe.vhd"), &raw);

    let st = Command::new("e2fsck")
        .arg("-fn")
        .arg(&raw)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "e2fsck -fn: {}",
        String::from_utf8_lossy(&st.stdout)
    );
    // Kernel: a regular file with exactly the input's bytes.
    let dumped = t.path().join("k");
    debugfs(
        &raw,
        &format!("dump /boot/vmlinuz-{release} {}", dumped.display()),
    );
    assert_eq!(
        std::fs::read(&dumped).unwrap(),
        std::fs::read(&kernel).unwrap()
    );
    let s = debugfs(&raw, "stat /vmlinuz");
    assert!(
        s.contains(&format!("Fast link dest: \"boot/vmlinuz-{release}\"")),
        "{s}"
    );
    let s = debugfs(&raw, "stat /boot/vmlinuz");
    assert!(
        s.contains(&format!("Fast link dest: \"vmlinuz-{release}\"")),
        "{s}"
    );
    let ls = debugfs(
        &raw,
        &format!("ls /lib/modules/{release}/kernel/drivers/block"),
    );
    assert!(ls.contains("virtio_blk.ko"), "{ls}");
    let dep = debugfs(&raw, &format!("cat /lib/modules/{release}/modules.dep"));
    assert!(
        dep.contains("kernel/drivers/block/virtio_blk.ko: "),
        "{dep}"
    );
    let inittab = debugfs(&raw, "cat /etc/inittab");
    assert!(
        inittab.contains("hvc0::respawn:/sbin/getty -L 115200 hvc0 vt100"),
        "{inittab}"
    );
    assert!(!inittab.contains("getty -L 115200 ttyS0"), "{inittab}");
    assert!(inittab.contains("::sysinit:/etc/init.d/rcS"), "{inittab}");
    let fstab = debugfs(&raw, "cat /etc/fstab");
    assert!(fstab.starts_with("/dev/xvda\t/\text3\t"), "{fstab}");
    assert!(!fstab.contains("/dev/root"), "{fstab}");
    // The filesystem fills the disk up to its CHS-addressable size.
    let h = Command::new("dumpe2fs")
        .arg("-h")
        .arg(&raw)
        .output()
        .unwrap();
    let h = String::from_utf8_lossy(&h.stdout);
    let field = |name: &str| -> u64 {
        h.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split(':').nth(1))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let fs_bytes = field("Block count") * field("Block size");
    // vm-image.md 1.4: 100 MiB -> floor CHS 1003/12/17 = 104 761 344 bytes.
    assert!(
        fs_bytes <= 104_761_344 && fs_bytes > 104_761_344 - 4096,
        "{fs_bytes}"
    );
    assert!(h.contains("has_journal"), "ext3 must keep its journal: {h}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("bundle.json")).unwrap()).unwrap();
    assert_eq!(json["init_system"], "inittab");
    // The release read from the bzImage header matches Debian's file name.
    assert_eq!(json["kernel_release"], release.as_str());
    assert!(
        json["module_index"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "modules.dep.bin"),
        "{}",
        json["module_index"]
    );
}

fn dir_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn same_spec_and_epoch_give_byte_identical_vhd_bundle() {
    let t = tempfile::tempdir().unwrap();
    let spec = oe_spec(t.path(), "vhd-tap");
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    for o in [&a, &b] {
        let r = build(&spec, o);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    }
    let (fa, fb) = (dir_bytes(&a), dir_bytes(&b));
    assert!(fa.iter().any(|(n, _)| n == "oe.vhd"));
    assert!(fa.iter().any(|(n, _)| n.starts_with("initrd.img-")));
    assert_eq!(fa.len(), fb.len());
    for ((na, da), (nb, db)) in fa.iter().zip(&fb) {
        assert_eq!(na, nb);
        assert!(da == db, "{na} differs between two builds");
    }
    // A different epoch changes the output (times are really pinned to it).
    let c = t.path().join("c");
    let r = Command::new(env!("CARGO_BIN_EXE_measured"))
        .args([
            OsStr::new("image"),
            OsStr::new("build"),
            spec.as_os_str(),
            OsStr::new("-o"),
            c.as_os_str(),
        ])
        .env("SOURCE_DATE_EPOCH", "1600000000")
        .output()
        .unwrap();
    assert!(r.status.success());
    assert!(
        dir_bytes(&c)
            .iter()
            .zip(&fa)
            .any(|(x, y)| x.0 == "oe.vhd" && x.1 != y.1)
    );
}

/// Run a failing build; assert exit 2, the message, and that nothing was left.
fn fails_cleanly(dir: &Path, spec_body: &str, want: &str) {
    let spec = write_spec(dir, spec_body);
    let out = dir.join("out");
    let r = build(&spec, &out);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(err.contains(want), "expected {want:?} in: {err}");
    assert!(!out.exists(), "output written despite the error");
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            n.starts_with(".measured-image-").then_some(n)
        })
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn bad_inputs_fail_with_clear_errors_and_write_nothing() {
    let (kernel, _) = kernel();
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("rootfs");
    oe_rootfs(&root);
    let base =
        format!("name = \"svc\"\nrootfs = {root:?}\ndisk_size_mib = 64\ninitramfs = \"never\"\n");

    // Missing kernel: the path is named.
    fails_cleanly(
        t.path(),
        &format!("{base}kernel = \"/nonexistent/vmlinuz\"\n"),
        "/nonexistent/vmlinuz",
    );
    // A text file is not a kernel: the magic's offset is named.
    let notes = t.path().join("notes.txt");
    std::fs::write(&notes, "not a kernel\n".repeat(200)).unwrap();
    fails_cleanly(t.path(), &format!("{base}kernel = {notes:?}\n"), "0x202");
    // Rootfs too big for the disk.
    let big = t.path().join("bigroot");
    oe_rootfs(&big);
    std::fs::write(big.join("blob"), vec![7u8; 12 << 20]).unwrap();
    fails_cleanly(
        t.path(),
        &format!(
            "name = \"svc\"\nrootfs = {big:?}\nkernel = {kernel:?}\ndisk_size_mib = 8\ninitramfs = \"never\"\n"
        ),
        "disk_size_mib",
    );
    // Unknown init system.
    let odd = t.path().join("oddroot");
    std::fs::create_dir_all(odd.join("etc")).unwrap();
    std::fs::write(odd.join("etc/hostname"), "x\n").unwrap();
    fails_cleanly(
        t.path(),
        &format!(
            "name = \"svc\"\nrootfs = {odd:?}\nkernel = {kernel:?}\ndisk_size_mib = 64\ninitramfs = \"never\"\n"
        ),
        "unknown init system",
    );
    // Unknown spec key.
    fails_cleanly(
        t.path(),
        &format!("{base}kernel = {kernel:?}\nmemroy = 1\n"),
        "memroy",
    );
}

/// The modules as a compressed tarball (`tar` lays them out as a kernel
/// build's `modules_install` does) install exactly like the directory.
#[test]
fn modules_tarball_installs_like_the_modules_directory() {
    let (_, release) = kernel();
    let t = tempfile::tempdir().unwrap();
    let spec = oe_spec(t.path(), "raw");
    let stage = t.path().join("stage");
    let mods = t.path().join(&release);
    std::fs::create_dir_all(stage.join("lib/modules")).unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(&mods)
        .arg(stage.join("lib/modules"))
        .status()
        .unwrap();
    assert!(st.success());
    let tarball = t.path().join("modules.tar.xz");
    let st = Command::new("tar")
        .arg("-cJf")
        .arg(&tarball)
        .arg("-C")
        .arg(&stage)
        .arg("lib")
        .status()
        .expect("tar");
    assert!(st.success());

    let from_dir = t.path().join("from-dir");
    let r = build(&spec, &from_dir);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let body = std::fs::read_to_string(&spec).unwrap();
    let tar_spec = write_spec(
        t.path(),
        &body.replace(&format!("{mods:?}"), &format!("{tarball:?}")),
    );
    assert!(
        std::fs::read_to_string(&tar_spec)
            .unwrap()
            .contains("modules.tar.xz")
    );
    let from_tar = t.path().join("from-tar");
    let r = build(&tar_spec, &from_tar);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));

    let listing = |out: &Path| {
        let raw = out.join("oe.img");
        let mut seen = Vec::new();
        for d in ["", "/kernel/drivers/block", "/kernel/drivers/virtio"] {
            seen.push(debugfs(&raw, &format!("ls -l /lib/modules/{release}{d}")));
        }
        seen.push(debugfs(
            &raw,
            &format!("cat /lib/modules/{release}/modules.dep"),
        ));
        seen
    };
    let (a, b) = (listing(&from_dir), listing(&from_tar));
    assert!(a[1].contains("virtio_blk.ko"), "{}", a[1]);
    assert_eq!(a, b);
    let modules_of = |out: &Path| {
        let j: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("bundle.json")).unwrap()).unwrap();
        j["initramfs_modules"].clone()
    };
    assert_eq!(modules_of(&from_dir), modules_of(&from_tar));
    assert!(
        modules_of(&from_tar).to_string().contains("virtio_blk.ko"),
        "the initramfs loads virtio_blk from the tarball's modules"
    );

    // A tarball without the release's directory names the layouts it wants.
    let wrong = t.path().join("wrong.tar");
    let st = Command::new("tar")
        .arg("-cf")
        .arg(&wrong)
        .arg("-C")
        .arg(t.path())
        .arg("stage/lib")
        .status()
        .unwrap();
    assert!(st.success());
    let bad_spec = write_spec(
        t.path(),
        &body.replace(&format!("{mods:?}"), &format!("{wrong:?}")),
    );
    let bad_out = t.path().join("bad");
    let r = build(&bad_spec, &bad_out);
    assert_eq!(r.status.code(), Some(2));
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(
        e.contains("wrong.tar") && e.contains(&format!("lib/modules/{release}")),
        "{e}"
    );
    assert!(!bad_out.exists());
}

/// Acceptance 5: on a terminal (a pty from util-linux `script`) the build
/// shows its steps as a progress bar; piped, stderr stays empty.
#[test]
fn progress_shows_on_a_terminal_and_not_when_piped() {
    let t = tempfile::tempdir().unwrap();
    let spec = oe_spec(t.path(), "vhd-tap");
    let out = t.path().join("tty");
    let cmd = format!(
        "{} image build {} -o {}",
        env!("CARGO_BIN_EXE_measured"),
        spec.display(),
        out.display()
    );
    let r = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .expect("script (util-linux) is installed");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stdout));
    let tty = String::from_utf8_lossy(&r.stdout);
    // Every stage of the pipeline by name, then the swap into place.
    let stages = image::pipeline::STAGES;
    let total = format!("/{}", stages.len() + 1);
    for step in stages.iter().copied().chain(["rename", total.as_str()]) {
        assert!(
            tty.contains(step),
            "no {step:?} in the terminal output: {tty}"
        );
    }
    assert!(tty.contains("\u{1b}[2K"), "the bar redraws in place: {tty}");

    let piped = build(&spec, &t.path().join("piped"));
    assert!(piped.status.success());
    assert!(
        piped.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
}

/// A given initrd is used as is: on the disk at /boot/initrd.img-<release>
/// (with the /initrd.img link), copied into the bundle byte for byte, and
/// recorded with the digest `sha256sum` gives, as input and as output.
#[test]
fn a_given_initrd_goes_onto_the_disk_and_into_the_bundle_unchanged() {
    let (_, release) = kernel();
    let t = tempfile::tempdir().unwrap();
    let spec = oe_spec(t.path(), "raw");
    let initrd = t.path().join("initrd.img");
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&initrd, &bytes).unwrap();
    let body = std::fs::read_to_string(&spec).unwrap();
    let spec = write_spec(t.path(), &format!("{body}initrd = {initrd:?}\n"));
    let out = t.path().join("bundle");
    let r = build(&spec, &out);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));

    let copy = out.join(format!("initrd.img-{release}"));
    assert_eq!(std::fs::read(&copy).unwrap(), bytes);
    let dumped = t.path().join("dumped");
    debugfs(
        &out.join("oe.img"),
        &format!("dump /boot/initrd.img-{release} {}", dumped.display()),
    );
    assert_eq!(std::fs::read(&dumped).unwrap(), bytes);
    let link = debugfs(&out.join("oe.img"), "stat /initrd.img");
    assert!(
        link.contains(&format!("boot/initrd.img-{release}")),
        "{link}"
    );

    let sum = Command::new("sha256sum").arg(&initrd).output().unwrap();
    let want = String::from_utf8_lossy(&sum.stdout)[..64].to_string();
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("bundle.json")).unwrap()).unwrap();
    let digest_of = |list: &str, path: &str| {
        j[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["path"].as_str().unwrap().ends_with(path))
            .unwrap_or_else(|| panic!("{path} in {list}"))["sha256"]
            .clone()
    };
    assert_eq!(digest_of("inputs", "initrd.img"), want.as_str());
    assert_eq!(
        digest_of("outputs", &format!("initrd.img-{release}")),
        want.as_str()
    );
}

/// The fixed VHD (whose writer reads file contents through memory) holds
/// exactly the filesystem of the dynamic one (written file to file): qemu-img
/// reads both back to the same bytes, and e2fsck finds it clean.
#[test]
fn fixed_and_dynamic_vhds_hold_the_same_filesystem() {
    let t = tempfile::tempdir().unwrap();
    let tap_spec = oe_spec(t.path(), "vhd-tap");
    let body = std::fs::read_to_string(&tap_spec).unwrap();
    let mut images = Vec::new();
    for format in ["vhd-tap", "vhd-fixed"] {
        let spec = write_spec(
            t.path(),
            &body.replace("format = \"vhd-tap\"", &format!("format = \"{format}\"")),
        );
        let out = t.path().join(format);
        let r = build(&spec, &out);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let back = t.path().join(format!("{format}.raw"));
        vhd_to_raw(&out.join("oe.vhd"), &back);
        let st = Command::new("e2fsck")
            .arg("-fn")
            .arg(&back)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&st.stdout)
        );
        images.push(std::fs::read(&back).unwrap());
    }
    // vm-image.md 1.4: both hold a filesystem of the 100 MiB disk's floor CHS size.
    let fs_len = 104_761_344;
    assert!(images.iter().all(|i| i.len() >= fs_len));
    assert!(
        images[0][..fs_len] == images[1][..fs_len],
        "the fixed VHD's filesystem differs from the dynamic one's"
    );
}
