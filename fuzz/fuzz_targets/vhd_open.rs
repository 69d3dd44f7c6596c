//! Any bytes given to the reader and the checker: errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("vhd-fuzz-{}.vhd", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = vhd::check_file(&path);
    if let Ok(v) = vhd::Vhd::open(&path) {
        use fstree::ContentSource;
        let mut buf = vec![0u8; 65536];
        if let Ok(ranges) = v.data_ranges() {
            for (o, _) in ranges.into_iter().take(8) {
                let _ = v.read_at(o, &mut buf);
            }
        }
    }
    let _ = std::fs::remove_file(&path);
});
