//! Perform on a swtpm the measured launch a bundle describes, as SINIT and
//! tboot would: the locality-4 hash sequence of HASH_START's data, SINIT's
//! events at locality 3, tboot's at locality 2. Every module built into the
//! bundle is measured afresh from the bundle's own file with tboot's rule
//! (so a wrong prediction of it shows); other events extend the digests
//! `pcrs.json` gives (they come from the platform, not from the bundle).
//!
//! A launch on a running swtpm is a dynamic launch: it resets PCR17-22, so
//! one TPM can be launched again and again, as a machine reboots into each
//! release, and keeps what was sealed on it.

#![allow(dead_code)]

use std::path::Path;

use tcg::HashAlg;
use tpm_sim::Swtpm;

/// How the launch departs from the bundle's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launch<'a> {
    /// Exactly what the bundle predicts.
    AsPredicted,
    /// The bundle's kernel booted with another command line.
    KernelCmdline(&'a str),
}

/// EVTYPE_TBOOT_* events are tboot's (locality 2); the others SINIT's (3).
const TBOOT_EVENT: u64 = 0x501;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Launch `bundle` on `tpm`.
pub fn launch(tpm: &Swtpm, bundle: &Path, how: Launch<'_>) {
    let pcrs = json(&bundle.join("pcrs.json"));
    let record = json(&bundle.join("bundle.json"));
    let version: txt::TbootVersion = pcrs["tboot_version"].as_str().unwrap().parse().unwrap();
    let algs: Vec<HashAlg> = pcrs["banks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap().parse().unwrap())
        .collect();
    let modules = record["launch"]["modules"].as_array().unwrap().clone();
    let events: Vec<&serde_json::Value> = pcrs["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| (17..=22).contains(&e["pcr"].as_u64().unwrap()))
        .collect();
    let mut module_no = 0;
    let mut measured = 0;
    let start = hex::decode(events[0]["data"].as_str().unwrap()).unwrap();
    tpm.set_locality(4).unwrap();
    tpm.hash_sequence(&start).unwrap();
    for e in &events[1..] {
        let source = e["source"].as_str().unwrap();
        let file = pcrs["inputs"][source]["file"].as_str().unwrap_or("");
        let ty = e["event_type"].as_u64().unwrap();
        let is_module = ty == TBOOT_EVENT && source != "default policy" && source != "policy";
        let digests: Vec<(HashAlg, Vec<u8>)> = match file.strip_prefix("bundle:") {
            Some(rel) if is_module => {
                let m = &modules[module_no];
                let cmdline = match how {
                    Launch::KernelCmdline(c) if rel.starts_with("vmlinuz-") => c,
                    _ => m["cmdline"].as_str().unwrap(),
                };
                let f = std::fs::File::open(bundle.join(rel)).unwrap();
                let decompress = m["decompress"].as_bool().unwrap_or(true);
                let img = txt::module::hash_image(f, decompress, &algs, "module", |_| {}).unwrap();
                let cmd = txt::module::effective_cmdline(cmdline, version);
                measured += 1;
                txt::module::module_digests(cmd.as_bytes(), &img)
            }
            _ => e["digests"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(a, d)| {
                    (
                        a.parse().unwrap(),
                        hex::decode(d.as_str().unwrap()).unwrap(),
                    )
                })
                .collect(),
        };
        if is_module {
            module_no += 1;
        }
        tpm.set_locality(if ty == TBOOT_EVENT { 2 } else { 3 })
            .unwrap();
        let raw: Vec<(u16, &[u8])> = digests
            .iter()
            .map(|(a, d)| (a.id(), d.as_slice()))
            .collect();
        tpm.pcr_extend(e["pcr"].as_u64().unwrap() as u32, &raw)
            .unwrap();
    }
    tpm.set_locality(0).unwrap();
    assert!(measured >= 1, "no module of the bundle was measured");
    if how != Launch::AsPredicted {
        return;
    }
    for pcr in [17u32, 18, 19] {
        assert_eq!(
            hex::encode(tpm.pcr_read(HashAlg::Sha256.id(), pcr).unwrap()),
            pcrs["pcrs"][pcr.to_string()]["sha256"].as_str().unwrap(),
            "{}: PCR{pcr} after the launch",
            bundle.display()
        );
    }
}

/// A bzImage header on 128 KiB whose body byte is `fill` (a different
/// `fill` is a different kernel).
pub fn fake_kernel(fill: u8) -> Vec<u8> {
    let mut b = vec![fill; 128 * 1024];
    b[..0x400].fill(0);
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    b[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
    let v = b"6.1.0-swtpm-test (t@t) #1\0";
    b[0x300..0x300 + v.len()].copy_from_slice(v);
    b
}
