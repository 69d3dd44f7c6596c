//! Unit tests: the spec's §10 vectors and hostile inputs.

use tcg::HashAlg;

use crate::acm::Acm;
use crate::error::Error;
use crate::mle::MleImage;
use crate::policy::{TbPolicy, default_policy, measured_bytes, policy_event_digest};
use crate::release::Release;
use crate::sinit::{self, CapsInputs, LegacySinitData};
use crate::synth::{AcmSpec, build_acm, elf, mle_segment};
use crate::version::TbootVersion;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn rel(major: u16, minor: u16, patch: u16) -> Release {
    Release::of(TbootVersion::new(major, minor, patch)).unwrap()
}

#[test]
fn v3_default_policy_bytes_and_digests_match_each_release() {
    // (release, TPM 2.0, D/A, bytes): read from each release's policy.c.
    let l17 = "02000001000000000000000200ff0000000000008113000000000000";
    let d17 = "02000001000000000000000200ff0000000000008111000000000000";
    let l_sha1 = "02000401000000000000000300ff00000000000081130000000000008316001000004000";
    let d_sha1 = "02000401000000000000000300ff00000000000081110000000000008316001000004000";
    let l_sha256 = "02000b01000000000000000300ff00000000000081130000000000008316001000004000";
    let d_sha256 = "02000b01000000000000000300ff00000000000081110000000000008316001000004000";
    let rows = [
        (rel(1, 7, 4), false, false, l17),
        (rel(1, 7, 4), false, true, d17),
        // 1.8.0-1.8.3: three entries and hash_alg 0x04, not the 1.7 layout.
        (rel(1, 8, 0), false, false, l_sha1),
        (rel(1, 8, 3), false, true, d_sha1),
        (rel(1, 8, 3), true, true, d_sha1),
        (rel(1, 9, 11), false, false, l_sha1),
        (rel(1, 9, 11), true, true, d_sha1),
        // 1.9.12 moved both defaults to SHA-256, TPM 1.2 included.
        (rel(1, 9, 12), false, false, l_sha256),
        (rel(1, 9, 12), false, true, d_sha256),
        (rel(1, 9, 12), true, true, d_sha256),
        // 1.10.0: TPM 1.2 gets _def_policy_12 (PCR 19 even with D/A).
        (rel(1, 10, 5), false, true, l_sha1),
        (rel(1, 10, 5), false, false, l_sha1),
        (rel(1, 10, 5), true, true, d_sha256),
    ];
    for (r, tpm2, da, want) in rows {
        assert_eq!(
            hex::encode(default_policy(r, tpm2, da).to_bytes()),
            want,
            "{} tpm2={tpm2} da={da}",
            r.version()
        );
    }
    let row1 = default_policy(rel(1, 7, 4), false, false).to_bytes();
    assert_eq!(
        hex::encode(HashAlg::Sha1.digest(&row1)),
        "ab41624e7d71f068d48e1c2f43e616bf40671c39"
    );
    let row4 = default_policy(rel(1, 9, 6), true, true).to_bytes();
    assert_eq!(
        hex::encode(HashAlg::Sha256.digest(&row4)),
        "bcd965829e762045d696bfeb03401fba66add4b12992f630113a1fe2d63a0f15"
    );
    let row7 = default_policy(rel(1, 9, 12), true, true).to_bytes();
    assert_eq!(
        hex::encode(HashAlg::Sha256.digest(&row7)),
        "e8cd244a4fa79c3e7ebb9e0a5a682157edfec023f1228eef274b84789cc6df89"
    );
    let row3 = default_policy(rel(1, 8, 3), false, false).to_bytes();
    assert_eq!(
        hex::encode(HashAlg::Sha1.digest(&row3)),
        "86a462b6f209a2e0dad44e8d8934a240590d5222"
    );
    // Embedded extend policy: the SHA-256 policy hash, hashed again per bank.
    assert_eq!(
        hex::encode(policy_event_digest(
            &row4,
            1,
            HashAlg::Sha256,
            HashAlg::Sha1
        )),
        "ca96de412b4e8c062e570d3013d2fccb4b20250a"
    );
    assert_eq!(
        hex::encode(policy_event_digest(
            &row4,
            1,
            HashAlg::Sha256,
            HashAlg::Sha256
        )),
        "27808f64e6383982cd3bcc10cfcb3457c0b65f465f779d89b668839eaf263a67"
    );
}

#[test]
fn v4_constant_event_digests_match_the_spec() {
    let caps = sinit::os_sinit_caps(CapsInputs {
        mle_caps: 0x227,
        sinit_caps: 0x201,
        release: rel(1, 9, 6),
        tpm2: true,
        pcr_map_da: true,
        tcg_log: true,
    })
    .unwrap();
    assert_eq!(caps, 0x201);
    let cases: [(&[u8], &str, &str, &str, &str); 4] = [
        (&0u32.to_le_bytes(), "9069ca78", "e473", "df3f6198", "1119"),
        (&1u32.to_le_bytes(), "3c585604", "d2fc", "67abdd72", "a450"),
        (&caps.to_le_bytes(), "0cf169a9", "8895", "d81fe96d", "bd93"),
        (&[0u8], "5ba93c9d", "784f", "6e340b9c", "a01d"),
    ];
    for (data, s1a, s1b, s2a, s2b) in cases {
        let d1 = hex::encode(HashAlg::Sha1.digest(data));
        let d2 = hex::encode(HashAlg::Sha256.digest(data));
        assert!(d1.starts_with(s1a) && d1.ends_with(s1b), "{d1}");
        assert!(d2.starts_with(s2a) && d2.ends_with(s2b), "{d2}");
    }
}

#[test]
fn v6_legacy_tpm12_chain_matches_the_spec() {
    let acm_hash = h("30ed7bc9e1f32a7e489fbd15d85185f4ffd88834a3104d19334391783d55ebbf");
    let first = HashAlg::Sha1.digest(&sinit::hash_start_data(&acm_hash, 0));
    assert_eq!(
        hex::encode(&first),
        "0fcc099f81549da4836d492afb8ab2e303cecfa1"
    );
    let pcr17_0 = sinit::extend(HashAlg::Sha1, &[0; 20], &first);
    assert_eq!(
        hex::encode(&pcr17_0),
        "8d3dd5c8e795dfac5dbfa9859310b2bcea36d347"
    );
    let legacy = LegacySinitData {
        version: 8,
        bios_acm_id: h("80000000201010220000b001ffffffffffffffff")
            .try_into()
            .unwrap(),
        mseg_valid: 0,
        stm_hash: [0; 20],
        policy_control: 0,
        lcp_policy_hash: [0; 20],
        proc_scrtm_status: 0,
    };
    let combined = sinit::combined_hash_data(&legacy, 0x1234);
    assert_eq!(combined.len(), 80);
    let cd = HashAlg::Sha1.digest(&combined);
    assert_eq!(hex::encode(&cd), "7e0cdad3b8d9c344ab89657efdbfa638d1b25978");
    let after_sinit = sinit::extend(HashAlg::Sha1, &pcr17_0, &cd);
    assert_eq!(
        hex::encode(&after_sinit),
        "bfa4421b49f6ab899157ba6ee8fec3c5c5abf4ab"
    );
    let pol = default_policy(rel(1, 7, 4), false, false).to_bytes();
    let pd = policy_event_digest(&pol, 1, HashAlg::Sha1, HashAlg::Sha1);
    assert_eq!(hex::encode(&pd), "9704353630674bfe21b86b64a7b0f99c297cf902");
    let fin = sinit::extend(HashAlg::Sha1, &after_sinit, &pd);
    assert_eq!(hex::encode(fin), "57a5f1b245ac52614498a728efe7f741b4dc3ebf");
}

#[test]
fn combined_hash_includes_caps_only_when_lcp_control_bit2_is_set() {
    let mut d = LegacySinitData {
        version: 7,
        bios_acm_id: [1; 20],
        mseg_valid: 0,
        stm_hash: [0; 20],
        policy_control: 0,
        lcp_policy_hash: [0; 20],
        proc_scrtm_status: 1,
    };
    let off = sinit::combined_hash_data(&d, 0x201);
    assert_eq!(off.len(), 76);
    assert_eq!(&off[72..76], &[0, 0, 0, 0]);
    d.policy_control = 4;
    let on = sinit::combined_hash_data(&d, 0x201);
    assert_eq!(&on[72..76], &[1, 2, 0, 0]);
}

#[test]
fn nv_policies_with_legacy_hash_alg_are_measured_as_sha1_from_1_8_0() {
    let p = default_policy(rel(1, 7, 4), false, false).to_bytes();
    assert_eq!(measured_bytes(&p, true, rel(1, 9, 4))[2], 0x04);
    assert_eq!(measured_bytes(&p, true, rel(1, 8, 0))[2], 0x04);
    assert_eq!(measured_bytes(&p, true, rel(1, 7, 4))[2], 0x00);
    assert_eq!(measured_bytes(&p, false, rel(1, 9, 4))[2], 0x00);
}

#[test]
fn synthetic_acm_parses_and_signed_region_skips_key_signature_and_scratch() {
    for hv in [crate::acm::HEADER_V0, crate::acm::HEADER_V3] {
        let spec = AcmSpec {
            header_version: hv,
            padding: 100,
            ..AcmSpec::default()
        };
        let file = build_acm(&spec);
        let acm = Acm::parse(&file).unwrap();
        assert_eq!(acm.bytes().len(), file.len() - 100);
        assert_eq!(acm.info.capabilities, 0x201);
        assert_eq!(acm.info.tpm_info.as_ref().unwrap().alg_ids, vec![4, 0xb]);
        let before = acm.signed_region_digest(HashAlg::Sha256);
        // Key, signature and scratch are outside the signed region.
        let mut f2 = file.clone();
        f2[200] ^= 0xff;
        f2[acm.user_area_offset() - 4] ^= 0xff;
        assert_eq!(
            Acm::parse(&f2)
                .unwrap()
                .signed_region_digest(HashAlg::Sha256),
            before
        );
        // The user area and the first 128 bytes are inside it.
        let mut f3 = file.clone();
        let last = acm.bytes().len() - 1;
        f3[last] ^= 0xff;
        assert_ne!(
            Acm::parse(&f3)
                .unwrap()
                .signed_region_digest(HashAlg::Sha256),
            before
        );
        let mut f4 = file.clone();
        f4[20] ^= 0xff;
        assert_ne!(
            Acm::parse(&f4)
                .unwrap()
                .signed_region_digest(HashAlg::Sha256),
            before
        );
    }
}

fn field_of(e: Error) -> String {
    match e {
        Error::Truncated { field, .. } | Error::BadField { field, .. } => field.to_string(),
        other => other.to_string(),
    }
}

#[test]
fn hostile_acms_fail_naming_the_field() {
    let file = build_acm(&AcmSpec::default());
    let short = &file[..100];
    assert_eq!(field_of(Acm::parse(short).unwrap_err()), "KeySize");
    let mut lie = file.clone();
    lie[24..28].copy_from_slice(&0x4000_0000u32.to_le_bytes());
    assert_eq!(field_of(Acm::parse(&lie).unwrap_err()), "Size");
    let mut hl = file.clone();
    hl[4..8].copy_from_slice(&10u32.to_le_bytes());
    assert_eq!(field_of(Acm::parse(&hl).unwrap_err()), "HeaderLen");
    let mut sc = file.clone();
    sc[124..128].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    assert_eq!(field_of(Acm::parse(&sc).unwrap_err()), "ScratchSize");
    let mut hv = file.clone();
    hv[8] = 7;
    assert_eq!(field_of(Acm::parse(&hv).unwrap_err()), "HeaderVersion");
    let acm = Acm::parse(&file).unwrap();
    let ua = acm.user_area_offset();
    let mut uuid = file.clone();
    uuid[ua] ^= 1;
    assert_eq!(field_of(Acm::parse(&uuid).unwrap_err()), "InfoTable.UUID");
    let mut list = file.clone();
    list[ua + 20..ua + 24].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    assert_eq!(field_of(Acm::parse(&list).unwrap_err()), "ChipsetIDList");
    let cl = u32::from_le_bytes(file[ua + 20..ua + 24].try_into().unwrap()) as usize;
    let mut count = file.clone();
    count[cl..cl + 4].copy_from_slice(&4000u32.to_le_bytes());
    assert_eq!(field_of(Acm::parse(&count).unwrap_err()), "ChipsetIDList");
}

#[test]
fn mle_hash_covers_header_and_cmdline_and_zero_fill() {
    let img = elf(&[(0x80_0000, mle_segment(0x4000, 0x227), 0x5000)]);
    let mle = MleImage::load(&img).unwrap();
    assert_eq!(mle.header.offset, 0x1000);
    let a = mle.hash(Some(b"x=1"), &[HashAlg::Sha1]);
    let b = mle.hash(Some(b"x=2"), &[HashAlg::Sha1]);
    assert_ne!(a, b);
    // Reproduce by hand: [0x1000, 0x4000) with the cmdline patched and .bss zero.
    let mut flat = mle_segment(0x4000, 0x227);
    flat.resize(0x5000, 0);
    flat[0x2000..0x2003].copy_from_slice(b"x=1");
    assert_eq!(a[0].1, HashAlg::Sha1.digest(&flat[0x1000..0x4000]));
    let none = mle.hash(None, &[HashAlg::Sha1]);
    assert_eq!(none, mle.hash(Some(b""), &[HashAlg::Sha1]));
}

#[test]
fn hostile_elves_fail_with_clear_errors() {
    let overlapping = elf(&[
        (0x1000, mle_segment(0x3000, 0x227), 0x3000),
        (0x2000, vec![1; 16], 16),
    ]);
    let e = MleImage::load(&overlapping).unwrap_err().to_string();
    assert!(e.contains("overlap"), "{e}");
    let huge = elf(&[(0, mle_segment(0x3000, 0x227), 0xffff_0000)]);
    let e = MleImage::load(&huge).unwrap_err().to_string();
    assert!(e.contains("span"), "{e}");
    let mut no_uuid = mle_segment(0x3000, 0x227);
    no_uuid[0x1000] ^= 1;
    let e = MleImage::load(&elf(&[(0, no_uuid, 0x3000)]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("UUID"), "{e}");
    let past_end = elf(&[(0, mle_segment(0x9000, 0x227), 0x3000)]);
    let e = MleImage::load(&past_end).unwrap_err().to_string();
    assert!(e.contains("MleEnd"), "{e}");
    let mut lying = elf(&[(0, mle_segment(0x3000, 0x227), 0x3000)]);
    lying[44] = 0xff;
    lying[45] = 0xff;
    let e = MleImage::load(&lying).unwrap_err().to_string();
    assert!(e.contains("program headers"), "{e}");
    let e = MleImage::load(b"\x1f\x8b\x08\x00garbage")
        .unwrap_err()
        .to_string();
    assert!(e.contains("gzip"), "{e}");
}

#[test]
fn hostile_policies_fail_naming_the_field() {
    let mut p = default_policy(rel(1, 9, 6), true, true).to_bytes();
    p[11] = 9;
    assert!(matches!(
        TbPolicy::parse(&p),
        Err(Error::Truncated {
            field: "entry.hash_type",
            ..
        })
    ));
    let mut p = default_policy(rel(1, 9, 6), true, true).to_bytes();
    p[12 + 7] = 200;
    assert!(matches!(
        TbPolicy::parse(&p),
        Err(Error::Truncated {
            field: "entry.hashes",
            ..
        })
    ));
    let mut p = default_policy(rel(1, 9, 6), true, true).to_bytes();
    p[2] = 0x99;
    assert!(matches!(
        TbPolicy::parse(&p),
        Err(Error::BadField {
            field: "hash_alg",
            ..
        })
    ));
    assert!(matches!(
        TbPolicy::parse(&[2]),
        Err(Error::Truncated {
            field: "policy_type",
            ..
        })
    ));
}

#[test]
fn policies_round_trip_byte_for_byte() {
    for (v, tpm2, da) in [
        (rel(1, 7, 4), false, false),
        (rel(1, 9, 6), true, true),
        (rel(1, 9, 6), false, false),
    ] {
        let b = default_policy(v, tpm2, da).to_bytes();
        assert_eq!(TbPolicy::parse(&b).unwrap().to_bytes(), b);
    }
}

#[test]
fn module_cmdline_rule_depends_on_tboot_version() {
    use crate::module::effective_cmdline;
    let old = TbootVersion::new(1, 9, 3);
    let new = TbootVersion::new(1, 9, 4);
    assert_eq!(
        effective_cmdline("  /vmlinuz  ro quiet \n", old),
        "ro quiet \n"
    );
    assert_eq!(
        effective_cmdline("  /vmlinuz  ro quiet \n", new),
        "  /vmlinuz  ro quiet \n"
    );
    assert_eq!(effective_cmdline("vmlinuz", old), "");
}

#[test]
fn releases_outside_the_modelled_range_are_refused_and_1_11_drops_agile() {
    use crate::release::TbootExtPolicy;
    for v in [(1, 7, 1), (1, 9, 3), (1, 11, 3), (2, 0, 0)] {
        let e = Release::of(TbootVersion::new(v.0, v.1, v.2)).unwrap_err();
        assert!(matches!(e, Error::Refused(_)), "{v:?}: {e}");
    }
    // CHANGELOG 1.11.0 "agile removed": a warning, then SHA-256 FIXED, and
    // OsSinitData.Flags is always 1 (Maximum Performance).
    let (old, new) = (rel(1, 10, 5), rel(1, 11, 0));
    assert_eq!(old.extpol("agile"), Some(TbootExtPolicy::Agile));
    assert!(old.maximum_agility(TbootExtPolicy::Agile));
    assert_eq!(
        new.extpol("agile"),
        Some(TbootExtPolicy::Fixed(HashAlg::Sha256))
    );
    assert!(!new.maximum_agility(TbootExtPolicy::Agile));
}

#[test]
fn every_fuzz_seed_parses_without_panicking() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut seen = 0;
    for target in [
        "acm",
        "mle",
        "tb_policy",
        "profile",
        "txt_log",
        "secl_quote",
        "txt_stat",
    ] {
        // Directories are named after the fuzz targets (txt_ prefix).
        let dir = match target {
            "txt_log" | "txt_stat" => root.join(target),
            t => root.join(format!("txt_{t}")),
        };
        let Ok(rd) = std::fs::read_dir(&dir) else {
            panic!("missing seed corpus {}", dir.display());
        };
        for f in rd {
            let path = f.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            // Inputs that once crashed a target must be errors, not panics;
            // the seeds proper must parse.
            let regression = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("regression-"));
            if regression {
                crate::fuzz::fuzz_one(&bytes);
                drop(Acm::parse(&bytes));
                drop(MleImage::load(&bytes));
                drop(TbPolicy::parse(&bytes));
                let text = String::from_utf8_lossy(&bytes);
                drop(crate::quote::pcrs_from_secl_xml(&text));
                drop(crate::quote::pcrs_from_quote_bytes(&bytes));
                drop(crate::capture::parse_txt_stat(&text));
                drop(crate::profile::Profile::from_toml(&text));
                seen += 1;
                continue;
            }
            match target {
                "acm" => drop(Acm::parse(&bytes)),
                "mle" => drop(MleImage::load(&bytes)),
                "tb_policy" => drop(TbPolicy::parse(&bytes)),
                "txt_log" => {
                    // Seeds are logs we wrote: they must parse, not just not panic.
                    crate::txtlog::parse(&bytes, None).expect("txt_log seed parses");
                    crate::fuzz::fuzz_one(&bytes);
                }
                "secl_quote" => {
                    crate::quote::pcrs_from_secl_xml(&String::from_utf8_lossy(&bytes))
                        .expect("quote seed parses");
                    drop(crate::quote::pcrs_from_quote_bytes(&bytes));
                }
                "txt_stat" => drop(
                    crate::capture::parse_txt_stat(&String::from_utf8_lossy(&bytes))
                        .expect("txt-stat seed parses"),
                ),
                _ => drop(crate::profile::Profile::from_toml(
                    &String::from_utf8_lossy(&bytes),
                )),
            }
            seen += 1;
        }
    }
    assert!(seen >= 16, "only {seen} seeds");
}

mod secl;
mod txtlog;
