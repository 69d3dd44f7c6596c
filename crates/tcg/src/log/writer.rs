//! Writing crypto-agile event logs (e.g. a predicted DRTM log).

use super::types::EventType;
use crate::alg::HashAlg;

/// Builds a TCG 2 crypto-agile log: a Spec ID header for the chosen banks, then events.
#[derive(Clone, Debug)]
pub struct AgileLogWriter {
    algs: Vec<HashAlg>,
    buf: Vec<u8>,
}

impl AgileLogWriter {
    /// Start a log whose events carry one digest per algorithm in `algs`
    /// (platform class client, spec 2.0 errata 0, 64-bit UINTN, no vendor info).
    pub fn new(algs: &[HashAlg]) -> Self {
        let mut dedup: Vec<HashAlg> = Vec::new();
        for &a in algs {
            if !dedup.contains(&a) {
                dedup.push(a);
            }
        }
        let mut spec = Vec::new();
        spec.extend_from_slice(b"Spec ID Event03\0");
        spec.extend_from_slice(&0u32.to_le_bytes()); // platformClass: client
        spec.extend_from_slice(&[0, 2, 0, 2]); // minor 0, major 2, errata 0, uintnSize 2
        spec.extend_from_slice(&(dedup.len() as u32).to_le_bytes());
        for a in &dedup {
            spec.extend_from_slice(&a.id().to_le_bytes());
            spec.extend_from_slice(&(a.size() as u16).to_le_bytes());
        }
        spec.push(0); // vendorInfoSize
        let mut buf = Vec::new();
        buf.extend_from_slice(&0u32.to_le_bytes());
        buf.extend_from_slice(&EventType::NoAction.to_u32().to_le_bytes());
        buf.extend_from_slice(&[0u8; 20]);
        buf.extend_from_slice(&(spec.len() as u32).to_le_bytes());
        buf.extend_from_slice(&spec);
        AgileLogWriter { algs: dedup, buf }
    }

    /// The banks every event carries.
    pub fn algs(&self) -> &[HashAlg] {
        &self.algs
    }

    /// Append an event whose digests are the hash of `data` in every bank.
    pub fn measure(&mut self, pcr: u32, ty: EventType, data: &[u8]) {
        let digests: Vec<Vec<u8>> = self.algs.iter().map(|a| a.digest(data)).collect();
        self.push_raw(pcr, ty, &digests, data);
    }

    /// Append an event with given digests (one per bank, in [`Self::algs`] order) and data.
    /// Panics if the digests do not match the banks: a programming error, not input.
    pub fn push(&mut self, pcr: u32, ty: EventType, digests: &[Vec<u8>], data: &[u8]) {
        assert_eq!(digests.len(), self.algs.len(), "one digest per bank");
        for (a, d) in self.algs.iter().zip(digests) {
            assert_eq!(d.len(), a.size(), "{a} digest size");
        }
        self.push_raw(pcr, ty, digests, data);
    }

    fn push_raw(&mut self, pcr: u32, ty: EventType, digests: &[Vec<u8>], data: &[u8]) {
        self.buf.extend_from_slice(&pcr.to_le_bytes());
        self.buf.extend_from_slice(&ty.to_u32().to_le_bytes());
        self.buf
            .extend_from_slice(&(self.algs.len() as u32).to_le_bytes());
        for (a, d) in self.algs.iter().zip(digests) {
            self.buf.extend_from_slice(&a.id().to_le_bytes());
            self.buf.extend_from_slice(d);
        }
        self.buf
            .extend_from_slice(&(data.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(data);
    }

    /// Append an `EV_NO_ACTION` StartupLocality event (PCR0 starts at `locality`).
    pub fn startup_locality(&mut self, locality: u8) {
        let mut data = b"StartupLocality\0".to_vec();
        data.push(locality);
        let zeros: Vec<Vec<u8>> = self.algs.iter().map(|a| a.zeros()).collect();
        self.push_raw(0, EventType::NoAction, &zeros, &data);
    }

    /// The log bytes so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The finished log.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}
