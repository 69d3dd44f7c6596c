//! `measured drtm replay|capture|diff` end to end: predicted logs in every
//! format replay and verify against the prediction, the real Intel SecL
//! quote verifies a log of its events, a captured profile predicts the same
//! PCRs, and `diff` names the one changed event.

use std::path::PathBuf;
use std::process::{Command, Output};

use tcg::HashAlg;
use txt::synth::{AcmSpec, build_acm};

fn measured(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_measured"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn testdata() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for anc in here.ancestors() {
        let p = anc.join("shared/testdata");
        if p.is_dir() {
            return p;
        }
    }
    PathBuf::from("/work/shared/testdata")
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    tboot_cmdline: String,
}

impl Setup {
    fn new(tpm12: bool) -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().to_path_buf();
        let caps = if tpm12 { 1 } else { 0x201 };
        std::fs::write(
            d.join("sinit.bin"),
            build_acm(&AcmSpec {
                capabilities: caps,
                ..AcmSpec::default()
            }),
        )
        .unwrap();
        std::fs::write(d.join("vmlinuz"), b"kernel".repeat(10_000)).unwrap();
        std::fs::write(d.join("initrd"), b"initrd".repeat(10_000)).unwrap();
        let s1 = hex::encode(HashAlg::Sha1.digest(b"nv"));
        let s2 = hex::encode(HashAlg::Sha256.digest(b"nv"));
        let profile = if tpm12 {
            "tpm = \"1.2\"\nbanks = [\"sha1\"]\npcr_mapping = \"legacy\"\nsinit_mle_data_version = 8\n\
             tcg_log_format = false\nscrtm_status = 1\nlcp_policy_control = 4\nmseg_valid = 0\n\
             bios_acm_id = \"80000000201010220000b001ffffffffffffffff\"\n"
                .to_string()
        } else {
            format!(
                "tpm = \"2.0\"\nbanks = [\"sha1\", \"sha256\"]\nextpol = \"embedded\"\nscrtm_status = 1\n\
                 biosac_reg_data = \"{}\"\n[nv_info_digests]\nsha1 = \"{s1}\"\nsha256 = \"{s2}\"\n\
                 [sinit_pubkey_digests]\nsha1 = \"{s1}\"\nsha256 = \"{s2}\"\n",
                "ab".repeat(32)
            )
        };
        std::fs::write(d.join("profile.toml"), profile).unwrap();
        Setup {
            _tmp: tmp,
            dir: d,
            tboot_cmdline: "logging=memory extpol=embedded".into(),
        }
    }

    fn p(&self, f: &str) -> String {
        self.dir.join(f).to_str().unwrap().to_string()
    }

    fn predict(&self, profile: &str, cmdline: &str, extra: &[&str]) -> serde_json::Value {
        let kernel = format!("{}:{cmdline}", self.p("vmlinuz"));
        let mut args = vec![
            "--json".to_string(),
            "drtm".into(),
            "predict".into(),
            "--profile".into(),
            self.p(profile),
            "--acm".into(),
            self.p("sinit.bin"),
            "--tboot".into(),
            "/boot/tboot.gz".into(),
            "--tboot-cmdline".into(),
            self.tboot_cmdline.clone(),
            "--module".into(),
            kernel,
            "--module".into(),
            self.p("initrd"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&measured(&a))
    }
}

/// `{"sha1": {"17": hex}}` from a prediction's `pcrs`.
fn pcrs_json(pred: &serde_json::Value) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (pcr, banks) in pred["pcrs"].as_object().unwrap() {
        for (bank, v) in banks.as_object().unwrap() {
            out.entry(bank.clone())
                .or_insert_with(|| serde_json::json!({}))
                .as_object_mut()
                .unwrap()
                .insert(pcr.clone(), v.clone());
        }
    }
    serde_json::Value::Object(out)
}

fn replay_verifies_in(format: &str, tpm12: bool) {
    let s = Setup::new(tpm12);
    let log = s.p(&format!("drtm.{format}"));
    let pred = s.predict(
        "profile.toml",
        "console=hvc0",
        &["--log-out", &log, "--log-format", format],
    );
    let want = s.dir.join("want.json");
    std::fs::write(&want, pcrs_json(&pred).to_string()).unwrap();
    let v = ok(&measured(&[
        "--json",
        "drtm",
        "replay",
        &log,
        "--verify",
        want.to_str().unwrap(),
    ]));
    assert_eq!(v["format"], format);
    assert_eq!(v["pcrs"], pred["pcrs"]);
    assert!(v["verified"].as_u64().unwrap() >= 3);
    // One wrong expected value: exit 1, and the listing names that PCR and bank.
    let mut bad = pcrs_json(&pred);
    bad["sha1"]["18"] = serde_json::json!("00".repeat(20));
    std::fs::write(&want, bad.to_string()).unwrap();
    let out = measured(&["drtm", "replay", &log, "--verify", want.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MISMATCH PCR18 sha1"), "{text}");
    assert_eq!(text.matches("MISMATCH").count(), 1, "{text}");
}

#[test]
fn replay_verify_passes_and_fails_on_agile_logs() {
    replay_verifies_in("agile", false);
}

#[test]
fn replay_verify_passes_and_fails_on_legacy_logs() {
    replay_verifies_in("legacy", false);
}

#[test]
fn replay_verify_passes_and_fails_on_tpm12_containers() {
    replay_verifies_in("container", true);
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> &'a str {
    let a = s.find(open).unwrap() + open.len();
    let b = a + s[a..].find(close).unwrap();
    &s[a..b]
}

#[test]
fn a_log_of_the_secl_sample_events_verifies_against_its_quote() {
    // Rebuild the sample's PCR17/18 events as an agile log (the sample ships
    // only the event list, as base64 XML).
    let quote = testdata().join("txt/sample_tpm_quote.xml");
    let xml = std::fs::read_to_string(&quote).unwrap();
    let b64 = between(&xml, "<eventLog>", "</eventLog>");
    let list = String::from_utf8(base64(b64)).unwrap();
    let mut logs = Vec::new();
    for alg in [HashAlg::Sha1, HashAlg::Sha256] {
        let mut events = Vec::new();
        for m in list.split("<module>").skip(1) {
            let bank = between(m, "<pcrBank>", "</pcrBank>");
            let pcr: u32 = between(m, "<pcrNumber>", "</pcrNumber>").parse().unwrap();
            if bank != alg.name().to_uppercase() || !(17..=22).contains(&pcr) {
                continue;
            }
            let name = between(m, "<name>", "</name>");
            let ty = if name == "HASH_START" { 0x402 } else { 0x501 };
            events.push(txt::Event {
                pcr,
                event_type: ty,
                name: name.into(),
                digests: [(
                    alg,
                    txt::Hex(hex::decode(between(m, "<value>", "</value>")).unwrap()),
                )]
                .into_iter()
                .collect(),
                data: txt::Hex::default(),
                source: "sample".into(),
            });
        }
        logs.push(txt::txtlog::TxtLog {
            format: txt::txtlog::TxtLogFormat::Agile,
            banks: vec![alg],
            events,
        });
    }
    // Same-type events merge positionally; keep the banks apart instead.
    let mut all = logs[0].events.clone();
    all.extend(logs[1].events.clone());
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("sample.log");
    std::fs::write(
        &log,
        txt::txtlog::write_agile(&[HashAlg::Sha1, HashAlg::Sha256], &all),
    )
    .unwrap();
    let v = ok(&measured(&[
        "--json",
        "drtm",
        "replay",
        log.to_str().unwrap(),
        "--verify",
        quote.to_str().unwrap(),
    ]));
    // PCR17-22 of both banks compared (20-22: the DRTM reset value, zero).
    assert_eq!(v["verified"], 12);
    // The quoted values (txt-pcr.md §10 V1 gives c83860a4… for SHA-1 PCR17,
    // which is not in the quote; its PCR18 value is).
    assert_eq!(
        v["pcrs"]["17"]["sha1"],
        "0b0572e408c2cc52b9887dd85ee166ff5332e7b6"
    );
    assert_eq!(
        v["pcrs"]["18"]["sha1"],
        "86da61107994a14c0d154fd87ca509f82377aa30"
    );
    // Dropping one event breaks it: exit 1.
    all.remove(3);
    std::fs::write(
        &log,
        txt::txtlog::write_agile(&[HashAlg::Sha1, HashAlg::Sha256], &all),
    )
    .unwrap();
    let out = measured(&[
        "drtm",
        "replay",
        log.to_str().unwrap(),
        "--verify",
        quote.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
}

fn base64(s: &str) -> Vec<u8> {
    use base64::Engine;
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .expect("base64")
}

fn capture_round_trip(format: &str, tpm12: bool) {
    let mut s = Setup::new(tpm12);
    if format == "legacy" {
        // The SINIT could write the TCG format; tboot asks for the legacy one.
        s.tboot_cmdline.push_str(" force_tpm2_legacy_log=true");
    }
    let log = s.p("real.log");
    let real = s.predict(
        "profile.toml",
        "console=hvc0",
        &["--log-out", &log, "--log-format", format],
    );
    let out = measured(&["drtm", "capture", &log, "-o", &s.p("captured.toml")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(s.dir.join("captured.toml")).unwrap();
    assert!(
        text.contains(&format!("log_format = \"{format}\"")),
        "{text}"
    );
    let again = s.predict("captured.toml", "console=hvc0", &[]);
    assert_eq!(again["pcrs"], real["pcrs"], "{format}: {text}");
}

#[test]
fn capture_then_predict_reproduces_the_pcrs_in_every_format() {
    capture_round_trip("agile", false);
    capture_round_trip("legacy", false);
    capture_round_trip("container", true);
}

#[test]
fn diff_names_only_the_module_whose_cmdline_changed() {
    let s = Setup::new(false);
    let log = s.p("real.log");
    s.predict("profile.toml", "console=hvc0", &["--log-out", &log]);
    let pred = s.predict("profile.toml", "console=hvc0 quiet", &[]);
    let pj = s.dir.join("pred.json");
    std::fs::write(&pj, pred.to_string()).unwrap();
    let out = measured(&["--json", "drtm", "diff", pj.to_str().unwrap(), &log]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows: Vec<&serde_json::Value> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] != "same")
        .collect();
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(r["name"], "vmlinuz", "{r}");
        assert_eq!(r["kind"], "digest_differs");
    }
    // Same inputs: exit 0.
    let same = s.predict("profile.toml", "console=hvc0", &[]);
    std::fs::write(&pj, same.to_string()).unwrap();
    let out = measured(&["drtm", "diff", pj.to_str().unwrap(), &log]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn hostile_logs_exit_2_naming_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("bad.log");
    let mut b = b"TXT Event Container\0".to_vec();
    b.resize(48, 0);
    b[32] = 1;
    b[34] = 1;
    b[40..44].copy_from_slice(&48u32.to_le_bytes());
    b[44..48].copy_from_slice(&4096u32.to_le_bytes());
    std::fs::write(&f, &b).unwrap();
    let out = measured(&["drtm", "replay", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.log") && err.contains("NextEventOffset"),
        "{err}"
    );
}

#[test]
fn replay_of_a_predicted_agile_log_equals_tpm2_eventlog() {
    let s = Setup::new(false);
    let log = s.p("drtm.log");
    s.predict("profile.toml", "console=hvc0", &["--log-out", &log]);
    let v = ok(&measured(&["--json", "drtm", "replay", &log]));
    let out = Command::new("tpm2_eventlog")
        .arg(&log)
        .output()
        .expect("tpm2_eventlog (tpm2-tools) must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let pcrs = &text[text.find("\npcrs:\n").expect("tpm2_eventlog pcrs section")..];
    let theirs = tcg::PcrValues::from_pcrread_yaml(pcrs, "tpm2_eventlog").unwrap();
    let mut compared = 0;
    for (alg, values) in &theirs.map {
        for (pcr, val) in values {
            assert_eq!(
                v["pcrs"][pcr.to_string()][alg.name()].as_str().unwrap(),
                hex::encode(val),
                "PCR{pcr} {alg}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 4, "PCR17 and 18 in sha1 and sha256");
}

#[test]
fn capture_reads_the_log_from_sysfs_and_values_from_txt_stat() {
    let s = Setup::new(true);
    let sysfs = s.dir.join("securityfs-txt");
    std::fs::create_dir(&sysfs).unwrap();
    let log = sysfs.join("log");
    s.predict(
        "profile.toml",
        "console=hvc0",
        &[
            "--log-out",
            log.to_str().unwrap(),
            "--log-format",
            "container",
        ],
    );
    let txt_stat =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/txt_stat/tpm12_v8.txt");
    let out = measured(&[
        "--json",
        "drtm",
        "capture",
        "--sysfs",
        sysfs.to_str().unwrap(),
        "--txt-stat",
        txt_stat.to_str().unwrap(),
        "-o",
        &s.p("captured.json"),
    ]);
    let v = ok(&out);
    // The container's COMBINED_HASH gave the SinitMleData values; txt-stat
    // had nothing left to add but the `version`/`edx` the log also gave.
    assert!(
        v["from_log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "bios_acm_id")
    );
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.dir.join("captured.json")).unwrap())
            .unwrap();
    assert_eq!(p["tpm"], "1.2");
    assert_eq!(p["log_format"], "container");
    assert_eq!(p["bios_acm_id"], "80000000201010220000b001ffffffffffffffff");
    assert_eq!(p["lcp_policy_control"], 4);
    // No log and no sysfs directory: bad usage, exit 2.
    let out = measured(&["drtm", "capture", "-o", &s.p("x.toml")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!s.dir.join("x.toml").exists());
}

#[test]
fn replay_merges_per_algorithm_legacy_log_files() {
    let s = Setup::new(false);
    let pred = s.predict("profile.toml", "console=hvc0", &[]);
    // Split a legacy element file into its per-algorithm logs.
    let el = s.p("element.bin");
    s.predict(
        "profile.toml",
        "console=hvc0",
        &["--log-out", &el, "--log-format", "legacy"],
    );
    let b = std::fs::read(&el).unwrap();
    let count = u32::from_le_bytes(b[0..4].try_into().unwrap()) as usize;
    assert_eq!(count, 2);
    let mut files = Vec::new();
    for i in 0..count {
        let d = 4 + 24 * i;
        let base = u64::from_le_bytes(b[d + 4..d + 12].try_into().unwrap()) as usize;
        let next = u32::from_le_bytes(b[d + 20..d + 24].try_into().unwrap()) as usize;
        let f = s.p(&format!("alg{i}.log"));
        std::fs::write(&f, &b[base..base + next]).unwrap();
        files.push(f);
    }
    // The SHA-1 log has no descriptor: say so with --alg (files in reverse order).
    let v = ok(&measured(&[
        "--json", "drtm", "replay", &files[1], &files[0], "--alg", "sha256", "--alg", "sha1",
    ]));
    assert_eq!(v["pcrs"], pred["pcrs"]);
    // Naming the wrong bank for a log with a descriptor is an error.
    let out = measured(&["drtm", "replay", &files[1], &files[0], "--alg", "sha384"]);
    assert_eq!(out.status.code(), Some(2));
}
