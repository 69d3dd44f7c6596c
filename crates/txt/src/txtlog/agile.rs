//! The TCG crypto-agile log (heap element type 8), read by the `tcg` crate.

use std::collections::BTreeMap;

use tcg::HashAlg;

use super::log::{TxtLog, TxtLogFormat, log_event};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::hexser::Hex;

pub(super) fn parse_agile(buf: &[u8]) -> Result<TxtLog> {
    let log = tcg::EventLog::parse(buf).map_err(|e| Error::Invalid {
        what: "TCG agile log",
        msg: e.to_string(),
    })?;
    let banks = log.banks();
    let mut events = Vec::new();
    for e in log.events.iter().skip(1) {
        let mut digests = BTreeMap::new();
        for d in &e.digests {
            if let Some(a) = d.alg {
                digests.insert(a, Hex(d.digest.clone()));
            }
        }
        events.push(log_event(e.pcr, e.event_type.to_u32(), digests, &e.data));
    }
    Ok(TxtLog {
        format: TxtLogFormat::Agile,
        banks,
        events,
    })
}

/// Write `events` as a crypto-agile log over `banks`; each event carries
/// exactly the banks it has digests for.
pub fn write_agile(banks: &[HashAlg], events: &[Event]) -> Vec<u8> {
    let mut buf = tcg::log::AgileLogWriter::new(banks).into_bytes();
    for e in events {
        buf.extend_from_slice(&e.pcr.to_le_bytes());
        buf.extend_from_slice(&e.event_type.to_le_bytes());
        buf.extend_from_slice(&(e.digests.len() as u32).to_le_bytes());
        for (alg, d) in &e.digests {
            buf.extend_from_slice(&alg.id().to_le_bytes());
            buf.extend_from_slice(&d.0);
        }
        buf.extend_from_slice(&(e.data.0.len() as u32).to_le_bytes());
        buf.extend_from_slice(&e.data.0);
    }
    buf
}
