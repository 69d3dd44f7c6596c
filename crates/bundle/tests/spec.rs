//! Build specs: the `[launch]` and `[policy]` sections, and one clear error
//! with the spec line for each kind of bad spec.

use std::path::Path;

use bundle::spec::{BuildSpec, ModuleSource, PcrSelection, SignKey, SpecError, VlPolicy};

/// A minimal bzImage: `HdrS`, protocol 2.15, a version string.
fn fake_kernel() -> Vec<u8> {
    let mut b = vec![0u8; 0x400];
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    b[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
    let v = b"6.1.0-test (t@t) #1\0";
    b[0x300..0x300 + v.len()].copy_from_slice(v);
    b
}

struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path();
        std::fs::create_dir(p.join("rootfs")).unwrap();
        std::fs::write(p.join("bzImage"), fake_kernel()).unwrap();
        for f in ["platform.toml", "sinit.bin", "tboot.gz", "xen.gz"] {
            std::fs::write(p.join(f), f).unwrap();
        }
        Dir { tmp }
    }
    fn path(&self) -> &Path {
        self.tmp.path()
    }
    fn load(&self, text: &str) -> Result<BuildSpec, SpecError> {
        let p = self.path().join("spec.toml");
        std::fs::write(&p, text).unwrap();
        BuildSpec::load(&p)
    }
    fn err_line(&self, text: &str) -> (usize, String) {
        match self.load(text).unwrap_err() {
            SpecError::At { line, msg, path } => {
                assert_eq!(path, self.path().join("spec.toml"));
                (line, msg)
            }
            e => panic!("expected an error at a line, got {e}"),
        }
    }
}

const IMAGE: &str =
    "name = \"svc\"\nrootfs = \"rootfs\"\nkernel = \"bzImage\"\ndisk_size_mib = 64\n";
const LAUNCH: &str = "
[launch]
platform = \"platform.toml\"
sinit = \"sinit.bin\"
tboot = \"tboot.gz\"
tboot_cmdline = \"logging=serial\"

[[launch.modules]]
file = \"bundle:kernel\"
cmdline = \"console=hvc0\"

[[launch.modules]]
file = \"xen.gz\"
decompress = false
";

#[test]
fn full_spec_parses_with_paths_relative_to_the_spec() {
    let d = Dir::new();
    let s = d
        .load(&format!(
            "{IMAGE}{LAUNCH}\n[policy]\npcrs = \"sha1:17+sha256:17,18\"\n"
        ))
        .unwrap();
    assert_eq!(s.image.kernel, d.path().join("bzImage"));
    let l = s.launch.unwrap();
    assert_eq!(l.tboot.value, d.path().join("tboot.gz"));
    assert_eq!(l.tboot.line, 9);
    assert_eq!(l.policy.value, VlPolicy::Default);
    assert_eq!(l.modules.len(), 2);
    assert_eq!(l.modules[0].value.source, ModuleSource::BundleKernel);
    assert_eq!(l.modules[0].value.cmdline, "console=hvc0");
    assert!(l.modules[0].value.decompress);
    assert_eq!(
        l.modules[1].value.source,
        ModuleSource::File(d.path().join("xen.gz"))
    );
    assert!(!l.modules[1].value.decompress);
    assert_eq!(s.pcrs.to_string(), "sha1:17+sha256:17,18");
}

#[test]
fn policy_defaults_to_sha256_17_18_19() {
    let d = Dir::new();
    let s = d.load(IMAGE).unwrap();
    assert!(s.launch.is_none());
    assert_eq!(s.pcrs, PcrSelection::default());
    assert_eq!(s.pcrs.to_string(), "sha256:17,18,19");
}

#[test]
fn unknown_key_in_launch_names_key_and_line() {
    let d = Dir::new();
    let (line, msg) = d.err_line(&format!("{IMAGE}{LAUNCH}tboot_cmdlin = \"x\"\n"));
    assert_eq!(line, 19, "{msg}");
    assert!(msg.contains("tboot_cmdlin"), "{msg}");
}

#[test]
fn unknown_top_level_key_names_key_and_line() {
    let d = Dir::new();
    let (line, msg) = d.err_line(&format!("{IMAGE}memroy_mib = 3\n{LAUNCH}"));
    assert_eq!(line, 5, "{msg}");
    assert!(msg.contains("memroy_mib"), "{msg}");
}

#[test]
fn unknown_key_in_policy_names_line() {
    let d = Dir::new();
    let (line, msg) = d.err_line(&format!("{IMAGE}\n[policy]\npcr = \"sha256:17\"\n"));
    assert_eq!(line, 7, "{msg}");
    assert!(msg.contains("pcr"), "{msg}");
}

#[test]
fn missing_launch_file_names_it_and_its_line() {
    let d = Dir::new();
    std::fs::remove_file(d.path().join("sinit.bin")).unwrap();
    let (line, msg) = d.err_line(&format!("{IMAGE}{LAUNCH}"));
    assert_eq!(line, 8, "{msg}");
    assert!(
        msg.contains("launch.sinit") && msg.contains("sinit.bin"),
        "{msg}"
    );
}

#[test]
fn missing_module_file_names_its_line() {
    let d = Dir::new();
    std::fs::remove_file(d.path().join("xen.gz")).unwrap();
    let (line, msg) = d.err_line(&format!("{IMAGE}{LAUNCH}"));
    assert_eq!(line, 17, "{msg}");
    assert!(msg.contains("xen.gz"), "{msg}");
}

#[test]
fn missing_rootfs_names_its_line() {
    let d = Dir::new();
    std::fs::remove_dir(d.path().join("rootfs")).unwrap();
    let (line, msg) = d.err_line(IMAGE);
    assert_eq!(line, 2, "{msg}");
    assert!(msg.contains("rootfs"), "{msg}");
}

#[test]
fn kernel_that_is_not_a_kernel_names_its_line() {
    let d = Dir::new();
    std::fs::write(d.path().join("bzImage"), vec![b'x'; 4096]).unwrap();
    let (line, msg) = d.err_line(IMAGE);
    assert_eq!(line, 3, "{msg}");
    assert!(msg.contains("HdrS"), "{msg}");
}

#[test]
fn unknown_bundle_reference_names_its_line() {
    let d = Dir::new();
    let text = format!("{IMAGE}{LAUNCH}").replace("bundle:kernel", "bundle:hypervisor");
    let (line, msg) = d.err_line(&text);
    assert_eq!(line, 13, "{msg}");
    assert!(msg.contains("bundle:hypervisor"), "{msg}");
}

#[test]
fn bad_pcr_selection_names_its_line() {
    let d = Dir::new();
    let (line, msg) = d.err_line(&format!("{IMAGE}[policy]\npcrs = \"sha256:17,99\"\n"));
    assert_eq!(line, 6, "{msg}");
    assert!(msg.contains("99"), "{msg}");
    let (_, msg) = d.err_line(&format!("{IMAGE}[policy]\npcrs = \"md5:17\"\n"));
    assert!(msg.contains("md5"), "{msg}");
}

#[test]
fn empty_pcr_selection_is_refused_with_its_line() {
    let d = Dir::new();
    for sel in ["", "sha256:", "sha1:+sha256:"] {
        let (line, msg) = d.err_line(&format!("{IMAGE}[policy]\npcrs = \"{sel}\"\n"));
        assert_eq!(line, 6, "{msg}");
        assert!(msg.contains("selects no PCR"), "{sel:?}: {msg}");
    }
}

#[test]
fn launch_without_modules_is_an_error() {
    let d = Dir::new();
    let text = format!("{IMAGE}{LAUNCH}");
    let cut = text.find("[[launch.modules]]").unwrap();
    let (line, msg) = d.err_line(&text[..cut]);
    assert_eq!(line, 6, "{msg}");
    assert!(msg.contains("at least one module"), "{msg}");
}

#[test]
fn invalid_toml_names_its_line() {
    let d = Dir::new();
    let (line, msg) = d.err_line(&format!("{IMAGE}name = = 3\n"));
    assert_eq!(line, 5, "{msg}");
}

#[test]
fn signed_policy_keys_parse_relative_to_the_spec() {
    let d = Dir::new();
    std::fs::write(d.path().join("release.pem"), "not read by the spec").unwrap();
    std::fs::create_dir(d.path().join("v1")).unwrap();
    std::fs::write(d.path().join("v1/pcrs.json"), "{}").unwrap();
    std::fs::write(d.path().join("v0.json"), "{}").unwrap();
    let s = d
        .load(&format!(
            "{IMAGE}{LAUNCH}\n[policy]\nsign_key = \"release.pem\"\npolicy_ref = \"0a0B\"\nalso_approve = [\"v1\", \"v0.json\"]\n"
        ))
        .unwrap();
    let sign = s.sign.unwrap();
    assert_eq!(sign.key.value, SignKey::File(d.path().join("release.pem")));
    assert_eq!(sign.key.line, 21);
    assert_eq!(sign.policy_ref, [0x0a, 0x0b]);
    let also: Vec<_> = sign.also_approve.iter().map(|a| a.value.clone()).collect();
    assert_eq!(
        also,
        [
            ("v1".to_string(), d.path().join("v1/pcrs.json")),
            ("v0.json".to_string(), d.path().join("v0.json")),
        ]
    );
    let s = d
        .load(&format!(
            "{IMAGE}{LAUNCH}\n[policy]\nsign_key = \"tpm:0x81000010\"\n"
        ))
        .unwrap();
    assert_eq!(s.sign.unwrap().key.value, SignKey::Tpm("0x81000010".into()));
    assert!(d.load(&format!("{IMAGE}{LAUNCH}")).unwrap().sign.is_none());
}

#[test]
fn bad_signed_policy_keys_name_their_line() {
    let d = Dir::new();
    std::fs::write(d.path().join("k.pem"), "").unwrap();
    let p = "\n[policy]\n";
    for (text, line, want) in [
        (
            format!("{IMAGE}{LAUNCH}{p}sign_key = \"nope.pem\"\n"),
            21,
            "nope.pem",
        ),
        (
            format!("{IMAGE}{LAUNCH}{p}sign_key = \"tpm:\"\n"),
            21,
            "persistent handle",
        ),
        (
            format!("{IMAGE}{p}sign_key = \"k.pem\"\n"),
            7,
            "no [launch]",
        ),
        (
            format!("{IMAGE}{LAUNCH}{p}policy_ref = \"00\"\n"),
            21,
            "sign_key",
        ),
        (
            format!("{IMAGE}{LAUNCH}{p}sign_key = \"k.pem\"\npolicy_ref = \"xyz\"\n"),
            22,
            "not hex",
        ),
        (
            format!(
                "{IMAGE}{LAUNCH}{p}sign_key = \"k.pem\"\npolicy_ref = \"{}\"\n",
                "00".repeat(65)
            ),
            22,
            "at most 64",
        ),
        (
            format!("{IMAGE}{LAUNCH}{p}sign_key = \"k.pem\"\nalso_approve = [\"gone\"]\n"),
            22,
            "gone",
        ),
    ] {
        let (l, msg) = d.err_line(&text);
        assert_eq!(l, line, "{msg}");
        assert!(msg.contains(want), "{msg}");
    }
}
