//! Intel SecL reports read as logs: both manifest layouts, the merge of
//! per-bank lists, and what is refused.

use serde_json::json;
use tcg::HashAlg;

use crate::capture::capture_secl;
use crate::event::{evtype, replay};
use crate::txtlog::secl::{is_manifest, parse_secl};
use crate::txtlog::{TxtLogFormat, detect, parse};

fn d(alg: HashAlg, s: &str) -> String {
    hex::encode(alg.digest(s.as_bytes()))
}

/// An ISecL v4-layout manifest: numeric PCR indices, `tpm_events` with
/// `type_id`. With `extpol=sha256` tboot's events are in the SHA-256 list
/// only, between SINIT events both banks have.
fn v4_manifest() -> serde_json::Value {
    let (s1, s2) = (HashAlg::Sha1, HashAlg::Sha256);
    let ev = |ty: &str, name: &str, m: String| json!({"type_id": ty, "type_name": name, "tags": [name], "measurement": m});
    json!({
        "host_info": {"tpm_version": "2.0", "host_name": "v4host"},
        "pcr_manifest": {
            "sha1pcrs": [{"index": 17, "value": "00".repeat(20), "pcr_bank": "SHA1"}],
            "sha2pcrs": [],
            "pcr_event_log_map": {
                "SHA1": [{"pcr": {"index": 17, "bank": "SHA1"}, "tpm_events": [
                    ev("0x402", "HASH_START", d(s1, "hs")),
                    ev("0x404", "MLE_HASH", d(s1, "mle")),
                    ev("0x414", "NV_INFO_HASH", d(s1, "nv")),
                ]}],
                "SHA256": [
                    {"pcr": {"index": 17, "bank": "SHA256"}, "tpm_events": [
                        ev("0x402", "HASH_START", d(s2, "hs")),
                        ev("0x404", "MLE_HASH", d(s2, "mle")),
                        ev("0x501", "tb_policy", d(s2, "pol")),
                        ev("0x414", "NV_INFO_HASH", d(s2, "nv")),
                        ev("0x501", "vmlinuz", d(s2, "k")),
                    ]},
                    {"pcr": {"index": 15, "bank": "SHA256"}, "tpm_events": [
                        ev("0x501", "app", d(s2, "a")),
                    ]},
                ],
            }
        }
    })
}

#[test]
fn a_v4_manifest_merges_banks_keeping_each_banks_order() {
    let bytes = serde_json::to_vec(&v4_manifest()).unwrap();
    assert!(is_manifest(&bytes));
    assert_eq!(detect(&bytes), TxtLogFormat::Secl);
    let r = parse_secl(&bytes).unwrap();
    assert_eq!(r.tpm_version.as_deref(), Some("2.0"));
    assert_eq!(r.host_name.as_deref(), Some("v4host"));
    assert_eq!(r.pcrs.get(HashAlg::Sha1, 17), Some(&[0u8; 20][..]));
    let log = &r.log;
    assert_eq!(log.format, TxtLogFormat::Secl);
    assert_eq!(log.banks, [HashAlg::Sha1, HashAlg::Sha256]);
    let rows: Vec<(u32, &str, usize)> = log
        .events
        .iter()
        .map(|e| (e.event_type, e.name.as_str(), e.digests.len()))
        .collect();
    assert_eq!(
        rows,
        [
            (evtype::HASH_START, "HASH_START", 2),
            (evtype::MLE_HASH, "MLE_HASH", 2),
            (evtype::TB_MEASUREMENT, "tb_policy", 1),
            (evtype::NV_INFO_HASH, "NV_INFO_HASH", 2),
            (evtype::TB_MEASUREMENT, "vmlinuz", 1),
        ]
    );
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("PCR 15: 1 events skipped"))
    );
    // Each bank replays its own list in its own order.
    let pcrs = replay(&log.events, &log.banks);
    let chain = |alg: HashAlg, parts: &[&str]| {
        parts.iter().fold(alg.zeros(), |pcr, p| {
            crate::event::extend(alg, &pcr, &alg.digest(p.as_bytes()))
        })
    };
    assert_eq!(
        pcrs[&17][&HashAlg::Sha1].0,
        chain(HashAlg::Sha1, &["hs", "mle", "nv"])
    );
    assert_eq!(
        pcrs[&17][&HashAlg::Sha256].0,
        chain(HashAlg::Sha256, &["hs", "mle", "pol", "nv", "k"])
    );
    // Through the generic entry point too.
    assert_eq!(parse(&bytes, None).unwrap(), r.log);
}

#[test]
fn events_out_of_order_in_one_bank_stay_in_that_banks_order() {
    let (s1, s2) = (HashAlg::Sha1, HashAlg::Sha256);
    let ev = |n: &str, a: HashAlg| json!({"label": n, "value": d(a, n)});
    let m = json!({"pcr_manifest": {"pcr_event_log_map": {
        "SHA1": [{"pcr_index": "pcr_18", "event_log": [ev("a", s1), ev("b", s1)]}],
        "SHA256": [{"pcr_index": "pcr_18", "event_log": [ev("b", s2), ev("a", s2)]}],
    }}});
    let log = parse_secl(&serde_json::to_vec(&m).unwrap()).unwrap().log;
    let pcrs = replay(&log.events, &log.banks);
    for (alg, order) in [(s1, ["a", "b"]), (s2, ["b", "a"])] {
        let want = order.iter().fold(alg.zeros(), |p, n| {
            crate::event::extend(alg, &p, &alg.digest(n.as_bytes()))
        });
        assert_eq!(pcrs[&18][&alg].0, want, "{alg}");
    }
}

#[test]
fn reports_that_are_not_manifests_or_are_broken_say_what_is_wrong() {
    let err = |b: &[u8]| parse(b, None).unwrap_err().to_string();
    let e = err(br#"{"sha256": {"17": "00"}}"#);
    assert!(
        e.contains("not an Intel SecL host manifest") && e.contains("sha256"),
        "{e}"
    );
    assert!(!is_manifest(br#"{"sha256": {"17": "00"}}"#));
    let e = err(b"  {\"pcr_manifest\": ");
    assert!(e.contains("not JSON"), "{e}");
    let e = err(b"<tpm_quote_response><quote>AA==</quote></tpm_quote_response>");
    assert!(e.contains("no <eventLog>"), "{e}");
    let m = json!({"pcr_manifest": {"pcr_event_log_map": {
        "SHA1": [{"pcr_index": "pcr_17", "pcr_bank": "SHA256", "event_log": []}]}}});
    let e = err(&serde_json::to_vec(&m).unwrap());
    assert!(e.contains("SHA1[0]") && e.contains("\"SHA256\""), "{e}");
    let m = json!({"pcr_manifest": {"pcr_event_log_map": {
        "SHA1": [{"pcr_index": "pcr_15", "event_log": [{"label": "x", "value": "00"}]}]}}});
    let e = err(&serde_json::to_vec(&m).unwrap());
    assert!(e.contains("no PCR17-22 events"), "{e}");
    let m = json!({"pcr_manifest": {"pcr_event_log_map": {
        "MD5": [{"pcr_index": "pcr_17", "event_log": []}]}}});
    assert!(err(&serde_json::to_vec(&m).unwrap()).contains("unknown bank \"MD5\""));
}

#[test]
fn a_quote_event_log_reads_its_modules() {
    use base64::Engine;
    let (s1, s2) = (HashAlg::Sha1, HashAlg::Sha256);
    let module = |bank: &str, pcr: u32, name: &str, v: String| {
        format!(
            "<module><pcrBank>{bank}</pcrBank><pcrNumber>{pcr}</pcrNumber><name>{name}</name>\
             <value>{v}</value></module>"
        )
    };
    let log = format!(
        "<measureLog><txt><modules>{}{}{}{}</modules></txt></measureLog>",
        module("SHA256", 15, "app", d(s2, "x")),
        module("SHA1", 18, "SINIT_PUBKEY_HASH", d(s1, "k")),
        module("SHA256", 18, "SINIT_PUBKEY_HASH", d(s2, "k")),
        module("SHA256", 17, "a&amp;b", d(s2, "ab")),
    );
    let xml = format!(
        "<?xml version=\"1.0\"?><tpm_quote_response><eventLog>{}</eventLog></tpm_quote_response>",
        base64::engine::general_purpose::STANDARD.encode(log)
    );
    let r = parse_secl(xml.as_bytes()).unwrap();
    let names: Vec<(u32, &str, u32)> = r
        .log
        .events
        .iter()
        .map(|e| (e.pcr, e.name.as_str(), e.event_type))
        .collect();
    assert_eq!(
        names,
        [
            (17, "a&b", evtype::TB_MEASUREMENT),
            (18, "SINIT_PUBKEY_HASH", evtype::SINIT_PUBKEY_HASH)
        ]
    );
    assert_eq!(r.log.events[1].digests.len(), 2);
}

#[test]
fn capture_from_a_tpm12_secl_host_is_refused() {
    let mut m = v4_manifest();
    m["host_info"]["tpm_version"] = json!("1.2");
    let r = parse_secl(&serde_json::to_vec(&m).unwrap()).unwrap();
    let e = capture_secl(&r).unwrap_err().to_string();
    assert!(
        e.contains("tpm_version is \"1.2\"") && e.contains("TPM 1.2"),
        "{e}"
    );
    // The v4 manifest as it is (TPM 2.0) captures, and says its events do
    // not replay to its (made-up) PCR17.
    m["host_info"]["tpm_version"] = json!("2.0");
    let c = capture_secl(&parse_secl(&serde_json::to_vec(&m).unwrap()).unwrap()).unwrap();
    assert!(
        c.notes.iter().any(|n| n.contains("do not replay")),
        "{:?}",
        c.notes
    );
    assert!(c.notes.iter().any(|n| n.contains("v4host")));
}
