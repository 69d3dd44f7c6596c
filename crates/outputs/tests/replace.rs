//! What may be replaced, what is refused, and which leftovers are removed.

use std::fs::File;
use std::path::Path;

use outputs::{AtomicFile, BundleDir, Error, write_file};

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn fill_and_swap(b: BundleDir, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let p = b.staging().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    b.swap().unwrap().finish().unwrap()
}

fn image_bundle(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("svc.vhd"), "disk").unwrap();
    std::fs::write(
        dir.join("bundle.json"),
        r#"{"name":"svc","outputs":[{"path":"svc.vhd","size":4,"sha256":"x"}]}"#,
    )
    .unwrap();
}

#[test]
fn a_directory_of_someone_elses_files_is_refused_and_kept() {
    let t = tempfile::tempdir().unwrap();
    let target = t.path().join("home");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("thesis.tex"), "years of work").unwrap();
    let e = BundleDir::open(&target).unwrap_err();
    assert!(
        matches!(e, Error::NotOurs { .. }) && !e.is_os_error(),
        "{e}"
    );
    assert!(e.to_string().contains("thesis.tex"), "{e}");
    assert_eq!(
        std::fs::read_to_string(target.join("thesis.tex")).unwrap(),
        "years of work"
    );
    // Nothing was written beside it, not even the lock file.
    assert_eq!(names(t.path()), ["home"]);
}

#[test]
fn a_file_or_a_link_at_the_bundle_path_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("plain");
    std::fs::write(&file, "data").unwrap();
    let e = BundleDir::open(&file).unwrap_err();
    assert!(e.to_string().contains("is a file"), "{e}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "data");

    let real = t.path().join("real");
    image_bundle(&real);
    let link = t.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let e = BundleDir::open(&link).unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert!(real.join("svc.vhd").exists());
}

#[test]
fn a_bundle_with_a_file_its_manifest_does_not_list_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let target = t.path().join("svc");
    image_bundle(&target);
    std::fs::write(target.join("notes.txt"), "mine").unwrap();
    let e = BundleDir::open(&target).unwrap_err();
    assert!(e.to_string().contains("notes.txt"), "{e}");
    assert!(target.join("notes.txt").exists());
}

#[test]
fn an_empty_dir_and_our_bundles_are_replaced_whole() {
    let t = tempfile::tempdir().unwrap();
    let target = t.path().join("svc");
    std::fs::create_dir(&target).unwrap();
    fill_and_swap(
        BundleDir::open(&target).unwrap(),
        &[("bundle.json", r#"{"outputs":[]}"#)],
    );
    assert_eq!(names(&target), ["bundle.json"]);

    image_bundle(&target);
    fill_and_swap(
        BundleDir::open(&target).unwrap(),
        &[
            ("a.txt", "new"),
            ("bundle.json", r#"{"outputs":[{"path":"a.txt"}]}"#),
        ],
    );
    assert_eq!(names(&target), ["a.txt", "bundle.json"]);

    // A `measured build` bundle: files listed by its step records.
    std::fs::remove_dir_all(&target).unwrap();
    fill_and_swap(
        BundleDir::open(&target).unwrap(),
        &[
            ("policy/policy.digest", "d"),
            (
                ".measured/steps.json",
                r#"{"version":1,"steps":{"p":{"outputs":{"policy/policy.digest":{}}}}}"#,
            ),
        ],
    );
    fill_and_swap(BundleDir::open(&target).unwrap(), &[("x", "y")]);
    assert_eq!(names(&target), ["x"]);
    // No staging directory survives a finished swap.
    // Nor the lock file: a finished run leaves only the bundle.
    assert_eq!(names(t.path()), ["svc"]);
}

#[test]
fn a_killed_runs_lock_file_is_taken_over_and_removed() {
    let t = tempfile::tempdir().unwrap();
    // What a SIGKILL leaves: the lock file, no longer locked by anyone.
    std::fs::write(t.path().join(".svc.lock"), "").unwrap();
    let b = BundleDir::open(&t.path().join("svc")).unwrap();
    assert!(
        t.path().join(".svc.lock").exists(),
        "held while the run lasts"
    );
    drop(b);
    assert_eq!(names(t.path()), Vec::<String>::new());
}

#[test]
fn stale_staging_dirs_of_this_bundle_are_removed_and_nothing_else() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path();
    for d in [
        ".svc.staging-123-aB3xYz",
        ".svc.staging-9-0123456789ab",
        ".svc.staging-notes",
        ".svc2.staging-1-abcdef",
        "svc.staging-1-abcdef",
    ] {
        std::fs::create_dir(p.join(d)).unwrap();
        std::fs::write(p.join(d).join("f"), "x").unwrap();
    }
    let mut b = BundleDir::open(&p.join("svc")).unwrap();
    let mut removed: Vec<String> = b
        .take_removed_stale()
        .iter()
        .map(|x| x.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    removed.sort();
    assert_eq!(
        removed,
        [".svc.staging-123-aB3xYz", ".svc.staging-9-0123456789ab"]
    );
    drop(b);
    assert_eq!(
        names(p),
        [
            ".svc.staging-notes",
            ".svc2.staging-1-abcdef",
            "svc.staging-1-abcdef"
        ]
    );
}

#[test]
fn a_second_run_on_a_locked_bundle_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let target = t.path().join("svc");
    let first = BundleDir::open(&target).unwrap();
    let e = BundleDir::open(&target).unwrap_err();
    assert!(matches!(e, Error::Locked { .. }), "{e}");
    // The second run did not touch the first one's staging directory.
    assert!(first.staging().is_dir());
}

#[test]
fn bundle_paths_that_name_no_directory_entry_are_refused() {
    let t = tempfile::tempdir().unwrap();
    for bad in ["/", "..", "a/..", "."] {
        let p = if bad.starts_with('/') {
            Path::new(bad).to_path_buf()
        } else {
            t.path().join(bad)
        };
        let e = BundleDir::open(&p).unwrap_err();
        assert!(!e.is_os_error(), "{bad}: {e}");
    }
}

#[test]
fn a_file_output_replaces_a_file_or_link_but_never_a_directory_or_socket() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("out.bin");
    write_file(&f, b"one").unwrap();
    write_file(&f, b"two").unwrap();
    assert_eq!(std::fs::read(&f).unwrap(), b"two");

    // A link at the output is replaced, its target left alone.
    let victim = t.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    let link = t.path().join("link");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    write_file(&link, b"new").unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    assert_eq!(std::fs::read(&link).unwrap(), b"new");
    assert!(
        !std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );

    let dir = t.path().join("dir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("inside"), "x").unwrap();
    let e = write_file(&dir, b"x").unwrap_err();
    assert!(
        e.to_string().contains("directory") && !e.is_os_error(),
        "{e}"
    );
    assert!(dir.join("inside").exists());

    let sock = t.path().join("sock");
    let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let e = write_file(&sock, b"x").unwrap_err();
    assert!(!e.is_os_error(), "{e}");
    assert!(
        std::fs::symlink_metadata(&sock)
            .unwrap()
            .file_type()
            .is_socket_like()
    );

    // Nothing of ours left over.
    assert!(
        names(t.path()).iter().all(|n| !n.contains(".tmp-")),
        "{:?}",
        names(t.path())
    );
}

trait SocketLike {
    fn is_socket_like(&self) -> bool;
}
impl SocketLike for std::fs::FileType {
    fn is_socket_like(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_socket(self)
    }
}

#[test]
fn stale_temporaries_are_removed_unless_a_live_writer_holds_them() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path();
    let stale = p.join(".out.vhd.tmp-00000000000a");
    let live = p.join(".out.vhd.tmp-00000000000b");
    let foreign = [
        p.join(".out.vhd.tmp-notours"),
        p.join(".other.vhd.tmp-00000000000c"),
        p.join("out.vhd.tmp-00000000000d"),
    ];
    for f in [&stale, &live].into_iter().chain(&foreign) {
        std::fs::write(f, "x").unwrap();
    }
    // A live run holds its temporary's lock (another open file description
    // conflicts even within one process).
    let holder = File::open(&live).unwrap();
    rustix::fs::flock(&holder, rustix::fs::FlockOperation::LockExclusive).unwrap();

    let a = AtomicFile::create(&p.join("out.vhd")).unwrap();
    assert_eq!(a.removed_stale(), std::slice::from_ref(&stale));
    assert!(!stale.exists() && live.exists());
    assert!(foreign.iter().all(|f| f.exists()));
    // Our own temporary is locked too: a concurrent run leaves it alone.
    let b = AtomicFile::create(&p.join("out.vhd")).unwrap();
    assert!(a.temp_path().exists() && b.removed_stale().is_empty());
    drop((a, b));
    drop(holder);
    let c = AtomicFile::create(&p.join("out.vhd")).unwrap();
    assert_eq!(c.removed_stale(), [live]);
}

#[test]
fn an_uncommitted_file_leaves_nothing() {
    let t = tempfile::tempdir().unwrap();
    let a = AtomicFile::create(&t.path().join("x")).unwrap();
    std::io::Write::write_all(&mut a.file(), b"half").unwrap();
    drop(a);
    assert!(names(t.path()).is_empty());
}

#[test]
fn a_missing_output_directory_is_named_as_the_cause() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("no-such-dir");
    let e = AtomicFile::create(&dir.join("x.vhd")).unwrap_err();
    let msg = e.to_string();
    assert!(e.is_os_error(), "{msg}");
    // The directory, not the temporary name nobody asked for.
    assert!(
        msg.contains(&format!("create a file in {}:", dir.display())) && !msg.contains(".tmp-"),
        "{msg}"
    );
}
