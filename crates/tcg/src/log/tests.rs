use super::*;

#[test]
fn writer_output_parses_back_with_same_events() {
    let mut w = AgileLogWriter::new(&[HashAlg::Sha1, HashAlg::Sha256]);
    w.startup_locality(3);
    w.measure(17, EventType::Other(0x402), b"hello");
    let log = EventLog::parse(w.as_bytes()).unwrap();
    assert_eq!(log.format, LogFormat::CryptoAgile);
    assert_eq!(log.events.len(), 3);
    assert_eq!(log.events[2].pcr, 17);
    assert_eq!(
        log.events[2].digest(HashAlg::Sha256).unwrap(),
        HashAlg::Sha256.digest(b"hello").as_slice()
    );
}

#[test]
fn truncated_event_reports_index_and_offset() {
    let mut w = AgileLogWriter::new(&[HashAlg::Sha256]);
    w.measure(4, EventType::Ipl, b"abcdef");
    let b = w.into_bytes();
    let e = EventLog::parse(&b[..b.len() - 2]).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("event 1"), "{msg}");
    assert!(matches!(e, ParseError::Truncated { .. }), "{msg}");
}
