//! Shared setup for the `image` integration tests: the Debian test data
//! (fetched by ci/fetch-testdata.sh), an OE/busybox-shaped rootfs, and
//! running the real binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The unpacked Debian packages; fetched on first use, FAIL if impossible.
pub fn debian_root() -> PathBuf {
    let root = repo().join("target/testdata/debian");
    if !root.join(".complete").exists() {
        let st = Command::new("bash")
            .arg(repo().join("ci/fetch-testdata.sh"))
            .status()
            .expect("running ci/fetch-testdata.sh");
        assert!(
            st.success(),
            "ci/fetch-testdata.sh failed: test data missing"
        );
    }
    assert!(root.join(".complete").exists(), "Debian test data missing");
    root.join("root")
}

/// Kernel path and release of the fetched cloud kernel.
pub fn kernel() -> (PathBuf, String) {
    let boot = debian_root().join("boot");
    let k = std::fs::read_dir(&boot)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("vmlinuz-")
        })
        .expect("vmlinuz in the kernel package");
    let rel = k.file_name().unwrap().to_string_lossy()["vmlinuz-".len()..].to_string();
    (k, rel)
}

/// A rootfs shaped like OE's core-image-minimal: busybox init with a
/// `ttyS0` getty in inittab, `/dev/root` in fstab, passwordless root.
pub fn oe_rootfs(dir: &Path) {
    let mk = |p: &str| std::fs::create_dir_all(dir.join(p)).unwrap();
    for d in [
        "bin",
        "sbin",
        "etc/init.d",
        "dev",
        "proc",
        "sys",
        "tmp",
        "root",
        "var",
        "run",
        "boot",
    ] {
        mk(d);
    }
    std::fs::copy(debian_root().join("bin/busybox"), dir.join("bin/busybox")).unwrap();
    let ln = |target: &str, link: &str| std::os::unix::fs::symlink(target, dir.join(link)).unwrap();
    for a in [
        "sh", "mount", "umount", "login", "ls", "cat", "hostname", "mkdir",
    ] {
        ln("busybox", &format!("bin/{a}"));
    }
    for a in ["init", "getty", "reboot", "halt", "poweroff"] {
        ln("../bin/busybox", &format!("sbin/{a}"));
    }
    let w = |p: &str, s: &str| std::fs::write(dir.join(p), s).unwrap();
    w(
        "etc/inittab",
        "# /etc/inittab: OE core-image-minimal (busybox)\n\
         ::sysinit:/etc/init.d/rcS\n\
         ttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt102\n\
         ::ctrlaltdel:/sbin/reboot\n\
         ::shutdown:/bin/umount -a -r\n",
    );
    w(
        "etc/init.d/rcS",
        "#!/bin/sh\nmount -t tmpfs tmpfs /tmp\nhostname svc\n",
    );
    std::fs::set_permissions(
        dir.join("etc/init.d/rcS"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    w(
        "etc/fstab",
        "/dev/root / auto defaults 1 1\nproc /proc proc defaults 0 0\n",
    );
    w("etc/passwd", "root::0:0:root:/root:/bin/sh\n");
    w("etc/group", "root:x:0:\n");
    w("etc/hostname", "svc\n");
}

/// Run `measured ARGS` with a fixed SOURCE_DATE_EPOCH.
pub fn measured(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_measured"))
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap()
}

/// `debugfs -R CMD IMAGE` output (fails the test if debugfs is missing).
pub fn debugfs(img: &Path, cmd: &str) -> String {
    let out = Command::new("debugfs")
        .args(["-R", cmd])
        .arg(img)
        .output()
        .expect("debugfs (e2fsprogs) must be installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The VHD's contents as a raw image, via qemu-img (the independent reader).
pub fn vhd_to_raw(vhd: &Path, raw: &Path) {
    let st = Command::new("qemu-img")
        .args(["convert", "-f", "vpc", "-O", "raw"])
        .arg(vhd)
        .arg(raw)
        .status()
        .expect("qemu-img must be installed");
    assert!(st.success());
}
