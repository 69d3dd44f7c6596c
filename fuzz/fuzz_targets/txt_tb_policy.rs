//! Fuzz the tb_policy parser; what parses must serialise to a prefix of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = txt::TbPolicy::parse(data) {
        assert!(data.starts_with(&p.to_bytes()));
    }
});
