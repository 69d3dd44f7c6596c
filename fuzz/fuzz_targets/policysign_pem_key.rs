//! The PEM key readers on arbitrary bytes: a key or an error, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let at = Path::new("fuzz.pem");
    if let Ok(m) = policysign::key::public_from_pem(data, at) {
        let _ = policysign::TpmPublic::loadexternal(m).name();
    }
    if let Ok(k) = policysign::SoftwareKey::from_pem(data, at) {
        let _ = k.sign_digest(&[7; 32]);
    }
});
