#![no_main]
//! Any bytes as a VHD file: open, read every allocated range, and check.
//! Errors are fine; panics, hangs and huge allocations are bugs.

use std::io::Write;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(data).expect("write");
    vhd_fuzz_body(f.path());
});

fn vhd_fuzz_body(path: &std::path::Path) {
    if let Ok(v) = vhd::Vhd::open(path) {
        let mut buf = vec![0u8; 64 * 1024];
        for (o, l) in v.data_ranges().into_iter().take(64) {
            let _ = v.read_at(o, &mut buf[..(l.min(65536)) as usize]);
        }
    }
    let _ = vhd::check(path);
}
