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

#[test]
fn log_replay_opens_only_its_log_and_writes_its_report_once() {
    let tmp = tempfile::tempdir().unwrap();
    let log = logs().join("go-tpm-tools/debian-10.bin");
    let log = log.to_str().unwrap();
    let (calls, o) = syscalls(&["log", "replay", log], tmp.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("pcrs:"));
    let opened: Vec<&str> = calls
        .iter()
        .map(String::as_str)
        .filter(|c| c.starts_with("open") || c.starts_with("execve"))
        .collect();
    // The program itself, then its log: no loader, no library, no /proc/self/maps.
    assert_eq!(opened.len(), 2, "{opened:#?}");
    assert!(opened[1].contains(log), "{}", opened[1]);
    assert!(
        !calls.iter().any(|c| c.starts_with("sigaltstack")),
        "std's stack-overflow set-up ran"
    );
    let writes = calls.iter().filter(|c| c.starts_with("write(1,")).count();
    assert_eq!(writes, 1, "one write(2) for a report off a terminal");
}

#[test]
fn closed_standard_descriptors_are_never_given_to_an_output_file() {
    // Started with descriptors 1 and 2 closed, the first files a command opens
    // would become descriptors 1 and 2, and a report or an error message would
    // be written into them: the entry point reopens a closed 0, 1 or 2 on
    // /dev/null before anything else, as std does.
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("trace");
    let out = tmp.path().join("closed.vhd");
    let o = Command::new("sh")
        .arg("-c")
        .arg(r#"exec strace -qq -o "$1" "$0" vhd create 4M "$2" >&- 2>&-"#)
        .arg(env!("CARGO_BIN_EXE_measured"))
        .arg(&trace)
        .arg(&out)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(o.status.success());
    let calls = std::fs::read_to_string(&trace).unwrap();
    let opened: Vec<&str> = calls.lines().filter(|c| c.starts_with("open")).collect();
    assert!(
        opened.len() > 2
            && opened[0].contains("/dev/null")
            && opened[0].ends_with("= 1")
            && opened[1].contains("/dev/null")
            && opened[1].ends_with("= 2"),
        "{opened:#?}"
    );
    let image = opened
        .iter()
        .find(|c| c.contains(".closed.vhd.tmp"))
        .expect("the image's temporary file");
    assert!(
        !image.ends_with("= 1") && !image.ends_with("= 2"),
        "{image}"
    );
    // And the image is the one a normal run writes.
    let normal = tmp.path().join("normal.vhd");
    let o = Command::new(env!("CARGO_BIN_EXE_measured"))
        .args(["vhd", "create", "4M"])
        .arg(&normal)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(std::fs::read(normal).unwrap() == std::fs::read(out).unwrap());
}
