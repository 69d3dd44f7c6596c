//! Every committed fuzz seed goes through its parser (no panic), so CI
//! exercises the cargo-fuzz targets' inputs without cargo-fuzz. The seeds
//! are real tpm2-tools and openssl output, so they also pin our formats to
//! theirs.

use std::path::{Path, PathBuf};

use policysign::approval::POLICY_ALG;
use policysign::key::public_from_pem;
use policysign::{Signature, TpmPublic};

fn seed(target: &str, name: &str) -> (PathBuf, Vec<u8>) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(format!("policysign_{target}"))
        .join(name);
    let b = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (p, b)
}

fn all(target: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(format!("policysign_{target}"));
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn tpm2_readpublic_areas_parse_to_the_same_bytes_or_are_refused() {
    let mut parsed = Vec::new();
    for name in all("tpm_public") {
        let (_, b) = seed("tpm_public", &name);
        if let Ok(p) = TpmPublic::parse(&b) {
            assert_eq!(p.tpm2b_public(), b, "{name}");
            parsed.push(name);
        }
    }
    assert_eq!(
        parsed,
        [
            "loadexternal-p256.pub",
            "loadexternal-p384.pub",
            "loadexternal-rsa2048.pub",
            "tpm-p256-ecdsa.pub",
            "tpm-rsa2048-rsassa.pub"
        ]
    );
    let (_, b) = seed("tpm_public", "primary-ecc-storage.pub");
    let e = TpmPublic::parse(&b).unwrap_err().to_string();
    assert!(e.contains("sign"), "a storage key is not a signer: {e}");
}

#[test]
fn the_public_area_we_build_is_the_one_tpm2_loadexternal_built_for_the_same_pem() {
    for (pem, area) in [
        ("rsa2048-spki.pem", "loadexternal-rsa2048.pub"),
        ("p256-spki.pem", "loadexternal-p256.pub"),
        ("p384-spki.pem", "loadexternal-p384.pub"),
    ] {
        let (p, text) = seed("pem_key", pem);
        let ours = TpmPublic::loadexternal(public_from_pem(&text, &p).unwrap());
        assert_eq!(ours.tpm2b_public(), seed("tpm_public", area).1, "{pem}");
    }
    // PKCS#1 and SPKI forms of one RSA key are one key.
    let (p, a) = seed("pem_key", "rsa2048-spki.pem");
    let (q, b) = seed("pem_key", "rsa2048-pkcs1-public.pem");
    assert_eq!(
        public_from_pem(&a, &p).unwrap(),
        public_from_pem(&b, &q).unwrap()
    );
}

#[test]
fn pem_seeds_give_a_key_or_the_reason() {
    for (name, want) in [
        ("ed25519-spki.pem", "expected RSA or ECC"),
        ("ec-parameters-only.pem", "no PEM key block"),
        ("encrypted-header.pem", "encrypted"),
    ] {
        let (p, b) = seed("pem_key", name);
        let e = public_from_pem(&b, &p).unwrap_err().to_string();
        assert!(e.contains(want), "{name}: {e}");
    }
    for name in all("pem_key") {
        let (p, b) = seed("pem_key", &name);
        let _ = policysign::SoftwareKey::from_pem(&b, &p);
    }
}

#[test]
fn tpm2_sign_signatures_verify_with_the_keys_that_made_them() {
    // tpm2_sign -d over these 32 bytes (the seed's digest, kept beside the
    // keys' public areas).
    for (key, tss, plain) in [
        (
            "tpm-p256-ecdsa.pub",
            "tpm2_sign-ecdsa.tss",
            "tpm2_sign-ecdsa.plain",
        ),
        (
            "tpm-rsa2048-rsassa.pub",
            "tpm2_sign-rsassa.tss",
            "tpm2_sign-rsassa.plain",
        ),
    ] {
        let k = TpmPublic::parse(&seed("tpm_public", key).1).unwrap();
        let s = Signature::from_tss(&seed("signature", tss).1).unwrap();
        let p = Signature::from_plain(&seed("signature", plain).1, k.key(), POLICY_ALG).unwrap();
        let digest = seed("signature", "signed-digest.bin").1;
        s.verify(&k, &digest).unwrap();
        p.verify(&k, &digest).unwrap();
        if tss.contains("rsassa") {
            // RSASSA is deterministic: two signings, one signature.
            assert_eq!(p, s);
        }
        let mut other = digest.clone();
        other[0] ^= 1;
        assert!(
            s.verify(&k, &other).is_err(),
            "{tss} verifies another digest"
        );
    }
    assert!(Signature::from_tss(&seed("signature", "truncated.tss").1).is_err());
}
