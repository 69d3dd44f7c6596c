//! The whole launch: SINIT's events, the MLE, tboot's policy and module
//! events, in order, per bank, and the PCR values they produce; or a
//! refusal when tboot would halt, a bank would not be extended, or the case
//! is not modelled.

mod accept;
mod da12;
mod events;
mod legacy12;
mod tboot;
mod tpm2;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tcg::HashAlg;

use crate::acm::Acm;
use crate::cmdline::TbootCmdline;
use crate::error::{Error, Result};
use crate::hexser::Hex;
use crate::mle::MleImage;
use crate::profile::{ExtPolicy, PcrMapping, Profile, TpmFamily};
use crate::release::{Release, TbootExtPolicy};
use crate::sinit::{self, CAPS_TCG_LOG, CapsInputs};
use crate::txtlog::TxtLogFormat;
use crate::version::TbootVersion;

pub use crate::event::{Event, PcrValues, replay};

/// Which tboot Verified-Launch policy the launch uses.
#[derive(Debug, Clone)]
pub enum PolicySource {
    /// tboot's built-in default for its version.
    Default,
    /// A policy read from TPM NV or an LCP custom element (raw bytes).
    Nv(Vec<u8>),
}

/// Where a module's bytes come from.
#[derive(Debug, Clone)]
pub enum ModuleData {
    /// A file, streamed.
    Path(PathBuf),
    /// Bytes in memory.
    Bytes(Vec<u8>),
}

/// One multiboot module after tboot removed the SINIT and LCP modules.
#[derive(Debug, Clone)]
pub struct ModuleInput {
    /// A name for the report (usually the file name).
    pub name: String,
    /// The command line the loader passes (without the file name).
    pub cmdline: String,
    /// The bytes.
    pub data: ModuleData,
    /// Whether the loader decompresses gzip modules (GRUB2 does).
    pub decompress: bool,
}

/// Everything a prediction needs.
#[derive(Debug, Clone)]
pub struct LaunchInputs {
    /// System A's platform profile.
    pub profile: Profile,
    /// The SINIT ACM file.
    pub acm: Vec<u8>,
    /// `tboot.gz` (or the tboot ELF).
    pub tboot: Vec<u8>,
    /// tboot's command line as the loader passes it.
    pub tboot_cmdline: String,
    /// The VL policy.
    pub policy: PolicySource,
    /// Modules in multiboot order.
    pub modules: Vec<ModuleInput>,
}

/// The predicted launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prediction {
    /// Banks predicted.
    pub banks: Vec<HashAlg>,
    /// tboot release the rules were taken from.
    pub tboot_version: TbootVersion,
    /// `OsSinitData.Capabilities` used.
    pub os_sinit_caps: u32,
    /// PCR values after the launch (17, 18, 19 always; 20-22 if used).
    pub pcrs: PcrValues,
    /// The ordered events.
    pub events: Vec<Event>,
    /// What tboot decided from its command line, release and the SINIT.
    #[serde(default)]
    pub launch: LaunchFacts,
    /// What a person should know about this launch (never a reason to
    /// distrust the values: those are refusals).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The launch switches the prediction used, and where each came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchFacts {
    /// tboot's extend policy (TPM 2.0): `sha256`, `embedded`, `agile`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extpol: Option<String>,
    /// The PCR mapping (`da` or `legacy`).
    pub pcr_mapping: String,
    /// The TXT log format the SINIT and tboot write.
    pub log_format: String,
    /// TPM 2.0: the SINIT's extend policy is Maximum Agility.
    #[serde(default)]
    pub maximum_agility: bool,
    /// The command line tboot copies into the MLE (and hashes in MLE_HASH).
    pub measured_cmdline: String,
}

/// Predict the launch. `progress` is told how many module bytes were hashed.
pub fn predict_with_progress(
    inputs: &LaunchInputs,
    mut progress: impl FnMut(u64),
) -> Result<Prediction> {
    let p = &inputs.profile;
    let tpm2 = p.tpm == TpmFamily::Tpm20;
    let banks = predicted_banks(p)?;
    let acm = Acm::parse(&inputs.acm)?;
    let mle = MleImage::load(&inputs.tboot)?;
    let release = Release::of(tboot_version(p, &mle)?)?;
    let v = release.version();
    let cmd = TbootCmdline::parse(&inputs.tboot_cmdline, release);
    if let Some(racm) = cmd.calls_racm() {
        return Err(Error::Refused(format!(
            "call_racm={racm}: tboot {v} runs the revocation ACM instead of launching"
        )));
    }
    if tpm2 && !release.supports_tpm2() {
        return Err(Error::Refused(format!(
            "tboot {v} has no TPM 2.0 support (it arrived in 1.8.0)"
        )));
    }
    accept::check_acm(&acm, inputs.acm.len(), release, &mle.header)?;
    if p.edx != 0 {
        return Err(conflict(
            "edx",
            &format!("{:#x}", p.edx),
            &format!("0 (tboot {v} always enters GETSEC[SENTER] with EDX 0, smx.h)"),
        ));
    }
    let sinit_caps = p.sinit_capabilities.unwrap_or(acm.info.capabilities);

    // tboot's extend policy (TPM 1.2: always SHA-1, tpm_12.c).
    let extpol = if tpm2 {
        let value = cmd.value("extpol").unwrap_or_default();
        let e = release.extpol(value).ok_or_else(|| {
            Error::Refused(format!(
                "extpol={value} ({}): tboot {v} does not know this value and leaves its extend \
                 policy uninitialised",
                cmd.origin("extpol")
            ))
        })?;
        if let Some(claimed) = p.extpol
            && !p.assumed.contains_key("extpol")
            && !same_extpol(claimed, e)
        {
            return Err(conflict(
                "extpol",
                &claimed.to_string(),
                &format!("{} ({}, tboot {v})", extpol_name(e), cmd.origin("extpol")),
            ));
        }
        e
    } else {
        TbootExtPolicy::Fixed(HashAlg::Sha1)
    };

    // The log format, which also decides OsSinitData caps bit 9.
    let tcg_log =
        tpm2 && release.tpm2_tcg_log(sinit_caps & CAPS_TCG_LOG != 0, cmd.force_tpm2_legacy_log());
    let log_format = if !tpm2 {
        TxtLogFormat::Container
    } else if tcg_log {
        TxtLogFormat::Agile
    } else {
        TxtLogFormat::Legacy
    };
    // `tcg_log_format = false` on TPM 1.2 says nothing (its log is a container).
    let claimed_format = p.log_format.or(match p.tcg_log_format {
        Some(true) => Some(TxtLogFormat::Agile),
        Some(false) if tpm2 => Some(TxtLogFormat::Legacy),
        _ => None,
    });
    if let Some(claimed) = claimed_format
        && !p.assumed.contains_key("log_format")
        && claimed != log_format
    {
        return Err(conflict(
            "log_format",
            &format_name(claimed),
            &format!(
                "{} (tboot {v}, force_tpm2_legacy_log={} from the {}, SINIT capabilities \
                 {sinit_caps:#x})",
                format_name(log_format),
                cmd.force_tpm2_legacy_log(),
                cmd.origin("force_tpm2_legacy_log")
            ),
        ));
    }

    let computed = sinit::os_sinit_caps(CapsInputs {
        mle_caps: mle.header.capabilities,
        sinit_caps,
        release,
        tpm2,
        pcr_map_da: cmd.prefers_da(),
        tcg_log,
    })
    .ok_or_else(|| {
        Error::Refused(format!(
            "tboot {v} refuses this SINIT: its capabilities {sinit_caps:#x} offer no RLP \
             wake-up mechanism or no PCR mapping tboot can use (init_txt_heap)"
        ))
    })?;
    if let Some(c) = p.os_sinit_caps
        && c != computed
    {
        return Err(conflict(
            "os_sinit_caps",
            &format!("{c:#x}"),
            &format!("{computed:#x} (tboot {v} with this SINIT)"),
        ));
    }
    let caps = computed;
    // g_using_da: on TPM 1.2 the negotiated caps decide.
    let da = tpm2 || caps & sinit::CAPS_PCR_MAP_DA != 0;
    let mapping = if da {
        PcrMapping::Da
    } else {
        PcrMapping::Legacy
    };
    if let Some(claimed) = p.pcr_mapping
        && !p.assumed.contains_key("pcr_mapping")
        && claimed != mapping
    {
        return Err(conflict(
            "pcr_mapping",
            &claimed.to_string(),
            &format!(
                "{mapping} (tboot {v} with pcr_map={} from the {}, SINIT capabilities \
                 {sinit_caps:#x})",
                cmd.value("pcr_map").unwrap_or("legacy"),
                cmd.origin("pcr_map")
            ),
        ));
    }
    accept::check_banks(&banks, &acm, release, tpm2, extpol)?;
    check_captured(p, tpm2, da)?;

    // SINIT: the TPM hashes HASH_START data in every bank; the MLE in every bank.
    let sinit_hash = acm.sinit_hash(p.sinit_mle_data_version);
    let hs_data = sinit::hash_start_data(&sinit_hash, p.edx);
    let mle_digests: BTreeMap<HashAlg, Hex> = mle
        .hash(Some(&cmd.measured), &banks)
        .into_iter()
        .map(|(a, d)| (a, Hex(d)))
        .collect();
    let mut events = if tpm2 {
        tpm2::sinit_events(p, &banks, &hs_data, caps, mle_digests)?
    } else if da {
        let mle = mle_digests[&HashAlg::Sha1].0.clone();
        da12::sinit_events(p, &acm, &hs_data, caps, mle)?
    } else {
        legacy12::sinit_events(p, &banks, &hs_data, caps, mle_digests)?
    };
    let (tb, notes) = tboot::measure(
        &tboot::Launch {
            release,
            tpm2,
            da,
            extpol,
            banks: &banks,
            cmdline: &cmd,
            policy: &inputs.policy,
            modules: &inputs.modules,
        },
        &mut progress,
    )?;
    events.extend(tb);
    let pcrs = replay(&events, &banks);
    Ok(Prediction {
        banks,
        tboot_version: v,
        os_sinit_caps: caps,
        pcrs,
        events,
        launch: LaunchFacts {
            extpol: tpm2.then(|| extpol_name(extpol)),
            pcr_mapping: mapping.to_string(),
            log_format: format_name(log_format),
            maximum_agility: tpm2 && release.maximum_agility(extpol),
            measured_cmdline: String::from_utf8_lossy(&cmd.measured).into_owned(),
        },
        notes,
    })
}

/// Predict the launch without progress reporting.
pub fn predict(inputs: &LaunchInputs) -> Result<Prediction> {
    predict_with_progress(inputs, |_| {})
}

fn predicted_banks(p: &Profile) -> Result<Vec<HashAlg>> {
    if p.banks.is_empty() {
        return Err(Error::Invalid {
            what: "profile",
            msg: "banks is empty".into(),
        });
    }
    let mut banks = p.banks.clone();
    banks.dedup();
    if p.tpm == TpmFamily::Tpm12 && banks != [HashAlg::Sha1] {
        return Err(Error::Invalid {
            what: "profile",
            msg: format!(
                "a TPM 1.2 has only the sha1 bank, the profile lists {}",
                banks
                    .iter()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    Ok(banks)
}

/// The release: the image's own version string, else the profile's
/// `tboot_version`; both present and different is an error.
fn tboot_version(p: &Profile, mle: &MleImage) -> Result<TbootVersion> {
    let image = TbootVersion::from_image(mle.loaded_bytes()).map_err(|e| Error::Invalid {
        what: "tboot image",
        msg: e.to_string(),
    })?;
    match (image, p.tboot_version) {
        (Some(i), Some(q)) if i != q => Err(conflict(
            "tboot_version",
            &q.to_string(),
            &format!("{i} (the tboot image's version string)"),
        )),
        (Some(i), _) => Ok(i),
        (None, Some(q)) => Ok(q),
        (None, None) => Err(Error::Refused(
            "the tboot image carries no release version string (a build from a Mercurial \
             checkout before 1.9.7 has only a changeset); set tboot_version in the profile"
                .into(),
        )),
    }
}

fn conflict(field: &str, profile: &str, launch: &str) -> Error {
    Error::Invalid {
        what: "launch",
        msg: format!(
            "the profile says {field} = {profile} (system A), but this launch gives {launch}; \
             use the tboot and command line system A ran, or capture the profile again"
        ),
    }
}

fn same_extpol(p: ExtPolicy, t: TbootExtPolicy) -> bool {
    match (p, t) {
        (ExtPolicy::Fixed(a), TbootExtPolicy::Fixed(b)) => a == b,
        (ExtPolicy::Embedded, TbootExtPolicy::Embedded) => true,
        (ExtPolicy::Agile, TbootExtPolicy::Agile) => true,
        _ => false,
    }
}

fn extpol_name(e: TbootExtPolicy) -> String {
    match e {
        TbootExtPolicy::Fixed(a) => a.name().to_string(),
        TbootExtPolicy::Embedded => "embedded".into(),
        TbootExtPolicy::Agile => "agile".into(),
    }
}

fn format_name(f: TxtLogFormat) -> String {
    match f {
        TxtLogFormat::Agile => "agile",
        TxtLogFormat::Legacy => "legacy",
        TxtLogFormat::Container => "container",
        TxtLogFormat::Secl => "secl",
    }
    .into()
}

/// Refuse a profile whose values this launch uses were assumed by `drtm
/// capture` (not read from system A's log), naming them and why.
fn check_captured(p: &Profile, tpm2: bool, da: bool) -> Result<()> {
    let used: &[&str] = if tpm2 {
        &[
            "scrtm_status",
            "lcp_policy_control",
            "lcp_details",
            "lcp_authorities",
            "stm",
            "biosac_reg_data",
            "nv_info_digests",
            "sinit_pubkey_digests",
        ]
    } else if da {
        &[
            "sinit_mle_data_version",
            "biosac_reg_data",
            "scrtm_status",
            "lcp_policy_control",
            "lcp_elements_hash",
            "stm_hash",
            "lcp_policy_hash",
            "sinit_pubkey_digests",
        ]
    } else {
        &[
            "sinit_mle_data_version",
            "bios_acm_id",
            "mseg_valid",
            "stm_hash",
            "lcp_policy_control",
            "lcp_policy_hash",
            "scrtm_status",
        ]
    };
    let missing: Vec<String> = used
        .iter()
        .filter_map(|f| p.assumed.get(*f).map(|why| format!("{f} ({why})")))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::Refused(format!(
        "the profile's {} {} not captured from system A: {}; set {} from system A and remove \
         {} from `assumed`",
        if missing.len() == 1 {
            "field"
        } else {
            "fields"
        },
        if missing.len() == 1 { "was" } else { "were" },
        missing.join("; "),
        if missing.len() == 1 { "it" } else { "them" },
        if missing.len() == 1 { "it" } else { "them" }
    )))
}
