//! Keys, names, digests and signatures checked against tpm2-tools on swtpm
//! and against openssl, for RSA (2048, 3072) and ECC (P-256, P-384) keys in
//! every PEM form openssl writes.

use std::path::Path;
use std::process::Command;

use policysign::approval::{Approval, Launch};
use policysign::key::{SoftwareKey, read_public};
use policysign::signed::files;
use policysign::{KeyMaterial, Signer, TpmKey, TpmPublic};
use tcg::policy::PcrSelection;
use tcg::{HashAlg, PcrValues};
use tpm_sim::Swtpm;

fn openssl(args: &[&str], cwd: &Path) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("openssl runs");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A private key in one of openssl's PEM forms, and its public PEM.
struct Key {
    tool_type: &'static str,
    private: std::path::PathBuf,
    public: std::path::PathBuf,
}

fn make_key(dir: &Path, label: &'static str) -> Key {
    let private = dir.join(format!("{label}.pem"));
    let p = private.to_str().unwrap();
    let tool_type = match label {
        "rsa2048-pkcs8" => {
            openssl(
                &[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                    "-out",
                    p,
                ],
                dir,
            );
            "rsa"
        }
        "rsa2048-pkcs1" => {
            openssl(&["genrsa", "-traditional", "-out", p, "2048"], dir);
            "rsa"
        }
        "rsa3072" => {
            openssl(&["genrsa", "-out", p, "3072"], dir);
            "rsa"
        }
        "p256-sec1" => {
            // With the EC PARAMETERS block first, as `ecparam -genkey` writes it.
            openssl(
                &["ecparam", "-name", "prime256v1", "-genkey", "-out", p],
                dir,
            );
            "ecc"
        }
        "p256-pkcs8" => {
            openssl(
                &[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-out",
                    p,
                ],
                dir,
            );
            "ecc"
        }
        "p384" => {
            openssl(
                &[
                    "ecparam",
                    "-name",
                    "secp384r1",
                    "-genkey",
                    "-noout",
                    "-out",
                    p,
                ],
                dir,
            );
            "ecc"
        }
        _ => unreachable!(),
    };
    let public = dir.join(format!("{label}.pub.pem"));
    openssl(
        &[
            "pkey",
            "-in",
            p,
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ],
        dir,
    );
    Key {
        tool_type,
        private,
        public,
    }
}

/// An approval of the TPM's current sha256 PCR16+23 and one other launch.
fn approval(tpm: &Swtpm, policy_ref: &[u8]) -> Approval {
    let sel: PcrSelection = "sha256:16,23".parse().unwrap();
    let mut now = PcrValues::default();
    let mut other = PcrValues::default();
    for p in [16, 23] {
        now.insert(
            HashAlg::Sha256,
            p,
            tpm.pcr_read(HashAlg::Sha256.id(), p).unwrap(),
        );
        other.insert(HashAlg::Sha256, p, vec![0x5a; 32]);
    }
    let launches = [
        Launch {
            label: "now".into(),
            values: now,
        },
        Launch {
            label: "other".into(),
            values: other,
        },
    ];
    Approval::new(&sel, &launches, policy_ref).unwrap()
}

fn write_files(dir: &Path, signed: &policysign::SignedApproval) {
    for (rel, bytes) in signed.files().unwrap() {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

/// Satisfy PolicyPCR + the launch's PolicyOR steps + PolicyAuthorize with
/// the approval in `a` (files) and unseal `sealed.ctx`.
fn unseal(tpm: &Swtpm, w: &Path, a: &Path, key_ctx: &str) -> Result<Vec<u8>, String> {
    let t = |prog: &str, args: &[&str]| {
        let r = tpm.tool(prog, args, w).map_err(|e| e.to_string());
        tpm.flush_contexts(w);
        r
    };
    let s = |f: &str| a.join(f).display().to_string();
    t(
        "tpm2_verifysignature",
        &[
            "-c",
            key_ctx,
            "-d",
            &s(files::AHASH),
            "-s",
            &s(files::SIGNATURE_TSS),
            "-t",
            "ok.tkt",
        ],
    )?;
    tpm.tool(
        "tpm2_startauthsession",
        &["--policy-session", "-S", "s.ctx"],
        w,
    )
    .map_err(|e| e.to_string())?;
    let sel = std::fs::read_to_string(a.join(files::SELECTION)).unwrap();
    let r = (|| {
        tpm.tool("tpm2_policypcr", &["-S", "s.ctx", "-l", sel.trim()], w)
            .map_err(|e| e.to_string())?;
        if let Ok(args) = std::fs::read_to_string(a.join("launches/0.or-args")) {
            for line in args.lines() {
                let line = line.replace("or/", &format!("{}/or/", a.display()));
                tpm.tool("tpm2_policyor", &["-S", "s.ctx", &line], w)
                    .map_err(|e| e.to_string())?;
            }
        }
        let mut pa = vec!["-S", "s.ctx", "-n"];
        let name = s(files::KEY_NAME);
        let approved = s(files::APPROVED_POLICY);
        let pref = s(files::POLICY_REF);
        pa.extend([name.as_str(), "-i", approved.as_str(), "-t", "ok.tkt"]);
        if std::fs::metadata(&pref).unwrap().len() > 0 {
            pa.extend(["-q", pref.as_str()]);
        }
        tpm.tool("tpm2_policyauthorize", &pa, w)
            .map_err(|e| e.to_string())?;
        tpm.tool(
            "tpm2_unseal",
            &["-c", "sealed.ctx", "-p", "session:s.ctx"],
            w,
        )
        .map_err(|e| e.to_string())
    })();
    tpm.flush_contexts(w);
    r
}

#[test]
fn names_digests_and_signatures_equal_tpm2_tools_and_openssl_for_rsa_and_ecc() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let tpm = Swtpm::start().unwrap();
    // A PCR the test can move at locality 0.
    tpm.tool(
        "tpm2_pcrextend",
        &["23:sha256=0101010101010101010101010101010101010101010101010101010101010101"],
        d,
    )
    .unwrap();

    for label in [
        "rsa2048-pkcs8",
        "rsa2048-pkcs1",
        "rsa3072",
        "p256-sec1",
        "p256-pkcs8",
        "p384",
    ] {
        let k = make_key(d, label);
        let w = d.join(label);
        std::fs::create_dir(&w).unwrap();
        let material = read_public(&k.private).unwrap();
        assert_eq!(
            read_public(&k.public).unwrap(),
            material,
            "{label}: public PEM = private's public"
        );
        let public = TpmPublic::loadexternal(material.clone());
        std::fs::write(w.join("ours.pub"), public.tpm2b_public()).unwrap();

        // The name tpm2_loadexternal reports for the PEM (tpm2-tools 5.4
        // takes RSA 3072 only as a TPM2B_PUBLIC; later releases take the PEM
        // too, and then it must match).
        let pem_load = tpm.tool(
            "tpm2_loadexternal",
            &[
                "-C",
                "o",
                "-G",
                k.tool_type,
                "-u",
                k.public.to_str().unwrap(),
                "-c",
                "pem.ctx",
                "-n",
                "pem.name",
            ],
            &w,
        );
        tpm.flush_contexts(&w);
        match pem_load {
            Ok(_) => {
                assert_eq!(
                    std::fs::read(w.join("pem.name")).unwrap(),
                    public.name(),
                    "{label}: name"
                );
                tpm.tool("tpm2_readpublic", &["-c", "pem.ctx", "-o", "tools.pub"], &w)
                    .unwrap();
                tpm.flush_contexts(&w);
                assert_eq!(
                    std::fs::read(w.join("tools.pub")).unwrap(),
                    public.tpm2b_public(),
                    "{label}: TPM2B_PUBLIC"
                );
            }
            Err(e) => assert!(
                label == "rsa3072" && e.to_string().contains("key-size 3072 is not supported"),
                "{label}: {e}"
            ),
        }
        // Our TPM2B_PUBLIC loads to the same name.
        tpm.tool(
            "tpm2_loadexternal",
            &[
                "-C",
                "o",
                "-u",
                "ours.pub",
                "-c",
                "key.ctx",
                "-n",
                "ours.name",
            ],
            &w,
        )
        .unwrap();
        tpm.flush_contexts(&w);
        assert_eq!(
            std::fs::read(w.join("ours.name")).unwrap(),
            public.name(),
            "{label}"
        );

        for policy_ref in [&b""[..], b"release-channel"] {
            let signer = Signer::from_pem(&k.private).unwrap();
            let signed = signer.sign(approval(&tpm, policy_ref)).unwrap();
            assert_eq!(signed.key, public);
            let a = w.join(format!("approval-{}", policy_ref.len()));
            write_files(&a, &signed);
            let f = |n: &str| a.join(n).display().to_string();

            // The signature, as tpm2-tools reads it: TSS form and plain form.
            tpm.tool(
                "tpm2_verifysignature",
                &[
                    "-c",
                    "key.ctx",
                    "-d",
                    &f(files::AHASH),
                    "-s",
                    &f(files::SIGNATURE_TSS),
                    "-t",
                    "v.tkt",
                ],
                &w,
            )
            .unwrap();
            tpm.flush_contexts(&w);
            let scheme = if k.tool_type == "rsa" {
                "rsassa"
            } else {
                "ecdsa"
            };
            tpm.tool(
                "tpm2_verifysignature",
                &[
                    "-c",
                    "key.ctx",
                    "-d",
                    &f(files::AHASH),
                    "-f",
                    scheme,
                    "-s",
                    &f(files::SIGNATURE_PLAIN),
                    "-t",
                    "v.tkt",
                ],
                &w,
            )
            .unwrap();
            tpm.flush_contexts(&w);
            // openssl verifies the plain form over aHash.
            openssl(
                &[
                    "pkeyutl",
                    "-verify",
                    "-pubin",
                    "-inkey",
                    &f(files::KEY_PEM),
                    "-in",
                    &f(files::AHASH),
                    "-sigfile",
                    &f(files::SIGNATURE_PLAIN),
                    "-pkeyopt",
                    "digest:sha256",
                ],
                &w,
            );
            // aHash = sha256(approved ‖ policyRef).
            let mut m = signed.approval.approved.clone();
            m.extend_from_slice(policy_ref);
            assert_eq!(
                std::fs::read(f(files::AHASH)).unwrap(),
                HashAlg::Sha256.digest(&m)
            );

            // Deterministic: RSASSA is openssl's bytes exactly; ECDSA (RFC
            // 6979) signs the same twice.
            let again = Signer::from_pem(&k.private)
                .unwrap()
                .sign(signed.approval.clone())
                .unwrap();
            assert_eq!(again.signature, signed.signature, "{label}: reproducible");
            if k.tool_type == "rsa" {
                openssl(
                    &[
                        "pkeyutl",
                        "-sign",
                        "-inkey",
                        k.private.to_str().unwrap(),
                        "-in",
                        &f(files::AHASH),
                        "-out",
                        "ossl.sig",
                        "-pkeyopt",
                        "digest:sha256",
                    ],
                    &w,
                );
                assert_eq!(
                    std::fs::read(w.join("ossl.sig")).unwrap(),
                    std::fs::read(f(files::SIGNATURE_PLAIN)).unwrap(),
                    "{label}: RSASSA bytes"
                );
            }

            // The PolicyAuthorize digest, as a trial session computes it.
            let mut pa = vec!["-S", "trial.ctx", "-n", "ours.name", "-L", "auth.digest"];
            let pref = f(files::POLICY_REF);
            if !policy_ref.is_empty() {
                pa.extend(["-q", pref.as_str()]);
            }
            tpm.tool("tpm2_startauthsession", &["-S", "trial.ctx"], &w)
                .unwrap();
            tpm.tool("tpm2_policyauthorize", &pa, &w).unwrap();
            tpm.flush_contexts(&w);
            assert_eq!(
                std::fs::read(w.join("auth.digest")).unwrap(),
                std::fs::read(f(files::AUTHORIZE_POLICY)).unwrap(),
                "{label}: authorize digest"
            );
            // The approved PolicyOR root, as tpm2_policyor computes it.
            let branches = format!("sha256:{},{}", f("or/0-0.digest"), f("or/0-1.digest"));
            tpm.tool("tpm2_startauthsession", &["-S", "trial.ctx"], &w)
                .unwrap();
            tpm.tool(
                "tpm2_policyor",
                &["-S", "trial.ctx", "-L", "or.digest", &branches],
                &w,
            )
            .unwrap();
            tpm.flush_contexts(&w);
            assert_eq!(
                std::fs::read(w.join("or.digest")).unwrap(),
                signed.approval.approved
            );

            // Seal to it and unseal through the approval.
            std::fs::write(w.join("secret.dat"), format!("{label} secret")).unwrap();
            tpm.tool("tpm2_createprimary", &["-C", "o", "-c", "prim.ctx"], &w)
                .unwrap();
            tpm.flush_contexts(&w);
            tpm.tool(
                "tpm2_create",
                &[
                    "-C",
                    "prim.ctx",
                    "-L",
                    &f(files::AUTHORIZE_POLICY),
                    "-i",
                    "secret.dat",
                    "-u",
                    "s.pub",
                    "-r",
                    "s.priv",
                ],
                &w,
            )
            .unwrap();
            tpm.flush_contexts(&w);
            tpm.tool(
                "tpm2_load",
                &[
                    "-C",
                    "prim.ctx",
                    "-u",
                    "s.pub",
                    "-r",
                    "s.priv",
                    "-c",
                    "sealed.ctx",
                ],
                &w,
            )
            .unwrap();
            tpm.flush_contexts(&w);
            assert_eq!(
                unseal(&tpm, &w, &a, "key.ctx").unwrap(),
                format!("{label} secret").as_bytes()
            );
        }
    }
}

#[test]
fn a_key_held_in_the_tpm_signs_approvals_the_tpm_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    let tpm = Swtpm::start().unwrap();
    for (alg, handle) in [
        ("rsa2048:rsassa-sha256", "0x81000010"),
        ("ecc256:ecdsa-sha256", "0x81000011"),
        ("ecc256", "0x81000012"),
    ] {
        tpm.tool(
            "tpm2_createprimary",
            &[
                "-C",
                "o",
                "-G",
                alg,
                "-a",
                "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign",
                "-c",
                "k.ctx",
            ],
            w,
        )
        .unwrap();
        tpm.tool("tpm2_evictcontrol", &["-C", "o", "-c", "k.ctx", handle], w)
            .unwrap();
        tpm.flush_contexts(w);
        tpm.tool("tpm2_readpublic", &["-c", handle, "-n", "tpm.name"], w)
            .unwrap();

        let mut key = TpmKey::parse(&format!("tpm:{handle}")).unwrap();
        key.tcti = Some(tpm.tcti());
        let signer = Signer::from_tpm(key).unwrap();
        assert_eq!(
            signer.public().name(),
            std::fs::read(w.join("tpm.name")).unwrap()
        );
        let signed = signer.sign(approval(&tpm, b"")).unwrap();
        if alg.starts_with("ecc") {
            assert!(matches!(signer.public().key(), KeyMaterial::Ecc { .. }));
        }
        let a = w.join(format!("approval-{handle}"));
        write_files(&a, &signed);
        // The verifying TPM loads the key's public area as shipped.
        tpm.tool(
            "tpm2_loadexternal",
            &[
                "-C",
                "o",
                "-u",
                &a.join(files::KEY_PUB).display().to_string(),
                "-c",
                "v.ctx",
                "-n",
                "v.name",
            ],
            w,
        )
        .unwrap();
        tpm.flush_contexts(w);
        assert_eq!(std::fs::read(w.join("v.name")).unwrap(), signed.key.name());
        std::fs::write(w.join("secret.dat"), handle).unwrap();
        tpm.tool("tpm2_createprimary", &["-C", "o", "-c", "prim.ctx"], w)
            .unwrap();
        tpm.flush_contexts(w);
        tpm.tool(
            "tpm2_create",
            &[
                "-C",
                "prim.ctx",
                "-L",
                &a.join(files::AUTHORIZE_POLICY).display().to_string(),
                "-i",
                "secret.dat",
                "-u",
                "s.pub",
                "-r",
                "s.priv",
            ],
            w,
        )
        .unwrap();
        tpm.flush_contexts(w);
        tpm.tool(
            "tpm2_load",
            &[
                "-C",
                "prim.ctx",
                "-u",
                "s.pub",
                "-r",
                "s.priv",
                "-c",
                "sealed.ctx",
            ],
            w,
        )
        .unwrap();
        tpm.flush_contexts(w);
        assert_eq!(unseal(&tpm, w, &a, "v.ctx").unwrap(), handle.as_bytes());
    }
}

#[test]
fn unusable_keys_are_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let p = |n: &str| d.join(n).display().to_string();
    openssl(&["genrsa", "-out", &p("rsa4096.pem"), "4096"], d);
    openssl(
        &["genpkey", "-algorithm", "ed25519", "-out", &p("ed.pem")],
        d,
    );
    openssl(
        &[
            "ecparam",
            "-name",
            "secp521r1",
            "-genkey",
            "-noout",
            "-out",
            &p("p521.pem"),
        ],
        d,
    );
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-aes256",
            "-pass",
            "pass:x",
            "-out",
            &p("enc.pem"),
        ],
        d,
    );
    openssl(
        &[
            "genrsa",
            "-traditional",
            "-aes256",
            "-passout",
            "pass:x",
            "-out",
            &p("enc1.pem"),
            "2048",
        ],
        d,
    );
    openssl(
        &[
            "pkey",
            "-in",
            &p("ed.pem"),
            "-pubout",
            "-out",
            &p("ed.pub.pem"),
        ],
        d,
    );
    for (f, want) in [
        ("rsa4096.pem", "RSA 4096"),
        ("ed.pem", "expected RSA or ECC"),
        ("ed.pub.pem", "expected RSA or ECC"),
        ("p521.pem", "expected P-256 or P-384"),
        ("enc.pem", "encrypted"),
        ("enc1.pem", "encrypted"),
    ] {
        let e = read_public(&d.join(f)).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains(f), "{f}: {e}");
    }
    // A public key cannot sign.
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &p("k.pem"),
        ],
        d,
    );
    openssl(
        &[
            "pkey",
            "-in",
            &p("k.pem"),
            "-pubout",
            "-out",
            &p("k.pub.pem"),
        ],
        d,
    );
    let e = SoftwareKey::read(&d.join("k.pub.pem"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("public key"), "{e}");
    // No error quotes the key.
    let pem = std::fs::read_to_string(d.join("k.pem")).unwrap();
    let body: String = pem.lines().nth(1).unwrap().chars().take(24).collect();
    std::fs::write(
        d.join("broken.pem"),
        pem.replace("-----END PRIVATE KEY-----", ""),
    )
    .unwrap();
    let e = SoftwareKey::read(&d.join("broken.pem"))
        .unwrap_err()
        .to_string();
    assert!(!e.contains(&body), "{e}");
}
