//! The image spec (TOML) on arbitrary text: parsed, validated and its
//! derived values computed, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(table) = text.parse::<toml::Table>() else {
        return;
    };
    let base = std::path::Path::new("/nonexistent");
    if let Ok(spec) = image::spec::Spec::from_table(table, base, &base.join("spec.toml")) {
        let _ = spec.validate();
        let _ = spec.cmdline();
        let _ = spec.uuid();
    }
});
