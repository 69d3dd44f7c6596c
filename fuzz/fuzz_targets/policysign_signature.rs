//! The TPMT_SIGNATURE reader and the plain-form reader on arbitrary bytes,
//! and verification of whatever they accept: errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policysign::approval::POLICY_ALG;
use policysign::public::Curve;
use policysign::{KeyMaterial, Signature, TpmPublic};

fuzz_target!(|data: &[u8]| {
    let keys = [
        KeyMaterial::Rsa { n: vec![0xC3; 256], e: 65537 },
        KeyMaterial::Ecc { curve: Curve::P256, x: vec![1; 32], y: vec![2; 32] },
        KeyMaterial::Ecc { curve: Curve::P384, x: vec![1; 48], y: vec![2; 48] },
    ];
    if let Ok(s) = Signature::from_tss(data) {
        assert_eq!(s.to_tss(), data);
        for k in &keys {
            let _ = s.verify(&TpmPublic::loadexternal(k.clone()), &[0; 32]);
        }
    }
    for k in &keys {
        if let Ok(s) = Signature::from_plain(data, k, POLICY_ALG) {
            let _ = s.to_plain();
            let _ = s.verify(&TpmPublic::loadexternal(k.clone()), &[0; 32]);
        }
    }
});
