//! SINIT's events on TPM 2.0 (always details/authorities), in the order
//! verified on real logs (spec §4.4; MLE DG rev 013 Table E-6).

use std::collections::BTreeMap;

use tcg::HashAlg;

use super::events::{all_banks, captured, ev, measured_or_captured};
use crate::error::Result;
use crate::event::{Event, evtype::*};
use crate::hexser::Hex;
use crate::profile::Profile;

/// PCR17 (details) and PCR18 (authorities) as a TPM 2.0 SINIT extends them.
/// `hs_data` is the HASH_START input, `caps` `OsSinitData.Capabilities`,
/// `mle_digests` the MLE hash per bank.
pub(super) fn sinit_events(
    p: &Profile,
    banks: &[HashAlg],
    hs_data: &[u8],
    caps: u32,
    mle_digests: BTreeMap<HashAlg, Hex>,
) -> Result<Vec<Event>> {
    let banks = banks.to_vec();
    let caps_le = caps.to_le_bytes();
    let mut events = Vec::new();
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
    events.push(ev(
        17,
        HASH_START,
        "HASH_START",
        all_banks(&banks, hs_data),
        hs_data,
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
    Ok(events)
}
