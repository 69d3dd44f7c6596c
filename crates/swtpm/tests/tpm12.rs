//! The TPM 1.2 harness against swtpm itself: PCR reset values, locality rules,
//! the dynamic-launch hash sequence, and a seal/unseal round trip with every
//! authorization HMAC checked by the TPM (and the TPM's checked by us).

use sha1::{Digest, Sha1};
use tpm_sim::SimError;
use tpm_sim::tpm12::{PcrInfoLong, Swtpm12, TPM_AUTH2FAIL, TPM_BAD_LOCALITY, TPM_WRONGPCRVAL};

fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// SHA-1 of a TPM_PCR_COMPOSITE of PCR17 and PCR18 (written out here on purpose:
/// the project's own implementation is what the txt tests check against the TPM).
fn composite_17_18(v17: &[u8; 20], v18: &[u8; 20]) -> [u8; 20] {
    sha1(&[&[0, 3, 0, 0, 0b110], &40u32.to_be_bytes(), v17, v18])
}

fn rc(e: SimError) -> u32 {
    match e {
        SimError::Tpm12 { rc, .. } => rc,
        other => panic!("expected a TPM 1.2 return code, got {other}"),
    }
}

#[test]
fn tpm12_dynamic_pcrs_follow_the_launch_rules() {
    let tpm = Swtpm12::start().unwrap();
    // Before a launch the dynamic PCRs hold -1.
    assert_eq!(tpm.pcr_read(17).unwrap(), [0xFF; 20]);
    let d = sha1(&[b"measurement"]);
    // Locality 0 may not extend PCR17 ...
    let e = tpm.extend(17, &d).unwrap_err();
    assert!(e.to_string().contains("TPM_BAD_LOCALITY"), "{e}");
    assert_eq!(rc(e), TPM_BAD_LOCALITY);
    // ... while PCR16 (debug) accepts it anywhere.
    let v16 = tpm.extend(16, &d).unwrap();
    assert_eq!(v16, sha1(&[&[0; 20], &d]));
    tpm.set_locality(4).unwrap();
    tpm.hash_sequence(b"ACM input").unwrap();
    assert_eq!(
        tpm.pcr_read(17).unwrap(),
        sha1(&[&[0; 20], &sha1(&[b"ACM input"])])
    );
    assert_eq!(tpm.pcr_read(18).unwrap(), [0; 20]);
    tpm.set_locality(2).unwrap();
    let v18 = tpm.extend(18, &d).unwrap();
    assert_eq!(v18, sha1(&[&[0; 20], &d]));
    assert_eq!(tpm.pcr_read(18).unwrap(), v18);
}

#[test]
fn tpm12_seal_releases_only_to_the_bound_pcrs_locality_and_auth() {
    let tpm = Swtpm12::start().unwrap();
    let data_auth = sha1(&[b"blob secret"]);
    let at_release = composite_17_18(&[0xFF; 20], &[0xFF; 20]);
    let info = PcrInfoLong::release(&[17, 18], 0x01, at_release);
    let sealed = tpm.seal(&info, &data_auth, b"volume key").unwrap();
    // The TPM recorded the same composite for the PCRs as they are now.
    assert_eq!(sealed.seal_info.digest_at_creation, at_release);
    assert_eq!(sealed.seal_info.digest_at_release, at_release);
    assert_eq!(sealed.seal_info.release_pcrs, [17, 18]);
    assert_eq!(tpm.unseal(&sealed, &data_auth).unwrap(), b"volume key");
    assert_eq!(
        rc(tpm.unseal(&sealed, &[7; 20]).unwrap_err()),
        TPM_AUTH2FAIL
    );
    tpm.set_locality(2).unwrap();
    assert_eq!(
        rc(tpm.unseal(&sealed, &data_auth).unwrap_err()),
        TPM_BAD_LOCALITY
    );
    tpm.extend(18, &[1; 20]).unwrap();
    tpm.set_locality(0).unwrap();
    assert_eq!(
        rc(tpm.unseal(&sealed, &data_auth).unwrap_err()),
        TPM_WRONGPCRVAL
    );
}
