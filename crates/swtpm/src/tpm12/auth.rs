//! TPM 1.2 authorization sessions (Part 1 §13, Part 3 §18): OIAP and OSAP,
//! the HMAC-SHA1 over a command's parameter digest and the rolling nonces, and
//! the check of the TPM's answering HMAC.

use hmac::{Hmac, KeyInit, Mac};
use sha1::{Digest, Sha1};

use super::wire::Reader;
use crate::SimError;

/// The authorization data of the SRK and owner that `swtpm_setup --srk-well-known
/// --owner-well-known` sets. Its help says "a password of 20 zero bytes", and it
/// hashes passwords: the secret the TPM checks HMACs with is SHA-1 of those 20 zero
/// bytes (observed with swtpm 0.7.1: with the bare zeros `TPM_Seal` fails with
/// `TPM_AUTHFAIL`), not the zeros a TSS `TSS_WELL_KNOWN_SECRET` would use.
pub fn well_known_auth() -> [u8; 20] {
    sha1(&[&[0; 20]])
}

/// SHA-1 over the concatenation of `parts`.
pub fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// HMAC-SHA1 keyed with `key` over the concatenation of `parts`.
pub fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    let mut m = <Hmac<Sha1> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// An open session: its handle, the TPM's last `nonceEven`, and the HMAC key
/// (the entity's usage secret for OIAP, the OSAP shared secret for OSAP).
pub struct Session {
    /// `TPM_AUTHHANDLE`.
    pub handle: u32,
    /// The TPM's last `nonceEven` (`authLastNonceEven`).
    pub nonce_even: [u8; 20],
    /// HMAC key.
    pub key: [u8; 20],
}

/// One session's part of a request: the `nonceOdd` the caller picked, kept to
/// check the answer.
pub struct Authorized {
    /// Bytes to append to the command: handle, nonceOdd, continueAuthSession, HMAC.
    pub trailer: Vec<u8>,
    nonce_odd: [u8; 20],
}

/// `continueAuthSession`: every command here is the session's last, so the
/// TPM frees it whether the command succeeds or fails and no handle leaks.
const CONTINUE: u8 = 0;

impl Session {
    /// Authorize a command whose parameters hash to `in_param_digest`
    /// (SHA-1 of the ordinal and the non-handle parameters, Part 1 §13.6).
    pub fn authorize(&self, in_param_digest: &[u8; 20], nonce_odd: [u8; 20]) -> Authorized {
        let mac = hmac_sha1(
            &self.key,
            &[in_param_digest, &self.nonce_even, &nonce_odd, &[CONTINUE]],
        );
        let mut trailer = self.handle.to_be_bytes().to_vec();
        trailer.extend_from_slice(&nonce_odd);
        trailer.push(CONTINUE);
        trailer.extend_from_slice(&mac);
        Authorized { trailer, nonce_odd }
    }

    /// Read this session's 41-byte part of a response (nonceEven, continueAuthSession,
    /// resAuth) and check that the TPM's HMAC over `out_param_digest` is right.
    pub fn check_answer(
        &mut self,
        r: &mut Reader<'_>,
        sent: &Authorized,
        out_param_digest: &[u8; 20],
        which: &str,
    ) -> Result<(), SimError> {
        let nonce_even = r.digest("nonceEven")?;
        let cont = r.take(1, "continueAuthSession")?[0];
        let res_auth = r.digest("resAuth")?;
        let want = hmac_sha1(
            &self.key,
            &[out_param_digest, &nonce_even, &sent.nonce_odd, &[cont]],
        );
        if want != res_auth {
            return Err(SimError::Response(format!(
                "{which}: the TPM's resAuth does not verify with this session's secret"
            )));
        }
        self.nonce_even = nonce_even;
        Ok(())
    }
}
