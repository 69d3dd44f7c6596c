//! `measured build` end to end: bundle contents checked with tpm2-tools,
//! no work on a rerun, only dependents rebuilt on a change, reproducible
//! output, bad specs refused with nothing written, SIGKILL-safe.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_measured");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A minimal bzImage (`HdrS`, protocol 2.15, a version string), padded so
/// hashing it is not trivial.
fn fake_kernel(tag: u8) -> Vec<u8> {
    let mut b = vec![tag; 256 * 1024];
    b[..0x400].fill(0);
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    b[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
    let v = b"6.1.0-measured-test (t@t) #1\0";
    b[0x300..0x300 + v.len()].copy_from_slice(v);
    b
}

struct Fixture {
    tmp: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path();
        std::fs::create_dir_all(p.join("rootfs/etc")).unwrap();
        std::fs::create_dir_all(p.join("rootfs/bin")).unwrap();
        std::fs::write(
            p.join("rootfs/etc/inittab"),
            "::sysinit:/etc/init.d/rcS\nttyS0::respawn:/sbin/getty -L ttyS0 115200 vt100\n",
        )
        .unwrap();
        std::fs::write(p.join("rootfs/etc/hostname"), "svc\n").unwrap();
        std::fs::write(p.join("bzImage"), fake_kernel(0x5a)).unwrap();
        std::fs::copy(
            repo().join("examples/launch/sinit-synthetic.bin"),
            p.join("sinit.bin"),
        )
        .unwrap();
        let f = Fixture { tmp };
        f.write_spec(
            "logging=serial,memory extpol=embedded",
            "console=hvc0 root=/dev/xvda rw",
        );
        f
    }
    fn path(&self) -> &Path {
        self.tmp.path()
    }
    fn spec(&self) -> PathBuf {
        self.path().join("spec.toml")
    }
    fn write_spec(&self, tboot_cmdline: &str, cmdline: &str) {
        let platform = repo().join("examples/launch/platform.toml");
        let text = format!(
            r#"name = "svc"
rootfs = "rootfs"
kernel = "bzImage"
cmdline = "{cmdline}"
disk_size_mib = 16
initramfs = "never"

[launch]
platform = "{platform}"
sinit = "sinit.bin"
tboot = "/boot/tboot.gz"
tboot_cmdline = "{tboot_cmdline}"
policy = "default"

[[launch.modules]]
file = "bundle:kernel"
cmdline = "{cmdline}"

[policy]
pcrs = "sha256:17,18,19"
"#,
            platform = platform.display()
        );
        std::fs::write(self.spec(), text).unwrap();
    }
    fn out(&self) -> PathBuf {
        self.path().join("out/svc")
    }
    fn build_to(&self, out: &Path, json: bool) -> Output {
        let mut c = Command::new(BIN);
        if json {
            c.arg("--json");
        }
        c.arg("build")
            .arg(self.spec())
            .arg("--out")
            .arg(out)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap()
    }
    fn build(&self) -> serde_json::Value {
        let o = self.build_to(&self.out(), true);
        assert!(
            o.status.success(),
            "measured build failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

fn built(report: &serde_json::Value) -> Vec<(String, bool)> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["built"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn run_tool(cmd: &mut Command) -> String {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (installed by ci/install-oracles.sh)"));
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn example_sinit_is_the_txt_synthetic_acm() {
    let want = txt::synth::build_acm(&txt::synth::AcmSpec::default());
    let path = repo().join("examples/launch/sinit-synthetic.bin");
    if std::env::var_os("MEASURED_REGEN_EXAMPLES").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    assert_eq!(std::fs::read(&path).unwrap(), want);
    txt::Acm::parse(&want).unwrap();
}

#[test]
fn bundle_has_image_pcrs_policy_and_log_that_tpm2_tools_agree_with() {
    let f = Fixture::new();
    let r = f.build();
    assert_eq!(
        built(&r),
        [
            ("image".into(), true),
            ("predict".into(), true),
            ("policy".into(), true),
            ("record".into(), true)
        ]
    );
    let out = f.out();
    for name in [
        "svc.vhd",
        "svc.cfg",
        "svc.xml",
        "bundle.json",
        "pcrs.json",
        "pcrs.yaml",
        "txt-eventlog.bin",
        "policy/policy.digest",
        "policy/pcr-values.bin",
        "policy/keylime.json",
        "policy/digest-at-release.sha1",
    ] {
        assert!(out.join(name).is_file(), "{name} missing");
    }

    // The policy digest is what tpm2_createpolicy computes from our values file.
    // (The tool runs a trial session, so it needs a TPM: a swtpm.)
    let theirs = f.path().join("policy.tpm2tools");
    let tpm = tpm_sim::Swtpm::start().unwrap();
    let values = out.join("policy/pcr-values.bin");
    tpm.tool(
        "tpm2_createpolicy",
        &[
            "--policy-pcr",
            "-l",
            "sha256:17,18,19",
            "-f",
            values.to_str().unwrap(),
            "-L",
            theirs.to_str().unwrap(),
        ],
        f.path(),
    )
    .unwrap();
    drop(tpm);
    assert_eq!(
        std::fs::read(&theirs).unwrap(),
        std::fs::read(out.join("policy/policy.digest")).unwrap()
    );

    // The predicted log replays (tpm2_eventlog) to the values in pcrs.json.
    let pcrs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("pcrs.json")).unwrap()).unwrap();
    let log = run_tool(Command::new("tpm2_eventlog").arg(out.join("txt-eventlog.bin")));
    for bank in ["sha1", "sha256"] {
        for pcr in ["17", "18"] {
            let v = pcrs["pcrs"][pcr][bank].as_str().unwrap();
            assert!(
                log.to_lowercase().contains(&format!("0x{v}")),
                "tpm2_eventlog does not show {bank} PCR{pcr} = {v}:\n{log}"
            );
        }
    }
    // Every event names its source, and each source its input file and sha256.
    let module = pcrs["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["source"].as_str().unwrap_or("").starts_with("vmlinuz-"))
        .expect("the kernel module event");
    let input = &pcrs["inputs"][module["source"].as_str().unwrap()];
    assert!(
        input["file"]
            .as_str()
            .unwrap()
            .starts_with("bundle:vmlinuz-"),
        "{input}"
    );
    let kernel_sha = bundle::ContentDigest::of_bytes(&fake_kernel(0x5a)).to_hex();
    assert_eq!(input["sha256"].as_str().unwrap(), kernel_sha);
    for e in pcrs["events"].as_array().unwrap() {
        for src in e["source"].as_str().unwrap().split('+') {
            let i = &pcrs["inputs"][src];
            assert!(
                i["sha256"].is_string() || i["file"] == "builtin:tboot",
                "source {src} has no input record"
            );
        }
    }
    // The values file is the selected PCRs in order.
    let vals = std::fs::read(out.join("policy/pcr-values.bin")).unwrap();
    let mut want = Vec::new();
    for pcr in ["17", "18", "19"] {
        want.extend(hex::decode(pcrs["pcrs"][pcr]["sha256"].as_str().unwrap()).unwrap());
    }
    assert_eq!(vals, want);
}

#[test]
fn second_run_does_no_work_and_changed_cmdline_redoes_only_its_dependents() {
    let f = Fixture::new();
    f.build();
    let policy_before = std::fs::read(f.out().join("policy/policy.digest")).unwrap();
    let r = f.build();
    assert_eq!(r["replaced"], false);
    assert_eq!(
        built(&r),
        [
            ("image".into(), false),
            ("predict".into(), false),
            ("policy".into(), false),
            ("record".into(), false)
        ]
    );

    f.write_spec(
        "logging=serial,memory,vga extpol=embedded",
        "console=hvc0 root=/dev/xvda rw",
    );
    let r = f.build();
    assert_eq!(
        built(&r),
        [
            ("image".into(), false),
            ("predict".into(), true),
            ("policy".into(), true),
            ("record".into(), true)
        ]
    );
    assert_eq!(
        r["steps"][1]["reasons"],
        serde_json::json!(["launch.tboot_cmdline changed"])
    );
    let policy_after = std::fs::read(f.out().join("policy/policy.digest")).unwrap();
    assert_ne!(
        policy_before, policy_after,
        "the policy follows the cmdline"
    );

    // Text mode says so too.
    let o = f.build_to(&f.out(), false);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("up to date (nothing to do)"), "{text}");
}

fn tree_files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn two_clean_builds_are_byte_identical() {
    let f = Fixture::new();
    let a = f.path().join("a/svc");
    let b = f.path().join("b/svc");
    assert!(f.build_to(&a, false).status.success());
    assert!(f.build_to(&b, false).status.success());
    let (ta, tb) = (tree_files(&a), tree_files(&b));
    assert_eq!(
        ta.iter().map(|x| &x.0).collect::<Vec<_>>(),
        tb.iter().map(|x| &x.0).collect::<Vec<_>>()
    );
    let differ: Vec<&String> = ta
        .iter()
        .zip(&tb)
        .filter(|(x, y)| x.1 != y.1)
        .map(|(x, _)| &x.0)
        .collect();
    assert!(
        differ.is_empty(),
        "files differ between clean builds: {differ:?}"
    );
}

#[test]
fn bad_specs_exit_2_with_the_spec_line_and_write_nothing() {
    let f = Fixture::new();
    let spec = std::fs::read_to_string(f.spec()).unwrap();
    let cases: Vec<(String, &str, usize)> = vec![
        (
            spec.replace("tboot_cmdline =", "tboot_cmdlin ="),
            "tboot_cmdlin",
            12,
        ),
        (spec.replace("sinit.bin", "nope.bin"), "nope.bin", 10),
        (
            spec.replace("bundle:kernel", "bundle:hypervisor"),
            "bundle:hypervisor",
            16,
        ),
        (spec.replace("sha256:17,18,19", "sha256:17,18,42"), "42", 20),
        (
            spec.replace("kernel = \"bzImage\"", "kernel = \"sinit.bin\""),
            "HdrS",
            3,
        ),
    ];
    for (text, needle, line) in cases {
        std::fs::write(f.spec(), &text).unwrap();
        let o = f.build_to(&f.out(), false);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("spec.toml:{line}:")) && err.contains(needle),
            "expected line {line} and {needle:?} in: {err}"
        );
        assert!(
            !f.path().join("out/svc").exists(),
            "nothing written for {needle}"
        );
        let left: Vec<_> = std::fs::read_dir(f.path().join("out"))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().into_string().unwrap())
                    .filter(|n| n.contains("staging"))
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.is_empty(), "{left:?}");
    }
}

#[test]
fn image_step_error_names_the_spec_key_line_and_keeps_the_previous_bundle() {
    let f = Fixture::new();
    f.build();
    let before = tree_files(&f.out());
    std::fs::write(f.path().join("rootfs/big"), vec![7u8; 20 << 20]).unwrap();
    let o = f.build_to(&f.out(), false);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("spec.toml:5:") && err.contains("disk_size_mib"),
        "{err}"
    );
    assert!(tree_files(&f.out()) == before, "previous bundle untouched");
}

#[test]
fn sigkill_during_build_keeps_the_previous_bundle() {
    let f = Fixture::new();
    f.build();
    let before = tree_files(&f.out());
    // Change the kernel so that every step has work, then kill at
    // assorted moments.
    std::fs::write(f.path().join("bzImage"), fake_kernel(0x33)).unwrap();
    let mut finished = 0;
    for delay_ms in [0u64, 5, 20, 40, 80, 120, 200] {
        let mut c = Command::new(BIN)
            .arg("build")
            .arg(f.spec())
            .arg("--out")
            .arg(f.out())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = c.kill();
        let status = c.wait().unwrap();
        let now = tree_files(&f.out());
        if status.success() {
            finished += 1;
            break;
        }
        assert_eq!(
            now.iter().map(|x| &x.0).collect::<Vec<_>>(),
            before.iter().map(|x| &x.0).collect::<Vec<_>>(),
            "killed after {delay_ms} ms: the previous bundle must stand"
        );
        assert!(now == before, "killed after {delay_ms} ms: bundle changed");
    }
    // The next run completes and cleans up.
    let r = f.build();
    assert!(finished <= 1);
    assert!(r["steps"][0]["built"].as_bool().unwrap() || finished == 1);
    let left: Vec<_> = std::fs::read_dir(f.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("staging"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

fn run_bin(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn os<S: AsRef<std::ffi::OsStr> + ?Sized>(s: &S) -> &std::ffi::OsStr {
    s.as_ref()
}

#[test]
fn pcrs_json_is_drtm_predict_json_for_the_same_launch() {
    let f = Fixture::new();
    f.build();
    let out = f.out();
    let pcrs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("pcrs.json")).unwrap()).unwrap();
    let kernel = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("vmlinuz-")
        })
        .unwrap();
    let module = format!("{}:console=hvc0 root=/dev/xvda rw", kernel.display());
    let platform = repo().join("examples/launch/platform.toml");
    let sinit = f.path().join("sinit.bin");
    let yaml = f.path().join("predicted.yaml");
    let o = run_bin(&[
        os("--json"),
        os("drtm"),
        os("predict"),
        os("--profile"),
        platform.as_os_str(),
        os("--acm"),
        sinit.as_os_str(),
        os("--tboot"),
        os("/boot/tboot.gz"),
        os("--tboot-cmdline"),
        os("logging=serial,memory extpol=embedded"),
        os("--module"),
        os(&module),
        os("--pcrread-out"),
        yaml.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let predicted: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The tpm2_pcrread form of the same values (the launch test diffs it with
    // tpm2_pcrread's own output: docs/build.md).
    assert_eq!(
        std::fs::read(&yaml).unwrap(),
        std::fs::read(out.join("pcrs.yaml")).unwrap()
    );
    assert!(
        std::fs::read_to_string(&yaml)
            .unwrap()
            .starts_with("  sha1:\n    17: 0x")
    );
    let mut bundle = pcrs.as_object().unwrap().clone();
    assert!(
        bundle.remove("inputs").is_some(),
        "pcrs.json names its inputs"
    );
    assert_eq!(
        serde_json::Value::Object(bundle),
        predicted,
        "pcrs.json is predict --json plus `inputs`"
    );
}

#[test]
fn bundle_pcrs_json_is_taken_by_every_command_that_reads_pcr_values() {
    let f = Fixture::new();
    f.build();
    let out = f.out();
    let pcrs = out.join("pcrs.json");
    let log = out.join("txt-eventlog.bin");
    let text = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    // policy pcr: the bundle's own policy digest, from pcrs.json with -l.
    let o = run_bin(&[
        os("policy"),
        os("pcr"),
        os("--pcrs"),
        pcrs.as_os_str(),
        os("-l"),
        os("sha256:17,18,19"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        std::fs::read_to_string(out.join("policy/policy.digest.hex")).unwrap()
    );
    // policy tpm12, both selection spellings.
    for sel in ["17,18,19", "sha1:17,18,19"] {
        let o = run_bin(&[
            os("policy"),
            os("tpm12"),
            os("--pcrs"),
            pcrs.as_os_str(),
            os("--select"),
            os(sel),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            std::fs::read_to_string(out.join("policy/digest-at-release.sha1.hex")).unwrap()
        );
    }
    // drtm diff: the prediction against its own predicted log agrees.
    let o = run_bin(&[os("drtm"), os("diff"), pcrs.as_os_str(), log.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("agree"), "{}", text(&o));
    // drtm replay --verify and log replay --verify: the log gives pcrs.json's values.
    for args in [
        vec![
            os("drtm"),
            os("replay"),
            log.as_os_str(),
            os("--verify"),
            pcrs.as_os_str(),
        ],
        vec![
            os("log"),
            os("replay"),
            log.as_os_str(),
            os("--verify"),
            pcrs.as_os_str(),
        ],
    ] {
        let o = run_bin(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
    }
    // A tampered value is refused by the same readers.
    let doc = std::fs::read_to_string(&pcrs).unwrap();
    let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let p17 = v["pcrs"]["17"]["sha256"].as_str().unwrap();
    let bad = f.path().join("bad-pcrs.json");
    std::fs::write(&bad, doc.replace(p17, &"0".repeat(64))).unwrap();
    let o = run_bin(&[
        os("drtm"),
        os("replay"),
        log.as_os_str(),
        os("--verify"),
        bad.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // The forms accepted before still are: bank-first JSON and tpm2_pcrread YAML.
    let mut bank_first = serde_json::Map::new();
    let mut yaml = String::from("  sha256:\n");
    for pcr in ["17", "18", "19"] {
        let h = v["pcrs"][pcr]["sha256"].as_str().unwrap();
        bank_first.insert(pcr.into(), h.into());
        yaml.push_str(&format!("    {pcr}: 0x{}\n", h.to_uppercase()));
    }
    let bf = f.path().join("bank-first.json");
    std::fs::write(&bf, serde_json::json!({ "sha256": bank_first }).to_string()).unwrap();
    let y = f.path().join("pcrread.yaml");
    std::fs::write(&y, yaml).unwrap();
    for file in [&bf, &y] {
        let o = run_bin(&[
            os("policy"),
            os("pcr"),
            os("--pcrs"),
            file.as_os_str(),
            os("--select"),
            os("sha256:17,18,19"),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            std::fs::read_to_string(out.join("policy/policy.digest.hex")).unwrap()
        );
        let o = run_bin(&[
            os("drtm"),
            os("replay"),
            log.as_os_str(),
            os("--verify"),
            file.as_os_str(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    // drtm diff needs events: PCR values alone are refused with a reason.
    let o = run_bin(&[os("drtm"), os("diff"), bf.as_os_str(), log.as_os_str()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("without events"), "{}", text(&o));
}

#[test]
fn bundle_json_records_every_input_and_output_of_every_step() {
    let f = Fixture::new();
    f.build();
    let out = f.out();
    let bj: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("bundle.json")).unwrap()).unwrap();
    let steps: Vec<&str> = bj["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["image", "predict", "policy"]);
    // Every file in the bundle but the record itself is an output, with its sha256.
    let outputs = bj["outputs"].as_array().unwrap();
    for (rel, bytes) in tree_files(&out) {
        if rel == "bundle.json" || rel.starts_with(".measured/") {
            continue;
        }
        let rec = outputs
            .iter()
            .find(|o| o["path"] == rel.as_str())
            .unwrap_or_else(|| panic!("{rel} is not recorded"));
        assert_eq!(
            rec["sha256"].as_str().unwrap(),
            bundle::ContentDigest::of_bytes(&bytes).to_hex(),
            "{rel}"
        );
        assert_eq!(rec["size"].as_u64().unwrap(), bytes.len() as u64);
    }
    // Host inputs of every step, named relative to the spec (absolute outside it).
    let inputs = bj["inputs"].as_array().unwrap();
    let sha_of = |p: &str| {
        inputs
            .iter()
            .find(|i| i["path"] == p)
            .unwrap_or_else(|| panic!("input {p} missing: {inputs:?}"))["sha256"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let file_sha = |p: &Path| bundle::ContentDigest::of_bytes(&std::fs::read(p).unwrap()).to_hex();
    assert_eq!(sha_of("sinit.bin"), file_sha(&f.path().join("sinit.bin")));
    assert_eq!(sha_of("bzImage"), file_sha(&f.path().join("bzImage")));
    assert_eq!(
        sha_of("/boot/tboot.gz"),
        file_sha(Path::new("/boot/tboot.gz"))
    );
    let platform = repo().join("examples/launch/platform.toml");
    assert_eq!(
        sha_of(
            &std::path::absolute(&platform)
                .unwrap()
                .display()
                .to_string()
        ),
        file_sha(&platform)
    );
    sha_of("rootfs");
    // Each step lists its labelled inputs and its outputs.
    let predict = &bj["steps"][1];
    let labels: Vec<&str> = predict["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    for l in [
        "launch.platform",
        "launch.sinit",
        "launch.tboot",
        "launch.tboot_cmdline",
    ] {
        assert!(labels.contains(&l), "{labels:?}");
    }
    let outs: Vec<&str> = predict["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    assert_eq!(outs, ["pcrs.json", "pcrs.yaml", "txt-eventlog.bin"]);
    assert_eq!(bj["spec"]["rootfs"], "rootfs");
    assert_eq!(bj["launch"]["sinit"], "sinit.bin");
}

#[test]
fn naming_the_spec_by_absolute_or_relative_path_gives_the_same_bytes() {
    let f = Fixture::new();
    let build = |spec: &Path, out: &str| {
        let o = Command::new(BIN)
            .current_dir(f.path())
            .arg("build")
            .arg(spec)
            .arg("--out")
            .arg(out)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        tree_files(&f.path().join(out))
    };
    let rel = build(Path::new("spec.toml"), "rel/svc");
    let abs = build(&f.spec(), "abs/svc");
    assert_eq!(
        rel.iter().map(|x| &x.0).collect::<Vec<_>>(),
        abs.iter().map(|x| &x.0).collect::<Vec<_>>()
    );
    let differ: Vec<&String> = rel
        .iter()
        .zip(&abs)
        .filter(|(x, y)| x.1 != y.1)
        .map(|(x, _)| &x.0)
        .collect();
    assert!(
        differ.is_empty(),
        "{differ:?} depend on how the spec was named"
    );
    // A rebuild through the other name reuses every step.
    let o = Command::new(BIN)
        .current_dir(f.path())
        .args(["--json", "build", "spec.toml", "--out", "abs/svc"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["replaced"], false, "{r}");
}

#[test]
fn forced_progress_of_a_build_never_shows_a_zero_total() {
    let f = Fixture::new();
    let o = Command::new(BIN)
        .arg("-p")
        .arg("build")
        .arg(f.spec())
        .arg("--out")
        .arg(f.out())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("predict"), "the predict bar was drawn: {err}");
    assert!(err.contains("image"), "{err}");
    assert!(!err.contains("/0 B"), "a bar with a zero total: {err}");
}
