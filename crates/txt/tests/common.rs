//! Helpers shared by the integration tests: finding shared test data,
//! running oracle tools, decoding base64.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use txt::{ModuleData, ModuleInput};

/// `shared/testdata` beside the repository (CI), else `/work/shared/testdata`.
pub fn testdata() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for anc in here.ancestors() {
        let p = anc.join("shared/testdata");
        if p.is_dir() {
            return p;
        }
    }
    let p = PathBuf::from("/work/shared/testdata");
    assert!(
        p.is_dir(),
        "shared/testdata not found near {} nor at /work/shared",
        here.display()
    );
    p
}

/// Run an oracle; the test fails (never skips) if it is missing or fails.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("oracle {cmd} not runnable ({e}); run ci/install-oracles.sh"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Decode standard base64 (whitespace ignored).
pub fn base64(s: &str) -> Vec<u8> {
    use base64::Engine;
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .expect("base64")
}

/// Hex bytes separated by spaces, as tboot's tools print them.
pub fn spaced_hex(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().concat()
}

/// Debian's tboot (package tboot).
pub fn tboot_gz() -> Vec<u8> {
    std::fs::read("/boot/tboot.gz").expect("package tboot provides /boot/tboot.gz")
}

/// The kernel/initrd-like module pair the swtpm launch tests boot: a kernel file
/// written to `dir` with a command line, then an initrd from memory.
pub fn launch_modules(dir: &Path) -> Vec<ModuleInput> {
    let kernel = dir.join("vmlinuz");
    std::fs::write(&kernel, b"kernel image bytes ".repeat(5000)).unwrap();
    vec![
        ModuleInput {
            name: "vmlinuz".into(),
            cmdline: "console=hvc0 root=/dev/xvda1".into(),
            data: ModuleData::Path(kernel),
            decompress: true,
        },
        ModuleInput {
            name: "initrd".into(),
            cmdline: String::new(),
            data: ModuleData::Bytes(b"initrd".repeat(1000)),
            decompress: true,
        },
    ]
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The tboot source releases `ci/build-tboot.sh` builds (shared/tboot-src).
pub const BUILT_RELEASES: [&str; 7] = [
    "1.7.4", "1.8.3", "1.9.4", "1.9.6", "1.9.11", "1.9.12", "1.10.2",
];

/// `target/testdata/tboot/VERSION/`: `tboot.gz` and `tboot-syms` of a tboot
/// release built from its sources, built once on first use (the script
/// caches and locks, so concurrent test binaries share one build).
pub fn tboot_release(version: &str) -> PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    let dir = repo().join("target/testdata/tboot").join(version);
    BUILD.call_once(|| {
        if BUILT_RELEASES.iter().all(|v| {
            repo()
                .join("target/testdata/tboot")
                .join(v)
                .join(".complete")
                .is_file()
        }) {
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
    assert!(
        dir.join("tboot.gz").is_file(),
        "{}: no tboot.gz (ci/build-tboot.sh builds it)",
        dir.display()
    );
    dir
}

/// The `tboot.gz` bytes of a built release.
pub fn tboot_release_gz(version: &str) -> Vec<u8> {
    std::fs::read(tboot_release(version).join("tboot.gz")).unwrap()
}
