//! `measured drtm` end to end: the MLE hash against `lcp2_mlehash`, a
//! prediction whose emitted agile log replays (by the TCG crate) to the
//! predicted PCRs, and hostile inputs failing with exit code 2.

use std::path::Path;
use std::process::Command;

use tcg::HashAlg;
use txt::synth::{AcmSpec, build_acm};

fn measured(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_measured"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn mlehash_subcommand_equals_lcp2_mlehash() {
    let out = measured(&[
        "--json",
        "drtm",
        "mlehash",
        "/boot/tboot.gz",
        "--cmdline",
        "logging=vga",
        "--alg",
        "sha384",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours = v["hashes"]["sha384"].as_str().unwrap().to_string();
    let theirs = Command::new("lcp2_mlehash")
        .args([
            "--create",
            "--alg",
            "sha384",
            "--cmdline",
            "logging=vga",
            "/boot/tboot.gz",
        ])
        .output()
        .expect("lcp2_mlehash (package tboot) must be installed");
    let theirs: String = String::from_utf8_lossy(&theirs.stdout)
        .split_whitespace()
        .collect();
    assert_eq!(ours, theirs);
}

fn write_inputs(d: &Path) {
    std::fs::write(d.join("sinit.bin"), build_acm(&AcmSpec::default())).unwrap();
    std::fs::write(d.join("vmlinuz"), b"kernel".repeat(10_000)).unwrap();
    std::fs::write(d.join("initrd"), b"initrd".repeat(10_000)).unwrap();
    let s1 = hex::encode(HashAlg::Sha1.digest(b"nv"));
    let s2 = hex::encode(HashAlg::Sha256.digest(b"nv"));
    let profile = format!(
        "tpm = \"2.0\"\nbanks = [\"sha1\", \"sha256\"]\nextpol = \"embedded\"\nscrtm_status = 1\n\
         biosac_reg_data = \"{}\"\n[nv_info_digests]\nsha1 = \"{s1}\"\nsha256 = \"{s2}\"\n\
         [sinit_pubkey_digests]\nsha1 = \"{s1}\"\nsha256 = \"{s2}\"\n",
        "00".repeat(32)
    );
    std::fs::write(d.join("profile.toml"), profile).unwrap();
}

#[test]
fn predict_emits_an_agile_log_that_replays_to_the_predicted_pcrs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write_inputs(d);
    let p = |f: &str| d.join(f).to_str().unwrap().to_string();
    let kernel = format!("{}:console=hvc0 root=/dev/xvda1", p("vmlinuz"));
    let out = measured(&[
        "--json",
        "drtm",
        "predict",
        "--profile",
        &p("profile.toml"),
        "--acm",
        &p("sinit.bin"),
        "--tboot",
        "/boot/tboot.gz",
        "--tboot-cmdline",
        "logging=memory extpol=embedded",
        "--module",
        &kernel,
        "--module",
        &p("initrd"),
        "--log-out",
        &p("drtm.log"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let log = tcg::EventLog::read(&d.join("drtm.log")).unwrap();
    let r = tcg::replay(&log);
    for alg in [HashAlg::Sha1, HashAlg::Sha256] {
        for pcr in [17u32, 18, 19] {
            let predicted = v["pcrs"][pcr.to_string()][alg.name()].as_str().unwrap();
            assert_eq!(
                hex::encode(r.value(alg, pcr).unwrap()),
                predicted,
                "PCR{pcr} {alg}"
            );
        }
    }
    // The kernel's command line is part of its measurement.
    let out2 = measured(&[
        "--json",
        "drtm",
        "predict",
        "--profile",
        &p("profile.toml"),
        "--acm",
        &p("sinit.bin"),
        "--tboot",
        "/boot/tboot.gz",
        "--tboot-cmdline",
        "logging=memory extpol=embedded",
        "--module",
        &p("vmlinuz"),
        "--module",
        &p("initrd"),
    ]);
    let v2: serde_json::Value = serde_json::from_slice(&out2.stdout).unwrap();
    assert_ne!(v["pcrs"]["17"], v2["pcrs"]["17"]);
    assert_eq!(v["pcrs"]["18"], v2["pcrs"]["18"]);
}

#[test]
fn hostile_inputs_exit_2_with_the_field_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut acm = build_acm(&AcmSpec::default());
    acm[24..28].copy_from_slice(&0x0100_0000u32.to_le_bytes());
    std::fs::write(d.join("bad.bin"), &acm).unwrap();
    let out = measured(&["drtm", "acm", d.join("bad.bin").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.bin") && err.contains("Size"), "{err}");
    std::fs::write(d.join("bad.pol"), [2u8, 0, 0x0b, 1, 0, 0, 0, 0, 0, 0, 0, 5]).unwrap();
    let out = measured(&["drtm", "policy-show", d.join("bad.pol").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("entry"));
    std::fs::write(d.join("notelf"), b"hello").unwrap();
    let out = measured(&["drtm", "mlehash", d.join("notelf").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn policy_default_writes_tboots_built_in_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let out_path = tmp.path().join("def.pol");
    let out = measured(&[
        "drtm",
        "policy-default",
        "--tboot-version",
        "1.10.5",
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let bytes = std::fs::read(&out_path).unwrap();
    assert_eq!(
        hex::encode(bytes),
        "02000b01000000000000000300ff00000000000081110000000000008316001000004000"
    );
    // And tb_polgen reads it as we do.
    let show = Command::new("tb_polgen")
        .args(["--show", out_path.to_str().unwrap()])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&show.stdout);
    assert!(
        s.contains("TB_HALG_SHA256") && s.contains("num_entries: 3"),
        "{s}"
    );
}
