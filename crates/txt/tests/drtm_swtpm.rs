//! A software TPM agrees with the prediction: drive swtpm through the
//! predicted launch (locality 4 hash sequence with the ACM measurement input,
//! SINIT's extends at locality 3, tboot's at locality 2), read PCR17-19 in
//! every bank, and unseal a secret sealed beforehand to the predicted PCRs.

mod common;

use std::path::Path;

use tcg::HashAlg;
use tcg::policy::{PcrSelection, PolicyDigest};
use tcg::values::PcrValues;
use tpm_sim::Swtpm;
use txt::sinit::evtype;
use txt::synth::{AcmSpec, build_acm};
use txt::{ExtPolicy, LaunchInputs, PolicySource, Prediction, Profile};

fn tpm_banks(tpm: &Swtpm) -> Vec<HashAlg> {
    HashAlg::ALL
        .into_iter()
        .filter(|a| tpm.pcr_read(a.id(), 17).is_ok())
        .collect()
}

/// A launch of Debian's tboot (1.10.5) with `extpol`, predicting `banks`;
/// the stand-in SINIT hashes every one of them.
fn inputs(banks: &[HashAlg], extpol: ExtPolicy, dir: &Path) -> LaunchInputs {
    let mut profile = Profile::tpm2(banks.to_vec());
    profile.extpol = Some(extpol);
    profile.scrtm_status = 1;
    profile.biosac_reg_data = Some((0u8..32).collect());
    for &b in banks {
        profile
            .nv_info_digests
            .insert(b, hex::encode(b.digest(b"system A NV info")));
        profile
            .sinit_pubkey_digests
            .insert(b, hex::encode(b.digest(b"system A SINIT key")));
    }
    LaunchInputs {
        profile,
        acm: build_acm(&AcmSpec {
            tpm_algs: banks.iter().map(|b| b.id()).collect(),
            ..AcmSpec::default()
        }),
        tboot: common::tboot_gz(),
        tboot_cmdline: format!("logging=memory extpol={extpol}"),
        policy: PolicySource::Default,
        modules: common::launch_modules(dir),
    }
}

/// Perform the launch on the TPM as SINIT and tboot would.
fn launch(tpm: &Swtpm, p: &Prediction) {
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
        let digests: Vec<(u16, &[u8])> = e
            .digests
            .iter()
            .map(|(a, d)| (a.id(), d.0.as_slice()))
            .collect();
        tpm.pcr_extend(e.pcr, &digests).unwrap();
    }
    tpm.set_locality(0).unwrap();
}

fn check_pcrs(tpm: &Swtpm, p: &Prediction) {
    for (&pcr, banks) in &p.pcrs {
        for (alg, v) in banks {
            assert_eq!(
                hex::encode(tpm.pcr_read(alg.id(), pcr).unwrap()),
                hex::encode(&v.0),
                "PCR{pcr} {alg}"
            );
        }
    }
}

#[test]
fn swtpm_launch_reads_back_the_predicted_pcrs_in_every_bank() {
    let dir = tempfile::tempdir().unwrap();
    for extpol in [ExtPolicy::Embedded, ExtPolicy::Fixed(HashAlg::Sha256)] {
        let tpm = Swtpm::start().unwrap();
        let mut banks = tpm_banks(&tpm);
        assert!(banks.contains(&HashAlg::Sha256), "swtpm banks {banks:?}");
        if extpol != ExtPolicy::Embedded {
            // tboot extends only the sha256 bank: the others cannot be predicted.
            let refused = txt::predict(&inputs(&banks, extpol, dir.path()));
            if banks.len() > 1 {
                let e = refused.unwrap_err().to_string();
                assert!(e.contains("extends only that bank"), "{e}");
            }
            banks = vec![HashAlg::Sha256];
        }
        let p = txt::predict(&inputs(&banks, extpol, dir.path())).unwrap();
        launch(&tpm, &p);
        check_pcrs(&tpm, &p);
        if extpol != ExtPolicy::Embedded {
            let tb = p
                .events
                .iter()
                .filter(|e| e.event_type == evtype::TB_MEASUREMENT);
            assert!(tb.clone().count() >= 3);
            assert!(
                tb.into_iter()
                    .all(|e| e.digests.keys().eq([HashAlg::Sha256].iter()))
            );
        }
    }
}

#[test]
fn secret_sealed_to_predicted_pcr17_and_18_unseals_only_after_the_launch() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let tpm = Swtpm::start().unwrap();
    let banks = tpm_banks(&tpm);
    let p = txt::predict(&inputs(&banks, ExtPolicy::Embedded, d)).unwrap();
    let sel_str = "sha256:17,18";
    let sel: PcrSelection = sel_str.parse().unwrap();
    let mut values = PcrValues::default();
    for pcr in [17u32, 18] {
        values.insert(
            HashAlg::Sha256,
            pcr,
            p.pcrs[&pcr][&HashAlg::Sha256].0.clone(),
        );
    }
    let mut policy = PolicyDigest::new(HashAlg::Sha256);
    policy.policy_pcr(&sel, &values).unwrap();
    std::fs::write(d.join("policy.bin"), policy.digest()).unwrap();
    std::fs::write(d.join("secret.dat"), b"volume key").unwrap();
    tpm.seal_to_policy_file(d).unwrap();
    assert!(
        tpm.unseal_with_pcr_policy(d, sel_str).is_err(),
        "unsealed before the launch"
    );
    launch(&tpm, &p);
    assert_eq!(
        tpm.unseal_with_pcr_policy(d, sel_str).unwrap(),
        b"volume key"
    );
}
