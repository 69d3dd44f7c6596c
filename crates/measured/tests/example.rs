//! The README's first command: the shipped example spec builds a complete
//! bundle, and the README describes every file in it.

use std::path::Path;
use std::process::Command;

#[test]
fn shipped_example_builds_the_bundle_the_readme_describes() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let prep = Command::new("bash")
        .arg(repo.join("scripts/example-inputs.sh"))
        .output()
        .expect("running scripts/example-inputs.sh");
    assert!(
        prep.status.success(),
        "example inputs: {}",
        String::from_utf8_lossy(&prep.stderr)
    );
    let out = tempfile::tempdir().unwrap();
    let build = |bundle: &Path| {
        let r = Command::new(env!("CARGO_BIN_EXE_measured"))
            .current_dir(&repo)
            .args(["--json", "build", "examples/service-vm.toml", "--out"])
            .arg(bundle)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    };
    let bundle = out.path().join("svc");
    build(&bundle);
    // A second clean build elsewhere is byte-identical, file by file.
    let again = out.path().join("again");
    build(&again);
    let files = |dir: &Path| {
        let mut v: Vec<_> = walk(dir)
            .into_iter()
            .map(|p| p.strip_prefix(dir).unwrap().to_path_buf())
            .collect();
        v.sort();
        v
    };
    assert_eq!(files(&bundle), files(&again));
    for f in files(&bundle) {
        assert!(
            std::fs::read(bundle.join(&f)).unwrap() == std::fs::read(again.join(&f)).unwrap(),
            "{f:?} differs between two clean builds"
        );
    }
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    for f in [
        "svc.vhd",
        "svc.cfg",
        "svc.xml",
        "openxt-create.sh",
        "service-svc.json",
        "pcrs.json",
        "txt-eventlog.bin",
        "bundle.json",
        "policy/policy.digest",
        "policy/pcr-values.bin",
        "policy/digest-at-release.sha1",
        "policy/keylime.json",
    ] {
        assert!(bundle.join(f).is_file(), "bundle lacks {f}");
        let name = Path::new(f).file_name().unwrap().to_str().unwrap();
        let dir = Path::new(f).parent().and_then(|p| p.to_str()).unwrap_or("");
        assert!(
            readme.contains(name) || (!dir.is_empty() && readme.contains(&format!("{dir}/"))),
            "README does not describe {f}"
        );
    }
    let pcrs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("pcrs.json")).unwrap()).unwrap();
    let text = pcrs.to_string();
    assert!(
        text.contains("sha256") && text.contains("17"),
        "pcrs.json: {text:.200}"
    );
    assert_eq!(
        std::fs::read(bundle.join("policy/policy.digest"))
            .unwrap()
            .len(),
        32
    );
    // The disk is a VHD qemu-img accepts.
    let info = Command::new("qemu-img")
        .args(["info", "-f", "vpc"])
        .arg(bundle.join("svc.vhd"))
        .output()
        .expect("qemu-img");
    assert!(info.status.success());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
