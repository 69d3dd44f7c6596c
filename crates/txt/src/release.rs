//! What each tboot release does that changes a measurement, as read from
//! its sources: releases 1.7.2 to 1.11.2 (the tags of tboot's Mercurial
//! history). `docs/drtm.md` has the table, with the source file and line
//! range each rule comes from. A release outside that range is refused,
//! never guessed.

use tcg::HashAlg;

use crate::error::{Error, Result};
use crate::version::TbootVersion;

/// The releases whose sources the rules were read from (every tag from
/// 1.7.2 to 1.11.2; there never was a 1.9.0 to 1.9.3).
pub const RELEASES: [TbootVersion; 25] = [
    v(1, 7, 2),
    v(1, 7, 3),
    v(1, 7, 4),
    v(1, 8, 0),
    v(1, 8, 1),
    v(1, 8, 2),
    v(1, 8, 3),
    v(1, 9, 4),
    v(1, 9, 5),
    v(1, 9, 6),
    v(1, 9, 7),
    v(1, 9, 8),
    v(1, 9, 9),
    v(1, 9, 10),
    v(1, 9, 11),
    v(1, 9, 12),
    v(1, 10, 0),
    v(1, 10, 1),
    v(1, 10, 2),
    v(1, 10, 3),
    v(1, 10, 4),
    v(1, 10, 5),
    v(1, 11, 0),
    v(1, 11, 1),
    v(1, 11, 2),
];

const fn v(major: u16, minor: u16, patch: u16) -> TbootVersion {
    TbootVersion::new(major, minor, patch)
}

/// The measurement rules of one tboot release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    version: TbootVersion,
}

impl Release {
    /// The rules of `version`, or a refusal if its sources were not read.
    pub fn of(version: TbootVersion) -> Result<Self> {
        if !RELEASES.contains(&version) {
            return Err(Error::Refused(format!(
                "tboot {version} is not one of the releases whose measurement rules are \
                 modelled ({} to {}, every release between); its rules may differ",
                RELEASES[0],
                RELEASES[RELEASES.len() - 1]
            )));
        }
        Ok(Release { version })
    }

    /// The release.
    pub fn version(self) -> TbootVersion {
        self.version
    }

    /// TPM 2.0 support (`tpm_20.c`) arrived in 1.8.0.
    pub fn supports_tpm2(self) -> bool {
        self.version >= v(1, 8, 0)
    }

    /// Before 1.9.4 tboot drops the first word of its own command line
    /// (`skip_filename`, for GRUB legacy) before copying it into the MLE,
    /// and of every module's command line before hashing it.
    pub fn skips_filename(self) -> bool {
        self.version < v(1, 9, 4)
    }

    /// `g_tboot_cmdline_options`: the options this release knows, in table
    /// order (a name given on the command line matches the first option it
    /// is a prefix of), with their defaults.
    pub fn cmdline_options(self) -> Vec<(&'static str, &'static str)> {
        let mut o = vec![
            ("loglvl", "all"),
            ("logging", "serial,vga"),
            ("serial", "115200,8n1,0x3f8"),
            ("vga_delay", "0"),
            ("ap_wake_mwait", "false"),
            ("pcr_map", "legacy"),
            ("min_ram", "0"),
        ];
        if self.version >= v(1, 7, 3) {
            o.push(("call_racm", "false"));
        }
        if self.version >= v(1, 8, 0) {
            o.push(("measure_nv", "false"));
            o.push(("extpol", self.default_extpol()));
        }
        if self.version >= v(1, 9, 6) {
            o.push(("ignore_prev_err", "true"));
        }
        if self.version >= v(1, 9, 7) {
            o.push(("force_tpm2_legacy_log", "false"));
        }
        if self.version >= v(1, 9, 8) {
            o.push(("save_vtd", "false"));
        }
        if self.version >= v(1, 9, 12) {
            o.push(("dump_memmap", "false"));
        }
        o
    }

    /// The `extpol` default: `sha1` up to 1.9.11, `sha256` from 1.9.12.
    pub fn default_extpol(self) -> &'static str {
        if self.version >= v(1, 9, 12) {
            "sha256"
        } else {
            "sha1"
        }
    }

    /// What `extpol=VALUE` selects (`get_tboot_extpol`, exact string
    /// compare). `None`: a value this release does not know, which leaves
    /// tboot's extend policy in its uninitialised state.
    pub fn extpol(self, value: &str) -> Option<TbootExtPolicy> {
        let fixed = |a| Some(TbootExtPolicy::Fixed(a));
        match value {
            // 1.11.0 deprecated "agile": a warning, then SHA-256 FIXED.
            "agile" if self.version >= v(1, 11, 0) => fixed(HashAlg::Sha256),
            "agile" => Some(TbootExtPolicy::Agile),
            "embedded" => Some(TbootExtPolicy::Embedded),
            "sha1" => fixed(HashAlg::Sha1),
            "sha256" => fixed(HashAlg::Sha256),
            "sm3" => fixed(HashAlg::Sm3_256),
            "sha384" if self.version >= v(1, 9, 12) => fixed(HashAlg::Sha384),
            "sha512" if self.version >= v(1, 9, 12) => fixed(HashAlg::Sha512),
            _ => None,
        }
    }

    /// Whether tboot's own hash function (`hash_buffer`) computes `alg`:
    /// SHA-1 and SHA-256 always, SHA-384 and SHA-512 from 1.9.12, SM3
    /// never (it returns an error for it).
    pub fn hashes(self, alg: HashAlg) -> bool {
        match alg {
            HashAlg::Sha1 | HashAlg::Sha256 => true,
            HashAlg::Sha384 | HashAlg::Sha512 => self.version >= v(1, 9, 12),
            HashAlg::Sm3_256 => false,
        }
    }

    /// `tboot_alg_list`: the banks `extpol=embedded` extends (those of them
    /// the TPM has): SHA-1 and SHA-256 up to 1.9.12, plus SHA-384 and
    /// SHA-512 from 1.10.0.
    pub fn embedded_algs(self) -> &'static [HashAlg] {
        if self.version >= v(1, 10, 0) {
            &[
                HashAlg::Sha1,
                HashAlg::Sha256,
                HashAlg::Sha384,
                HashAlg::Sha512,
            ]
        } else {
            &[HashAlg::Sha1, HashAlg::Sha256]
        }
    }

    /// How `extpol=agile` hashes through the TPM (`tpm20_hash`).
    pub fn agile_hash(self) -> AgileHash {
        if self.version >= v(1, 9, 7) {
            AgileHash::Sequence
        } else {
            AgileHash::LastChunkCompletes
        }
    }

    /// From 1.9.7 `init_txt_heap` masks `OsSinitData.Capabilities` bit 9
    /// (TCG event log format) and sets it only when the log will be in
    /// that format; before, the bit is whatever the MLE header carries.
    pub fn negotiates_tcg_log_bit(self) -> bool {
        self.version >= v(1, 9, 7)
    }

    /// The TPM 2.0 event log format (`get_evtlog_type`): before 1.9.6 only
    /// the legacy per-algorithm logs; from 1.9.6 the TCG agile format when
    /// the SINIT's capabilities have bit 9, unless (from 1.9.7, the option
    /// did not exist before) `force_tpm2_legacy_log=true`.
    pub fn tpm2_tcg_log(self, sinit_tcg_bit: bool, force_legacy: bool) -> bool {
        self.version >= v(1, 9, 6) && sinit_tcg_bit && !force_legacy
    }

    /// From 1.10.2 a SINIT advertising CBnT (capabilities bit 10) gets the
    /// details/authorities mapping on TPM 1.2 whatever `pcr_map` says.
    pub fn cbnt_forces_da(self) -> bool {
        self.version >= v(1, 10, 2)
    }

    /// `OsSinitData.Flags` on TPM 2.0: 0 (Maximum Agility) for
    /// `extpol=agile`, else 1 (Maximum Performance); always 1 from 1.11.0.
    pub fn maximum_agility(self, extpol: TbootExtPolicy) -> bool {
        extpol == TbootExtPolicy::Agile && self.version < v(1, 11, 0)
    }

    /// A policy read from TPM NV (or an LCP element) with `hash_alg` 0 has
    /// that byte rewritten to SHA-1 (0x04) before it is hashed, from 1.8.0
    /// (when 0x04 became SHA-1's number).
    pub fn rewrites_legacy_policy_alg(self) -> bool {
        self.version >= v(1, 8, 0)
    }

    /// `is_acmod`: from 1.9.11 an ACM file may carry 64 KiB to 256 KiB of
    /// padding past `Size*4`; before, the sizes must be equal.
    pub fn accepts_acm_padding(self, padding: usize) -> bool {
        padding == 0 || (self.version >= v(1, 9, 11) && (0x10000..=0x40000).contains(&padding))
    }
}

/// tboot's extend policy on TPM 2.0 (`tpm->extpol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TbootExtPolicy {
    /// One algorithm, computed by tboot, extended into that bank only.
    Fixed(HashAlg),
    /// Every algorithm of tboot's list the TPM has, computed by tboot.
    Embedded,
    /// Hashes computed by the TPM (`TPM2_EventSequenceComplete`), for
    /// every bank the TPM has.
    Agile,
}

/// How a release's `tpm20_hash` drives the TPM's hash sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgileHash {
    /// 1.8.0 to 1.9.6: refuses empty data, and completes the sequence only
    /// with a final chunk shorter than 1024 bytes, so data whose length is
    /// a multiple of 1024 never gets a digest.
    LastChunkCompletes,
    /// From 1.9.7: every chunk is an update, an empty completion follows.
    Sequence,
}
