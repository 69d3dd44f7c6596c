//! What a run costs before its work. Collectors run `measured log replay` once
//! per event log, so start-up is most of what a small log costs (the bench row
//! "log replay corpus, a process per log"; docs/tcg.md, "Speed").

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
