//! Intel TDX confidential-computing event logs (ACPI CCEL): the events extend
//! runtime measurement registers, not PCRs. The index field of an event is the
//! CC measurement register index of the UEFI spec (`EFI_CC_MEASUREMENT_PROTOCOL`):
//! 0 is MRTD (measured by the TDX module while the TD is built; the TD cannot
//! extend it), 1-4 are RTMR0-3. RTMRs start at zero and extend with SHA-384
//! like a PCR: `RTMR = SHA384(RTMR || digest)`.

use crate::alg::HashAlg;
use crate::log::{EventLog, EventType, LogFormat};

/// How many RTMRs a TD has.
pub const RTMR_COUNT: usize = 4;

/// RTMR0-3 after replaying a CCEL log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RtmrReplay {
    /// `RTMR0..3`, SHA-384 each.
    #[serde(serialize_with = "hex_list")]
    pub rtmrs: [Vec<u8>; RTMR_COUNT],
    /// For each RTMR, the indices of the events that extended it.
    pub extended_by: [Vec<usize>; RTMR_COUNT],
}

fn hex_list<S: serde::Serializer>(v: &[Vec<u8>; RTMR_COUNT], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(RTMR_COUNT))?;
    for r in v {
        seq.serialize_element(&hex::encode(r))?;
    }
    seq.end()
}

/// Why a log cannot be replayed into RTMRs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CcelError {
    /// The log is not a TDX CCEL log.
    #[error("not a TDX CCEL log (its format is {0:?})")]
    NotCcel(LogFormat),
    /// An event names MRTD or a register beyond RTMR3.
    #[error(
        "event {event}: measurement register index {index} (1-4 are RTMR0-3; MRTD, index 0, \
         cannot be extended by the TD)"
    )]
    BadIndex {
        /// Event index.
        event: usize,
        /// The register index it names.
        index: u32,
    },
    /// An event lacks its SHA-384 digest.
    #[error("event {0} has no SHA-384 digest")]
    NoDigest(usize),
}

/// Replay a CCEL log into RTMR0-3.
pub fn replay_rtmrs(log: &EventLog) -> Result<RtmrReplay, CcelError> {
    if log.format != LogFormat::TdxCcel {
        return Err(CcelError::NotCcel(log.format));
    }
    let alg = HashAlg::Sha384;
    let mut out = RtmrReplay {
        rtmrs: std::array::from_fn(|_| alg.zeros()),
        extended_by: Default::default(),
    };
    for e in log.events.iter().skip(1) {
        if e.event_type == EventType::NoAction {
            continue;
        }
        let r = match e.pcr {
            1..=4 => (e.pcr - 1) as usize,
            index => {
                return Err(CcelError::BadIndex {
                    event: e.index,
                    index,
                });
            }
        };
        let d = e.digest(alg).ok_or(CcelError::NoDigest(e.index))?;
        let mut h = alg.hasher();
        h.update(&out.rtmrs[r]);
        h.update(d);
        out.rtmrs[r] = h.finalize();
        out.extended_by[r].push(e.index);
    }
    Ok(out)
}
