//! Shared setup for the `drtm` tests on real data: running the binary, the
//! real machines' SecL reports, and real tboot images of several releases
//! (built once from their sources by ci/build-tboot.sh, plus Debian's).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
