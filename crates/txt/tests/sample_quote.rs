//! The Intel SecL sample quote from a real TPM 2.0 + tboot server: replaying
//! its event list reproduces the quoted PCRs, and our prediction reproduces
//! its constant events and tb_policy digests from first principles.

mod common;

use std::collections::BTreeMap;

use tcg::HashAlg;
use txt::synth::{AcmSpec, build_acm};
use txt::{Event, ExtPolicy, Hex, LaunchInputs, PolicySource, Profile};

struct Sample {
    /// (bank, pcr, name, digest) in log order.
    events: Vec<(HashAlg, u32, String, Vec<u8>)>,
    /// bank → quoted PCR values 0..23.
    quoted: BTreeMap<HashAlg, Vec<Vec<u8>>>,
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> &'a str {
    let a = s.find(open).unwrap() + open.len();
    let b = a + s[a..].find(close).unwrap();
    &s[a..b]
}

fn load() -> Sample {
    let xml = std::fs::read_to_string(common::testdata().join("txt/sample_tpm_quote.xml")).unwrap();
    let log =
        String::from_utf8(common::base64(between(&xml, "<eventLog>", "</eventLog>"))).unwrap();
    let mut events = Vec::new();
    for m in log.split("<module>").skip(1) {
        let bank = match between(m, "<pcrBank>", "</pcrBank>") {
            "SHA1" => HashAlg::Sha1,
            "SHA256" => HashAlg::Sha256,
            other => panic!("bank {other}"),
        };
        let pcr: u32 = between(m, "<pcrNumber>", "</pcrNumber>").parse().unwrap();
        let name = between(m, "<name>", "</name>").to_string();
        let value = hex::decode(between(m, "<value>", "</value>")).unwrap();
        events.push((bank, pcr, name, value));
    }
    // <quote>: TPM2B_ATTEST, TPMT_SIGNATURE (RSASSA), then sha1 PCR0-23, sha256 PCR0-23.
    let q = common::base64(between(&xml, "<quote>", "</quote>"));
    let attest = u16::from_be_bytes([q[0], q[1]]) as usize;
    let mut o = 2 + attest;
    let sig_len = u16::from_be_bytes([q[o + 4], q[o + 5]]) as usize;
    o += 6 + sig_len;
    let mut quoted = BTreeMap::new();
    for alg in [HashAlg::Sha1, HashAlg::Sha256] {
        let mut v = Vec::new();
        for _ in 0..24 {
            v.push(q[o..o + alg.size()].to_vec());
            o += alg.size();
        }
        quoted.insert(alg, v);
    }
    assert_eq!(o, q.len(), "quote PCR list layout");
    Sample { events, quoted }
}

#[test]
fn replaying_the_sample_log_reproduces_quoted_pcr17_and_pcr18_in_both_banks() {
    let s = load();
    let events: Vec<Event> = s
        .events
        .iter()
        .filter(|(_, pcr, _, _)| (17..=22).contains(pcr))
        .map(|(alg, pcr, name, d)| Event {
            pcr: *pcr,
            event_type: 0,
            name: name.clone(),
            digests: [(*alg, Hex(d.clone()))].into_iter().collect(),
            data: Hex::default(),
            source: "sample".into(),
        })
        .collect();
    let banks = [HashAlg::Sha1, HashAlg::Sha256];
    let pcrs = txt::replay(&events, &banks);
    for alg in banks {
        for pcr in [17u32, 18, 19] {
            assert_eq!(
                pcrs[&pcr][&alg].0, s.quoted[&alg][pcr as usize],
                "{alg} PCR{pcr}"
            );
        }
    }
    // A wrong digest must break it (the comparison is not vacuous).
    let mut broken = events.clone();
    broken[3].digests.values_mut().next().unwrap().0[0] ^= 1;
    let bad = txt::replay(&broken, &banks);
    assert!(banks.iter().any(|a| bad[&17][a].0 != s.quoted[a][17]));
}

#[test]
fn prediction_reproduces_the_samples_constant_events_and_default_policy_digests() {
    let s = load();
    // What system A's profile holds: platform values captured from its log.
    let captured = |name: &str| -> BTreeMap<HashAlg, String> {
        s.events
            .iter()
            .filter(|(_, _, n, _)| n == name)
            .map(|(a, _, _, d)| (*a, hex::encode(d)))
            .collect()
    };
    let mut profile = Profile::tpm2(vec![HashAlg::Sha1, HashAlg::Sha256]);
    profile.extpol = Some(ExtPolicy::Embedded);
    profile.scrtm_status = 1;
    profile.biosac_reg_data_digests = captured("BIOSAC_REG_DATA");
    profile.nv_info_digests = captured("NV_INFO_HASH");
    profile.sinit_pubkey_digests = captured("SINIT_PUBKEY_HASH");
    // That machine's ACM and tboot are not public: a stand-in SINIT with the
    // same capabilities (GETSEC wake + TCG log) and tboot 1.9.6 built from
    // its sources (the sample is a 1.9.x; MLE caps 0x227).
    let inputs = LaunchInputs {
        profile,
        acm: build_acm(&AcmSpec {
            capabilities: 0x201,
            ..AcmSpec::default()
        }),
        tboot: common::tboot_release_gz("1.9.6"),
        tboot_cmdline: "extpol=embedded".into(),
        policy: PolicySource::Default,
        modules: Vec::new(),
    };
    let p = txt::predict(&inputs).unwrap();
    assert_eq!(p.os_sinit_caps, 0x201);
    let from_first_principles = [
        "CPU_SCRTM_STAT",
        "LCP_CONTROL_HASH",
        "LCP_DETAILS_HASH",
        "STM_HASH",
        "OSSINITDATA_CAP_HASH",
        "LCP_AUTHORITIES_HASH",
        "tb_policy",
    ];
    let mut checked = 0;
    for pcr in [17u32, 18] {
        let ours: Vec<&Event> = p.events.iter().filter(|e| e.pcr == pcr).collect();
        for alg in [HashAlg::Sha1, HashAlg::Sha256] {
            let theirs: Vec<&(HashAlg, u32, String, Vec<u8>)> = s
                .events
                .iter()
                .filter(|(a, n, name, _)| {
                    *a == alg && *n == pcr && name != "vmlinuz" && name != "initrd"
                })
                .collect();
            // Same events in the same order.
            let names: Vec<&str> = ours.iter().map(|e| e.name.as_str()).collect();
            let their_names: Vec<&str> = theirs.iter().map(|t| t.2.as_str()).collect();
            assert_eq!(names, their_names, "PCR{pcr} {alg} event order");
            for (o, t) in ours.iter().zip(&theirs) {
                if from_first_principles.contains(&o.name.as_str()) {
                    assert_eq!(o.digests[&alg].0, t.3, "PCR{pcr} {alg} {}", o.name);
                    checked += 1;
                }
            }
        }
    }
    // Per bank: 6 such events in PCR17 and 5 in PCR18.
    assert_eq!(checked, 22, "events compared");
}
