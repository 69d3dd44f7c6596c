//! The TPM 1.2 sealing workflow through the binary, checked by swtpm: `measured
//! drtm predict` for a TPM 1.2 platform (legacy and details/authorities
//! mappings), `measured policy tpm12` reads its JSON output as it is and turns
//! the predicted PCR17+18 into a digestAtRelease, a secret is sealed with it on
//! a swtpm TPM 1.2 before the launch, the launch is replayed on the TPM from the
//! predicted events at their localities, and TPM_Unseal returns the secret; one
//! more extend of the MLE's PCR and the TPM refuses with TPM_WRONGPCRVAL.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tpm_sim::SimError;
use tpm_sim::tpm12::{PcrInfoLong, Swtpm12, TPM_WRONGPCRVAL};

/// tboot's event type for its own measurements (policy, modules): extended at locality 2.
const EVTYPE_TB_MEASUREMENT: u64 = 0x501;

fn measured(args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_measured"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "measured {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `measured policy tpm12 --pcrs FILE --select 17,18`: the digestAtRelease.
fn policy_tpm12(pcrs: &str) -> [u8; 20] {
    let out = measured(&["policy", "tpm12", "--pcrs", pcrs, "--select", "17,18"]);
    hex20(&Value::String(
        String::from_utf8(out).unwrap().trim().into(),
    ))
}

/// The legacy-mapping platform.
const LEGACY: &str = "pcr_mapping = \"legacy\"\n";
/// A details/authorities platform: `pcr_map=da` with a SINIT offering it
/// (caps: MONITOR/GETSEC wake, D/A) and the 20 raw bytes of its AUX index.
const DA: &str = "pcr_mapping = \"da\"\nsinit_capabilities = 0x23\n\
                  biosac_reg_data = \"00112233445566778899aabbccddeeff00112233\"\n";

fn write_inputs(d: &Path, mapping: &str) {
    let profile = format!(
        "tpm = \"1.2\"\nbanks = [\"sha1\"]\n{mapping}\
         sinit_mle_data_version = 7\ntcg_log_format = false\nscrtm_status = 1\n\
         lcp_policy_control = 4\n\
         bios_acm_id = \"80000000201010220000b001ffffffffffffffff\"\n"
    );
    std::fs::write(d.join("profile.toml"), profile).unwrap();
    std::fs::write(d.join("vmlinuz"), b"kernel".repeat(10_000)).unwrap();
    std::fs::write(d.join("initrd"), b"initrd".repeat(10_000)).unwrap();
}

fn hex20(v: &Value) -> [u8; 20] {
    hex::decode(v.as_str().expect("hex string"))
        .unwrap()
        .try_into()
        .expect("20 bytes")
}

/// Replay the predicted events on the TPM as SINIT (locality 3) and tboot
/// (locality 2) would, after the locality 4 hash sequence over HASH_START's data.
fn launch(tpm: &Swtpm12, events: &[Value]) {
    assert_eq!(events[0]["name"], "HASH_START");
    tpm.set_locality(4).unwrap();
    let data = hex::decode(events[0]["data"].as_str().unwrap()).unwrap();
    tpm.hash_sequence(&data).unwrap();
    for e in &events[1..] {
        let tboot = e["event_type"].as_u64() == Some(EVTYPE_TB_MEASUREMENT);
        tpm.set_locality(if tboot { 2 } else { 3 }).unwrap();
        let pcr = e["pcr"].as_u64().unwrap() as u32;
        tpm.extend(pcr, &hex20(&e["digests"]["sha1"])).unwrap();
    }
    tpm.set_locality(0).unwrap();
}

#[test]
fn tpm12_secret_sealed_with_measured_policy_tpm12_unseals_after_the_predicted_launch() {
    seal_predict_launch_unseal(LEGACY, 18);
}

#[test]
fn tpm12_da_secret_sealed_with_measured_policy_tpm12_unseals_after_the_predicted_launch() {
    seal_predict_launch_unseal(DA, 17);
}

/// Predict with the binary for `mapping`, seal to its PCR17+18, launch on
/// swtpm, unseal; then one more extend of `mle_pcr` and the TPM refuses.
fn seal_predict_launch_unseal(mapping: &str, mle_pcr: u32) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write_inputs(d, mapping);
    let p = |f: &str| d.join(f).to_str().unwrap().to_string();
    measured(&["drtm", "synth-acm", "-o", &p("sinit.bin")]);
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
        "logging=memory pcr_map=da",
        "--module",
        &kernel,
        "--module",
        &p("initrd"),
    ]);
    let prediction: Value = serde_json::from_slice(&out).unwrap();
    let pcrs = &prediction["pcrs"];
    let mle = prediction["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "MLE_HASH")
        .unwrap();
    assert_eq!(mle["pcr"].as_u64(), Some(mle_pcr as u64), "{mapping}");
    // `policy tpm12` reads predict's output as it is.
    std::fs::write(d.join("prediction.json"), &out).unwrap();
    let digest = policy_tpm12(&p("prediction.json"));
    // Its PCR-first `pcrs` alone, and the same values bank-first, give the same digest.
    std::fs::write(d.join("pcr-first.json"), pcrs.to_string()).unwrap();
    assert_eq!(policy_tpm12(&p("pcr-first.json")), digest);
    let bank_first = serde_json::json!({
        "sha1": { "17": pcrs["17"]["sha1"], "18": pcrs["18"]["sha1"] }
    });
    std::fs::write(d.join("bank-first.json"), bank_first.to_string()).unwrap();
    assert_eq!(policy_tpm12(&p("bank-first.json")), digest);

    let tpm = Swtpm12::start().unwrap();
    let data_auth = [0x42; 20];
    let info = PcrInfoLong::release(&[17, 18], 0x01, digest);
    let sealed = tpm.seal(&info, &data_auth, b"disk key").unwrap();
    let wrong_pcrs = |e: SimError| matches!(e, SimError::Tpm12 { rc, .. } if rc == TPM_WRONGPCRVAL);
    assert!(wrong_pcrs(tpm.unseal(&sealed, &data_auth).unwrap_err()));
    launch(&tpm, prediction["events"].as_array().unwrap());
    for pcr in ["17", "18", "19"] {
        assert_eq!(
            hex::encode(tpm.pcr_read(pcr.parse().unwrap()).unwrap()),
            pcrs[pcr]["sha1"].as_str().unwrap(),
            "PCR{pcr}"
        );
    }
    assert_eq!(tpm.unseal(&sealed, &data_auth).unwrap(), b"disk key");
    tpm.set_locality(2).unwrap();
    tpm.extend(mle_pcr, &[1; 20]).unwrap();
    tpm.set_locality(0).unwrap();
    assert!(wrong_pcrs(tpm.unseal(&sealed, &data_auth).unwrap_err()));
}

#[test]
fn policy_tpm12_rejects_pcr_first_json_whose_pcr_is_not_an_object_naming_file_and_pcr() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("bad.json");
    std::fs::write(&f, r#"{"17": "00"}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_measured"))
        .args([
            "policy",
            "tpm12",
            "--pcrs",
            f.to_str().unwrap(),
            "--select",
            "17",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json") && err.contains("PCR 17"), "{err}");
}
