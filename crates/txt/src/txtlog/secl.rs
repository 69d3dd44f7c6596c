//! Intel Security Libraries (SecL / ISecL) reports read as a TXT log: the
//! largest public source of real TXT launches. Neither is a TXT log; both
//! list, per bank and PCR, the events a trust agent read from the host's
//! log (names and digests, no event data).
//!
//! * A **host manifest** (JSON) also holds the PCR values the host's TPM
//!   reported (`pcr_manifest.sha1pcrs` / `sha2pcrs`). Two layouts exist:
//!   SecL v3 lists `pcr_event_log_map.SHA1[] = {pcr_index: "pcr_17",
//!   event_log: [{label, value}]}` with PCR values `{index: "pcr_17",
//!   value, pcr_bank}`; ISecL v4 and later list `{pcr: {index: 17, bank},
//!   tpm_events: [{type_id: "0x402", type_name, measurement}]}` with
//!   numeric PCR indices.
//! * A trust agent's **quote response** (XML) carries the list base64-coded
//!   in `<eventLog>` as `<module><pcrBank/><pcrNumber/><name/><value/>`; its
//!   PCR values are in the binary `<quote>` ([`crate::quote`]).
//!
//! Only PCR17-22 are read; the per-bank lists are merged into one event
//! per measurement, as the legacy per-algorithm logs are.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use tcg::HashAlg;

use super::log::{TxtLog, TxtLogFormat};
use crate::error::{Error, Result};
use crate::event::{Event, evtype};
use crate::hexser::Hex;

const MANIFEST: &str = "SecL host manifest";
const QUOTE: &str = "SecL quote";

/// A SecL report read as a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeclReport {
    /// The DRTM events (PCR17-22), merged across banks; format `Secl`.
    pub log: TxtLog,
    /// The PCR values the report carries (a manifest's `sha1pcrs` /
    /// `sha2pcrs`; empty for a quote, whose values are in `<quote>`).
    pub pcrs: tcg::PcrValues,
    /// `host_info.tpm_version` (`"2.0"`, `"1.2"`), when the report says.
    pub tpm_version: Option<String>,
    /// `host_info.host_name`, when the report says.
    pub host_name: Option<String>,
    /// What a reader should know (events outside PCR17-22 skipped, event
    /// names taken for tboot measurements).
    pub notes: Vec<String>,
}

/// The first byte that is not whitespace.
fn first_byte(buf: &[u8]) -> Option<u8> {
    buf.iter().copied().find(|c| !c.is_ascii_whitespace())
}

/// Whether `buf` is text a SecL report could be: JSON (`{`) or XML (`<`).
/// No binary TXT log starts with either (a first record for PCR 123 or
/// 60, or a legacy element of 123 or 60 logs).
pub fn is_secl(buf: &[u8]) -> bool {
    matches!(first_byte(buf), Some(b'{' | b'<'))
}

/// Whether `buf` is JSON holding a SecL host manifest (a `pcr_manifest`
/// object, or one itself).
pub fn is_manifest(buf: &[u8]) -> bool {
    first_byte(buf) == Some(b'{')
        && serde_json::from_slice::<Value>(buf).is_ok_and(|v| manifest_root(&v).is_some())
}

fn manifest_root(v: &Value) -> Option<&serde_json::Map<String, Value>> {
    let o = v.as_object()?;
    if let Some(m) = o.get("pcr_manifest").and_then(Value::as_object) {
        return Some(m);
    }
    o.contains_key("pcr_event_log_map").then_some(o)
}

/// Read a SecL host manifest (JSON) or quote response (XML).
pub fn parse_secl(buf: &[u8]) -> Result<SeclReport> {
    match first_byte(buf) {
        Some(b'{') => parse_manifest(buf),
        Some(b'<') => parse_quote_log(buf),
        _ => Err(Error::Invalid {
            what: MANIFEST,
            msg: "neither JSON (a host manifest) nor XML (a quote response)".into(),
        }),
    }
}

fn invalid(what: &'static str, msg: String) -> Error {
    Error::Invalid { what, msg }
}

/// A PCR index as either layout writes it: `"pcr_17"` or `17`.
fn pcr_index(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.strip_prefix("pcr_").unwrap_or(s).parse().ok(),
        _ => None,
    }
}

fn bank_of(name: &str) -> Option<HashAlg> {
    name.parse().ok()
}

fn digest(what: &'static str, at: &str, alg: HashAlg, hex_str: &str) -> Result<Vec<u8>> {
    match hex::decode(hex_str.trim()) {
        Ok(d) if d.len() == alg.size() => Ok(d),
        _ => Err(invalid(
            what,
            format!(
                "{at}: {hex_str:?} is not a {}-byte {} digest in hex",
                alg.size(),
                alg.name()
            ),
        )),
    }
}

/// The event type a SecL name stands for: the MLE Developer's Guide name
/// of a SINIT event, else a tboot measurement (tboot names its events
/// `tb_policy` and after the modules).
fn type_of(name: &str) -> Option<u32> {
    (evtype::PCR_MAPPING..=evtype::TB_MEASUREMENT)
        .find(|&t| evtype::name(t) != "UNKNOWN" && evtype::name(t) == name)
}

/// An event as a report lists it: type, name, digest.
type Listed = (u32, String, Vec<u8>);

/// One bank's events of one PCR, in report order.
struct BankList {
    alg: HashAlg,
    pcr: u32,
    events: Vec<Listed>,
}

fn parse_manifest(buf: &[u8]) -> Result<SeclReport> {
    let v: Value = serde_json::from_slice(buf).map_err(|e| {
        invalid(
            MANIFEST,
            format!(
                "starts with '{{' but is not JSON (line {} column {}: {e}); a TXT log never \
                 starts with '{{'",
                e.line(),
                e.column()
            ),
        )
    })?;
    let Some(m) = manifest_root(&v) else {
        let keys = v
            .as_object()
            .map(|o| o.keys().take(8).cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        return Err(invalid(
            MANIFEST,
            format!(
                "JSON, but not an Intel SecL host manifest: no pcr_manifest.pcr_event_log_map \
                 (top-level keys: {})",
                if keys.is_empty() { "none" } else { &keys }
            ),
        ));
    };
    let map = m
        .get("pcr_event_log_map")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            invalid(
                MANIFEST,
                "pcr_manifest has no pcr_event_log_map object (the DRTM event lists)".into(),
            )
        })?;
    let mut lists = Vec::new();
    let mut notes = Vec::new();
    let mut skipped: BTreeMap<u32, usize> = BTreeMap::new();
    for (bank_name, entries) in map {
        let at = format!("pcr_event_log_map.{bank_name}");
        let alg = bank_of(bank_name)
            .ok_or_else(|| invalid(MANIFEST, format!("{at}: unknown bank {bank_name:?}")))?;
        let entries = entries
            .as_array()
            .ok_or_else(|| invalid(MANIFEST, format!("{at} is not a list")))?;
        for (i, e) in entries.iter().enumerate() {
            let at = format!("{at}[{i}]");
            let (pcr, bank, list) = if let Some(p) = e.get("pcr") {
                (p.get("index"), p.get("bank"), e.get("tpm_events"))
            } else {
                (e.get("pcr_index"), e.get("pcr_bank"), e.get("event_log"))
            };
            let pcr = pcr
                .and_then(pcr_index)
                .ok_or_else(|| invalid(MANIFEST, format!("{at}: no PCR index")))?;
            if let Some(b) = bank.and_then(Value::as_str)
                && bank_of(b) != Some(alg)
            {
                return Err(invalid(
                    MANIFEST,
                    format!("{at}: bank {b:?} listed under {bank_name:?}"),
                ));
            }
            let list = list
                .and_then(Value::as_array)
                .ok_or_else(|| invalid(MANIFEST, format!("{at} (PCR {pcr}): no event list")))?;
            if !(17..=22).contains(&pcr) {
                *skipped.entry(pcr).or_default() += list.len();
                continue;
            }
            let mut events = Vec::with_capacity(list.len());
            for (j, ev) in list.iter().enumerate() {
                let at = format!("{at} (PCR {pcr}) event {j}");
                let str_field = |k: &str| ev.get(k).and_then(Value::as_str).map(str::to_string);
                let name = str_field("label")
                    .or_else(|| str_field("type_name"))
                    .or_else(|| {
                        ev.get("tags")
                            .and_then(|t| t.get(0))
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .unwrap_or_default();
                let value = str_field("value")
                    .or_else(|| str_field("measurement"))
                    .ok_or_else(|| invalid(MANIFEST, format!("{at}: no value or measurement")))?;
                let d = digest(MANIFEST, &at, alg, &value)?;
                let ty = match str_field("type_id") {
                    Some(t) => u32::from_str_radix(t.trim_start_matches("0x"), 16)
                        .map_err(|_| invalid(MANIFEST, format!("{at}: type_id {t:?}")))?,
                    None => type_of(&name).unwrap_or(evtype::TB_MEASUREMENT),
                };
                events.push((ty, named(ty, name), d));
            }
            lists.push(BankList { alg, pcr, events });
        }
    }
    for (pcr, n) in skipped {
        notes.push(format!("PCR {pcr}: {n} events skipped (not a DRTM PCR)"));
    }
    let mut pcrs = tcg::PcrValues::default();
    let mut seen_values = false;
    for key in ["sha1pcrs", "sha2pcrs", "pcrs"] {
        let Some(list) = m.get(key) else { continue };
        if key == "pcrs" && seen_values {
            break;
        }
        let list = list
            .as_array()
            .ok_or_else(|| invalid(MANIFEST, format!("pcr_manifest.{key} is not a list")))?;
        for (i, p) in list.iter().enumerate() {
            let at = format!("pcr_manifest.{key}[{i}]");
            let pcr = p
                .get("index")
                .and_then(pcr_index)
                .ok_or_else(|| invalid(MANIFEST, format!("{at}: no PCR index")))?;
            let bank = p
                .get("pcr_bank")
                .or_else(|| p.get("bank"))
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(MANIFEST, format!("{at}: no pcr_bank")))?;
            let alg = bank_of(bank)
                .ok_or_else(|| invalid(MANIFEST, format!("{at}: unknown bank {bank:?}")))?;
            let value = p
                .get("value")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(MANIFEST, format!("{at}: no value")))?;
            pcrs.insert(alg, pcr, digest(MANIFEST, &at, alg, value)?);
            seen_values = true;
        }
    }
    let host = v.get("host_info");
    let host_str = |k: &str| {
        host.and_then(|h| h.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Ok(SeclReport {
        log: merge(MANIFEST, lists, &mut notes)?,
        pcrs,
        tpm_version: host_str("tpm_version"),
        host_name: host_str("host_name"),
        notes,
    })
}

/// The text of the first `<tag>…</tag>` in `s` from `from`, and where it ends.
fn element<'a>(s: &'a str, tag: &str, from: usize) -> Option<(&'a str, usize)> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let a = from + s[from..].find(&open)? + open.len();
    let b = a + s[a..].find(&close)?;
    Some((&s[a..b], b + close.len()))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn parse_quote_log(buf: &[u8]) -> Result<SeclReport> {
    use base64::Engine;
    let text = std::str::from_utf8(buf)
        .map_err(|e| invalid(QUOTE, format!("XML that is not UTF-8 ({e})")))?;
    let (b64, _) = element(text, "eventLog", 0).ok_or_else(|| {
        invalid(
            QUOTE,
            "XML, but not an Intel SecL quote response with an event log: no <eventLog>".into(),
        )
    })?;
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let log = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| invalid(QUOTE, format!("<eventLog> is not base64 ({e})")))?;
    let log = String::from_utf8(log)
        .map_err(|e| invalid(QUOTE, format!("<eventLog> is not UTF-8 text ({e})")))?;
    let mut per: BTreeMap<(u32, HashAlg), Vec<Listed>> = BTreeMap::new();
    let mut skipped: BTreeMap<u32, usize> = BTreeMap::new();
    let mut pos = 0;
    let mut n = 0;
    while let Some((m, end)) = element(&log, "module", pos) {
        pos = end;
        let at = format!("<eventLog> module {n}");
        n += 1;
        let field = |t: &str| {
            element(m, t, 0)
                .map(|(v, _)| unescape(v.trim()))
                .ok_or_else(|| invalid(QUOTE, format!("{at}: no <{t}>")))
        };
        let bank = field("pcrBank")?;
        let alg =
            bank_of(&bank).ok_or_else(|| invalid(QUOTE, format!("{at}: unknown bank {bank:?}")))?;
        let pcr_s = field("pcrNumber")?;
        let pcr: u32 = pcr_s
            .parse()
            .map_err(|_| invalid(QUOTE, format!("{at}: pcrNumber {pcr_s:?}")))?;
        if !(17..=22).contains(&pcr) {
            *skipped.entry(pcr).or_default() += 1;
            continue;
        }
        let name = field("name")?;
        let d = digest(QUOTE, &at, alg, &field("value")?)?;
        let ty = type_of(&name).unwrap_or(evtype::TB_MEASUREMENT);
        per.entry((pcr, alg))
            .or_default()
            .push((ty, named(ty, name), d));
    }
    let mut notes: Vec<String> = skipped
        .into_iter()
        .map(|(pcr, n)| format!("PCR {pcr}: {n} events skipped (not a DRTM PCR)"))
        .collect();
    let lists = per
        .into_iter()
        .map(|((pcr, alg), events)| BankList { alg, pcr, events })
        .collect();
    Ok(SeclReport {
        log: merge(QUOTE, lists, &mut notes)?,
        pcrs: tcg::PcrValues::default(),
        tpm_version: None,
        host_name: None,
        notes,
    })
}

/// One event per measurement: per PCR, the k-th event of a given type and
/// name in one bank is the k-th of that type and name in another, when
/// that keeps both banks in order; the rest stay single-bank events, in
/// their bank's order (which is all a replay needs). Linear in the events.
fn merge(what: &'static str, lists: Vec<BankList>, notes: &mut Vec<String>) -> Result<TxtLog> {
    let mut banks: Vec<HashAlg> = Vec::new();
    let mut by_pcr: BTreeMap<u32, Vec<BankList>> = BTreeMap::new();
    for l in lists {
        if !banks.contains(&l.alg) {
            banks.push(l.alg);
        }
        by_pcr.entry(l.pcr).or_default().push(l);
    }
    if by_pcr
        .values()
        .all(|v| v.iter().all(|l| l.events.is_empty()))
    {
        return Err(invalid(
            what,
            "no PCR17-22 events: the host did not run a TXT launch, or its agent did not \
             report the TXT log"
                .into(),
        ));
    }
    banks.sort();
    let mut events = Vec::new();
    let mut named_tboot = Vec::new();
    for (pcr, lists) in by_pcr {
        let mut merged: Vec<Event> = Vec::new();
        for l in lists {
            if merged.iter().any(|e| e.digests.contains_key(&l.alg)) {
                return Err(invalid(
                    what,
                    format!("PCR {pcr} has two {} event lists", l.alg.name()),
                ));
            }
            // (type, name, occurrence) -> index in `merged`.
            let mut index: HashMap<(u32, &str, usize), usize> = HashMap::new();
            let mut count: HashMap<(u32, &str), usize> = HashMap::new();
            for (i, e) in merged.iter().enumerate() {
                let c = count.entry((e.event_type, &e.name)).or_default();
                index.insert((e.event_type, &e.name, *c), i);
                *c += 1;
            }
            let mut seen: HashMap<(u32, &str), usize> = HashMap::new();
            let mut paired: Vec<Option<Hex>> = vec![None; merged.len()];
            // New events, each after `Some(i)` (merged index) or first.
            let mut inserts: Vec<(Option<usize>, Event)> = Vec::new();
            let mut last: Option<usize> = None;
            for (ty, name, d) in &l.events {
                let c = seen.entry((*ty, name.as_str())).or_default();
                let hit = index.get(&(*ty, name.as_str(), *c)).copied();
                *c += 1;
                match hit {
                    Some(i) if last.is_none_or(|p| i > p) => {
                        paired[i] = Some(Hex(d.clone()));
                        last = Some(i);
                    }
                    _ => inserts.push((last, sec_event(pcr, *ty, name, l.alg, d))),
                }
            }
            let mut next = Vec::with_capacity(merged.len() + inserts.len());
            let mut ins = inserts.into_iter().peekable();
            while let Some((None, _)) = ins.peek() {
                next.push(ins.next().expect("peeked").1);
            }
            for (i, (mut e, p)) in merged.into_iter().zip(paired).enumerate() {
                if let Some(d) = p {
                    e.digests.insert(l.alg, d);
                }
                next.push(e);
                while let Some((Some(a), _)) = ins.peek() {
                    if *a != i {
                        break;
                    }
                    next.push(ins.next().expect("peeked").1);
                }
            }
            merged = next;
        }
        for e in &merged {
            if e.event_type == evtype::TB_MEASUREMENT && !named_tboot.contains(&e.name) {
                named_tboot.push(e.name.clone());
            }
        }
        events.extend(merged);
    }
    if !named_tboot.is_empty() {
        notes.push(format!(
            "taken for tboot measurements (0x501): {}",
            named_tboot.join(", ")
        ));
    }
    Ok(TxtLog {
        format: TxtLogFormat::Secl,
        banks,
        events,
    })
}

/// An event's name: the report's, else its type's.
fn named(ty: u32, name: String) -> String {
    if name.is_empty() {
        evtype::name(ty).to_string()
    } else {
        name
    }
}

fn sec_event(pcr: u32, ty: u32, name: &str, alg: HashAlg, d: &[u8]) -> Event {
    Event {
        pcr,
        event_type: ty,
        name: name.to_string(),
        digests: [(alg, Hex(d.to_vec()))].into_iter().collect(),
        data: Hex::default(),
        source: "secl".into(),
    }
}
