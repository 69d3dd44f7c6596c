//! Fuzz the tboot ELF loader and MLE header search.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mle) = txt::MleImage::load(data) {
        let _ = mle.hash(Some(b"logging=serial"), &[tcg::HashAlg::Sha1]);
    }
});
