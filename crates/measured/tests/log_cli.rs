//! `measured log` and `measured policy` end to end on shared real logs.

use std::path::PathBuf;
use std::process::Command;

fn logs() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
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

fn measured(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_measured"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn log_replay_verify_exits_0_on_the_real_tpm_values_and_1_on_another_boot() {
    let d = logs();
    let real = d.join("go-tpm-tools/arch-linux-workstation.bin");
    let pcrs = d.join("go-tpm-tools/arch-linux-workstation.bin.pcrs.json");
    let ok = measured(&[
        "log",
        "replay",
        real.to_str().unwrap(),
        "--verify",
        pcrs.to_str().unwrap(),
    ]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let other = d.join("tpm2-tools/event-arch-linux.bin");
    let bad = measured(&[
        "log",
        "replay",
        other.to_str().unwrap(),
        "--verify",
        pcrs.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        out.contains("  - bank: sha256\n    pcr: 4\n    result: mismatch\n"),
        "{out}"
    );
    assert!(out.contains("event 24"), "{out}");
}

#[test]
fn log_show_json_lists_every_event_and_truncated_log_exits_2_with_offset() {
    let d = logs();
    let f = d.join("tpm2-tools/event-sd-boot-fedora37.bin");
    let out = measured(&["--json", "log", "show", f.to_str().unwrap()]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["events"].as_array().unwrap().len() > 10);
    let tmp = tempfile::tempdir().unwrap();
    let cut = tmp.path().join("cut.bin");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 3]).unwrap();
    let out = measured(&["log", "show", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("truncated") && err.contains("byte"), "{err}");
}

#[test]
fn log_hash_equals_sha256sum() {
    let d = logs();
    let f = d.join("go-tpm-tools/debian-10.bin");
    let ours = measured(&["log", "hash", "--alg", "sha256", f.to_str().unwrap()]);
    let theirs = Command::new("sha256sum").arg(&f).output().unwrap();
    let o = String::from_utf8_lossy(&ours.stdout);
    let t = String::from_utf8_lossy(&theirs.stdout);
    assert_eq!(
        o.split_whitespace().next().unwrap(),
        format!("sha256:{}", t.split_whitespace().next().unwrap())
    );
}

#[test]
fn log_replay_takes_several_logs_in_one_run() {
    let a = logs().join("go-tpm-tools/debian-10.bin");
    let b = logs().join("tpm2-tools/event-postcode.bin");
    let out = measured(&["log", "replay", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // A YAML stream: a document per log, each naming its log.
    assert_eq!(text.matches("\n---\n").count(), 1, "{text}");
    assert_eq!(
        text.matches("\nlog: ").count() + usize::from(text.starts_with("log: ")),
        2,
        "{text}"
    );
    assert!(text.contains("debian-10.bin") && text.contains("event-postcode.bin"));
    let single = measured(&["log", "replay", b.to_str().unwrap()]);
    let tail = String::from_utf8_lossy(&single.stdout).into_owned();
    assert!(
        text.ends_with(&tail),
        "the second log's report equals a lone replay of it"
    );
    // --verify names one machine's PCRs, so it takes one log.
    let v = measured(&[
        "log",
        "replay",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--verify",
        a.to_str().unwrap(),
    ]);
    assert_eq!(v.status.code(), Some(2));
}

/// Parse YAML with PyYAML (python3-yaml, ci/install-oracles.sh); returns the documents as JSON.
fn yaml_docs(text: &str) -> Vec<serde_json::Value> {
    use std::io::Write;
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import sys, yaml, json; print(json.dumps(list(yaml.safe_load_all(sys.stdin))))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with yaml");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "not valid YAML: {}\n{text}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn all_logs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for d in std::fs::read_dir(logs()).unwrap() {
        let d = d.unwrap().path();
        if d.is_dir() {
            for f in std::fs::read_dir(&d).unwrap() {
                let f = f.unwrap().path();
                if f.extension().is_some_and(|e| e == "bin") {
                    v.push(f);
                }
            }
        }
    }
    v.sort();
    v
}

#[test]
fn log_replay_text_is_valid_yaml_one_document_per_log_with_the_json_values() {
    let files = all_logs();
    let mut args = vec!["log".to_string(), "replay".to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = measured(&a);
    assert!(out.status.success());
    let docs = yaml_docs(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(docs.len(), files.len());
    let mut values = 0;
    for (f, doc) in files.iter().zip(&docs) {
        assert_eq!(doc["log"], f.display().to_string());
        let j = measured(&["--json", "log", "replay", f.to_str().unwrap()]);
        let j: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
        for (bank, pcrs) in j["pcrs"].as_object().unwrap() {
            for (pcr, hexv) in pcrs.as_object().unwrap() {
                // YAML reads 0x... as an integer, as it does tpm2_eventlog's output.
                let y = &doc["pcrs"][bank][pcr];
                let n = y.as_u64().map(|n| format!("{n:x}"));
                let want = hexv.as_str().unwrap().trim_start_matches('0').to_string();
                let got = match n {
                    Some(n) => n,
                    None => y.to_string(),
                };
                assert!(
                    hexv.as_str().unwrap().len() > 16
                        || got == want
                        || (want.is_empty() && got == "0"),
                    "{} {bank} {pcr}: {y} vs {hexv}",
                    f.display()
                );
                values += 1;
            }
        }
        // And the text reads back as PCR values: --verify with itself matches.
        let own = measured(&["log", "replay", f.to_str().unwrap()]);
        let tmp = tempfile::tempdir().unwrap();
        let y = tmp.path().join("replay.yaml");
        std::fs::write(&y, &own.stdout).unwrap();
        let back = measured(&[
            "log",
            "replay",
            f.to_str().unwrap(),
            "--verify",
            y.to_str().unwrap(),
        ]);
        assert_eq!(back.status.code(), Some(0), "{}", f.display());
    }
    assert!(values > 300);
    // Quirks, warnings and verify results are YAML too.
    let d = logs();
    let other = d.join("tpm2-tools/event-arch-linux.bin");
    let pcrs = d.join("go-tpm-tools/arch-linux-workstation.bin.pcrs.json");
    let out = measured(&[
        "log",
        "replay",
        other.to_str().unwrap(),
        "--verify",
        pcrs.to_str().unwrap(),
    ]);
    let doc = &yaml_docs(&String::from_utf8_lossy(&out.stdout))[0];
    assert!(!doc["warnings"].as_array().unwrap().is_empty());
    assert!(
        doc["verify"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["pcr"] == 4 && v["result"] == "mismatch")
    );
}

#[test]
fn a_tdx_ccel_log_replays_into_rtmrs_and_verify_is_refused_by_name() {
    let mut w = tcg::log::AgileLogWriter::new(&[tcg::HashAlg::Sha384]);
    w.measure(1, tcg::EventType::Separator, &[0, 0, 0, 0]);
    w.measure(2, tcg::EventType::EfiAction, b"x");
    let mut raw = w.into_bytes();
    raw.resize(4096, 0xFF);
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("CCEL");
    std::fs::write(&p, &raw).unwrap();
    let out = measured(&["log", "replay", p.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = &yaml_docs(&String::from_utf8_lossy(&out.stdout))[0];
    assert_eq!(doc["format"], "tdx_ccel");
    let z = tcg::HashAlg::Sha384.zeros();
    let rtmr0 =
        tcg::HashAlg::Sha384.digest(&[z.clone(), tcg::HashAlg::Sha384.digest(&[0; 4])].concat());
    let j = measured(&["--json", "log", "replay", p.to_str().unwrap()]);
    let j: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(j["rtmrs"][0], hex::encode(rtmr0));
    assert_eq!(j["rtmrs"][3], hex::encode(&z));
    let v = measured(&[
        "log",
        "replay",
        p.to_str().unwrap(),
        "--verify",
        p.to_str().unwrap(),
    ]);
    assert_eq!(v.status.code(), Some(2));
    let err = String::from_utf8_lossy(&v.stderr);
    assert!(err.contains("TDX CCEL") && err.contains("RTMR"), "{err}");
    let show = measured(&["log", "show", p.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&show.stdout).starts_with("TDX CCEL log"));
}
