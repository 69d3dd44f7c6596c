//! A build killed with SIGKILL at any moment leaves the previous bundle
//! intact (or the complete new one, once swapped in), and the next run
//! removes the leftovers.
//!
//! This test re-executes itself as the build process to kill (no test
//! harness: `main` is either the parent test or the child build). The child
//! prints each build [`Phase`] and, when told to, stops at one and waits to be
//! killed; the parent also kills children after assorted delays to land on
//! arbitrary instructions.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use bundle::{BundleBuilder, BundleError, Manifest, Phase, StepSpec, staging_prefix};

const CHILD: &str = "BUNDLE_SIGKILL_CHILD";
const DISK_LEN: usize = 4 << 20;

fn main() {
    if let Ok(target) = std::env::var(CHILD) {
        child(Path::new(&target));
        return;
    }
    let tests: &[(&str, fn())] = &[
        (
            "kill_at_each_phase_keeps_a_whole_bundle",
            kill_at_each_phase_keeps_a_whole_bundle,
        ),
        (
            "kill_after_random_delays_keeps_a_whole_bundle",
            kill_after_random_delays_keeps_a_whole_bundle,
        ),
    ];
    for (name, t) in tests {
        t();
        println!("test {name} ... ok");
    }
    println!("sigkill: {} passed, 0 failed", tests.len());
}

/// The child: build version `$VERSION` of a three-file bundle at `target`.
fn child(target: &Path) {
    let version: u8 = std::env::var("VERSION").unwrap().parse().unwrap();
    let pause_at = std::env::var("PAUSE_AT").ok();
    let mut b = BundleBuilder::open(target).unwrap();
    b.on_phase(move |p| {
        let label = phase_label(p);
        println!("{label}");
        std::io::stdout().flush().unwrap();
        if pause_at.as_deref() == Some(label.as_str()) {
            // Wait for the SIGKILL; the parent never writes to stdin.
            let mut s = String::new();
            let _ = std::io::stdin().read_line(&mut s);
        }
    });
    b.step(
        StepSpec::new("image")
            .bytes("version", [version])
            .produces("disk.img")
            .produces("vm/def.cfg"),
        |dir| -> Result<(), BundleError> {
            std::fs::write(dir.join("disk.img"), vec![version; DISK_LEN]).unwrap();
            std::fs::create_dir_all(dir.join("vm")).unwrap();
            std::fs::write(dir.join("vm/def.cfg"), format!("version = {version}\n")).unwrap();
            Ok(())
        },
    )
    .unwrap();
    b.step(
        StepSpec::new("predict")
            .output("disk.img")
            .produces("pcrs.json"),
        |dir| -> Result<(), BundleError> {
            let d = bundle::ContentDigest::of_file(&dir.join("disk.img"))
                .unwrap()
                .0;
            std::fs::write(dir.join("pcrs.json"), format!("{d}\n")).unwrap();
            Ok(())
        },
    )
    .unwrap();
    b.commit().unwrap();
}

fn phase_label(p: &Phase) -> String {
    match p {
        Phase::StepStarted(s) => format!("started:{s}"),
        Phase::StepDone(s) => format!("done:{s}"),
        Phase::Staged => "staged".into(),
        Phase::Swapped => "swapped".into(),
        Phase::Done => "finished".into(),
    }
}

fn spawn(target: &Path, version: u8, pause_at: Option<&str>) -> std::process::Child {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.env(CHILD, target)
        .env("VERSION", version.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(p) = pause_at {
        c.env("PAUSE_AT", p);
    }
    c.spawn().unwrap()
}

fn build(target: &Path, version: u8) {
    let out = spawn(target, version, None).wait_with_output().unwrap();
    assert!(out.status.success(), "child build {version} failed");
}

/// Which complete version the bundle is; panics if it is anything else
/// (missing, partial, mixed).
fn whole_version(target: &Path) -> u8 {
    let disk = std::fs::read(target.join("disk.img")).expect("disk.img present");
    assert_eq!(disk.len(), DISK_LEN, "disk.img complete");
    let v = disk[0];
    assert!(disk.iter().all(|&b| b == v), "disk.img of one version");
    let cfg = std::fs::read_to_string(target.join("vm/def.cfg")).unwrap();
    assert_eq!(
        cfg,
        format!("version = {v}\n"),
        "vm/def.cfg matches disk.img"
    );
    let pcrs = std::fs::read_to_string(target.join("pcrs.json")).unwrap();
    let d = bundle::ContentDigest::of_bytes(&disk);
    assert_eq!(pcrs, format!("{d}\n"), "pcrs.json matches disk.img");
    let m = Manifest::load(target).expect("step records present");
    assert_eq!(m.output("disk.img").unwrap().sha256, d);
    let mut names: Vec<_> = std::fs::read_dir(target)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [".measured", "disk.img", "pcrs.json", "vm"]);
    v
}

fn leftovers(target: &Path) -> Vec<PathBuf> {
    let prefix = staging_prefix(&target.file_name().unwrap().to_string_lossy());
    std::fs::read_dir(target.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

fn kill_at_each_phase_keeps_a_whole_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("bundle");
    build(&target, 1);
    assert_eq!(whole_version(&target), 1);
    let mut current = 1;
    for (i, point) in [
        "started:image",
        "done:image",
        "started:predict",
        "done:predict",
        "staged",
        "swapped",
        "finished",
    ]
    .into_iter()
    .enumerate()
    {
        let next = 2 + i as u8;
        let mut child = spawn(&target, next, Some(point));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let l = lines
                .next()
                .unwrap_or_else(|| panic!("child ended before {point}"))
                .unwrap();
            if l == point {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let v = whole_version(&target);
        // Until the swap the old bundle must stand; from it on, the new one.
        let swapped = matches!(point, "swapped" | "finished");
        let expected = if swapped { next } else { current };
        assert_eq!(v, expected, "bundle after a kill at {point}");
        current = v;
        if point != "finished" {
            assert!(
                !leftovers(&target).is_empty(),
                "a kill at {point} leaves a staging dir (the test must really interrupt)"
            );
        }
        // The next run removes the leftovers and works.
        build(&target, 100);
        assert_eq!(whole_version(&target), 100);
        assert!(
            leftovers(&target).is_empty(),
            "leftovers of {point} removed"
        );
        build(&target, current);
    }
}

fn kill_after_random_delays_keeps_a_whole_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("bundle");
    build(&target, 1);
    let mut previous = 1u8;
    // A cheap deterministic spread of delays from 0 to ~40 ms.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..24u8 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let delay = Duration::from_micros(x % 40_000);
        let next = 10 + round;
        let mut child = spawn(&target, next, None);
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().unwrap();
        let v = whole_version(&target);
        assert!(
            v == previous || v == next,
            "after a kill at {delay:?} the bundle is version {v}, neither {previous} nor {next}"
        );
        if !status.success() {
            previous = v;
        } else {
            assert_eq!(v, next, "a finished build is in place");
            previous = next;
        }
    }
    build(&target, 200);
    assert_eq!(whole_version(&target), 200);
    assert!(leftovers(&target).is_empty());
}
