//! The SINIT side of the launch: the HASH_START input, the TPM 1.2 legacy
//! combined hash, and tboot's `OsSinitData.Capabilities` (spec §3-§4).

use crate::release::Release;
use crate::version::TbootVersion;

pub use crate::event::{evtype, extend};

/// HASH_START event data: `SinitHash ‖ EDX` (EDX little-endian).
pub fn hash_start_data(sinit_hash: &[u8], edx: u32) -> Vec<u8> {
    let mut d = sinit_hash.to_vec();
    d.extend_from_slice(&edx.to_le_bytes());
    d
}

/// The TPM 1.2 `SinitMleData` fields that feed the legacy combined hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySinitData {
    /// `SinitMleData` version (6, 7 or 8).
    pub version: u32,
    /// BiosAcmID (20 bytes).
    pub bios_acm_id: [u8; 20],
    /// MsegValid.
    pub mseg_valid: u64,
    /// StmHash (20 bytes).
    pub stm_hash: [u8; 20],
    /// LCP PolicyControl.
    pub policy_control: u32,
    /// LcpPolicyHash (20 bytes).
    pub lcp_policy_hash: [u8; 20],
    /// Processor S-CRTM status (version >= 8).
    pub proc_scrtm_status: u32,
}

/// `CombinedHashData` (76 bytes, or 80 from version 8): OsSinitData caps are
/// included only when LCP PolicyControl bit 2 asks for them.
pub fn combined_hash_data(d: &LegacySinitData, os_sinit_caps: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(80);
    b.extend_from_slice(&d.bios_acm_id);
    b.extend_from_slice(&d.mseg_valid.to_le_bytes());
    b.extend_from_slice(&d.stm_hash);
    b.extend_from_slice(&d.policy_control.to_le_bytes());
    b.extend_from_slice(&d.lcp_policy_hash);
    let caps = if d.policy_control & 0x4 != 0 {
        os_sinit_caps
    } else {
        0
    };
    b.extend_from_slice(&caps.to_le_bytes());
    if d.version >= 8 {
        b.extend_from_slice(&d.proc_scrtm_status.to_le_bytes());
    }
    b
}

/// Inputs to tboot's `OsSinitData.Capabilities` computation.
#[derive(Debug, Clone, Copy)]
pub struct CapsInputs {
    /// Capabilities in tboot's MLE header.
    pub mle_caps: u32,
    /// Capabilities in the SINIT info table.
    pub sinit_caps: u32,
    /// tboot release.
    pub release: Release,
    /// TPM 2.0 platform.
    pub tpm2: bool,
    /// tboot `pcr_map=da` given (TPM 1.2).
    pub pcr_map_da: bool,
    /// The TPM 2.0 log will be in the TCG agile format
    /// ([`Release::tpm2_tcg_log`]).
    pub tcg_log: bool,
}

/// `OsSinitData.Capabilities` bit 5: TPM 1.2 details/authorities mapping.
pub const CAPS_PCR_MAP_DA: u32 = 1 << 5;
/// Capabilities bit 0: RLP wake-up by GETSEC[WAKEUP].
pub const CAPS_WAKE_GETSEC: u32 = 1 << 0;
/// Capabilities bit 1: RLP wake-up by MONITOR address.
pub const CAPS_WAKE_MONITOR: u32 = 1 << 1;
/// Capabilities bit 9: TCG event log format.
pub const CAPS_TCG_LOG: u32 = 1 << 9;

/// Emulate tboot's `init_txt_heap` capability negotiation (spec §4.3, with
/// the release differences of docs/drtm.md). Returns `None` when tboot
/// refuses the SINIT: no RLP wake-up mechanism in common, or no PCR
/// mapping it can use.
pub fn os_sinit_caps(i: CapsInputs) -> Option<u32> {
    const ECX_PGTBL: u32 = 1 << 2;
    const NO_LEGACY: u32 = 1 << 4;
    const DA: u32 = CAPS_PCR_MAP_DA;
    const CBNT: u32 = 1 << 10;
    let mut mask = CAPS_WAKE_GETSEC | CAPS_WAKE_MONITOR | DA;
    if i.release.negotiates_tcg_log_bit() {
        mask |= CAPS_TCG_LOG;
    }
    let mut caps = i.mle_caps & !mask;
    if i.sinit_caps & CAPS_WAKE_MONITOR != 0 {
        caps |= CAPS_WAKE_MONITOR;
    } else if i.sinit_caps & CAPS_WAKE_GETSEC != 0 {
        caps |= CAPS_WAKE_GETSEC;
    } else {
        return None;
    }
    if i.release.negotiates_tcg_log_bit() {
        if i.tpm2 && i.tcg_log {
            caps |= CAPS_TCG_LOG;
        }
    } else if i.release.version() >= TbootVersion::new(1, 9, 6) && i.sinit_caps & CAPS_TCG_LOG != 0
    {
        // 1.9.6 sets the bit whenever the SINIT has it, on any TPM.
        caps |= CAPS_TCG_LOG;
    }
    caps &= !ECX_PGTBL;
    caps |= NO_LEGACY;
    let cbnt_forces_da = i.release.cbnt_forces_da() && i.sinit_caps & CBNT != 0;
    if i.sinit_caps & DA != 0 && (i.pcr_map_da || cbnt_forces_da) {
        caps |= DA;
    } else if i.sinit_caps & NO_LEGACY == 0 {
        caps &= !NO_LEGACY;
    } else if i.sinit_caps & DA != 0 {
        caps |= DA;
    } else {
        return None;
    }
    if i.tpm2 {
        caps &= !(NO_LEGACY | DA);
    }
    Some(caps)
}
