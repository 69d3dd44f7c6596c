//! Building predicted events: digests in every bank, digests captured from
//! system A, and fixed-size values from the profile.

use std::collections::BTreeMap;

use tcg::HashAlg;

use crate::error::{Error, Result};
use crate::event::Event;
use crate::hexser::Hex;
use crate::profile::CapturedDigests;

pub(crate) fn all_banks(banks: &[HashAlg], data: &[u8]) -> BTreeMap<HashAlg, Hex> {
    banks.iter().map(|&b| (b, Hex(b.digest(data)))).collect()
}

pub(crate) fn captured(
    map: &CapturedDigests,
    banks: &[HashAlg],
    field: &'static str,
) -> Result<BTreeMap<HashAlg, Hex>> {
    banks
        .iter()
        .map(|&b| {
            let s = map.get(&b).ok_or_else(|| Error::Invalid {
                what: "profile",
                msg: format!("{field} has no {b} digest (capture it from system A's TXT log)"),
            })?;
            let d = hex::decode(s.trim()).map_err(|e| Error::Invalid {
                what: "profile",
                msg: format!("{field}.{b}: not hex: {e}"),
            })?;
            if d.len() != b.size() {
                return Err(Error::Invalid {
                    what: "profile",
                    msg: format!("{field}.{b}: {} bytes, expected {}", d.len(), b.size()),
                });
            }
            Ok((b, Hex(d)))
        })
        .collect()
}

/// Digests of `bytes` in every bank, unless digests captured from system A
/// replace them (then the event carries no data).
pub(crate) fn measured_or_captured<'a>(
    banks: &[HashAlg],
    bytes: &'a [u8],
    map: &CapturedDigests,
    field: &'static str,
) -> Result<(BTreeMap<HashAlg, Hex>, &'a [u8])> {
    if map.is_empty() {
        Ok((all_banks(banks, bytes), bytes))
    } else {
        Ok((captured(map, banks, field)?, &[]))
    }
}

pub(crate) fn ev(
    pcr: u32,
    event_type: u32,
    name: &str,
    digests: BTreeMap<HashAlg, Hex>,
    data: &[u8],
    source: &str,
) -> Event {
    Event {
        pcr,
        event_type,
        name: name.to_string(),
        digests,
        data: Hex(data.to_vec()),
        source: source.to_string(),
    }
}

pub(crate) fn fixed20(v: &Option<Vec<u8>>, field: &'static str) -> Result<[u8; 20]> {
    match v {
        None => Ok([0; 20]),
        Some(b) => b.as_slice().try_into().map_err(|_| Error::Invalid {
            what: "profile",
            msg: format!("{field} must be 20 bytes, has {}", b.len()),
        }),
    }
}
