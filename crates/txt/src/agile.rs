//! The predicted launch as a TCG crypto-agile event log, the format a
//! TPM 2.0 SINIT writes when its capabilities have bit 9 (spec §7.3).

use tcg::log::{AgileLogWriter, EventType};

use crate::predict::Prediction;

/// Serialise `p` as a crypto-agile log: the Spec ID header for the
/// predicted banks, then one `TCG_PCR_EVENT2` per event carrying exactly
/// the banks it extends (tboot's FIXED mode logs a single bank).
pub fn agile_log(p: &Prediction) -> Vec<u8> {
    let w = AgileLogWriter::new(&p.banks);
    let mut buf = w.into_bytes();
    for e in &p.events {
        buf.extend_from_slice(&e.pcr.to_le_bytes());
        buf.extend_from_slice(&EventType::from_u32(e.event_type).to_u32().to_le_bytes());
        buf.extend_from_slice(&(e.digests.len() as u32).to_le_bytes());
        for (alg, d) in &e.digests {
            buf.extend_from_slice(&alg.id().to_le_bytes());
            buf.extend_from_slice(&d.0);
        }
        buf.extend_from_slice(&(e.data.0.len() as u32).to_le_bytes());
        buf.extend_from_slice(&e.data.0);
    }
    buf
}
