//! Malformed logs give errors that name the event and byte offset, never a panic; the fuzz
//! seed corpus goes through the parser and replay here so CI exercises it.

use tcg::log::{AgileLogWriter, ParseError};
use tcg::{EventLog, EventType, HashAlg, replay};

fn sample() -> Vec<u8> {
    let mut w = AgileLogWriter::new(&[HashAlg::Sha1, HashAlg::Sha256]);
    w.measure(0, EventType::SCrtmVersion, b"1.0");
    w.measure(
        4,
        EventType::EfiAction,
        b"Calling EFI Application from Boot Option",
    );
    w.into_bytes()
}

/// Offset of event 1 (right after the Spec ID header event).
fn event1(buf: &[u8]) -> usize {
    32 + u32::from_le_bytes(buf[28..32].try_into().unwrap()) as usize
}

#[test]
fn every_truncation_of_a_log_errors_with_offset_or_parses_a_prefix() {
    let buf = sample();
    for n in 1..buf.len() {
        match EventLog::parse(&buf[..n]) {
            Ok(log) => assert!(log.events.len() <= 3),
            Err(e) => {
                let at = e.offset().expect("offset");
                assert!(at <= n, "{e}");
                assert!(e.to_string().contains("event "), "{e}");
            }
        }
    }
}

#[test]
fn absurd_event_size_is_rejected_at_its_field() {
    let mut buf = sample();
    let e1 = event1(&buf);
    // pcr 4 + type 4 + count 4 + (2+20) + (2+32) = eventSize field.
    let size_at = e1 + 12 + 22 + 34;
    buf[size_at..size_at + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let e = EventLog::parse(&buf).unwrap_err();
    assert!(matches!(e, ParseError::Malformed { event: 1, .. }), "{e}");
    assert_eq!(e.offset(), Some(size_at), "{e}");
    assert!(e.to_string().contains("eventSize"), "{e}");
}

#[test]
fn absurd_digest_count_is_rejected() {
    let mut buf = sample();
    let at = event1(&buf) + 8;
    buf[at..at + 4].copy_from_slice(&1000u32.to_le_bytes());
    let e = EventLog::parse(&buf).unwrap_err();
    assert_eq!(e.offset(), Some(at), "{e}");
    assert!(e.to_string().contains("digest count 1000"), "{e}");
}

#[test]
fn undeclared_algorithm_without_size_is_rejected() {
    let mut buf = sample();
    let at = event1(&buf) + 12;
    buf[at..at + 2].copy_from_slice(&0x0027u16.to_le_bytes());
    let e = EventLog::parse(&buf).unwrap_err();
    assert_eq!(e.offset(), Some(at), "{e}");
    assert!(e.to_string().contains("0x0027"), "{e}");
}

#[test]
fn spec_id_event_that_lies_about_a_digest_size_is_rejected() {
    let mut buf = sample();
    // Spec ID data starts at 32; algorithms follow 16+4+4+4 bytes; first is sha1 (size at +2).
    let at = 32 + 28 + 2;
    assert_eq!(u16::from_le_bytes([buf[at], buf[at + 1]]), 20);
    buf[at..at + 2].copy_from_slice(&32u16.to_le_bytes());
    let e = EventLog::parse(&buf).unwrap_err();
    assert!(e.to_string().contains("sha1 digests are 32 bytes"), "{e}");
    assert_eq!(e.offset(), Some(at + 2), "{e}");
}

#[test]
fn fuzz_seed_corpus_parses_without_panic() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/corpus/tcg_parse_log"
    );
    let mut n = 0;
    for f in std::fs::read_dir(dir).unwrap() {
        let buf = std::fs::read(f.unwrap().path()).unwrap();
        if let Ok(log) = EventLog::parse(&buf) {
            let _ = replay(&log);
            let _ = tcg::ccel::replay_rtmrs(&log);
            for e in &log.events {
                let _ = e.decoded().to_string();
            }
        }
        // Corrupt each seed in a few places too.
        for step in [7usize, 97, 1009] {
            let mut b = buf.clone();
            for i in (0..b.len()).step_by(step) {
                b[i] ^= 0xA5;
            }
            if let Ok(log) = EventLog::parse(&b) {
                let _ = replay(&log);
            }
        }
        n += 1;
    }
    assert!(n >= 10, "{n} seeds");
}

#[test]
fn pcr_values_seed_corpus_reads_without_panic() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/corpus/tcg_pcr_values"
    );
    let mut n = 0;
    for f in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        let json = tcg::PcrValues::from_json(&text, "seed");
        let yaml = tcg::PcrValues::from_pcrread_yaml(&text, "seed");
        assert!(
            json.is_ok() || yaml.is_ok_and(|v| !v.map.is_empty()),
            "every seed reads"
        );
        // Truncated anywhere, no panic.
        for cut in (0..text.len()).step_by(37) {
            if text.is_char_boundary(cut) {
                let _ = tcg::PcrValues::from_json(&text[..cut], "seed");
                let _ = tcg::PcrValues::from_pcrread_yaml(&text[..cut], "seed");
            }
        }
        n += 1;
    }
    assert!(n >= 8, "{n} seeds in {dir}");
}
