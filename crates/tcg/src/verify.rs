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
        /// The event to suspect first.
        parts_at: usize,
    },
    /// The log never extends this PCR in this bank (it may in others), and the real value
    /// is not the PCR's start value: something the log does not record extended it.
    NotInLog {
        /// Banks in which the log does extend this PCR.
        extended_in: Vec<HashAlg>,
    },
    /// The header declares this bank, but no event carries a digest for it: the log
    /// says nothing about it.
    BankWithoutEvents,
    /// The log does not have this bank at all.
    BankNotInLog,
}

impl PcrVerdict {
    /// The verdict in words.
    pub fn describe(&self, alg: HashAlg, pcr: u32) -> String {
        match self {
            PcrVerdict::Match => "match".into(),
            PcrVerdict::LogHasExtraEvents {
                matched_through,
                parts_at,
            } => format!(
                "MISMATCH: the TPM matches the log through event {matched_through}; \
                 events from {parts_at} on never reached the TPM"
            ),
            PcrVerdict::TpmSawNoEvents { parts_at } => format!(
                "MISMATCH: the TPM holds PCR{pcr}'s start value; it saw none of the log's events \
                 (the first is event {parts_at})"
            ),
            PcrVerdict::Differs { parts_at } => format!(
                "MISMATCH: no prefix of the log gives the TPM's value; first suspect: event {parts_at}"
            ),
            PcrVerdict::NotInLog { extended_in } if extended_in.is_empty() => format!(
                "MISMATCH: the log never extends PCR{pcr}, yet the TPM's value is not its start value"
            ),
            PcrVerdict::NotInLog { extended_in } => {
                let b: Vec<&str> = extended_in.iter().map(|a| a.name()).collect();
                format!(
                    "MISMATCH: the log never extends PCR{pcr} in {alg} (only in {}), yet the \
                     TPM's value is not its start value",
                    b.join(", ")
                )
            }
            PcrVerdict::BankWithoutEvents => format!(
                "MISMATCH: the log's header declares {alg}, but no event carries a {alg} digest"
            ),
            PcrVerdict::BankNotInLog => format!("MISMATCH: the log has no {alg} bank"),
        }
    }
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
                    PcrVerdict::Differs { parts_at: suspect }
                }
            } else if replay.banks_without_events.contains(alg) {
                PcrVerdict::BankWithoutEvents
            } else if replay.banks.bank(*alg).is_none() {
                PcrVerdict::BankNotInLog
            } else {
                let extended_in = replay
                    .history
                    .keys()
                    .filter(|(_, p)| p == pcr)
                    .map(|(a, _)| *a)
                    .collect();
                PcrVerdict::NotInLog { extended_in }
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
