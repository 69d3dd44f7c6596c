//! Fuzz the TXT log readers (container, legacy, agile), then everything
//! that consumes a parsed log: replay, capture, writing it back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    txt::fuzz::fuzz_one(data);
});
