//! Seal once, upgrade freely, on a real software TPM: the shell recipes of
//! docs/sealing.md, run word for word against swtpm + tpm2-tools, with
//! each release's measured launch driven on the same TPM between them.
//!
//! A secret is sealed once to PolicyAuthorize(K). Release v1 (signed by K)
//! launches and unseals. v2 changes the kernel, is signed with v1 also
//! approved: the same sealed object unseals after v1's launch (before the
//! reboot) and after v2's. An unsigned v3 does not unseal, nor v3 signed by
//! another key, nor a tampered signature. A TPM-held key signs too.

mod launch_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use launch_common::{Launch, fake_kernel};
use tpm_sim::Swtpm;

const BIN: &str = env!("CARGO_BIN_EXE_measured");
const CMDLINE: &str = "console=hvc0 root=/dev/xvda rw";
const SECRET: &[u8] = b"the disk key, sealed once";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `sh` block after `<!-- recipe: name=NAME run-by=sealing_swtpm -->`
/// in docs/sealing.md (the docs recipe harness leaves these to this test).
fn recipe(name: &str) -> String {
    let doc = std::fs::read_to_string(repo().join("docs/sealing.md")).unwrap();
    let marker = format!("<!-- recipe: name={name} run-by=sealing_swtpm -->");
    let at = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("docs/sealing.md has no recipe {name}"));
    let rest = &doc[at + marker.len()..];
    let body = rest
        .trim_start()
        .strip_prefix("```sh\n")
        .unwrap_or_else(|| panic!("recipe {name}: no ```sh block after its marker"));
    body[..body.find("\n```").expect("closed block")].to_string() + "\n"
}

/// Run a docs recipe in `w` with `measured` on PATH and the TPM as TCTI.
fn run_recipe(tpm: &Swtpm, w: &Path, name: &str, env: &[(&str, &str)]) -> Result<String, String> {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let o = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &recipe(name)])
        .current_dir(w)
        .env("PATH", path)
        .env("TPM2TOOLS_TCTI", tpm.tcti())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    // Leftovers of a failed recipe would fill swtpm's slots.
    tpm.flush_contexts(w);
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

fn write_spec(w: &Path, sign: &str) {
    let text = format!(
        r#"name = "svc"
rootfs = "rootfs"
kernel = "bzImage"
cmdline = "{CMDLINE}"
disk_size_mib = 16
initramfs = "never"

[launch]
platform = "{platform}"
sinit = "{sinit}"
tboot = "/boot/tboot.gz"
tboot_cmdline = "logging=memory extpol=embedded"

[[launch.modules]]
file = "bundle:kernel"
cmdline = "{CMDLINE}"

[policy]
pcrs = "sha256:17,18,19"
{sign}
"#,
        platform = repo().join("examples/launch/platform.toml").display(),
        sinit = repo().join("examples/launch/sinit-synthetic.bin").display(),
    );
    std::fs::write(w.join("spec.toml"), text).unwrap();
}

fn build(w: &Path, out: &str) -> std::process::Output {
    let o = Command::new(BIN)
        .args(["build", "spec.toml", "--out", out])
        .current_dir(w)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

/// Unseal after the current launch with the approval in `approval`.
fn unseal(tpm: &Swtpm, w: &Path, approval: &str) -> Result<Vec<u8>, String> {
    let _ = std::fs::remove_file(w.join("secret.out"));
    run_recipe(tpm, w, "unseal", &[("A", approval)])?;
    Ok(std::fs::read(w.join("secret.out")).unwrap())
}

/// Every file under `dir`, recursively.
fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            all_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn sealed_once_to_a_signing_key_unseals_after_every_signed_release_and_no_other() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    let tpm = Swtpm::start().unwrap();
    std::fs::create_dir_all(w.join("rootfs/etc")).unwrap();
    std::fs::write(
        w.join("rootfs/etc/inittab"),
        "hvc0::respawn:/sbin/getty hvc0\n",
    )
    .unwrap();
    std::fs::write(w.join("secret.bin"), SECRET).unwrap();

    // Signing host: the key; target: seal once to PolicyAuthorize(K).
    run_recipe(&tpm, w, "key", &[]).unwrap();
    run_recipe(&tpm, w, "seal", &[]).unwrap();
    let sealed_once = (
        std::fs::read(w.join("sealed.pub")).unwrap(),
        std::fs::read(w.join("sealed.priv")).unwrap(),
    );

    // v1, signed: launch, verify, unseal.
    std::fs::write(w.join("bzImage"), fake_kernel(0x41)).unwrap();
    write_spec(w, "sign_key = \"release-key.pem\"");
    let o = run_recipe(&tpm, w, "build", &[]).unwrap();
    assert!(o.contains("policy/signed/"), "{o}");
    let signed = w.join("out/svc/policy/signed");
    assert_eq!(
        std::fs::read(signed.join("authorize.digest")).unwrap(),
        std::fs::read(w.join("authorize.digest")).unwrap(),
        "the build signs for the digest the machine sealed to"
    );
    assert!(
        unseal(&tpm, w, "out/svc/policy/signed").is_err(),
        "unsealed before any launch"
    );
    launch_common::launch(&tpm, &w.join("out/svc"), Launch::AsPredicted);
    assert_eq!(unseal(&tpm, w, "out/svc/policy/signed").unwrap(), SECRET);
    std::fs::copy(w.join("out/svc/pcrs.json"), w.join("v1-pcrs.json")).unwrap();
    let v1_approved = std::fs::read(signed.join("approved-policy.digest")).unwrap();
    assert_eq!(
        v1_approved,
        std::fs::read(w.join("out/svc/policy/policy.digest")).unwrap(),
        "one launch: the approved policy is its PolicyPCR digest"
    );

    // The private key is nowhere in the bundle, its records or the stat
    // cache, nor in what the build printed.
    let pem = std::fs::read_to_string(w.join("release-key.pem")).unwrap();
    let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut files = Vec::new();
    all_files(&w.join("out"), &mut files);
    assert!(files.iter().any(|f| f.ends_with(".measured/steps.json")));
    for f in &files {
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        for line in &body {
            assert!(
                !text.contains(line),
                "{} holds the private key",
                f.display()
            );
        }
    }
    for line in &body {
        assert!(!o.contains(line), "the build printed the private key");
    }

    // v2: the kernel changes; v1 stays approved for the upgrade window.
    std::fs::write(w.join("bzImage"), fake_kernel(0x42)).unwrap();
    write_spec(
        w,
        "sign_key = \"release-key.pem\"\nalso_approve = [\"v1-pcrs.json\"]",
    );
    run_recipe(&tpm, w, "build", &[]).unwrap();
    let v2_approved = std::fs::read(signed.join("approved-policy.digest")).unwrap();
    assert_ne!(v2_approved, v1_approved, "v2's approval is a PolicyOR");
    assert!(signed.join("launches/1.or-args").is_file());
    // Before the reboot (v1 still launched) and after it (v2): the same
    // sealed object, never sealed again.
    assert_eq!(unseal(&tpm, w, "out/svc/policy/signed").unwrap(), SECRET);
    launch_common::launch(&tpm, &w.join("out/svc"), Launch::AsPredicted);
    assert_eq!(unseal(&tpm, w, "out/svc/policy/signed").unwrap(), SECRET);
    assert_eq!(std::fs::read(w.join("sealed.pub")).unwrap(), sealed_once.0);
    assert_eq!(std::fs::read(w.join("sealed.priv")).unwrap(), sealed_once.1);

    // The same, signed from the predictions alone (`policy sign`).
    run_recipe(&tpm, w, "policy-sign", &[]).unwrap();
    assert_eq!(
        std::fs::read(w.join("approval/approved-policy.digest")).unwrap(),
        v2_approved
    );
    assert_eq!(unseal(&tpm, w, "approval").unwrap(), SECRET);

    // A tampered signature: the TPM refuses it.
    let mut sig = std::fs::read(signed.join("signature.tss")).unwrap();
    let n = sig.len();
    sig[n - 1] ^= 1;
    std::fs::create_dir(w.join("tampered")).unwrap();
    for f in std::fs::read_dir(&signed).unwrap() {
        let f = f.unwrap();
        if f.path().is_file() {
            std::fs::copy(f.path(), w.join("tampered").join(f.file_name())).unwrap();
        }
    }
    std::fs::write(w.join("tampered/signature.tss"), &sig).unwrap();
    let e = unseal(&tpm, w, "tampered").unwrap_err();
    assert!(e.contains("verifysignature"), "{e}");

    // v3, unsigned (the kernel changes again): v2's approval does not cover it.
    std::fs::write(w.join("bzImage"), fake_kernel(0x43)).unwrap();
    write_spec(w, "");
    build(w, "out/v3");
    assert!(!w.join("out/v3/policy/signed").exists());
    launch_common::launch(&tpm, &w.join("out/v3"), Launch::AsPredicted);
    let e = unseal(&tpm, w, "out/svc/policy/signed").unwrap_err();
    assert!(e.contains("policyauthorize") || e.contains("unseal"), "{e}");

    // v3 signed by another key: its signature verifies, but for another name.
    std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "other-key.pem",
        ])
        .current_dir(w)
        .status()
        .unwrap();
    write_spec(w, "sign_key = \"other-key.pem\"");
    build(w, "out/v3-other");
    launch_common::launch(&tpm, &w.join("out/v3-other"), Launch::AsPredicted);
    let e = unseal(&tpm, w, "out/v3-other/policy/signed").unwrap_err();
    assert!(e.contains("unseal"), "{e}");
    // ...while K's own signature over the same launch unseals.
    write_spec(w, "sign_key = \"release-key.pem\"");
    build(w, "out/v3-signed");
    assert_eq!(
        unseal(&tpm, w, "out/v3-signed/policy/signed").unwrap(),
        SECRET
    );

    // A key held in a TPM signs the release; its approval is what the TPM
    // verifies, for the name tpm2_readpublic reports.
    run_recipe(&tpm, w, "tpm-key", &[]).unwrap();
    let a = w.join("approval-tpm");
    assert_eq!(
        std::fs::read(a.join("authorize.digest")).unwrap(),
        std::fs::read(w.join("authorize-tpm.digest")).unwrap()
    );
    let f = |n: &str| a.join(n).display().to_string();
    tpm.tool(
        "tpm2_loadexternal",
        &["-C", "o", "-u", &f("signing-key.pub"), "-c", "t.ctx"],
        w,
    )
    .unwrap();
    tpm.flush_contexts(w);
    tpm.tool(
        "tpm2_verifysignature",
        &[
            "-c",
            "t.ctx",
            "-d",
            &f("ahash.bin"),
            "-s",
            &f("signature.tss"),
            "-t",
            "t.tkt",
        ],
        w,
    )
    .unwrap();
    tpm.flush_contexts(w);
}

/// A prediction file (`measured --json drtm predict` shape) for sha256 PCR16
/// zero and PCR23 = extend(0, [i; 32]).
fn pcr23_prediction(w: &Path, i: u8) -> String {
    let mut m = vec![0u8; 32];
    m.extend_from_slice(&[i; 32]);
    let pcr23 = tcg::HashAlg::Sha256.digest(&m);
    let name = format!("launch-{i}.json");
    let doc = serde_json::json!({ "pcrs": {
        "16": { "sha256": hex::encode([0u8; 32]) },
        "23": { "sha256": hex::encode(pcr23) },
    }});
    std::fs::write(w.join(&name), doc.to_string()).unwrap();
    name
}

#[test]
fn nine_approved_launches_chain_policy_or_as_the_unseal_recipe_walks_them() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    let tpm = Swtpm::start().unwrap();
    std::fs::write(w.join("secret.bin"), SECRET).unwrap();
    run_recipe(&tpm, w, "key", &[]).unwrap();
    run_recipe(&tpm, w, "seal", &[]).unwrap();
    let preds: Vec<String> = (0..9).map(|i| pcr23_prediction(w, i)).collect();
    let mut args = vec![
        "policy",
        "sign",
        "--key",
        "release-key.pem",
        "--select",
        "sha256:16,23",
        "-o",
        "approval",
    ];
    args.extend(preds.iter().map(String::as_str));
    let o = Command::new(BIN)
        .args(&args)
        .current_dir(w)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.join("approval/approval.json")).unwrap()).unwrap();
    assert_eq!(
        doc["policy_or_levels"].as_array().unwrap().len(),
        3,
        "9 -> 2 -> 1"
    );
    // Launch 8 is alone in its group of the first level; launch 3 is not.
    for i in [8u8, 3] {
        tpm.tool("tpm2_pcrreset", &["23"], w).unwrap();
        tpm.tool(
            "tpm2_pcrextend",
            &[&format!("23:sha256={}", hex::encode([i; 32]))],
            w,
        )
        .unwrap();
        assert_eq!(unseal(&tpm, w, "approval").unwrap(), SECRET, "launch {i}");
    }
    // A tenth launch, not approved, does not unseal.
    tpm.tool("tpm2_pcrreset", &["23"], w).unwrap();
    tpm.tool(
        "tpm2_pcrextend",
        &[&format!("23:sha256={}", hex::encode([9u8; 32]))],
        w,
    )
    .unwrap();
    assert!(unseal(&tpm, w, "approval").is_err());
}
