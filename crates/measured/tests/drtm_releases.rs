//! `measured drtm` on real tboot binaries of several releases: the seven
//! source releases ci/build-tboot.sh builds (1.7.4 to 1.10.2) and Debian's
//! 1.10.5. Their MLE hash equals `lcp2_mlehash`, the default policy bytes
//! built into each image equal our `policy-default`, and a predicted launch
//! of each equals an expectation derived by hand from that release's
//! source, written down below with the lines it follows (paths are in the
//! release tarball; Debian's 1.10.5 follows 1.10.2's lines, since tboot's
//! CHANGELOG lists no measurement change in 1.10.3-1.10.5).
//!
//! The expectations are computed here from first principles (the
//! `tb_policy_t` layout, `hash_module`, `verify_g_policy`, `init_txt_heap`)
//! and from `lcp2_mlehash`, never from the `txt` crate's own rules.

mod drtm_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use drtm_common::{
    BUILT_RELEASES, INITRD, KERNEL, TPM12_DA, TPM12_LEGACY, debian_tboot, fails_with, lcp2_mlehash,
    measured, ok, predict, s, setup, sinit2, tboot_release, tpm2_profile,
};
use serde_json::Value;
use tcg::HashAlg;
use txt::synth::AcmSpec;

const SHA1: HashAlg = HashAlg::Sha1;
const SHA256: HashAlg = HashAlg::Sha256;
const SHA384: HashAlg = HashAlg::Sha384;

/// Every real tboot image: (release, directory with tboot.gz and tboot-syms).
fn images() -> Vec<(&'static str, PathBuf)> {
    let mut v: Vec<(&str, PathBuf)> = BUILT_RELEASES
        .iter()
        .map(|r| (*r, tboot_release(r)))
        .collect();
    v.push(("1.10.5", debian_tboot()));
    v
}

#[test]
fn mle_hash_of_every_release_equals_lcp2_mlehash() {
    let cmdlines = [
        "",
        "logging=serial,memory",
        "/boot/tboot.gz extpol=embedded",
    ];
    let mut compared = 0;
    for (release, dir) in images() {
        let tboot = dir.join("tboot.gz");
        for cmd in cmdlines {
            let v = ok(&measured(&[
                "--json",
                "drtm",
                "mlehash",
                s(&tboot),
                "--cmdline",
                cmd,
                "--alg",
                "sha1",
                "--alg",
                "sha256",
            ]));
            for alg in ["sha1", "sha256"] {
                assert_eq!(
                    v["hashes"][alg].as_str().unwrap(),
                    lcp2_mlehash(&tboot, alg, Some(cmd)),
                    "tboot {release} {alg} cmdline {cmd:?}"
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 8 * 3 * 2);
}

/// The load address → file offset map of an ELF32 executable's PT_LOAD
/// segments (read here, not with the `txt` crate's loader).
fn elf_bytes_at(elf: &[u8], addr: u32, len: usize) -> Vec<u8> {
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap());
    assert_eq!(&elf[..4], b"\x7fELF");
    let (phoff, phentsize, phnum) = (u32_at(28) as usize, u16_at(42), u16_at(44));
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let (off, paddr, filesz) = (u32_at(ph + 4), u32_at(ph + 12), u32_at(ph + 16));
        if u32_at(ph) == 1 && (paddr..paddr + filesz).contains(&addr) {
            let at = (off + addr - paddr) as usize;
            return elf[at..at + len].to_vec();
        }
    }
    panic!("address {addr:#x} is in no PT_LOAD segment");
}

/// `tboot-syms` (nm output: `address type name`) → address of `name`.
fn symbol(syms: &str, name: &str) -> u32 {
    let line = syms
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some(name))
        .unwrap_or_else(|| panic!("no symbol {name}"));
    u32::from_str_radix(line.split_whitespace().next().unwrap(), 16).unwrap()
}

#[test]
fn default_policies_built_into_every_release_equal_policy_default() {
    let tmp = tempfile::tempdir().unwrap();
    let mut compared = 0;
    for (release, dir) in images() {
        let out = Command::new("gzip")
            .args(["-dc", s(&dir.join("tboot.gz"))])
            .output()
            .unwrap();
        assert!(out.status.success());
        let elf = out.stdout;
        let syms = std::fs::read_to_string(dir.join("tboot-syms")).unwrap();
        let v: txt::TbootVersion = release.parse().unwrap();
        let ten = v >= txt::TbootVersion::new(1, 10, 0);
        // policy.c: g_policy = g_using_da ? &_def_policy_da : &_def_policy
        // (1.7.4 :342, 1.8.3 :377, 1.9.12 :381); from 1.10.0 TPM 1.2 takes
        // _def_policy_12 (1.10.2 :468-472). TPM 2.0 always has g_using_da
        // (txt.c init_txt_heap, 1.10.2 :710-717).
        let mut cases = vec![
            (
                "1.2",
                false,
                if ten { "_def_policy_12" } else { "_def_policy" },
            ),
            (
                "1.2",
                true,
                if ten {
                    "_def_policy_12"
                } else {
                    "_def_policy_da"
                },
            ),
        ];
        if v >= txt::TbootVersion::new(1, 8, 0) {
            cases.push(("2.0", false, "_def_policy_da"));
        }
        for (tpm, da, sym) in cases {
            let file = tmp.path().join(format!("{release}-{tpm}-{da}.pol"));
            let mut args = vec![
                "drtm",
                "policy-default",
                "--tboot-version",
                release,
                "--tpm",
                tpm,
                "-o",
                s(&file),
            ];
            if da {
                args.push("--da");
            }
            ok_status(&measured(&args));
            let ours = std::fs::read(&file).unwrap();
            let theirs = elf_bytes_at(&elf, symbol(&syms, sym), ours.len());
            assert_eq!(
                hex::encode(&ours),
                hex::encode(&theirs),
                "tboot {release} TPM {tpm} da={da}: {sym}"
            );
            compared += 1;
        }
        if v < txt::TbootVersion::new(1, 8, 0) {
            fails_with(
                &measured(&[
                    "drtm",
                    "policy-default",
                    "--tboot-version",
                    release,
                    "--tpm",
                    "2.0",
                    "-o",
                    s(&tmp.path().join("x.pol")),
                ]),
                &["no TPM 2.0 support"],
            );
        }
    }
    assert_eq!(compared, 8 * 3 - 1);
}

fn ok_status(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------
// Hand-derived expectations.

/// `tb_policy_t` as include/tb_policy.h lays it out (1.9.6 :75-100, the
/// same in every release read): u8 version 2, u8 policy_type
/// (CONT_NON_FATAL = 0, the enum at :43-50), u8 hash_alg, u32
/// policy_control (EXTEND_PCR17 = 1, :91), u32 reserved, u8 num_entries;
/// each entry u8 mod_num, u8 pcr, u8 hash_type (ANY = 0), u32 nv_index,
/// u8 num_hashes 0. `hash_alg` is TB_HALG_SHA1 = 0 in 1.7.x
/// (include/hash.h :39), 0x04 from 1.8.0 (1.9.6 include/hash.h :40),
/// SHA-256 0x0b (:41).
fn tb_policy(hash_alg: u8, entries: &[(u8, u8, u32)]) -> Vec<u8> {
    let mut b = vec![2, 0, hash_alg];
    b.extend(1u32.to_le_bytes());
    b.extend(0u32.to_le_bytes());
    b.push(entries.len() as u8);
    for &(m, pcr, nv) in entries {
        b.extend([m, pcr, 0]);
        b.extend(nv.to_le_bytes());
        b.push(0);
    }
    b
}

/// TB_POL_MOD_NUM_ANY, TB_POL_MOD_NUM_NV_RAW, TB_POL_PCR_NONE (tb_policy.h
/// 1.9.6 :62-68).
const ANY: u8 = 129;
const NV_RAW: u8 = 131;
const NONE: u8 = 255;

/// The default policies' entries: module 0 not re-extended, every other
/// module to `later`, and from 1.8.0 the geo-tagging NV index to PCR 22.
fn default_entries(later: u8, nv: bool) -> Vec<(u8, u8, u32)> {
    let mut e = vec![(0, NONE, 0), (ANY, later, 0)];
    if nv {
        e.push((NV_RAW, 22, 0x4000_0010));
    }
    e
}

/// `hash_module` (1.7.4 policy.c :369-400, 1.9.6 :410-513): per algorithm,
/// `H(H(cmdline) ‖ H(image))`.
fn module_digest(alg: HashAlg, cmdline: &str, image: &[u8]) -> String {
    let mut buf = alg.digest(cmdline.as_bytes());
    buf.extend(alg.digest(image));
    hex::encode(alg.digest(&buf))
}

/// `verify_g_policy` (1.9.6 policy.c :672-735; 1.7.4 verify_all_modules
/// :561-576): `buf = policy_control ‖ H_cur(policy)`, then hashed with
/// each algorithm the extend policy produces.
fn policy_digest(bank: HashAlg, cur: HashAlg, policy: &[u8]) -> String {
    let mut buf = 1u32.to_le_bytes().to_vec();
    buf.extend(cur.digest(policy));
    hex::encode(bank.digest(&buf))
}

/// What one release's launch must give, by hand.
struct Expected {
    release: &'static str,
    /// The banks predicted.
    banks: Vec<HashAlg>,
    /// The banks tboot's own events carry.
    tboot_algs: Vec<HashAlg>,
    /// The algorithm of the policy hash inside the policy event (`cur_alg`).
    cur: HashAlg,
    policy: Vec<u8>,
    /// The command line in the MLE (what MLE_HASH covers).
    mle_cmdline: &'static str,
    /// The module command lines as tboot hashes them.
    module_cmdlines: [&'static str; 2],
    /// The PCRs module 0 and module 1 go to.
    module_pcrs: [u32; 2],
    /// `g_using_da`: the policy event is repeated into PCR18.
    da: bool,
    /// `OsSinitData.Capabilities`.
    caps: u32,
    log_format: &'static str,
    tpm2: bool,
}

/// One of tboot's events: PCR, name, (bank, digest) pairs.
type TbootEvent = (u32, String, Vec<(String, String)>);

fn digests(e: &Value) -> Vec<(String, String)> {
    e["digests"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

/// Compare a prediction with the hand-derived expectation: release, caps,
/// log format, MLE_HASH (= lcp2_mlehash of the command line tboot copies),
/// the OsSinitData caps event, tboot's events one by one, and the PCRs
/// the SINIT's events plus the expected tboot events replay to.
fn check(p: &Value, e: &Expected, tboot: &Path) {
    let r = e.release;
    assert_eq!(p["tboot_version"], r);
    assert_eq!(p["os_sinit_caps"], e.caps, "{r}: OsSinitData caps");
    assert_eq!(p["launch"]["log_format"], e.log_format, "{r}: log format");
    assert_eq!(p["launch"]["measured_cmdline"], e.mle_cmdline, "{r}");
    let banks: Vec<&str> = e.banks.iter().map(|b| b.name()).collect();
    assert_eq!(p["banks"], serde_json::json!(banks), "{r}");
    let events = p["events"].as_array().unwrap();
    let of_type = |t: u32| events.iter().filter(move |x| x["event_type"] == t);
    let mle = of_type(0x404).next().expect("MLE_HASH");
    for b in &e.banks {
        assert_eq!(
            mle["digests"][b.name()].as_str().unwrap(),
            lcp2_mlehash(tboot, b.name(), Some(e.mle_cmdline)),
            "{r}: MLE_HASH {b}"
        );
    }
    let caps = e.caps.to_le_bytes();
    if e.tpm2 || e.da {
        let capev: Vec<&Value> = of_type(0x40f).collect();
        assert_eq!(capev.len(), 2, "{r}: 0x40F in PCR17 and PCR18");
        for c in capev {
            for b in &e.banks {
                assert_eq!(c["digests"][b.name()], hex::encode(b.digest(&caps)), "{r}");
            }
        }
    } else {
        // TPM 1.2 legacy: the caps are in COMBINED_HASH at 72..76.
        let data = hex::decode(of_type(0x403).next().unwrap()["data"].as_str().unwrap()).unwrap();
        assert_eq!(&data[72..76], &caps, "{r}: caps in COMBINED_HASH");
    }
    // tboot's events, as verify_all_modules adds them (1.9.6 policy.c
    // :737-762): the policy to PCR17 (and PCR18 with D/A), module 0 with no
    // policy entry (PCR17 with D/A, else 18), then each module per entry.
    let algs: Vec<HashAlg> = e
        .tboot_algs
        .iter()
        .copied()
        .filter(|a| e.banks.contains(a))
        .collect();
    let pol: Vec<(String, String)> = algs
        .iter()
        .map(|a| (a.name().to_string(), policy_digest(*a, e.cur, &e.policy)))
        .collect();
    let mut want = vec![(17, "tb_policy".to_string(), pol.clone())];
    if e.da {
        want.push((18, "tb_policy".into(), pol));
    }
    for (i, (name, image)) in [
        ("vmlinuz", KERNEL.repeat(3000)),
        ("initrd", INITRD.repeat(2000)),
    ]
    .iter()
    .enumerate()
    {
        let d = algs
            .iter()
            .map(|a| {
                let digest = module_digest(*a, e.module_cmdlines[i], image);
                (a.name().to_string(), digest)
            })
            .collect();
        want.push((e.module_pcrs[i], name.to_string(), d));
    }
    let got: Vec<TbootEvent> = of_type(0x501)
        .map(|x| {
            (
                x["pcr"].as_u64().unwrap() as u32,
                x["name"].as_str().unwrap().to_string(),
                digests(x),
            )
        })
        .collect();
    assert_eq!(got, want, "{r}: tboot's events");
    // Replay the SINIT's events and the expected tboot events per bank.
    for b in &e.banks {
        for pcr in 17u32..=19 {
            let mut v = b.zeros();
            let sinit = events
                .iter()
                .filter(|x| x["event_type"] != 0x501 && x["pcr"] == pcr)
                .filter_map(|x| x["digests"][b.name()].as_str().map(str::to_string));
            let tb = want
                .iter()
                .filter(|(p, _, _)| *p == pcr)
                .filter_map(|(_, _, d)| d.iter().find(|(a, _)| a == b.name()))
                .map(|(_, d)| d.clone());
            for d in sinit.chain(tb) {
                let mut buf = v.clone();
                buf.extend(hex::decode(d).unwrap());
                v = b.digest(&buf);
            }
            assert_eq!(
                p["pcrs"][pcr.to_string()][b.name()].as_str().unwrap(),
                hex::encode(&v),
                "{r}: PCR{pcr} {b}"
            );
        }
    }
}

#[test]
fn tboot_1_7_4_tpm12_legacy_launch_follows_its_source() {
    // TPM 1.2 only (TPM 2.0 came with 1.8.0). tboot.c :328-333: the first
    // word (the file name) is dropped before the command line is copied
    // into the MLE. policy.c :134-153 _def_policy: hash_alg 0, two
    // entries, module 1 on to PCR 19; :369-400 module command lines lose
    // their first word too. txt.c :450-485 caps: MLE_HDR_CAPS 0x27
    // (include/mle.h :80) & ~(wake|da) = 0x04, | getsec (the SINIT's only
    // wake) = 0x05, ecx_pgtbl cleared = 0x01, no_legacy set then cleared
    // (the SINIT has no bit 4) = 0x01.
    let tboot = tboot_release("1.7.4").join("tboot.gz");
    let l = setup(
        TPM12_LEGACY,
        &AcmSpec {
            capabilities: 0x1,
            tpm_algs: vec![SHA1.id()],
            ..AcmSpec::default()
        },
    );
    let mods = ["/vmlinuz console=ttyS0", "/initrd.img"];
    let p = ok(&predict(
        &l,
        &tboot,
        "/boot/tboot.gz logging=serial",
        mods,
        &[],
    ));
    check(
        &p,
        &Expected {
            release: "1.7.4",
            banks: vec![SHA1],
            tboot_algs: vec![SHA1],
            cur: SHA1,
            policy: tb_policy(0, &default_entries(19, false)),
            mle_cmdline: "logging=serial",
            module_cmdlines: ["console=ttyS0", ""],
            module_pcrs: [18, 19],
            da: false,
            caps: 0x01,
            log_format: "container",
            tpm2: false,
        },
        &tboot,
    );
}

#[test]
fn tboot_1_8_3_tpm2_launch_follows_its_source() {
    // cmdline.c :86: extpol defaults to sha1 (FIXED, :503-528 of 1.9.6's
    // identical get_tboot_extpol): tboot's events go to the SHA-1 bank
    // only, so the SHA-256 bank is refused and --bank sha1 predicted.
    // tboot.c :342-346: first word still dropped. policy.c :165-192
    // _def_policy_da: 3 entries, hash_alg 0x04. hash_module :410-504
    // drops the modules' first word (:428). txt.c :505-569: no TCG log
    // format yet (legacy), caps 0x27 → 0x01 as in 1.7.4, TPM 2.0 clears
    // the mapping bits.
    let tboot = tboot_release("1.8.3").join("tboot.gz");
    let l = setup(&tpm2_profile(&[SHA1, SHA256]), &sinit2(&[SHA1, SHA256]));
    let mods = ["/vmlinuz console=ttyS0", "/initrd.img"];
    let cmd = "/boot/tboot.gz logging=serial";
    fails_with(
        &predict(&l, &tboot, cmd, mods, &[]),
        &["sha256", "extpol=sha1", "tboot 1.8.3"],
    );
    let p = ok(&predict(&l, &tboot, cmd, mods, &["--bank", "sha1"]));
    check(
        &p,
        &Expected {
            release: "1.8.3",
            banks: vec![SHA1],
            tboot_algs: vec![SHA1],
            cur: SHA1,
            policy: tb_policy(0x04, &default_entries(17, true)),
            mle_cmdline: "logging=serial",
            module_cmdlines: ["console=ttyS0", ""],
            module_pcrs: [17, 17],
            da: true,
            caps: 0x01,
            log_format: "legacy",
            tpm2: true,
        },
        &tboot,
    );
}

#[test]
fn tboot_1_9_4_tpm2_embedded_launch_follows_its_source() {
    // tboot.c :335-340: skip_filename commented out, the whole command
    // line is measured (and "/boot/tboot.gz" has no '=', so parses as no
    // option). policy.c :426: modules' command lines hashed verbatim.
    // extpol=embedded: cur_alg SHA-256 (cmdline.c get_tboot_extpol), every
    // algorithm of tboot_alg_list (tpm.c :49, SHA-1 and SHA-256) per event.
    // No TCG log format before 1.9.6: legacy log, caps 0x01.
    let tboot = tboot_release("1.9.4").join("tboot.gz");
    let l = setup(&tpm2_profile(&[SHA1, SHA256]), &sinit2(&[SHA1, SHA256]));
    let mods = ["/vmlinuz console=ttyS0", "/initrd.img"];
    let cmd = "/boot/tboot.gz extpol=embedded";
    let p = ok(&predict(&l, &tboot, cmd, mods, &[]));
    check(
        &p,
        &Expected {
            release: "1.9.4",
            banks: vec![SHA1, SHA256],
            tboot_algs: vec![SHA1, SHA256],
            cur: SHA256,
            policy: tb_policy(0x04, &default_entries(17, true)),
            mle_cmdline: cmd,
            module_cmdlines: mods,
            module_pcrs: [17, 17],
            da: true,
            caps: 0x01,
            log_format: "legacy",
            tpm2: true,
        },
        &tboot,
    );
}

#[test]
fn tboot_1_9_6_tpm2_embedded_launch_follows_its_source() {
    // txt.c :284-331: the TCG log format when the SINIT's caps have bit 9;
    // :525-595: caps MLE_HDR_CAPS 0x227 (include/mle.h :83) & ~(wake|da)
    // = 0x204, | getsec = 0x205, bit 9 set from the SINIT, ecx_pgtbl
    // cleared = 0x201, mapping bits cleared on TPM 2.0. There is no
    // force_tpm2_legacy_log option yet (cmdline.c :75-95): ignored.
    let tboot = tboot_release("1.9.6").join("tboot.gz");
    let l = setup(&tpm2_profile(&[SHA1, SHA256]), &sinit2(&[SHA1, SHA256]));
    let mods = ["console=hvc0 root=/dev/xvda1", ""];
    let cmd = "logging=serial extpol=embedded force_tpm2_legacy_log=true";
    // The real RHEL 7.6 SecL host (tboot 1.9.6, embedded) logged exactly
    // this policy digest in both banks.
    let policy = tb_policy(0x04, &default_entries(17, true));
    let real = std::fs::read_to_string(drtm_common::rhel_manifest()).unwrap();
    for bank in [SHA1, SHA256] {
        assert!(
            real.contains(&policy_digest(bank, SHA256, &policy)),
            "{bank}"
        );
    }
    let p = ok(&predict(&l, &tboot, cmd, mods, &[]));
    check(
        &p,
        &Expected {
            release: "1.9.6",
            banks: vec![SHA1, SHA256],
            tboot_algs: vec![SHA1, SHA256],
            cur: SHA256,
            policy: tb_policy(0x04, &default_entries(17, true)),
            mle_cmdline: cmd,
            module_cmdlines: mods,
            module_pcrs: [17, 17],
            da: true,
            caps: 0x201,
            log_format: "agile",
            tpm2: true,
        },
        &tboot,
    );
}

#[test]
fn tboot_1_9_11_forced_legacy_log_launch_follows_its_source() {
    // cmdline.c :88 force_tpm2_legacy_log; txt.c :286-311 get_evtlog_type
    // returns the legacy format when it is true; :643-714 masks bit 9 and
    // sets it only for a TCG log: caps 0x227 & ~0x223 = 0x004, | getsec,
    // ecx cleared = 0x001.
    let tboot = tboot_release("1.9.11").join("tboot.gz");
    let l = setup(&tpm2_profile(&[SHA1, SHA256]), &sinit2(&[SHA1, SHA256]));
    let mods = ["console=hvc0", "rd.break"];
    let cmd = "extpol=embedded force_tpm2_legacy_log=true";
    let p = ok(&predict(&l, &tboot, cmd, mods, &[]));
    check(
        &p,
        &Expected {
            release: "1.9.11",
            banks: vec![SHA1, SHA256],
            tboot_algs: vec![SHA1, SHA256],
            cur: SHA256,
            policy: tb_policy(0x04, &default_entries(17, true)),
            mle_cmdline: cmd,
            module_cmdlines: mods,
            module_pcrs: [17, 17],
            da: true,
            caps: 0x001,
            log_format: "legacy",
            tpm2: true,
        },
        &tboot,
    );
}

#[test]
fn tboot_1_9_12_default_extpol_launch_follows_its_source() {
    // cmdline.c :86: extpol now defaults to sha256 (FIXED): only the
    // SHA-256 bank gets tboot's events, so SHA-1 is refused. policy.c
    // :167-194 _def_policy_da has hash_alg SHA-256 (0x0b). FIXED mode
    // checks every module against its entry (verify_module :615-679):
    // TB_HTYPE_ANY passes. TCG log, caps 0x201 (txt.c :644-715).
    let tboot = tboot_release("1.9.12").join("tboot.gz");
    let l = setup(&tpm2_profile(&[SHA1, SHA256]), &sinit2(&[SHA1, SHA256]));
    let mods = ["console=hvc0", ""];
    let cmd = "logging=memory";
    fails_with(
        &predict(&l, &tboot, cmd, mods, &[]),
        &["sha1", "extpol=sha256", "tboot 1.9.12"],
    );
    let p = ok(&predict(&l, &tboot, cmd, mods, &["--bank", "sha256"]));
    check(
        &p,
        &Expected {
            release: "1.9.12",
            banks: vec![SHA256],
            tboot_algs: vec![SHA256],
            cur: SHA256,
            policy: tb_policy(0x0b, &default_entries(17, true)),
            mle_cmdline: cmd,
            module_cmdlines: mods,
            module_pcrs: [17, 17],
            da: true,
            caps: 0x201,
            log_format: "agile",
            tpm2: true,
        },
        &tboot,
    );
}

#[test]
fn tboot_1_10_2_embedded_sha384_launch_follows_its_source() {
    // tpm.c :57: tboot_alg_list gains SHA-384 and SHA-512, so embedded
    // extends the SHA-384 bank too. policy.c :199-226 _def_policy_da
    // (0x0b). caps: MLE_HDR_CAPS 0x627 (include/mle.h :84) keeps CBnT
    // (bit 10) through txt.c :646-717: 0x404 | getsec | TCG = 0x605,
    // ecx cleared = 0x601.
    let tboot = tboot_release("1.10.2").join("tboot.gz");
    let banks = [SHA1, SHA256, SHA384];
    let l = setup(&tpm2_profile(&banks), &sinit2(&banks));
    let mods = ["console=hvc0", ""];
    let cmd = "extpol=embedded";
    let p = ok(&predict(&l, &tboot, cmd, mods, &[]));
    check(
        &p,
        &Expected {
            release: "1.10.2",
            banks: banks.to_vec(),
            tboot_algs: banks.to_vec(),
            cur: SHA256,
            policy: tb_policy(0x0b, &default_entries(17, true)),
            mle_cmdline: cmd,
            module_cmdlines: mods,
            module_pcrs: [17, 17],
            da: true,
            caps: 0x601,
            log_format: "agile",
            tpm2: true,
        },
        &tboot,
    );
}

#[test]
fn tboot_1_10_2_tpm12_cbnt_launch_follows_its_source() {
    // txt.c :695-696: a SINIT offering D/A and CBnT gets D/A without
    // pcr_map=da (1.10.2 CHANGELOG "Default to D/A mapping when TPM1.2 and
    // CBnT platform"). caps: 0x627 & ~0x223 = 0x404, | getsec = 0x405,
    // no TCG log on TPM 1.2, ecx cleared = 0x401, no_legacy | da = 0x431.
    // policy.c :468-472: TPM 1.2 takes _def_policy_12 (:169-196, hash_alg
    // 0x04, module 1 on to PCR 19 even with D/A); with D/A the policy is
    // also extended to PCR18 and module 0 to PCR17 (:772-838).
    let tboot = tboot_release("1.10.2").join("tboot.gz");
    let l = setup(
        TPM12_DA,
        &AcmSpec {
            capabilities: 0x421,
            tpm_algs: vec![SHA1.id()],
            ..AcmSpec::default()
        },
    );
    let mods = ["console=ttyS0", ""];
    let cmd = "logging=serial";
    let p = ok(&predict(&l, &tboot, cmd, mods, &[]));
    check(
        &p,
        &Expected {
            release: "1.10.2",
            banks: vec![SHA1],
            tboot_algs: vec![SHA1],
            cur: SHA1,
            policy: tb_policy(0x04, &default_entries(19, true)),
            mle_cmdline: cmd,
            module_cmdlines: mods,
            module_pcrs: [17, 19],
            da: true,
            caps: 0x431,
            log_format: "container",
            tpm2: false,
        },
        &tboot,
    );
    // Without CBnT the same SINIT gives the legacy mapping (no pcr_map=da).
    let l = setup(
        TPM12_LEGACY,
        &AcmSpec {
            capabilities: 0x021,
            tpm_algs: vec![SHA1.id()],
            ..AcmSpec::default()
        },
    );
    let p = ok(&predict(&l, &tboot, cmd, mods, &[]));
    assert_eq!(p["launch"]["pcr_mapping"], "legacy");
    assert_eq!(p["os_sinit_caps"], 0x401);
}

#[test]
fn debian_tboot_1_10_5_launch_follows_its_source() {
    // Debian's /boot/tboot.gz says "2022-03-04 12:00 +0100 1.10.5" (its
    // MLE header is the same as 1.10.1's). 1.10.2's lines hold (CHANGELOG
    // 1.10.3-1.10.5: printing, build and lcptools fixes only): extpol
    // defaults to sha256 (cmdline.c :86), _def_policy_da 0x0b, caps 0x601.
    let tboot = debian_tboot().join("tboot.gz");
    let l = setup(&tpm2_profile(&[SHA256]), &sinit2(&[SHA1, SHA256]));
    let mods = ["root=/dev/xvda1 ro", "quiet"];
    let cmd = "logging=serial,memory";
    let p = ok(&predict(&l, &tboot, cmd, mods, &[]));
    check(
        &p,
        &Expected {
            release: "1.10.5",
            banks: vec![SHA256],
            tboot_algs: vec![SHA256],
            cur: SHA256,
            policy: tb_policy(0x0b, &default_entries(17, true)),
            mle_cmdline: cmd,
            module_cmdlines: mods,
            module_pcrs: [17, 17],
            da: true,
            caps: 0x601,
            log_format: "agile",
            tpm2: true,
        },
        &tboot,
    );
}
