//! The OpenEmbedded class `contrib/oe/measured-image.bbclass`: its shell
//! functions pass `bash -n` and `shellcheck`, its spec writer emits TOML
//! that says what the variables say, and every variable is documented.
//! (oe_bitbake.rs runs it under real bitbake.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn class_text() -> String {
    std::fs::read_to_string(repo().join("contrib/oe/measured-image.bbclass")).unwrap()
}

/// The class's shell functions (`name() {` ... `}` at column 0; python
/// functions are skipped), as (name, text).
fn shell_functions(class: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(String, String)> = None;
    for line in class.lines() {
        if let Some((_, body)) = cur.as_mut() {
            body.push_str(line);
            body.push('\n');
            if line == "}" {
                out.push(cur.take().unwrap());
            }
            continue;
        }
        if let Some(name) = line.strip_suffix("() {")
            && !name.starts_with("python")
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            cur = Some((name.to_string(), format!("{line}\n")));
        }
    }
    assert!(cur.is_none(), "unterminated shell function");
    out
}

/// Upper-case `${VAR}` references: bitbake expands them before the shell
/// runs; for the checkers they become shell variables set in a prologue.
fn bitbake_vars(text: &str) -> BTreeSet<String> {
    let mut vars = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        rest = &rest[i + 2..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if !name.is_empty() && rest[name.len()..].starts_with('}') {
            vars.insert(name);
        }
    }
    vars
}

/// A POSIX sh script: the bitbake variables given `values` (or a
/// placeholder), bitbake's log helpers, then the class's shell functions.
fn script(values: &[(&str, &str)]) -> String {
    let class = class_text();
    let funcs = shell_functions(&class);
    let mut s = String::from("#!/bin/sh\nset -e\n");
    for v in bitbake_vars(&funcs.iter().map(|f| f.1.as_str()).collect::<String>()) {
        let val = values
            .iter()
            .find(|(k, _)| *k == v)
            .map(|(_, x)| *x)
            .unwrap_or("/placeholder");
        s.push_str(&format!("{v}='{}'\n", val.replace('\'', "'\\''")));
    }
    s.push_str("bbfatal() { echo \"ERROR: $*\" >&2; exit 1; }\n");
    s.push_str("bbnote() { echo \"NOTE: $*\" >&2; }\n");
    for (_, f) in &funcs {
        s.push_str(f);
    }
    s
}

#[test]
fn class_is_an_image_type_with_its_shell_functions() {
    let class = class_text();
    let names: Vec<_> = shell_functions(&class).into_iter().map(|f| f.0).collect();
    for f in [
        "measured_image_cmd",
        "measured_write_spec",
        "measured_toml_kv",
    ] {
        assert!(names.contains(&f.to_string()), "{f} not in {names:?}");
    }
    // The OE image type conventions (checked under real bitbake in oe_bitbake.rs).
    for line in [
        "IMAGE_TYPES:append = \" measured\"",
        "IMAGE_CMD:measured = \"measured_image_cmd\"",
        "IMAGE_TYPEDEP:measured = \"${MEASURED_ROOTFS_TYPE}\"",
    ] {
        assert!(class.lines().any(|l| l == line), "{line} missing");
    }
    assert!(
        !class.contains("addtask"),
        "an image type adds no task of its own"
    );
}

#[test]
fn class_shell_passes_bash_n_and_shellcheck() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("measured-image.sh");
    std::fs::write(&path, script(&[])).unwrap();
    let out = Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // bitbake runs shell tasks with /bin/sh: check as POSIX sh.
    let out = Command::new("shellcheck")
        .args(["--shell=sh", "--severity=style"])
        .arg(&path)
        .output()
        .expect("shellcheck is installed (ci/install-oracles.sh)");
    assert!(
        out.status.success(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A minimal bzImage for the spec parser's kernel check.
fn fake_kernel() -> Vec<u8> {
    let mut b = vec![0u8; 0x400];
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    b[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
    let v = b"6.1.0-oe (t@t) #1\0";
    b[0x300..0x300 + v.len()].copy_from_slice(v);
    b
}

#[test]
fn spec_writer_output_is_a_valid_build_spec_with_awkward_values() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("spec.toml");
    let rootfs = tmp.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    let kernel = tmp.path().join("bzImage");
    std::fs::write(&kernel, fake_kernel()).unwrap();
    let platform = repo().join("examples/launch/platform.toml");
    let sinit = repo().join("examples/launch/sinit-synthetic.bin");
    let cmdline = r#"console=hvc0 root=/dev/xvda quiet x="a\b""#;
    let mut s = script(&[
        ("MEASURED_VM_NAME", "svc \"one\""),
        ("MEASURED_ROOTFS", rootfs.to_str().unwrap()),
        ("MEASURED_KERNEL", kernel.to_str().unwrap()),
        ("MEASURED_MODULES", ""),
        ("MEASURED_CMDLINE", cmdline),
        ("MEASURED_MEMORY", "128"),
        ("MEASURED_VCPUS", "2"),
        ("MEASURED_DISK_SIZE", "64"),
        ("MEASURED_DISK_FORMAT", "vhd-tap"),
        ("MEASURED_FS_TYPE", "ext3"),
        ("MEASURED_PLATFORM", platform.to_str().unwrap()),
        ("MEASURED_SINIT", sinit.to_str().unwrap()),
        ("MEASURED_TBOOT", "/boot/tboot.gz"),
        (
            "MEASURED_TBOOT_CMDLINE",
            "logging=serial,memory extpol=embedded",
        ),
        ("MEASURED_VL_POLICY", "default"),
        ("MEASURED_INITRAMFS_MODULE", "0"),
        ("MEASURED_PCRS", "sha256:17,18,19"),
        ("PN", "core-image-minimal"),
    ]);
    s.push_str(&format!("measured_write_spec '{}'\n", spec.display()));
    // dash, as bitbake's /bin/sh on Debian: its echo would mangle "\\".
    let out = Command::new("sh").arg("-c").arg(&s).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&spec).unwrap();
    // The awkward values survive the class's quoting exactly...
    let t: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(t["name"].as_str(), Some("svc \"one\""));
    assert_eq!(t["cmdline"].as_str(), Some(cmdline));
    assert_eq!(t["memory_mib"].as_integer(), Some(128));
    assert_eq!(t["disk_size_mib"].as_integer(), Some(64));
    assert!(t.get("modules").is_none(), "empty MODULES omitted");
    let l = t["launch"]
        .as_table()
        .expect("[launch] written when MEASURED_PLATFORM is set");
    assert_eq!(l["tboot"].as_str(), Some("/boot/tboot.gz"));
    let m = l["modules"].as_array().unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["cmdline"].as_str(), Some(cmdline));
    assert_eq!(t["policy"]["pcrs"].as_str(), Some("sha256:17,18,19"));
    // ...and the build refuses them by field before writing anything: a
    // quote cannot go into a file name or an xl.cfg string.
    let e = bundle::spec::BuildSpec::load(&spec)
        .unwrap_err()
        .to_string();
    assert!(e.contains("spec.toml:2:") && e.contains("`name`"), "{e}");
}

#[test]
fn every_class_variable_is_documented() {
    let class = class_text();
    let docs = std::fs::read_to_string(repo().join("docs/build.md")).unwrap();
    let mut n = 0;
    for line in class.lines() {
        if let Some((name, _)) = line.split_once(" ?= ") {
            n += 1;
            assert!(
                docs.contains(&format!("`{name}`")),
                "{name} is not documented in docs/build.md"
            );
        }
    }
    assert!(n >= 10, "found only {n} variables");
}
