//! The platform profile: what only system A knows (banks, mapping, TXT
//! platform values), captured once and kept as readable TOML or JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tcg::HashAlg;

use crate::txtlog::TxtLogFormat;
use crate::version::TbootVersion;

/// TPM family of system A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TpmFamily {
    /// TPM 1.2 (SHA-1 only).
    #[serde(rename = "1.2")]
    Tpm12,
    /// TPM 2.0.
    #[serde(rename = "2.0")]
    Tpm20,
}

/// Where SINIT and tboot put their measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PcrMapping {
    /// TPM 1.2 legacy: MLE and module 0 in PCR18, further modules in PCR19.
    Legacy,
    /// Details/Authorities: always on TPM 2.0.
    Da,
}

/// tboot's `extpol` on TPM 2.0, as system A ran it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtPolicy {
    /// One bank (`extpol=sha1|sha256|...`): only it gets tboot's events.
    Fixed(HashAlg),
    /// tboot hashes every bank of its own algorithm list (`extpol=embedded`).
    Embedded,
    /// The TPM hashes for every bank (`extpol=agile`, tboot 1.8.0-1.10.x).
    Agile,
}

impl std::fmt::Display for ExtPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExtPolicy::Fixed(a) => f.write_str(a.name()),
            ExtPolicy::Embedded => f.write_str("embedded"),
            ExtPolicy::Agile => f.write_str("agile"),
        }
    }
}

impl std::fmt::Display for PcrMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PcrMapping::Legacy => "legacy",
            PcrMapping::Da => "da",
        })
    }
}

/// A digest captured from system A's log, per bank, as hex.
pub type CapturedDigests = BTreeMap<HashAlg, String>;

/// Values only system A has (spec §2, last row), plus its launch switches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// TPM family.
    pub tpm: TpmFamily,
    /// PCR banks the TPM has allocated (TPM 1.2: `["sha1"]`).
    pub banks: Vec<HashAlg>,
    /// The PCR mapping system A's launch used (TPM 2.0 is always `da`).
    /// The prediction negotiates it from tboot's `pcr_map` and the SINIT's
    /// capabilities, and refuses if that disagrees with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcr_mapping: Option<PcrMapping>,
    /// tboot's extend policy on system A (TPM 2.0). The prediction takes
    /// it from tboot's command line (or that release's default) and
    /// refuses if that disagrees with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extpol: Option<ExtPolicy>,
    /// tboot release (decides default policy, command-line rule, caps).
    /// The image's own version string decides; this is needed only for an
    /// image without one, and a different value is an error.
    #[serde(default)]
    pub tboot_version: Option<TbootVersion>,
    /// `SinitMleData` version (6, 7, 8 on TPM 1.2; 9 on TPM 2.0).
    #[serde(default = "default_sinit_version")]
    pub sinit_mle_data_version: u32,
    /// GETSEC[SENTER] EDX (tboot passes 0).
    #[serde(default)]
    pub edx: u32,
    /// SINIT capabilities when no ACM is given (else read from the ACM).
    #[serde(default)]
    pub sinit_capabilities: Option<u32>,
    /// Whether system A's TXT log was in the TCG agile format. The
    /// prediction derives the format from tboot's release, its
    /// `force_tpm2_legacy_log` and the SINIT's capabilities (it decides
    /// `OsSinitData.Capabilities` bit 9), and refuses if that disagrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcg_log_format: Option<bool>,
    /// `OsSinitData.Capabilities` if known; else emulated from SINIT and tboot caps.
    #[serde(default)]
    pub os_sinit_caps: Option<u32>,
    /// Processor S-CRTM status dword (event 0x40B).
    #[serde(default)]
    pub scrtm_status: u32,
    /// Effective LCP PolicyControl (event 0x40C; legacy combined hash).
    #[serde(default)]
    pub lcp_policy_control: u32,
    /// LCP details bytes (event 0x412; `00` = no LCP / ANY).
    #[serde(default = "zero_byte", with = "crate::hexser::bytes")]
    pub lcp_details: Vec<u8>,
    /// LCP authorities bytes (event 0x413; `00` = no LCP / ANY).
    #[serde(default = "zero_byte", with = "crate::hexser::bytes")]
    pub lcp_authorities: Vec<u8>,
    /// STM measurement input (event 0x40E; `00` = no STM).
    #[serde(default = "zero_byte", with = "crate::hexser::bytes")]
    pub stm: Vec<u8>,
    /// BIOSAC register data (32 bytes of the AUX index), if known as bytes.
    #[serde(default, with = "opt_hex")]
    pub biosac_reg_data: Option<Vec<u8>>,
    /// Digests of event 0x40A captured from system A's log (used when
    /// `biosac_reg_data` is absent).
    #[serde(default)]
    pub biosac_reg_data_digests: CapturedDigests,
    /// Event 0x414 NV_INFO_HASH digests captured from system A.
    #[serde(default)]
    pub nv_info_digests: CapturedDigests,
    /// Event 0x410 SINIT_PUBKEY_HASH digests captured from system A.
    #[serde(default)]
    pub sinit_pubkey_digests: CapturedDigests,
    /// TPM 1.2 legacy: `SinitMleData.BiosAcmID` (20 bytes).
    #[serde(default, with = "opt_hex")]
    pub bios_acm_id: Option<Vec<u8>>,
    /// TPM 1.2 legacy: `SinitMleData.MsegValid`.
    #[serde(default)]
    pub mseg_valid: u64,
    /// TPM 1.2 legacy: `SinitMleData.StmHash` (20 bytes, zero if no STM).
    #[serde(default, with = "opt_hex")]
    pub stm_hash: Option<Vec<u8>>,
    /// TPM 1.2 legacy: `SinitMleData.LcpPolicyHash` (20 bytes).
    #[serde(default, with = "opt_hex")]
    pub lcp_policy_hash: Option<Vec<u8>>,
    /// Event 0x40E STM_HASH digests captured from system A, used instead of
    /// `stm` when its measured bytes are not known.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stm_digests: CapturedDigests,
    /// Event 0x412 digests captured from system A (instead of `lcp_details`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lcp_details_digests: CapturedDigests,
    /// Event 0x413 digests captured from system A (instead of `lcp_authorities`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lcp_authorities_digests: CapturedDigests,
    /// The TXT log format system A writes (`agile`, `legacy`, `container`);
    /// predicted logs are written in it unless told otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_format: Option<TxtLogFormat>,
    /// TPM 1.2 details/authorities: the digest SINIT extends as event 0x40D
    /// ELEMENTS_HASH (20 bytes; absent = 20 zero bytes, as with no LCP).
    #[serde(default, with = "opt_hex")]
    pub lcp_elements_hash: Option<Vec<u8>>,
    /// Fields `drtm capture` could not read from system A's log, each with
    /// why: their values are defaults or guesses. A prediction that needs
    /// one of them refuses until a person has set it and removed it here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub assumed: BTreeMap<String, String>,
}

fn default_sinit_version() -> u32 {
    9
}
fn zero_byte() -> Vec<u8> {
    vec![0]
}

mod opt_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => s.serialize_str(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| hex::decode(s.trim()).map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl Profile {
    /// A TPM 2.0 profile with no LCP, no STM and the given banks; the
    /// platform digests (BIOSAC, NV info, SINIT key) still have to be filled.
    pub fn tpm2(banks: Vec<HashAlg>) -> Self {
        Profile {
            tpm: TpmFamily::Tpm20,
            banks,
            pcr_mapping: None,
            extpol: None,
            tboot_version: None,
            sinit_mle_data_version: 9,
            edx: 0,
            sinit_capabilities: None,
            tcg_log_format: None,
            os_sinit_caps: None,
            scrtm_status: 0,
            lcp_policy_control: 0,
            lcp_details: zero_byte(),
            lcp_authorities: zero_byte(),
            stm: zero_byte(),
            biosac_reg_data: None,
            biosac_reg_data_digests: BTreeMap::new(),
            nv_info_digests: BTreeMap::new(),
            sinit_pubkey_digests: BTreeMap::new(),
            bios_acm_id: None,
            mseg_valid: 0,
            stm_hash: None,
            lcp_policy_hash: None,
            stm_digests: BTreeMap::new(),
            lcp_details_digests: BTreeMap::new(),
            lcp_authorities_digests: BTreeMap::new(),
            log_format: None,
            lcp_elements_hash: None,
            assumed: BTreeMap::new(),
        }
    }

    /// Read a profile from TOML.
    pub fn from_toml(s: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(s)
    }

    /// Read a profile from JSON.
    pub fn from_json(s: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(s)
    }
}
