//! A real software TPM (swtpm) agrees with our replay and our policy digests.

use std::path::{Path, PathBuf};

use tcg::policy::{PcrSelection, PolicyDigest};
use tcg::values::PcrValues;
use tcg::{EventLog, EventType, HashAlg, Quirk, replay};
use tpm_sim::Swtpm;

fn eventlogs() -> PathBuf {
    if let Ok(d) = std::env::var("MEASURED_SHARED") {
        return Path::new(&d).join("testdata/eventlogs");
    }
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        let c = dir.join("shared/testdata/eventlogs");
        if c.is_dir() {
            return c;
        }
        if !dir.pop() {
            return PathBuf::from("/work/shared/testdata/eventlogs");
        }
    }
}

/// The banks this swtpm has allocated (a bank it lacks reads back no digest).
fn tpm_banks(tpm: &Swtpm) -> Vec<HashAlg> {
    HashAlg::ALL
        .into_iter()
        .filter(|a| tpm.pcr_read(a.id(), 0).is_ok())
        .collect()
}

/// Extend every event of `log` on PCRs 0-15 with `tpm2_pcrextend`, in the banks the TPM has.
fn extend_log_with_tools(tpm: &Swtpm, log: &EventLog, banks: &[HashAlg], dir: &Path) {
    let mut specs = Vec::new();
    for ev in &log.events {
        if ev.event_type == EventType::NoAction || ev.pcr > 15 {
            continue;
        }
        let parts: Vec<String> = ev
            .digests
            .iter()
            .filter_map(|d| Some((d.alg?, &d.digest)))
            .filter(|(a, _)| banks.contains(a))
            .map(|(a, d)| format!("{a}={}", hex::encode(d)))
            .collect();
        if !parts.is_empty() {
            specs.push(format!("{}:{}", ev.pcr, parts.join(",")));
        }
    }
    for chunk in specs.chunks(32) {
        let args: Vec<&str> = chunk.iter().map(String::as_str).collect();
        tpm.tool("tpm2_pcrextend", &args, dir).unwrap();
    }
}

fn read_with_tools(tpm: &Swtpm, banks: &[HashAlg], dir: &Path) -> PcrValues {
    let sel: Vec<String> = banks
        .iter()
        .map(|a| format!("{a}:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15"))
        .collect();
    let out = tpm.tool("tpm2_pcrread", &[&sel.join("+")], dir).unwrap();
    PcrValues::from_pcrread_yaml(&String::from_utf8_lossy(&out), "tpm2_pcrread").unwrap()
}

#[test]
fn swtpm_extended_with_real_logs_reads_back_our_replay_in_every_bank() {
    let dir = eventlogs();
    let tmp = tempfile::tempdir().unwrap();
    let mut compared = 0;
    for name in [
        "go-tpm-tools/arch-linux-workstation.bin",
        "go-tpm-tools/rhel8-uefi.bin",
        "go-tpm-tools/debian-10.bin",
        "python3-uefi-eventlog/intel_svr.bin",
        "tpm2-tools/event-sd-boot-fedora37.bin",
    ] {
        let log = EventLog::read(&dir.join(name)).unwrap();
        let ours = replay(&log);
        let tpm = Swtpm::start().unwrap();
        let banks: Vec<HashAlg> = tpm_banks(&tpm)
            .into_iter()
            .filter(|a| log.banks().contains(a))
            .collect();
        assert!(!banks.is_empty(), "{name}: no common bank");
        extend_log_with_tools(&tpm, &log, &banks, tmp.path());
        let theirs = read_with_tools(&tpm, &banks, tmp.path());
        // A TPM started at locality 0 cannot reproduce a locality-3 or H-CRTM PCR0.
        let skip_pcr0 = ours.applied(Quirk::StartupLocality) || ours.applied(Quirk::HCrtm);
        for &alg in &banks {
            for pcr in 0..16u32 {
                if pcr == 0 && skip_pcr0 {
                    continue;
                }
                assert_eq!(
                    theirs.get(alg, pcr).map(hex::encode),
                    ours.value(alg, pcr).map(hex::encode),
                    "{name} {alg} PCR{pcr}"
                );
                compared += 1;
            }
        }
    }
    assert!(compared >= 5 * 15, "{compared}");
}

#[test]
fn raw_client_extends_at_locality_and_hash_sequence_resets_pcr17() {
    let tpm = Swtpm::start().unwrap();
    let mut bank = tcg::PcrBank::at_power_on(HashAlg::Sha256);
    assert_eq!(
        tpm.pcr_read(HashAlg::Sha256.id(), 17).unwrap(),
        bank.get(17)
    );
    tpm.hash_sequence(b"sinit").unwrap();
    bank.reset_to_locality(17, 0);
    bank.measure(17, b"sinit");
    assert_eq!(
        tpm.pcr_read(HashAlg::Sha256.id(), 17).unwrap(),
        bank.get(17)
    );
    tpm.set_locality(3).unwrap();
    let d = HashAlg::Sha256.digest(b"mle");
    tpm.pcr_extend(17, &[(HashAlg::Sha256.id(), &d)]).unwrap();
    bank.extend(17, &d);
    assert_eq!(
        tpm.pcr_read(HashAlg::Sha256.id(), 17).unwrap(),
        bank.get(17)
    );
    tpm.set_locality(0).unwrap();
    assert!(tpm.pcr_extend(17, &[(HashAlg::Sha256.id(), &d)]).is_err());
}

#[test]
fn policy_pcr_equals_tpm2_createpolicy_for_several_selections() {
    let tpm = Swtpm::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let log = EventLog::read(&eventlogs().join("go-tpm-tools/rhel8-uefi.bin")).unwrap();
    let r = replay(&log);
    let mut values = PcrValues::default();
    for alg in [HashAlg::Sha1, HashAlg::Sha256] {
        for pcr in 0..24 {
            values.insert(alg, pcr, r.value(alg, pcr).unwrap().to_vec());
        }
    }
    for sel in [
        "sha256:0,2,4,7",
        "sha1:0,1,2,3,4,5,6,7",
        "sha256:7",
        "sha256:0,1,2,3,4,9,14,17",
        "sha1:4+sha256:0,7",
    ] {
        let s: PcrSelection = sel.parse().unwrap();
        let raw = s.values(&values).unwrap();
        let vf = tmp.path().join("values.bin");
        std::fs::write(&vf, &raw).unwrap();
        let out = tmp.path().join("policy.bin");
        tpm.tool(
            "tpm2_createpolicy",
            &[
                "--policy-pcr",
                "-l",
                sel,
                "-f",
                vf.to_str().unwrap(),
                "-L",
                out.to_str().unwrap(),
            ],
            tmp.path(),
        )
        .unwrap();
        // Without a resource manager the tool's trial session stays in the TPM.
        tpm.flush_contexts(tmp.path());
        let theirs = std::fs::read(&out).unwrap();
        let mut p = PolicyDigest::new(HashAlg::Sha256);
        p.policy_pcr(&s, &values).unwrap();
        assert_eq!(hex::encode(p.digest()), hex::encode(theirs), "{sel}");
    }
}

#[test]
fn secret_sealed_to_our_predicted_policy_unseals_only_after_the_logged_boot() {
    let tpm = Swtpm::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let log = EventLog::read(&eventlogs().join("go-tpm-tools/arch-linux-workstation.bin")).unwrap();
    let r = replay(&log);
    let sel_str = "sha256:0,1,2,3,4,5,6,7";
    let sel: PcrSelection = sel_str.parse().unwrap();
    let mut values = PcrValues::default();
    for pcr in 0..8 {
        values.insert(
            HashAlg::Sha256,
            pcr,
            r.value(HashAlg::Sha256, pcr).unwrap().to_vec(),
        );
    }
    let mut p = PolicyDigest::new(HashAlg::Sha256);
    p.policy_pcr(&sel, &values).unwrap();
    std::fs::write(d.join("policy.bin"), p.digest()).unwrap();
    std::fs::write(d.join("secret.dat"), b"the disk key").unwrap();
    tpm.seal_to_policy_file(d).unwrap();
    assert!(
        tpm.unseal_with_pcr_policy(d, sel_str).is_err(),
        "unsealed before the boot"
    );
    extend_log_with_tools(&tpm, &log, &[HashAlg::Sha256], d);
    assert_eq!(
        tpm.unseal_with_pcr_policy(d, sel_str).unwrap(),
        b"the disk key"
    );
    tpm.tool(
        "tpm2_pcrextend",
        &[&format!("7:sha256={}", "00".repeat(32))],
        d,
    )
    .unwrap();
    assert!(
        tpm.unseal_with_pcr_policy(d, sel_str).is_err(),
        "unsealed after an extra extend"
    );
}
