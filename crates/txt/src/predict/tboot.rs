//! tboot's own measurements after the launch (`policy.c verify_all_modules`):
//! the policy, module 0, then every module its policy entry sends to a PCR,
//! each hashed as the release and its extend policy hash it, and each
//! failure acted on as the policy type says (`evaluate_error`). A launch
//! tboot halts is refused, naming the module and the policy entry.

use std::collections::BTreeMap;

use tcg::HashAlg;

use super::events::ev;
use super::{ModuleData, ModuleInput, PolicySource};
use crate::cmdline::{TbootCmdline, skip_filename};
use crate::error::{Error, Result};
use crate::event::{Event, evtype};
use crate::hexser::Hex;
use crate::module::hash_image;
use crate::policy::{
    HashType, MOD_ANY, MOD_NV, MOD_NV_RAW, PCR_NONE, PolicyEntry, PolicyType, TbPolicy,
    default_policy, measured_bytes, policy_alg, policy_event_digest,
};
use crate::release::{AgileHash, Release, TbootExtPolicy};

/// What the measurement needs to know about the launch.
pub(super) struct Launch<'a> {
    pub release: Release,
    pub tpm2: bool,
    /// `g_using_da`.
    pub da: bool,
    /// TPM 1.2: always SHA-1 FIXED.
    pub extpol: TbootExtPolicy,
    /// The banks predicted (all of them extended by tboot: checked before).
    pub banks: &'a [HashAlg],
    pub cmdline: &'a TbootCmdline,
    pub policy: &'a PolicySource,
    pub modules: &'a [ModuleInput],
}

/// tboot's errors that reach `apply_policy` during module verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TbError {
    ModuleVerificationFailed,
    ModulesNotInPolicy,
}

/// `evaluate_error`: does tboot continue? (The table is the same in every
/// release read: CONT_NON_FATAL continues on both errors, CONT_VERIFY_FAIL
/// continues on a failed verification only, HALT halts on any error.)
fn continues(t: PolicyType, e: TbError) -> bool {
    match t {
        PolicyType::ContNonFatal => true,
        PolicyType::ContVerifyFail => e == TbError::ModuleVerificationFailed,
        PolicyType::Halt => false,
    }
}

fn type_name(t: PolicyType) -> &'static str {
    match t {
        PolicyType::ContNonFatal => "CONT_NON_FATAL",
        PolicyType::ContVerifyFail => "CONT_VERIFY_FAIL",
        PolicyType::Halt => "HALT",
    }
}

/// tboot's `verify_policy`: a policy it rejects is replaced by its default
/// without a word. We refuse instead: the launch would not use the policy
/// given.
fn check_tboot_accepts(p: &TbPolicy, v: crate::version::TbootVersion) -> Result<()> {
    for (i, e) in p.entries.iter().enumerate() {
        let mod_ok = e.mod_num <= 127 || matches!(e.mod_num, MOD_ANY | MOD_NV | MOD_NV_RAW);
        let pcr_ok = e.pcr <= 23 || e.pcr == PCR_NONE;
        if !mod_ok || !pcr_ok {
            return Err(Error::Refused(format!(
                "tboot {v}'s verify_policy rejects this policy (entry {i}: mod_num {}, pcr {}) \
                 and would use its built-in default instead",
                e.mod_num, e.pcr
            )));
        }
    }
    Ok(())
}

/// How one policy hash compares with tboot's digest (FIXED mode only):
/// `are_hashes_equal` compares as many bytes as the policy's algorithm has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    Yes,
    No,
    /// The policy's hashes are longer than tboot's digest: the comparison
    /// reads stack bytes past it.
    Undecidable,
}

fn hash_in_entry(e: &PolicyEntry, policy_size: usize, digest: &[u8]) -> Match {
    match e.hash_type {
        HashType::Any => Match::Yes,
        HashType::Image if policy_size > digest.len() && !e.hashes.is_empty() => Match::Undecidable,
        HashType::Image => {
            if e.hashes.iter().any(|h| h[..] == digest[..policy_size]) {
                Match::Yes
            } else {
                Match::No
            }
        }
    }
}

fn describe(e: &PolicyEntry, i: usize) -> String {
    let m = match e.mod_num {
        MOD_ANY => "any module".to_string(),
        n => format!("module {n}"),
    };
    format!(
        "policy entry {i} ({m}, pcr {}, {} hash{})",
        if e.pcr == PCR_NONE {
            "none".to_string()
        } else {
            e.pcr.to_string()
        },
        e.hashes.len(),
        if e.hashes.len() == 1 { "" } else { "es" }
    )
}

/// One module's hash, or why tboot could not compute it.
enum ModuleHash {
    Digests(BTreeMap<HashAlg, Hex>),
    Failed(String),
}

fn cut_at_nul(s: &[u8]) -> &[u8] {
    s.iter().position(|&c| c == 0).map_or(s, |n| &s[..n])
}

/// `hash_module` for every algorithm tboot's extend policy produces.
fn hash_module(
    l: &Launch<'_>,
    m: &ModuleInput,
    progress: &mut dyn FnMut(u64),
) -> Result<ModuleHash> {
    let v = l.release.version();
    let mut cmd = cut_at_nul(m.cmdline.as_bytes());
    if l.release.skips_filename() {
        cmd = skip_filename(cmd);
    }
    let algs: Vec<HashAlg> = match l.extpol {
        TbootExtPolicy::Fixed(a) => vec![a],
        _ => l.banks.to_vec(),
    };
    let mut len = 0u64;
    let img = {
        let mut count = |n: u64| {
            len += n;
            progress(n);
        };
        match &m.data {
            ModuleData::Path(path) => {
                let f = std::fs::File::open(path).map_err(|source| Error::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                hash_image(f, m.decompress, &algs, "module", &mut count).map_err(|e| {
                    Error::InFile {
                        file: path.display().to_string(),
                        source: Box::new(e),
                    }
                })?
            }
            ModuleData::Bytes(b) => hash_image(&b[..], m.decompress, &algs, "module", &mut count)?,
        }
    };
    let agile_old = l.extpol == TbootExtPolicy::Agile
        && l.release.agile_hash() == AgileHash::LastChunkCompletes;
    if agile_old {
        // tpm20_hash before 1.9.7: empty data fails, and data whose length
        // is a multiple of 1024 never completes its sequence.
        if len == 0 {
            return Ok(ModuleHash::Failed(format!(
                "tboot {v} (extpol=agile) cannot hash an empty module through the TPM"
            )));
        }
        for (what, n) in [("module", len), ("command line", cmd.len() as u64)] {
            if n > 0 && n % 1024 == 0 {
                return Err(Error::Refused(format!(
                    "module {}: its {what} is {n} bytes, a multiple of 1024, and tboot {v} \
                     with extpol=agile never completes the TPM hash of it (the digest is \
                     whatever was in memory)",
                    m.name
                )));
            }
        }
        if cmd.is_empty() {
            // The command-line hash fails and tboot falls back to the
            // image's digest alone.
            return Ok(ModuleHash::Digests(
                img.into_iter().map(|(a, d)| (a, Hex(d))).collect(),
            ));
        }
    }
    Ok(ModuleHash::Digests(
        img.into_iter()
            .map(|(a, d)| {
                let mut h = a.hasher();
                h.update(&a.digest(cmd));
                h.update(&d);
                (a, Hex(h.finalize()))
            })
            .collect(),
    ))
}

/// tboot's events (policy, modules) in the order it extends them, and notes
/// on what a person should know about them.
pub(super) fn measure(
    l: &Launch<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<(Vec<Event>, Vec<String>)> {
    let v = l.release.version();
    let mut notes = Vec::new();
    let (mut policy, measured, source) = match l.policy {
        PolicySource::Default => {
            let p = default_policy(l.release, l.tpm2, l.da);
            let b = p.to_bytes();
            (p, b, "default policy")
        }
        PolicySource::Nv(bytes) => {
            let p = TbPolicy::parse(bytes)?;
            check_tboot_accepts(&p, v)?;
            let len = p.to_bytes().len();
            (p, measured_bytes(&bytes[..len], true, l.release), "policy")
        }
    };
    if matches!(l.policy, PolicySource::Nv(_))
        && l.release.rewrites_legacy_policy_alg()
        && policy.hash_alg == 0
    {
        policy.hash_alg = 0x04;
    }
    let has_nv = policy
        .entries
        .iter()
        .any(|e| matches!(e.mod_num, MOD_NV | MOD_NV_RAW));
    if !l.tpm2 && l.cmdline.measure_nv() && has_nv {
        return Err(Error::Refused(format!(
            "measure_nv=true ({}): tboot {v} extends the contents of the TPM NV indices its \
             policy names, which only system A has",
            l.cmdline.origin("measure_nv")
        )));
    }
    let cur = match l.extpol {
        TbootExtPolicy::Fixed(a) => a,
        _ => HashAlg::Sha256,
    };
    if !l.release.hashes(cur) {
        return Err(Error::Refused(format!(
            "extpol={} ({}): tboot {v}'s hash function cannot compute {}, so its policy and \
             module digests are not defined",
            cur.name(),
            l.cmdline.origin("extpol"),
            cur.name()
        )));
    }
    let policy_size = policy_alg(policy.hash_alg).map(HashAlg::size);
    let mut events = Vec::new();
    let pol_digests: BTreeMap<HashAlg, Hex> = l
        .banks
        .iter()
        .map(|&b| {
            (
                b,
                Hex(policy_event_digest(
                    &measured,
                    policy.policy_control,
                    cur,
                    b,
                )),
            )
        })
        .collect();
    events.push(ev(
        17,
        evtype::TB_MEASUREMENT,
        "tb_policy",
        pol_digests.clone(),
        &[],
        source,
    ));
    if l.da {
        events.push(ev(
            18,
            evtype::TB_MEASUREMENT,
            "tb_policy",
            pol_digests,
            &[],
            source,
        ));
    }

    let halt = |what: String| {
        Error::Refused(format!(
            "tboot {v} halts the launch: {what} under a {} policy",
            type_name(policy.policy_type)
        ))
    };
    let apply = |err: TbError, what: String, notes: &mut Vec<String>| -> Result<()> {
        if continues(policy.policy_type, err) {
            notes.push(format!(
                "{what}; tboot {v} continues (policy type {})",
                type_name(policy.policy_type)
            ));
            Ok(())
        } else {
            Err(halt(what))
        }
    };
    let mut hashes = Vec::with_capacity(l.modules.len());
    for m in l.modules {
        hashes.push(hash_module(l, m, progress)?);
    }
    let module0_pcr = if l.da { 17 } else { 18 };
    if let (Some(m), Some(h)) = (l.modules.first(), hashes.first()) {
        match h {
            ModuleHash::Digests(d) => events.push(ev(
                module0_pcr,
                evtype::TB_MEASUREMENT,
                &m.name,
                d.clone(),
                &[],
                &m.name,
            )),
            ModuleHash::Failed(why) => apply(
                TbError::ModuleVerificationFailed,
                format!("module 0 ({}) is not measured: {why}", m.name),
                &mut notes,
            )?,
        }
    }
    for (i, (m, h)) in l.modules.iter().zip(&hashes).enumerate() {
        let Some((ei, entry)) = policy
            .entries
            .iter()
            .enumerate()
            .find(|(_, e)| e.mod_num as usize == i || e.mod_num == MOD_ANY)
        else {
            apply(
                TbError::ModulesNotInPolicy,
                format!("module {i} ({}) has no entry in the policy", m.name),
                &mut notes,
            )?;
            continue;
        };
        let d = match h {
            ModuleHash::Digests(d) => d,
            ModuleHash::Failed(why) => {
                apply(
                    TbError::ModuleVerificationFailed,
                    format!("module {i} ({}) is not measured: {why}", m.name),
                    &mut notes,
                )?;
                continue;
            }
        };
        if entry.pcr != PCR_NONE {
            events.push(ev(
                entry.pcr as u32,
                evtype::TB_MEASUREMENT,
                &m.name,
                d.clone(),
                &[],
                &m.name,
            ));
        }
        // tboot checks a module against its entry in FIXED mode only.
        let TbootExtPolicy::Fixed(a) = l.extpol else {
            if entry.hash_type == HashType::Image {
                notes.push(format!(
                    "module {i} ({}): tboot {v} does not check it against {} under \
                     extpol={}; its hashes are ignored",
                    m.name,
                    describe(entry, ei),
                    match l.extpol {
                        TbootExtPolicy::Agile => "agile",
                        _ => "embedded",
                    }
                ));
            }
            continue;
        };
        let size = policy_size.unwrap_or(a.size());
        match hash_in_entry(entry, size, &d[&a].0) {
            Match::Yes => {}
            Match::No => apply(
                TbError::ModuleVerificationFailed,
                format!(
                    "module {i} ({}, {} digest {}) matches none of the hashes of {}",
                    m.name,
                    a.name(),
                    d[&a],
                    describe(entry, ei)
                ),
                &mut notes,
            )?,
            Match::Undecidable => {
                if !continues(policy.policy_type, TbError::ModuleVerificationFailed) {
                    return Err(Error::Refused(format!(
                        "module {i} ({}): {} holds {}-byte hashes but tboot {v} compares them \
                         with its {}-byte {} digest and memory past it; whether it halts is \
                         not predictable",
                        m.name,
                        describe(entry, ei),
                        size,
                        a.size(),
                        a.name()
                    )));
                }
                notes.push(format!(
                    "module {i} ({}): checked against {} with hashes longer than tboot's {} \
                     digest; tboot continues whatever the outcome",
                    m.name,
                    describe(entry, ei),
                    a.name()
                ));
            }
        }
    }
    Ok((events, notes))
}
