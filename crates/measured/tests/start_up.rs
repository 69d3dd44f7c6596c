//! What a run costs before its work. Collectors run `measured log replay` once
//! per event log, so start-up is most of what a small log costs (the bench row
//! "log replay corpus, a process per log"; docs/tcg.md, "Speed").

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn the_binary_needs_no_loader_and_no_shared_library() {
    let o = Command::new("readelf")
        .args(["-lW", env!("CARGO_BIN_EXE_measured")])
        .output()
        .expect("readelf (ci/install-oracles.sh installs binutils)");
    assert!(o.status.success());
    let headers = String::from_utf8_lossy(&o.stdout);
    assert!(headers.contains("LOAD"), "{headers}");
    assert!(
        !headers.contains("INTERP"),
        "dynamically linked: every run pays the loader\n{headers}"
    );
    // Still position-independent: the executable's own addresses are randomised.
    let o = Command::new("readelf")
        .args(["-hW", env!("CARGO_BIN_EXE_measured")])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("DYN (Position-Independent Executable"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// The system calls of `measured ARGS` with stdout on a pipe, as strace lists them.
fn syscalls(args: &[&str], dir: &Path) -> (Vec<String>, std::process::Output) {
    let trace = dir.join("trace");
    let o = Command::new("strace")
        .arg("-qq")
        .arg("-o")
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_measured"))
        .args(args)
        .output()
        .expect("strace (ci/install-oracles.sh installs it)");
    let text = std::fs::read_to_string(&trace).unwrap();
    (text.lines().map(str::to_string).collect(), o)
}

fn logs() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
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

#[test]
fn a_long_report_goes_out_in_blocks_not_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let log = logs().join("python3-uefi-eventlog/intel_svr.bin");
    let (calls, o) = syscalls(&["log", "show", log.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines = o.stdout.iter().filter(|b| **b == b'\n').count();
    let writes = calls.iter().filter(|c| c.starts_with("write(1,")).count();
    assert!(lines > 200, "{lines} lines");
    // One write per 64 KiB block, and one for the rest.
    assert!(
        writes <= o.stdout.len() / 65536 + 1,
        "{writes} writes for {lines} lines ({} bytes)",
        o.stdout.len()
    );
}
