//! Never lose a user's data, never write where we do not belong: `build`
//! and `image build` replace only their own bundles, names that become
//! file names are checked before anything is written, both commands share
//! one lock and one atomic swap, the next run removes our stale
//! temporaries (and only ours), and output modes follow the umask.

mod safety_common;
use safety_common::*;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// `build` and `image build` with the fixture spec, to `out`.
fn bundle_cmds(f: &Fixture, out: &Path) -> Vec<Vec<std::ffi::OsString>> {
    let spec = f.spec().into_os_string();
    vec![
        vec!["build".into(), spec.clone(), "-o".into(), out.into()],
        vec![
            "image".into(),
            "build".into(),
            spec,
            "-o".into(),
            out.into(),
        ],
    ]
}

#[test]
fn bundle_commands_refuse_to_replace_what_is_not_a_bundle_and_keep_it() {
    let f = Fixture::new();
    let p = f.path();
    // A directory of someone's files, a plain file, and one of our bundles
    // with a file added by hand.
    let home = p.join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("thesis.tex"), "years of work").unwrap();
    let plain = p.join("plain");
    std::fs::write(&plain, "data").unwrap();
    let ours = p.join("ours");
    ok(f.run(&bundle_cmds(&f, &ours)[1]));
    std::fs::write(ours.join("notes.txt"), "mine").unwrap();

    for (target, needle) in [
        (&home, "thesis.tex"),
        (&plain, "is a file"),
        (&ours, "notes.txt"),
    ] {
        for cmd in bundle_cmds(&f, target) {
            let before = snapshot(p);
            let o = f.run(&cmd);
            assert_eq!(o.status.code(), Some(2), "{cmd:?}: {}", err(&o));
            let e = err(&o);
            assert!(
                e.contains(&target.display().to_string()) && e.contains(needle),
                "{cmd:?}: {e}"
            );
            // Nothing changed, not even a lock file beside the target.
            assert_eq!(before, snapshot(p), "{cmd:?} touched something");
        }
    }
}

#[test]
fn bundle_commands_replace_an_empty_dir_and_each_others_bundles() {
    let f = Fixture::new();
    let out = f.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let cmds = bundle_cmds(&f, &out);
    for cmd in [&cmds[0], &cmds[1], &cmds[1], &cmds[0], &cmds[0]] {
        ok(f.run(cmd));
        assert!(out.join("svc.vhd").is_file() && out.join("bundle.json").is_file());
    }
}

#[test]
fn names_that_would_leave_the_bundle_are_refused_before_anything_is_written() {
    let f = Fixture::new();
    let deep = f.path().join("a/b/c");
    std::fs::create_dir_all(&deep).unwrap();
    for (key, value) in [
        ("name", "\"../../../victim\""),
        ("name", "\".\""),
        ("name", "\"..\""),
        ("name", "\"a/b\""),
        ("name", "\"\""),
        ("name", "\"nul\\u0000x\""),
        ("service_tag", "\"../x\""),
        ("service_tag", "\"..\""),
    ] {
        let spec = f.spec_with("bad.toml", &[(key, value)]);
        let before = snapshot(f.path());
        let runs = [
            // `build` names its bundle after the VM by default.
            vec!["build".into(), spec.clone().into_os_string()],
            vec![
                "build".into(),
                spec.clone().into_os_string(),
                "-o".into(),
                deep.join("out").into_os_string(),
            ],
            vec![
                "image".into(),
                "build".into(),
                spec.clone().into_os_string(),
                "-o".into(),
                deep.join("out").into_os_string(),
            ],
        ];
        for cmd in runs {
            let o = f.run(&cmd);
            let e = err(&o);
            assert_eq!(o.status.code(), Some(2), "{key} = {value}: {e}");
            assert!(e.contains(key), "{key} = {value}: {e}");
            assert_eq!(
                snapshot(f.path()),
                before,
                "{key} = {value}: something was written"
            );
        }
    }
    // The same through the flag.
    let o = f.run([
        "image",
        "build",
        "--name",
        "../../victim",
        "--rootfs",
        "rootfs",
        "--kernel",
        "bzImage",
        "--disk-size-mib",
        "16",
        "-o",
        "a/b/c/out",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(!f.path().join("a/victim.vhd").exists() && !f.path().join("a/b/c/out").exists());
}

#[test]
fn image_build_takes_the_same_lock_as_build() {
    let f = Fixture::new();
    let out = f.path().join("out");
    let lock = std::fs::File::create(f.path().join(".out.lock")).unwrap();
    rustix_flock(&lock);
    for cmd in bundle_cmds(&f, &out) {
        let o = f.run(&cmd);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {}", err(&o));
        assert!(err(&o).contains("another run"), "{}", err(&o));
        assert!(!out.exists());
    }
    drop(lock);
    for cmd in bundle_cmds(&f, &out) {
        ok(f.run(&cmd));
    }
}

/// Take an exclusive flock as another run would.
fn rustix_flock(f: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain syscall on a descriptor `f` owns for the call.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(r, 0);
}

#[test]
fn the_next_run_removes_our_stale_temporaries_and_nothing_else() {
    let f = Fixture::new();
    let p = f.path();
    // Leftovers of killed bundle runs on `out`, and look-alikes that are not.
    let ours = [".out.staging-77-aB3xYz", ".out.staging-9-0123456789ab"];
    let not_ours = [
        ".out.staging-notes",
        ".other.staging-1-abcdef",
        "out.staging-1-abcdef",
    ];
    let make = || {
        for d in ours.iter().chain(&not_ours) {
            std::fs::create_dir_all(p.join(d)).unwrap();
            std::fs::write(p.join(d).join("svc.vhd"), vec![1u8; 4096]).unwrap();
        }
    };
    for cmd in bundle_cmds(&f, &p.join("out")) {
        make();
        ok(f.run(&cmd));
        for d in ours {
            assert!(!p.join(d).exists(), "{cmd:?} left {d}");
        }
        for d in not_ours {
            assert!(p.join(d).join("svc.vhd").exists(), "{cmd:?} removed {d}");
        }
    }

    // File outputs: a killed writer's temporary goes, a live writer's
    // (flock held) and look-alikes stay.
    std::fs::write(p.join("raw.img"), vec![3u8; 1 << 20]).unwrap();
    let stale = p.join(".disk.vhd.tmp-00000000000a");
    let live = p.join(".disk.vhd.tmp-00000000000b");
    let alike = [
        p.join(".disk.vhd.tmp-keep"),
        p.join(".disk.vhdx.tmp-00000000000c"),
    ];
    for x in [&stale, &live].into_iter().chain(&alike) {
        std::fs::write(x, "x").unwrap();
    }
    let holder = std::fs::File::open(&live).unwrap();
    rustix_flock(&holder);
    ok(f.run(["vhd", "convert", "raw.img", "disk.vhd"]));
    assert!(!stale.exists() && live.exists() && alike.iter().all(|x| x.exists()));
    assert!(p.join("disk.vhd").is_file());
}

/// Run `script` under `sh` with umask `mask` in the fixture directory.
fn sh_umask(f: &Fixture, mask: &str, script: &str) {
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("umask {mask} && {script}"))
        .current_dir(f.path())
        .env("M", BIN)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(o.status.success(), "{script}: {}", err(&o));
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn output_modes_follow_the_umask_like_cp() {
    let f = Fixture::new();
    let p = f.path();
    std::fs::write(p.join("raw.img"), vec![3u8; 1 << 20]).unwrap();
    let n = "00".repeat(32);
    std::fs::write(
        p.join("pcrs.json"),
        format!("{{\"sha256\": {{\"0\": \"{n}\"}}}}"),
    )
    .unwrap();
    // What `drtm predict` needs (the profile as in tests/drtm.rs).
    let s1 = hex::encode(tcg::HashAlg::Sha1.digest(b"nv"));
    let s2 = hex::encode(tcg::HashAlg::Sha256.digest(b"nv"));
    std::fs::write(
        p.join("profile.toml"),
        format!(
            "tpm = \"2.0\"\nbanks = [\"sha1\", \"sha256\"]\nextpol = \"embedded\"\nscrtm_status = 1\n\
             biosac_reg_data = \"{n}\"\n[nv_info_digests]\nsha1 = \"{s1}\"\nsha256 = \"{s2}\"\n\
             [sinit_pubkey_digests]\nsha1 = \"{s1}\"\nsha256 = \"{s2}\"\n"
        ),
    )
    .unwrap();
    for (mask, file_mode, dir_mode) in [("027", 0o640, 0o750), ("000", 0o666, 0o777)] {
        let files = [
            "fs.ext4",
            "c.vhd",
            "v.vhd",
            "r.img",
            "pol",
            "acm",
            "digest",
            "values",
            "pred.log",
            "captured.toml",
        ];
        for x in files {
            let _ = std::fs::remove_file(p.join(x));
        }
        sh_umask(
            &f,
            mask,
            "\"$M\" fs build rootfs fs.ext4 --type ext4 >/dev/null \
             && \"$M\" vhd create 4M c.vhd >/dev/null \
             && \"$M\" vhd convert raw.img v.vhd >/dev/null \
             && \"$M\" vhd convert v.vhd r.img >/dev/null \
             && \"$M\" drtm policy-default --tboot-version 1.10.5 -o pol \
             && \"$M\" drtm synth-acm -o acm \
             && \"$M\" drtm predict --profile profile.toml --acm acm --tboot /boot/tboot.gz \
                 --tboot-cmdline extpol=embedded --module bzImage --log-out pred.log >/dev/null \
             && \"$M\" drtm capture pred.log -o captured.toml >/dev/null \
             && \"$M\" policy pcr --pcrs pcrs.json --select sha256:0 -o digest --values-out values >/dev/null \
             && \"$M\" image build spec.toml -o img >/dev/null \
             && \"$M\" build spec.toml -o bld >/dev/null",
        );
        for x in files {
            assert_eq!(mode(&p.join(x)), file_mode, "{x} under umask {mask}");
        }
        for b in ["img", "bld"] {
            assert_eq!(mode(&p.join(b)), dir_mode, "{b}/ under umask {mask}");
            for x in names(&p.join(b)) {
                let q = p.join(b).join(&x);
                let want = if q.is_dir() { dir_mode } else { file_mode };
                assert_eq!(mode(&q), want, "{b}/{x} under umask {mask}");
            }
        }
        std::fs::remove_dir_all(p.join("img")).unwrap();
        std::fs::remove_dir_all(p.join("bld")).unwrap();
    }
}

#[test]
fn leftovers_of_earlier_releases_are_removed_and_look_alikes_kept() {
    let f = Fixture::new();
    let p = f.path();
    // What killed runs of releases before the `outputs` crate left:
    // `image build`'s bundle being assembled, the VHD writer's file.
    let old_bundle = p.join(".measured-image-Q7x2Lm");
    std::fs::create_dir(&old_bundle).unwrap();
    for n in ["svc.vhd", "vmlinuz-6.1.0", "bundle.json"] {
        std::fs::write(old_bundle.join(n), vec![7u8; 4096]).unwrap();
    }
    let old_empty = p.join(".measured-image-000000");
    std::fs::create_dir(&old_empty).unwrap();
    let old_vhd = p.join(".vhd-tmpA1b2C3");
    std::fs::write(&old_vhd, vec![7u8; 4096]).unwrap();
    // Look-alikes that are not ours, or not only ours.
    let users_dir = p.join(".measured-image-backup");
    std::fs::create_dir(&users_dir).unwrap();
    std::fs::write(users_dir.join("thesis.tex"), "years of work").unwrap();
    let mixed = p.join(".measured-image-Z9y8X7");
    std::fs::create_dir(&mixed).unwrap();
    std::fs::write(mixed.join("svc.vhd"), "x").unwrap();
    std::fs::write(mixed.join("notes.txt"), "mine").unwrap();
    let keep_files = [
        p.join(".vhd-tmpA1b2C"),
        p.join(".vhd-tmpA1b2C3d"),
        p.join(".vhd-tmp-keep1"),
        p.join(".measured-image-file01"),
    ];
    for x in &keep_files {
        std::fs::write(x, "x").unwrap();
    }
    let keep_dir = p.join(".vhd-tmpD1r2e3");
    std::fs::create_dir(&keep_dir).unwrap();

    ok(f.run(["image", "build", "spec.toml", "-o", "img"]));
    assert!(!old_bundle.exists() && !old_empty.exists());
    assert!(users_dir.join("thesis.tex").exists());
    assert!(mixed.join("notes.txt").exists() && mixed.join("svc.vhd").exists());
    assert!(
        old_vhd.exists(),
        "image build leaves the VHD writer's files"
    );

    std::fs::write(p.join("raw.img"), vec![3u8; 1 << 20]).unwrap();
    ok(f.run(["vhd", "convert", "raw.img", "disk.vhd"]));
    assert!(!old_vhd.exists());
    assert!(keep_files.iter().all(|x| x.is_file()) && keep_dir.is_dir());
}
