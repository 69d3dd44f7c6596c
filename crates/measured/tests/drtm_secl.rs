//! Intel SecL reports of real TXT hosts as input: `drtm replay`, `--verify`
//! and `drtm capture` read a host manifest (JSON) and a trust agent's quote
//! (XML) directly, JSON that is not a manifest says so, and a profile
//! captured from a host predicts that host's PCR18 in both banks.

mod drtm_common;

use drtm_common::{fails_with, measured, ok, rhel_manifest, s, sample_quote, tboot_release};
use txt::synth::{AcmSpec, build_acm};

fn manifest_pcr(bank: &str, pcr: u32) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rhel_manifest()).unwrap()).unwrap();
    let key = if bank == "sha1" {
        "sha1pcrs"
    } else {
        "sha2pcrs"
    };
    v["pcr_manifest"][key]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["index"] == format!("pcr_{pcr}"))
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_secl_manifest_replays_and_verifies_against_its_own_pcrs() {
    let m = rhel_manifest();
    let v = ok(&measured(&[
        "--json",
        "drtm",
        "replay",
        s(&m),
        "--verify",
        s(&m),
    ]));
    assert_eq!(v["format"], "secl");
    assert_eq!(v["banks"], serde_json::json!(["sha1", "sha256"]));
    // 12 PCR17 + 7 PCR18 events per bank, merged across the two banks;
    // PCR15's two (not DRTM) are not part of the log.
    assert_eq!(v["events"], 19);
    // PCR17-22 of both banks compared, all equal.
    assert_eq!(v["verified"], 12);
    assert_eq!(v["mismatches"], serde_json::json!([]));
    for (bank, pcr) in [("sha1", 17), ("sha256", 17), ("sha1", 18), ("sha256", 18)] {
        assert_eq!(v["pcrs"][pcr.to_string()][bank], manifest_pcr(bank, pcr));
    }

    // One tboot digest changed: replay still reads it, verify finds PCR17 sha256.
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("tampered.json");
    let text = std::fs::read_to_string(&m).unwrap().replace(
        "b2dc798fdd31e90abd8e7e28b62b4ee3bbe3528a92b33c50756da0be8d8853fd",
        "b2dc798fdd31e90abd8e7e28b62b4ee3bbe3528a92b33c50756da0be8d8853fe",
    );
    std::fs::write(&bad, text).unwrap();
    let out = measured(&["--json", "drtm", "replay", s(&bad), "--verify", s(&m)]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mism = v["mismatches"].as_array().unwrap();
    assert_eq!(mism.len(), 1, "{mism:?}");
    assert_eq!(
        (mism[0]["pcr"].clone(), mism[0]["bank"].clone()),
        (17.into(), "sha256".into())
    );
}

#[test]
fn the_sample_quotes_event_log_replays_to_its_quoted_pcrs() {
    let q = sample_quote();
    let v = ok(&measured(&[
        "--json",
        "drtm",
        "replay",
        s(&q),
        "--verify",
        s(&q),
    ]));
    assert_eq!(v["format"], "secl");
    assert_eq!(v["verified"], 12);
    assert_eq!(v["mismatches"], serde_json::json!([]));
}

#[test]
fn json_or_xml_that_is_not_a_secl_report_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let pcrs = d.join("pcrs.json");
    std::fs::write(&pcrs, r#"{"sha256": {"17": "00"}}"#).unwrap();
    for cmd in [
        &["drtm", "replay"][..],
        &["drtm", "capture", "-o", s(&d.join("p.toml"))],
    ] {
        let mut args = cmd.to_vec();
        args.push(s(&pcrs));
        fails_with(
            &measured(&args),
            &["pcrs.json", "not an Intel SecL host manifest", "sha256"],
        );
    }
    assert!(!d.join("p.toml").exists());
    let other = d.join("other.json");
    std::fs::write(&other, r#"{"host": {"name": "x"}}"#).unwrap();
    let m = rhel_manifest();
    fails_with(
        &measured(&["drtm", "replay", s(&m), "--verify", s(&other)]),
        &[
            "other.json",
            "neither PCR values",
            "nor an Intel SecL host manifest",
        ],
    );
    let broken = d.join("broken.json");
    std::fs::write(&broken, "{\"pcr_manifest\": {").unwrap();
    fails_with(
        &measured(&["drtm", "replay", s(&broken)]),
        &["broken.json", "not JSON", "line 1"],
    );
    let xml = d.join("other.xml");
    std::fs::write(&xml, "<?xml version=\"1.0\"?><a/>").unwrap();
    fails_with(
        &measured(&["drtm", "replay", s(&xml)]),
        &["other.xml", "no <eventLog>"],
    );
    // A manifest with a digest of the wrong size names where it is.
    let short = d.join("short.json");
    std::fs::write(
        &short,
        std::fs::read_to_string(rhel_manifest())
            .unwrap()
            .replace("19f7c22f6c92d9555d792466b2097443444ebd26", "19f7"),
    )
    .unwrap();
    fails_with(
        &measured(&["drtm", "replay", s(&short)]),
        &[
            "short.json",
            "pcr_event_log_map.SHA1[0] (PCR 17) event 0",
            "20-byte",
        ],
    );
}

/// Capture a profile from a SecL report, then predict that host's launch
/// with its tboot release built from source (the RHEL 7.6 host ran tboot
/// 1.9.6; the SecL sample's tboot is 1.9.x too) and a stand-in SINIT with
/// the host's capabilities (its OsSinitData caps event says 0x201). PCR18
/// holds no MLE and no SINIT hash, so it must come out exactly: what the
/// profile captured (SINIT key, S-CRTM status, LCP, NV info) plus what we
/// compute (OsSinitData caps from SINIT + tboot, the default policy's
/// digest under extpol=embedded).
fn predict_pcr18(report: &std::path::Path, cmdline: &str, extra: &[&str]) -> std::process::Output {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let profile = d.join("host.toml");
    ok(&measured(&[
        "--json",
        "drtm",
        "capture",
        s(report),
        "-o",
        s(&profile),
    ]));
    let acm = d.join("sinit.bin");
    std::fs::write(
        &acm,
        build_acm(&AcmSpec {
            capabilities: 0x201,
            ..AcmSpec::default()
        }),
    )
    .unwrap();
    let tboot = tboot_release("1.9.6").join("tboot.gz");
    let mut args = vec![
        "--json",
        "drtm",
        "predict",
        "--profile",
        s(&profile),
        "--acm",
        s(&acm),
        "--tboot",
        s(&tboot),
        "--tboot-cmdline",
        cmdline,
    ];
    args.extend(extra);
    measured(&args)
}

#[test]
fn a_profile_captured_from_a_secl_host_predicts_its_pcr18_in_both_banks() {
    let p = ok(&predict_pcr18(
        &rhel_manifest(),
        "logging=serial extpol=embedded",
        &[],
    ));
    assert_eq!(p["tboot_version"], "1.9.6");
    for bank in ["sha1", "sha256"] {
        assert_eq!(
            p["pcrs"]["18"][bank],
            manifest_pcr(bank, 18),
            "PCR18 {bank}"
        );
    }
    // The same from the other host's quote, checked against its quoted PCR18.
    let p = ok(&predict_pcr18(&sample_quote(), "extpol=embedded", &[]));
    let quoted =
        txt::quote::pcrs_from_secl_xml(&std::fs::read_to_string(sample_quote()).unwrap()).unwrap();
    for (bank, alg) in [
        ("sha1", tcg::HashAlg::Sha1),
        ("sha256", tcg::HashAlg::Sha256),
    ] {
        assert_eq!(
            p["pcrs"]["18"][bank].as_str().unwrap(),
            hex::encode(quoted.get(alg, 18).unwrap()),
            "quoted PCR18 {bank}"
        );
    }
}

#[test]
fn that_host_under_tboot_1_9_6_defaults_is_refused_in_sha256_and_differs_in_sha1() {
    // tboot 1.9.6's default extpol is sha1 (FIXED): it never extends the
    // sha256 bank, and its policy digest is SHA-1 based.
    fails_with(
        &predict_pcr18(&rhel_manifest(), "logging=serial", &[]),
        &["sha256", "extpol=sha1", "--bank"],
    );
    let p = ok(&predict_pcr18(
        &rhel_manifest(),
        "logging=serial",
        &["--bank", "sha1"],
    ));
    assert_eq!(p["banks"], serde_json::json!(["sha1"]));
    assert_ne!(p["pcrs"]["18"]["sha1"], manifest_pcr("sha1", 18));
}
