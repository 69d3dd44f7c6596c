//! `TPM_Seal` and `TPM_Unseal` under the SRK (TPM 1.2 Part 3 §10.1, §10.2) with
//! a `TPM_PCR_INFO_LONG` (Part 2 §8.3): the TPM releases the secret only at an
//! allowed locality and when the selected PCRs hash to `digestAtRelease`.

use super::auth::{self, well_known_auth};
use super::wire::{Cmd, Reader, TAG_RQU_AUTH1_COMMAND, TAG_RQU_AUTH2_COMMAND, pcr_selection};
use super::{KH_SRK, ORD_SEAL, ORD_UNSEAL, Swtpm12};
use crate::SimError;

/// `TPM_TAG_PCR_INFO_LONG`.
const TAG_PCR_INFO_LONG: u16 = 0x0006;
/// `TPM_TAG_STORED_DATA12`.
const TAG_STORED_DATA12: u16 = 0x0016;

/// `TPM_PCR_INFO_LONG`: which PCRs and localities a sealed blob is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrInfoLong {
    /// `TPM_LOCALITY_SELECTION` at creation (bit n = locality n); the TPM records its own.
    pub locality_at_creation: u8,
    /// Localities allowed to unseal (bit n = locality n; 0x01 = locality 0 only).
    pub locality_at_release: u8,
    /// PCRs whose values at sealing time are recorded in `digest_at_creation`.
    pub creation_pcrs: Vec<u32>,
    /// PCRs that must hash to `digest_at_release` for `TPM_Unseal`.
    pub release_pcrs: Vec<u32>,
    /// SHA-1 of the `TPM_PCR_COMPOSITE` of `creation_pcrs` (the TPM computes it).
    pub digest_at_creation: [u8; 20],
    /// SHA-1 of the `TPM_PCR_COMPOSITE` of `release_pcrs` the TPM demands at unseal.
    pub digest_at_release: [u8; 20],
}

impl PcrInfoLong {
    /// Bind to `pcrs` having the composite digest `digest_at_release`, unsealable at the
    /// localities in `locality_at_release`; the TPM records the same PCRs at creation.
    pub fn release(pcrs: &[u32], locality_at_release: u8, digest_at_release: [u8; 20]) -> Self {
        PcrInfoLong {
            locality_at_creation: locality_at_release,
            locality_at_release,
            creation_pcrs: pcrs.to_vec(),
            release_pcrs: pcrs.to_vec(),
            digest_at_creation: [0; 20],
            digest_at_release,
        }
    }

    fn to_bytes(&self) -> Result<Vec<u8>, SimError> {
        let mut b = TAG_PCR_INFO_LONG.to_be_bytes().to_vec();
        b.push(self.locality_at_creation);
        b.push(self.locality_at_release);
        b.extend_from_slice(&pcr_selection(&self.creation_pcrs)?);
        b.extend_from_slice(&pcr_selection(&self.release_pcrs)?);
        b.extend_from_slice(&self.digest_at_creation);
        b.extend_from_slice(&self.digest_at_release);
        Ok(b)
    }

    fn parse(b: &[u8]) -> Result<Self, SimError> {
        let mut r = Reader::new("TPM_PCR_INFO_LONG", b);
        let tag = r.u16("tag")?;
        if tag != TAG_PCR_INFO_LONG {
            return Err(SimError::Response(format!(
                "sealInfo tag 0x{tag:04x}, expected TPM_TAG_PCR_INFO_LONG (0x0006)"
            )));
        }
        let locality_at_creation = r.take(1, "localityAtCreation")?[0];
        let locality_at_release = r.take(1, "localityAtRelease")?[0];
        let mut select = |field| -> Result<Vec<u32>, SimError> {
            let n = r.u16(field)? as usize;
            let bits = r.take(n, field)?;
            Ok((0..n as u32 * 8)
                .filter(|p| bits[(p / 8) as usize] & (1 << (p % 8)) != 0)
                .collect())
        };
        let creation_pcrs = select("creationPCRSelection")?;
        let release_pcrs = select("releasePCRSelection")?;
        let digest_at_creation = r.digest("digestAtCreation")?;
        let digest_at_release = r.digest("digestAtRelease")?;
        r.end()?;
        Ok(PcrInfoLong {
            locality_at_creation,
            locality_at_release,
            creation_pcrs,
            release_pcrs,
            digest_at_creation,
            digest_at_release,
        })
    }
}

/// A `TPM_STORED_DATA12` blob from `TPM_Seal`, with the `TPM_PCR_INFO_LONG` the
/// TPM put in it.
#[derive(Debug, Clone)]
pub struct SealedData {
    bytes: Vec<u8>,
    /// The binding as the TPM recorded it (its `digestAtCreation`, its localities).
    pub seal_info: PcrInfoLong,
}

impl SealedData {
    /// The blob as `TPM_Unseal` takes it.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Read one `TPM_STORED_DATA12` from the front of `r`.
    fn read(r: &mut Reader<'_>) -> Result<Self, SimError> {
        let start = r.pos();
        let tag = r.u16("TPM_STORED_DATA12.tag")?;
        if tag != TAG_STORED_DATA12 {
            return Err(SimError::Response(format!(
                "sealedData tag 0x{tag:04x}, expected TPM_TAG_STORED_DATA12 (0x0016)"
            )));
        }
        r.u16("TPM_STORED_DATA12.et")?;
        let info = r.sized("sealInfo")?;
        r.sized("encData")?;
        Ok(SealedData {
            bytes: r.since(start).to_vec(),
            seal_info: PcrInfoLong::parse(info)?,
        })
    }
}

impl Swtpm12 {
    /// `TPM_Seal` `secret` under the SRK to `info`, with `data_auth` as the blob's
    /// secret. Authorized by an OSAP session on the SRK ([`well_known_auth`]); the
    /// blob's secret travels as encAuth = data_auth XOR SHA-1(sharedSecret ‖ nonceEven).
    pub fn seal(
        &self,
        info: &PcrInfoLong,
        data_auth: &[u8; 20],
        secret: &[u8],
    ) -> Result<SealedData, SimError> {
        let mut session = self.osap(KH_SRK, &well_known_auth())?;
        let pad = auth::sha1(&[&session.key, &session.nonce_even]);
        let enc_auth: Vec<u8> = data_auth.iter().zip(pad).map(|(a, p)| a ^ p).collect();
        let info = info.to_bytes()?;
        let mut params = enc_auth;
        params.extend_from_slice(&(info.len() as u32).to_be_bytes());
        params.extend_from_slice(&info);
        params.extend_from_slice(&(secret.len() as u32).to_be_bytes());
        params.extend_from_slice(secret);
        let in_digest = auth::sha1(&[&ORD_SEAL.to_be_bytes(), &params]);
        let sent = session.authorize(&in_digest, self.nonce_odd());
        let cmd = Cmd::new(TAG_RQU_AUTH1_COMMAND, ORD_SEAL)
            .u32(KH_SRK)
            .bytes(&params)
            .bytes(&sent.trailer)
            .finish();
        let body = self.run(ORD_SEAL, &cmd)?;
        let mut r = Reader::new("TPM_Seal", &body);
        let sealed = SealedData::read(&mut r)?;
        let out_digest = auth::sha1(&[&0u32.to_be_bytes(), &ORD_SEAL.to_be_bytes(), &sealed.bytes]);
        session.check_answer(&mut r, &sent, &out_digest, "TPM_Seal")?;
        r.end()?;
        Ok(sealed)
    }

    /// `TPM_Unseal` `sealed` under the SRK at the current locality, with OIAP
    /// sessions for the SRK ([`well_known_auth`]) and for the blob (`data_auth`).
    pub fn unseal(&self, sealed: &SealedData, data_auth: &[u8; 20]) -> Result<Vec<u8>, SimError> {
        let mut srk = self.oiap(&well_known_auth())?;
        let mut data = self.oiap(data_auth)?;
        let in_digest = auth::sha1(&[&ORD_UNSEAL.to_be_bytes(), &sealed.bytes]);
        let sent_srk = srk.authorize(&in_digest, self.nonce_odd());
        let sent_data = data.authorize(&in_digest, self.nonce_odd());
        let cmd = Cmd::new(TAG_RQU_AUTH2_COMMAND, ORD_UNSEAL)
            .u32(KH_SRK)
            .bytes(&sealed.bytes)
            .bytes(&sent_srk.trailer)
            .bytes(&sent_data.trailer)
            .finish();
        let body = self.run(ORD_UNSEAL, &cmd)?;
        let mut r = Reader::new("TPM_Unseal", &body);
        let secret = r.sized("secret")?.to_vec();
        let out_digest = auth::sha1(&[
            &0u32.to_be_bytes(),
            &ORD_UNSEAL.to_be_bytes(),
            &(secret.len() as u32).to_be_bytes(),
            &secret,
        ]);
        srk.check_answer(&mut r, &sent_srk, &out_digest, "TPM_Unseal (SRK)")?;
        data.check_answer(&mut r, &sent_data, &out_digest, "TPM_Unseal (data)")?;
        r.end()?;
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> PcrInfoLong {
        PcrInfoLong {
            locality_at_creation: 0x01,
            locality_at_release: 0x1F,
            creation_pcrs: vec![17],
            release_pcrs: vec![17, 18, 23],
            digest_at_creation: [1; 20],
            digest_at_release: [2; 20],
        }
    }

    #[test]
    fn pcr_info_long_round_trips_through_its_wire_form() {
        let b = info().to_bytes().unwrap();
        assert_eq!(b.len(), 2 + 2 + 5 + 5 + 40);
        assert_eq!(&b[9..14], &[0, 3, 0, 0, 0x86]);
        assert_eq!(PcrInfoLong::parse(&b).unwrap(), info());
    }

    #[test]
    fn truncated_or_mistagged_tpm_answers_are_errors_naming_the_field() {
        let b = info().to_bytes().unwrap();
        for n in 0..b.len() {
            assert!(PcrInfoLong::parse(&b[..n]).is_err(), "{n} bytes");
        }
        let mut long = b.clone();
        long.push(0);
        assert!(
            PcrInfoLong::parse(&long)
                .unwrap_err()
                .to_string()
                .contains("trailing")
        );
        let mut stored = vec![0x00, 0x16, 0x00, 0x00];
        stored.extend_from_slice(&(b.len() as u32).to_be_bytes());
        stored.extend_from_slice(&b);
        stored.extend_from_slice(&[0, 0, 0, 9, 1, 2]);
        let e = SealedData::read(&mut Reader::new("TPM_Seal", &stored)).unwrap_err();
        assert!(e.to_string().contains("encData"), "{e}");
        stored[1] = 0x15;
        let e = SealedData::read(&mut Reader::new("TPM_Seal", &stored)).unwrap_err();
        assert!(e.to_string().contains("TPM_TAG_STORED_DATA12"), "{e}");
        // A huge size field is an error, not an allocation.
        let e = Reader::new("x", &[0xFF, 0xFF, 0xFF, 0xFF]).sized("secret");
        assert!(e.is_err());
        assert!(info_with_pcr(24).to_bytes().is_err());
    }

    fn info_with_pcr(p: u32) -> PcrInfoLong {
        PcrInfoLong::release(&[p], 1, [0; 20])
    }
}
