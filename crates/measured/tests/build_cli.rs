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
            ("policy".into(), true)
        ]
    );
    let out = f.out();
    for name in [
        "svc.vhd",
        "svc.cfg",
        "svc.xml",
        "bundle.json",
        "pcrs.json",
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
            let v = pcrs["pcrs"][pcr][bank]["value"].as_str().unwrap();
            assert!(
                log.to_lowercase().contains(&format!("0x{v}")),
                "tpm2_eventlog does not show {bank} PCR{pcr} = {v}:\n{log}"
            );
        }
    }
    // Every event names its input file and that file's sha256.
    let ev = &pcrs["pcrs"]["17"]["sha256"]["events"];
    let module = ev
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["file"]
                .as_str()
                .unwrap_or("")
                .starts_with("bundle:vmlinuz-")
        })
        .expect("the kernel module event");
    let kernel_sha = bundle::ContentDigest::of_bytes(&fake_kernel(0x5a)).to_hex();
    assert_eq!(module["file_sha256"].as_str().unwrap(), kernel_sha);
    // The values file is the selected PCRs in order.
    let vals = std::fs::read(out.join("policy/pcr-values.bin")).unwrap();
    let mut want = Vec::new();
    for pcr in ["17", "18", "19"] {
        want.extend(hex::decode(pcrs["pcrs"][pcr]["sha256"]["value"].as_str().unwrap()).unwrap());
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
            ("policy".into(), false)
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
            ("policy".into(), true)
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
