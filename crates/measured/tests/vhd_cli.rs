//! `measured vhd` speaks qemu-img's language where it can: `info --json` uses
//! qemu-img's key names with the values qemu-img reports, and `create` takes
//! qemu-img's argument order and flags.

mod vhd_common;
use vhd_common::*;

use std::process::Command;

fn json(out: std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every number in `v` is an integer a JSON reader holds exactly.
fn all_numbers_json_safe(v: &serde_json::Value, at: &str) {
    match v {
        serde_json::Value::Number(n) => assert!(
            n.as_u64().is_some_and(|x| x < 1 << 53),
            "{at} = {n} is not a JSON-safe integer"
        ),
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                all_numbers_json_safe(x, &format!("{at}.{k}"));
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                all_numbers_json_safe(x, &format!("{at}[{i}]"));
            }
        }
        _ => {}
    }
}

#[test]
fn info_json_has_qemu_img_keys_with_qemu_img_values() {
    let d = scratch();
    for (profile, fixed, creator) in [
        ("tap", false, "tap"),
        ("qemu", false, "qemu"),
        ("fixed", false, "win"),
        ("tap", true, "tap"),
    ] {
        // Some data, so actual-size is more than the metadata.
        let raw = d.path().join("raw");
        sparse_raw(
            &raw,
            300 << 20,
            &[(0, 4096), (5 << 20, 3 << 20), ((300 << 20) - 512, 512)],
        );
        let img = d.path().join(format!("{profile}-{fixed}.vhd"));
        let mut c = measured();
        c.args(["vhd", "convert"])
            .arg(&raw)
            .arg(&img)
            .args(["--profile", profile]);
        if fixed {
            c.arg("--fixed");
        }
        ok(&mut c);
        let ours = json(ok(measured().args(["--json", "vhd", "info"]).arg(&img)));
        let theirs = json(ok(Command::new("qemu-img")
            .args(["info", "-f", "vpc", "--output=json"])
            .arg(&img)));
        for key in [
            "format",
            "virtual-size",
            "actual-size",
            "cluster-size",
            "dirty-flag",
        ] {
            assert_eq!(ours[key], theirs[key], "{profile} fixed={fixed}: {key}");
        }
        assert_eq!(ours["filename"], img.display().to_string());
        assert_eq!(ours["vhd"]["creator-app"], creator, "{ours}");
        assert!(ours["vhd"]["creator-os"].is_string());
        all_numbers_json_safe(&ours, "info");
    }
}

#[test]
fn create_takes_qemu_img_order_and_flags() {
    let d = scratch();
    let p = |n: &str| d.path().join(n);
    let run = |args: &[&std::ffi::OsStr]| {
        ok(measured().args(args).env("SOURCE_DATE_EPOCH", "1700000000"));
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    run(&[
        &os("vhd"),
        &os("create"),
        &os("100M"),
        p("ours.vhd").as_os_str(),
        &os("--profile"),
        &os("qemu"),
    ]);
    run(&[
        &os("vhd"),
        &os("create"),
        &os("-f"),
        &os("vpc"),
        p("qemu-order.vhd").as_os_str(),
        &os("100M"),
    ]);
    assert_eq!(
        std::fs::read(p("ours.vhd")).unwrap(),
        std::fs::read(p("qemu-order.vhd")).unwrap(),
        "-f vpc OUT SIZE is the qemu profile"
    );
    // The size qemu-img itself gives `create -f vpc X 100M`.
    ok(Command::new("qemu-img")
        .args(["create", "-q", "-f", "vpc"])
        .arg(p("ref.vhd"))
        .arg("100M"));
    assert_eq!(
        qemu_virtual_size(&p("qemu-order.vhd")),
        qemu_virtual_size(&p("ref.vhd"))
    );
    run(&[
        &os("vhd"),
        &os("create"),
        &os("--fixed"),
        &os("--profile"),
        &os("qemu"),
        &os("10M"),
        p("f1.vhd").as_os_str(),
    ]);
    run(&[
        &os("vhd"),
        &os("create"),
        &os("-f"),
        &os("vpc"),
        &os("-o"),
        &os("subformat=fixed"),
        p("f2.vhd").as_os_str(),
        &os("10M"),
    ]);
    assert_eq!(
        std::fs::read(p("f1.vhd")).unwrap(),
        std::fs::read(p("f2.vhd")).unwrap()
    );
    // What it cannot do, it says.
    for bad in [["-f", "qcow2"], ["-o", "force_size=on"]] {
        let o = measured()
            .args(["vhd", "create"])
            .args(bad)
            .arg(p("x.vhd"))
            .arg("1M")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        assert!(!p("x.vhd").exists());
    }
}
