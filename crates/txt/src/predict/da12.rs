//! SINIT's events for a TPM 1.2 launch with the details/authorities mapping
//! (tboot `pcr_map=da`; MLE DG rev 013 §1.10.2 and Table E-5, spec §4.4).
//!
//! TPM 1.2 differs from TPM 2.0 in three ways that matter here: SHA-1 only;
//! several values are extended as they are because they already are digests
//! (the AUX index's BIOSAC data, `StmHash`, the LCP hashes); and "nothing"
//! (no STM, no policy) is 20 zero bytes, not `H(00)`.

use std::collections::BTreeMap;

use tcg::HashAlg;

use super::events::{captured, ev, fixed20};
use crate::acm::Acm;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::hexser::Hex;
use crate::profile::Profile;
use crate::sinit::evtype::*;

fn sha1_of(data: &[u8]) -> BTreeMap<HashAlg, Hex> {
    raw(HashAlg::Sha1.digest(data))
}

fn raw(digest: Vec<u8>) -> BTreeMap<HashAlg, Hex> {
    BTreeMap::from([(HashAlg::Sha1, Hex(digest))])
}

/// The 20 bytes SINIT extends raw as BIOSAC_REG_DATA: the profile's bytes,
/// else the digest captured from system A's log.
fn biosac(p: &Profile) -> Result<(BTreeMap<HashAlg, Hex>, Vec<u8>)> {
    match &p.biosac_reg_data {
        Some(d) if d.len() == 20 => Ok((raw(d.clone()), d.clone())),
        Some(d) => Err(Error::Invalid {
            what: "profile",
            msg: format!(
                "biosac_reg_data has {} bytes; TPM 1.2 extends the AUX data raw, so it must be 20",
                d.len()
            ),
        }),
        None => Ok((
            captured(
                &p.biosac_reg_data_digests,
                &[HashAlg::Sha1],
                "biosac_reg_data_digests",
            )?,
            Vec::new(),
        )),
    }
}

/// PCR17 (details) and PCR18 (authorities) as SINIT extends them, in order.
/// `hs_data` is the HASH_START input, `caps` `OsSinitData.Capabilities`,
/// `mle` the SHA-1 MLE hash.
pub(crate) fn sinit_events(
    p: &Profile,
    acm: &Acm,
    hs_data: &[u8],
    caps: u32,
    mle: Vec<u8>,
) -> Result<Vec<Event>> {
    let scrtm = p.scrtm_status.to_le_bytes();
    let lcp_ctl = p.lcp_policy_control.to_le_bytes();
    let caps_le = caps.to_le_bytes();
    let (biosac, biosac_data) = biosac(p)?;
    let elements = fixed20(&p.lcp_elements_hash, "lcp_elements_hash")?;
    let stm = fixed20(&p.stm_hash, "stm_hash")?;
    let lcp_hash = fixed20(&p.lcp_policy_hash, "lcp_policy_hash")?;
    // The key's byte convention is unverified (spec §11.6): a digest captured
    // from system A's log wins over the one derived from the ACM header.
    let (pubkey, pubkey_source) = if p.sinit_pubkey_digests.contains_key(&HashAlg::Sha1) {
        let d = captured(
            &p.sinit_pubkey_digests,
            &[HashAlg::Sha1],
            "sinit_pubkey_digests",
        )?;
        (d, "profile")
    } else {
        (sha1_of(acm.rsa_public_key()), "acm")
    };
    Ok(vec![
        ev(
            17,
            HASH_START,
            "HASH_START",
            sha1_of(hs_data),
            hs_data,
            "acm",
        ),
        ev(
            17,
            BIOSAC_REG_DATA,
            "BIOSAC_REG_DATA",
            biosac,
            &biosac_data,
            "profile",
        ),
        ev(
            17,
            CPU_SCRTM_STAT,
            "CPU_SCRTM_STAT",
            sha1_of(&scrtm),
            &scrtm,
            "profile",
        ),
        ev(
            17,
            LCP_CONTROL_HASH,
            "LCP_CONTROL_HASH",
            sha1_of(&lcp_ctl),
            &lcp_ctl,
            "profile",
        ),
        ev(
            17,
            ELEMENTS_HASH,
            "ELEMENTS_HASH",
            raw(elements.to_vec()),
            &[],
            "profile",
        ),
        ev(17, STM_HASH, "STM_HASH", raw(stm.to_vec()), &[], "profile"),
        ev(
            17,
            OSSINITDATA_CAP_HASH,
            "OSSINITDATA_CAP_HASH",
            sha1_of(&caps_le),
            &caps_le,
            "acm+tboot",
        ),
        ev(17, MLE_HASH, "MLE_HASH", raw(mle), &[], "tboot"),
        ev(
            18,
            SINIT_PUBKEY_HASH,
            "SINIT_PUBKEY_HASH",
            pubkey,
            &[],
            pubkey_source,
        ),
        ev(
            18,
            CPU_SCRTM_STAT,
            "CPU_SCRTM_STAT",
            sha1_of(&scrtm),
            &scrtm,
            "profile",
        ),
        ev(
            18,
            OSSINITDATA_CAP_HASH,
            "OSSINITDATA_CAP_HASH",
            sha1_of(&caps_le),
            &caps_le,
            "acm+tboot",
        ),
        ev(
            18,
            LCP_CONTROL_HASH,
            "LCP_CONTROL_HASH",
            sha1_of(&lcp_ctl),
            &lcp_ctl,
            "profile",
        ),
        ev(
            18,
            LCP_HASH,
            "LCP_HASH",
            raw(lcp_hash.to_vec()),
            &[],
            "profile",
        ),
    ])
}

#[cfg(test)]
mod tests {
    use crate::release::Release;
    use crate::sinit::{CapsInputs, os_sinit_caps};
    use crate::version::TbootVersion;

    /// tboot 1.10.x MLE caps (0x627) on TPM 1.2; expectations worked by hand
    /// through `init_txt_heap`: drop wake/DA/log bits (0x404), take MONITOR
    /// wake (0x406), clear ECX page table (0x402), then choose the mapping.
    fn caps(sinit_caps: u32, pcr_map_da: bool, patch: u16) -> Option<u32> {
        os_sinit_caps(CapsInputs {
            mle_caps: 0x627,
            sinit_caps,
            release: Release::of(TbootVersion::new(1, 10, patch)).unwrap(),
            tpm2: false,
            pcr_map_da,
            tcg_log: false,
        })
    }

    #[test]
    fn tpm12_mapping_is_negotiated_as_tboot_does() {
        // D/A asked for and offered: no-legacy and D/A bits.
        assert_eq!(caps(0x23, true, 5), Some(0x432));
        // Not asked for, legacy offered: legacy.
        assert_eq!(caps(0x23, false, 5), Some(0x402));
        // Asked for but not offered: tboot silently keeps legacy.
        assert_eq!(caps(0x03, true, 5), Some(0x402));
        // The SINIT has no legacy mapping: D/A whatever was asked.
        assert_eq!(caps(0x33, false, 5), Some(0x432));
        // CBnT SINIT forces D/A from tboot 1.10.2 on (txt.c init_txt_heap;
        // 1.10.1 only advertises CBnT in its MLE header), not before.
        assert_eq!(caps(0x423, false, 2), Some(0x432));
        assert_eq!(caps(0x423, false, 1), Some(0x402));
        // Neither mapping usable: tboot refuses to launch.
        assert_eq!(caps(0x13, true, 5), None);
    }
}
