//! The step-record parser on arbitrary bytes: `None` or a manifest, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(m) = bundle::Manifest::from_bytes(data) {
        let _ = m.to_bytes();
    }
});
