//! The TPM2B_PUBLIC reader on arbitrary bytes: an error or a public area
//! that marshals back to the same bytes, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = policysign::TpmPublic::parse(data) {
        assert_eq!(p.tpm2b_public(), data);
        let _ = p.name();
        let _ = policysign::key::public_pem(p.key());
    }
});
