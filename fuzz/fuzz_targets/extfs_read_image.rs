//! Any bytes as an ext image: errors are fine, panics and hangs are not.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = extfs::read::read_bytes(data.to_vec());
});
