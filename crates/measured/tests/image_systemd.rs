//! A systemd rootfs: the console getty is enabled the way `systemctl
//! enable` would do it. systemd's own `systemctl --root` reads the built
//! disk's files back and must call the unit enabled (and, as a control,
//! disabled before the build).

mod image_common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use image_common::*;

fn is_enabled(root: &Path, unit: &str) -> String {
    let out = Command::new("systemctl")
        .arg(format!("--root={}", root.display()))
        .args(["is-enabled", unit])
        .output()
        .expect("systemctl (systemd) is installed (ci/install-oracles.sh)");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn systemd_rootfs_gets_serial_getty_enabled_as_systemctl_sees_it() {
    let (kernel, _) = kernel();
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("rootfs");
    let units = tree.join("lib/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::create_dir_all(tree.join("etc/systemd/system")).unwrap();
    std::fs::create_dir_all(tree.join("sbin")).unwrap();
    // systemd's real template and target units from this machine.
    for u in ["serial-getty@.service", "getty.target"] {
        std::fs::copy(Path::new("/lib/systemd/system").join(u), units.join(u)).unwrap();
    }
    std::fs::write(tree.join("lib/systemd/systemd"), b"#!/bin/false\n").unwrap();
    std::os::unix::fs::symlink("../lib/systemd/systemd", tree.join("sbin/init")).unwrap();
    std::fs::write(tree.join("etc/fstab"), "").unwrap();
    let unit = "serial-getty@hvc0.service";
    assert_eq!(
        is_enabled(&tree, unit),
        "disabled",
        "control: not enabled before"
    );

    let spec = t.path().join("svc.toml");
    std::fs::write(
        &spec,
        format!(
            "name = \"sd\"\nrootfs = {tree:?}\nkernel = {kernel:?}\ninitramfs = \"never\"\n\
             disk_size_mib = 64\nformat = \"raw\"\n"
        ),
    )
    .unwrap();
    let out = t.path().join("bundle");
    let r = measured(&[
        OsStr::new("image"),
        OsStr::new("build"),
        spec.as_os_str(),
        OsStr::new("-o"),
        out.as_os_str(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("bundle.json")).unwrap()).unwrap();
    assert_eq!(json["init_system"], "systemd");

    // Copy /etc and /lib back out of the disk with debugfs, then ask systemd.
    let back = t.path().join("back");
    std::fs::create_dir_all(&back).unwrap();
    for d in ["/etc", "/lib"] {
        debugfs(
            &out.join("sd.img"),
            &format!("rdump {d} {}", back.display()),
        );
    }
    assert!(
        back.join("etc/systemd/system").is_dir(),
        "rdump gave no /etc"
    );
    assert_eq!(is_enabled(&back, unit), "enabled");
    // And only the console asked for: no getty on another port.
    assert_eq!(is_enabled(&back, "serial-getty@ttyS0.service"), "disabled");
}
