//! PCR banks: the registers a TPM keeps per hash algorithm, and how they move.

use crate::alg::HashAlg;

/// Number of PCRs in a PC-client TPM (1.2 and 2.0).
pub const PCR_COUNT: usize = 24;

/// The PCRs a dynamic launch (TXT SENTER / SKINIT) resets to zero.
pub const DRTM_PCRS: std::ops::RangeInclusive<usize> = 17..=22;

/// One bank: all 24 PCRs of one hash algorithm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcrBank {
    alg: HashAlg,
    values: Vec<Vec<u8>>,
}

impl PcrBank {
    /// The bank after `TPM2_Startup(CLEAR)` (or TPM 1.2 `TPM_Init`): PCRs 0-16 and 23 are
    /// zero, the dynamic PCRs 17-22 are all-FF until a dynamic launch resets them.
    pub fn at_power_on(alg: HashAlg) -> Self {
        let values = (0..PCR_COUNT)
            .map(|i| {
                if DRTM_PCRS.contains(&i) {
                    vec![0xFF; alg.size()]
                } else {
                    alg.zeros()
                }
            })
            .collect();
        PcrBank { alg, values }
    }

    /// The bank's algorithm.
    pub fn alg(&self) -> HashAlg {
        self.alg
    }

    /// The current value of PCR `index` (panics if `index >= 24`; callers check ranges).
    pub fn get(&self, index: usize) -> &[u8] {
        &self.values[index]
    }

    /// Overwrite PCR `index` with `value` (its length must be the bank's digest size).
    pub fn set(&mut self, index: usize, value: &[u8]) {
        debug_assert_eq!(value.len(), self.alg.size());
        self.values[index] = value.to_vec();
    }

    /// Reset PCR `index` the way a startup or H-CRTM at `locality` does:
    /// zero except the last byte, which holds the locality.
    pub fn reset_to_locality(&mut self, index: usize, locality: u8) {
        let mut v = self.alg.zeros();
        *v.last_mut().expect("digests are never empty") = locality;
        self.values[index] = v;
    }

    /// `PCR[index] = H(PCR[index] || digest)`. A digest of the wrong size is padded or
    /// truncated to the bank size, as the TPM does for `TPM2_PCR_Extend`.
    pub fn extend(&mut self, index: usize, digest: &[u8]) {
        let mut h = self.alg.hasher();
        h.update(&self.values[index]);
        let n = self.alg.size();
        if digest.len() == n {
            h.update(digest);
        } else {
            let mut d = digest[..digest.len().min(n)].to_vec();
            d.resize(n, 0);
            h.update(&d);
        }
        self.values[index] = h.finalize();
    }

    /// `PCR[index] = H(PCR[index] || H(data))`: measure `data` into the PCR.
    pub fn measure(&mut self, index: usize, data: &[u8]) {
        let d = self.alg.digest(data);
        self.extend(index, &d);
    }
}

/// Every bank a TPM (or a log) has, in the order given.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PcrBanks {
    banks: Vec<PcrBank>,
}

impl PcrBanks {
    /// Power-on banks for each algorithm in `algs` (duplicates kept once).
    pub fn at_power_on(algs: &[HashAlg]) -> Self {
        let mut banks: Vec<PcrBank> = Vec::new();
        for &a in algs {
            if !banks.iter().any(|b| b.alg == a) {
                banks.push(PcrBank::at_power_on(a));
            }
        }
        PcrBanks { banks }
    }

    /// The bank of `alg`, if present.
    pub fn bank(&self, alg: HashAlg) -> Option<&PcrBank> {
        self.banks.iter().find(|b| b.alg == alg)
    }

    /// The bank of `alg`, mutably, if present.
    pub fn bank_mut(&mut self, alg: HashAlg) -> Option<&mut PcrBank> {
        self.banks.iter_mut().find(|b| b.alg == alg)
    }

    /// All banks.
    pub fn banks(&self) -> &[PcrBank] {
        &self.banks
    }

    /// All banks, mutably.
    pub fn banks_mut(&mut self) -> &mut [PcrBank] {
        &mut self.banks
    }

    /// The algorithms of the banks, in order.
    pub fn algs(&self) -> Vec<HashAlg> {
        self.banks.iter().map(|b| b.alg).collect()
    }

    /// Reset PCR `index` to the locality value in every bank.
    pub fn reset_to_locality(&mut self, index: usize, locality: u8) {
        for b in &mut self.banks {
            b.reset_to_locality(index, locality);
        }
    }

    /// Measure the same bytes into PCR `index` of every bank (each bank hashes with its own
    /// algorithm), as `TPM2_PCR_Event` or a DRTM module measurement does.
    pub fn measure(&mut self, index: usize, data: &[u8]) {
        for b in &mut self.banks {
            b.measure(index, data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extend_is_hash_of_old_value_and_digest() {
        let mut b = PcrBank::at_power_on(HashAlg::Sha256);
        let d = HashAlg::Sha256.digest(b"x");
        b.extend(3, &d);
        let mut cat = vec![0u8; 32];
        cat.extend_from_slice(&d);
        assert_eq!(b.get(3), HashAlg::Sha256.digest(&cat).as_slice());
    }

    #[test]
    fn drtm_pcrs_start_all_ff_and_locality_reset_sets_last_byte() {
        let mut b = PcrBank::at_power_on(HashAlg::Sha1);
        assert_eq!(b.get(17), &[0xFF; 20]);
        assert_eq!(b.get(23), &[0; 20]);
        b.reset_to_locality(0, 4);
        let mut want = [0u8; 20];
        want[19] = 4;
        assert_eq!(b.get(0), &want);
    }
}
