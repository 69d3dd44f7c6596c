//! `measured policy pcr` writes the digest tpm2-tools expects (checked against swtpm in
//! crates/tcg/tests/swtpm.rs); here: the CLI paths agree with each other.

use std::process::Command;

fn measured(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_measured"))
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn policy_from_log_equals_policy_from_exported_raw_values() {
    let log = "/work/shared/testdata/eventlogs/go-tpm-tools/rhel8-uefi.bin";
    let log = if std::path::Path::new("../../../shared").is_dir() {
        "../../../shared/testdata/eventlogs/go-tpm-tools/rhel8-uefi.bin"
    } else {
        log
    };
    let tmp = tempfile::tempdir().unwrap();
    let vals = tmp.path().join("vals.bin");
    let out = tmp.path().join("pol.bin");
    let a = measured(&[
        "policy",
        "pcr",
        "--log",
        log,
        "--select",
        "sha256:0,2,4,7",
        "--values-out",
        vals.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let b = measured(&[
        "policy",
        "pcr",
        "--pcrs",
        vals.to_str().unwrap(),
        "--select",
        "sha256:0,2,4,7",
    ]);
    assert_eq!(a, b);
    assert_eq!(hex::encode(std::fs::read(&out).unwrap()), a);
    assert_eq!(a.len(), 64);
}

fn shared_log(name: &str) -> String {
    let rel = format!("../../../shared/testdata/eventlogs/{name}");
    if std::path::Path::new(&rel).exists() {
        rel
    } else {
        format!("/work/shared/testdata/eventlogs/{name}")
    }
}

#[test]
fn every_policy_command_refuses_an_empty_selection() {
    let tmp = tempfile::tempdir().unwrap();
    let pcrs = tmp.path().join("p.json");
    std::fs::write(
        &pcrs,
        format!(
            r#"{{"sha1": {{"17": "{}"}}, "sha256": {{"17": "{}"}}}}"#,
            "a".repeat(40),
            "b".repeat(64)
        ),
    )
    .unwrap();
    let p = pcrs.to_str().unwrap();
    let log = shared_log("go-tpm-tools/rhel8-uefi.bin");
    let cases: Vec<Vec<&str>> = vec![
        vec!["policy", "tpm12", "--pcrs", p],
        vec!["policy", "tpm12", "--pcrs", p, "--select", ""],
        vec!["policy", "tpm12", "--pcrs", p, "--select", "sha1:"],
        vec!["policy", "pcr", "--pcrs", p],
        vec!["policy", "pcr", "--pcrs", p, "-l", ""],
        vec!["policy", "pcr", "--pcrs", p, "-l", "sha256:"],
        vec!["policy", "pcr", "--log", &log, "--select", "sha1:+sha256:"],
    ];
    for args in cases {
        let o = Command::new(env!("CARGO_BIN_EXE_measured"))
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?} was accepted: {err}");
        assert!(o.stdout.is_empty(), "{args:?} printed a digest");
        assert!(
            err.contains("selects no PCR") || err.contains("--select"),
            "{args:?}: {err}"
        );
    }
    // The tpm2-tools spelling works where the bare list does.
    assert_eq!(
        measured(&["policy", "tpm12", "--pcrs", p, "--select", "17"]),
        measured(&["policy", "tpm12", "--pcrs", p, "-l", "sha1:17"])
    );
}
