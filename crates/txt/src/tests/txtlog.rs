use tcg::HashAlg;

use crate::synth::{DemoPlatform, demo_launch};
use std::collections::BTreeMap;

use crate::error::Error;
use crate::event::{Event, evtype};
use crate::hexser::Hex;
use crate::txtlog::merge::{Op, edit_script};
use crate::txtlog::*;

fn predicted(p: DemoPlatform) -> crate::Prediction {
    crate::predict(&demo_launch(p)).unwrap()
}

fn check_round_trip(p: DemoPlatform, format: TxtLogFormat) {
    let pred = predicted(p);
    let bytes = write(format, &pred.banks, &pred.events).unwrap();
    assert_eq!(detect(&bytes), format, "{p:?} {format:?}");
    let log = parse(&bytes, None).unwrap();
    assert_eq!(log.format, format);
    let mut want_banks = pred.banks.clone();
    want_banks.sort();
    let mut got_banks = log.banks.clone();
    got_banks.sort();
    assert_eq!(got_banks, want_banks);
    let strip = |es: &[Event]| -> Vec<(u32, u32, BTreeMap<HashAlg, Hex>, Hex)> {
        es.iter()
            .map(|e| (e.pcr, e.event_type, e.digests.clone(), e.data.clone()))
            .collect()
    };
    assert_eq!(strip(&log.events), strip(&pred.events), "{p:?} {format:?}");
    let r = replay_log(&log.events, &log.banks, HashStartMode::Auto);
    assert_eq!(r.pcrs, pred.pcrs, "{p:?} {format:?}");
    // Writing what we parsed gives the same bytes.
    assert_eq!(write(format, &log.banks, &log.events).unwrap(), bytes);
}

#[test]
fn every_format_round_trips_events_and_pcrs() {
    for p in [DemoPlatform::Tpm2Embedded, DemoPlatform::Tpm2FixedSha256] {
        check_round_trip(p, TxtLogFormat::Agile);
        check_round_trip(p, TxtLogFormat::Legacy);
    }
    check_round_trip(DemoPlatform::Tpm12Legacy, TxtLogFormat::Container);
}

#[test]
fn fixed_extpol_legacy_logs_keep_tboot_events_in_one_bank() {
    // A two-bank launch whose tboot events (extpol=sha256) are in one bank.
    let mut pred = predicted(DemoPlatform::Tpm2Embedded);
    for e in &mut pred.events {
        if e.event_type == evtype::TB_MEASUREMENT {
            e.digests.remove(&HashAlg::Sha1);
        }
    }
    pred.pcrs = crate::event::replay(&pred.events, &pred.banks);
    let sha1 = write_legacy_single(HashAlg::Sha1, &pred.events);
    let sha256 = write_legacy_single(HashAlg::Sha256, &pred.events);
    let one = parse_legacy_single(&sha1, None).unwrap();
    assert!(
        one.events
            .iter()
            .all(|e| e.event_type != evtype::TB_MEASUREMENT)
    );
    // Per-algorithm files merge into the same list as the element file.
    let merged = parse_legacy_files(&[(sha256, None), (sha1, Some(HashAlg::Sha1))]).unwrap();
    let r = replay_log(&merged.events, &merged.banks, HashStartMode::Auto);
    assert_eq!(r.pcrs, pred.pcrs);
    assert_eq!(merged.events.len(), pred.events.len());
}

#[test]
fn hash_start_is_replayed_right_whichever_way_it_was_logged() {
    let pred = predicted(DemoPlatform::Tpm2Embedded);
    let mut events = pred.events.clone();
    log_hash_start_as_resulting_pcr(&mut events);
    let r = replay_log(&events, &pred.banks, HashStartMode::Auto);
    assert_eq!(r.pcrs, pred.pcrs);
    assert!(
        r.hash_start
            .values()
            .all(|f| *f == HashStartForm::ResultingPcr)
    );
    // Without data, "set" is right for this form and "extend" is not.
    for e in events.iter_mut() {
        if e.event_type == evtype::HASH_START {
            e.data.0.clear();
        }
    }
    assert_eq!(
        replay_log(&events, &pred.banks, HashStartMode::Set).pcrs,
        pred.pcrs
    );
    assert_ne!(
        replay_log(&events, &pred.banks, HashStartMode::Extend).pcrs,
        pred.pcrs
    );
    let spec = replay_log(&pred.events, &pred.banks, HashStartMode::Auto);
    assert!(
        spec.hash_start
            .values()
            .all(|f| *f == HashStartForm::DigestOfData)
    );
}

fn message(e: Error) -> String {
    e.to_string()
}

#[test]
fn hostile_logs_fail_naming_offset_and_field() {
    let pred = predicted(DemoPlatform::Tpm12Legacy);
    let good = write_container(&pred.events).unwrap();
    let mut b = good.clone();
    b[44..48].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let m = message(parse(&b, None).unwrap_err());
    assert!(m.contains("NextEventOffset") && m.contains("0x2c"), "{m}");
    let mut b = good.clone();
    b[48 + 28..48 + 32].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let m = message(parse(&b, None).unwrap_err());
    assert!(m.contains("Data") && m.contains("0x50"), "{m}");
    let m = message(parse(&good[..40], None).unwrap_err());
    assert!(m.contains("PCREventsOffset"), "{m}");

    let pred = predicted(DemoPlatform::Tpm2Embedded);
    let el = write_legacy_element(&pred.banks, &pred.events).unwrap();
    let mut b = el.clone();
    b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    let m = message(parse(&b, None).unwrap_err());
    assert!(m.contains("PhysicalAddress"), "{m}");
    let single = write_legacy_single(HashAlg::Sha256, &pred.events);
    let mut b = single.clone();
    b[52..56].copy_from_slice(&9u32.to_le_bytes());
    let m = message(parse(&b, None).unwrap_err());
    assert!(m.contains("DigestAlgID") && m.contains("0x34"), "{m}");
    let m = message(parse(&single[..single.len() - 3], None).unwrap_err());
    assert!(m.contains("Event"), "{m}");
    let m = message(parse_legacy_single(&single, Some(HashAlg::Sha384)).unwrap_err());
    assert!(m.contains("sha384"), "{m}");
}

#[test]
fn padding_after_the_last_record_ends_a_legacy_log() {
    let pred = predicted(DemoPlatform::Tpm2Embedded);
    let mut b = write_legacy_single(HashAlg::Sha1, &pred.events);
    let n = parse(&b, None).unwrap().events.len();
    b.extend_from_slice(&[0xff; 4096]);
    assert_eq!(parse(&b, None).unwrap().events.len(), n);
}

#[test]
fn mutated_seed_logs_never_panic() {
    // A cheap, deterministic stand-in for the fuzzer in CI: flip, truncate
    // and overwrite bytes of every seed log with length-like values.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/txt_log");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut runs = 0;
    for f in std::fs::read_dir(&dir).unwrap() {
        let seed = std::fs::read(f.unwrap().path()).unwrap();
        for _ in 0..300 {
            let mut b = seed.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % b.len().max(1);
                match next() % 4 {
                    0 => b[at] ^= 1 << (next() % 8),
                    1 => b.truncate(at),
                    2 if at + 4 <= b.len() => {
                        let v = [0u32, 1, 0x30, 0xffff_ffff, b.len() as u32][next() as usize % 5];
                        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
                    }
                    _ => b[at] = next() as u8,
                }
                if b.is_empty() {
                    break;
                }
            }
            crate::fuzz::fuzz_one(&b);
            runs += 1;
        }
    }
    assert!(runs >= 1800, "{runs} runs");
}

#[test]
fn nuc_hash_start_from_opencit_63_is_the_resulting_pcr_form() {
    // txt-stat of a NUC5i5MYHE (PTT, TXT legacy SHA-1 log), spec §3.4 / §10 V2.
    let data =
        hex::decode("01e0e469911a09c3cfea6e492cb36a50fcc4a53780608b90b8031a4dc32cff7b00000000")
            .unwrap();
    let logged = hex::decode("e064421772da0cca59cea47801c2ee5e5c2a1758").unwrap();
    assert_eq!(
        hash_start_form(HashAlg::Sha1, &logged, &data),
        HashStartForm::ResultingPcr
    );
    let spec_form = hex::decode("24edd51604348d9143bf0616ed622e57d9e5bdae").unwrap();
    assert_eq!(
        hash_start_form(HashAlg::Sha1, &spec_form, &data),
        HashStartForm::DigestOfData
    );
    // Replayed either way from its data, PCR17 is the logged value.
    let e = log_event(
        17,
        evtype::HASH_START,
        BTreeMap::from([(HashAlg::Sha1, Hex(logged.clone()))]),
        &data,
    );
    let r = replay_log(
        std::slice::from_ref(&e),
        &[HashAlg::Sha1],
        HashStartMode::Auto,
    );
    assert_eq!(r.pcrs[&17][&HashAlg::Sha1].0, logged);
    let mut no_data = e;
    no_data.data.0.clear();
    let r = replay_log(&[no_data], &[HashAlg::Sha1], HashStartMode::Set);
    assert_eq!(r.pcrs[&17][&HashAlg::Sha1].0, logged);
}

/// Reference: the length of a longest common subsequence, by the classic
/// quadratic table (small inputs only).
fn lcs_len(a: &[u32], b: &[u32]) -> usize {
    let mut t = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            t[i][j] = if a[i] == b[j] {
                t[i + 1][j + 1] + 1
            } else {
                t[i + 1][j].max(t[i][j + 1])
            };
        }
    }
    t[0][0]
}

#[test]
fn edit_script_matches_a_longest_common_subsequence() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..2000 {
        let (la, lb, alphabet) = (next() % 24, next() % 24, 1 + next() % 5);
        let a: Vec<u32> = (0..la).map(|_| (next() % alphabet) as u32).collect();
        let b: Vec<u32> = (0..lb).map(|_| (next() % alphabet) as u32).collect();
        let ops = edit_script(&a, &b, MAX_BANK_DIFFERENCE).unwrap();
        // The script walks both lists exactly, matching equal items only.
        let (mut i, mut j, mut both) = (0, 0, 0);
        for op in ops {
            match op {
                Op::Both => {
                    assert_eq!(a[i], b[j], "{a:?} {b:?}");
                    (i, j, both) = (i + 1, j + 1, both + 1);
                }
                Op::OnlyA => i += 1,
                Op::OnlyB => j += 1,
            }
        }
        assert_eq!((i, j), (a.len(), b.len()));
        assert_eq!(both, lcs_len(&a, &b), "{a:?} {b:?}");
    }
}

fn bulk_events(n: usize, tag: u8, bank: HashAlg) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let d = BTreeMap::from([(bank, Hex(vec![tag; bank.size()]))]);
            log_event(17, 0x400, d, &(i as u64).to_le_bytes())
        })
        .collect()
}

#[test]
fn merging_long_bank_logs_needs_no_table_of_their_product() {
    // Two 200,000-event banks that differ in a few events: the old
    // longest-common-subsequence table needed 160 GB here.
    let a = bulk_events(200_000, 1, HashAlg::Sha1);
    let mut b: Vec<Event> = bulk_events(200_000, 2, HashAlg::Sha256);
    for e in b.iter_mut().skip(1000).step_by(50_000) {
        e.data.0.push(0xee);
    }
    b.remove(123_456);
    let sha1 = TxtLog {
        format: TxtLogFormat::Legacy,
        banks: vec![HashAlg::Sha1],
        events: a,
    };
    let sha256 = TxtLog {
        banks: vec![HashAlg::Sha256],
        events: b,
        ..sha1.clone()
    };
    let m = merge_logs(vec![sha1, sha256]).unwrap();
    // 4 changed events appear once per bank, the removed one once.
    assert_eq!(m.events.len(), 200_000 + 4);
    assert_eq!(
        m.events.iter().filter(|e| e.digests.len() == 2).count(),
        200_000 - 5
    );
}

#[test]
fn bank_logs_of_different_launches_are_refused_not_merged() {
    let log = |tag: u8, bank| TxtLog {
        format: TxtLogFormat::Legacy,
        banks: vec![bank],
        events: bulk_events(5000, tag, bank)
            .into_iter()
            .map(|mut e| {
                e.data.0.push(tag);
                e
            })
            .collect(),
    };
    let e = merge_logs(vec![log(1, HashAlg::Sha1), log(2, HashAlg::Sha256)]).unwrap_err();
    let m = e.to_string();
    assert!(m.contains("more than 1000 events"), "{m}");
    // A bank that stopped early (its buffer full) merges as a prefix.
    let short = TxtLog {
        events: bulk_events(100, 3, HashAlg::Sha256),
        ..log(3, HashAlg::Sha256)
    };
    let full = TxtLog {
        events: bulk_events(5000, 4, HashAlg::Sha1),
        ..log(4, HashAlg::Sha1)
    };
    let m = merge_logs(vec![full, short]).unwrap();
    assert_eq!(m.events.len(), 5000);
    assert_eq!(
        m.events.iter().filter(|e| e.digests.len() == 2).count(),
        100
    );
}

#[test]
fn zero_records_before_a_last_record_are_events_not_padding() {
    // All-zero records (PCR 0, type 0, zero digest, no data) look like
    // padding until the record after them; the end of the log is where the
    // padding reaching the end of the buffer starts, found once.
    let zero = [0u8; 32];
    let mut b = Vec::new();
    for _ in 0..50_000 {
        b.extend_from_slice(&zero);
    }
    let last = write_legacy_single(HashAlg::Sha1, &bulk_events(1, 7, HashAlg::Sha1));
    b.extend_from_slice(&last);
    assert_eq!(parse_legacy_single(&b, None).unwrap().events.len(), 50_001);
    b.extend_from_slice(&[0xff; 1000]);
    assert_eq!(parse_legacy_single(&b, None).unwrap().events.len(), 50_001);
    b.truncate(b.len() - 1000 - last.len());
    // Only padding left: no event, which is not a log.
    assert!(parse_legacy_single(&b, None).is_err());
}

#[test]
fn a_dword_found_by_search_is_searched_for_once() {
    // Each CPU_SCRTM_STAT without data costs a 65536-hash search; a log of
    // thousands of them searched once per event (a note each).
    let e = log_event(
        17,
        evtype::CPU_SCRTM_STAT,
        BTreeMap::from([(HashAlg::Sha1, Hex(vec![0x5a; 20]))]),
        &[],
    );
    let log = TxtLog {
        format: TxtLogFormat::Agile,
        banks: vec![HashAlg::Sha1],
        events: vec![e; 3000],
    };
    let c = crate::capture::capture_log(&log).unwrap();
    let n = c
        .notes
        .iter()
        .filter(|n| n.contains("CPU_SCRTM_STAT"))
        .count();
    assert_eq!(n, 1, "{:?}", &c.notes[..3.min(c.notes.len())]);
}
