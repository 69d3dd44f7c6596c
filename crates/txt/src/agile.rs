//! The predicted launch as a TCG crypto-agile event log, the format a
//! TPM 2.0 SINIT writes when its capabilities have bit 9 (spec §7.3).

use crate::predict::Prediction;

/// Serialise `p` as a crypto-agile log: the Spec ID header for the
/// predicted banks, then one `TCG_PCR_EVENT2` per event carrying exactly
/// the banks it extends (tboot's FIXED mode logs a single bank).
pub fn agile_log(p: &Prediction) -> Vec<u8> {
    crate::txtlog::write_agile(&p.banks, &p.events)
}
