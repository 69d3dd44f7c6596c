//! Capturing system A's platform profile from its TXT event log (and,
//! for what the log lacks, from `txt-stat` output): every value a
//! prediction cannot derive from the artifacts themselves.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use tcg::HashAlg;

use crate::error::{Error, Result};
use crate::event::Event;
use crate::event::evtype;
use crate::profile::{CapturedDigests, ExtPolicy, PcrMapping, Profile, TpmFamily};
use crate::txtlog::secl::SeclReport;
use crate::txtlog::{HashStartMode, TxtLog, TxtLogFormat, replay_log};

/// A captured profile, which of its fields came from where, and notes on
/// what could not be captured.
#[derive(Debug, Clone, Serialize)]
pub struct Capture {
    /// The profile.
    pub profile: Profile,
    /// Profile fields set from the log.
    pub from_log: BTreeSet<&'static str>,
    /// Profile fields set from `txt-stat` output.
    pub from_txt_stat: BTreeSet<&'static str>,
    /// Things a person should know (events not reproduced, guesses made).
    pub notes: Vec<String>,
}

/// The 0x401 PCR_MAPPING data bit for details/authorities.
const PCR_MAPPING_DA: u32 = 1;

fn dword(data: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(data).ok().map(u32::from_le_bytes)
}

fn hashes_of(e: &Event, bytes: &[u8]) -> bool {
    !e.digests.is_empty() && e.digests.iter().all(|(a, d)| d.0 == a.digest(bytes))
}

fn digests(e: &Event) -> CapturedDigests {
    e.digests
        .iter()
        .map(|(a, d)| (*a, hex::encode(&d.0)))
        .collect()
}

/// A dword event's value: its data, else the small value whose hash the
/// digest is (S-CRTM status and LCP PolicyControl are small bit sets).
fn dword_value(e: &Event) -> Option<u32> {
    if let Some(v) = dword(&e.data.0) {
        return Some(v);
    }
    let (alg, d) = e.digests.iter().next()?;
    (0u32..=0xffff).find(|v| alg.digest(&v.to_le_bytes()) == d.0)
}

/// Bytes of an event that measures `H(bytes)`: its data if the digests
/// are their hash, `00` for "none" (`H(00)`), else the digests themselves.
fn bytes_or_digests(e: &Event) -> std::result::Result<Vec<u8>, CapturedDigests> {
    if !e.data.0.is_empty() && hashes_of(e, &e.data.0) {
        Ok(e.data.0.clone())
    } else if hashes_of(e, &[0]) {
        Ok(vec![0])
    } else {
        Err(digests(e))
    }
}

/// Fill a profile from a parsed TXT log.
pub fn capture_log(log: &TxtLog) -> Result<Capture> {
    let tpm2 = log.format != TxtLogFormat::Container;
    let mut p = Profile::tpm2(log.banks.clone());
    let mut from = BTreeSet::new();
    let mut notes = Vec::new();
    if log.banks.is_empty() {
        return Err(Error::Invalid {
            what: "TXT log",
            msg: "no banks".into(),
        });
    }
    from.extend(["banks", "tpm"]);
    if log.format == TxtLogFormat::Secl {
        notes.push(
            "an Intel SecL report lists digests only: no event data, no TXT log format".into(),
        );
    } else {
        p.log_format = Some(log.format);
        from.insert("log_format");
    }
    if tpm2 {
        // TPM 2.0 launches always use details/authorities; SinitMleData 9.
        p.pcr_mapping = Some(PcrMapping::Da);
        from.extend(["pcr_mapping", "sinit_mle_data_version"]);
    } else {
        p.tpm = TpmFamily::Tpm12;
        p.pcr_mapping = Some(PcrMapping::Legacy);
        p.sinit_mle_data_version = 8;
    }
    let first = |ty: u32| log.events.iter().find(|e| e.event_type == ty);
    let mut assumed: BTreeMap<String, String> = BTreeMap::new();
    if let Some(e) = first(evtype::PCR_MAPPING)
        && let Some(v) = dword(&e.data.0)
    {
        p.pcr_mapping = Some(if v & PCR_MAPPING_DA != 0 {
            PcrMapping::Da
        } else {
            PcrMapping::Legacy
        });
        from.insert("pcr_mapping");
    } else if !tpm2 {
        let legacy = first(evtype::COMBINED_HASH).is_some();
        p.pcr_mapping = Some(if legacy {
            PcrMapping::Legacy
        } else {
            PcrMapping::Da
        });
        assumed.insert(
            "pcr_mapping".into(),
            format!(
                "no PCR_MAPPING event with data; inferred from the {} of a COMBINED_HASH event",
                if legacy { "presence" } else { "absence" }
            ),
        );
    }
    if let Some(e) = first(evtype::HASH_START) {
        let n = e.data.0.len();
        if n >= 4 {
            p.edx = u32::from_le_bytes(e.data.0[n - 4..].try_into().expect("4 bytes"));
            from.insert("edx");
        }
        if !tpm2 && n == 24 {
            p.sinit_mle_data_version = 6;
            from.insert("sinit_mle_data_version");
        }
        // 36 bytes: a SHA-256 SinitHash, SinitMleData 7 or later; the
        // D/A events are the same for 7 and 8 (legacy logs tell them apart
        // by COMBINED_HASH's length, below).
        if !tpm2 && n == 36 && p.pcr_mapping == Some(PcrMapping::Da) {
            from.insert("sinit_mle_data_version");
        }
    }
    let mut searched = std::collections::BTreeSet::new();
    for e in &log.events {
        if !(evtype::PCR_MAPPING..=0x4ff).contains(&e.event_type)
            || [evtype::PCR_MAPPING, evtype::HASH_START, evtype::MLE_HASH].contains(&e.event_type)
        {
            continue;
        }
        // PCR18 repeats PCR17's values: the first occurrence decides.
        let seen = |f: &str| from.contains(f);
        // TPM 1.2 details/authorities: these four extend 20 raw bytes (the
        // value itself, zeros for "none"), so the digest is the value.
        let da12 = !tpm2 && p.pcr_mapping == Some(PcrMapping::Da);
        let raw = || e.digests.get(&HashAlg::Sha1).map(|d| d.0.clone());
        match e.event_type {
            evtype::BIOSAC_REG_DATA if da12 && !seen("biosac_reg_data") => {
                p.biosac_reg_data = raw();
                from.insert("biosac_reg_data");
            }
            evtype::ELEMENTS_HASH if da12 && !seen("lcp_elements_hash") => {
                p.lcp_elements_hash = raw();
                from.insert("lcp_elements_hash");
            }
            evtype::STM_HASH if da12 && !seen("stm_hash") => {
                p.stm_hash = raw();
                from.insert("stm_hash");
            }
            evtype::LCP_HASH if da12 && !seen("lcp_policy_hash") => {
                p.lcp_policy_hash = raw();
                from.insert("lcp_policy_hash");
            }
            evtype::ELEMENTS_HASH | evtype::LCP_HASH | evtype::STM_HASH if da12 => {}
            evtype::BIOSAC_REG_DATA if !seen("biosac_reg_data") => {
                if e.data.0.len() == 32 && hashes_of(e, &e.data.0) {
                    p.biosac_reg_data = Some(e.data.0.clone());
                } else {
                    p.biosac_reg_data_digests = digests(e);
                }
                from.insert("biosac_reg_data");
            }
            // A dword found by search (65536 hashes) is searched for once:
            // a log of a million such events must not search a million times.
            evtype::CPU_SCRTM_STAT if !seen("scrtm_status") && searched.insert("scrtm_status") => {
                match dword_value(e) {
                    Some(v) => {
                        p.scrtm_status = v;
                        from.insert("scrtm_status");
                    }
                    None => notes.push(
                        "CPU_SCRTM_STAT: no data and no small dword hashes to its digest".into(),
                    ),
                }
            }
            evtype::LCP_CONTROL_HASH
                if !seen("lcp_policy_control") && searched.insert("lcp_policy_control") =>
            {
                match dword_value(e) {
                    Some(v) => {
                        p.lcp_policy_control = v;
                        from.insert("lcp_policy_control");
                    }
                    None => notes.push(
                        "LCP_CONTROL_HASH: no data and no small dword hashes to its digest".into(),
                    ),
                }
            }
            evtype::LCP_DETAILS_HASH if !seen("lcp_details") => {
                match bytes_or_digests(e) {
                    Ok(b) => p.lcp_details = b,
                    Err(d) => p.lcp_details_digests = d,
                }
                from.insert("lcp_details");
            }
            evtype::LCP_AUTHORITIES_HASH if !seen("lcp_authorities") => {
                match bytes_or_digests(e) {
                    Ok(b) => p.lcp_authorities = b,
                    Err(d) => p.lcp_authorities_digests = d,
                }
                from.insert("lcp_authorities");
            }
            evtype::STM_HASH if !seen("stm") => {
                match bytes_or_digests(e) {
                    Ok(b) => p.stm = b,
                    Err(d) => p.stm_digests = d,
                }
                from.insert("stm");
            }
            evtype::NV_INFO_HASH if !seen("nv_info_digests") => {
                p.nv_info_digests = digests(e);
                from.insert("nv_info_digests");
            }
            evtype::SINIT_PUBKEY_HASH if !seen("sinit_pubkey_digests") => {
                p.sinit_pubkey_digests = digests(e);
                from.insert("sinit_pubkey_digests");
            }
            evtype::OSSINITDATA_CAP_HASH if !seen("os_sinit_caps_note") => {
                if let Some(v) = dword_value(e) {
                    notes.push(format!(
                        "OsSinitData.Capabilities was {v:#x}; predict derives it from the ACM and tboot (set os_sinit_caps to pin it)"
                    ));
                }
                from.insert("os_sinit_caps_note");
            }
            evtype::COMBINED_HASH if !seen("bios_acm_id") => {
                combined(&mut p, &e.data.0, &mut from, &mut notes);
            }
            evtype::OSSINITDATA_CAP_HASH
            | evtype::BIOSAC_REG_DATA
            | evtype::CPU_SCRTM_STAT
            | evtype::LCP_CONTROL_HASH
            | evtype::LCP_DETAILS_HASH
            | evtype::LCP_AUTHORITIES_HASH
            | evtype::STM_HASH
            | evtype::NV_INFO_HASH
            | evtype::SINIT_PUBKEY_HASH
            | evtype::COMBINED_HASH => {}
            t => notes.push(format!(
                "event {t:#x} ({}) on PCR{} is not reproduced by predict",
                evtype::name(t),
                e.pcr
            )),
        }
    }
    from.remove("os_sinit_caps_note");
    if tpm2 {
        capture_extpol(log, &mut p, &mut from, &mut assumed);
    }
    for (field, event) in used_fields(&p) {
        if !from.contains(field) && !assumed.contains_key(field) {
            assumed.insert(
                field.to_string(),
                format!("no {event} event in the log; the default value is a guess"),
            );
        }
    }
    p.assumed = assumed;
    Ok(Capture {
        profile: p,
        from_log: from,
        from_txt_stat: BTreeSet::new(),
        notes,
    })
}

/// Fill a profile from an Intel SecL report (host manifest or quote). Its
/// events carry no data, so only TPM 2.0 hosts are captured (a TPM 1.2
/// launch's mapping and SinitMleData version are read from event data).
/// A manifest whose events do not replay to its own PCR values is noted.
pub fn capture_secl(r: &SeclReport) -> Result<Capture> {
    if let Some(v) = r.tpm_version.as_deref()
        && v != "2.0"
    {
        return Err(Error::Invalid {
            what: "SecL host manifest",
            msg: format!(
                "host_info.tpm_version is {v:?}: capturing a TPM 1.2 host from a SecL report \
                 is not modelled (its events carry no data to read the PCR mapping and \
                 SinitMleData version from); capture from the host's TXT log instead"
            ),
        });
    }
    let mut c = capture_log(&r.log)?;
    if let Some(h) = &r.host_name {
        c.notes.push(format!("SecL report of host {h}"));
    }
    c.notes.extend(r.notes.iter().cloned());
    if !r.pcrs.map.is_empty() {
        let reproduces = |mode| {
            let pcrs = replay_log(&r.log.events, &r.log.banks, mode).pcrs;
            r.log.banks.iter().all(|b| {
                [17u32, 18].iter().all(|p| {
                    r.pcrs.get(*b, *p).is_none_or(|want| {
                        pcrs.get(p)
                            .and_then(|m| m.get(b))
                            .is_some_and(|got| got.0 == want)
                    })
                })
            })
        };
        if !reproduces(HashStartMode::Extend) && !reproduces(HashStartMode::Set) {
            c.notes.push(
                "the report's events do not replay to its own PCR17/18 values: it may be \
                 incomplete; check the captured digests"
                    .into(),
            );
        }
    }
    Ok(c)
}

/// The fields a prediction reads for this profile's TPM and mapping, with
/// the event each is captured from.
fn used_fields(p: &Profile) -> Vec<(&'static str, &'static str)> {
    let mut f = Vec::new();
    if p.tpm == TpmFamily::Tpm20 {
        f.extend([
            ("scrtm_status", "CPU_SCRTM_STAT"),
            ("lcp_policy_control", "LCP_CONTROL_HASH"),
            ("lcp_details", "LCP_DETAILS_HASH"),
            ("lcp_authorities", "LCP_AUTHORITIES_HASH"),
            ("stm", "STM_HASH"),
            ("biosac_reg_data", "BIOSAC_REG_DATA"),
            ("nv_info_digests", "NV_INFO_HASH"),
            ("sinit_pubkey_digests", "SINIT_PUBKEY_HASH"),
        ]);
    } else if p.pcr_mapping == Some(PcrMapping::Da) {
        f.extend([
            (
                "sinit_mle_data_version",
                "COMBINED_HASH or 24-byte HASH_START",
            ),
            ("biosac_reg_data", "BIOSAC_REG_DATA"),
            ("scrtm_status", "CPU_SCRTM_STAT"),
            ("lcp_policy_control", "LCP_CONTROL_HASH"),
            ("lcp_elements_hash", "ELEMENTS_HASH"),
            ("stm_hash", "STM_HASH"),
            ("lcp_policy_hash", "LCP_HASH"),
            ("sinit_pubkey_digests", "SINIT_PUBKEY_HASH"),
        ]);
    } else {
        f.extend([
            ("sinit_mle_data_version", "COMBINED_HASH"),
            ("bios_acm_id", "COMBINED_HASH"),
            ("mseg_valid", "COMBINED_HASH"),
            ("stm_hash", "COMBINED_HASH"),
            ("lcp_policy_control", "COMBINED_HASH"),
            ("lcp_policy_hash", "COMBINED_HASH"),
            ("scrtm_status", "80-byte COMBINED_HASH"),
        ]);
    }
    f
}

/// tboot's extend policy, from the banks its first event (the policy)
/// carries: one of several banks is FIXED; every bank is embedded or
/// agile, told apart only by a bank tboot's own list never has (SM3).
fn capture_extpol(
    log: &TxtLog,
    p: &mut Profile,
    from: &mut BTreeSet<&'static str>,
    assumed: &mut BTreeMap<String, String>,
) {
    let Some(e) = log
        .events
        .iter()
        .find(|e| e.event_type == evtype::TB_MEASUREMENT)
    else {
        assumed.insert("extpol".into(), "the log has no tboot event".into());
        return;
    };
    let algs: Vec<HashAlg> = e.digests.keys().copied().collect();
    if algs.len() == 1 && log.banks.len() > 1 {
        p.extpol = Some(ExtPolicy::Fixed(algs[0]));
        from.insert("extpol");
    } else if algs.len() == 1 {
        p.extpol = Some(ExtPolicy::Fixed(algs[0]));
        assumed.insert(
            "extpol".into(),
            format!(
                "the log has one bank: extpol={} and embedded extend it alike",
                algs[0].name()
            ),
        );
    } else if algs.contains(&HashAlg::Sm3_256) {
        p.extpol = Some(ExtPolicy::Agile);
        from.insert("extpol");
    } else {
        p.extpol = Some(ExtPolicy::Embedded);
        assumed.insert(
            "extpol".into(),
            "tboot's events carry every bank: embedded or agile (the log cannot tell)".into(),
        );
    }
}

/// Split a TPM 1.2 COMBINED_HASH data block (spec §4.2).
fn combined(p: &mut Profile, d: &[u8], from: &mut BTreeSet<&'static str>, notes: &mut Vec<String>) {
    if d.len() != 76 && d.len() != 80 {
        notes.push(format!(
            "COMBINED_HASH data has {} bytes (expected 76 or 80); SinitMleData values not captured",
            d.len()
        ));
        return;
    }
    p.bios_acm_id = Some(d[0..20].to_vec());
    p.mseg_valid = u64::from_le_bytes(d[20..28].try_into().expect("8 bytes"));
    p.stm_hash = Some(d[28..48].to_vec());
    p.lcp_policy_control = u32::from_le_bytes(d[48..52].try_into().expect("4 bytes"));
    p.lcp_policy_hash = Some(d[52..72].to_vec());
    if d.len() == 80 {
        p.scrtm_status = u32::from_le_bytes(d[76..80].try_into().expect("4 bytes"));
        p.sinit_mle_data_version = 8;
        from.insert("scrtm_status");
    } else if p.sinit_mle_data_version == 8 {
        p.sinit_mle_data_version = 7;
    }
    from.extend([
        "bios_acm_id",
        "mseg_valid",
        "stm_hash",
        "lcp_policy_control",
        "lcp_policy_hash",
        "sinit_mle_data_version",
    ]);
}

/// `SinitMleData` as `txt-stat` prints it (tboot `print_sinit_mle_data`):
/// `key: value` lines, hashes as space-separated hex bytes on the next line.
pub fn parse_txt_stat(text: &str) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let Some(start) = text.find("sinit_mle_data") else {
        return Err(Error::Invalid {
            what: "txt-stat output",
            msg: "no sinit_mle_data section".into(),
        });
    };
    let mut lines = text[start..].lines().skip(1).peekable();
    while let Some(line) = lines.next() {
        let t = line.trim();
        let Some((key, val)) = t.split_once(':') else {
            if t.is_empty() {
                continue;
            }
            break;
        };
        if key.contains(' ') || key.is_empty() {
            break;
        }
        let val = val.trim();
        let bytes = if val.is_empty() {
            // A hash on the following line(s): hex byte pairs.
            let mut b = Vec::new();
            while let Some(next) = lines.peek() {
                let toks: Vec<&str> = next.split_whitespace().collect();
                if toks.is_empty()
                    || !toks
                        .iter()
                        .all(|t| t.len() == 2 && t.bytes().all(|c| c.is_ascii_hexdigit()))
                {
                    break;
                }
                for t in toks {
                    b.push(u8::from_str_radix(t, 16).expect("checked hex"));
                }
                lines.next();
            }
            b
        } else {
            let num = val.split_whitespace().next().unwrap_or("");
            let v = if let Some(h) = num.strip_prefix("0x") {
                u64::from_str_radix(h, 16)
            } else {
                num.parse::<u64>()
            }
            .map_err(|_| Error::Invalid {
                what: "txt-stat output",
                msg: format!("sinit_mle_data {key}: {val:?} is not a number"),
            })?;
            v.to_le_bytes().to_vec()
        };
        out.insert(key.to_string(), bytes);
    }
    Ok(out)
}

/// Fill what the log did not give from `txt-stat` output.
pub fn apply_txt_stat(c: &mut Capture, text: &str) -> Result<()> {
    let kv = parse_txt_stat(text)?;
    let num = |k: &str| -> Option<u64> {
        kv.get(k)
            .filter(|b| b.len() == 8)
            .map(|b| u64::from_le_bytes(b[..8].try_into().expect("8 bytes")))
    };
    let hash20 = |k: &str| -> Option<Vec<u8>> { kv.get(k).filter(|b| b.len() == 20).cloned() };
    let p = &mut c.profile;
    let assumed = &mut p.assumed;
    let mut set = |f: &'static str, from_log: &BTreeSet<&str>| -> bool {
        let fill = !from_log.contains(f) && c.from_txt_stat.insert(f);
        if fill {
            assumed.remove(f);
        }
        fill
    };
    if let Some(v) = num("version")
        && set("sinit_mle_data_version", &c.from_log)
    {
        p.sinit_mle_data_version = v as u32;
    }
    if let Some(v) = num("edx_senter_flags")
        && set("edx", &c.from_log)
    {
        p.edx = v as u32;
    }
    if let Some(v) = num("mseg_valid")
        && set("mseg_valid", &c.from_log)
    {
        p.mseg_valid = v;
    }
    if let Some(v) = num("lcp_policy_control")
        && set("lcp_policy_control", &c.from_log)
    {
        p.lcp_policy_control = v as u32;
    }
    if let Some(v) = num("proc_scrtm_status")
        && set("scrtm_status", &c.from_log)
    {
        p.scrtm_status = v as u32;
    }
    if p.tpm == TpmFamily::Tpm12 {
        for (k, field) in [
            ("bios_acm_id", "bios_acm_id"),
            ("stm_hash", "stm_hash"),
            ("lcp_policy_hash", "lcp_policy_hash"),
        ] {
            if let Some(h) = hash20(k)
                && set(field, &c.from_log)
            {
                match field {
                    "bios_acm_id" => p.bios_acm_id = Some(h),
                    "stm_hash" => p.stm_hash = Some(h),
                    _ => p.lcp_policy_hash = Some(h),
                }
            }
        }
    }
    Ok(())
}
