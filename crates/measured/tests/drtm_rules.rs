//! Each rule of how tboot measures, or refuses, on real tboot binaries:
//! a prediction either does what that tboot does or exits 2 saying why,
//! never a normal-looking value for a launch tboot would halt, a bank
//! tboot or the SINIT does not extend, or an ACM tboot refuses. (The
//! per-release expectations themselves are in drtm_releases.rs.)

mod drtm_common;

use std::process::Command;

use drtm_common::{
    TPM12_DA, TPM12_LEGACY, debian_tboot, fails_with, measured, ok, predict, rhel_manifest, s,
    setup, sinit2, tboot_release, tpm2_profile,
};
use tcg::HashAlg;
use txt::synth::AcmSpec;

const SHA1: HashAlg = HashAlg::Sha1;
const SHA256: HashAlg = HashAlg::Sha256;
const SHA384: HashAlg = HashAlg::Sha384;
const SM3: HashAlg = HashAlg::Sm3_256;
const MODS: [&str; 2] = ["console=hvc0", ""];

fn tboot(release: &str) -> std::path::PathBuf {
    tboot_release(release).join("tboot.gz")
}

// Rule 1: the banks tboot extends itself.

#[test]
fn embedded_extends_only_tboots_own_algorithm_list() {
    // tpm.c tboot_alg_list: SHA-1, SHA-256 in 1.9.12; SHA-384/512 from 1.10.0.
    let banks = [SHA1, SHA256, SHA384];
    let l = setup(&tpm2_profile(&banks), &sinit2(&banks));
    fails_with(
        &predict(&l, &tboot("1.9.12"), "extpol=embedded", MODS, &[]),
        &[
            "sha384",
            "extpol=embedded extends only sha1, sha256",
            "--bank",
        ],
    );
    let p = ok(&predict(&l, &tboot("1.10.2"), "extpol=embedded", MODS, &[]));
    let policy = &p["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "tb_policy");
    assert!(policy.unwrap()["digests"]["sha384"].is_string());
}

#[test]
fn an_extpol_naming_a_bank_tboot_cannot_hash_is_refused() {
    // hash.c hash_buffer returns false for SM3 in every release.
    let l = setup(&tpm2_profile(&[SM3]), &sinit2(&[SM3]));
    fails_with(
        &predict(&l, &tboot("1.10.2"), "extpol=sm3", MODS, &[]),
        &["extpol=sm3", "tboot command line", "cannot compute sm3"],
    );
    // sha384 is a value only from 1.9.12 (cmdline.c get_tboot_extpol).
    let l = setup(&tpm2_profile(&[SHA384]), &sinit2(&[SHA384]));
    fails_with(
        &predict(&l, &tboot("1.9.11"), "extpol=sha384", MODS, &[]),
        &["extpol=sha384", "tboot 1.9.11 does not know this value"],
    );
    ok(&predict(&l, &tboot("1.9.12"), "extpol=sha384", MODS, &[]));
}

// Rule 2: tboot's command line is parsed, not only hashed.

#[test]
fn a_command_line_that_disagrees_with_the_profile_names_both_values() {
    let tb = tboot("1.9.12");
    let mut profile = tpm2_profile(&[SHA1, SHA256]);
    profile = profile.replacen("scrtm_status", "extpol = \"embedded\"\nscrtm_status", 1);
    let l = setup(&profile, &sinit2(&[SHA1, SHA256]));
    // No extpol on the command line: 1.9.12's default, sha256.
    fails_with(
        &predict(&l, &tb, "logging=serial", MODS, &[]),
        &["extpol = embedded", "sha256 (tboot default, tboot 1.9.12)"],
    );
    // Prefix matching as tboot's cmdline_parse does: "ext=" is extpol.
    let p = ok(&predict(&l, &tb, "ext=embedded", MODS, &[]));
    assert_eq!(p["launch"]["extpol"], "embedded");

    // force_tpm2_legacy_log=true against a profile whose log was agile.
    let profile = tpm2_profile(&[SHA1, SHA256]).replacen(
        "scrtm_status",
        "log_format = \"agile\"\nscrtm_status",
        1,
    );
    let l = setup(&profile, &sinit2(&[SHA1, SHA256]));
    let cmd = "extpol=embedded force_tpm2_legacy_log=true";
    fails_with(
        &predict(&l, &tboot("1.9.11"), cmd, MODS, &[]),
        &[
            "log_format = agile",
            "legacy (tboot 1.9.11, force_tpm2_legacy_log=true",
        ],
    );
    // 1.9.6 has no such option: the log stays agile.
    ok(&predict(&l, &tboot("1.9.6"), cmd, MODS, &[]));
}

#[test]
fn pcr_map_decides_the_tpm12_mapping_and_a_conflict_names_both() {
    let tb = tboot("1.9.12");
    let acm = AcmSpec {
        capabilities: 0x21,
        tpm_algs: vec![SHA1.id()],
        ..AcmSpec::default()
    };
    let profile = format!("{TPM12_DA}pcr_mapping = \"da\"\n");
    let l = setup(&profile, &acm);
    fails_with(
        &predict(&l, &tb, "logging=serial", MODS, &[]),
        &[
            "pcr_mapping = da",
            "legacy (tboot 1.9.12 with pcr_map=legacy from the tboot default",
        ],
    );
    let p = ok(&predict(&l, &tb, "logging=serial pcr_map=da", MODS, &[]));
    assert_eq!(p["launch"]["pcr_mapping"], "da");
}

#[test]
fn call_racm_and_measure_nv_launches_are_refused() {
    let l = setup(&tpm2_profile(&[SHA256]), &sinit2(&[SHA1, SHA256]));
    fails_with(
        &predict(&l, &tboot("1.10.2"), "call_racm=true", MODS, &[]),
        &["call_racm=true", "revocation ACM"],
    );
    // TPM 1.2: measure_nv extends the default policy's NV index (from 1.8.0).
    let acm = AcmSpec {
        capabilities: 0x1,
        tpm_algs: vec![SHA1.id()],
        ..AcmSpec::default()
    };
    let l = setup(TPM12_LEGACY, &acm);
    fails_with(
        &predict(&l, &tboot("1.9.12"), "measure_nv=true", MODS, &[]),
        &["measure_nv=true", "NV indices", "only system A has"],
    );
}

// Rule 3: the release, read from the image.

#[test]
fn the_release_is_read_from_the_images_version_string() {
    // Debian's 1.10.5 has the MLE header of 1.10.1; its string says 1.10.5.
    let profile = tpm2_profile(&[SHA256]).replacen(
        "scrtm_status",
        "tboot_version = \"1.10.1\"\nscrtm_status",
        1,
    );
    let l = setup(&profile, &sinit2(&[SHA1, SHA256]));
    let deb = debian_tboot().join("tboot.gz");
    fails_with(
        &predict(&l, &deb, "", MODS, &[]),
        &[
            "tboot_version = 1.10.1",
            "1.10.5 (the tboot image's version string)",
        ],
    );
}

// Rule 4: policies that stop the launch.

/// `tb_polgen --create` then `--add`s: the policy tboot would read from NV.
fn polgen(dir: &std::path::Path, kind: &str, adds: &[&[&str]]) -> String {
    let pol = dir.join(format!("{kind}.pol"));
    let run = |args: &[&str]| {
        let out = Command::new("tb_polgen")
            .args(args)
            .arg(&pol)
            .output()
            .unwrap();
        assert!(out.status.success(), "tb_polgen {args:?}");
    };
    run(&["--create", "--type", kind, "--alg", "sha256", "--ctrl", "1"]);
    for a in adds {
        let mut v = vec!["--add"];
        v.extend_from_slice(a);
        run(&v);
    }
    s(&pol).to_string()
}

#[test]
fn a_halt_policy_whose_hash_does_not_match_the_module_is_refused() {
    let tb = tboot("1.10.2");
    let l = setup(&tpm2_profile(&[SHA256]), &sinit2(&[SHA1, SHA256]));
    let kernel = l.p("vmlinuz");
    let entry0: &[&str] = &[
        "--num",
        "0",
        "--pcr",
        "none",
        "--hash",
        "image",
        "--cmdline",
        "console=hvc0",
        "--image",
        &kernel,
    ];
    let rest: &[&str] = &["--num", "any", "--pcr", "17", "--hash", "any"];
    let halt = polgen(&l.dir, "halt", &[entry0, rest]);
    let cont = polgen(&l.dir, "continue", &[entry0, rest]);
    // The kernel tb_polgen hashed: tboot verifies it and goes on.
    let p = ok(&predict(&l, &tb, "", MODS, &["--policy", &halt]));
    assert!(p["notes"].is_null(), "{}", p["notes"]);
    // Another kernel under the same policy: tboot halts.
    std::fs::write(&kernel, b"another kernel").unwrap();
    let err = fails_with(
        &predict(&l, &tb, "", MODS, &["--policy", &halt]),
        &[
            "tboot 1.10.2 halts",
            "module 0 (vmlinuz",
            "policy entry 0",
            "HALT",
        ],
    );
    assert!(err.contains("sha256 digest"), "{err}");
    // CONT_VERIFY_FAIL goes on after a failed verification, with a note.
    let p = ok(&predict(&l, &tb, "", MODS, &["--policy", &cont]));
    assert!(p["notes"][0].as_str().unwrap().contains("CONT_VERIFY_FAIL"));
    // extpol=embedded: tboot does not verify at all (policy.c verify_module).
    let p = ok(&predict(
        &l,
        &tb,
        "extpol=embedded",
        MODS,
        &["--policy", &halt],
    ));
    assert!(
        p["notes"][0]
            .as_str()
            .unwrap()
            .contains("does not check it")
    );
}

#[test]
fn a_module_without_a_policy_entry_continues_only_under_cont_non_fatal() {
    let tb = tboot("1.10.2");
    let l = setup(&tpm2_profile(&[SHA256]), &sinit2(&[SHA1, SHA256]));
    let only0: &[&str] = &["--num", "0", "--pcr", "17", "--hash", "any"];
    let nonfatal = polgen(&l.dir, "nonfatal", &[only0]);
    let p = ok(&predict(&l, &tb, "", MODS, &["--policy", &nonfatal]));
    let notes = p["notes"].to_string();
    assert!(
        notes.contains("module 1 (initrd) has no entry in the policy")
            && notes.contains("continues"),
        "{notes}"
    );
    // initrd is not measured: tb_policy, vmlinuz (module 0), vmlinuz (entry 0).
    let tb_events: Vec<&str> = p["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == 0x501)
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(tb_events, ["tb_policy", "tb_policy", "vmlinuz", "vmlinuz"]);
    for kind in ["continue", "halt"] {
        let pol = polgen(&l.dir, kind, &[only0]);
        fails_with(
            &predict(&l, &tb, "", MODS, &["--policy", &pol]),
            &["halts", "module 1 (initrd) has no entry in the policy"],
        );
    }
}

// Rule 5: the ACM and the banks it extends.

#[test]
fn an_acm_tboot_would_not_launch_is_refused() {
    let tb = tboot("1.10.2");
    let profile = tpm2_profile(&[SHA256]);
    let cases: [(AcmSpec, &[&str]); 4] = [
        (
            AcmSpec {
                chipset_acm_type: 0,
                ..sinit2(&[SHA1, SHA256])
            },
            &["chipset ACM type is 0x0 (a BIOS ACM)", "is_sinit_acmod"],
        ),
        (
            AcmSpec {
                chipset_acm_type: 9,
                ..sinit2(&[SHA1, SHA256])
            },
            &["a SINIT revocation ACM"],
        ),
        (
            AcmSpec {
                capabilities: 0x200,
                ..sinit2(&[SHA1, SHA256])
            },
            &["RLP wake-up", "no mechanism in common"],
        ),
        (
            AcmSpec {
                os_sinit_data_ver: 3,
                ..sinit2(&[SHA1, SHA256])
            },
            &["OsSinitData version 3 is older than 4"],
        ),
    ];
    for (acm, words) in cases {
        let l = setup(&profile, &acm);
        fails_with(&predict(&l, &tb, "", MODS, &[]), words);
    }
    // 64 KiB of padding past Size*4: accepted from 1.9.11, refused before.
    let l = setup(
        &profile,
        &AcmSpec {
            padding: 0x10000,
            ..sinit2(&[SHA1, SHA256])
        },
    );
    ok(&predict(&l, &tboot("1.9.11"), "extpol=sha256", MODS, &[]));
    fails_with(
        &predict(&l, &tboot("1.9.6"), "extpol=sha256", MODS, &[]),
        &["65536 bytes past its Size*4", "tboot 1.9.6"],
    );
}

#[test]
fn a_bank_the_sinit_does_not_list_is_refused_not_predicted() {
    // A Maximum Performance SINIT hashing SHA-1 only caps the SHA-256
    // bank; the MLE DG does not give the capped value.
    let l = setup(&tpm2_profile(&[SHA1, SHA256]), &sinit2(&[SHA1]));
    fails_with(
        &predict(&l, &tboot("1.10.2"), "extpol=embedded", MODS, &[]),
        &["sha256", "hashes only sha1", "capped values"],
    );
    ok(&predict(
        &l,
        &tboot("1.10.2"),
        "extpol=embedded",
        MODS,
        &["--bank", "sha1"],
    ));
    // A Maximum Agility SINIT (TPM info ext_policy 1) extends every bank.
    let l = setup(
        &tpm2_profile(&[SHA1, SHA256]),
        &AcmSpec {
            tpm_caps: 0x4d,
            ..sinit2(&[SHA1])
        },
    );
    ok(&predict(&l, &tboot("1.10.2"), "extpol=embedded", MODS, &[]));
}

// Rule 6: capture tells what it saw.

#[test]
fn a_profile_field_capture_could_not_read_is_refused_by_predict() {
    let tmp = tempfile::tempdir().unwrap();
    // The RHEL host's manifest without its NV_INFO_HASH events.
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rhel_manifest()).unwrap()).unwrap();
    let mut m = v.clone();
    for bank in ["SHA1", "SHA256"] {
        for list in m["pcr_manifest"]["pcr_event_log_map"][bank]
            .as_array_mut()
            .unwrap()
        {
            list["event_log"]
                .as_array_mut()
                .unwrap()
                .retain(|e| e["label"] != "NV_INFO_HASH");
        }
    }
    let man = tmp.path().join("no-nv.json");
    std::fs::write(&man, serde_json::to_vec(&m).unwrap()).unwrap();
    let profile = tmp.path().join("host.toml");
    ok(&measured(&[
        "--json",
        "drtm",
        "capture",
        s(&man),
        "-o",
        s(&profile),
    ]));
    let text = std::fs::read_to_string(&profile).unwrap();
    assert!(
        text.contains("nv_info_digests = \"no NV_INFO_HASH event in the log"),
        "{text}"
    );
    let l = setup(&text, &sinit2(&[SHA1, SHA256]));
    fails_with(
        &predict(&l, &tboot("1.9.6"), "extpol=embedded", MODS, &[]),
        &[
            "nv_info_digests (no NV_INFO_HASH event",
            "not captured from system A",
        ],
    );
}

// extpol=agile: the TPM hashes, in every bank it has.

#[test]
fn agile_hashes_in_every_tpm_bank_with_each_releases_sequence_quirks() {
    // A SINIT supporting both extend policies (TPM info bits 1:0 = 3):
    // tboot's OsSinitData.Flags 0 asks for Maximum Agility (txt.c 1.9.11
    // :711), so the SINIT extends every bank; tboot's TPM-computed hashes
    // cover every bank too (SHA-384 although tboot_alg_list lacks it).
    let banks = [SHA1, SHA256, SHA384];
    let both = AcmSpec {
        tpm_caps: 0x4f,
        ..sinit2(&[SHA1, SHA256])
    };
    let l = setup(&tpm2_profile(&banks), &both);
    let p = ok(&predict(&l, &tboot("1.9.11"), "extpol=agile", MODS, &[]));
    assert_eq!(p["launch"]["maximum_agility"], true);
    let vmlinuz = p["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "vmlinuz")
        .unwrap();
    for b in banks {
        let mut buf = b.digest(b"console=hvc0");
        buf.extend(b.digest(&std::fs::read(l.p("vmlinuz")).unwrap()));
        assert_eq!(
            vmlinuz["digests"][b.name()],
            hex::encode(b.digest(&buf)),
            "{b}"
        );
    }
    // Maximum Performance only: the SINIT caps SHA-384, refused.
    let l = setup(&tpm2_profile(&banks), &sinit2(&[SHA1, SHA256]));
    fails_with(
        &predict(&l, &tboot("1.9.11"), "extpol=agile", MODS, &[]),
        &["sha384", "Maximum Performance"],
    );

    // Before 1.9.7 (tpm_20.c 1.9.6 :1998-2074) an empty command line fails
    // to hash and the module's digest is its image's alone ...
    let l = setup(&tpm2_profile(&[SHA256]), &both);
    let p = ok(&predict(&l, &tboot("1.9.6"), "extpol=agile", MODS, &[]));
    let initrd = p["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "initrd")
        .unwrap();
    let image = std::fs::read(l.p("initrd")).unwrap();
    assert_eq!(
        initrd["digests"]["sha256"],
        hex::encode(SHA256.digest(&image))
    );
    // ... while 1.9.7 on hash it as an empty sequence (1.9.11 :2196-2277).
    let p = ok(&predict(&l, &tboot("1.9.11"), "extpol=agile", MODS, &[]));
    let initrd = p["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "initrd")
        .unwrap();
    let mut buf = SHA256.digest(b"");
    buf.extend(SHA256.digest(&image));
    assert_eq!(
        initrd["digests"]["sha256"],
        hex::encode(SHA256.digest(&buf))
    );
    // A module of 4096 bytes never completes its TPM hash before 1.9.7.
    std::fs::write(l.p("initrd"), vec![0x5a; 4096]).unwrap();
    fails_with(
        &predict(&l, &tboot("1.9.6"), "extpol=agile", MODS, &[]),
        &[
            "module initrd",
            "4096 bytes, a multiple of 1024",
            "tboot 1.9.6",
        ],
    );
    ok(&predict(&l, &tboot("1.9.11"), "extpol=agile", MODS, &[]));
}

// Policies tboot would not use as given.

#[test]
fn a_policy_tboot_would_replace_or_cannot_compare_is_refused() {
    let tb = tboot("1.10.2");
    let l = setup(&tpm2_profile(&[SHA256]), &sinit2(&[SHA1, SHA256]));
    // An entry for PCR 30: verify_policy (include/tb_policy.h 1.10.2
    // :252-367) rejects the policy and tboot silently uses its default.
    let mut bad = vec![2, 0, 0x0b, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    bad.extend([0, 30, 0, 0, 0, 0, 0, 0]);
    let pol = l.dir.join("pcr30.pol");
    std::fs::write(&pol, bad).unwrap();
    fails_with(
        &predict(&l, &tb, "", MODS, &["--policy", s(&pol)]),
        &["verify_policy rejects", "pcr 30", "built-in default"],
    );
    // SHA-512 hashes against tboot's 32-byte SHA-256 digest: the compare
    // reads memory past it (is_hash_in_policy_entry), so under HALT whether
    // tboot halts is not predictable.
    let pol = l.dir.join("sha512.pol");
    for args in [
        &[
            "--create", "--type", "halt", "--alg", "sha512", "--ctrl", "1",
        ][..],
        &[
            "--add",
            "--num",
            "any",
            "--pcr",
            "17",
            "--hash",
            "image",
            "--cmdline",
            "",
            "--image",
            &l.p("initrd"),
        ][..],
    ] {
        let st = Command::new("tb_polgen")
            .args(args)
            .arg(&pol)
            .status()
            .unwrap();
        assert!(st.success());
    }
    fails_with(
        &predict(&l, &tb, "", MODS, &["--policy", s(&pol)]),
        &["64-byte hashes", "32-byte sha256 digest", "not predictable"],
    );
}

#[test]
fn profile_values_tboot_decides_must_agree_with_the_launch() {
    let tb = tboot("1.10.2");
    for (line, words) in [
        (
            "edx = 1",
            &["edx = 0x1", "always enters GETSEC[SENTER] with EDX 0"][..],
        ),
        (
            "os_sinit_caps = 0x201",
            &["os_sinit_caps = 0x201", "0x601 (tboot 1.10.2"][..],
        ),
    ] {
        let profile =
            tpm2_profile(&[SHA256]).replacen("scrtm_status", &format!("{line}\nscrtm_status"), 1);
        let l = setup(&profile, &sinit2(&[SHA1, SHA256]));
        fails_with(&predict(&l, &tb, "", MODS, &[]), words);
    }
}
