//! `measured image build` and `measured vhd convert` killed with SIGKILL at
//! many points: the previous output stays whole (byte for byte), or the
//! complete new one is in place; and the next run on the same output
//! removes the temporaries the killed ones left.

mod safety_common;
use safety_common::*;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bytes from `seed` that no writer can skip as zeros.
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8 | 1
        })
        .collect()
}

/// Run `args` to completion in `dir`.
fn run(dir: &Path, args: &[&str]) {
    let o = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(o.status.success(), "{args:?}: {}", err(&o));
}

/// Start `args`, kill it after `delay`; true when it finished first.
fn run_killed(dir: &Path, args: &[&str], delay: Duration) -> bool {
    let mut c = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = c.kill();
    c.wait().unwrap().success()
}

/// How long `args` takes, uninterrupted.
fn time(dir: &Path, args: &[&str]) -> Duration {
    let t = Instant::now();
    run(dir, args);
    t.elapsed()
}

/// Kill points spread over a run of length `t`, from the start to past
/// its end.
fn delays(t: Duration) -> Vec<Duration> {
    (0..14).map(|i| t * i / 12).collect()
}

fn temporaries(dir: &Path, prefix: &str) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect()
}

#[test]
fn vhd_convert_killed_anywhere_keeps_the_previous_image_whole() {
    let f = Fixture::new();
    let d = f.path();
    let versions = [noise(1, 32 << 20), noise(2, 32 << 20)];
    // The complete output of each version, for comparison.
    let mut want = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        std::fs::write(d.join("raw.img"), v).unwrap();
        run(d, &["vhd", "convert", "raw.img", &format!("ref{i}.vhd")]);
        want.push(std::fs::read(d.join(format!("ref{i}.vhd"))).unwrap());
    }
    let t = time(d, &["vhd", "convert", "raw.img", "out.vhd"]);
    let mut current = 1;
    let mut interrupted = 0;
    for (round, delay) in delays(t).into_iter().enumerate() {
        let next = round % 2;
        std::fs::write(d.join("raw.img"), &versions[next]).unwrap();
        let finished = run_killed(d, &["vhd", "convert", "raw.img", "out.vhd"], delay);
        let now = std::fs::read(d.join("out.vhd")).unwrap();
        assert!(
            now == want[current] || now == want[next],
            "killed after {delay:?}: out.vhd is neither the previous nor the new image"
        );
        if finished {
            assert!(now == want[next], "a finished convert is in place");
        }
        if !temporaries(d, ".out.vhd.tmp-").is_empty() {
            interrupted += 1;
        }
        current = if now == want[next] { next } else { current };
    }
    assert!(
        interrupted > 0,
        "no kill landed while the image was being written"
    );
    // The next run removes what the killed ones left.
    run(d, &["vhd", "convert", "raw.img", "out.vhd"]);
    assert_eq!(temporaries(d, ".out.vhd.tmp-"), Vec::<String>::new());
}

#[test]
fn image_build_killed_anywhere_keeps_the_previous_bundle_whole() {
    let f = Fixture::new();
    let d = f.path();
    std::fs::write(
        d.join("spec.toml"),
        SPEC.replace("disk_size_mib = 16", "disk_size_mib = 64"),
    )
    .unwrap();
    let versions = [noise(3, 16 << 20), noise(4, 16 << 20)];
    let mut want = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        std::fs::write(d.join("rootfs/big"), v).unwrap();
        let out = format!("ref{i}");
        run(d, &["image", "build", "spec.toml", "-o", &out]);
        want.push(snapshot(&d.join(out)));
    }
    assert_ne!(want[0], want[1]);
    let t = time(d, &["image", "build", "spec.toml", "-o", "out"]);
    let mut current = 1;
    let mut interrupted = 0;
    for (round, delay) in delays(t).into_iter().enumerate() {
        let next = round % 2;
        std::fs::write(d.join("rootfs/big"), &versions[next]).unwrap();
        let finished = run_killed(d, &["image", "build", "spec.toml", "-o", "out"], delay);
        let now = snapshot(&d.join("out"));
        assert!(
            now == want[current] || now == want[next],
            "killed after {delay:?}: the bundle is neither the previous nor the new one"
        );
        if finished {
            assert!(now == want[next], "a finished build is in place");
        }
        if !temporaries(d, ".out.staging-").is_empty() {
            interrupted += 1;
        }
        current = if now == want[next] { next } else { current };
    }
    assert!(
        interrupted > 0,
        "no kill landed while the bundle was being built"
    );
    run(d, &["image", "build", "spec.toml", "-o", "out"]);
    assert_eq!(temporaries(d, ".out.staging-"), Vec::<String>::new());
}
