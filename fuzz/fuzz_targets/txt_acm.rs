//! Fuzz the SINIT ACM parser and the signed-region hash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(acm) = txt::Acm::parse(data) {
        let _ = acm.signed_region_digest(tcg::HashAlg::Sha256);
        let _ = acm.rsa_public_key();
    }
});
