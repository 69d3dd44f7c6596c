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
    assert!(out.contains("sha256 PCR4: MISMATCH"), "{out}");
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
    assert_eq!(text.matches("== ").count(), 2, "{text}");
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
