//! Acceptance 2 of `measured build`: on a software TPM, perform the launch
//! the bundle describes, measuring the very kernel file in the bundle; a
//! secret sealed to the bundle's policy unseals. Change one byte of the
//! kernel command line in the spec and rebuild: the policy changes, and the
//! old policy no longer unseals after the new launch.

use std::path::{Path, PathBuf};
use std::process::Command;

use tcg::HashAlg;
use tcg::log::EventLog;
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

/// Launch on `tpm` as SINIT and tboot would, from the bundle: the predicted
/// log gives the order and the SINIT/platform digests; every module event
/// is measured afresh from the bundle's own file with tboot's rule.
fn launch(tpm: &Swtpm, bundle: &Path, module_cmdline: &str) {
    let pcrs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("pcrs.json")).unwrap()).unwrap();
    let version: txt::TbootVersion = pcrs["tboot_version"].as_str().unwrap().parse().unwrap();
    let log = EventLog::read(&bundle.join("txt-eventlog.bin")).unwrap();
    let events: Vec<_> = log
        .events
        .iter()
        .filter(|e| e.event_type.to_u32() != 3)
        .collect();
    // seq -> input file, from pcrs.json.
    let mut file_of = std::collections::BTreeMap::new();
    for banks in pcrs["pcrs"].as_object().unwrap().values() {
        for ev in banks["sha256"]["events"].as_array().unwrap() {
            file_of.insert(
                ev["seq"].as_u64().unwrap() as usize,
                ev["file"].as_str().unwrap_or("").to_string(),
            );
        }
    }
    let algs: Vec<HashAlg> = events[0].digests.iter().filter_map(|d| d.alg).collect();
    let mut measured_modules = 0;
    tpm.set_locality(4).unwrap();
    tpm.hash_sequence(&events[0].data).unwrap();
    for (seq, e) in events.iter().enumerate().skip(1) {
        let file = file_of.get(&seq).cloned().unwrap_or_default();
        let digests: Vec<(HashAlg, Vec<u8>)> = if let Some(rel) = file.strip_prefix("bundle:") {
            let f = std::fs::File::open(bundle.join(rel)).unwrap();
            let img = txt::module::hash_image(f, true, &algs, "module", |_| {}).unwrap();
            let cmd = txt::module::effective_cmdline(module_cmdline, version);
            let d = txt::module::module_digests(cmd.as_bytes(), &img);
            for (a, v) in &d {
                assert_eq!(
                    Some(v.as_slice()),
                    e.digest(*a),
                    "prediction of {rel} in {a}"
                );
            }
            measured_modules += 1;
            d
        } else {
            e.digests
                .iter()
                .map(|d| (d.alg.unwrap(), d.digest.clone()))
                .collect()
        };
        let locality = if e.event_type.to_u32() == 0x501 { 2 } else { 3 };
        tpm.set_locality(locality).unwrap();
        let raw: Vec<(u16, &[u8])> = digests
            .iter()
            .map(|(a, d)| (a.id(), d.as_slice()))
            .collect();
        tpm.pcr_extend(e.pcr, &raw).unwrap();
    }
    tpm.set_locality(0).unwrap();
    assert!(
        measured_modules >= 1,
        "the kernel module event was measured from the bundle"
    );
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
            pcrs["pcrs"][pcr.to_string()]["sha256"]["value"]
                .as_str()
                .unwrap(),
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
