//! tboot Verified-Launch policies (`tb_policy_t`, `include/tb_policy.h`):
//! parse, serialise byte-for-byte like `tb_polgen`, the built-in defaults
//! per tboot version, and the "tb_policy" measurement (spec §6).

use serde::{Deserialize, Serialize};
use tcg::HashAlg;

use crate::error::{Error, Result};
use crate::release::Release;
use crate::version::TbootVersion;
use crate::view::View;

/// `tb_policy_t.version`: the only accepted value.
pub const POLICY_VERSION: u8 = 2;
/// `policy_control` bit 0: extend the policy hash into PCR17.
pub const POLCTL_EXTEND_PCR17: u32 = 1;
/// `mod_num` matching any module.
pub const MOD_ANY: u8 = 129;
/// `mod_num` for an NV index whose content is hashed.
pub const MOD_NV: u8 = 130;
/// `mod_num` for an NV index whose content is a digest.
pub const MOD_NV_RAW: u8 = 131;
/// `pcr` value meaning "do not extend".
pub const PCR_NONE: u8 = 255;

/// What tboot does when verification fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyType {
    /// `TB_POLTYPE_CONT_NON_FATAL` (0): continue on any error.
    ContNonFatal,
    /// `TB_POLTYPE_CONT_VERIFY_FAIL` (1): continue if only verification fails.
    ContVerifyFail,
    /// `TB_POLTYPE_HALT` (2): halt on any error.
    Halt,
}

impl PolicyType {
    /// The byte value.
    pub fn byte(self) -> u8 {
        match self {
            PolicyType::ContNonFatal => 0,
            PolicyType::ContVerifyFail => 1,
            PolicyType::Halt => 2,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0 => PolicyType::ContNonFatal,
            1 => PolicyType::ContVerifyFail,
            2 => PolicyType::Halt,
            _ => return None,
        })
    }
}

/// `hash_type` of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashType {
    /// `TB_HTYPE_ANY` (0): measured, not checked.
    Any,
    /// `TB_HTYPE_IMAGE` (1): must match one of the hashes.
    Image,
}

/// One policy entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyEntry {
    /// Module index 0-127, or `MOD_ANY`, `MOD_NV`, `MOD_NV_RAW`.
    pub mod_num: u8,
    /// PCR to extend, or `PCR_NONE`.
    pub pcr: u8,
    /// Whether hashes are checked.
    pub hash_type: HashType,
    /// NV index for NV entries (reserved otherwise).
    pub nv_index: u32,
    /// Acceptable hashes, each `hash_size(hash_alg)` bytes.
    #[serde(with = "crate::hexser::vec")]
    pub hashes: Vec<Vec<u8>>,
}

/// A `tb_policy_t`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TbPolicy {
    /// What to do on failure.
    pub policy_type: PolicyType,
    /// Low byte of the TPM algorithm id; 0 is legacy SHA-1.
    pub hash_alg: u8,
    /// `policy_control` bits.
    pub policy_control: u32,
    /// Reserved dword (kept so round trips are exact).
    pub reserved: u32,
    /// The entries in order.
    pub entries: Vec<PolicyEntry>,
}

const WHAT: &str = "tb_policy";

/// Digest size for a `tb_policy` `hash_alg` byte.
pub fn hash_size(hash_alg: u8) -> Option<usize> {
    policy_alg(hash_alg).map(HashAlg::size)
}

/// The hash algorithm a `hash_alg` byte names (0 is legacy SHA-1).
pub fn policy_alg(hash_alg: u8) -> Option<HashAlg> {
    match hash_alg {
        0 => Some(HashAlg::Sha1),
        b => HashAlg::from_id(b as u16),
    }
}

impl TbPolicy {
    /// An empty policy as `tb_polgen --create` makes it.
    pub fn new(policy_type: PolicyType, alg: HashAlg, policy_control: u32) -> Self {
        TbPolicy {
            policy_type,
            hash_alg: alg.id() as u8,
            policy_control,
            reserved: 0,
            entries: Vec::new(),
        }
    }

    /// Parse the policy at the start of `bytes`; bytes past its size are
    /// ignored, as tboot ignores the rest of a larger NV index.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let v = View::new(bytes, WHAT);
        let version = v.u8(0, "version")?;
        if version != POLICY_VERSION {
            return Err(v.bad("version", 0, format!("{version}, expected 2")));
        }
        let t = v.u8(1, "policy_type")?;
        let policy_type = PolicyType::from_byte(t)
            .ok_or_else(|| v.bad("policy_type", 1, format!("{t} is not 0, 1 or 2")))?;
        let hash_alg = v.u8(2, "hash_alg")?;
        let hsize = hash_size(hash_alg).ok_or_else(|| {
            v.bad(
                "hash_alg",
                2,
                format!("{hash_alg:#04x} is not 0, 0x04, 0x0b, 0x0c, 0x0d or 0x12"),
            )
        })?;
        let policy_control = v.u32(3, "policy_control")?;
        let reserved = v.u32(7, "reserved")?;
        let n = v.u8(11, "num_entries")?;
        let mut off = 12;
        let mut entries = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let ht = v.u8(off + 2, "entry.hash_type")?;
            let hash_type = match ht {
                0 => HashType::Any,
                1 => HashType::Image,
                _ => return Err(v.bad("entry.hash_type", off + 2, format!("{ht} is not 0 or 1"))),
            };
            let num = v.u8(off + 7, "entry.num_hashes")? as usize;
            let hb = v.bytes(off + 8, num * hsize, "entry.hashes")?;
            entries.push(PolicyEntry {
                mod_num: v.u8(off, "entry.mod_num")?,
                pcr: v.u8(off + 1, "entry.pcr")?,
                hash_type,
                nv_index: v.u32(off + 3, "entry.nv_index")?,
                hashes: hb.chunks_exact(hsize).map(<[u8]>::to_vec).collect(),
            });
            off += 8 + num * hsize;
        }
        Ok(TbPolicy {
            policy_type,
            hash_alg,
            policy_control,
            reserved,
            entries,
        })
    }

    /// The policy bytes exactly as tboot hashes them and `tb_polgen` writes them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![POLICY_VERSION, self.policy_type.byte(), self.hash_alg];
        b.extend_from_slice(&self.policy_control.to_le_bytes());
        b.extend_from_slice(&self.reserved.to_le_bytes());
        b.push(self.entries.len() as u8);
        for e in &self.entries {
            b.push(e.mod_num);
            b.push(e.pcr);
            b.push(match e.hash_type {
                HashType::Any => 0,
                HashType::Image => 1,
            });
            b.extend_from_slice(&e.nv_index.to_le_bytes());
            b.push(e.hashes.len() as u8);
            for h in &e.hashes {
                b.extend_from_slice(h);
            }
        }
        b
    }

    /// The algorithm of this policy's hashes.
    pub fn alg(&self) -> HashAlg {
        policy_alg(self.hash_alg).unwrap_or(HashAlg::Sha1)
    }

    /// Add an entry the way `tb_polgen --add` does. Returns an error if a
    /// hash has the wrong size or the policy is full.
    pub fn add(&mut self, entry: PolicyEntry) -> Result<()> {
        let size = self.alg().size();
        if let Some(bad) = entry.hashes.iter().find(|h| h.len() != size) {
            return Err(Error::Invalid {
                what: WHAT,
                msg: format!("hash of {} bytes in a {} policy", bad.len(), self.alg()),
            });
        }
        if self.entries.len() >= 255 {
            return Err(Error::Invalid {
                what: WHAT,
                msg: "a policy holds at most 255 entries".into(),
            });
        }
        self.entries.push(entry);
        Ok(())
    }

    /// The first entry that applies to module `i` (`find_policy_entry`).
    pub fn entry_for_module(&self, i: usize) -> Option<&PolicyEntry> {
        self.entries
            .iter()
            .find(|e| e.mod_num as usize == i || e.mod_num == MOD_ANY)
    }
}

/// tboot's built-in default policy (`policy.c _def_policy*`) for this
/// release, TPM family and negotiated mapping (`da` is `g_using_da`, always
/// true on TPM 2.0). All are CONT_NON_FATAL with the policy extended into
/// PCR17, module 0 not extended again, every other module to PCR 17 (D/A)
/// or 19 (legacy).
///
/// * 1.7.x: `hash_alg` 0 (SHA-1's number then), two entries.
/// * 1.8.0-1.9.11: `hash_alg` 0x04, a third entry for NV index 0x40000010
///   (`NV_RAW`, PCR 22).
/// * 1.9.12: `hash_alg` 0x0b (SHA-256) for both TPM families.
/// * 1.10.0 on: TPM 1.2 gets `_def_policy_12` (0x04, PCR 19 whatever the
///   mapping); TPM 2.0 keeps 0x0b.
pub fn default_policy(release: Release, tpm2: bool, da: bool) -> TbPolicy {
    let e = |mod_num, pcr, nv_index| PolicyEntry {
        mod_num,
        pcr,
        hash_type: HashType::Any,
        nv_index,
        hashes: Vec::new(),
    };
    let version = release.version();
    let da = tpm2 || da;
    let (hash_alg, later) = if version < TbootVersion::new(1, 8, 0) {
        (0, if da { 17 } else { 19 })
    } else if version < TbootVersion::new(1, 9, 12) {
        (0x04, if da { 17 } else { 19 })
    } else if version < TbootVersion::new(1, 10, 0) {
        (0x0b, if da { 17 } else { 19 })
    } else if !tpm2 {
        (0x04, 19)
    } else {
        (0x0b, 17)
    };
    let mut entries = vec![e(0, PCR_NONE, 0), e(MOD_ANY, later, 0)];
    if version >= TbootVersion::new(1, 8, 0) {
        entries.push(e(MOD_NV_RAW, 22, 0x4000_0010));
    }
    TbPolicy {
        policy_type: PolicyType::ContNonFatal,
        hash_alg,
        policy_control: POLCTL_EXTEND_PCR17,
        reserved: 0,
        entries,
    }
}

/// The bytes tboot actually hashes: a policy read from NV or an LCP element
/// with `hash_alg == 0` has that byte rewritten to SHA-1 (0x04) first (from
/// 1.8.0); built-in defaults are hashed as they are.
pub fn measured_bytes(policy: &[u8], from_nv: bool, release: Release) -> Vec<u8> {
    let mut b = policy.to_vec();
    if from_nv && release.rewrites_legacy_policy_alg() && b.len() > 2 && b[2] == 0 {
        b[2] = 0x04;
    }
    b
}

/// The "tb_policy" event digest for bank `bank`: `H_bank(ctl ‖ P)` where
/// `P = H_cur(policy)` if the control says so, else `n_cur` zero bytes.
pub fn policy_event_digest(
    measured: &[u8],
    policy_control: u32,
    cur: HashAlg,
    bank: HashAlg,
) -> Vec<u8> {
    let mut buf = policy_control.to_le_bytes().to_vec();
    if policy_control & POLCTL_EXTEND_PCR17 != 0 {
        buf.extend(cur.digest(measured));
    } else {
        buf.extend(cur.zeros());
    }
    bank.digest(&buf)
}
