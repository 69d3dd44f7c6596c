//! SINIT's events on TPM 1.2 with the legacy mapping (spec §4.2): the
//! HASH_START and COMBINED_HASH extends of PCR17, the MLE in PCR18.

use std::collections::BTreeMap;

use tcg::HashAlg;

use super::events::{all_banks, ev, fixed20};
use crate::error::Result;
use crate::event::{Event, evtype};
use crate::hexser::Hex;
use crate::profile::Profile;
use crate::sinit::{self, LegacySinitData};

/// PCR17 and PCR18 as a TPM 1.2 SINIT extends them with the legacy mapping.
pub(super) fn sinit_events(
    p: &Profile,
    banks: &[HashAlg],
    hs_data: &[u8],
    caps: u32,
    mle_digests: BTreeMap<HashAlg, Hex>,
) -> Result<Vec<Event>> {
    let banks = banks.to_vec();
    let mut events = Vec::new();
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
        all_banks(&banks, hs_data),
        hs_data,
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
    Ok(events)
}
