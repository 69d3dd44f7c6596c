//! The generated VM definitions checked by the real tools: Xen's libxlutil
//! parser for xl.cfg and libvirt's `virt-xml-validate` for the domain XML.

use std::path::{Path, PathBuf};
use std::process::Command;

use vmdef::{DiskFormat, VirtType, VmDef};

fn def(virt: VirtType) -> VmDef {
    VmDef {
        name: "svc-net".into(),
        uuid: "6f1c7a1e-0b4e-5c11-9a43-2d0f51e0c0de".into(),
        memory_mib: 192,
        vcpus: 2,
        virt_type: virt,
        kernel: "/var/lib/xen/svc/vmlinuz".into(),
        kernel_in_disk: "/vmlinuz".into(),
        initrd: Some("/var/lib/xen/svc/initrd.img".into()),
        initrd_in_disk: Some("/boot/initrd.img".into()),
        cmdline: "root=/dev/xvda rw console=hvc0".into(),
        disk_path: "/storage/svc/svc.vhd".into(),
        disk_format: DiskFormat::Vhd,
        flask_label: "system_u:system_r:ndvm_t".into(),
        service_tag: "svcnet".into(),
    }
}

/// Compile the libxlutil oracle once per test binary run.
fn xlparse(dir: &Path) -> PathBuf {
    let exe = dir.join("xlparse");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/xlparse.c");
    let out = Command::new("cc")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .args(["-lxlutil", "-lxenlight"])
        .output()
        .expect("cc must be installed (ci/install-oracles.sh)");
    assert!(
        out.status.success(),
        "compiling the libxlutil oracle failed (libxen-dev missing?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

#[test]
fn xl_cfg_parses_with_xens_libxlutil_for_pv_and_pvh() {
    let dir = tempfile::tempdir().unwrap();
    let exe = xlparse(dir.path());
    for virt in [VirtType::Pv, VirtType::Pvh] {
        let cfg = dir.path().join("svc.cfg");
        std::fs::write(&cfg, vmdef::xl::xl_cfg(&def(virt)).unwrap()).unwrap();
        let out = Command::new(&exe).arg(&cfg).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for want in [
            "name=svc-net\n".to_string(),
            format!("type={}\n", virt.as_str()),
            "memory=192\n".into(),
            "vcpus=2\n".into(),
            "kernel=/var/lib/xen/svc/vmlinuz\n".into(),
            "ramdisk=/var/lib/xen/svc/initrd.img\n".into(),
            "cmdline=root=/dev/xvda rw console=hvc0\n".into(),
            "disk0.target=/storage/svc/svc.vhd\n".into(),
            "disk0.vdev=xvda\n".into(),
            "disk0.format=vhd\n".into(),
            "disk0.rw=1\n".into(),
        ] {
            assert!(
                text.contains(&want),
                "libxlutil did not see {want:?} in:\n{text}"
            );
        }
    }
}

#[test]
fn xlparse_oracle_rejects_a_broken_disk_spec() {
    // Proves the oracle can fail: an unknown disk format must not parse.
    let dir = tempfile::tempdir().unwrap();
    let exe = xlparse(dir.path());
    let cfg = vmdef::xl::xl_cfg(&def(VirtType::Pv))
        .unwrap()
        .replace("format=vhd", "format=bogus");
    let p = dir.path().join("bad.cfg");
    std::fs::write(&p, cfg).unwrap();
    let out = Command::new(&exe).arg(&p).output().unwrap();
    assert!(!out.status.success());
}

fn validate(xml: &str, dir: &Path) -> std::process::Output {
    let p = dir.join("domain.xml");
    std::fs::write(&p, xml).unwrap();
    Command::new("virt-xml-validate")
        .arg(&p)
        .arg("domain")
        .output()
        .expect("virt-xml-validate must be installed (ci/install-oracles.sh)")
}

#[test]
fn libvirt_xml_validates_against_libvirts_domain_schema() {
    let dir = tempfile::tempdir().unwrap();
    for virt in [VirtType::Pv, VirtType::Pvh] {
        let xml = vmdef::libvirt::domain_xml(&def(virt)).unwrap();
        let out = validate(&xml, dir.path());
        assert!(
            out.status.success(),
            "{virt:?}: {}{}\n{xml}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // And the validator does reject a broken document.
    let broken = vmdef::libvirt::domain_xml(&def(VirtType::Pv))
        .unwrap()
        .replace("<vcpu>2</vcpu>", "<vcpu>x</vcpu>");
    assert!(!validate(&broken, dir.path()).status.success());
}
