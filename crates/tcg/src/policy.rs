//! Policy digests computed in software (TPM 2.0 Part 3 §23), and the TPM 1.2
//! `TPM_PCR_COMPOSITE` digest. Every TPM structure here is big-endian.

use std::fmt;
use std::str::FromStr;

use crate::alg::HashAlg;
use crate::values::PcrValues;

/// `TPM_CC_PolicyPCR`.
pub const TPM_CC_POLICY_PCR: u32 = 0x0000_017F;
/// `TPM_CC_PolicyOR`.
pub const TPM_CC_POLICY_OR: u32 = 0x0000_0171;
/// `TPM_CC_PolicyAuthorize`.
pub const TPM_CC_POLICY_AUTHORIZE: u32 = 0x0000_016A;
/// The most branches one `TPM2_PolicyOR` takes (`TPML_DIGEST` of 8).
pub const MAX_OR_BRANCHES: usize = 8;

/// A policy or selection that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A selection string is not `alg:n,n,...[+alg:...]`.
    #[error("bad PCR selection {0:?}: expected e.g. sha256:0,2,4+sha1:7 with PCRs 0-23")]
    BadSelection(String),
    /// A selection names no PCR: a policy over it binds nothing.
    #[error(
        "PCR selection {0:?} selects no PCR: a policy over it would bind the secret to nothing \
         (give e.g. sha256:17,18,19)"
    )]
    EmptySelection(String),
    /// A selected PCR has no value.
    #[error("no value for {alg} PCR{pcr}")]
    MissingValue {
        /// Bank.
        alg: HashAlg,
        /// PCR.
        pcr: u32,
    },
    /// PolicyOR needs at least two branches.
    #[error("PolicyOR needs at least 2 branches, got {0}")]
    TooFewBranches(usize),
    /// A branch digest has the wrong size for the policy algorithm.
    #[error("branch {index} has {len} bytes, {alg} policy digests have {want}")]
    BranchSize {
        /// Branch index.
        index: usize,
        /// Its length.
        len: usize,
        /// Policy algorithm.
        alg: HashAlg,
        /// Expected length.
        want: usize,
    },
    /// Raw PCR values do not fill the selection exactly.
    #[error("PCR values file has {got} bytes, the selection needs {want}")]
    ValuesSize {
        /// Bytes given.
        got: usize,
        /// Bytes needed.
        want: usize,
    },
}

/// A `TPML_PCR_SELECTION`: banks in order, each with its PCRs (ascending, deduplicated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcrSelection {
    /// `(bank, pcrs)` in the order given.
    pub banks: Vec<(HashAlg, Vec<u32>)>,
}

impl FromStr for PcrSelection {
    type Err = PolicyError;
    /// Parse the tpm2-tools syntax `sha256:0,2,4+sha1:7` (also `sha256:all`, indices in
    /// decimal or `0x` hex). A selection of no PCR at all is refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PolicyError::BadSelection(s.to_string());
        if s.trim().is_empty() {
            return Err(PolicyError::EmptySelection(s.to_string()));
        }
        let mut banks: Vec<(HashAlg, Vec<u32>)> = Vec::new();
        for part in s.split('+') {
            let (a, list) = part.split_once(':').ok_or_else(bad)?;
            let alg: HashAlg = a.trim().parse().map_err(|_| bad())?;
            let mut pcrs = Vec::new();
            let list = list.trim();
            if list == "all" {
                pcrs.extend(0..24);
            } else if !list.is_empty() && list != "none" {
                for n in list.split(',') {
                    let n = n.trim();
                    let p = match n.strip_prefix("0x").or_else(|| n.strip_prefix("0X")) {
                        Some(h) => u32::from_str_radix(h, 16),
                        None => n.parse(),
                    }
                    .map_err(|_| bad())?;
                    if p >= 24 {
                        return Err(bad());
                    }
                    pcrs.push(p);
                }
            }
            pcrs.sort_unstable();
            pcrs.dedup();
            // Kept as given, empty banks and repeats too: the marshalled
            // TPML_PCR_SELECTION must be the one tpm2-tools builds from the same text.
            banks.push((alg, pcrs));
        }
        if banks.iter().all(|(_, p)| p.is_empty()) {
            return Err(PolicyError::EmptySelection(s.to_string()));
        }
        Ok(PcrSelection { banks })
    }
}

impl fmt::Display for PcrSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (a, pcrs)) in self.banks.iter().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            let l: Vec<String> = pcrs.iter().map(|p| p.to_string()).collect();
            write!(f, "{a}:{}", l.join(","))?;
        }
        Ok(())
    }
}

impl PcrSelection {
    /// The marshalled `TPML_PCR_SELECTION` (3-byte bitmaps, 24 PCRs).
    pub fn marshal(&self) -> Vec<u8> {
        let mut out = (self.banks.len() as u32).to_be_bytes().to_vec();
        for (alg, pcrs) in &self.banks {
            out.extend_from_slice(&alg.id().to_be_bytes());
            out.push(3);
            let mut bits = [0u8; 3];
            for &p in pcrs {
                bits[(p / 8) as usize] |= 1 << (p % 8);
            }
            out.extend_from_slice(&bits);
        }
        out
    }

    /// The selected values concatenated in selection order (the layout of
    /// `tpm2_createpolicy -f` and `tpm2_pcrread -o`).
    pub fn values(&self, values: &PcrValues) -> Result<Vec<u8>, PolicyError> {
        let mut out = Vec::new();
        for (alg, pcrs) in &self.banks {
            for &p in pcrs {
                let v = values
                    .get(*alg, p)
                    .ok_or(PolicyError::MissingValue { alg: *alg, pcr: p })?;
                out.extend_from_slice(v);
            }
        }
        Ok(out)
    }

    /// Split a raw values file (concatenated values in selection order) into [`PcrValues`].
    pub fn split_values(&self, raw: &[u8]) -> Result<PcrValues, PolicyError> {
        let want: usize = self.banks.iter().map(|(a, p)| a.size() * p.len()).sum();
        if raw.len() != want {
            return Err(PolicyError::ValuesSize {
                got: raw.len(),
                want,
            });
        }
        let mut out = PcrValues::default();
        let mut at = 0;
        for (alg, pcrs) in &self.banks {
            for &p in pcrs {
                out.insert(*alg, p, raw[at..at + alg.size()].to_vec());
                at += alg.size();
            }
        }
        Ok(out)
    }
}

/// A policy session's digest, built up one assertion at a time as the TPM would.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyDigest {
    alg: HashAlg,
    digest: Vec<u8>,
}

impl PolicyDigest {
    /// A fresh policy (all zeros) hashed with `alg` (the sealed object's nameAlg).
    pub fn new(alg: HashAlg) -> Self {
        PolicyDigest {
            alg,
            digest: alg.zeros(),
        }
    }

    /// The policy hash algorithm.
    pub fn alg(&self) -> HashAlg {
        self.alg
    }

    /// The current digest.
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }

    /// `policyDigest = H(policyDigest || cc || args...)`.
    fn update(&mut self, cc: u32, args: &[&[u8]]) {
        let mut h = self.alg.hasher();
        h.update(&self.digest);
        h.update(&cc.to_be_bytes());
        for a in args {
            h.update(a);
        }
        self.digest = h.finalize();
    }

    /// `TPM2_PolicyPCR` with a precomputed `pcrDigest` (hash, in the policy algorithm, of
    /// the selected values in selection order).
    pub fn policy_pcr_digest(&mut self, sel: &PcrSelection, pcr_digest: &[u8]) -> &mut Self {
        let m = sel.marshal();
        self.update(TPM_CC_POLICY_PCR, &[&m, pcr_digest]);
        self
    }

    /// `TPM2_PolicyPCR` for the given values of the selected PCRs.
    pub fn policy_pcr(
        &mut self,
        sel: &PcrSelection,
        values: &PcrValues,
    ) -> Result<&mut Self, PolicyError> {
        let cat = sel.values(values)?;
        let d = self.alg.digest(&cat);
        Ok(self.policy_pcr_digest(sel, &d))
    }

    /// `TPM2_PolicyAuthorize` by the key named `key_name` (nameAlg || H(TPMT_PUBLIC)),
    /// with `policy_ref` (may be empty). The digest is reset first, as the TPM does.
    pub fn policy_authorize(&mut self, key_name: &[u8], policy_ref: &[u8]) -> &mut Self {
        self.digest = self.alg.zeros();
        self.update(TPM_CC_POLICY_AUTHORIZE, &[key_name]);
        let mut h = self.alg.hasher();
        h.update(&self.digest);
        h.update(policy_ref);
        self.digest = h.finalize();
        self
    }

    /// `TPM2_PolicyOR` over `branches` (2-8 policy digests): replaces the digest with
    /// `H(0.. || TPM_CC_PolicyOR || branches...)`.
    pub fn policy_or(&mut self, branches: &[Vec<u8>]) -> Result<&mut Self, PolicyError> {
        if branches.len() < 2 {
            return Err(PolicyError::TooFewBranches(branches.len()));
        }
        for (index, b) in branches.iter().enumerate() {
            if b.len() != self.alg.size() {
                return Err(PolicyError::BranchSize {
                    index,
                    len: b.len(),
                    alg: self.alg,
                    want: self.alg.size(),
                });
            }
        }
        assert!(branches.len() <= MAX_OR_BRANCHES, "use or_tree for more");
        self.digest = self.alg.zeros();
        let cat: Vec<u8> = branches.concat();
        self.update(TPM_CC_POLICY_OR, &[&cat]);
        Ok(self)
    }
}

/// A PolicyOR over any number of branches: more than 8 are grouped in eights, each group
/// becomes one PolicyOR, and the groups are ORed again (a tree, as systemd-pcrlock does).
/// A group of one branch is ORed with itself, since PolicyOR needs two.
/// Returns every level, leaves first, so a session can walk it; the last level has the root.
pub fn policy_or_tree(
    alg: HashAlg,
    branches: &[Vec<u8>],
) -> Result<Vec<Vec<Vec<u8>>>, PolicyError> {
    if branches.len() < 2 {
        return Err(PolicyError::TooFewBranches(branches.len()));
    }
    let mut levels = vec![branches.to_vec()];
    loop {
        let cur = levels.last().expect("at least one level");
        if cur.len() == 1 {
            break;
        }
        let mut next = Vec::new();
        for group in cur.chunks(MAX_OR_BRANCHES) {
            let mut g = group.to_vec();
            if g.len() == 1 {
                g.push(g[0].clone());
            }
            let mut p = PolicyDigest::new(alg);
            p.policy_or(&g)?;
            next.push(p.digest);
        }
        levels.push(next);
    }
    Ok(levels)
}

/// The root digest of [`policy_or_tree`].
pub fn policy_or_root(alg: HashAlg, branches: &[Vec<u8>]) -> Result<Vec<u8>, PolicyError> {
    let levels = policy_or_tree(alg, branches)?;
    Ok(levels.last().expect("root level")[0].clone())
}

/// TPM 1.2 `digestAtRelease`: SHA1 of `TPM_PCR_COMPOSITE` over the given PCRs
/// (`TPM_PCR_SELECTION` with a 3-byte bitmap, `valueSize`, the values in PCR order).
/// `pcrs` must be `(index < 24, 20-byte value)`; they are sorted and deduplicated.
pub fn tpm12_composite_digest(pcrs: &[(u32, [u8; 20])]) -> [u8; 20] {
    let mut v = pcrs.to_vec();
    v.sort_by_key(|p| p.0);
    v.dedup_by_key(|p| p.0);
    let mut bits = [0u8; 3];
    for (p, _) in &v {
        bits[(*p / 8) as usize] |= 1 << (p % 8);
    }
    let mut h = HashAlg::Sha1.hasher();
    h.update(&3u16.to_be_bytes());
    h.update(&bits);
    h.update(&((v.len() * 20) as u32).to_be_bytes());
    for (_, val) in &v {
        h.update(val);
    }
    h.finalize().try_into().expect("SHA1 is 20 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_marshals_bitmap_per_bank() {
        let s: PcrSelection = "sha256:0,2,4,7+sha1:16".parse().unwrap();
        assert_eq!(
            s.marshal(),
            vec![0, 0, 0, 2, 0, 0x0B, 3, 0x95, 0, 0, 0, 0x04, 3, 0, 0, 1]
        );
        assert!("sha256:24".parse::<PcrSelection>().is_err());
        assert_eq!(
            "sha256:0x11,18,19".parse::<PcrSelection>().unwrap(),
            "sha256:17,18,19".parse().unwrap()
        );
        assert_eq!(
            "sha1:all".parse::<PcrSelection>().unwrap().banks[0].1,
            (0..24).collect::<Vec<u32>>()
        );
        assert!("sha999:1".parse::<PcrSelection>().is_err());
    }

    #[test]
    fn empty_selection_is_refused_not_a_policy_over_nothing() {
        for s in ["", " ", "sha256:", "sha256:none", "sha1:+sha256:"] {
            assert!(
                matches!(
                    s.parse::<PcrSelection>(),
                    Err(PolicyError::EmptySelection(_))
                ),
                "{s:?} was accepted"
            );
        }
    }

    #[test]
    fn or_tree_over_nine_branches_has_two_levels_above_leaves() {
        let b: Vec<Vec<u8>> = (0..9u8).map(|i| vec![i; 32]).collect();
        let levels = policy_or_tree(HashAlg::Sha256, &b).unwrap();
        assert_eq!(levels.iter().map(Vec::len).collect::<Vec<_>>(), [9, 2, 1]);
        assert!(policy_or_root(HashAlg::Sha256, &b[..1]).is_err());
    }
}
