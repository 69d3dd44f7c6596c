//! The build-spec parser on arbitrary text: an error or a spec, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = bundle::spec::BuildSpec::parse(
            std::path::Path::new("/nonexistent/spec.toml"),
            text.to_string(),
        );
    }
});
