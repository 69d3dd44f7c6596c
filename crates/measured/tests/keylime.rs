//! `policy/keylime.json` is what Keylime takes, checked by Keylime's own code
//! (installed from PyPI by ci/install-oracles.sh into /opt/measured-keylime):
//! the tenant's `--tpm_policy` reader accepts the file as it is, and the
//! verifier's quote check (`Tpm.check_quote`: signature, nonce, PCR digest,
//! then the PCRs against the policy) accepts a real `tpm2_quote` of a swtpm
//! after the bundle's predicted launch, and refuses one after a launch whose
//! kernel command line differs.

mod launch_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use launch_common::Launch;
use tpm_sim::Swtpm;

const BIN: &str = env!("CARGO_BIN_EXE_measured");

/// Where ci/install-oracles.sh puts Keylime.
fn keylime_python() -> PathBuf {
    let p = std::env::var_os("MEASURED_KEYLIME_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/measured-keylime/bin/python"));
    assert!(
        p.exists(),
        "{} is missing: run ci/install-oracles.sh (it installs Keylime from PyPI)",
        p.display()
    );
    p
}

/// Keylime's tenant and verifier code on one quote. Prints a JSON verdict.
const CHECK: &str = r#"
import base64, json, sys, logging
logging.disable(logging.CRITICAL)
from keylime.cli import policies
from keylime.common.algorithms import Hash
from keylime.mba import mba
from keylime.tpm.tpm_main import Tpm

d, policy_file, nonce = sys.argv[1], sys.argv[2], sys.argv[3]
rd = lambda n: open(f"{d}/{n}", "rb").read()
# The tenant: `keylime_tenant --tpm_policy "$(cat keylime.json)"` goes through this.
tpm_policy = policies.process_policy(
    {"tpm_policy": open(policy_file).read(), "ima_sign_verification_keys": []}
)[0]
# The verifier: the boot-log plugins it loads at start, then the quote check.
mba.load_imports(skip_custom_policies=True)
quote = "r" + ":".join(base64.b64encode(rd(n)).decode() for n in ("quote.msg", "quote.sig", "quote.pcrs"))
failure = Tpm().check_quote(
    None, nonce, None, quote, rd("ak.pub"), tpm_policy,
    hash_alg=Hash.SHA256, skip_clock_check=True,
)
print(json.dumps({
    "mask": tpm_policy["mask"],
    "accepted": not failure,
    "events": sorted(e.event_id for e in failure.events),
}))
"#;

fn fake_kernel() -> Vec<u8> {
    let mut b = vec![0x4b; 128 * 1024];
    b[..0x400].fill(0);
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    b[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
    let v = b"6.1.0-keylime-test (t@t) #1\0";
    b[0x300..0x300 + v.len()].copy_from_slice(v);
    b
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A bundle whose launch measures its kernel with `console=hvc0 root=/dev/xvda rw`.
fn build(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("rootfs/etc")).unwrap();
    std::fs::write(
        dir.join("rootfs/etc/inittab"),
        "ttyS0::respawn:/sbin/getty ttyS0\n",
    )
    .unwrap();
    std::fs::write(dir.join("bzImage"), fake_kernel()).unwrap();
    let spec = format!(
        r#"name = "svc"
rootfs = "rootfs"
kernel = "bzImage"
cmdline = "console=hvc0 root=/dev/xvda rw"
disk_size_mib = 16
initramfs = "never"

[launch]
platform = "{}"
sinit = "{}"
tboot = "/boot/tboot.gz"
tboot_cmdline = "logging=memory extpol=embedded"

[[launch.modules]]
file = "bundle:kernel"
cmdline = "console=hvc0 root=/dev/xvda rw"

[policy]
pcrs = "sha256:17,18,19"
"#,
        repo().join("examples/launch/platform.toml").display(),
        repo().join("examples/launch/sinit-synthetic.bin").display(),
    );
    std::fs::write(dir.join("spec.toml"), spec).unwrap();
    let out = dir.join("out/svc");
    let o = Command::new(BIN)
        .arg("build")
        .arg(dir.join("spec.toml"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

/// Launch on a fresh swtpm, make an attestation key and quote PCR17-19 (sha256)
/// with `nonce`, as a Keylime agent does; Keylime's verdict on it.
fn attest(dir: &Path, bundle: &Path, how: Launch<'_>, nonce: &str) -> serde_json::Value {
    let tpm = Swtpm::start().unwrap();
    launch_common::launch(&tpm, bundle, how);
    let run = |args: &[&str]| {
        tpm.tool(args[0], &args[1..], dir)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        tpm.tool("tpm2_flushcontext", &["-t"], dir).unwrap();
    };
    run(&["tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub"]);
    run(&[
        "tpm2_createak",
        "-C",
        "ek.ctx",
        "-c",
        "ak.ctx",
        "-G",
        "rsa",
        "-g",
        "sha256",
        "-s",
        "rsassa",
        "-u",
        "ak.pub",
        "-f",
        "tss",
    ]);
    tpm.tool("tpm2_flushcontext", &["-s"], dir).unwrap();
    run(&[
        "tpm2_quote",
        "-c",
        "ak.ctx",
        "-l",
        "sha256:17,18,19",
        "-q",
        &hex::encode(nonce),
        "-m",
        "quote.msg",
        "-s",
        "quote.sig",
        "-o",
        "quote.pcrs",
        "-g",
        "sha256",
    ]);
    drop(tpm);
    let script = dir.join("check.py");
    std::fs::write(&script, CHECK).unwrap();
    let o = Command::new(keylime_python())
        .arg(&script)
        .arg(dir)
        .arg(bundle.join("policy/keylime.json"))
        .arg(nonce)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "Keylime's check failed to run: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

#[test]
fn keylime_accepts_a_quote_after_the_predicted_launch_and_refuses_a_tampered_one() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = build(tmp.path());
    // Only PCR numbers, as the tenant's reader wants.
    let policy: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("policy/keylime.json")).unwrap())
            .unwrap();
    let keys: Vec<&String> = policy.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["17", "18", "19"]);

    let good = tmp.path().join("good");
    std::fs::create_dir(&good).unwrap();
    let v = attest(&good, &bundle, Launch::AsPredicted, "n0nce-1");
    assert_eq!(v["mask"], "0xe0000", "{v}");
    assert_eq!(v["accepted"], true, "{v}");

    let bad = tmp.path().join("tampered");
    std::fs::create_dir(&bad).unwrap();
    let v = attest(
        &bad,
        &bundle,
        Launch::KernelCmdline("console=hvc0 root=/dev/xvda rw init=/bin/sh"),
        "n0nce-2",
    );
    assert_eq!(v["accepted"], false, "{v}");
    let events: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        events.contains(&"pcr_validation.invalid_pcr_17"),
        "the kernel's PCR is the one refused: {events:?}"
    );
}
