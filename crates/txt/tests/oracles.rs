//! Our ACM, MLE and tb_policy readers and writers against tboot's own tools:
//! `lcp2_mlehash`, `tb_polgen` and `txt-acminfo`.

mod common;

use common::{run, spaced_hex};
use tcg::HashAlg;
use txt::policy::{HashType, PolicyEntry, PolicyType, TbPolicy};
use txt::synth::{AcmSpec, build_acm};
use txt::{Acm, MleImage, TbootVersion};

const TBOOT_GZ: &str = "/boot/tboot.gz";

#[test]
fn mle_hash_equals_lcp2_mlehash_for_every_alg_and_cmdline() {
    let file = std::fs::read(TBOOT_GZ).expect("Debian package tboot provides /boot/tboot.gz");
    let mle = MleImage::load(&file).unwrap();
    let cmdlines = [
        None,
        Some(""),
        Some("logging=serial,memory"),
        Some("loglvl=all serial=115200,8n1,0x3f8 extpol=embedded min_ram=0x2000000"),
        // The longest lcp2_mlehash accepts: its strcpy_s into the 511-byte
        // buffer fails from 511 characters on (tboot itself truncates).
        Some(&*"x".repeat(510)),
    ];
    for alg in [
        HashAlg::Sha1,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ] {
        for cmd in cmdlines {
            let mut args = vec!["--create", "--alg", alg.name()];
            if let Some(c) = cmd {
                args.extend(["--cmdline", c]);
            }
            args.push(TBOOT_GZ);
            let theirs = spaced_hex(&run("lcp2_mlehash", &args));
            let ours = hex::encode(&mle.hash(cmd.map(str::as_bytes), &[alg])[0].1);
            // Some lcp2_mlehash builds print 48 bytes for sha256 (a buffer
            // sized for sha384); the first 32 are the digest.
            assert!(
                theirs.len() >= ours.len() && theirs.starts_with(&ours),
                "{alg} cmdline {cmd:?}: lcp2_mlehash {theirs} ours {ours}"
            );
            assert_eq!(
                theirs.len(),
                ours.len(),
                "{alg}: lcp2_mlehash printed extra bytes"
            );
        }
    }
}

fn show_fields(show: &str) -> Vec<(String, String)> {
    // `--show` repeats some lines for entries without hashes; keep the first of each run.
    let mut out: Vec<(String, String)> = Vec::new();
    for line in show.lines() {
        let Some((k, v)) = line.trim().split_once(':') else {
            continue;
        };
        let kv = (k.trim().to_string(), v.trim().to_string());
        if kv.0 == "policy" {
            continue;
        }
        if kv.0.starts_with("policy entry") {
            out.push(kv);
            continue;
        }
        let dup = out
            .iter()
            .rev()
            .take_while(|(k, _)| !k.starts_with("policy entry"))
            .any(|x| *x == kv);
        if !dup {
            out.push(kv);
        }
    }
    out
}

fn our_show(p: &TbPolicy) -> Vec<(String, String)> {
    let mut v = vec![
        ("version".into(), "2".into()),
        (
            "policy_type".into(),
            match p.policy_type {
                PolicyType::ContNonFatal => "TB_POLTYPE_CONT_NON_FATAL",
                PolicyType::ContVerifyFail => "TB_POLTYPE_CONT_VERIFY_FAIL",
                PolicyType::Halt => "TB_POLTYPE_HALT",
            }
            .into(),
        ),
        (
            "hash_alg".into(),
            format!("TB_HALG_{}", p.alg().name().to_uppercase()),
        ),
        (
            "policy_control".into(),
            format!(
                "{:08x}{}",
                p.policy_control,
                if p.policy_control & 1 != 0 {
                    " (EXTEND_PCR17)"
                } else {
                    " ()"
                }
            ),
        ),
        ("num_entries".into(), p.entries.len().to_string()),
    ];
    for (i, e) in p.entries.iter().enumerate() {
        v.push((format!("policy entry[{i}]"), String::new()));
        let num = match e.mod_num {
            129 => "any".to_string(),
            n => n.to_string(),
        };
        v.push(("mod_num".into(), num));
        let pcr = match e.pcr {
            255 => "none".to_string(),
            n => n.to_string(),
        };
        v.push(("pcr".into(), pcr));
        let ht = match e.hash_type {
            HashType::Any => "TB_HTYPE_ANY",
            HashType::Image => "TB_HTYPE_IMAGE",
        };
        v.push(("hash_type".into(), ht.into()));
        v.push(("num_hashes".into(), e.hashes.len().to_string()));
        for (j, h) in e.hashes.iter().enumerate() {
            let spaced: Vec<String> = h.iter().map(|b| format!("{b:02x}")).collect();
            v.push((format!("hashes[{j}]"), spaced.join(" ")));
        }
    }
    v
}

/// One `tb_polgen --add`: num, pcr, hash, cmdline, image.
type PolgenAdd<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a std::path::Path>,
);

#[test]
fn policies_match_tb_polgen_byte_for_byte_for_every_type_alg_hash_and_pcr() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = dir.path().join("vmlinuz");
    std::fs::write(
        &kernel,
        b"\x4d\x5a not really a kernel but bytes".repeat(1000),
    )
    .unwrap();
    let initrd_raw = b"070701 cpio-ish initrd bytes".repeat(3000);
    let initrd = dir.path().join("initrd.gz");
    {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&initrd_raw).unwrap();
        std::fs::write(&initrd, gz.finish().unwrap()).unwrap();
    }
    let types = [
        ("nonfatal", PolicyType::ContNonFatal),
        ("continue", PolicyType::ContVerifyFail),
        ("halt", PolicyType::Halt),
    ];
    let algs = [
        HashAlg::Sha1,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ];
    for (ti, (tname, ptype)) in types.iter().enumerate() {
        for alg in algs {
            let ctrl = if ti == 1 { 0u32 } else { 1 };
            let path = dir.path().join(format!("{tname}-{alg}.pol"));
            let p = path.to_str().unwrap();
            let ctrl_s = ctrl.to_string();
            run(
                "tb_polgen",
                &[
                    "--create",
                    "--type",
                    tname,
                    "--alg",
                    alg.name(),
                    "--ctrl",
                    &ctrl_s,
                    p,
                ],
            );
            let mut ours = TbPolicy::new(*ptype, alg, ctrl);
            // (num, pcr, hash, cmdline, image)
            let adds: [PolgenAdd; 4] = [
                (
                    "0",
                    "18",
                    "image",
                    Some("console=hvc0 root=/dev/xvda1 ro"),
                    Some(&kernel),
                ),
                ("1", "19", "image", Some(""), Some(&initrd)),
                ("2", "none", "any", None, None),
                ("any", "17", "any", None, None),
            ];
            for (num, pcr, hash, cmd, image) in adds {
                let mut args = vec!["--add", "--num", num, "--pcr", pcr, "--hash", hash];
                if let Some(c) = cmd {
                    args.extend(["--cmdline", c]);
                }
                let img_s;
                if let Some(i) = image {
                    img_s = i.to_str().unwrap().to_string();
                    args.extend(["--image", &img_s]);
                }
                args.push(p);
                run("tb_polgen", &args);
                let mut hashes = Vec::new();
                if let Some(i) = image {
                    let f = std::fs::File::open(i).unwrap();
                    let img = txt::module::hash_image(f, true, &[alg], "image", |_| {}).unwrap();
                    let d = txt::module::module_digests(cmd.unwrap_or("").as_bytes(), &img);
                    hashes.push(d[0].1.clone());
                }
                ours.add(PolicyEntry {
                    mod_num: if num == "any" {
                        129
                    } else {
                        num.parse().unwrap()
                    },
                    pcr: if pcr == "none" {
                        255
                    } else {
                        pcr.parse().unwrap()
                    },
                    hash_type: if hash == "image" {
                        HashType::Image
                    } else {
                        HashType::Any
                    },
                    nv_index: 0,
                    hashes,
                })
                .unwrap();
            }
            let theirs = std::fs::read(&path).unwrap();
            assert_eq!(
                hex::encode(ours.to_bytes()),
                hex::encode(&theirs),
                "{tname} {alg}"
            );
            let parsed = TbPolicy::parse(&theirs).unwrap();
            assert_eq!(parsed, ours);
            let show = run("tb_polgen", &["--show", p]);
            let theirs_fields = show_fields(&show);
            assert_eq!(our_show(&parsed), theirs_fields, "{tname} {alg}: {show}");
        }
    }
}

#[test]
fn acm_fields_match_txt_acminfo() {
    let dir = tempfile::tempdir().unwrap();
    for (i, spec) in [
        AcmSpec::default(),
        AcmSpec {
            capabilities: 0x633,
            tpm_caps: 0x0b,
            tpm_algs: vec![4, 0xb, 0xc, 0x12],

            ..AcmSpec::default()
        },
        AcmSpec {
            header_version: txt::acm::HEADER_V3,
            ..AcmSpec::default()
        },
    ]
    .iter()
    .enumerate()
    {
        let bytes = build_acm(spec);
        let path = dir.path().join(format!("acm{i}.bin"));
        std::fs::write(&path, &bytes).unwrap();
        // txt-acminfo exits non-zero after printing because it cannot read
        // /dev/mem on this machine; its stdout is what we compare.
        let out = std::process::Command::new("txt-acminfo")
            .arg(&path)
            .output()
            .expect("txt-acminfo (package tboot) must be installed");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let acm = Acm::parse(&bytes).unwrap();
        let field = |name: &str| -> String {
            text.lines()
                .find_map(|l| {
                    // txt-acminfo prints some names with a space before the colon.
                    let rest = l.trim().strip_prefix(name)?.trim_start();
                    rest.strip_prefix(':').map(|v| v.trim().to_string())
                })
                .unwrap_or_else(|| panic!("txt-acminfo printed no {name}:\n{text}"))
        };
        let num = |name: &str| -> u64 {
            let v = field(name);
            let v = v.split_whitespace().next().unwrap();
            match v.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).unwrap(),
                None => v.parse().unwrap(),
            }
        };
        let h = &acm.header;
        assert_eq!(num("type"), h.module_type as u64);
        assert_eq!(num("subtype"), h.module_sub_type as u64);
        assert_eq!(num("length"), h.header_len as u64);
        assert_eq!(num("chipset_id"), h.chipset_id as u64);
        assert_eq!(num("flags"), h.flags as u64);
        assert_eq!(num("vendor"), h.module_vendor as u64);
        assert_eq!(num("date"), h.date as u64);
        assert_eq!(num("size*4"), h.size as u64 * 4);
        assert_eq!(num("txt_svn"), h.txt_svn as u64);
        assert_eq!(num("se_svn"), h.se_svn as u64);
        assert_eq!(num("scratch_size"), h.scratch_size as u64);
        let info = &acm.info;
        assert_eq!(num("chipset_acm_type"), info.chipset_acm_type as u64);
        assert_eq!(num("chipset_id_list"), info.chipset_id_list as u64);
        assert_eq!(num("os_sinit_data_ver"), info.os_sinit_data_ver as u64);
        assert_eq!(num("min_mle_hdr_ver"), info.min_mle_header_ver as u64);
        assert_eq!(num("capabilities"), info.capabilities as u64);
        assert_eq!(num("acm_ver"), info.acm_version as u64);
        assert_eq!(num("fms"), info.processor_ids[0].fms as u64);
        assert_eq!(num("device_id"), info.chipset_ids[0].device_id as u64);
        let tpm = info.tpm_info.as_ref().unwrap();
        assert_eq!(num("ext_policy"), tpm.ext_policy as u64);
        assert_eq!(num("tpm_family"), tpm.tpm_family as u64);
        assert_eq!(num("tpm_nv_index_set"), tpm.tpm_nv_index_set as u64);
        assert_eq!(num("alg count"), tpm.alg_ids.len() as u64);
        let algs: Vec<u64> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("alg_id: 0x"))
            .map(|h| u64::from_str_radix(h.trim(), 16).unwrap())
            .collect();
        assert_eq!(
            algs,
            tpm.alg_ids.iter().map(|&a| a as u64).collect::<Vec<_>>()
        );
        assert_eq!(num("key size*4"), h.key_size as u64);
        // The public key bytes txt-acminfo prints (v0.0 only shows the 2048-bit layout).
        if spec.header_version == txt::acm::HEADER_V0 {
            let key_hex: String = text
                .split("RSA public key:")
                .nth(1)
                .unwrap()
                .lines()
                .skip(1)
                .take_while(|l| !l.contains(':'))
                .collect::<Vec<_>>()
                .join(" ");
            assert_eq!(spaced_hex(&key_hex), hex::encode(acm.rsa_public_key()));
        }
    }
}

#[test]
fn debian_tboot_reads_as_1_10_5_from_its_version_string_not_its_header() {
    let mle = MleImage::load(&std::fs::read(TBOOT_GZ).unwrap()).unwrap();
    // The MLE header (0x20001, caps 0x627) is the same for every 1.10.x;
    // the banner's release string tells them apart.
    assert_eq!(mle.header.version, 0x0002_0001);
    assert_eq!(mle.header.capabilities, 0x627);
    assert_eq!(
        TbootVersion::from_image(mle.loaded_bytes()).unwrap(),
        Some(TbootVersion::new(1, 10, 5))
    );
    // Debian's package is 1.10.5, and says so.
    let pkg = run("dpkg-query", &["-W", "-f", "${Version}", "tboot"]);
    assert!(pkg.starts_with("1.10.5"), "{pkg}");
}
