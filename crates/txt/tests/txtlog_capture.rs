//! Capture → predict round trips in all three TXT log formats, capture from
//! the real Intel SecL sample, and `diff` naming exactly the changed event.

mod common;

use std::collections::BTreeMap;

use tcg::HashAlg;
use txt::capture::capture_log;
use txt::diff::{DiffKind, diff};
use txt::synth::{AcmSpec, DemoPlatform, build_acm, demo_launch};
use txt::txtlog::{self, HashStartMode, TxtLog, TxtLogFormat};
use txt::{Event, Hex, LaunchInputs, PolicySource, sinit::evtype};

fn round_trip(platform: DemoPlatform, format: TxtLogFormat) {
    let mut inputs = demo_launch(platform);
    // The SINIT has the TCG log capability; tboot asks for the legacy format.
    if format == TxtLogFormat::Legacy {
        inputs.tboot_cmdline.push_str(" force_tpm2_legacy_log=true");
    }
    let original = txt::predict(&inputs).unwrap();
    let bytes = txtlog::write(format, &original.banks, &original.events).unwrap();
    let log = txtlog::parse(&bytes, None).unwrap();
    let c = capture_log(&log).unwrap();
    assert_eq!(c.profile.log_format, Some(format));
    let again = txt::predict(&LaunchInputs {
        profile: c.profile.clone(),
        ..inputs.clone()
    })
    .unwrap();
    assert_eq!(
        again.pcrs, original.pcrs,
        "{platform:?} {format:?}: captured profile {:#?}",
        c.profile
    );
    // And the replay of the real log agrees with both.
    let r = txtlog::replay_log(&log.events, &log.banks, HashStartMode::Auto);
    assert_eq!(r.pcrs, original.pcrs);
    // The capture is not vacuous: a fresh profile does not reproduce it.
    let mut blank = inputs.clone();
    blank.profile = txt::Profile::tpm2(original.banks.clone());
    blank.profile.nv_info_digests = c.profile.nv_info_digests.clone();
    blank.profile.sinit_pubkey_digests = c.profile.sinit_pubkey_digests.clone();
    blank.profile.biosac_reg_data_digests = BTreeMap::new();
    blank.profile.biosac_reg_data = Some(vec![0; 32]);
    if let Ok(p) = txt::predict(&blank) {
        assert_ne!(p.pcrs, original.pcrs);
    }
}

#[test]
fn captured_profile_reproduces_the_pcrs_of_an_agile_log() {
    round_trip(DemoPlatform::Tpm2Embedded, TxtLogFormat::Agile);
    round_trip(DemoPlatform::Tpm2FixedSha256, TxtLogFormat::Agile);
}

#[test]
fn captured_profile_reproduces_the_pcrs_of_a_legacy_log() {
    round_trip(DemoPlatform::Tpm2Embedded, TxtLogFormat::Legacy);
    round_trip(DemoPlatform::Tpm2FixedSha256, TxtLogFormat::Legacy);
}

#[test]
fn captured_profile_reproduces_the_pcrs_of_a_tpm12_container() {
    round_trip(DemoPlatform::Tpm12Legacy, TxtLogFormat::Container);
    let c = capture_log(
        &txtlog::parse(
            &txtlog::write_container(
                &txt::predict(&demo_launch(DemoPlatform::Tpm12Legacy))
                    .unwrap()
                    .events,
            )
            .unwrap(),
            None,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(c.profile.mseg_valid, 1);
    assert_eq!(c.profile.stm_hash, Some(vec![0x5a; 20]));
    assert_eq!(c.profile.lcp_policy_hash, Some(vec![0xa5; 20]));
    assert_eq!(c.profile.lcp_policy_control, 4);
    assert_eq!(c.profile.sinit_mle_data_version, 8);
}

#[test]
fn captured_profile_reproduces_the_pcrs_of_a_tpm12_details_authorities_container() {
    round_trip(DemoPlatform::Tpm12Da, TxtLogFormat::Container);
    let inputs = demo_launch(DemoPlatform::Tpm12Da);
    let pred = txt::predict(&inputs).unwrap();
    assert!(
        pred.events
            .iter()
            .any(|e| e.event_type == evtype::ELEMENTS_HASH),
        "the launch used the details/authorities mapping"
    );
    let log = txtlog::parse(&txtlog::write_container(&pred.events).unwrap(), None).unwrap();
    let c = capture_log(&log).unwrap();
    assert_eq!(c.profile.pcr_mapping, Some(txt::profile::PcrMapping::Da));
    assert_eq!(c.profile.biosac_reg_data, Some(vec![0x11; 20]));
    assert_eq!(c.profile.lcp_elements_hash, Some(vec![0x3c; 20]));
    assert_eq!(c.profile.stm_hash, Some(vec![0x5a; 20]));
    assert_eq!(c.profile.lcp_policy_hash, Some(vec![0xa5; 20]));
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> &'a str {
    let a = s.find(open).unwrap() + open.len();
    let b = a + s[a..].find(close).unwrap();
    &s[a..b]
}

fn type_of(name: &str) -> u32 {
    match name {
        "HASH_START" => evtype::HASH_START,
        "BIOSAC_REG_DATA" => evtype::BIOSAC_REG_DATA,
        "CPU_SCRTM_STAT" => evtype::CPU_SCRTM_STAT,
        "LCP_CONTROL_HASH" => evtype::LCP_CONTROL_HASH,
        "LCP_DETAILS_HASH" => evtype::LCP_DETAILS_HASH,
        "STM_HASH" => evtype::STM_HASH,
        "OSSINITDATA_CAP_HASH" => evtype::OSSINITDATA_CAP_HASH,
        "MLE_HASH" => evtype::MLE_HASH,
        "NV_INFO_HASH" => evtype::NV_INFO_HASH,
        "SINIT_PUBKEY_HASH" => evtype::SINIT_PUBKEY_HASH,
        "LCP_AUTHORITIES_HASH" => evtype::LCP_AUTHORITIES_HASH,
        "tb_policy" | "vmlinuz" | "initrd" => evtype::TB_MEASUREMENT,
        other => panic!("unknown sample event {other}"),
    }
}

/// The sample's per-bank event lists, as two single-bank logs.
fn sample_logs() -> Vec<TxtLog> {
    let xml = std::fs::read_to_string(common::testdata().join("txt/sample_tpm_quote.xml")).unwrap();
    let log =
        String::from_utf8(common::base64(between(&xml, "<eventLog>", "</eventLog>"))).unwrap();
    let mut per_bank: BTreeMap<HashAlg, Vec<Event>> = BTreeMap::new();
    for m in log.split("<module>").skip(1) {
        let bank = match between(m, "<pcrBank>", "</pcrBank>") {
            "SHA1" => HashAlg::Sha1,
            "SHA256" => HashAlg::Sha256,
            other => panic!("bank {other}"),
        };
        let name = between(m, "<name>", "</name>").to_string();
        let pcr: u32 = between(m, "<pcrNumber>", "</pcrNumber>").parse().unwrap();
        if !(17..=22).contains(&pcr) {
            continue;
        }
        per_bank.entry(bank).or_default().push(Event {
            pcr,
            event_type: type_of(&name),
            name,
            digests: [(
                bank,
                Hex(hex::decode(between(m, "<value>", "</value>")).unwrap()),
            )]
            .into_iter()
            .collect(),
            data: Hex::default(),
            source: "sample".into(),
        });
    }
    per_bank
        .into_iter()
        .map(|(bank, events)| TxtLog {
            format: TxtLogFormat::Agile,
            banks: vec![bank],
            events,
        })
        .collect()
}

#[test]
fn capture_from_the_secl_sample_reproduces_its_constant_events() {
    let log = txtlog::merge_logs(sample_logs()).unwrap();
    let c = capture_log(&log).unwrap();
    let p = &c.profile;
    assert_eq!(p.scrtm_status, 1);
    assert_eq!(p.lcp_policy_control, 0);
    assert_eq!(p.lcp_details, vec![0]);
    assert_eq!(p.lcp_authorities, vec![0]);
    assert_eq!(p.stm, vec![0]);
    assert_eq!(p.extpol, Some(txt::ExtPolicy::Embedded));
    // Stand-ins for that machine's ACM (not public, same caps) and its
    // tboot 1.9.x (1.9.6 built from its sources), run with extpol=embedded.
    let pred = txt::predict(&LaunchInputs {
        profile: c.profile.clone(),
        acm: build_acm(&AcmSpec {
            capabilities: 0x201,
            ..AcmSpec::default()
        }),
        tboot: common::tboot_release_gz("1.9.6"),
        tboot_cmdline: "extpol=embedded".into(),
        policy: PolicySource::Default,
        modules: Vec::new(),
    })
    .unwrap();
    let constant = |t: u32| ![evtype::HASH_START, evtype::MLE_HASH].contains(&t);
    let mut compared = 0;
    for bank in [HashAlg::Sha1, HashAlg::Sha256] {
        for pcr in [17u32, 18] {
            let ours: Vec<&Event> = pred
                .events
                .iter()
                .filter(|e| e.pcr == pcr && constant(e.event_type))
                .collect();
            let theirs: Vec<&Event> = log
                .events
                .iter()
                .filter(|e| {
                    e.pcr == pcr
                        && constant(e.event_type)
                        && e.name != "vmlinuz"
                        && e.name != "initrd"
                        && e.digests.contains_key(&bank)
                })
                .collect();
            assert_eq!(ours.len(), theirs.len(), "{bank} PCR{pcr}");
            for (o, t) in ours.iter().zip(&theirs) {
                assert_eq!(o.event_type, t.event_type);
                assert_eq!(
                    o.digests[&bank], t.digests[&bank],
                    "{bank} PCR{pcr} {}",
                    o.name
                );
                compared += 1;
            }
        }
    }
    // Per bank: 8 in PCR17 and 7 in PCR18, everything but HASH_START and MLE_HASH.
    assert_eq!(compared, 2 * (8 + 7), "events compared");
}

fn non_same(d: &txt::diff::Diff) -> Vec<(u32, String, DiffKind)> {
    d.rows
        .iter()
        .filter(|r| r.kind != DiffKind::Same)
        .map(|r| (r.pcr, r.name.clone(), r.kind))
        .collect()
}

#[test]
fn diff_names_exactly_the_event_a_changed_module_cmdline_changes() {
    let inputs = demo_launch(DemoPlatform::Tpm2Embedded);
    let real = txt::predict(&inputs).unwrap();
    assert!(!diff(&real.events, &real.events).differs());
    let mut changed = inputs.clone();
    changed.modules[0].cmdline.push_str(" quiet");
    let pred = txt::predict(&changed).unwrap();
    let d = diff(&pred.events, &real.events);
    assert!(d.differs());
    let rows = non_same(&d);
    assert!(!rows.is_empty());
    for (pcr, name, kind) in &rows {
        assert_eq!(name, "vmlinuz", "PCR{pcr}");
        assert_eq!(*kind, DiffKind::DigestDiffers);
    }
    let first = d.first_parting[&17];
    assert_eq!(d.rows[first].name, "vmlinuz");
    assert!(d.rows[first].origin.contains("module vmlinuz"));
}

#[test]
fn diff_names_exactly_the_event_a_changed_profile_field_changes() {
    let inputs = demo_launch(DemoPlatform::Tpm2Embedded);
    let real = txt::predict(&inputs).unwrap();
    let mut changed = inputs.clone();
    changed.profile.lcp_policy_control = 0;
    let d = diff(&txt::predict(&changed).unwrap().events, &real.events);
    let rows = non_same(&d);
    assert_eq!(
        rows,
        vec![
            (17, "LCP_CONTROL_HASH".into(), DiffKind::DigestDiffers),
            (18, "LCP_CONTROL_HASH".into(), DiffKind::DigestDiffers),
        ]
    );
    assert_eq!(
        d.rows[d.first_parting[&18]].origin,
        "profile.lcp_policy_control"
    );
    // A module the real launch did not have is "missing" from the real log.
    let mut more = inputs.clone();
    more.modules.push(more.modules[1].clone());
    more.modules[2].name = "extra.img".into();
    let d = diff(&txt::predict(&more).unwrap().events, &real.events);
    let rows = non_same(&d);
    assert!(
        rows.iter()
            .all(|(_, n, k)| n == "extra.img" && *k == DiffKind::Missing),
        "{rows:?}"
    );
    assert!(!rows.is_empty());
}

#[test]
fn txt_stat_fills_only_what_the_log_lacks() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus/txt_stat/tpm12_v8.txt"),
    )
    .unwrap();
    let pred = txt::predict(&demo_launch(DemoPlatform::Tpm12Legacy)).unwrap();
    // Without COMBINED_HASH the log has no SinitMleData values.
    let events: Vec<Event> = pred
        .events
        .iter()
        .filter(|e| e.event_type != evtype::COMBINED_HASH)
        .cloned()
        .collect();
    let log = txtlog::parse(&txtlog::write_container(&events).unwrap(), None).unwrap();
    let mut c = capture_log(&log).unwrap();
    assert_eq!(c.profile.bios_acm_id, None);
    txt::capture::apply_txt_stat(&mut c, &text).unwrap();
    assert_eq!(
        c.profile.bios_acm_id,
        Some(hex::decode("80000000201010220000b001ffffffffffffffff").unwrap())
    );
    assert_eq!(c.profile.scrtm_status, 1);
    assert_eq!(c.profile.stm_hash, Some(vec![0; 20]));
    assert!(c.from_txt_stat.contains("bios_acm_id"));
    // With COMBINED_HASH, the log's values win over txt-stat's.
    let log = txtlog::parse(&txtlog::write_container(&pred.events).unwrap(), None).unwrap();
    let mut c = capture_log(&log).unwrap();
    txt::capture::apply_txt_stat(&mut c, &text).unwrap();
    assert_eq!(c.profile.lcp_policy_control, 4);
    assert_eq!(c.profile.stm_hash, Some(vec![0x5a; 20]));
    assert!(!c.from_txt_stat.contains("stm_hash"));
    // Output without the section is an error, not an empty capture.
    assert!(txt::capture::apply_txt_stat(&mut c, "TXT.STS: 0x1\n").is_err());
}

#[test]
fn capture_marks_every_field_it_did_not_read_and_predict_names_them() {
    // A complete agile log: only extpol is a guess (embedded and agile
    // extend the same digests), and predict does not need it as a fact.
    let inputs = demo_launch(DemoPlatform::Tpm2Embedded);
    let pred = txt::predict(&inputs).unwrap();
    let log = txtlog::parse(&txtlog::write_agile(&pred.banks, &pred.events), None).unwrap();
    let c = capture_log(&log).unwrap();
    assert_eq!(
        c.profile.assumed.keys().collect::<Vec<_>>(),
        ["extpol"],
        "{:?}",
        c.profile.assumed
    );
    txt::predict(&LaunchInputs {
        profile: c.profile.clone(),
        ..inputs.clone()
    })
    .unwrap();
    // Without its BIOSAC_REG_DATA events: that field is assumed, and the
    // prediction refuses, naming it and why.
    let mut cut = log.clone();
    cut.events
        .retain(|e| e.event_type != evtype::BIOSAC_REG_DATA);
    let c = capture_log(&cut).unwrap();
    assert!(
        c.profile.assumed["biosac_reg_data"].contains("no BIOSAC_REG_DATA event"),
        "{:?}",
        c.profile.assumed
    );
    let e = txt::predict(&LaunchInputs {
        profile: c.profile.clone(),
        ..inputs.clone()
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("biosac_reg_data (no BIOSAC_REG_DATA event") && e.contains("not captured"),
        "{e}"
    );
    // The assumed table survives TOML, as drtm capture writes it.
    let toml = toml::to_string(&c.profile).unwrap();
    assert_eq!(
        txt::Profile::from_toml(&toml).unwrap().assumed,
        c.profile.assumed
    );

    // TPM 1.2 without the PCR_MAPPING event: the mapping is inferred.
    let pred = txt::predict(&demo_launch(DemoPlatform::Tpm12Legacy)).unwrap();
    let mut log = txtlog::parse(&txtlog::write_container(&pred.events).unwrap(), None).unwrap();
    log.events.retain(|e| e.event_type != evtype::PCR_MAPPING);
    let c = capture_log(&log).unwrap();
    assert!(
        c.profile.assumed["pcr_mapping"].contains("inferred from the presence of a COMBINED_HASH"),
        "{:?}",
        c.profile.assumed
    );
}
