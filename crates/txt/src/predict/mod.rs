//! The whole launch: SINIT's events, the MLE, tboot's policy and module
//! events, in order, per bank, and the PCR values they produce.

mod da12;
mod events;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tcg::HashAlg;

use crate::acm::Acm;
use crate::error::{Error, Result};
use crate::hexser::Hex;
use crate::mle::MleImage;
use crate::module::{effective_cmdline, hash_image, module_digests};
use crate::policy::{PCR_NONE, TbPolicy, default_policy, measured_bytes, policy_event_digest};
use crate::profile::{ExtPolicy, PcrMapping, Profile, TpmFamily};
use crate::sinit::{self, CapsInputs, LegacySinitData, evtype};
use crate::version::TbootVersion;
use events::{all_banks, captured, ev, fixed20, measured_or_captured};

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
}

/// Predict the launch. `progress` is told how many module bytes were hashed.
pub fn predict_with_progress(
    inputs: &LaunchInputs,
    mut progress: impl FnMut(u64),
) -> Result<Prediction> {
    let p = &inputs.profile;
    let tpm2 = p.tpm == TpmFamily::Tpm20;
    let banks: Vec<HashAlg> = if tpm2 {
        p.banks.clone()
    } else {
        vec![HashAlg::Sha1]
    };
    if banks.is_empty() {
        return Err(Error::Invalid {
            what: "profile",
            msg: "banks is empty".into(),
        });
    }
    let prefer_da = tpm2 || p.pcr_mapping == PcrMapping::Da;
    let acm = Acm::parse(&inputs.acm)?;
    let mle = MleImage::load(&inputs.tboot)?;
    let version = p.tboot_version.unwrap_or_else(|| {
        TbootVersion::guess_from_mle(mle.header.version, mle.header.capabilities)
    });
    let sinit_caps = p.sinit_capabilities.unwrap_or(acm.info.capabilities);
    let caps = match p.os_sinit_caps {
        Some(c) => c,
        None => sinit::os_sinit_caps(CapsInputs {
            mle_caps: mle.header.capabilities,
            sinit_caps,
            version,
            tpm2,
            pcr_map_da: prefer_da,
            tcg_log: p.tcg_log_format,
        })
        .ok_or_else(|| Error::Invalid {
            what: "launch",
            msg: format!(
                "tboot would refuse this SINIT: capabilities {sinit_caps:#x} offer no usable PCR mapping"
            ),
        })?,
    };
    // tboot's g_using_da: on TPM 1.2 the negotiated caps decide (a SINIT
    // without the legacy mapping forces D/A, one without D/A forces legacy).
    let da = tpm2 || caps & sinit::CAPS_PCR_MAP_DA != 0;
    let caps_le = caps.to_le_bytes();
    let mut events = Vec::new();

    // SINIT: the TPM hashes HASH_START data in every bank; the MLE in every bank.
    let sinit_hash = acm.sinit_hash(p.sinit_mle_data_version);
    let hs_data = sinit::hash_start_data(&sinit_hash, p.edx);
    let mle_digests: BTreeMap<HashAlg, Hex> = mle
        .hash(Some(inputs.tboot_cmdline.as_bytes()), &banks)
        .into_iter()
        .map(|(a, d)| (a, Hex(d)))
        .collect();
    if tpm2 {
        let scrtm = p.scrtm_status.to_le_bytes();
        let lcp_ctl = p.lcp_policy_control.to_le_bytes();
        let biosac = match &p.biosac_reg_data {
            Some(d) => all_banks(&banks, d),
            None => captured(
                &p.biosac_reg_data_digests,
                &banks,
                "biosac_reg_data_digests",
            )?,
        };
        let biosac_data = p.biosac_reg_data.clone().unwrap_or_default();
        let nv_info = captured(&p.nv_info_digests, &banks, "nv_info_digests")?;
        let pubkey = captured(&p.sinit_pubkey_digests, &banks, "sinit_pubkey_digests")?;
        use evtype::*;
        events.push(ev(
            17,
            HASH_START,
            "HASH_START",
            all_banks(&banks, &hs_data),
            &hs_data,
            "acm",
        ));
        events.push(ev(
            17,
            BIOSAC_REG_DATA,
            "BIOSAC_REG_DATA",
            biosac,
            &biosac_data,
            "profile",
        ));
        events.push(ev(
            17,
            CPU_SCRTM_STAT,
            "CPU_SCRTM_STAT",
            all_banks(&banks, &scrtm),
            &scrtm,
            "profile",
        ));
        events.push(ev(
            17,
            LCP_CONTROL_HASH,
            "LCP_CONTROL_HASH",
            all_banks(&banks, &lcp_ctl),
            &lcp_ctl,
            "profile",
        ));
        let (details, details_data) = measured_or_captured(
            &banks,
            &p.lcp_details,
            &p.lcp_details_digests,
            "lcp_details_digests",
        )?;
        events.push(ev(
            17,
            LCP_DETAILS_HASH,
            "LCP_DETAILS_HASH",
            details,
            details_data,
            "profile",
        ));
        let (stm, _) = measured_or_captured(&banks, &p.stm, &p.stm_digests, "stm_digests")?;
        events.push(ev(17, STM_HASH, "STM_HASH", stm, &[], "profile"));
        events.push(ev(
            17,
            OSSINITDATA_CAP_HASH,
            "OSSINITDATA_CAP_HASH",
            all_banks(&banks, &caps_le),
            &caps_le,
            "acm+tboot",
        ));
        events.push(ev(17, MLE_HASH, "MLE_HASH", mle_digests, &[], "tboot"));
        events.push(ev(
            17,
            NV_INFO_HASH,
            "NV_INFO_HASH",
            nv_info.clone(),
            &[],
            "profile",
        ));
        events.push(ev(
            18,
            SINIT_PUBKEY_HASH,
            "SINIT_PUBKEY_HASH",
            pubkey,
            &[],
            "profile",
        ));
        events.push(ev(
            18,
            CPU_SCRTM_STAT,
            "CPU_SCRTM_STAT",
            all_banks(&banks, &scrtm),
            &scrtm,
            "profile",
        ));
        events.push(ev(
            18,
            OSSINITDATA_CAP_HASH,
            "OSSINITDATA_CAP_HASH",
            all_banks(&banks, &caps_le),
            &caps_le,
            "acm+tboot",
        ));
        events.push(ev(
            18,
            LCP_CONTROL_HASH,
            "LCP_CONTROL_HASH",
            all_banks(&banks, &lcp_ctl),
            &lcp_ctl,
            "profile",
        ));
        let (auth, auth_data) = measured_or_captured(
            &banks,
            &p.lcp_authorities,
            &p.lcp_authorities_digests,
            "lcp_authorities_digests",
        )?;
        events.push(ev(
            18,
            LCP_AUTHORITIES_HASH,
            "LCP_AUTHORITIES_HASH",
            auth,
            auth_data,
            "profile",
        ));
        events.push(ev(
            18,
            NV_INFO_HASH,
            "NV_INFO_HASH",
            nv_info,
            &[],
            "profile",
        ));
    } else if da {
        let mle = mle_digests[&HashAlg::Sha1].0.clone();
        events.extend(da12::sinit_events(p, &acm, &hs_data, caps, mle)?);
    } else {
        let legacy = LegacySinitData {
            version: p.sinit_mle_data_version,
            bios_acm_id: fixed20(&p.bios_acm_id, "bios_acm_id")?,
            mseg_valid: p.mseg_valid,
            stm_hash: fixed20(&p.stm_hash, "stm_hash")?,
            policy_control: p.lcp_policy_control,
            lcp_policy_hash: fixed20(&p.lcp_policy_hash, "lcp_policy_hash")?,
            proc_scrtm_status: p.scrtm_status,
        };
        let combined = sinit::combined_hash_data(&legacy, caps);
        events.push(ev(
            17,
            evtype::HASH_START,
            "HASH_START",
            all_banks(&banks, &hs_data),
            &hs_data,
            "acm",
        ));
        events.push(ev(
            17,
            evtype::COMBINED_HASH,
            "COMBINED_HASH",
            all_banks(&banks, &combined),
            &combined,
            "profile+acm+tboot",
        ));
        events.push(ev(
            18,
            evtype::MLE_HASH,
            "MLE_HASH",
            mle_digests,
            &[],
            "tboot",
        ));
    }

    // tboot: which algorithm it computes with, and which banks it extends.
    let (cur, tb_banks): (HashAlg, Vec<HashAlg>) = if !tpm2 {
        (HashAlg::Sha1, banks.clone())
    } else {
        match p.extpol {
            ExtPolicy::Fixed(a) => {
                if !banks.contains(&a) {
                    return Err(Error::Invalid {
                        what: "profile",
                        msg: format!("extpol {a} is not one of the banks"),
                    });
                }
                (a, vec![a])
            }
            ExtPolicy::Embedded => (HashAlg::Sha256, banks.clone()),
        }
    };
    let embedded = tpm2 && p.extpol == ExtPolicy::Embedded;
    let (policy, measured, source) = match &inputs.policy {
        PolicySource::Default => {
            let pol = default_policy(version, tpm2, da);
            let b = pol.to_bytes();
            (pol, b, "default policy")
        }
        PolicySource::Nv(bytes) => {
            let pol = TbPolicy::parse(bytes)?;
            let len = pol.to_bytes().len();
            (pol, measured_bytes(&bytes[..len], true, version), "policy")
        }
    };
    let pol_digests: BTreeMap<HashAlg, Hex> = tb_banks
        .iter()
        .map(|&b| {
            let d = policy_event_digest(&measured, policy.policy_control, cur, b);
            (b, Hex(d))
        })
        .collect();
    events.push(ev(
        17,
        evtype::TB_MEASUREMENT,
        "tb_policy",
        pol_digests.clone(),
        &[],
        source,
    ));
    if da {
        events.push(ev(
            18,
            evtype::TB_MEASUREMENT,
            "tb_policy",
            pol_digests,
            &[],
            source,
        ));
    }

    // Modules: module 0 always, then each per its policy entry.
    let mut mod_digests = Vec::with_capacity(inputs.modules.len());
    for m in &inputs.modules {
        let img_algs: Vec<HashAlg> = if embedded {
            tb_banks.clone()
        } else {
            vec![cur]
        };
        let img = match &m.data {
            ModuleData::Path(path) => {
                let f = std::fs::File::open(path).map_err(|source| Error::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                hash_image(f, m.decompress, &img_algs, "module", &mut progress)?
            }
            ModuleData::Bytes(b) => {
                hash_image(&b[..], m.decompress, &img_algs, "module", &mut progress)?
            }
        };
        let cmd = effective_cmdline(&m.cmdline, version);
        let d = module_digests(cmd.as_bytes(), &img);
        // FIXED: the single `cur` digest lands in bank `cur` only.
        mod_digests.push(
            d.into_iter()
                .map(|(a, d)| (a, Hex(d)))
                .collect::<BTreeMap<_, _>>(),
        );
    }
    if let Some(first) = mod_digests.first() {
        let pcr = if da { 17 } else { 18 };
        events.push(ev(
            pcr,
            evtype::TB_MEASUREMENT,
            &inputs.modules[0].name,
            first.clone(),
            &[],
            &inputs.modules[0].name,
        ));
    }
    for (i, d) in mod_digests.iter().enumerate() {
        let entry = policy.entry_for_module(i).ok_or_else(|| Error::Invalid {
            what: "tb_policy",
            msg: format!(
                "no entry for module {i} ({}) — tboot fails with TB_ERR_MODULES_NOT_IN_POLICY",
                inputs.modules[i].name
            ),
        })?;
        if entry.pcr != PCR_NONE {
            events.push(ev(
                entry.pcr as u32,
                evtype::TB_MEASUREMENT,
                &inputs.modules[i].name,
                d.clone(),
                &[],
                &inputs.modules[i].name,
            ));
        }
    }
    let pcrs = replay(&events, &banks);
    Ok(Prediction {
        banks,
        tboot_version: version,
        os_sinit_caps: caps,
        pcrs,
        events,
    })
}

/// Predict the launch without progress reporting.
pub fn predict(inputs: &LaunchInputs) -> Result<Prediction> {
    predict_with_progress(inputs, |_| {})
}
