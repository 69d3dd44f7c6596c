//! Drivers for the fuzz targets that exercise several parts of the crate
//! with one input.

use tcg::HashAlg;

use crate::txtlog::{
    HashStartMode, TxtLogFormat, parse, parse_legacy_files, parse_legacy_single, replay_log, write,
};

/// Everything a fuzzer should drive with one input: parse in every way,
/// and on success replay, capture and write back (none may panic).
pub fn fuzz_one(data: &[u8]) {
    let mut logs = Vec::new();
    if let Ok(r) = crate::txtlog::secl::parse_secl(data) {
        let _ = crate::capture::capture_secl(&r);
    }
    if let Ok(l) = parse(data, None) {
        logs.push(l);
    }
    if let Ok(l) = parse_legacy_single(data, Some(HashAlg::Sha256)) {
        logs.push(l);
    }
    if let Ok(l) = parse_legacy_files(&[
        (data.to_vec(), None),
        (data.to_vec(), Some(HashAlg::Sha384)),
    ]) {
        logs.push(l);
    }
    for l in logs {
        for mode in [
            HashStartMode::Auto,
            HashStartMode::Extend,
            HashStartMode::Set,
        ] {
            let _ = replay_log(&l.events, &l.banks, mode);
        }
        let _ = crate::capture::capture_log(&l);
        for f in [
            TxtLogFormat::Agile,
            TxtLogFormat::Legacy,
            TxtLogFormat::Container,
        ] {
            if let Ok(b) = write(f, &l.banks, &l.events) {
                let _ = parse(&b, None);
            }
        }
    }
}
