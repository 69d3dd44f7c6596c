//! `measured policy sign` and `policy authorize --key` through the binary:
//! every form of a key names the same policy, signing is reproducible and
//! incremental, the key leaves no trace, loose key files are warned about,
//! and bad input is refused with exit 2.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_measured");

fn run(w: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(w)
        .output()
        .unwrap()
}

fn ok(w: &Path, args: &[&str]) -> Output {
    let o = run(w, args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn openssl(w: &Path, args: &[&str]) {
    let s = Command::new("openssl")
        .args(args)
        .current_dir(w)
        .status()
        .unwrap();
    assert!(s.success(), "openssl {args:?}");
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A directory with a P-256 key (0600), its public PEM and two predictions.
fn setup() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    openssl(
        w,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "k.pem",
        ],
    );
    chmod(&w.join("k.pem"), 0o600);
    openssl(w, &["pkey", "-in", "k.pem", "-pubout", "-out", "k.pub.pem"]);
    for (name, fill) in [("a.json", "aa"), ("b.json", "bb")] {
        // pcrs.json shape: PCR -> bank -> {"value": hex}.
        let v = fill.repeat(32);
        let doc = serde_json::json!({ "pcrs": {
            "17": { "sha256": { "value": v }, "sha1": { "value": fill.repeat(20) } },
            "18": { "sha256": { "value": v } },
            "19": { "sha256": { "value": v } },
        }});
        std::fs::write(w.join(name), doc.to_string()).unwrap();
    }
    tmp
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn every_form_of_the_key_names_the_same_authorize_policy() {
    let tmp = setup();
    let w = tmp.path();
    let o = ok(
        w,
        &[
            "--json", "policy", "sign", "--key", "k.pem", "-o", "ap", "a.json", "b.json",
        ],
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let name = doc["approval"]["key"]["name"].as_str().unwrap().to_string();
    let seal_to = doc["approval"]["authorize_policy"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(doc["approval"]["selection"], "sha256:17,18,19");
    assert_eq!(doc["approval"]["launches"].as_array().unwrap().len(), 2);
    assert_eq!(
        doc["approval"]["launches"][1]["pcrs"]["sha256"]["18"],
        "bb".repeat(32)
    );
    for key in [
        "k.pem",
        "k.pub.pem",
        "ap/signing-key.pub",
        "ap/signing-key.pem",
    ] {
        let o = ok(
            w,
            &[
                "--json",
                "policy",
                "authorize",
                "--key",
                key,
                "-o",
                "auth.bin",
            ],
        );
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["digest"], seal_to.as_str(), "{key}");
        assert_eq!(j["detail"], name.as_str(), "{key}: the name");
        assert_eq!(
            hex::encode(std::fs::read(w.join("auth.bin")).unwrap()),
            seal_to,
            "{key}: -o"
        );
    }
    let o = ok(w, &["policy", "authorize", "--name", &name]);
    assert_eq!(stdout(&o), seal_to);
    assert_eq!(
        hex::encode(std::fs::read(w.join("ap/authorize.digest")).unwrap()),
        seal_to
    );
    // A policyRef changes what to seal to, in both commands alike.
    let o = ok(
        w,
        &[
            "--json",
            "policy",
            "sign",
            "--key",
            "k.pem",
            "--policy-ref",
            "0102",
            "-o",
            "ref",
            "a.json",
        ],
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let o = ok(
        w,
        &[
            "policy",
            "authorize",
            "--key",
            "k.pub.pem",
            "--policy-ref",
            "0102",
        ],
    );
    assert_eq!(
        stdout(&o),
        doc["approval"]["authorize_policy"].as_str().unwrap()
    );
    assert_ne!(stdout(&o), seal_to);
    assert_eq!(std::fs::read(w.join("ref/policy-ref.bin")).unwrap(), [1, 2]);
}

#[test]
fn signing_is_reproducible_incremental_and_leaves_no_trace_of_the_key() {
    let tmp = setup();
    let w = tmp.path();
    let o1 = ok(
        w,
        &[
            "policy", "sign", "--key", "k.pem", "-o", "one", "a.json", "b.json",
        ],
    );
    assert!(stdout(&o1).contains("written"), "{}", stdout(&o1));
    ok(
        w,
        &[
            "policy", "sign", "--key", "k.pem", "-o", "two", "a.json", "b.json",
        ],
    );
    for f in [
        "signature.tss",
        "signature.plain",
        "approval.json",
        "ahash.bin",
        "or/0-1.digest",
        "launches/1.or-args",
    ] {
        assert_eq!(
            std::fs::read(w.join("one").join(f)).unwrap(),
            std::fs::read(w.join("two").join(f)).unwrap(),
            "{f}"
        );
    }
    let again = ok(
        w,
        &[
            "policy", "sign", "--key", "k.pem", "-o", "one", "a.json", "b.json",
        ],
    );
    assert!(stdout(&again).contains("up to date"), "{}", stdout(&again));

    // The records key on the public name; neither they nor the stat cache
    // hold the key file's digest or its text.
    let key = std::fs::read(w.join("k.pem")).unwrap();
    let key_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&key));
    let pem = String::from_utf8(key).unwrap();
    for f in ["one/.measured/steps.json", ".one.statcache.json"] {
        let text = std::fs::read_to_string(w.join(f)).unwrap_or_default();
        assert!(!text.contains(&key_sha), "{f} has the key file's digest");
        assert!(!text.contains("k.pem"), "{f} names the key file");
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!text.contains(line), "{f} holds the key");
        }
    }
    let steps = std::fs::read_to_string(w.join("one/.measured/steps.json")).unwrap();
    assert!(steps.contains("key (public name)"), "{steps}");
}

#[test]
fn a_key_others_can_read_is_used_with_a_warning() {
    let tmp = setup();
    let w = tmp.path();
    let o = ok(
        w,
        &["policy", "sign", "--key", "k.pem", "-o", "ap", "a.json"],
    );
    assert!(!String::from_utf8_lossy(&o.stderr).contains("warning"));
    chmod(&w.join("k.pem"), 0o644);
    let o = ok(
        w,
        &[
            "--json", "policy", "sign", "--key", "k.pem", "-o", "ap", "a.json",
        ],
    );
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("warning") && e.contains("0644") && e.contains("chmod 600"),
        "{e}"
    );
    assert!(
        !stdout(&o).contains("warning"),
        "the warning stays out of --json"
    );
    let o = ok(w, &["policy", "authorize", "--key", "k.pem"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("warning"));
    // A public key is not a secret: no warning.
    chmod(&w.join("k.pub.pem"), 0o644);
    let o = ok(w, &["policy", "authorize", "--key", "k.pub.pem"]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("warning"));
}

#[test]
fn bad_input_is_refused_with_exit_2_and_leaves_no_output() {
    let tmp = setup();
    let w = tmp.path();
    std::fs::write(
        w.join("short.json"),
        r#"{"pcrs": {"17": {"sha256": "00"}}}"#,
    )
    .unwrap();
    for (args, want) in [
        (
            vec!["policy", "sign", "--key", "k.pem", "-o", "x", "short.json"],
            "short.json",
        ),
        (
            vec![
                "policy",
                "sign",
                "--key",
                "k.pem",
                "-o",
                "x",
                "--select",
                "sha256:17,20",
                "a.json",
            ],
            "PCR20",
        ),
        (
            vec!["policy", "sign", "--key", "k.pub.pem", "-o", "x", "a.json"],
            "public key",
        ),
        (
            vec![
                "policy",
                "sign",
                "--key",
                "k.pem",
                "-o",
                "x",
                "--policy-ref",
                "zz",
                "a.json",
            ],
            "not hex",
        ),
        (
            vec![
                "policy",
                "sign",
                "--key",
                "k.pem",
                "-o",
                "x",
                "missing.json",
            ],
            "missing.json",
        ),
        (vec!["policy", "authorize", "--key", "a.json"], "a.json"),
    ] {
        let o = run(w, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(want), "{args:?}: {e}");
        assert!(!w.join("x").exists(), "{args:?} wrote output");
    }
    // Usage errors.
    assert_eq!(
        run(w, &["policy", "sign", "-o", "x", "a.json"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(
            w,
            &[
                "policy",
                "sign",
                "--key",
                "k.pem",
                "--tpm-auth",
                "file:p",
                "-o",
                "x",
                "a.json"
            ]
        )
        .status
        .code(),
        Some(2)
    );
}

#[test]
fn the_output_must_be_new_empty_or_an_earlier_approval() {
    let tmp = setup();
    let w = tmp.path();
    std::fs::create_dir(w.join("keep")).unwrap();
    std::fs::write(w.join("keep/notes.txt"), "mine").unwrap();
    std::fs::create_dir(w.join("empty")).unwrap();
    let o = run(
        w,
        &["policy", "sign", "--key", "k.pem", "-o", "keep", "a.json"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an approval directory"));
    assert_eq!(
        std::fs::read_to_string(w.join("keep/notes.txt")).unwrap(),
        "mine"
    );
    ok(
        w,
        &["policy", "sign", "--key", "k.pem", "-o", "empty", "a.json"],
    );
    ok(
        w,
        &["policy", "sign", "--key", "k.pem", "-o", "empty", "b.json"],
    );
    assert!(w.join("empty/approval.json").is_file());
}
