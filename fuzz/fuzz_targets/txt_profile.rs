//! Fuzz the platform profile reader.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = txt::Profile::from_toml(s);
        let _ = txt::Profile::from_json(s);
    }
});
