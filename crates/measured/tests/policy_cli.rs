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
