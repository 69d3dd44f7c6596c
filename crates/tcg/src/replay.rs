//! Replaying an event log into PCR banks, with the firmware quirks real logs need.

use std::collections::BTreeMap;

use crate::alg::HashAlg;
use crate::log::{Event, EventLog, EventType};
use crate::pcr::{DRTM_PCRS, PCR_COUNT, PcrBanks};

/// A replay rule that changed the result, named so reports can say which applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quirk {
    /// EV_NO_ACTION events were skipped (they never extend).
    NoActionNotExtended,
    /// A StartupLocality event set PCR0's starting value to the locality.
    StartupLocality,
    /// An EV_EFI_HCRTM_EVENT meant PCR0 was reset to locality 4 by the H-CRTM sequence.
    HCrtm,
    /// Events on DRTM PCRs (17-22): they start from zero after the dynamic launch.
    DrtmReset,
    /// Events whose PCR index is beyond 23 were ignored.
    PcrOutOfRange,
    /// Digests of algorithms we cannot compute were skipped.
    UnknownAlgorithmSkipped,
}

impl Quirk {
    /// The quirk's name as printed.
    pub fn name(self) -> &'static str {
        match self {
            Quirk::NoActionNotExtended => "no-action-not-extended",
            Quirk::StartupLocality => "startup-locality",
            Quirk::HCrtm => "h-crtm",
            Quirk::DrtmReset => "drtm-reset",
            Quirk::PcrOutOfRange => "pcr-out-of-range",
            Quirk::UnknownAlgorithmSkipped => "unknown-algorithm-skipped",
        }
    }
}

/// One application of a quirk, with the event that triggered it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AppliedQuirk {
    /// Which rule.
    pub quirk: Quirk,
    /// The event index that triggered it.
    pub event: usize,
    /// Details (e.g. the locality).
    pub detail: String,
}

/// An event whose digest is not the hash of its data, for an event type where it must be.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DigestMismatch {
    /// Event index.
    pub event: usize,
    /// Byte offset of the event.
    pub offset: usize,
    /// PCR index.
    pub pcr: u32,
    /// Event type.
    pub event_type: EventType,
    /// The bank whose digest differs.
    pub alg: HashAlg,
    /// The digest in the log.
    #[serde(with = "crate::log::hex_bytes")]
    pub logged: Vec<u8>,
    /// The hash of the event data.
    #[serde(with = "crate::log::hex_bytes")]
    pub computed: Vec<u8>,
}

/// A PCR's value before its first extend, then `(event index, value after)` per extend.
pub type PcrHistory = (Vec<u8>, Vec<(usize, Vec<u8>)>);

/// The result of replaying a log.
#[derive(Clone, Debug)]
pub struct Replay {
    /// The final PCR values of every bank.
    pub banks: PcrBanks,
    /// For each PCR, the indices of the events that extended it.
    pub extended_by: BTreeMap<u32, Vec<usize>>,
    /// Quirks applied (each kind once, at its first trigger, except per-locality details).
    pub quirks: Vec<AppliedQuirk>,
    /// Events whose digest does not match their payload.
    pub mismatches: Vec<DigestMismatch>,
    /// For each bank and PCR: the value before the first extend, then `(event, value after)`.
    pub history: BTreeMap<(HashAlg, u32), PcrHistory>,
    /// Banks the header declares but no event carries a digest for: their values are
    /// only start values, never evidence of anything.
    pub banks_without_events: Vec<HashAlg>,
}

impl Replay {
    /// The PCRs the log extended, ascending.
    pub fn pcrs(&self) -> Vec<u32> {
        self.extended_by.keys().copied().collect()
    }

    /// The replayed value of `pcr` in `alg`.
    pub fn value(&self, alg: HashAlg, pcr: u32) -> Option<&[u8]> {
        if pcr as usize >= PCR_COUNT {
            return None;
        }
        self.banks.bank(alg).map(|b| b.get(pcr as usize))
    }

    /// Whether a quirk was applied.
    pub fn applied(&self, q: Quirk) -> bool {
        self.quirks.iter().any(|a| a.quirk == q)
    }
}

/// Whether the event type's digest is, by specification, the hash of the event data.
pub fn payload_is_hashed(ty: EventType) -> bool {
    use EventType as T;
    matches!(
        ty,
        T::Separator
            | T::Action
            | T::EfiAction
            | T::SCrtmVersion
            | T::EfiVariableDriverConfig
            | T::EfiVariableBoot
            | T::EfiVariableBoot2
            | T::EfiGptEvent
    )
}

/// systemd-boot's EV_IPL: a UCS-2 string whose digest must be its hash. GRUB's and shim's
/// EV_IPL digests are of files or stripped commands, so other EV_IPLs are not checked.
fn is_ucs2_ipl(ev: &Event) -> bool {
    ev.event_type == EventType::Ipl
        && ev.data.len() >= 4
        && ev.data[1] == 0
        && ev.data[3] == 0
        && ev.data[0] != 0
}

/// `None` when `logged` is a digest of the event's payload in a form firmware
/// produces, else the digest of the whole payload (for the report).
fn payload_matches(ev: &Event, alg: HashAlg, logged: &[u8], sha1_log: bool) -> Option<Vec<u8>> {
    let full = alg.digest(&ev.data);
    if full == logged {
        return None;
    }
    // Text events are often hashed without their terminating NUL (GRUB, shim).
    let trimmed = ev.data.strip_suffix(&[0]).unwrap_or(&ev.data);
    if trimmed.len() != ev.data.len() && alg.digest(trimmed) == logged {
        return None;
    }
    // Variable events whose digest is of VariableData alone: EDK2's boot variables
    // (both forms are accepted), and every variable of a TPM 1.2 (SHA1-format) log:
    // the TCG EFI Platform spec for TPM 1.2 predates the rule that the digest covers
    // the whole UEFI_VARIABLE_DATA, and tpm2_eventlog checks no digest of such a log.
    // In a crypto-agile log, EV_EFI_VARIABLE_DRIVER_CONFIG must hash the whole
    // structure, as tpm2_eventlog and the PC Client PFP require.
    let data_only_allowed = matches!(
        ev.event_type,
        EventType::EfiVariableBoot | EventType::EfiVariableBoot2
    ) || (sha1_log && ev.event_type == EventType::EfiVariableDriverConfig);
    if data_only_allowed && ev.data.len() >= 32 {
        let nlen = u64::from_le_bytes(ev.data[16..24].try_into().expect("8 bytes")) as usize;
        if let Some(var) = nlen
            .checked_mul(2)
            .and_then(|n| n.checked_add(32))
            .and_then(|s| ev.data.get(s..))
            && alg.digest(var) == logged
        {
            return None;
        }
    }
    Some(full)
}

/// Which replay rules to honour; the default honours all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Let a StartupLocality event set PCR0's start value (tpm2-tools before 5.5 ignore it).
    pub startup_locality: bool,
    /// Reset PCR0 to locality 4 on an H-CRTM event.
    pub hcrtm: bool,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            startup_locality: true,
            hcrtm: true,
        }
    }
}

/// Replay `log` into fresh power-on banks for every algorithm the log carries.
pub fn replay(log: &EventLog) -> Replay {
    replay_with(log, ReplayOptions::default())
}

/// Replay with some rules switched off (to compare with tools that lack them).
pub fn replay_with(log: &EventLog, opts: ReplayOptions) -> Replay {
    let algs = log.banks();
    let mut banks = PcrBanks::at_power_on(&algs);
    let mut out = Replay {
        banks: PcrBanks::default(),
        extended_by: BTreeMap::new(),
        quirks: Vec::new(),
        mismatches: Vec::new(),
        history: BTreeMap::new(),
        banks_without_events: Vec::new(),
    };
    let sha1_log = log.format == crate::log::LogFormat::Sha1;
    let mut carried: std::collections::BTreeSet<HashAlg> = Default::default();
    let note = |quirks: &mut Vec<AppliedQuirk>, quirk: Quirk, event: usize, detail: String| {
        if !quirks.iter().any(|q| q.quirk == quirk) {
            quirks.push(AppliedQuirk {
                quirk,
                event,
                detail,
            });
        }
    };
    let mut drtm_started = false;
    let mut pcr0_extended = false;
    let skip_header = log.spec_id.is_some();
    for ev in &log.events {
        if skip_header && ev.index == 0 {
            continue;
        }
        if ev.event_type == EventType::NoAction {
            if ev.pcr == 0
                && opts.startup_locality
                && !pcr0_extended
                && let Some(rest) = ev.data.strip_prefix(b"StartupLocality\0")
                && let Some(&loc) = rest.first()
            {
                banks.reset_to_locality(0, loc);
                note(
                    &mut out.quirks,
                    Quirk::StartupLocality,
                    ev.index,
                    format!("PCR0 starts at locality {loc}"),
                );
            } else {
                note(
                    &mut out.quirks,
                    Quirk::NoActionNotExtended,
                    ev.index,
                    String::new(),
                );
            }
            continue;
        }
        let pcr = ev.pcr as usize;
        if pcr >= PCR_COUNT {
            note(
                &mut out.quirks,
                Quirk::PcrOutOfRange,
                ev.index,
                format!("PCR{pcr}"),
            );
            continue;
        }
        if pcr == 0 && ev.event_type == EventType::EfiHcrtmEvent && opts.hcrtm && !pcr0_extended {
            banks.reset_to_locality(0, 4);
            note(
                &mut out.quirks,
                Quirk::HCrtm,
                ev.index,
                "PCR0 reset to locality 4".into(),
            );
        }
        if DRTM_PCRS.contains(&pcr) && !drtm_started {
            drtm_started = true;
            for p in DRTM_PCRS {
                banks.reset_to_locality(p, 0);
            }
            note(
                &mut out.quirks,
                Quirk::DrtmReset,
                ev.index,
                "PCR17-22 start from zero".into(),
            );
        }
        if pcr == 0 {
            pcr0_extended = true;
        }
        for d in &ev.digests {
            let Some(alg) = d.alg else {
                note(
                    &mut out.quirks,
                    Quirk::UnknownAlgorithmSkipped,
                    ev.index,
                    format!("algorithm 0x{:04x}", d.alg_id),
                );
                continue;
            };
            carried.insert(alg);
            let Some(bank) = banks.bank_mut(alg) else {
                continue;
            };
            let before = bank.get(pcr).to_vec();
            bank.extend(pcr, &d.digest);
            out.history
                .entry((alg, ev.pcr))
                .or_insert_with(|| (before, Vec::new()))
                .1
                .push((ev.index, bank.get(pcr).to_vec()));
            if (payload_is_hashed(ev.event_type) || is_ucs2_ipl(ev))
                && let Some(computed) = payload_matches(ev, alg, &d.digest, sha1_log)
            {
                out.mismatches.push(DigestMismatch {
                    event: ev.index,
                    offset: ev.offset,
                    pcr: ev.pcr,
                    event_type: ev.event_type,
                    alg,
                    logged: d.digest.clone(),
                    computed,
                });
            }
        }
        out.extended_by.entry(ev.pcr).or_default().push(ev.index);
    }
    out.banks_without_events = algs
        .iter()
        .copied()
        .filter(|a| !carried.contains(a))
        .collect();
    out.banks = banks;
    out
}
