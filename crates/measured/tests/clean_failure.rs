//! Clean failure: a closed pipe ends quietly and a failing stdout is exit 3
//! in every command; a full disk while writing output is exit 3 and an
//! unreadable input exit 2; errors name the real cause, spec field or
//! file; impossible values and a bad `SOURCE_DATE_EPOCH` are refused by
//! every command that reads them; an empty TXT log is not a log.

mod safety_common;
use safety_common::*;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A real TPM 2.0 event log from a real machine (`shared/testdata` beside
/// the checkout, as tests/log_cli.rs finds it).
fn real_log() -> PathBuf {
    let rel = "shared/testdata/eventlogs/go-attestation/windows_gcp_shielded_vm.bin";
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        if dir.join(rel).is_file() {
            return dir.join(rel);
        }
        if !dir.pop() {
            return PathBuf::from("/work").join(rel);
        }
    }
}

/// A fixture with a VHD, an ACM, a policy and PCR values to print.
fn printing_fixture() -> Fixture {
    let f = Fixture::new();
    ok(f.run(["vhd", "create", "4M", "v.vhd"]));
    ok(f.run(["drtm", "synth-acm", "-o", "acm"]));
    ok(f.run([
        "drtm",
        "policy-default",
        "--tboot-version",
        "1.10.5",
        "-o",
        "pol",
    ]));
    let n = "00".repeat(32);
    std::fs::write(
        f.path().join("pcrs.json"),
        format!("{{\"sha256\": {{\"0\": \"{n}\"}}}}"),
    )
    .unwrap();
    f
}

/// Every kind of command that prints a report on stdout.
fn printing_commands() -> Vec<Vec<String>> {
    let log = real_log().display().to_string();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        s(&["log", "show", &log]),
        s(&["log", "replay", &log]),
        s(&["--json", "log", "replay", &log]),
        s(&["vhd", "info", "v.vhd"]),
        s(&["vhd", "check", "v.vhd"]),
        s(&["fs", "ls", "rootfs", "/etc"]),
        s(&["fs", "cat", "rootfs", "/etc/inittab"]),
        s(&["drtm", "acm", "acm"]),
        s(&["drtm", "policy-show", "pol"]),
        s(&["drtm", "mlehash", "/boot/tboot.gz"]),
        s(&[
            "policy",
            "pcr",
            "--pcrs",
            "pcrs.json",
            "--select",
            "sha256:0",
        ]),
        s(&["completions", "bash"]),
        s(&["image", "build", "spec.toml", "-o", "img"]),
        s(&["build", "spec.toml", "-o", "bld"]),
    ]
}

#[test]
fn a_closed_pipe_ends_quietly_in_every_command() {
    let f = printing_fixture();
    for cmd in printing_commands() {
        let mut c = Command::new(BIN)
            .args(&cmd)
            .current_dir(f.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before reading anything, as `head` does.
        drop(c.stdout.take());
        let o = c.wait_with_output().unwrap();
        let e = err(&o);
        assert!(e.is_empty(), "{cmd:?} said: {e}");
        assert!(
            o.status.success() || o.status.signal() == Some(libc::SIGPIPE),
            "{cmd:?}: {:?}",
            o.status
        );
    }
    // The builds were done before their reports were cut short.
    for b in ["img", "bld"] {
        assert!(f.path().join(b).join("svc.vhd").is_file(), "{b}");
    }
}

#[test]
fn a_full_stdout_is_exit_3_with_a_message_in_every_command() {
    let f = printing_fixture();
    for cmd in printing_commands() {
        let o = Command::new(BIN)
            .args(&cmd)
            .current_dir(f.path())
            .stdout(
                std::fs::File::options()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            )
            .output()
            .unwrap();
        let e = err(&o);
        assert_eq!(o.status.code(), Some(3), "{cmd:?}: {e}");
        assert!(
            e.contains("writing to standard output") && e.contains("No space left"),
            "{cmd:?}: {e}"
        );
        assert!(!e.contains("panicked"), "{cmd:?}: {e}");
    }
    // `build` committed its bundle before the report failed.
    let m = std::fs::read_to_string(f.path().join("bld/.measured/steps.json")).unwrap();
    assert!(m.contains("\"image\""));
}

/// A tmpfs of `size` mounted at `dir` for the test's life.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs (the tests run as root)");
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Bytes no writer can skip as zeros.
fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8 | 1
        })
        .collect()
}

#[test]
fn a_full_disk_while_writing_output_is_exit_3_and_leaves_nothing() {
    let f = Fixture::new();
    let p = f.path();
    std::fs::write(p.join("raw.img"), noise(4 << 20)).unwrap();
    std::fs::write(p.join("rootfs/big"), noise(2 << 20)).unwrap();
    let full = p.join("full");
    let _m = Tmpfs::mount(&full, "512k");
    for cmd in [
        vec!["vhd", "convert", "raw.img", "full/x.vhd"],
        vec!["vhd", "convert", "raw.img", "full/x.raw", "--to", "raw"],
        vec!["fs", "build", "rootfs", "full/x.ext4"],
        vec!["image", "build", "spec.toml", "-o", "full/img"],
        vec!["build", "spec.toml", "-o", "full/bld"],
    ] {
        let o = f.run(&cmd);
        let e = err(&o);
        assert_eq!(o.status.code(), Some(3), "{cmd:?}: {e}");
        assert!(e.contains("No space left on device"), "{cmd:?}: {e}");
        // Not blamed on the spec.
        assert!(!e.contains("spec.toml:"), "{cmd:?}: {e}");
        // Nothing at all, not even the run's lock file.
        let left: Vec<String> = names(&full);
        assert!(left.is_empty(), "{cmd:?} left {left:?}");
    }
}

#[test]
fn an_unreadable_input_is_exit_2() {
    let f = printing_fixture();
    let p = f.path();
    std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let secret = p.join("secret");
    std::fs::copy(p.join("v.vhd"), &secret).unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    for cmd in [
        vec!["log", "show", "secret"],
        vec!["vhd", "info", "secret"],
        vec!["vhd", "convert", "secret", "/tmp/never-written.raw"],
        vec!["fs", "ls", "secret", "/"],
        vec!["drtm", "acm", "secret"],
    ] {
        // Root reads anything: run as nobody.
        let o = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
            .args(&cmd)
            .current_dir(p)
            .output()
            .unwrap();
        let e = err(&o);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {e}");
        assert!(
            e.contains("Permission denied") && e.contains("secret"),
            "{cmd:?}: {e}"
        );
    }
}

#[test]
fn spec_errors_name_the_field_at_fault() {
    let f = Fixture::new();
    for (key, value, line) in [
        ("uuid", "\"nope\"", 6),
        ("uuid", "\"zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz\"", 6),
        ("vcpus", "100000", 6),
        ("memory_mib", "4000000000", 6),
        ("name", "\".\"", 1),
    ] {
        let spec = f.spec_with("bad.toml", &[(key, value)]);
        for cmd in [
            vec![
                "image".into(),
                "build".into(),
                spec.clone().into_os_string(),
                "-o".into(),
                "img".into(),
            ],
            vec![
                "build".into(),
                spec.clone().into_os_string(),
                "-o".into(),
                "bld".into(),
            ],
        ] {
            let o = f.run(&cmd);
            let e = err(&o);
            assert_eq!(o.status.code(), Some(2), "{key}: {e}");
            assert!(e.contains(&format!("`{key}`")), "{key}: {e}");
            assert!(
                !e.contains("disk_size_mib"),
                "{key} blamed on disk_size_mib: {e}"
            );
            if cmd[0] == "build" {
                assert!(e.contains(&format!("bad.toml:{line}:")), "{key}: {e}");
            }
            assert!(!f.path().join("img").exists() && !f.path().join("bld").exists());
        }
    }
    // The same through a flag.
    let o = f.run([
        "image",
        "build",
        "spec.toml",
        "--vcpus",
        "100000",
        "-o",
        "img",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("`vcpus`"), "{}", err(&o));
}

#[test]
fn an_invalid_source_date_epoch_is_refused_by_every_command_that_reads_it() {
    let f = Fixture::new();
    std::fs::write(f.path().join("raw.img"), vec![1u8; 1 << 20]).unwrap();
    for bad in ["yesterday", "-1", "1.5", "", " 17", "1e9", "99999999999"] {
        for cmd in [
            vec!["build", "spec.toml", "-o", "bld"],
            vec!["image", "build", "spec.toml", "-o", "img"],
            vec!["fs", "build", "rootfs", "x.ext4"],
            vec!["vhd", "create", "4M", "c.vhd"],
            vec!["vhd", "convert", "raw.img", "v.vhd"],
        ] {
            let o = Command::new(BIN)
                .args(&cmd)
                .current_dir(f.path())
                .env("SOURCE_DATE_EPOCH", bad)
                .output()
                .unwrap();
            let e = err(&o);
            assert_eq!(o.status.code(), Some(2), "{bad:?} {cmd:?}: {e}");
            assert!(e.contains("SOURCE_DATE_EPOCH"), "{bad:?} {cmd:?}: {e}");
            let written = names(f.path());
            for x in ["bld", "img", "x.ext4", "c.vhd", "v.vhd"] {
                assert!(
                    !written.contains(&x.to_string()),
                    "{bad:?} {cmd:?} wrote {x}"
                );
            }
        }
    }
    // A valid one pins the VHD time: two creates are byte-identical.
    for out in ["a.vhd", "b.vhd"] {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        ok(f.run(["vhd", "create", "4M", out]));
    }
    assert_eq!(
        std::fs::read(f.path().join("a.vhd")).unwrap(),
        std::fs::read(f.path().join("b.vhd")).unwrap()
    );
}

/// Inputs for `drtm predict` (as tests/drtm.rs), with `profile` as given.
fn predict_inputs(d: &Path, extpol: &str) {
    std::fs::write(
        d.join("sinit.bin"),
        txt::synth::build_acm(&txt::synth::AcmSpec::default()),
    )
    .unwrap();
    std::fs::write(d.join("vmlinuz"), b"kernel".repeat(10_000)).unwrap();
    let s1 = hex::encode(tcg::HashAlg::Sha1.digest(b"nv"));
    let s2 = hex::encode(tcg::HashAlg::Sha256.digest(b"nv"));
    let profile = format!(
        "tpm = \"2.0\"\nbanks = [\"sha1\", \"sha256\"]\nextpol = \"{extpol}\"\nscrtm_status = 1\n\
         biosac_reg_data = \"{}\"\n[nv_info_digests]\nsha1 = \"{s1}\"\nsha256 = \"{s2}\"\n\
         [sinit_pubkey_digests]\nsha1 = \"{s1}\"\nsha256 = \"{s2}\"\n",
        "00".repeat(32)
    );
    std::fs::write(d.join("profile.toml"), profile).unwrap();
}

#[test]
fn drtm_predict_errors_name_the_file() {
    let f = Fixture::new();
    let d = f.path();
    predict_inputs(d, "embedded");
    std::fs::write(d.join("junk"), noise(70_000)).unwrap();
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    gz.extend(noise(5000));
    std::fs::write(d.join("broken.gz"), gz).unwrap();
    std::fs::write(d.join("sha384.toml"), {
        let t = std::fs::read_to_string(d.join("profile.toml")).unwrap();
        t.replace("\"embedded\"", "\"sha384\"")
    })
    .unwrap();
    let base = |profile: &str, acm: &str, tboot: &str, policy: &str, module: &str| {
        vec![
            "drtm".to_string(),
            "predict".into(),
            "--profile".into(),
            profile.into(),
            "--acm".into(),
            acm.into(),
            "--tboot".into(),
            tboot.into(),
            // The example profile's tboot ran extpol=embedded.
            "--tboot-cmdline".into(),
            "extpol=embedded".into(),
            "--policy".into(),
            policy.into(),
            "--module".into(),
            module.into(),
        ]
    };
    ok(f.run(base(
        "profile.toml",
        "sinit.bin",
        "/boot/tboot.gz",
        "default",
        "vmlinuz",
    )));
    for (cmd, file) in [
        (
            base(
                "profile.toml",
                "junk",
                "/boot/tboot.gz",
                "default",
                "vmlinuz",
            ),
            "junk",
        ),
        (
            base("profile.toml", "sinit.bin", "junk", "default", "vmlinuz"),
            "junk",
        ),
        (
            base(
                "profile.toml",
                "sinit.bin",
                "/boot/tboot.gz",
                "junk",
                "vmlinuz",
            ),
            "junk",
        ),
        (
            base(
                "profile.toml",
                "sinit.bin",
                "/boot/tboot.gz",
                "default",
                "broken.gz",
            ),
            "broken.gz",
        ),
        (
            base(
                "sha384.toml",
                "sinit.bin",
                "/boot/tboot.gz",
                "default",
                "vmlinuz",
            ),
            "sha384.toml",
        ),
    ] {
        let o = f.run(&cmd);
        let e = err(&o);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {e}");
        assert!(e.contains(file), "{cmd:?} does not name {file}: {e}");
    }
}

#[test]
fn an_empty_or_eventless_txt_log_is_not_a_log() {
    let f = Fixture::new();
    let d = f.path();
    std::fs::write(d.join("empty.bin"), b"").unwrap();
    std::fs::write(d.join("zeros.bin"), vec![0u8; 4096]).unwrap();
    predict_inputs(d, "embedded");
    let o = ok(f.run([
        "--json",
        "drtm",
        "predict",
        "--profile",
        "profile.toml",
        "--acm",
        "sinit.bin",
        "--tboot",
        "/boot/tboot.gz",
        "--tboot-cmdline",
        "extpol=embedded",
        "--module",
        "vmlinuz",
    ]));
    std::fs::write(d.join("pred.json"), &o.stdout).unwrap();
    for log in ["empty.bin", "zeros.bin"] {
        for cmd in [
            vec!["drtm", "replay", log],
            vec!["drtm", "capture", log, "-o", "cap.toml"],
            vec!["drtm", "diff", "pred.json", log],
        ] {
            let o = f.run(&cmd);
            let e = err(&o);
            assert_eq!(o.status.code(), Some(2), "{cmd:?}: {e}");
            assert!(
                e.contains(log) && (e.contains("empty") || e.contains("no events")),
                "{cmd:?}: {e}"
            );
            assert!(!d.join("cap.toml").exists());
        }
    }
}
