//! A software TPM 1.2 agrees with the prediction: swtpm (no `--tpm2`) is driven
//! through the predicted legacy-mapping launch — the locality 4 hash sequence
//! over the ACM measurement input, SINIT's extends at locality 3, tboot's at
//! locality 2 — and TPM_PcrRead of PCR17-19 gives the predicted values. Then a
//! secret sealed before the launch with our precomputed digestAtRelease for
//! PCR17+18 unseals after it, and no longer after one more extend.
//!
//! The predictor has no TPM 1.2 details/authorities (`pcr_map=da`) mapping yet
//! (it refuses such profiles), so only the legacy mapping is driven here.

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
    profile.pcr_mapping = PcrMapping::Legacy;
    profile.sinit_mle_data_version = version;
    profile.tcg_log_format = false;
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
