//! Acceptance 1: a busybox-static + Debian cloud kernel service VM built by
//! `measured image build` boots under qemu-system-x86_64 (TCG) from our VHD,
//! the generated initramfs loads virtio_blk, and a login prompt appears on
//! hvc0 (QEMU's virtconsole).

mod image_common;

use std::ffi::OsStr;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use image_common::*;

#[test]
fn built_bundle_boots_to_login_prompt_on_hvc0() {
    let (kernel, release) = kernel();
    let t = tempfile::tempdir().unwrap();
    let rootfs = t.path().join("rootfs");
    oe_rootfs(&rootfs);
    let modules = debian_root().join("lib/modules").join(&release);
    let spec = t.path().join("svc.toml");
    std::fs::write(
        &spec,
        format!(
            "name = \"svc\"\nrootfs = \"rootfs\"\nkernel = {:?}\nmodules = {:?}\ndisk_size_mib = 320\nformat = \"vhd-qemu\"\n",
            kernel, modules
        ),
    )
    .unwrap();
    let bundle = t.path().join("bundle");
    let out = measured(&[
        OsStr::new("image"),
        OsStr::new("build"),
        spec.as_os_str(),
        OsStr::new("-o"),
        bundle.as_os_str(),
        OsStr::new("--json"),
    ]);
    assert!(
        out.status.success(),
        "image build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mods: Vec<String> = report["initramfs_modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    let pos = |n: &str| {
        mods.iter()
            .position(|m| m.ends_with(n))
            .unwrap_or_else(|| panic!("{n} not in {mods:?}"))
    };
    assert!(pos("/virtio_ring.ko") < pos("/virtio_blk.ko"));
    assert!(pos("/virtio_pci_modern_dev.ko") < pos("/virtio_pci.ko"));

    let console = t.path().join("console.log");
    let serial = t.path().join("serial.log");
    let mut qemu = Command::new("qemu-system-x86_64")
        .args(["-m", "512", "-nographic", "-no-reboot", "-monitor", "none"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-kernel")
        .arg(bundle.join(format!("vmlinuz-{release}")))
        .arg("-initrd")
        .arg(bundle.join(format!("initrd.img-{release}")))
        // Under QEMU the disk is virtio (/dev/vda); under Xen the bundle's
        // own cmdline says /dev/xvda. The initramfs honours root=.
        .args([
            "-append",
            "root=/dev/vda rw console=ttyS0 console=hvc0 panic=-1",
        ])
        .arg("-drive")
        .arg(format!(
            "file={},format=vpc,if=virtio",
            bundle.join("svc.vhd").display()
        ))
        .args(["-device", "virtio-serial-pci"])
        .arg("-chardev")
        .arg(format!("file,id=c0,path={}", console.display()))
        .args(["-device", "virtconsole,chardev=c0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-system-x86_64 must be installed");
    let start = Instant::now();
    let mut seen = String::new();
    while start.elapsed() < Duration::from_secs(150) {
        std::thread::sleep(Duration::from_millis(500));
        seen = std::fs::read_to_string(&console).unwrap_or_default();
        if seen.contains("login:") {
            break;
        }
        if let Some(st) = qemu.try_wait().unwrap() {
            let mut e = String::new();
            qemu.stderr.take().unwrap().read_to_string(&mut e).unwrap();
            panic!(
                "qemu exited early ({st}): {e}\nserial:\n{}",
                std::fs::read_to_string(&serial).unwrap_or_default()
            );
        }
    }
    let _ = qemu.kill();
    let _ = qemu.wait();
    assert!(
        seen.contains("login:"),
        "no login prompt on hvc0 within 150 s.\nconsole:\n{seen}\nserial tail:\n{}",
        std::fs::read_to_string(&serial)
            .unwrap_or_default()
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The kernel log confirms virtio_blk came from the initramfs.
    let serial_text = std::fs::read_to_string(&serial).unwrap_or_default();
    assert!(
        serial_text.contains("vda"),
        "virtio disk never appeared:\n{serial_text}"
    );

    // The disk holds the modules with the generated modules.dep.
    let raw = t.path().join("disk.raw");
    vhd_to_raw(&bundle.join("svc.vhd"), &raw);
    let dep = debugfs(&raw, &format!("cat /lib/modules/{release}/modules.dep"));
    assert!(
        dep.contains("kernel/drivers/block/virtio_blk.ko:"),
        "modules.dep: {}",
        &dep[..dep.len().min(300)]
    );
    let ls = debugfs(
        &raw,
        &format!("ls -l /lib/modules/{release}/kernel/drivers/block"),
    );
    assert!(ls.contains("virtio_blk.ko"), "{ls}");
}
