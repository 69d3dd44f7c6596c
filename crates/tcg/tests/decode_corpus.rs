//! The event-log reader explains what it shows: on the shared real logs, every event
//! type decodes to its structure, binary data is shown as hex (never as garbled
//! text), and where `tpm2_eventlog` decodes the same field the two agree. Digest
//! warnings follow the rule of the spec and of tpm2_eventlog; `verify` says what is
//! true; a TDX CCEL log is recognised.

use std::path::{Path, PathBuf};
use std::process::Command;

use tcg::log::{EventData, ParseError};
use tcg::values::PcrValues;
use tcg::verify::{PcrVerdict, verify};
use tcg::{EventLog, EventType, HashAlg, LogFormat, replay};

fn eventlogs() -> PathBuf {
    if let Ok(d) = std::env::var("MEASURED_SHARED") {
        return Path::new(&d).join("testdata/eventlogs");
    }
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        let c = dir.join("shared/testdata/eventlogs");
        if c.is_dir() {
            return c;
        }
        if !dir.pop() {
            return PathBuf::from("/work/shared/testdata/eventlogs");
        }
    }
}

fn logs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(eventlogs()).unwrap() {
        let d = d.unwrap().path();
        if d.is_dir() {
            for f in std::fs::read_dir(&d).unwrap() {
                let f = f.unwrap().path();
                if f.extension().is_some_and(|e| e == "bin") {
                    out.push(f);
                }
            }
        }
    }
    out.sort();
    assert!(out.len() >= 20);
    out
}

fn log(rel: &str) -> EventLog {
    EventLog::read(&eventlogs().join(rel)).unwrap()
}

fn decoded(rel: &str, index: usize) -> EventData {
    log(rel).events[index].decoded()
}

/// tpm2_eventlog's fields per event: `(event number, key, value)`.
fn tpm2_eventlog_fields(f: &Path) -> Vec<(usize, String, String)> {
    let out = Command::new("tpm2_eventlog")
        .arg(f)
        .output()
        .expect("tpm2_eventlog (ci/install-oracles.sh)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut ev = usize::MAX;
    let mut fields = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next() {
        let t = l.trim();
        if let Some(n) = t.strip_prefix("- EventNum: ") {
            ev = n.parse().unwrap();
            continue;
        }
        if t == "pcrs:" {
            break;
        }
        if let Some((k, v)) = t.split_once(": ") {
            let mut v = v.to_string();
            // Block scalars: `String: |-` then the quoted text on the next line.
            if v == "|-" {
                v = lines.next().unwrap_or("").trim().to_string();
            }
            fields.push((ev, k.trim_start_matches("- ").to_string(), v));
        }
    }
    fields
}

#[test]
fn decoded_fields_agree_with_tpm2_eventlog_where_both_decode_them() {
    let mut compared = 0;
    for f in logs() {
        let l = EventLog::read(&f).unwrap();
        let fields = tpm2_eventlog_fields(&f);
        let get = |ev: usize, key: &str| -> Option<String> {
            fields
                .iter()
                .find(|(e, k, _)| *e == ev && k == key)
                .map(|(_, _, v)| v.clone())
        };
        for e in &l.events {
            let d = e.decoded();
            let at = format!("{} event {}", f.display(), e.index);
            match &d {
                EventData::EfiVariable { guid, name, .. } => {
                    if let Some(g) = get(e.index, "VariableName") {
                        assert_eq!(&g, guid, "{at}");
                        assert_eq!(
                            get(e.index, "UnicodeName").as_deref(),
                            Some(name.as_str()),
                            "{at}"
                        );
                        compared += 1;
                    }
                }
                EventData::EfiImageLoad {
                    location, length, ..
                } => {
                    if let Some(loc) = get(e.index, "ImageLocationInMemory") {
                        assert_eq!(
                            u64::from_str_radix(loc.trim_start_matches("0x"), 16).unwrap(),
                            *location,
                            "{at}"
                        );
                        assert_eq!(
                            get(e.index, "ImageLengthInMemory")
                                .unwrap()
                                .parse::<u64>()
                                .unwrap(),
                            *length,
                            "{at}"
                        );
                        compared += 1;
                    }
                }
                EventData::Blob {
                    base,
                    length,
                    description: None,
                } => {
                    if let Some(b) = get(e.index, "BlobBase") {
                        assert_eq!(
                            u64::from_str_radix(b.trim_start_matches("0x"), 16).unwrap(),
                            *base,
                            "{at}"
                        );
                        let l = get(e.index, "BlobLength").unwrap();
                        assert_eq!(
                            u64::from_str_radix(l.trim_start_matches("0x"), 16).unwrap(),
                            *length,
                            "{at}"
                        );
                        compared += 1;
                    }
                }
                EventData::Text { text } if e.event_type == EventType::Ipl => {
                    if let Some(s) = get(e.index, "String")
                        && !text.contains(['"', '\\', '\n'])
                    {
                        // tpm2_eventlog prints UCS-2 (systemd-boot's) as its bytes,
                        // NULs escaped: drop them to compare the characters.
                        let theirs = s.trim_matches('"').replace("\\0", "");
                        assert_eq!(theirs, *text, "{at}");
                        compared += 1;
                    }
                }
                _ => {}
            }
            // tpm2_eventlog reads any EV_S_CRTM_CONTENTS as a blob; where the data is a
            // description string (Boot Guard's), it is text, and we say so.
            if e.event_type == EventType::SCrtmContents
                && get(e.index, "BlobBase").is_some()
                && e.data.len() != 16
            {
                assert!(matches!(d, EventData::Text { .. }), "{at}: {d:?}");
            }
        }
    }
    assert!(compared > 400, "only {compared} fields compared");
}

#[test]
fn binary_data_is_never_shown_as_text() {
    for f in logs() {
        for e in &EventLog::read(&f).unwrap().events {
            let shown = e.decoded().to_string();
            assert!(
                !shown.contains('\u{FFFD}') && !shown.chars().any(|c| c.is_control()),
                "{} event {} ({}) shows {shown:?}",
                f.display(),
                e.index,
                e.event_type
            );
            if let EventData::Text { text } = e.decoded() {
                assert!(
                    !text
                        .chars()
                        .any(|c| c.is_control() && !"\t\n\r".contains(c))
                );
            }
        }
    }
}

#[test]
fn firmware_events_decode_to_what_they_are() {
    use EventData as D;
    // Boot Guard's S-CRTM description, and a platform config flag, are text.
    assert_eq!(
        decoded("go-tpm-tools/gdc-host.bin", 2),
        D::Text {
            text: "Boot Guard Measured S-CRTM".into()
        }
    );
    assert_eq!(
        decoded("go-tpm-tools/gdc-host.bin", 8),
        D::Text {
            text: "No voltage offset and OC_LOCK bit is set".into()
        }
    );
    // Handoff tables and the table of devices: the configuration tables by GUID name.
    let D::HandoffTables { tables, .. } = decoded("go-tpm-tools/gdc-host.bin", 69) else {
        panic!()
    };
    assert_eq!(tables[0].name, Some("SMBIOS3_TABLE"));
    assert_eq!(tables[0].address, 0x6fd17000);
    let D::HandoffTables { tables, .. } = decoded("go-tpm-tools/gdc-host.bin", 55) else {
        panic!()
    };
    assert_eq!(tables[0].name, Some("EFI_MP_SERVICES_PROTOCOL"));
    // An S-CRTM version in GUID form (EDK2), not garbled text.
    assert_eq!(
        decoded("go-tpm-tools/arch-linux-workstation.bin", 1),
        D::Guid {
            guid: "546bfb1e-1d0c-4055-a4ad-4ef4bf17b83a".into(),
            name: None
        }
    );
    // Non-host info: GCE's signature and its confidential-computing byte.
    assert_eq!(
        decoded("go-tpm-tools/ubuntu-2404-amd-sevsnp.bin", 2).to_string(),
        "\"GCE NonHostInfo\": confidential computing: AMD SEV-SNP"
    );
    // POST codes: a blob by address or a description.
    assert!(matches!(
        decoded("go-tpm-tools/arch-linux-workstation.bin", 2),
        D::Blob {
            base: 0xffa90000,
            length: 0x350000,
            ..
        }
    ));
    assert_eq!(
        decoded("go-tpm-tools/gdc-host.bin", 16),
        D::Text {
            text: "ACPI DATA".into()
        }
    );
    // Windows: SIPA events by name, nested; compact hashes as numbers.
    let w = "go-attestation/windows_gcp_shielded_vm.bin";
    assert_eq!(
        decoded(w, 10),
        D::Number {
            value: 0x10,
            size: 4
        }
    );
    let shown = decoded(w, 15).to_string();
    assert!(shown.starts_with("SIPAEVENT_TRUSTBOUNDARY["), "{shown}");
    assert!(
        shown.contains("SIPAEVENT_SYSTEMROOT=\"\\\\Windows\""),
        "{shown}"
    );
    assert!(
        decoded(w, 11)
            .to_string()
            .contains("SIPAEVENT_BOOTCOUNTER=4")
    );
    // The Linux EFI stub's tagged events.
    assert_eq!(
        decoded("go-tpm-tools/ubuntu-2404-amd-sevsnp.bin", 113).to_string(),
        "LINUX_LOAD_OPTIONS=\"LOADED_IMAGE::LoadOptions\""
    );
    // Device paths: SATA, NVMe, GPT partitions and files by name.
    let D::EfiImageLoad { device_path, .. } =
        decoded("go-tpm-tools/arch-linux-workstation.bin", 22)
    else {
        panic!()
    };
    assert_eq!(
        device_path,
        "PciRoot(0x0)/Pci(0x17,0x0)/Sata(0x1,0xffff,0x0)/HD(1,GPT,1a504613-19b5-4b44-a83d-d926d40daa1c,0x800,0x80000)/\\EFI\\SYSTEMD\\SYSTEMD-BOOTX64.EFI"
    );
    // Boot variables: the boot order and each option's description and path.
    let D::EfiVariable { detail, .. } = decoded("go-tpm-tools/rhel8-uefi.bin", 9) else {
        panic!()
    };
    assert_eq!(detail.as_deref(), Some("Boot0002,Boot0000,Boot0001"));
}

/// A TCG 1.2 (SHA1-format) log of a legacy BIOS machine, event by event.
fn sha1_log(events: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    for (pcr, ty, data) in events {
        b.extend_from_slice(&pcr.to_le_bytes());
        b.extend_from_slice(&ty.to_le_bytes());
        b.extend_from_slice(&HashAlg::Sha1.digest(data));
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
    }
    b
}

#[test]
fn legacy_bios_events_decode_and_ipl_code_is_hex() {
    let mut blob = 0xf0000u64.to_le_bytes().to_vec();
    blob.extend_from_slice(&0x10000u64.to_le_bytes());
    let mut mbr_code = vec![0xFAu8, 0x33, 0xC0, 0x8E, 0xD0, 0xBC, 0x00, 0x7C];
    mbr_code.resize(446, 0x90);
    let mut table = vec![0u8; 64];
    table[0] = 0x80;
    table[4] = 0x83;
    table[8..12].copy_from_slice(&2048u32.to_le_bytes());
    table[12..16].copy_from_slice(&1_000_000u32.to_le_bytes());
    let raw = sha1_log(&[
        (0, 0x8, b"Phoenix BIOS 1.0\0"),
        (0, 0x1, b"POST CODE"),
        (0, 0x7, &blob),
        (1, 0x9, &blob),
        (4, 0xD, &mbr_code),
        (5, 0xE, &table),
        (4, 0x4, &[0, 0, 0, 0]),
    ]);
    let l = EventLog::parse(&raw).unwrap();
    assert_eq!(l.format, LogFormat::Sha1);
    let d: Vec<String> = l.events.iter().map(|e| e.decoded().to_string()).collect();
    assert_eq!(d[0], "\"Phoenix BIOS 1.0\"");
    assert_eq!(d[1], "\"POST CODE\"");
    assert_eq!(d[2], "base 0xf0000 length 0x10000", "S-CRTM contents blob");
    assert_eq!(d[3], "base 0xf0000 length 0x10000", "microcode blob");
    assert!(
        d[4].starts_with("hex fa33c08ed0bc007c9090") && d[4].ends_with("(446 bytes)"),
        "{}",
        d[4]
    );
    assert_eq!(
        d[5],
        "MBR partitions: type 0x83 boot at 2048 (1000000 sectors)"
    );
    // tpm2_eventlog reads the same log and replays the same values.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bios.bin");
    std::fs::write(&p, &raw).unwrap();
    let out = Command::new("tpm2_eventlog").arg(&p).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let theirs = PcrValues::from_pcrread_yaml(&text[text.rfind("pcrs:").unwrap()..], "t").unwrap();
    let ours = replay(&l);
    for (pcr, v) in &theirs.map[&HashAlg::Sha1] {
        assert_eq!(
            ours.value(HashAlg::Sha1, *pcr),
            Some(v.as_slice()),
            "PCR{pcr}"
        );
    }
}

/// Rewrite the first digest of event `index` in a parsed log's bytes.
fn set_digest(raw: &mut [u8], l: &EventLog, index: usize, alg: HashAlg, digest: &[u8]) {
    let e = &l.events[index];
    let mut at = e.offset + 8;
    if l.format == LogFormat::Sha1 {
        raw[at..at + 20].copy_from_slice(digest);
        return;
    }
    at += 4;
    for d in &e.digests {
        at += 2;
        if d.alg == Some(alg) {
            raw[at..at + digest.len()].copy_from_slice(digest);
        }
        at += d.digest.len();
    }
}

/// `VariableData` of a `UEFI_VARIABLE_DATA` event.
fn variable_data(data: &[u8]) -> &[u8] {
    let n = u64::from_le_bytes(data[16..24].try_into().unwrap()) as usize;
    &data[32 + 2 * n..]
}

fn tpm2_eventlog_warns(raw: &[u8]) -> Vec<usize> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("log.bin");
    std::fs::write(&p, raw).unwrap();
    let out = Command::new("tpm2_eventlog").arg(&p).output().unwrap();
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("WARN: Event "))
        .filter_map(|l| l.split_once('\'').and_then(|(n, _)| n.parse().ok()))
        .collect()
}

#[test]
fn tpm12_pcr7_variables_hashing_only_their_data_are_not_flagged() {
    // A TPM 1.2 (SHA1-format) log whose PCR7 Secure Boot variables are measured as
    // the hash of VariableData alone, as TPM 1.2-era firmware does.
    let path = eventlogs().join("go-tpm-tools/debian-10.bin");
    let mut raw = std::fs::read(&path).unwrap();
    let l = EventLog::parse(&raw).unwrap();
    let mut changed = 0;
    for e in &l.events {
        if e.pcr == 7 && e.event_type == EventType::EfiVariableDriverConfig {
            set_digest(
                &mut raw,
                &l,
                e.index,
                HashAlg::Sha1,
                &HashAlg::Sha1.digest(variable_data(&e.data)),
            );
            changed += 1;
        }
    }
    assert_eq!(changed, 5);
    let r = replay(&EventLog::parse(&raw).unwrap());
    assert!(r.mismatches.is_empty(), "{:?}", r.mismatches);
    assert!(
        tpm2_eventlog_warns(&raw).is_empty(),
        "tpm2_eventlog checks no digest of a SHA1 log"
    );
    // A digest of neither form still is flagged.
    set_digest(&mut raw, &l, 2, HashAlg::Sha1, &[0x55; 20]);
    let r = replay(&EventLog::parse(&raw).unwrap());
    assert_eq!(
        r.mismatches.iter().map(|m| m.event).collect::<Vec<_>>(),
        [2]
    );
}

#[test]
fn agile_pcr7_variable_hashing_only_its_data_is_flagged_like_tpm2_eventlog_does() {
    let path = eventlogs().join("go-tpm-tools/rhel8-uefi.bin");
    let mut raw = std::fs::read(&path).unwrap();
    let l = EventLog::parse(&raw).unwrap();
    let e = l
        .events
        .iter()
        .find(|e| e.pcr == 7 && e.event_type == EventType::EfiVariableDriverConfig)
        .unwrap();
    for alg in [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384] {
        set_digest(
            &mut raw,
            &l,
            e.index,
            alg,
            &alg.digest(variable_data(&e.data)),
        );
    }
    let r = replay(&EventLog::parse(&raw).unwrap());
    let mut ours: Vec<usize> = r.mismatches.iter().map(|m| m.event).collect();
    ours.dedup();
    assert_eq!(ours, [e.index]);
    assert_eq!(
        tpm2_eventlog_warns(&raw),
        ours,
        "the same event as tpm2_eventlog"
    );
}

#[test]
fn verify_says_what_is_true_and_reports_declared_banks_without_events() {
    // Declare sha512 in the header; no event carries it.
    let path = eventlogs().join("go-tpm-tools/rhel8-uefi.bin");
    let raw = std::fs::read(&path).unwrap();
    let l = EventLog::parse(&raw).unwrap();
    let header_len = 32 + l.events[0].data.len();
    let mut spec = l.events[0].data.clone();
    let n = u32::from_le_bytes(spec[24..28].try_into().unwrap());
    spec[24..28].copy_from_slice(&(n + 1).to_le_bytes());
    let at = 28 + 4 * n as usize;
    spec.splice(at..at, [0x0D, 0x00, 0x40, 0x00]);
    let mut out = raw[..28].to_vec();
    out.extend_from_slice(&(spec.len() as u32).to_le_bytes());
    out.extend_from_slice(&spec);
    out.extend_from_slice(&raw[header_len..]);
    let l2 = EventLog::parse(&out).unwrap();
    let r = replay(&l2);
    assert_eq!(r.banks_without_events, [HashAlg::Sha512]);

    let truth = PcrValues::load(Path::new(&format!("{}.pcrs.json", path.display()))).unwrap();
    let mut real = truth.clone();
    real.insert(HashAlg::Sha512, 4, vec![0x11; 64]);
    real.insert(HashAlg::Sm3_256, 4, vec![0x11; 32]);
    // PCR 11 is never extended by this log in any bank; the TPM's value is not zero.
    real.insert(HashAlg::Sha256, 11, vec![0x22; 32]);
    let checks = verify(&r, &real);
    let verdict = |alg: HashAlg, pcr: u32| {
        checks
            .iter()
            .find(|c| c.alg == alg && c.pcr == pcr)
            .unwrap()
            .verdict
            .clone()
    };
    assert_eq!(verdict(HashAlg::Sha512, 4), PcrVerdict::BankWithoutEvents);
    assert_eq!(verdict(HashAlg::Sm3_256, 4), PcrVerdict::BankNotInLog);
    assert_eq!(
        verdict(HashAlg::Sha256, 11),
        PcrVerdict::NotInLog {
            extended_in: vec![]
        }
    );
    assert_eq!(verdict(HashAlg::Sha256, 4), PcrVerdict::Match);
    let words = verdict(HashAlg::Sha512, 4).describe(HashAlg::Sha512, 4);
    assert!(
        words.contains("declares sha512") && !words.contains("never extends"),
        "{words}"
    );
    assert!(
        verdict(HashAlg::Sm3_256, 4)
            .describe(HashAlg::Sm3_256, 4)
            .contains("has no sm3_256 bank")
    );
    assert!(
        verdict(HashAlg::Sha256, 11)
            .describe(HashAlg::Sha256, 11)
            .contains("never extends PCR11")
    );
}

/// A TDX CCEL log as TDVF writes it: SHA-384 only, events on CC MR indices 1-3,
/// the rest of the area 0xFF.
fn ccel_log() -> (Vec<u8>, [Vec<u8>; 4]) {
    use tcg::log::AgileLogWriter;
    let mut w = AgileLogWriter::new(&[HashAlg::Sha384]);
    let events: [(u32, u32, &[u8]); 5] = [
        (1, 0x8000_0001, b"SecureBoot"),
        (1, 0x4, &[0, 0, 0, 0]),
        (2, 0x4, &[0, 0, 0, 0]),
        (2, 0x8000_0003, b"grub"),
        (3, 0xD, b"grub_cmd linux /vmlinuz console=hvc0"),
    ];
    let mut rtmrs: [Vec<u8>; 4] = std::array::from_fn(|_| vec![0u8; 48]);
    for (mr, ty, data) in events {
        w.measure(mr, EventType::from_u32(ty), data);
        let mut cat = rtmrs[mr as usize - 1].clone();
        cat.extend_from_slice(&HashAlg::Sha384.digest(data));
        rtmrs[mr as usize - 1] = HashAlg::Sha384.digest(&cat);
    }
    let mut raw = w.into_bytes();
    raw.resize(65536, 0xFF);
    (raw, rtmrs)
}

#[test]
fn tdx_ccel_logs_are_recognised_and_replay_into_rtmrs() {
    let (raw, want) = ccel_log();
    let l = EventLog::parse(&raw).unwrap();
    assert_eq!(l.format, LogFormat::TdxCcel);
    assert_eq!(l.events.len(), 6);
    let r = tcg::ccel::replay_rtmrs(&l).unwrap();
    assert_eq!(r.rtmrs, want);
    assert_eq!(r.extended_by[0], [1, 2]);
    // Garbage after an erased (all-ones) header is not read as events.
    let mut dirty = raw.clone();
    let end = dirty.len() - 100;
    dirty[end..end + 8].copy_from_slice(b"junkjunk");
    assert_eq!(EventLog::parse(&dirty).unwrap().events.len(), 6);
    // A TPM log is never taken for one.
    for f in logs() {
        assert_ne!(
            EventLog::read(&f).unwrap().format,
            LogFormat::TdxCcel,
            "{}",
            f.display()
        );
    }
    // The ACPI table that points at the log is named as what it is.
    let mut table = b"CCEL".to_vec();
    table.extend_from_slice(&56u32.to_le_bytes());
    table.resize(40, 0);
    table.extend_from_slice(&65536u64.to_le_bytes());
    table.extend_from_slice(&0x7fbd_0000u64.to_le_bytes());
    let e = EventLog::parse(&table).unwrap_err();
    assert!(matches!(e, ParseError::NotAnEventLog(_)));
    let msg = e.to_string();
    assert!(
        msg.contains("ACPI CCEL table") && msg.contains("/sys/firmware/acpi/tables/data/CCEL"),
        "{msg}"
    );
    assert!(!msg.contains("absurd"));
}
