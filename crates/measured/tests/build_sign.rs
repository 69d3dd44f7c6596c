//! `measured build` with `[policy] sign_key`: the sign step is reproducible,
//! reused when nothing it depends on changed, rebuilt when the key changes,
//! keyed on the key's public name only, and signs with a TPM-held key too.

mod launch_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tpm_sim::Swtpm;

const BIN: &str = env!("CARGO_BIN_EXE_measured");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn setup(sign: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    std::fs::create_dir_all(w.join("rootfs/etc")).unwrap();
    std::fs::write(
        w.join("rootfs/etc/inittab"),
        "hvc0::respawn:/sbin/getty hvc0\n",
    )
    .unwrap();
    std::fs::write(w.join("bzImage"), launch_common::fake_kernel(0x51)).unwrap();
    for k in ["k1.pem", "k2.pem"] {
        let s = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                k,
            ])
            .current_dir(w)
            .status()
            .unwrap();
        assert!(s.success());
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(w.join(k), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    spec(w, sign);
    tmp
}

fn spec(w: &Path, sign: &str) {
    let text = format!(
        r#"name = "svc"
rootfs = "rootfs"
kernel = "bzImage"
disk_size_mib = 16
initramfs = "never"

[launch]
platform = "{platform}"
sinit = "{sinit}"
tboot = "/boot/tboot.gz"
tboot_cmdline = "extpol=embedded"

[[launch.modules]]
file = "bundle:kernel"
cmdline = "console=hvc0"

[policy]
{sign}
"#,
        platform = repo().join("examples/launch/platform.toml").display(),
        sinit = repo().join("examples/launch/sinit-synthetic.bin").display(),
    );
    std::fs::write(w.join("spec.toml"), text).unwrap();
}

fn build(w: &Path, out: &str, env: &[(&str, String)]) -> Output {
    let o = Command::new(BIN)
        .args(["--json", "build", "spec.toml", "--out", out])
        .current_dir(w)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

fn sign_step(o: &Output) -> serde_json::Value {
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "sign")
        .cloned()
        .expect("a sign step")
}

#[test]
fn the_sign_step_is_reproducible_reused_and_keyed_on_the_public_name() {
    let tmp = setup("sign_key = \"k1.pem\"");
    let w = tmp.path();
    let first = build(w, "out/a", &[]);
    let report: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let seal_to = report["authorize_policy"].as_str().unwrap().to_string();
    assert_eq!(
        hex::encode(std::fs::read(w.join("out/a/policy/signed/authorize.digest")).unwrap()),
        seal_to
    );
    build(w, "out/b", &[]);
    let mut files = Vec::new();
    for e in std::fs::read_dir(w.join("out/a/policy/signed")).unwrap() {
        files.push(e.unwrap().file_name());
    }
    assert!(files.len() >= 12, "{files:?}");
    for f in &files {
        let a = w.join("out/a/policy/signed").join(f);
        if a.is_file() {
            assert_eq!(
                std::fs::read(&a).unwrap(),
                std::fs::read(w.join("out/b/policy/signed").join(f)).unwrap(),
                "{f:?} differs between two builds"
            );
        }
    }

    // Nothing changed: reused. Another key: rebuilt, for the key's name.
    assert_eq!(sign_step(&build(w, "out/a", &[]))["built"], false);
    spec(w, "sign_key = \"k2.pem\"");
    let s = sign_step(&build(w, "out/a", &[]));
    assert_eq!(s["built"], true);
    assert_eq!(s["reasons"][0], "policy.sign_key (public name) changed");
    let steps = std::fs::read_to_string(w.join("out/a/.measured/steps.json")).unwrap();
    for k in ["k1.pem", "k2.pem"] {
        let bytes = std::fs::read(w.join(k)).unwrap();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        assert!(
            !steps.contains(&sha) && !steps.contains(k),
            "steps.json names {k}"
        );
    }
    let name = std::fs::read(w.join("out/a/policy/signed/signing-key.name")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&steps).unwrap();
    let recorded = doc.to_string();
    assert!(
        recorded.contains(&hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&name))),
        "the step is keyed on the public name"
    );
    // Unsigned again: no sign step, no signed policy.
    spec(w, "");
    let o = build(w, "out/a", &[]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["name"] != "sign")
    );
    assert!(!w.join("out/a/policy/signed").exists());
    assert!(r["authorize_policy"].is_null());
}

#[test]
fn a_key_others_can_read_is_warned_about_and_a_bad_key_names_the_spec_line() {
    let tmp = setup("sign_key = \"k1.pem\"");
    let w = tmp.path();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(w.join("k1.pem"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let o = build(w, "out/a", &[]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("warning") && e.contains("k1.pem") && e.contains("0640"),
        "{e}"
    );
    std::fs::write(
        w.join("bad.pem"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    spec(w, "sign_key = \"bad.pem\"");
    let o = Command::new(BIN)
        .args(["build", "spec.toml", "--out", "out/a"])
        .current_dir(w)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("spec.toml:18") && e.contains("bad.pem"), "{e}");
    // The previous bundle is left as it was.
    assert!(w.join("out/a/policy/signed/signature.tss").is_file());
}

#[test]
fn a_tpm_held_key_signs_the_build_and_its_tpm_verifies_the_signature() {
    let tmp = setup("sign_key = \"tpm:0x81000020\"");
    let w = tmp.path();
    let tpm = Swtpm::start().unwrap();
    let attrs = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign";
    tpm.tool(
        "tpm2_createprimary",
        &[
            "-C",
            "o",
            "-G",
            "rsa2048:rsassa-sha256",
            "-a",
            attrs,
            "-c",
            "k.ctx",
        ],
        w,
    )
    .unwrap();
    tpm.tool(
        "tpm2_evictcontrol",
        &["-C", "o", "-c", "k.ctx", "0x81000020"],
        w,
    )
    .unwrap();
    tpm.flush_contexts(w);
    tpm.tool(
        "tpm2_readpublic",
        &["-c", "0x81000020", "-n", "tpm.name"],
        w,
    )
    .unwrap();
    build(w, "out/a", &[("TPM2TOOLS_TCTI", tpm.tcti())]);
    let a = w.join("out/a/policy/signed");
    assert_eq!(
        std::fs::read(a.join("signing-key.name")).unwrap(),
        std::fs::read(w.join("tpm.name")).unwrap()
    );
    let f = |n: &str| a.join(n).display().to_string();
    tpm.tool(
        "tpm2_loadexternal",
        &["-C", "o", "-u", &f("signing-key.pub"), "-c", "v.ctx"],
        w,
    )
    .unwrap();
    tpm.flush_contexts(w);
    tpm.tool(
        "tpm2_verifysignature",
        &[
            "-c",
            "v.ctx",
            "-d",
            &f("ahash.bin"),
            "-s",
            &f("signature.tss"),
            "-t",
            "v.tkt",
        ],
        w,
    )
    .unwrap();
    tpm.flush_contexts(w);
}
