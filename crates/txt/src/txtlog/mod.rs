//! TXT event logs in every format a TXT launch produces (spec §7): the
//! TPM 1.2 "TXT Event Container", the TPM 2.0 legacy per-algorithm logs and
//! the TCG crypto-agile log. Each is parsed from untrusted bytes into one
//! normalised event list ([`TxtLog`]) and can be written back from one.

mod container;
mod legacy;
mod replay;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tcg::HashAlg;

use crate::error::{Error, Result};
use crate::hexser::Hex;
use crate::predict::Event;
use crate::sinit::evtype;

pub use container::{CONTAINER_SIGNATURE, parse_container, write_container};
pub use legacy::{
    LOG_DESCRIPTOR_SIGNATURE, parse_legacy_element, parse_legacy_single, txt_alg_id,
    write_legacy_element, write_legacy_single,
};
pub use replay::{
    HashStartForm, HashStartMode, TxtReplay, hash_start_form, log_hash_start_as_resulting_pcr,
    replay_log,
};

/// The three on-disk log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxtLogFormat {
    /// TPM 1.2 "TXT Event Container" (heap element type 5).
    Container,
    /// TPM 2.0 TXT legacy per-algorithm logs (heap element type 7).
    Legacy,
    /// TCG crypto-agile log (heap element type 8).
    Agile,
}

impl std::str::FromStr for TxtLogFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "container" => Ok(TxtLogFormat::Container),
            "legacy" => Ok(TxtLogFormat::Legacy),
            "agile" => Ok(TxtLogFormat::Agile),
            _ => Err(format!(
                "unknown log format {s:?} (expected agile, legacy or container)"
            )),
        }
    }
}

/// A parsed TXT log, normalised: one event per measurement with the digest
/// of every bank that logged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TxtLog {
    /// The format the bytes were in.
    pub format: TxtLogFormat,
    /// Banks the log covers, in log order.
    pub banks: Vec<HashAlg>,
    /// The events in log order (headers and descriptors removed).
    pub events: Vec<Event>,
}

/// Guess the format from the first bytes: the container signature, a legacy
/// heap element (`Count` 1..=5 then a known `HashAlgID` and a zero reserved
/// word), a Spec ID header, else a single legacy per-algorithm log.
pub fn detect(buf: &[u8]) -> TxtLogFormat {
    if buf.starts_with(CONTAINER_SIGNATURE) {
        return TxtLogFormat::Container;
    }
    if legacy::looks_like_element(buf) {
        return TxtLogFormat::Legacy;
    }
    // Record 0 of an agile log: PCR 0, EV_NO_ACTION, 20 zero bytes, size, "Spec ID Event03".
    if buf.len() >= 48
        && buf[0..4] == [0, 0, 0, 0]
        && buf[4..8] == 3u32.to_le_bytes()
        && &buf[32..48] == b"Spec ID Event03\0"
    {
        return TxtLogFormat::Agile;
    }
    TxtLogFormat::Legacy
}

/// Parse a log in any format. `alg` names the bank of a single legacy
/// per-algorithm log that has no `TCG_LOG_DESCRIPTOR` (default SHA-1).
/// A log with no events is refused: replaying it would print PCR values
/// of a launch that measured nothing, and a TXT launch always measures
/// (SINIT, MLE, ...). An empty file is most often the wrong file.
pub fn parse(buf: &[u8], alg: Option<HashAlg>) -> Result<TxtLog> {
    let log = match detect(buf) {
        TxtLogFormat::Container => parse_container(buf),
        TxtLogFormat::Agile => parse_agile(buf),
        TxtLogFormat::Legacy if legacy::looks_like_element(buf) => parse_legacy_element(buf),
        TxtLogFormat::Legacy => return parse_legacy_single(buf, alg),
    }?;
    with_events(log, buf.len())
}

/// `log`, unless it holds no event (see [`parse`]); `len` is its size.
pub(crate) fn with_events(log: TxtLog, len: usize) -> Result<TxtLog> {
    if !log.events.is_empty() {
        return Ok(log);
    }
    Err(Error::Invalid {
        what: "TXT log",
        msg: if len == 0 {
            "the file is empty (0 bytes), not a TXT event log".into()
        } else {
            format!(
                "no events in {len} bytes: a TXT launch logs at least its SINIT and MLE measurements"
            )
        },
    })
}

/// Parse several per-algorithm legacy logs (one file each) into one log.
pub fn parse_legacy_files(files: &[(Vec<u8>, Option<HashAlg>)]) -> Result<TxtLog> {
    let mut logs = Vec::new();
    for (b, a) in files {
        logs.push(parse_legacy_single(b, *a)?);
    }
    merge_logs(logs)
}

/// Merge per-bank logs into one event list: events with the same PCR, type
/// and data, in the same relative order, are one measurement.
pub fn merge_logs(logs: Vec<TxtLog>) -> Result<TxtLog> {
    let mut it = logs.into_iter();
    let Some(mut acc) = it.next() else {
        return Err(Error::Invalid {
            what: "TXT legacy log",
            msg: "no per-algorithm log".into(),
        });
    };
    for log in it {
        for b in &log.banks {
            if acc.banks.contains(b) {
                return Err(Error::Invalid {
                    what: "TXT legacy log",
                    msg: format!("two logs for bank {b}"),
                });
            }
            acc.banks.push(*b);
        }
        acc.events = merge_events(&acc.events, &log.events);
    }
    Ok(acc)
}

fn same_measurement(a: &Event, b: &Event) -> bool {
    a.pcr == b.pcr && a.event_type == b.event_type && a.data == b.data
}

/// Longest-common-subsequence merge; unmatched events keep their order.
fn merge_events(a: &[Event], b: &[Event]) -> Vec<Event> {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if same_measurement(&a[i], &b[j]) {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(n.max(m));
    while i < n || j < m {
        if i < n && j < m && same_measurement(&a[i], &b[j]) {
            let mut e = a[i].clone();
            e.digests.extend(b[j].digests.clone());
            out.push(e);
            i += 1;
            j += 1;
        } else if j == m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(a[i].clone());
            i += 1;
        } else {
            out.push(b[j].clone());
            j += 1;
        }
    }
    out
}

/// A normalised event from raw fields.
pub(crate) fn log_event(pcr: u32, ty: u32, digests: BTreeMap<HashAlg, Hex>, data: &[u8]) -> Event {
    Event {
        pcr,
        event_type: ty,
        name: evtype::name(ty).to_string(),
        digests,
        data: Hex(data.to_vec()),
        source: "log".into(),
    }
}

fn parse_agile(buf: &[u8]) -> Result<TxtLog> {
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

/// Write `events` in `format`. Container is TPM 1.2 (SHA-1 only); legacy is
/// the heap-element file layout of [`write_legacy_element`].
pub fn write(format: TxtLogFormat, banks: &[HashAlg], events: &[Event]) -> Result<Vec<u8>> {
    match format {
        TxtLogFormat::Agile => Ok(write_agile(banks, events)),
        TxtLogFormat::Container => write_container(events),
        TxtLogFormat::Legacy => write_legacy_element(banks, events),
    }
}

#[cfg(test)]
mod tests;

/// Everything a fuzzer should drive with one input: parse in every way,
/// and on success replay, capture and write back (none may panic).
pub fn fuzz_one(data: &[u8]) {
    let mut logs = Vec::new();
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
