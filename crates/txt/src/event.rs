//! The shared vocabulary of the crate: a measurement event, the TXT event
//! types, the PCR values events produce and the extend that produces them.
//! Everything else (parsers, capture, prediction) builds on these.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tcg::HashAlg;

use crate::hexser::Hex;

/// `EVTYPE_*` values of the TXT event log (MLE DG Appendix G; spec §7.4).
pub mod evtype {
    /// PCR mapping marker (not extended).
    pub const PCR_MAPPING: u32 = 0x401;
    /// SINIT measurement.
    pub const HASH_START: u32 = 0x402;
    /// TPM 1.2 legacy combined hash.
    pub const COMBINED_HASH: u32 = 0x403;
    /// MLE measurement.
    pub const MLE_HASH: u32 = 0x404;
    /// BIOS ACM register data.
    pub const BIOSAC_REG_DATA: u32 = 0x40a;
    /// Processor S-CRTM status.
    pub const CPU_SCRTM_STAT: u32 = 0x40b;
    /// LCP policy control.
    pub const LCP_CONTROL_HASH: u32 = 0x40c;
    /// LCP element hashes (TPM 1.2 details/authorities).
    pub const ELEMENTS_HASH: u32 = 0x40d;
    /// STM measurement.
    pub const STM_HASH: u32 = 0x40e;
    /// `OsSinitData.Capabilities`.
    pub const OSSINITDATA_CAP_HASH: u32 = 0x40f;
    /// SINIT public key.
    pub const SINIT_PUBKEY_HASH: u32 = 0x410;
    /// LCP policy hash (TPM 1.2 details/authorities).
    pub const LCP_HASH: u32 = 0x411;
    /// LCP details (TPM 2.0).
    pub const LCP_DETAILS_HASH: u32 = 0x412;
    /// LCP authorities (TPM 2.0).
    pub const LCP_AUTHORITIES_HASH: u32 = 0x413;
    /// NV index information (TPM 2.0).
    pub const NV_INFO_HASH: u32 = 0x414;
    /// Capped bank.
    pub const CAP_VALUE: u32 = 0x4ff;
    /// tboot's measurements (policy, modules).
    pub const TB_MEASUREMENT: u32 = 0x501;

    /// A readable name for an event type.
    pub fn name(t: u32) -> &'static str {
        match t {
            PCR_MAPPING => "PCR_MAPPING",
            HASH_START => "HASH_START",
            COMBINED_HASH => "COMBINED_HASH",
            MLE_HASH => "MLE_HASH",
            BIOSAC_REG_DATA => "BIOSAC_REG_DATA",
            CPU_SCRTM_STAT => "CPU_SCRTM_STAT",
            LCP_CONTROL_HASH => "LCP_CONTROL_HASH",
            ELEMENTS_HASH => "ELEMENTS_HASH",
            STM_HASH => "STM_HASH",
            OSSINITDATA_CAP_HASH => "OSSINITDATA_CAP_HASH",
            SINIT_PUBKEY_HASH => "SINIT_PUBKEY_HASH",
            LCP_HASH => "LCP_HASH",
            LCP_DETAILS_HASH => "LCP_DETAILS_HASH",
            LCP_AUTHORITIES_HASH => "LCP_AUTHORITIES_HASH",
            NV_INFO_HASH => "NV_INFO_HASH",
            CAP_VALUE => "CAP_VALUE",
            TB_MEASUREMENT => "TB_MEASUREMENT",
            _ => "UNKNOWN",
        }
    }
}

/// One predicted event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// PCR index (0xFF: not extended).
    pub pcr: u32,
    /// `EVTYPE_*`.
    pub event_type: u32,
    /// Readable name (`HASH_START`, `tb_policy`, module name, ...).
    pub name: String,
    /// Digest per bank; banks absent here are not extended.
    pub digests: BTreeMap<HashAlg, Hex>,
    /// Event data, where the format defines it.
    pub data: Hex,
    /// Which input it comes from (`acm`, `tboot`, `profile`, a file, ...).
    pub source: String,
}

/// PCR index → bank → value.
pub type PcrValues = BTreeMap<u32, BTreeMap<HashAlg, Hex>>;

/// Replay `events` from the DRTM reset value (zeros) into `banks`.
pub fn replay(events: &[Event], banks: &[HashAlg]) -> PcrValues {
    let mut pcrs: PcrValues = BTreeMap::new();
    for pcr in 17..=19 {
        pcrs.insert(pcr, banks.iter().map(|&b| (b, Hex(b.zeros()))).collect());
    }
    for e in events.iter().filter(|e| (17..=22).contains(&e.pcr)) {
        let bank_vals = pcrs
            .entry(e.pcr)
            .or_insert_with(|| banks.iter().map(|&b| (b, Hex(b.zeros()))).collect());
        for (alg, d) in &e.digests {
            if let Some(v) = bank_vals.get_mut(alg) {
                v.0 = extend(*alg, &v.0, &d.0);
            }
        }
    }
    pcrs
}

/// `Extend_b(pcr, d) = H_b(pcr ‖ d)`.
pub fn extend(alg: HashAlg, pcr: &[u8], digest: &[u8]) -> Vec<u8> {
    let mut h = alg.hasher();
    h.update(pcr);
    h.update(digest);
    h.finalize()
}
