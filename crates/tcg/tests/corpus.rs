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
    assert!(
        out.len() >= 20,
        "expected the shared corpus, found {}",
        out.len()
    );
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
    // The altered events are 22 and 23 (PCR4 image loads); the log's one payload-hash
    // mismatch is event 24 (systemd-boot's EV_IPL in PCR8), present in both copies.
    let bad: Vec<(usize, u32)> = tampered
        .mismatches
        .iter()
        .map(|m| (m.event, m.pcr))
        .collect();
    assert_eq!(bad, [(24, 8), (24, 8)]);
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

/// Run `tpm2_eventlog`: its `pcrs:` section, and the events it warns about.
fn tpm2_eventlog_pcrs(f: &Path) -> (PcrValues, Vec<usize>) {
    let out = Command::new("tpm2_eventlog")
        .arg(f)
        .output()
        .expect("tpm2_eventlog must be installed (ci/install-oracles.sh)");
    assert!(
        out.status.success(),
        "tpm2_eventlog failed on {}",
        f.display()
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let warned = String::from_utf8_lossy(&out.stderr)
        .lines()
        .chain(text.lines())
        .filter_map(|l| l.strip_prefix("WARN: Event "))
        .filter_map(|l| l.split_once('\'').and_then(|(n, _)| n.parse().ok()))
        .collect();
    let at = text.rfind("\npcrs:").expect("a pcrs: section");
    let v = PcrValues::from_pcrread_yaml(&text[at..], "tpm2_eventlog").unwrap();
    (v, warned)
}

#[test]
fn replay_equals_tpm2_eventlog_on_every_shared_log() {
    let mut failures = Vec::new();
    // Where the tool parts from us, the machine's own TPM must side with us.
    let mut tool_wrong = Vec::new();
    for f in logs() {
        let (theirs, warned) = tpm2_eventlog_pcrs(&f);
        assert!(!theirs.map.is_empty(), "{}", f.display());
        let ours = replay(&EventLog::read(&f).unwrap());
        let truth = PcrValues::load(Path::new(&format!("{}.pcrs.json", f.display()))).unwrap();
        let mut ours_bad: Vec<usize> = ours.mismatches.iter().map(|m| m.event).collect();
        ours_bad.dedup();
        if ours_bad != warned {
            failures.push(format!(
                "{} mismatches: ours {ours_bad:?} theirs {warned:?}",
                f.display()
            ));
        }
        for (alg, pcrs) in &theirs.map {
            for (pcr, want) in pcrs {
                let got = ours.value(*alg, *pcr);
                if got != Some(want.as_slice()) {
                    if got.is_some() && got == truth.get(*alg, *pcr) {
                        tool_wrong.push(format!("{} {alg} PCR{pcr}", f.display()));
                    } else {
                        failures.push(format!("{} {alg} PCR{pcr}", f.display()));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // tpm2-tools 5.4 gets gdc-host PCR0 (StartupLocality 3) wrong; the TPM read agrees with us.
    assert!(tool_wrong.len() <= 1, "{tool_wrong:?}");
}
