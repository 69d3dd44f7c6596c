//! Independent oracle for the TXT log readers and the replay: a predicted
//! launch is written in each log format, read back by our parser, and the
//! *parsed* events drive a software TPM (HASH_START as a locality-4 hash
//! sequence over the event data, so the TPM computes that digest itself,
//! whichever way it was logged; the rest as PCR extends). The PCRs swtpm
//! reports must equal our replay of the same log.

use tcg::HashAlg;
use tpm_sim::Swtpm;
use txt::Event;
use txt::sinit::evtype;
use txt::synth::{DemoPlatform, demo_launch};
use txt::txtlog::{self, HashStartMode, TxtLogFormat};

fn drive(tpm: &Swtpm, events: &[Event]) {
    for e in events.iter().filter(|e| (17..=22).contains(&e.pcr)) {
        if e.event_type == evtype::HASH_START {
            assert!(!e.data.0.is_empty(), "HASH_START carries its data");
            tpm.set_locality(4).unwrap();
            tpm.hash_sequence(&e.data.0).unwrap();
            continue;
        }
        let locality = if e.event_type == evtype::TB_MEASUREMENT {
            2
        } else {
            3
        };
        tpm.set_locality(locality).unwrap();
        let digests: Vec<(u16, &[u8])> = e
            .digests
            .iter()
            .map(|(a, d)| (a.id(), d.0.as_slice()))
            .collect();
        tpm.pcr_extend(e.pcr, &digests).unwrap();
    }
    tpm.set_locality(0).unwrap();
}

fn check(platform: DemoPlatform, format: TxtLogFormat, hash_start_as_pcr: bool) {
    let pred = txt::predict(&demo_launch(platform)).unwrap();
    let mut events = pred.events.clone();
    if hash_start_as_pcr {
        txtlog::log_hash_start_as_resulting_pcr(&mut events);
    }
    let bytes = txtlog::write(format, &pred.banks, &events).unwrap();
    let log = txtlog::parse(&bytes, None).unwrap();
    assert_eq!(log.format, format);
    let ours = txtlog::replay_log(&log.events, &log.banks, HashStartMode::Auto);
    let tpm = Swtpm::start().unwrap();
    drive(&tpm, &log.events);
    let mut compared = 0;
    for (pcr, banks) in &ours.pcrs {
        for (alg, v) in banks {
            assert_eq!(
                hex::encode(tpm.pcr_read(alg.id(), *pcr).unwrap()),
                hex::encode(&v.0),
                "{platform:?} {format:?} PCR{pcr} {alg}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 3, "{compared} values compared");
    // PCR17 really moved (the comparison is not of two reset values).
    assert_ne!(tpm.pcr_read(HashAlg::Sha1.id(), 17).unwrap(), vec![0u8; 20]);
}

#[test]
fn swtpm_driven_by_a_parsed_agile_log_reads_our_replay() {
    check(DemoPlatform::Tpm2Embedded, TxtLogFormat::Agile, false);
    check(DemoPlatform::Tpm2FixedSha256, TxtLogFormat::Agile, true);
}

#[test]
fn swtpm_driven_by_parsed_legacy_logs_reads_our_replay() {
    check(DemoPlatform::Tpm2Embedded, TxtLogFormat::Legacy, true);
    check(DemoPlatform::Tpm2FixedSha256, TxtLogFormat::Legacy, false);
}

#[test]
fn swtpm_sha1_bank_driven_by_a_parsed_tpm12_container_reads_our_replay() {
    // swtpm runs as a TPM 2.0 here; the SHA-1 bank's arithmetic is TPM 1.2's.
    check(DemoPlatform::Tpm12Legacy, TxtLogFormat::Container, false);
    check(DemoPlatform::Tpm12Legacy, TxtLogFormat::Container, true);
}
