#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = image::modules::modinfo_depends(data, std::path::Path::new("fuzz"));
    let _ = image::elf::is_static(data);
});
