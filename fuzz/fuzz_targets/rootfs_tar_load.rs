//! Any bytes as a (possibly compressed) tar archive.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = rootfs::load_tar_reader(data, "fuzz");
});
