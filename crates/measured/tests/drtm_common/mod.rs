//! Shared setup for the `drtm` tests on real data: running the binary, the
//! real machines' SecL reports, and real tboot images of several releases
//! (built once from their sources by ci/build-tboot.sh, plus Debian's).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tcg::HashAlg;
use txt::synth::{AcmSpec, build_acm};

/// Run `measured` with `args`.
pub fn measured(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_measured"))
        .args(args)
        .output()
        .unwrap()
}

/// The JSON a successful `--json` run printed.
pub fn ok(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Assert the run failed with exit 2 and an error naming every `words`
/// (on stderr, or on stdout as JSON under `--json`); returns the error.
pub fn fails_with(out: &Output, words: &[&str]) -> String {
    let err = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(out.status.code(), Some(2), "expected exit 2: {err}");
    for w in words {
        assert!(err.contains(w), "error does not name {w:?}: {err}");
    }
    err
}

/// The workspace root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `shared/testdata` beside the repository, else `/work/shared/testdata`.
pub fn testdata() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for anc in here.ancestors() {
        let p = anc.join("shared/testdata");
        if p.is_dir() {
            return p;
        }
    }
    let p = PathBuf::from("/work/shared/testdata");
    assert!(p.is_dir(), "shared/testdata not found");
    p
}

/// The Intel SecL host manifest of a real TXT host (RHEL 7.6, Purley).
pub fn rhel_manifest() -> PathBuf {
    testdata().join("eventlogs/intel-secl/RHELHostManifest.json")
}

/// The Intel SecL trust agent's quote of another real TXT host.
pub fn sample_quote() -> PathBuf {
    testdata().join("txt/sample_tpm_quote.xml")
}

/// The tboot source releases ci/build-tboot.sh builds.
pub const BUILT_RELEASES: [&str; 7] = [
    "1.7.4", "1.8.3", "1.9.4", "1.9.6", "1.9.11", "1.9.12", "1.10.2",
];

/// `target/testdata/tboot/VERSION/` (`tboot.gz`, `tboot-syms`) of a release
/// built from its sources; the script builds every release once, locked,
/// so concurrent test binaries share one build.
pub fn tboot_release(version: &str) -> PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    let root = repo().join("target/testdata/tboot");
    BUILD.call_once(|| {
        if BUILT_RELEASES
            .iter()
            .all(|v| root.join(v).join(".complete").is_file())
        {
            return;
        }
        let st = Command::new("bash")
            .arg(repo().join("ci/build-tboot.sh"))
            .status()
            .expect("running ci/build-tboot.sh");
        assert!(
            st.success(),
            "ci/build-tboot.sh failed: tboot fixtures missing"
        );
    });
    let dir = root.join(version);
    assert!(
        dir.join("tboot.gz").is_file(),
        "{}: no tboot.gz (ci/build-tboot.sh builds it)",
        dir.display()
    );
    dir
}

/// Debian's tboot 1.10.5 (package `tboot`): `/boot/tboot.gz`, `/boot/tboot-syms`.
pub fn debian_tboot() -> PathBuf {
    let d = PathBuf::from("/boot");
    assert!(
        d.join("tboot.gz").is_file(),
        "/boot/tboot.gz missing: ci/install-oracles.sh installs package tboot"
    );
    d
}

/// `lcp2_mlehash --create --alg ALG [--cmdline C] TBOOT`, as one hex string.
pub fn lcp2_mlehash(tboot: &Path, alg: &str, cmdline: Option<&str>) -> String {
    let mut c = Command::new("lcp2_mlehash");
    c.args(["--create", "--alg", alg]);
    if let Some(s) = cmdline {
        c.args(["--cmdline", s]);
    }
    let out = c
        .arg(tboot)
        .output()
        .expect("lcp2_mlehash (package tboot) must be installed");
    assert!(out.status.success(), "lcp2_mlehash failed");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect()
}

/// A path as a `&str` argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---------------------------------------------------------------------------
// A launch to predict: profile, SINIT, two modules.

/// The kernel module's bytes (repeated 3000 times).
pub const KERNEL: &[u8] = b"kernel image bytes, not compressed ";
/// The initrd module's bytes (repeated 2000 times).
pub const INITRD: &[u8] = b"initrd bytes ";

/// A directory with `profile.toml`, `sinit.bin`, `vmlinuz` and `initrd`.
pub struct Launch {
    _tmp: tempfile::TempDir,
    /// The directory.
    pub dir: PathBuf,
}

impl Launch {
    /// A file in the directory, as an argument.
    pub fn p(&self, f: &str) -> String {
        s(&self.dir.join(f)).to_string()
    }
}

/// A TPM 2.0 platform profile with the platform digests of every bank.
pub fn tpm2_profile(banks: &[HashAlg]) -> String {
    let names: Vec<String> = banks.iter().map(|b| format!("\"{}\"", b.name())).collect();
    let table = |what: &[u8]| {
        banks
            .iter()
            .map(|b| format!("{} = \"{}\"\n", b.name(), hex::encode(b.digest(what))))
            .collect::<String>()
    };
    format!(
        "tpm = \"2.0\"\nbanks = [{}]\nscrtm_status = 1\nbiosac_reg_data = \"{}\"\n\
         [nv_info_digests]\n{}[sinit_pubkey_digests]\n{}",
        names.join(", "),
        "ab".repeat(32),
        table(b"nv info"),
        table(b"sinit key")
    )
}

/// A TPM 1.2 legacy-mapping profile (LCP PolicyControl bit 2: the
/// capabilities go into COMBINED_HASH).
pub const TPM12_LEGACY: &str = "tpm = \"1.2\"\nbanks = [\"sha1\"]\nsinit_mle_data_version = 8\n\
     scrtm_status = 1\nlcp_policy_control = 4\nmseg_valid = 0\n\
     bios_acm_id = \"80000000201010220000b001ffffffffffffffff\"\n";

/// A TPM 1.2 details/authorities profile.
pub const TPM12_DA: &str = "tpm = \"1.2\"\nbanks = [\"sha1\"]\nsinit_mle_data_version = 8\n\
     scrtm_status = 1\nlcp_policy_control = 0\n\
     biosac_reg_data = \"1111111111111111111111111111111111111111\"\n";

/// Write a launch's inputs.
pub fn setup(profile: &str, acm: &AcmSpec) -> Launch {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    std::fs::write(dir.join("profile.toml"), profile).unwrap();
    std::fs::write(dir.join("sinit.bin"), build_acm(acm)).unwrap();
    std::fs::write(dir.join("vmlinuz"), KERNEL.repeat(3000)).unwrap();
    std::fs::write(dir.join("initrd"), INITRD.repeat(2000)).unwrap();
    Launch { _tmp: tmp, dir }
}

/// `drtm predict` of `tboot` with the two modules and their command lines.
pub fn predict(
    l: &Launch,
    tboot: &Path,
    cmdline: &str,
    module_cmdlines: [&str; 2],
    extra: &[&str],
) -> std::process::Output {
    let k = format!("{}:{}", l.p("vmlinuz"), module_cmdlines[0]);
    let i = format!("{}:{}", l.p("initrd"), module_cmdlines[1]);
    let (profile, acm) = (l.p("profile.toml"), l.p("sinit.bin"));
    let mut args = vec![
        "--json",
        "drtm",
        "predict",
        "--profile",
        &profile,
        "--acm",
        &acm,
        "--tboot",
        s(tboot),
        "--tboot-cmdline",
        cmdline,
        "--module",
        &k,
        "--module",
        &i,
    ];
    args.extend(extra);
    measured(&args)
}

/// A TPM 2.0 SINIT: RLP wake by GETSEC (bit 0), TCG log format (bit 9),
/// Maximum Performance with these algorithms in its TPM info list.
pub fn sinit2(algs: &[HashAlg]) -> AcmSpec {
    AcmSpec {
        capabilities: 0x201,
        tpm_algs: algs.iter().map(|a| a.id()).collect(),
        ..AcmSpec::default()
    }
}
