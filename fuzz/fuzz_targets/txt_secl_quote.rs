//! Fuzz the Intel SecL quote reader (XML text and raw quote bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = txt::quote::pcrs_from_quote_bytes(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = txt::quote::pcrs_from_secl_xml(s);
    }
});
