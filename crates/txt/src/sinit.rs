//! The SINIT side of the launch: the HASH_START input, the TPM 1.2 legacy
//! combined hash, and tboot's `OsSinitData.Capabilities` (spec §3-§4).

use tcg::HashAlg;

use crate::version::TbootVersion;

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
    pub version: TbootVersion,
    /// TPM 2.0 platform.
    pub tpm2: bool,
    /// tboot `pcr_map=da` given (TPM 1.2).
    pub pcr_map_da: bool,
    /// The log will be TCG agile format (TPM 2.0).
    pub tcg_log: bool,
}

/// `OsSinitData.Capabilities` bit 5: TPM 1.2 details/authorities mapping.
pub const CAPS_PCR_MAP_DA: u32 = 1 << 5;

/// Emulate tboot's `init_txt_heap` capability negotiation (spec §4.3).
/// Returns `None` when tboot would refuse to launch (no usable mapping).
pub fn os_sinit_caps(i: CapsInputs) -> Option<u32> {
    const WAKE_GETSEC: u32 = 1 << 0;
    const WAKE_MONITOR: u32 = 1 << 1;
    const ECX_PGTBL: u32 = 1 << 2;
    const NO_LEGACY: u32 = 1 << 4;
    const DA: u32 = 1 << 5;
    const TCG_LOG: u32 = 1 << 9;
    const CBNT: u32 = 1 << 10;
    let mut caps = i.mle_caps & !(WAKE_GETSEC | WAKE_MONITOR | DA | TCG_LOG);
    if i.sinit_caps & WAKE_MONITOR != 0 {
        caps |= WAKE_MONITOR;
    } else if i.sinit_caps & WAKE_GETSEC != 0 {
        caps |= WAKE_GETSEC;
    }
    if i.tpm2 && i.tcg_log && i.sinit_caps & TCG_LOG != 0 {
        caps |= TCG_LOG;
    }
    caps &= !ECX_PGTBL;
    caps |= NO_LEGACY;
    let cbnt_forces_da = i.version >= TbootVersion::new(1, 10, 1) && i.sinit_caps & CBNT != 0;
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

/// `Extend_b(pcr, d) = H_b(pcr ‖ d)`.
pub fn extend(alg: HashAlg, pcr: &[u8], digest: &[u8]) -> Vec<u8> {
    let mut h = alg.hasher();
    h.update(pcr);
    h.update(digest);
    h.finalize()
}
