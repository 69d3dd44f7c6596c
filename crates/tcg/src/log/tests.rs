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

#[test]
fn zero_events_before_a_last_event_are_events_not_padding() {
    // PCR 0, type 0, no digests, no data: 16 zero bytes, like padding until
    // a real event follows. Padding is only what reaches the buffer's end.
    let mut w = AgileLogWriter::new(&[HashAlg::Sha256]);
    let header = w.as_bytes().len();
    let mut b = w.as_bytes().to_vec();
    b.extend(std::iter::repeat_n(0u8, 16 * 40_000));
    w.measure(4, EventType::Ipl, b"last");
    b.extend_from_slice(&w.as_bytes()[header..]);
    let log = EventLog::parse(&b).unwrap();
    assert_eq!(log.events.len(), 1 + 40_000 + 1);
    assert_eq!(log.events.last().unwrap().pcr, 4);
    b.extend_from_slice(&[0xff; 4096]);
    assert_eq!(EventLog::parse(&b).unwrap().events.len(), 40_002);
    b.truncate(header + 16 * 40_000);
    assert_eq!(EventLog::parse(&b).unwrap().events.len(), 1);
    assert_eq!(padding_start(&[1, 0, 0xff, 0xff]), 2);
    assert_eq!(padding_start(&[0, 0]), 0);
}
