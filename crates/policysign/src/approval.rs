//! An approval: the policy a signing key approves for one or more predicted
//! launches, and what a TPM needs to accept it (TPM 2.0 Part 3 §23.16).
//!
//! Each launch gives a `PolicyPCR` digest over the selection. One launch:
//! that digest is the approved policy. Several (an upgrade window: today's
//! launch and the next): their distinct digests are ORed, more than 8 in a
//! tree of `PolicyOR`s as [`tcg::policy::policy_or_tree`] builds it, and the
//! root is approved. The key signs `aHash = H(approvedPolicy ‖ policyRef)`,
//! H being the key's nameAlg. A secret sealed once to
//! `PolicyAuthorize(keyName, policyRef)` then unseals after any launch the
//! key approved: the session runs `PolicyPCR`, the launch's `PolicyOR`
//! steps, then `PolicyAuthorize` with the TPM's ticket for the signature.

use tcg::HashAlg;
use tcg::PcrValues;
use tcg::policy::{PcrSelection, PolicyDigest, PolicyError, policy_or_tree};

/// The policy hash of every approval: the sealed object's nameAlg.
pub const POLICY_ALG: HashAlg = HashAlg::Sha256;

/// A predicted launch to approve.
#[derive(Clone, Debug)]
pub struct Launch {
    /// Where it came from (a bundle, a `pcrs.json`), for the record.
    pub label: String,
    /// Its predicted PCR values (at least the selected ones).
    pub values: PcrValues,
}

/// One approved launch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovedLaunch {
    /// Where it came from.
    pub label: String,
    /// The selected values in selection order (`tpm2_policypcr -f`).
    pub values: Vec<u8>,
    /// Its `PolicyPCR` digest.
    pub policy_pcr: Vec<u8>,
    /// Index of its digest among the distinct branches (`levels[0]`).
    pub branch: usize,
    /// The `PolicyOR` steps after `PolicyPCR`, leaves first: at each level,
    /// `(level, first index, count)` of the digests in [`Approval::levels`]
    /// to pass, in order (a group of one is passed twice). Empty when the
    /// approval covers one policy.
    pub or_steps: Vec<OrStep>,
}

/// One `TPM2_PolicyOR` a session runs: branches `levels[level][from..from+count]`
/// (or the single one twice, when `count` is 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrStep {
    /// Tree level (0: the launches' PolicyPCR digests).
    pub level: usize,
    /// First digest of the group.
    pub from: usize,
    /// Digests in the group (1-8).
    pub count: usize,
}

/// What a key approves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    /// The PCR selection every launch's `PolicyPCR` covers.
    pub selection: PcrSelection,
    /// The launches, in the order given.
    pub launches: Vec<ApprovedLaunch>,
    /// The `PolicyOR` tree, leaves (distinct PolicyPCR digests) first, root
    /// last; empty when there is one distinct digest.
    pub levels: Vec<Vec<Vec<u8>>>,
    /// The approved policy: the single PolicyPCR digest or the tree's root.
    pub approved: Vec<u8>,
    /// policyRef (may be empty).
    pub policy_ref: Vec<u8>,
}

/// An approval that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    /// No launch given.
    #[error("no launch to approve")]
    NoLaunch,
    /// A launch lacks a selected value.
    #[error("{label}: {source}")]
    Launch {
        /// The launch.
        label: String,
        /// What is missing.
        source: PolicyError,
    },
    /// A policyRef longer than a TPM takes (`TPM2B_NONCE`, at most the size
    /// of the largest digest, 64 bytes).
    #[error("policyRef has {0} bytes; a TPM takes at most 64")]
    PolicyRefTooLong(usize),
}

impl Approval {
    /// Approve `launches` over `selection` with `policy_ref`.
    pub fn new(
        selection: &PcrSelection,
        launches: &[Launch],
        policy_ref: &[u8],
    ) -> Result<Approval, ApprovalError> {
        if launches.is_empty() {
            return Err(ApprovalError::NoLaunch);
        }
        if policy_ref.len() > 64 {
            return Err(ApprovalError::PolicyRefTooLong(policy_ref.len()));
        }
        let mut distinct: Vec<Vec<u8>> = Vec::new();
        let mut out = Vec::new();
        for l in launches {
            let err = |source| ApprovalError::Launch {
                label: l.label.clone(),
                source,
            };
            let values = selection.values(&l.values).map_err(err)?;
            let mut pd = PolicyDigest::new(POLICY_ALG);
            pd.policy_pcr(selection, &l.values).map_err(err)?;
            let d = pd.digest().to_vec();
            let branch = match distinct.iter().position(|x| *x == d) {
                Some(i) => i,
                None => {
                    distinct.push(d.clone());
                    distinct.len() - 1
                }
            };
            out.push(ApprovedLaunch {
                label: l.label.clone(),
                values,
                policy_pcr: d,
                branch,
                or_steps: Vec::new(),
            });
        }
        let (levels, approved) = if distinct.len() == 1 {
            (Vec::new(), distinct[0].clone())
        } else {
            let levels = policy_or_tree(POLICY_ALG, &distinct).expect("two or more branches");
            let root = levels.last().expect("root level")[0].clone();
            (levels, root)
        };
        for l in &mut out {
            let mut at = l.branch;
            for (level, digests) in levels.iter().enumerate() {
                if digests.len() == 1 {
                    break;
                }
                let group = at / tcg::policy::MAX_OR_BRANCHES;
                let from = group * tcg::policy::MAX_OR_BRANCHES;
                let count = (digests.len() - from).min(tcg::policy::MAX_OR_BRANCHES);
                l.or_steps.push(OrStep { level, from, count });
                at = group;
            }
        }
        Ok(Approval {
            selection: selection.clone(),
            launches: out,
            levels,
            approved,
            policy_ref: policy_ref.to_vec(),
        })
    }

    /// `aHash = H(approvedPolicy ‖ policyRef)` with the signing key's nameAlg.
    pub fn ahash(&self, key_name_alg: HashAlg) -> Vec<u8> {
        let mut h = key_name_alg.hasher();
        h.update(&self.approved);
        h.update(&self.policy_ref);
        h.finalize()
    }

    /// The digests one `PolicyOR` step passes, in order.
    pub fn or_branches(&self, step: OrStep) -> Vec<Vec<u8>> {
        let g = &self.levels[step.level][step.from..step.from + step.count];
        if g.len() == 1 {
            vec![g[0].clone(), g[0].clone()]
        } else {
            g.to_vec()
        }
    }
}

/// The policy to seal to, once: `PolicyAuthorize(key_name, policy_ref)` in a
/// fresh sha256 session (what `tpm2_policyauthorize -L` gives in a trial
/// session with `-n KEY.name [-q REF]`).
pub fn authorize_policy(key_name: &[u8], policy_ref: &[u8]) -> Vec<u8> {
    let mut p = PolicyDigest::new(POLICY_ALG);
    p.policy_authorize(key_name, policy_ref);
    p.digest().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(i: u8) -> Launch {
        let mut v = PcrValues::default();
        for p in [17, 18, 19] {
            v.insert(HashAlg::Sha256, p, vec![i.wrapping_add(p as u8); 32]);
        }
        Launch {
            label: format!("launch {i}"),
            values: v,
        }
    }

    fn sel() -> PcrSelection {
        "sha256:17,18,19".parse().unwrap()
    }

    #[test]
    fn one_launch_approves_its_policy_pcr_directly() {
        let a = Approval::new(&sel(), &[launch(1)], b"").unwrap();
        assert!(a.levels.is_empty());
        assert_eq!(a.approved, a.launches[0].policy_pcr);
        assert!(a.launches[0].or_steps.is_empty());
        // aHash with an empty policyRef is H(approvedPolicy).
        assert_eq!(
            a.ahash(HashAlg::Sha256),
            HashAlg::Sha256.digest(&a.approved)
        );
    }

    #[test]
    fn the_same_launch_twice_is_one_branch() {
        let a = Approval::new(&sel(), &[launch(1), launch(1)], b"").unwrap();
        assert!(a.levels.is_empty());
        assert_eq!(a.launches[1].branch, 0);
    }

    #[test]
    fn nine_launches_chain_two_or_levels_and_each_path_reaches_the_root() {
        let ls: Vec<Launch> = (0..9).map(launch).collect();
        let a = Approval::new(&sel(), &ls, b"ref").unwrap();
        assert_eq!(a.levels.iter().map(Vec::len).collect::<Vec<_>>(), [9, 2, 1]);
        for l in &a.launches {
            // Walk the session as the TPM would.
            let mut cur = l.policy_pcr.clone();
            for s in &l.or_steps {
                let b = a.or_branches(*s);
                assert!(b.contains(&cur), "{}: not in its OR group", l.label);
                let mut p = PolicyDigest::new(POLICY_ALG);
                p.policy_or(&b).unwrap();
                cur = p.digest().to_vec();
            }
            assert_eq!(cur, a.approved, "{}", l.label);
        }
        // The ninth is alone in its group: ORed with itself.
        assert_eq!(a.launches[8].or_steps[0].count, 1);
        assert_eq!(a.or_branches(a.launches[8].or_steps[0]).len(), 2);
    }

    #[test]
    fn missing_values_and_long_policy_refs_are_refused() {
        let mut l = launch(1);
        l.values.map.clear();
        let e = Approval::new(&sel(), &[l], b"").unwrap_err().to_string();
        assert!(e.contains("launch 1") && e.contains("PCR17"), "{e}");
        assert!(Approval::new(&sel(), &[launch(1)], &[0; 65]).is_err());
        assert!(Approval::new(&sel(), &[], b"").is_err());
    }
}
