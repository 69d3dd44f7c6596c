//! Acceptance 2 of `measured build`: on a software TPM, perform the launch
//! the bundle describes, measuring the very kernel file in the bundle; a
//! secret sealed to the bundle's policy unseals. Change one byte of the
//! kernel command line in the spec and rebuild: the policy changes, and the
//! old policy no longer unseals after the new launch.

use std::path::{Path, PathBuf};
use std::process::Command;

mod launch_common;

use tcg::HashAlg;
use tpm_sim::Swtpm;

const BIN: &str = env!("CARGO_BIN_EXE_measured");
const SEL: &str = "sha256:17,18,19";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fake_kernel() -> Vec<u8> {
    let mut b = vec![0x4b; 128 * 1024];
    b[..0x400].fill(0);
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    b[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
    let v = b"6.1.0-swtpm-test (t@t) #1\0";
    b[0x300..0x300 + v.len()].copy_from_slice(v);
    b
}

fn write_spec(dir: &Path, cmdline: &str) {
    let text = format!(
        r#"name = "svc"
rootfs = "rootfs"
kernel = "bzImage"
cmdline = "{cmdline}"
disk_size_mib = 16
initramfs = "never"

[launch]
platform = "{platform}"
sinit = "{sinit}"
tboot = "/boot/tboot.gz"
tboot_cmdline = "logging=memory extpol=embedded"

[[launch.modules]]
file = "bundle:kernel"
cmdline = "{cmdline}"
"#,
        platform = repo().join("examples/launch/platform.toml").display(),
        sinit = repo().join("examples/launch/sinit-synthetic.bin").display(),
    );
    std::fs::write(dir.join("spec.toml"), text).unwrap();
}

fn build(dir: &Path) -> PathBuf {
    let out = dir.join("out/svc");
    let o = Command::new(BIN)
        .arg("build")
        .arg(dir.join("spec.toml"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

fn launch(tpm: &Swtpm, bundle: &Path, module_cmdline: &str) {
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("bundle.json")).unwrap()).unwrap();
    assert_eq!(
        record["launch"]["modules"][0]["cmdline"], module_cmdline,
        "the bundle's module command line"
    );
    launch_common::launch(tpm, bundle, launch_common::Launch::AsPredicted);
}

/// Seal `secret` to `policy` (a digest file) under a fresh primary key.
fn seal(tpm: &Swtpm, dir: &Path, policy: &Path, secret: &[u8]) {
    std::fs::write(dir.join("secret.dat"), secret).unwrap();
    std::fs::copy(policy, dir.join("policy.bin")).unwrap();
    tpm.seal_to_policy_file(dir).unwrap();
}

#[test]
fn sealed_to_bundle_policy_unseals_after_its_launch_and_not_after_a_changed_cmdline() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir_all(d.join("rootfs/etc")).unwrap();
    std::fs::write(
        d.join("rootfs/etc/inittab"),
        "ttyS0::respawn:/sbin/getty ttyS0\n",
    )
    .unwrap();
    std::fs::write(d.join("bzImage"), fake_kernel()).unwrap();
    let cmd_a = "console=hvc0 root=/dev/xvda rw";
    write_spec(d, cmd_a);
    let bundle = build(d);
    let old_policy = d.join("old-policy.bin");
    std::fs::copy(bundle.join("policy/policy.digest"), &old_policy).unwrap();

    // The TPM reads what pcrs.json predicted, and the secret unseals.
    let tpm = Swtpm::start().unwrap();
    let w1 = d.join("tpm1");
    std::fs::create_dir(&w1).unwrap();
    seal(&tpm, &w1, &old_policy, b"the disk key");
    assert!(
        tpm.unseal_with_pcr_policy(&w1, SEL).is_err(),
        "unsealed before the launch"
    );
    launch(&tpm, &bundle, cmd_a);
    let pcrs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("pcrs.json")).unwrap()).unwrap();
    for pcr in [17u32, 18, 19] {
        assert_eq!(
            hex::encode(tpm.pcr_read(HashAlg::Sha256.id(), pcr).unwrap()),
            pcrs["pcrs"][pcr.to_string()]["sha256"].as_str().unwrap(),
            "PCR{pcr}"
        );
    }
    assert_eq!(
        tpm.unseal_with_pcr_policy(&w1, SEL).unwrap(),
        b"the disk key"
    );
    drop(tpm);

    // One byte of the kernel command line changes: new policy; the old
    // one fails after the new launch, the new one works.
    let cmd_b = "console=hvc0 root=/dev/xvda ro";
    write_spec(d, cmd_b);
    let bundle = build(d);
    let new_policy = std::fs::read(bundle.join("policy/policy.digest")).unwrap();
    assert_ne!(new_policy, std::fs::read(&old_policy).unwrap());
    let tpm = Swtpm::start().unwrap();
    let w2 = d.join("tpm2");
    std::fs::create_dir(&w2).unwrap();
    seal(&tpm, &w2, &old_policy, b"the disk key");
    launch(&tpm, &bundle, cmd_b);
    assert!(
        tpm.unseal_with_pcr_policy(&w2, SEL).is_err(),
        "old policy unsealed after the changed launch"
    );
    let w3 = d.join("tpm3");
    std::fs::create_dir(&w3).unwrap();
    seal(
        &tpm,
        &w3,
        &bundle.join("policy/policy.digest"),
        b"the disk key",
    );
    assert_eq!(
        tpm.unseal_with_pcr_policy(&w3, SEL).unwrap(),
        b"the disk key"
    );
}
