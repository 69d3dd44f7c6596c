//! Comparing a replay with PCR values read from a TPM.

use crate::alg::HashAlg;
use crate::replay::Replay;
use crate::values::PcrValues;

/// How one PCR of one bank compares.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum PcrVerdict {
    /// The replay gives the real value.
    Match,
    /// The real value is the replay's value after event `matched_through`: the log goes on
    /// with events the TPM never saw, starting at `parts_at`.
    LogHasExtraEvents {
        /// Last event the TPM agrees with.
        matched_through: usize,
        /// First event where they part.
        parts_at: usize,
    },
    /// The real value is the PCR's start value: the TPM saw none of the log's events.
    TpmSawNoEvents {
        /// The first event of this PCR.
        parts_at: usize,
    },
    /// No prefix of the log gives the real value; `parts_at` is the first event whose digest
    /// does not match its payload in this PCR, if any, else the first event of the PCR.
    Differs {
        /// The event to suspect first, if the log extended this PCR at all.
        parts_at: Option<usize>,
    },
}

/// One PCR's comparison.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PcrCheck {
    /// Bank.
    pub alg: HashAlg,
    /// PCR index.
    pub pcr: u32,
    /// The value read from the TPM.
    #[serde(with = "crate::log::hex_bytes")]
    pub expected: Vec<u8>,
    /// The replayed value (empty if the replay lacks this bank).
    #[serde(with = "crate::log::hex_bytes")]
    pub replayed: Vec<u8>,
    /// The verdict.
    #[serde(flatten)]
    pub verdict: PcrVerdict,
}

/// Compare every value in `real` with the replay.
pub fn verify(replay: &Replay, real: &PcrValues) -> Vec<PcrCheck> {
    let mut out = Vec::new();
    for (alg, pcrs) in &real.map {
        for (pcr, want) in pcrs {
            let got = replay.value(*alg, *pcr).map(<[u8]>::to_vec);
            let verdict = if got.as_deref() == Some(want.as_slice()) {
                PcrVerdict::Match
            } else if let Some((start, steps)) = replay.history.get(&(*alg, *pcr)) {
                if start == want {
                    PcrVerdict::TpmSawNoEvents {
                        parts_at: steps[0].0,
                    }
                } else if let Some(i) = steps.iter().position(|(_, v)| v == want) {
                    PcrVerdict::LogHasExtraEvents {
                        matched_through: steps[i].0,
                        parts_at: steps[i + 1].0,
                    }
                } else {
                    let suspect = replay
                        .mismatches
                        .iter()
                        .find(|m| m.pcr == *pcr)
                        .map(|m| m.event)
                        .unwrap_or(steps[0].0);
                    PcrVerdict::Differs {
                        parts_at: Some(suspect),
                    }
                }
            } else {
                PcrVerdict::Differs { parts_at: None }
            };
            out.push(PcrCheck {
                alg: *alg,
                pcr: *pcr,
                expected: want.clone(),
                replayed: got.unwrap_or_default(),
                verdict,
            });
        }
    }
    out
}
