//! The normalised form every TXT log format is read into and written from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tcg::HashAlg;

use crate::event::{Event, evtype};
use crate::hexser::Hex;

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
    /// Not a TXT log: the DRTM events an Intel SecL host manifest or quote
    /// lists (digests per bank, no event data). Read, never written.
    Secl,
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
