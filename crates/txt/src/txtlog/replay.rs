//! Replaying a TXT log into PCR17-22, with the two ways platforms log the
//! HASH_START (0x402) event (spec §3.4, §11.1).
//!
//! The TPM itself always does `PCR17 = H(0 ‖ H(data))` where `data` is
//! `SinitHash ‖ EDX`. What the SINIT writes into the event's digest field
//! differs: the MLE DG says `H(data)` (so a replay extends it like any
//! event), but some platforms log the *resulting PCR value*
//! `H(0 ‖ H(data))` (so a replay must set PCR17 to it, not extend it).

use std::collections::BTreeMap;

use serde::Serialize;
use tcg::HashAlg;

use crate::event::{Event, PcrValues};
use crate::event::{evtype, extend};
use crate::hexser::Hex;

/// How to treat the HASH_START event's digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashStartMode {
    /// Recompute `H(data)` from the event data when it has any (what the
    /// TPM did, whichever way the digest was logged); else as `Extend`.
    #[default]
    Auto,
    /// The digest is `H(data)`: extend it (MLE DG).
    Extend,
    /// The digest is the resulting PCR17: set PCR17 to it.
    Set,
}

/// What the logged HASH_START digest turned out to be, per bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HashStartForm {
    /// `H(data)`, as the MLE DG specifies.
    DigestOfData,
    /// `H(0 ‖ H(data))`: the PCR value after the extend.
    ResultingPcr,
    /// Neither (data and digest disagree).
    Neither,
    /// The event has no data to check against.
    NoData,
}

/// The result of a replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TxtReplay {
    /// PCR → bank → value, for PCR17-19 always and 20-22 when extended.
    pub pcrs: PcrValues,
    /// The HASH_START form found in each bank (empty if no such event).
    pub hash_start: BTreeMap<HashAlg, HashStartForm>,
}

/// Classify a logged HASH_START digest against its data.
pub fn hash_start_form(alg: HashAlg, digest: &[u8], data: &[u8]) -> HashStartForm {
    if data.is_empty() {
        return HashStartForm::NoData;
    }
    let d = alg.digest(data);
    if digest == d.as_slice() {
        HashStartForm::DigestOfData
    } else if digest == extend(alg, &alg.zeros(), &d).as_slice() {
        HashStartForm::ResultingPcr
    } else {
        HashStartForm::Neither
    }
}

/// Replay `events` into `banks` from the DRTM reset value (zeros).
pub fn replay_log(events: &[Event], banks: &[HashAlg], mode: HashStartMode) -> TxtReplay {
    let zero_bank =
        || -> BTreeMap<HashAlg, Hex> { banks.iter().map(|&b| (b, Hex(b.zeros()))).collect() };
    let mut pcrs: PcrValues = (17..=19).map(|p| (p, zero_bank())).collect();
    let mut hash_start = BTreeMap::new();
    for e in events.iter().filter(|e| (17..=22).contains(&e.pcr)) {
        let vals = pcrs.entry(e.pcr).or_insert_with(zero_bank);
        for (alg, d) in &e.digests {
            let Some(v) = vals.get_mut(alg) else { continue };
            if e.event_type != evtype::HASH_START {
                v.0 = extend(*alg, &v.0, &d.0);
                continue;
            }
            hash_start.insert(*alg, hash_start_form(*alg, &d.0, &e.data.0));
            v.0 = match mode {
                HashStartMode::Auto if !e.data.0.is_empty() => {
                    extend(*alg, &v.0, &alg.digest(&e.data.0))
                }
                HashStartMode::Auto | HashStartMode::Extend => extend(*alg, &v.0, &d.0),
                HashStartMode::Set => d.0.clone(),
            };
        }
    }
    TxtReplay { pcrs, hash_start }
}

/// Rewrite HASH_START digests the second way (the resulting PCR value), as
/// some platforms log them; used to write such logs for tests.
pub fn log_hash_start_as_resulting_pcr(events: &mut [Event]) {
    for e in events
        .iter_mut()
        .filter(|e| e.event_type == evtype::HASH_START)
    {
        for (alg, d) in e.digests.iter_mut() {
            d.0 = extend(*alg, &alg.zeros(), &d.0);
        }
    }
}
