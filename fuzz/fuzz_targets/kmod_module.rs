//! One module file (any compression) through everything depmod reads from
//! it and every index built from it: no input may panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kmod::read_module(data.to_vec());
    let mut d = kmod::Depmod::new(kmod::Config::default());
    if d.add("kernel/fuzz.ko", data.to_vec()).is_ok() {
        let _ = d.finish(kmod::TreeFiles {
            order: Some(b"kernel/fuzz.ko\n"),
            builtin: Some(data),
            builtin_modinfo: Some(data),
        });
    }
});
