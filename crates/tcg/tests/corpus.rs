//! Every shared real log replays to its expected PCR values, in every listed bank,
//! and agrees with `tpm2_eventlog` run on the same file.

use std::path::{Path, PathBuf};
use std::process::Command;

use tcg::values::PcrValues;
use tcg::{EventLog, HashAlg, Quirk, replay};

/// `shared/testdata/eventlogs`, beside the repository or in /work/shared.
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

fn logs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(eventlogs()).expect("shared eventlogs dir") {
        let d = d.unwrap().path();
        if !d.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&d).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "bin") {
                out.push(f);
            }
        }
    }
    out.sort();
    assert!(out.len() >= 20, "expected the shared corpus, found {}", out.len());
    out
}

#[test]
fn every_shared_log_replays_to_its_expected_values() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for f in logs() {
        let log = EventLog::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let r = replay(&log);
        let exp_path = PathBuf::from(format!("{}.pcrs.json", f.display()));
        let exp = PcrValues::load(&exp_path).unwrap();
        for (alg, pcrs) in &exp.map {
            for (pcr, want) in pcrs {
                checked += 1;
                let got = r.value(*alg, *pcr).map(hex::encode);
                if got.as_deref() != Some(hex::encode(want).as_str()) {
                    failures.push(format!("{} {alg} PCR{pcr}: got {got:?}", f.display()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 300, "only {checked} values checked");
}

#[test]
fn tampered_arch_log_differs_in_pcr4_and_reports_the_mismatch() {
    let dir = eventlogs();
    let tampered = replay(&EventLog::read(&dir.join("tpm2-tools/event-arch-linux.bin")).unwrap());
    let real =
        replay(&EventLog::read(&dir.join("go-tpm-tools/arch-linux-workstation.bin")).unwrap());
    for alg in [HashAlg::Sha1, HashAlg::Sha256] {
        for pcr in 0..24 {
            let same = tampered.value(alg, pcr) == real.value(alg, pcr);
            assert_eq!(same, pcr != 4, "{alg} PCR{pcr}");
        }
    }
    assert!(!tampered.mismatches.is_empty());
    assert!(tampered.mismatches.iter().all(|m| m.event == 24 && m.pcr == 4));
    assert!(real.mismatches.is_empty(), "{:?}", real.mismatches);
}

#[test]
fn startup_locality_and_hcrtm_quirks_are_reported_by_name() {
    let mut seen_startup = false;
    for f in logs() {
        let r = replay(&EventLog::read(&f).unwrap());
        seen_startup |= r.applied(Quirk::StartupLocality);
        assert!(!r.applied(Quirk::PcrOutOfRange), "{}", f.display());
    }
    assert!(seen_startup, "no shared log exercised StartupLocality");
}

/// Parse the `pcrs:` section `tpm2_eventlog` prints.
fn tpm2_eventlog_pcrs(f: &Path) -> PcrValues {
    let out = Command::new("tpm2_eventlog")
        .arg(f)
        .output()
        .expect("tpm2_eventlog must be installed (ci/install-oracles.sh)");
    assert!(out.status.success(), "tpm2_eventlog failed on {}", f.display());
    let text = String::from_utf8_lossy(&out.stdout);
    let at = text.rfind("\npcrs:").expect("a pcrs: section");
    PcrValues::from_pcrread_yaml(&text[at..], "tpm2_eventlog").unwrap()
}

#[test]
fn replay_equals_tpm2_eventlog_on_every_shared_log() {
    let mut failures = Vec::new();
    for f in logs() {
        let theirs = tpm2_eventlog_pcrs(&f);
        assert!(!theirs.map.is_empty(), "{}", f.display());
        let ours = replay(&EventLog::read(&f).unwrap());
        for (alg, pcrs) in &theirs.map {
            for (pcr, want) in pcrs {
                if ours.value(*alg, *pcr) != Some(want.as_slice()) {
                    failures.push(format!("{} {alg} PCR{pcr}", f.display()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
