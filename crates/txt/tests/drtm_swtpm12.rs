//! A software TPM 1.2 agrees with the prediction: swtpm (no `--tpm2`) is driven
//! through the predicted legacy-mapping launch — the locality 4 hash sequence
//! over the ACM measurement input, SINIT's extends at locality 3, tboot's at
//! locality 2 — and TPM_PcrRead of PCR17-19 gives the predicted values. Then a
//! secret sealed before the launch with our precomputed digestAtRelease for
//! PCR17+18 unseals after it, and no longer after one more extend.
//!
//! The same is done for the details/authorities mapping (`pcr_map=da`, or a
//! SINIT that offers nothing else): SINIT's thirteen D/A events at locality 3.

mod common;

use std::path::Path;

use tcg::HashAlg;
use tcg::policy::tpm12_composite_digest;
use tpm_sim::SimError;
use tpm_sim::tpm12::{PcrInfoLong, Swtpm12, TPM_BAD_LOCALITY, TPM_WRONGPCRVAL};
use txt::sinit::evtype;
use txt::synth::{AcmSpec, build_acm};
use txt::{LaunchInputs, PcrMapping, PolicySource, Prediction, Profile, TpmFamily};

/// A TPM 1.2 platform with SinitMleData `version` (6: SHA-1 SinitHash, 8: SHA-256),
/// an LCP whose PolicyControl bit 2 puts the capabilities in the combined hash.
fn inputs(version: u32, dir: &Path) -> LaunchInputs {
    let mut profile = Profile::tpm2(vec![HashAlg::Sha1]);
    profile.tpm = TpmFamily::Tpm12;
    profile.pcr_mapping = Some(PcrMapping::Legacy);
    profile.sinit_mle_data_version = version;
    profile.scrtm_status = 1;
    profile.lcp_policy_control = 4;
    profile.bios_acm_id = Some(HashAlg::Sha1.digest(b"system A BIOS ACM"));
    profile.lcp_policy_hash = Some(HashAlg::Sha1.digest(b"system A LCP policy"));
    let acm = AcmSpec {
        capabilities: 0x0000_0003,
        tpm_algs: vec![0x0004],
        ..AcmSpec::default()
    };
    LaunchInputs {
        profile,
        acm: build_acm(&acm),
        tboot: common::tboot_gz(),
        tboot_cmdline: "logging=memory".into(),
        policy: PolicySource::Default,
        modules: common::launch_modules(dir),
    }
}

/// A TPM 1.2 D/A platform: SinitMleData v8, a SINIT with `sinit_caps`, tboot
/// asking for `mapping` (`pcr_map`), every platform value non-trivial so a
/// swapped or dropped event changes a PCR.
fn da_inputs(sinit_caps: u32, mapping: PcrMapping, dir: &Path) -> LaunchInputs {
    let mut i = inputs(8, dir);
    i.tboot_cmdline = format!("logging=memory pcr_map={mapping}");
    i.profile.pcr_mapping = None;
    i.profile.biosac_reg_data = Some(HashAlg::Sha1.digest(b"AUX index"));
    i.profile.lcp_elements_hash = Some(HashAlg::Sha1.digest(b"LCP elements"));
    i.profile.stm_hash = Some(HashAlg::Sha1.digest(b"STM image"));
    i.acm = build_acm(&AcmSpec {
        capabilities: sinit_caps,
        tpm_algs: vec![0x0004],
        ..AcmSpec::default()
    });
    i
}

const DA_PCR17: [u32; 8] = [
    evtype::HASH_START,
    evtype::BIOSAC_REG_DATA,
    evtype::CPU_SCRTM_STAT,
    evtype::LCP_CONTROL_HASH,
    evtype::ELEMENTS_HASH,
    evtype::STM_HASH,
    evtype::OSSINITDATA_CAP_HASH,
    evtype::MLE_HASH,
];
const DA_PCR18: [u32; 5] = [
    evtype::SINIT_PUBKEY_HASH,
    evtype::CPU_SCRTM_STAT,
    evtype::OSSINITDATA_CAP_HASH,
    evtype::LCP_CONTROL_HASH,
    evtype::LCP_HASH,
];

fn sha1_digest(e: &txt::Event) -> [u8; 20] {
    e.digests[&HashAlg::Sha1].0.as_slice().try_into().unwrap()
}

/// Perform the launch on the TPM as SINIT and tboot would.
fn launch(tpm: &Swtpm12, p: &Prediction) {
    let hs = &p.events[0];
    assert_eq!(hs.event_type, evtype::HASH_START);
    tpm.set_locality(4).unwrap();
    tpm.hash_sequence(&hs.data.0).unwrap();
    for e in &p.events[1..] {
        let locality = if e.event_type == evtype::TB_MEASUREMENT {
            2
        } else {
            3
        };
        tpm.set_locality(locality).unwrap();
        tpm.extend(e.pcr, &sha1_digest(e)).unwrap();
    }
    tpm.set_locality(0).unwrap();
}

fn predicted(p: &Prediction, pcr: u32) -> [u8; 20] {
    p.pcrs[&pcr][&HashAlg::Sha1]
        .0
        .as_slice()
        .try_into()
        .unwrap()
}

fn rc(e: SimError) -> u32 {
    match e {
        SimError::Tpm12 { rc, .. } => rc,
        other => panic!("expected a TPM 1.2 return code, got {other}"),
    }
}

#[test]
fn swtpm12_legacy_launch_reads_back_the_predicted_pcr17_to_19() {
    let dir = tempfile::tempdir().unwrap();
    let tpm = Swtpm12::start().unwrap();
    // Two launches on one TPM: the second hash sequence must reset PCR17-19 again.
    for version in [6, 8] {
        let p = txt::predict(&inputs(version, dir.path())).unwrap();
        assert_eq!(p.banks, [HashAlg::Sha1]);
        // Legacy mapping: SINIT's MLE hash and tboot's module 0 land in PCR18,
        // the second module in PCR19.
        let on = |pcr| p.events.iter().filter(|e| e.pcr == pcr).count();
        assert_eq!((on(17), on(18), on(19)), (3, 2, 1), "{:#?}", p.events);
        launch(&tpm, &p);
        for pcr in [17, 18, 19] {
            assert_eq!(
                hex::encode(tpm.pcr_read(pcr).unwrap()),
                hex::encode(predicted(&p, pcr)),
                "SinitMleData v{version} PCR{pcr}"
            );
        }
    }
}

#[test]
fn secret_sealed_on_tpm12_to_predicted_pcr17_and_18_unseals_only_after_the_launch() {
    let dir = tempfile::tempdir().unwrap();
    let tpm = Swtpm12::start().unwrap();
    let p = txt::predict(&inputs(8, dir.path())).unwrap();
    let release = tpm12_composite_digest(&[(17, predicted(&p, 17)), (18, predicted(&p, 18))]);
    let data_auth = HashAlg::Sha1.digest(b"blob secret").try_into().unwrap();
    let info = PcrInfoLong::release(&[17, 18], 0x01, release);
    let sealed = tpm.seal(&info, &data_auth, b"volume key").unwrap();
    // The TPM composed the PCRs as they are now exactly as our code does.
    let now = [
        (17, tpm.pcr_read(17).unwrap()),
        (18, tpm.pcr_read(18).unwrap()),
    ];
    assert_eq!(
        sealed.seal_info.digest_at_creation,
        tpm12_composite_digest(&now)
    );
    assert_eq!(sealed.seal_info.digest_at_release, release);
    assert_eq!(
        rc(tpm.unseal(&sealed, &data_auth).unwrap_err()),
        TPM_WRONGPCRVAL,
        "unsealed before the launch"
    );
    launch(&tpm, &p);
    assert_eq!(tpm.unseal(&sealed, &data_auth).unwrap(), b"volume key");
    // Sealing now, the TPM's own composite of the real PCR17+18 is our digestAtRelease.
    let again = tpm.seal(&info, &data_auth, b"x").unwrap();
    assert_eq!(again.seal_info.digest_at_creation, release);
    // Released to locality 0 only.
    tpm.set_locality(2).unwrap();
    assert_eq!(
        rc(tpm.unseal(&sealed, &data_auth).unwrap_err()),
        TPM_BAD_LOCALITY
    );
    // One more measurement into PCR18 and the secret stays sealed.
    tpm.extend(18, &[0x5A; 20]).unwrap();
    tpm.set_locality(0).unwrap();
    assert_eq!(
        rc(tpm.unseal(&sealed, &data_auth).unwrap_err()),
        TPM_WRONGPCRVAL
    );
}

#[test]
fn swtpm12_da_launch_reads_back_the_predicted_pcr17_to_19() {
    let dir = tempfile::tempdir().unwrap();
    let tpm = Swtpm12::start().unwrap();
    // (SINIT caps, requested mapping, tboot release, modules after module 0 in PCR17):
    // D/A asked for and offered; D/A forced by a SINIT without the legacy
    // mapping; tboot 1.9.6's D/A default policy putting module 1 in PCR17 too.
    let cases = [
        (0x23, PcrMapping::Da, None, false),
        (0x33, PcrMapping::Legacy, None, false),
        (0x23, PcrMapping::Da, Some("1.9.6"), true),
    ];
    for (sinit_caps, mapping, version, module1_in_17) in cases {
        let mut i = da_inputs(sinit_caps, mapping, dir.path());
        if let Some(v) = version {
            i.tboot = common::tboot_release_gz(v);
        }
        let p = txt::predict(&i).unwrap();
        let what = format!("SINIT caps {sinit_caps:#x}, {mapping:?}, tboot {version:?}");
        // OsSinitData caps: wake via MONITOR, no ECX page table, no-legacy + D/A.
        assert_eq!(p.os_sinit_caps & 0x3f, 0x32, "{what}");
        let sinit_on = |pcr| {
            p.events
                .iter()
                .filter(|e| e.pcr == pcr && e.event_type != evtype::TB_MEASUREMENT)
                .map(|e| e.event_type)
                .collect::<Vec<_>>()
        };
        assert_eq!(sinit_on(17), DA_PCR17, "{what}");
        assert_eq!(sinit_on(18), DA_PCR18, "{what}");
        let tboot_on = |pcr| {
            p.events
                .iter()
                .filter(|e| e.pcr == pcr && e.event_type == evtype::TB_MEASUREMENT)
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
        };
        let mut on17 = vec!["tb_policy", "vmlinuz"];
        if module1_in_17 {
            on17.push("initrd");
        }
        assert_eq!(tboot_on(17), on17, "{what}");
        assert_eq!(tboot_on(18), ["tb_policy"], "{what}");
        let on19: &[&str] = if module1_in_17 { &[] } else { &["initrd"] };
        assert_eq!(tboot_on(19), on19, "{what}");
        // Values TPM 1.2 SINIT extends as they are, not hashed.
        let digest_of = |t| {
            p.events
                .iter()
                .find(|e| e.event_type == t)
                .map(sha1_digest)
                .unwrap()
                .to_vec()
        };
        let prof = &i.profile;
        assert_eq!(
            digest_of(evtype::BIOSAC_REG_DATA),
            prof.biosac_reg_data.clone().unwrap()
        );
        assert_eq!(
            digest_of(evtype::ELEMENTS_HASH),
            prof.lcp_elements_hash.clone().unwrap()
        );
        assert_eq!(digest_of(evtype::STM_HASH), prof.stm_hash.clone().unwrap());
        assert_eq!(
            digest_of(evtype::LCP_HASH),
            prof.lcp_policy_hash.clone().unwrap()
        );
        // SINIT_PUBKEY_HASH: SHA-1 of the v0.0 header's 256-byte RSAPubKey at offset 128.
        assert_eq!(
            digest_of(evtype::SINIT_PUBKEY_HASH),
            HashAlg::Sha1.digest(&i.acm[128..128 + 256])
        );
        launch(&tpm, &p);
        for pcr in [17, 18, 19] {
            assert_eq!(
                hex::encode(tpm.pcr_read(pcr).unwrap()),
                hex::encode(predicted(&p, pcr)),
                "{what}: PCR{pcr}"
            );
        }
    }
}

#[test]
fn tpm12_da_without_lcp_or_stm_extends_zero_digests_not_hashes_of_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut i = da_inputs(0x23, PcrMapping::Da, dir.path());
    i.profile.stm_hash = None;
    i.profile.lcp_elements_hash = None;
    i.profile.lcp_policy_hash = None;
    let p = txt::predict(&i).unwrap();
    for t in [evtype::ELEMENTS_HASH, evtype::STM_HASH, evtype::LCP_HASH] {
        let e = p.events.iter().find(|e| e.event_type == t).unwrap();
        assert_eq!(sha1_digest(e), [0; 20], "{}", e.name);
    }
    // A SINIT key digest captured from system A wins over the ACM's.
    let captured = HashAlg::Sha1.digest(b"system A SINIT key");
    i.profile
        .sinit_pubkey_digests
        .insert(HashAlg::Sha1, hex::encode(&captured));
    let p = txt::predict(&i).unwrap();
    let e = p
        .events
        .iter()
        .find(|e| e.event_type == evtype::SINIT_PUBKEY_HASH)
        .unwrap();
    assert_eq!(sha1_digest(e).to_vec(), captured);
    // A SINIT without D/A keeps the legacy mapping even when D/A is asked for.
    let legacy = txt::predict(&da_inputs(0x03, PcrMapping::Da, dir.path())).unwrap();
    assert_eq!(legacy.os_sinit_caps & 0x30, 0);
    assert!(
        legacy
            .events
            .iter()
            .any(|e| e.event_type == evtype::COMBINED_HASH)
    );
    // A BIOSAC value of the TPM 2.0 size is refused, naming the field.
    i.profile.biosac_reg_data = Some(vec![0; 32]);
    let err = txt::predict(&i).unwrap_err().to_string();
    assert!(err.contains("biosac_reg_data"), "{err}");
}

#[test]
fn secret_sealed_on_tpm12_to_predicted_da_pcr17_and_18_unseals_only_after_the_launch() {
    let dir = tempfile::tempdir().unwrap();
    let tpm = Swtpm12::start().unwrap();
    let p = txt::predict(&da_inputs(0x23, PcrMapping::Da, dir.path())).unwrap();
    let release = tpm12_composite_digest(&[(17, predicted(&p, 17)), (18, predicted(&p, 18))]);
    let data_auth = HashAlg::Sha1.digest(b"da blob secret").try_into().unwrap();
    let info = PcrInfoLong::release(&[17, 18], 0x01, release);
    let sealed = tpm.seal(&info, &data_auth, b"da volume key").unwrap();
    assert_eq!(sealed.seal_info.digest_at_release, release);
    assert_eq!(
        rc(tpm.unseal(&sealed, &data_auth).unwrap_err()),
        TPM_WRONGPCRVAL,
        "unsealed before the launch"
    );
    launch(&tpm, &p);
    assert_eq!(tpm.unseal(&sealed, &data_auth).unwrap(), b"da volume key");
    let again = tpm.seal(&info, &data_auth, b"x").unwrap();
    assert_eq!(again.seal_info.digest_at_creation, release);
    // One more details measurement and the secret stays sealed.
    tpm.set_locality(2).unwrap();
    tpm.extend(17, &[0xA5; 20]).unwrap();
    tpm.set_locality(0).unwrap();
    assert_eq!(
        rc(tpm.unseal(&sealed, &data_auth).unwrap_err()),
        TPM_WRONGPCRVAL
    );
}
