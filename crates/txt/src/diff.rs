//! Where a predicted launch and a real log part: events aligned per PCR,
//! each one the same, with a different digest, missing or extra, and the
//! profile field or input that produces it.

use std::collections::BTreeMap;

use serde::Serialize;
use tcg::HashAlg;

use crate::event::Event;
use crate::event::evtype;

/// How one aligned event compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// Same type and the same digest in every bank both have.
    Same,
    /// Same type, different digest in at least one bank.
    DigestDiffers,
    /// Predicted, but not in the real log.
    Missing,
    /// In the real log, but not predicted.
    Extra,
}

/// One aligned event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffRow {
    /// PCR.
    pub pcr: u32,
    /// Event type.
    pub event_type: u32,
    /// Readable name (the prediction's when it has the event).
    pub name: String,
    /// The comparison.
    pub kind: DiffKind,
    /// Banks whose digests differ (all of the event's banks when missing/extra).
    pub banks: Vec<HashAlg>,
    /// Index of the event in the predicted list.
    pub predicted: Option<usize>,
    /// Index of the event in the real list.
    pub real: Option<usize>,
    /// The profile field or input the event's digest comes from.
    pub origin: String,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Aligned events, by PCR, in log order within a PCR.
    pub rows: Vec<DiffRow>,
    /// PCR → index in `rows` of the first event where the two part.
    pub first_parting: BTreeMap<u32, usize>,
}

impl Diff {
    /// Whether anything differs.
    pub fn differs(&self) -> bool {
        !self.first_parting.is_empty()
    }
}

/// Where an event's digest comes from, for a person fixing a prediction.
pub fn origin(e: &Event) -> String {
    match e.event_type {
        evtype::HASH_START => "SINIT ACM (signed region) + profile.edx".into(),
        evtype::BIOSAC_REG_DATA => "profile.biosac_reg_data / biosac_reg_data_digests".into(),
        evtype::CPU_SCRTM_STAT => "profile.scrtm_status".into(),
        evtype::LCP_CONTROL_HASH => "profile.lcp_policy_control".into(),
        evtype::LCP_DETAILS_HASH => "profile.lcp_details / lcp_details_digests".into(),
        evtype::LCP_AUTHORITIES_HASH => {
            "profile.lcp_authorities / lcp_authorities_digests".into()
        }
        evtype::STM_HASH => "profile.stm / stm_digests".into(),
        evtype::OSSINITDATA_CAP_HASH => {
            "OsSinitData caps: ACM + tboot capabilities (or profile.os_sinit_caps)".into()
        }
        evtype::MLE_HASH => "tboot image + tboot command line".into(),
        evtype::NV_INFO_HASH => "profile.nv_info_digests".into(),
        evtype::SINIT_PUBKEY_HASH => "profile.sinit_pubkey_digests".into(),
        evtype::COMBINED_HASH => "profile (bios_acm_id, mseg_valid, stm_hash, lcp_policy_control, lcp_policy_hash, scrtm_status) + OsSinitData caps".into(),
        evtype::TB_MEASUREMENT if e.name == "tb_policy" => {
            format!("tboot VL policy ({})", e.source)
        }
        evtype::TB_MEASUREMENT if e.source != "log" => {
            format!("module {} (file + command line)", e.name)
        }
        evtype::TB_MEASUREMENT => "tboot measurement (policy or module)".into(),
        t => format!("event type {t:#x}"),
    }
}

fn on_pcr(events: &[Event], pcr: u32) -> Vec<usize> {
    (0..events.len())
        .filter(|&i| events[i].pcr == pcr)
        .collect()
}

/// Align `predicted` and `real` per PCR 17-22 by event type (longest common
/// subsequence) and compare the digests of every bank both carry.
pub fn diff(predicted: &[Event], real: &[Event]) -> Diff {
    let mut rows = Vec::new();
    let mut first_parting = BTreeMap::new();
    for pcr in 17..=22u32 {
        let a = on_pcr(predicted, pcr);
        let b = on_pcr(real, pcr);
        let (n, m) = (a.len(), b.len());
        let ty_a = |i: usize| predicted[a[i]].event_type;
        let ty_b = |j: usize| real[b[j]].event_type;
        let mut lcs = vec![vec![0u32; m + 1]; n + 1];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i][j] = if ty_a(i) == ty_b(j) {
                    lcs[i + 1][j + 1] + 1
                } else {
                    lcs[i + 1][j].max(lcs[i][j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            let row = if i < n && j < m && ty_a(i) == ty_b(j) {
                let (p, r) = (&predicted[a[i]], &real[b[j]]);
                let banks: Vec<HashAlg> = p
                    .digests
                    .iter()
                    .filter(|(alg, d)| r.digests.get(alg).is_some_and(|rd| rd != *d))
                    .map(|(alg, _)| *alg)
                    .collect();
                let kind = if banks.is_empty() {
                    DiffKind::Same
                } else {
                    DiffKind::DigestDiffers
                };
                let row = DiffRow {
                    pcr,
                    event_type: p.event_type,
                    name: p.name.clone(),
                    kind,
                    banks,
                    predicted: Some(a[i]),
                    real: Some(b[j]),
                    origin: origin(p),
                };
                i += 1;
                j += 1;
                row
            } else if j == m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1]) {
                let p = &predicted[a[i]];
                i += 1;
                DiffRow {
                    pcr,
                    event_type: p.event_type,
                    name: p.name.clone(),
                    kind: DiffKind::Missing,
                    banks: p.digests.keys().copied().collect(),
                    predicted: Some(a[i - 1]),
                    real: None,
                    origin: origin(p),
                }
            } else {
                let r = &real[b[j]];
                j += 1;
                DiffRow {
                    pcr,
                    event_type: r.event_type,
                    name: r.name.clone(),
                    kind: DiffKind::Extra,
                    banks: r.digests.keys().copied().collect(),
                    predicted: None,
                    real: Some(b[j - 1]),
                    origin: origin(r),
                }
            };
            if row.kind != DiffKind::Same {
                first_parting.entry(pcr).or_insert(rows.len());
            }
            rows.push(row);
        }
    }
    Diff {
        rows,
        first_parting,
    }
}
