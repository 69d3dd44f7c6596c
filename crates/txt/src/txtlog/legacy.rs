//! TPM 2.0 TXT "legacy" logs (spec §7.2): one log per algorithm, records
//! `u32 PCRIndex; u32 EventType; u8 Digest[n]; u32 EventDataSize; data`,
//! each non-SHA-1 log opened by a TPM 1.2-format record whose data is a
//! `TCG_LOG_DESCRIPTOR` naming the algorithm in TXT numbering.
//!
//! The heap element (type 7) is `u32 Count; HEAP_EVENT_LOG_DESCR[Count]`
//! with 24-byte descriptors. As a file we keep that layout and make each
//! descriptor's `PhysicalAddress` the file offset of its log buffer, which
//! follows the descriptors (see docs/drtm.md).

use std::collections::BTreeMap;

use tcg::HashAlg;

use super::log::{TxtLog, TxtLogFormat, log_event};
use super::merge::merge_logs;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::hexser::Hex;
use crate::view::View;

/// Data of the descriptor record.
pub const LOG_DESCRIPTOR_SIGNATURE: &[u8; 16] = b"FRMT ID EVENT00\0";
const WHAT: &str = "TXT legacy log";
const ELEMENT: &str = "TXT legacy log element";
const DESCR_LEN: usize = 24;
const MAX_LOGS: u32 = 5;

/// The TXT numbering of `TCG_LOG_DESCRIPTOR.DigestAlgID` (1 SHA-1,
/// 2 SHA-256, 3 SHA-384, 4 SHA-512, 5 SM3 in tboot).
pub fn txt_alg_id(a: HashAlg) -> u32 {
    match a {
        HashAlg::Sha1 => 1,
        HashAlg::Sha256 => 2,
        HashAlg::Sha384 => 3,
        HashAlg::Sha512 => 4,
        HashAlg::Sm3_256 => 5,
    }
}

fn from_txt_alg_id(id: u32) -> Option<HashAlg> {
    HashAlg::ALL.into_iter().find(|&a| txt_alg_id(a) == id)
}

pub(super) fn looks_like_element(buf: &[u8]) -> bool {
    if buf.len() < 4 + DESCR_LEN {
        return false;
    }
    let count = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let alg = u16::from_le_bytes([buf[4], buf[5]]);
    (1..=MAX_LOGS).contains(&count) && HashAlg::from_id(alg).is_some() && buf[6..8] == [0, 0]
}

fn has_descriptor(buf: &[u8]) -> bool {
    buf.len() >= 48
        && buf[0..4] == [0, 0, 0, 0]
        && buf[4..8] == 3u32.to_le_bytes()
        && &buf[32..48] == LOG_DESCRIPTOR_SIGNATURE
}

/// Parse one per-algorithm log. Its bank comes from the descriptor record
/// if present, else from `alg`, else SHA-1 (which logs no descriptor).
/// A log with no events is refused, as by [`super::parse`].
pub fn parse_legacy_single(buf: &[u8], alg: Option<HashAlg>) -> Result<TxtLog> {
    super::with_events(parse_single_at(buf, alg, 0)?, buf.len())
}

fn parse_single_at(buf: &[u8], alg: Option<HashAlg>, base: usize) -> Result<TxtLog> {
    let v = View::new(buf, WHAT);
    let mut off = 0;
    let bank = if has_descriptor(buf) {
        let size = v.u32(28, "EventDataSize")? as usize;
        if size < 28 {
            return Err(v.bad(
                "EventDataSize",
                base + 28,
                format!("TCG_LOG_DESCRIPTOR needs 28 bytes, record has {size}"),
            ));
        }
        let id = v.u32(32 + 20, "DigestAlgID")?;
        let a = from_txt_alg_id(id).ok_or_else(|| {
            v.bad(
                "DigestAlgID",
                base + 52,
                format!("{id} is not a TXT algorithm number (1-5)"),
            )
        })?;
        let dsize = v.u32(32 + 24, "DigestSize")? as usize;
        if dsize != a.size() {
            return Err(v.bad(
                "DigestSize",
                base + 56,
                format!("{dsize} bytes, but {a} digests are {}", a.size()),
            ));
        }
        if let Some(want) = alg
            && want != a
        {
            return Err(v.bad(
                "DigestAlgID",
                base + 52,
                format!("log is {a}, but {want} was expected"),
            ));
        }
        off = 32 + size;
        a
    } else {
        alg.unwrap_or(HashAlg::Sha1)
    };
    let n = bank.size();
    let mut events = Vec::new();
    // Padding after the last record (the rest of an allocated buffer) ends
    // the log; where it starts is found once, keeping the walk linear.
    let end = tcg::log::padding_start(buf);
    while off < end {
        let pcr = v.u32(off, "PCRIndex")?;
        let ty = v.u32(off + 4, "EventType")?;
        let digest = v.bytes(off + 8, n, "Digest")?;
        let size = v.u32(off + 8 + n, "EventDataSize")? as usize;
        let data = v.bytes(off + 12 + n, size, "EventData")?;
        let digests = BTreeMap::from([(bank, Hex(digest.to_vec()))]);
        events.push(log_event(pcr, ty, digests, data));
        off += 12 + n + size;
    }
    Ok(TxtLog {
        format: TxtLogFormat::Legacy,
        banks: vec![bank],
        events,
    })
}

/// Parse the heap-element file: `Count`, the descriptors, then the logs at
/// the file offsets the descriptors give.
pub fn parse_legacy_element(buf: &[u8]) -> Result<TxtLog> {
    let v = View::new(buf, ELEMENT);
    let count = v.u32(0, "Count")?;
    if !(1..=MAX_LOGS).contains(&count) {
        return Err(v.bad(
            "Count",
            0,
            format!("{count} logs, expected 1 to {MAX_LOGS}"),
        ));
    }
    let mut logs = Vec::new();
    for i in 0..count as usize {
        let d = 4 + i * DESCR_LEN;
        let id = v.u16(d, "HashAlgID")?;
        let alg = HashAlg::from_id(id)
            .ok_or_else(|| v.bad("HashAlgID", d, format!("{id:#06x} is not a hash algorithm")))?;
        let base = v.u64(d + 4, "PhysicalAddress")?;
        let alloc = v.u32(d + 12, "AllocatedEventContainerSize")? as u64;
        let first = v.u32(d + 16, "FirstRecordOffset")? as u64;
        let next = v.u32(d + 20, "NextRecordOffset")? as u64;
        if first > next || next > alloc {
            return Err(v.bad(
                "NextRecordOffset",
                d + 20,
                format!("records [{first:#x}, {next:#x}) do not fit the {alloc:#x}-byte buffer"),
            ));
        }
        let (start, end) = (base.saturating_add(first), base.saturating_add(next));
        if end > buf.len() as u64 {
            return Err(v.bad(
                "PhysicalAddress",
                d + 4,
                format!(
                    "log {i} ({alg}) at [{start:#x}, {end:#x}) is beyond the end of the file ({:#x})",
                    buf.len()
                ),
            ));
        }
        let (start, end) = (start as usize, end as usize);
        logs.push(parse_single_at(&buf[start..end], Some(alg), start)?);
    }
    let mut log = merge_logs(logs)?;
    log.format = TxtLogFormat::Legacy;
    Ok(log)
}

fn descriptor_record(alg: HashAlg) -> Vec<u8> {
    let mut r = Vec::with_capacity(60);
    r.extend_from_slice(&0u32.to_le_bytes());
    r.extend_from_slice(&3u32.to_le_bytes());
    r.extend_from_slice(&[0; 20]);
    r.extend_from_slice(&28u32.to_le_bytes());
    r.extend_from_slice(LOG_DESCRIPTOR_SIGNATURE);
    r.extend_from_slice(&1u32.to_le_bytes());
    r.extend_from_slice(&txt_alg_id(alg).to_le_bytes());
    r.extend_from_slice(&(alg.size() as u32).to_le_bytes());
    r
}

/// Write the log of one bank: the descriptor (not for SHA-1), then every
/// event that has a digest in `alg`.
pub fn write_legacy_single(alg: HashAlg, events: &[Event]) -> Vec<u8> {
    let mut buf = if alg == HashAlg::Sha1 {
        Vec::new()
    } else {
        descriptor_record(alg)
    };
    for e in events {
        let Some(d) = e.digests.get(&alg) else {
            continue;
        };
        buf.extend_from_slice(&e.pcr.to_le_bytes());
        buf.extend_from_slice(&e.event_type.to_le_bytes());
        buf.extend_from_slice(&d.0);
        buf.extend_from_slice(&(e.data.0.len() as u32).to_le_bytes());
        buf.extend_from_slice(&e.data.0);
    }
    buf
}

/// Write the heap-element file for `banks`: one log per bank, each buffer
/// exactly its records, placed one after another after the descriptors.
pub fn write_legacy_element(banks: &[HashAlg], events: &[Event]) -> Result<Vec<u8>> {
    if banks.is_empty() || banks.len() > MAX_LOGS as usize {
        return Err(Error::Invalid {
            what: ELEMENT,
            msg: format!("{} banks, expected 1 to {MAX_LOGS}", banks.len()),
        });
    }
    let logs: Vec<Vec<u8>> = banks
        .iter()
        .map(|&a| write_legacy_single(a, events))
        .collect();
    let mut buf = Vec::new();
    buf.extend_from_slice(&(banks.len() as u32).to_le_bytes());
    let mut at = 4 + DESCR_LEN * banks.len();
    for (a, log) in banks.iter().zip(&logs) {
        let len = u32::try_from(log.len()).map_err(|_| Error::Invalid {
            what: ELEMENT,
            msg: format!("{a} log exceeds 4 GiB"),
        })?;
        buf.extend_from_slice(&a.id().to_le_bytes());
        buf.extend_from_slice(&0u16.to_le_bytes());
        buf.extend_from_slice(&(at as u64).to_le_bytes());
        buf.extend_from_slice(&len.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        buf.extend_from_slice(&len.to_le_bytes());
        at += log.len();
    }
    for log in logs {
        buf.extend_from_slice(&log);
    }
    Ok(buf)
}
