#![no_main]
//! Read arbitrary text as PCR values, in every form the shared reader takes.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(v) = tcg::PcrValues::from_json(text, "fuzz") {
            let _ = v.to_pcrread_yaml();
        }
        if let Ok(v) = tcg::PcrValues::from_pcrread_yaml(text, "fuzz") {
            let _ = v.to_pcrread_yaml();
        }
    }
});
