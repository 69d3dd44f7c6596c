//! PCR value files (JSON and `tpm2_pcrread` YAML) on arbitrary text:
//! an error or values, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tcg::values::PcrValues::from_json(text, "fuzz");
        let _ = tcg::values::PcrValues::from_pcrread_yaml(text, "fuzz");
    }
});
