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
pub fn parse(buf: &[u8], alg: Option<HashAlg>) -> Result<TxtLog> {
    match detect(buf) {
        TxtLogFormat::Container => parse_container(buf),
        TxtLogFormat::Agile => parse_agile(buf),
        TxtLogFormat::Legacy if legacy::looks_like_element(buf) => parse_legacy_element(buf),
        TxtLogFormat::Legacy => parse_legacy_single(buf, alg),
    }
}

/// Parse several per-algorithm legacy logs (one file each) into one log.
pub fn parse_legacy_files(files: &[(Vec<u8>, Option<HashAlg>)]) -> Result<TxtLog> {
    let mut logs = Vec::new();
    for (b, a) in files {
        logs.push(parse_legacy_single(b, *a)?);
    }
    merge_logs(logs)
}

/// The most events by which per-bank logs may differ, past their common
/// start and end, and still be merged (logs of one launch differ in none;
/// a bank whose buffer filled up early only lacks a tail, which is free).
pub const MAX_BANK_DIFFERENCE: usize = 1000;

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
        let events = merge_events(acc.events, log.events).ok_or_else(|| Error::Invalid {
            what: "TXT legacy log",
            msg: format!(
                "the {} log differs from the {} log in more than {MAX_BANK_DIFFERENCE} events: \
                 they are not logs of one launch",
                log.banks
                    .iter()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join("/"),
                acc.banks[0]
            ),
        })?;
        acc.events = events;
    }
    Ok(acc)
}

/// Merge two event lists along a shortest edit script between them (so a
/// longest common subsequence of measurements); unmatched events keep their
/// order, the first list's before the second's where both have some.
///
/// Linear in the lists' sizes for the differences logs really have: the
/// common start and end are matched directly, and the middle by Myers'
/// O((n+m)·D) algorithm with D at most [`MAX_BANK_DIFFERENCE`] (`None` past
/// it). Events are compared by a digest of their measurement, computed once.
fn merge_events(a: Vec<Event>, b: Vec<Event>) -> Option<Vec<Event>> {
    let mut ids = std::collections::HashMap::new();
    let mut id = |e: &Event| -> u32 {
        let mut h = HashAlg::Sha256.hasher();
        h.update(&e.pcr.to_le_bytes());
        h.update(&e.event_type.to_le_bytes());
        h.update(&e.data.0);
        let key = h.finalize();
        let next = ids.len() as u32;
        *ids.entry(key).or_insert(next)
    };
    let ka: Vec<u32> = a.iter().map(&mut id).collect();
    let kb: Vec<u32> = b.iter().map(&mut id).collect();
    let ops = edit_script(&ka, &kb, MAX_BANK_DIFFERENCE)?;
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    let mut out = Vec::with_capacity(ka.len().max(kb.len()));
    let mut only_b = Vec::new();
    for op in ops {
        match op {
            Op::Both => {
                out.append(&mut only_b);
                let (mut e, f) = (a.next()?, b.next()?);
                e.digests.extend(f.digests);
                out.push(e);
            }
            Op::OnlyA => out.push(a.next()?),
            Op::OnlyB => only_b.push(b.next()?),
        }
    }
    out.append(&mut only_b);
    Some(out)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Both,
    OnlyA,
    OnlyB,
}

/// A shortest edit script from `a` to `b` with at most `max_d` insertions
/// and deletions, in order; `None` when more are needed.
fn edit_script(a: &[u32], b: &[u32], max_d: usize) -> Option<Vec<Op>> {
    let pre = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a_mid, b_mid) = (&a[pre..], &b[pre..]);
    let suf = a_mid
        .iter()
        .rev()
        .zip(b_mid.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a_mid, b_mid) = (&a_mid[..a_mid.len() - suf], &b_mid[..b_mid.len() - suf]);
    let mut ops = vec![Op::Both; pre];
    if a_mid.is_empty() || b_mid.is_empty() {
        ops.extend(std::iter::repeat_n(Op::OnlyA, a_mid.len()));
        ops.extend(std::iter::repeat_n(Op::OnlyB, b_mid.len()));
    } else {
        ops.extend(myers(a_mid, b_mid, max_d)?);
    }
    ops.extend(std::iter::repeat_n(Op::Both, suf));
    Some(ops)
}

/// Myers' greedy shortest edit script, keeping each round's frontier for
/// the walk back (memory O(D²), D ≤ `max_d`).
fn myers(a: &[u32], b: &[u32], max_d: usize) -> Option<Vec<Op>> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max = (a.len() + b.len()).min(max_d) as isize;
    // v[k + off]: the furthest x reached on diagonal k = x - y.
    let off = max + 1;
    let mut v = vec![0isize; 2 * max as usize + 3];
    let mut trace: Vec<Vec<isize>> = Vec::new();
    let mut found = None;
    'rounds: for d in 0..=max {
        // What round d reads: diagonals -d-1 ..= d+1 as left by round d-1.
        trace.push(v[(off - d - 1) as usize..=(off + d + 1) as usize].to_vec());
        for k in (-d..=d).step_by(2) {
            let down = k == -d || (k != d && v[(off + k - 1) as usize] < v[(off + k + 1) as usize]);
            let mut x = if down {
                v[(off + k + 1) as usize]
            } else {
                v[(off + k - 1) as usize] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[(off + k) as usize] = x;
            if x >= n && y >= m {
                found = Some(d);
                break 'rounds;
            }
        }
    }
    found?;
    let mut ops = Vec::new();
    let (mut x, mut y) = (n, m);
    for (d, v) in trace.iter().enumerate().rev() {
        let d = d as isize;
        // `v` holds diagonals -d-1 ..= d+1.
        let at = |k: isize| v[(k + d + 1) as usize];
        let k = x - y;
        let prev_k = if k == -d || (k != d && at(k - 1) < at(k + 1)) {
            k + 1
        } else {
            k - 1
        };
        let prev_x = at(prev_k);
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            ops.push(Op::Both);
            x -= 1;
            y -= 1;
        }
        if d > 0 {
            ops.push(if x == prev_x { Op::OnlyB } else { Op::OnlyA });
        }
        (x, y) = (prev_x, prev_y);
    }
    ops.reverse();
    Some(ops)
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
