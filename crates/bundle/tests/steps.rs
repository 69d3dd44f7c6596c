//! Step memoisation: no work when nothing changed, only dependents of a
//! changed input redone (and said why), failed builds leave no trace.

use std::path::Path;

use bundle::{BundleBuilder, BundleError, Commit, MANIFEST_PATH, StepOutcome, StepSpec};

/// A two-step build: `a` copies `input_a` (plus params) to a.out, `b` reads
/// a.out's first line and `input_b` into b.out. Returns the commit.
fn build(target: &Path, input_a: &Path, input_b: &Path, params: &str) -> Commit {
    let mut b = BundleBuilder::open(target).unwrap();
    b.step(
        StepSpec::new("a")
            .file("input_a", input_a)
            .bytes("params", params)
            .produces("a.out"),
        |dir| -> Result<(), BundleError> {
            let text = std::fs::read_to_string(input_a).unwrap();
            let first = text.lines().next().unwrap_or("");
            std::fs::write(dir.join("a.out"), format!("{first}\n")).unwrap();
            Ok(())
        },
    )
    .unwrap();
    b.step(
        StepSpec::new("b")
            .output("a.out")
            .file("input_b", input_b)
            .produces("sub/b.out"),
        |dir| -> Result<(), BundleError> {
            let a = std::fs::read_to_string(dir.join("a.out")).unwrap();
            let ib = std::fs::read_to_string(input_b).unwrap();
            std::fs::create_dir_all(dir.join("sub")).unwrap();
            std::fs::write(dir.join("sub/b.out"), format!("{a}{ib}")).unwrap();
            Ok(())
        },
    )
    .unwrap();
    b.commit().unwrap()
}

fn outcomes(c: &Commit) -> Vec<(String, bool)> {
    c.steps
        .iter()
        .map(|s| (s.name.clone(), s.outcome != StepOutcome::Reused))
        .collect()
}

fn reasons(c: &Commit, step: &str) -> Vec<String> {
    match &c.steps.iter().find(|s| s.name == step).unwrap().outcome {
        StepOutcome::Built { reasons } => reasons.clone(),
        StepOutcome::Reused => vec![],
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    target: std::path::PathBuf,
    a: std::path::PathBuf,
    b: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.txt");
    let b = tmp.path().join("b.txt");
    std::fs::write(&a, "alpha\nignored tail\n").unwrap();
    std::fs::write(&b, "beta\n").unwrap();
    Fixture {
        target: tmp.path().join("out/bundle"),
        _tmp: tmp,
        a,
        b,
    }
}

#[test]
fn second_run_with_nothing_changed_does_no_work() {
    let f = fixture();
    let first = build(&f.target, &f.a, &f.b, "p");
    assert!(first.replaced);
    assert_eq!(outcomes(&first), [("a".into(), true), ("b".into(), true)]);
    let ino_before = std::fs::metadata(&f.target).unwrap();
    let second = build(&f.target, &f.a, &f.b, "p");
    assert!(!second.replaced, "an unchanged build keeps the bundle");
    assert_eq!(
        outcomes(&second),
        [("a".into(), false), ("b".into(), false)]
    );
    assert_eq!(second.files_hashed, 0, "unchanged files are not re-read");
    use std::os::unix::fs::MetadataExt;
    let ino_after = std::fs::metadata(&f.target).unwrap();
    assert_eq!(ino_before.ino(), ino_after.ino(), "bundle dir not replaced");
    assert_eq!(
        std::fs::read_to_string(f.target.join("sub/b.out")).unwrap(),
        "alpha\nbeta\n"
    );
}

#[test]
fn changed_input_rebuilds_only_its_dependents_and_says_which() {
    let f = fixture();
    build(&f.target, &f.a, &f.b, "p");
    std::fs::write(&f.b, "BETA\n").unwrap();
    let c = build(&f.target, &f.a, &f.b, "p");
    assert!(c.replaced);
    assert_eq!(outcomes(&c), [("a".into(), false), ("b".into(), true)]);
    assert_eq!(reasons(&c, "b"), ["input_b changed"]);
    assert_eq!(
        std::fs::read_to_string(f.target.join("sub/b.out")).unwrap(),
        "alpha\nBETA\n"
    );

    let c = build(&f.target, &f.a, &f.b, "q");
    assert_eq!(reasons(&c, "a"), ["params changed"]);
}

#[test]
fn upstream_rebuild_with_identical_output_stops_there() {
    let f = fixture();
    build(&f.target, &f.a, &f.b, "p");
    // Step a only keeps the first line: a changed tail gives the same a.out.
    std::fs::write(&f.a, "alpha\nanother tail\n").unwrap();
    let c = build(&f.target, &f.a, &f.b, "p");
    assert_eq!(outcomes(&c), [("a".into(), true), ("b".into(), false)]);
    assert_eq!(reasons(&c, "a"), ["input_a changed"]);
}

#[test]
fn tampered_output_in_previous_bundle_is_rebuilt() {
    let f = fixture();
    build(&f.target, &f.a, &f.b, "p");
    // Replace (not modify in place: that would change the hard-linked inode
    // the reuse relies on never changing) with other bytes.
    let p = f.target.join("a.out");
    std::fs::remove_file(&p).unwrap();
    std::fs::write(&p, "tampered\n").unwrap();
    let c = build(&f.target, &f.a, &f.b, "p");
    assert_eq!(outcomes(&c), [("a".into(), true), ("b".into(), false)]);
    assert_eq!(
        reasons(&c, "a"),
        ["a.out in the previous bundle was modified"]
    );
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "alpha\n");
}

#[test]
fn failing_step_leaves_previous_bundle_and_no_staging() {
    let f = fixture();
    build(&f.target, &f.a, &f.b, "p");
    let before = std::fs::read(f.target.join(MANIFEST_PATH)).unwrap();
    {
        let mut b = BundleBuilder::open(&f.target).unwrap();
        let r = b.step(StepSpec::new("a").bytes("x", "new"), |dir| {
            std::fs::write(dir.join("a.out"), "half").unwrap();
            Err(BundleError::DuplicateStep("simulated failure".into()))
        });
        assert!(r.is_err());
    }
    assert_eq!(std::fs::read(f.target.join(MANIFEST_PATH)).unwrap(), before);
    let names: Vec<_> = std::fs::read_dir(f.target.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("staging"))
        .collect();
    assert!(names.is_empty(), "staging left behind: {names:?}");
}

#[test]
fn missing_declared_output_is_an_error_naming_it() {
    let f = fixture();
    let mut b = BundleBuilder::open(&f.target).unwrap();
    let e = b
        .step(StepSpec::new("s").produces("want.bin"), |_| {
            Ok::<_, BundleError>(())
        })
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "step s did not produce its declared output want.bin"
    );
    let e = b
        .step(StepSpec::new("t").output("nope"), |_| {
            Ok::<_, BundleError>(())
        })
        .unwrap_err();
    assert!(e.to_string().contains("reads nope, which no earlier step"));
}

#[test]
fn concurrent_build_of_same_bundle_is_refused() {
    let f = fixture();
    let _held = BundleBuilder::open(&f.target).unwrap();
    let e = BundleBuilder::open(&f.target).unwrap_err();
    assert!(
        matches!(e, BundleError::Output(outputs::Error::Locked { .. })),
        "{e}"
    );
}

#[test]
fn two_clean_builds_are_byte_identical() {
    let f = fixture();
    let other = f.target.parent().unwrap().join("bundle2");
    build(&f.target, &f.a, &f.b, "p");
    build(&other, &f.a, &f.b, "p");
    for rel in ["a.out", "sub/b.out", MANIFEST_PATH] {
        assert_eq!(
            std::fs::read(f.target.join(rel)).unwrap(),
            std::fs::read(other.join(rel)).unwrap(),
            "{rel}"
        );
    }
}

/// A one-step build over a directory input: what the step's key sees.
fn build_dir(target: &Path, dir: &Path) -> Commit {
    let mut b = BundleBuilder::open(target).unwrap();
    b.step(
        StepSpec::new("img").dir("rootfs", dir).produces("out"),
        |out| -> Result<(), BundleError> {
            std::fs::write(out.join("out"), b"x").unwrap();
            Ok(())
        },
    )
    .unwrap();
    b.commit().unwrap()
}

#[test]
fn a_directory_input_changes_with_owners_xattrs_devices_and_times() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rootfs");
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("chage");
    std::fs::write(&f, b"bin").unwrap();
    symlink("chage", dir.join("link")).unwrap();
    let target = tmp.path().join("bundle");
    build_dir(&target, &dir);
    let rebuilt = |why: &str| {
        let c = build_dir(&target, &dir);
        assert_eq!(
            outcomes(&c),
            [("img".to_string(), true)],
            "{why}: not rebuilt"
        );
        assert_eq!(
            outcomes(&build_dir(&target, &dir)),
            [("img".to_string(), false)]
        );
    };
    std::os::unix::fs::chown(&f, None, Some(42)).unwrap();
    rebuilt("group changed");
    xattr::set(&f, "user.test", b"1").unwrap();
    rebuilt("xattr added");
    let t = std::fs::FileTimes::new().set_modified(std::time::UNIX_EPOCH);
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_times(t)
        .unwrap();
    rebuilt("mtime changed");
    let st = std::process::Command::new("mknod")
        .arg(dir.join("null"))
        .args(["c", "1", "3"])
        .status()
        .unwrap();
    assert!(st.success());
    rebuilt("device added");
}
