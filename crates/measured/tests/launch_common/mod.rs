//! Driving a bundle's predicted launch on swtpm, as SINIT and tboot would:
//! the predicted log gives the order and the SINIT/platform digests; every
//! module event is measured afresh from the bundle's own file with tboot's
//! rule, so a wrong prediction of a module shows as a PCR mismatch.
//!
//! A launch on a running swtpm is a dynamic launch: it resets PCR17-22, so
//! one TPM can be launched again and again, as a machine reboots into each
//! release, and keeps what was sealed on it.
// Each test uses part of it.
#![allow(dead_code)]

use std::path::Path;

use tcg::HashAlg;
use tcg::log::EventLog;
use tpm_sim::Swtpm;

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

/// Launch `bundle` on `tpm`; then check every predicted sha256 PCR.
pub fn launch(tpm: &Swtpm, bundle: &Path, module_cmdline: &str) {
    let pcrs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("pcrs.json")).unwrap()).unwrap();
    let version: txt::TbootVersion = pcrs["tboot_version"].as_str().unwrap().parse().unwrap();
    let log = EventLog::read(&bundle.join("txt-eventlog.bin")).unwrap();
    let events: Vec<_> = log
        .events
        .iter()
        .filter(|e| e.event_type.to_u32() != 3)
        .collect();
    let mut file_of = std::collections::BTreeMap::new();
    for banks in pcrs["pcrs"].as_object().unwrap().values() {
        for ev in banks["sha256"]["events"].as_array().unwrap() {
            file_of.insert(
                ev["seq"].as_u64().unwrap() as usize,
                ev["file"].as_str().unwrap_or("").to_string(),
            );
        }
    }
    let algs: Vec<HashAlg> = events[0].digests.iter().filter_map(|d| d.alg).collect();
    let mut measured_modules = 0;
    tpm.set_locality(4).unwrap();
    tpm.hash_sequence(&events[0].data).unwrap();
    for (seq, e) in events.iter().enumerate().skip(1) {
        let file = file_of.get(&seq).cloned().unwrap_or_default();
        let digests: Vec<(HashAlg, Vec<u8>)> = if let Some(rel) = file.strip_prefix("bundle:") {
            let f = std::fs::File::open(bundle.join(rel)).unwrap();
            let img = txt::module::hash_image(f, true, &algs, "module", |_| {}).unwrap();
            let cmd = txt::module::effective_cmdline(module_cmdline, version);
            measured_modules += 1;
            txt::module::module_digests(cmd.as_bytes(), &img)
        } else {
            e.digests
                .iter()
                .map(|d| (d.alg.unwrap(), d.digest.clone()))
                .collect()
        };
        let locality = if e.event_type.to_u32() == 0x501 { 2 } else { 3 };
        tpm.set_locality(locality).unwrap();
        let raw: Vec<(u16, &[u8])> = digests
            .iter()
            .map(|(a, d)| (a.id(), d.as_slice()))
            .collect();
        tpm.pcr_extend(e.pcr, &raw).unwrap();
    }
    tpm.set_locality(0).unwrap();
    assert!(measured_modules >= 1, "no module measured from the bundle");
    for pcr in [17u32, 18, 19] {
        assert_eq!(
            hex::encode(tpm.pcr_read(HashAlg::Sha256.id(), pcr).unwrap()),
            pcrs["pcrs"][pcr.to_string()]["sha256"]["value"]
                .as_str()
                .unwrap(),
            "{}: PCR{pcr} after the launch",
            bundle.display()
        );
    }
}
