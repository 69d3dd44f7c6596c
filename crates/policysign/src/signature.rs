//! Signatures over an approval's aHash, in the forms tpm2-tools reads:
//! `TPMT_SIGNATURE` (Part 2 §11.3.4; `tpm2_verifysignature -s`, the tools'
//! default "tss" format) and the plain forms other signers write (`-f
//! rsassa`: the raw RSASSA-PKCS1-v1_5 block; `-f ecdsa`: DER `ECDSA-Sig-Value`,
//! as `openssl pkeyutl -sign` and `tpm2_sign -f plain` write them).

use tcg::HashAlg;

use crate::public::{Curve, KeyMaterial, TPM_ALG_ECDSA, TPM_ALG_RSASSA, TpmPublic};
use crate::wire::{Reader, WireError, Writer};

/// A signature by an approval key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signature {
    /// RSASSA-PKCS1-v1_5.
    RsaSsa {
        /// The digest's hash.
        hash: HashAlg,
        /// The signature block (modulus-sized).
        sig: Vec<u8>,
    },
    /// ECDSA.
    Ecdsa {
        /// The digest's hash.
        hash: HashAlg,
        /// r, padded to the curve size.
        r: Vec<u8>,
        /// s, padded to the curve size.
        s: Vec<u8>,
    },
}

/// A signature that cannot be read or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not a `TPMT_SIGNATURE`.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// Readable, but not what the key makes or not valid.
    #[error("{0}")]
    Bad(String),
}

impl Signature {
    /// `TPM_ALG_RSASSA` or `TPM_ALG_ECDSA`.
    pub fn scheme(&self) -> u16 {
        match self {
            Signature::RsaSsa { .. } => TPM_ALG_RSASSA,
            Signature::Ecdsa { .. } => TPM_ALG_ECDSA,
        }
    }

    /// The digest's hash algorithm.
    pub fn hash(&self) -> HashAlg {
        match self {
            Signature::RsaSsa { hash, .. } | Signature::Ecdsa { hash, .. } => *hash,
        }
    }

    /// The marshalled `TPMT_SIGNATURE`.
    pub fn to_tss(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u16(self.scheme()).u16(self.hash().id());
        match self {
            Signature::RsaSsa { sig, .. } => {
                w.tpm2b(sig);
            }
            Signature::Ecdsa { r, s, .. } => {
                w.tpm2b(r).tpm2b(s);
            }
        }
        w.0
    }

    /// The plain form: the RSASSA block, or DER `SEQUENCE { r, s }` for ECDSA.
    pub fn to_plain(&self) -> Vec<u8> {
        match self {
            Signature::RsaSsa { sig, .. } => sig.clone(),
            Signature::Ecdsa { r, s, .. } => der_ecdsa(r, s),
        }
    }

    /// Read a `TPMT_SIGNATURE` (what `tpm2_sign` writes by default).
    pub fn from_tss(bytes: &[u8]) -> Result<Signature, SignatureError> {
        let mut r = Reader::new("TPMT_SIGNATURE", bytes);
        let alg = r.u16("sigAlg")?;
        let h = r.u16("hash")?;
        let hash = HashAlg::from_id(h).ok_or_else(|| r.err("hash", format!("0x{h:04x}")))?;
        let sig = match alg {
            TPM_ALG_RSASSA => Signature::RsaSsa {
                hash,
                sig: r.tpm2b("signature.rsassa.sig")?.to_vec(),
            },
            TPM_ALG_ECDSA => {
                let rr = r.tpm2b("signature.ecdsa.signatureR")?.to_vec();
                let ss = r.tpm2b("signature.ecdsa.signatureS")?.to_vec();
                Signature::Ecdsa { hash, r: rr, s: ss }
            }
            _ => {
                return Err(r
                    .err(
                        "sigAlg",
                        format!("0x{alg:04x}: expected RSASSA (0x0014) or ECDSA (0x0018)"),
                    )
                    .into());
            }
        };
        r.end()?;
        Ok(sig)
    }

    /// Read a plain signature made by `key` over a `hash` digest: the raw
    /// RSASSA block, or a DER ECDSA signature.
    pub fn from_plain(
        bytes: &[u8],
        key: &KeyMaterial,
        hash: HashAlg,
    ) -> Result<Signature, SignatureError> {
        match key {
            KeyMaterial::Rsa { n, .. } => {
                if bytes.len() != n.len() {
                    return Err(SignatureError::Bad(format!(
                        "an RSA {} signature has {} bytes, this one {}",
                        n.len() * 8,
                        n.len(),
                        bytes.len()
                    )));
                }
                Ok(Signature::RsaSsa {
                    hash,
                    sig: bytes.to_vec(),
                })
            }
            KeyMaterial::Ecc { curve, .. } => {
                let (r, s) = match curve {
                    Curve::P256 => {
                        let sg = p256::ecdsa::Signature::from_der(bytes).map_err(|_| {
                            SignatureError::Bad("not a DER ECDSA P-256 signature".into())
                        })?;
                        let (r, s) = sg.split_bytes();
                        (r.to_vec(), s.to_vec())
                    }
                    Curve::P384 => {
                        let sg = p384::ecdsa::Signature::from_der(bytes).map_err(|_| {
                            SignatureError::Bad("not a DER ECDSA P-384 signature".into())
                        })?;
                        let (r, s) = sg.split_bytes();
                        (r.to_vec(), s.to_vec())
                    }
                };
                Ok(Signature::Ecdsa { hash, r, s })
            }
        }
    }

    /// Pad ECDSA r and s to the curve size (a TPM may return them trimmed),
    /// so every form of one signature has the same bytes.
    pub fn normalized(self, key: &KeyMaterial) -> Signature {
        match (self, key) {
            (Signature::Ecdsa { hash, r, s }, KeyMaterial::Ecc { curve, .. }) => {
                let pad = |v: Vec<u8>| {
                    let v: Vec<u8> = v.into_iter().skip_while(|b| *b == 0).collect();
                    if v.len() >= curve.size() {
                        return v;
                    }
                    let mut out = vec![0u8; curve.size() - v.len()];
                    out.extend_from_slice(&v);
                    out
                };
                Signature::Ecdsa {
                    hash,
                    r: pad(r),
                    s: pad(s),
                }
            }
            (other, _) => other,
        }
    }

    /// Check, in software, that this is `key`'s signature over `digest`
    /// with the scheme and hash a TPM would accept for an approval.
    pub fn verify(&self, key: &TpmPublic, digest: &[u8]) -> Result<(), SignatureError> {
        let want = key.name_alg();
        if self.hash() != want {
            return Err(SignatureError::Bad(format!(
                "the signature is over a {} digest, the key's approvals use {want}",
                self.hash()
            )));
        }
        if digest.len() != want.size() {
            return Err(SignatureError::Bad(format!(
                "the digest has {} bytes, {want} has {}",
                digest.len(),
                want.size()
            )));
        }
        let bad = || SignatureError::Bad("the signature does not verify with this key".into());
        match (self, key.key()) {
            (Signature::RsaSsa { sig, .. }, KeyMaterial::Rsa { n, e }) => {
                let pk = crate::key::rsa_public(n, *e).map_err(|_| bad())?;
                pk.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), digest, sig)
                    .map_err(|_| bad())
            }
            (Signature::Ecdsa { r, s, .. }, KeyMaterial::Ecc { curve, x, y }) => {
                use p256::ecdsa::signature::hazmat::PrehashVerifier;
                let mut point = vec![0x04];
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                let fixed = |v: &[u8]| -> Result<Vec<u8>, SignatureError> {
                    let v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
                    if v.len() > curve.size() {
                        return Err(bad());
                    }
                    let mut out = vec![0u8; curve.size() - v.len()];
                    out.extend_from_slice(&v);
                    Ok(out)
                };
                let (r, s) = (fixed(r)?, fixed(s)?);
                match curve {
                    Curve::P256 => {
                        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                            .map_err(|_| bad())?;
                        let sg = p256::ecdsa::Signature::from_scalars(
                            p256::FieldBytes::try_from(r.as_slice()).map_err(|_| bad())?,
                            p256::FieldBytes::try_from(s.as_slice()).map_err(|_| bad())?,
                        )
                        .map_err(|_| bad())?;
                        vk.verify_prehash(digest, &sg).map_err(|_| bad())
                    }
                    Curve::P384 => {
                        let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                            .map_err(|_| bad())?;
                        let sg = p384::ecdsa::Signature::from_scalars(
                            p384::FieldBytes::try_from(r.as_slice()).map_err(|_| bad())?,
                            p384::FieldBytes::try_from(s.as_slice()).map_err(|_| bad())?,
                        )
                        .map_err(|_| bad())?;
                        vk.verify_prehash(digest, &sg).map_err(|_| bad())
                    }
                }
            }
            _ => Err(SignatureError::Bad(format!(
                "a {} signature cannot come from an {} key",
                crate::public::scheme_name(self.scheme()),
                key.key().label()
            ))),
        }
    }
}

/// DER `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` (both short
/// form: at most 2 × 49 bytes of content for P-384).
fn der_ecdsa(r: &[u8], s: &[u8]) -> Vec<u8> {
    fn int(v: &[u8]) -> Vec<u8> {
        let v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
        let mut body = Vec::with_capacity(v.len() + 1);
        if v.is_empty() || v[0] & 0x80 != 0 {
            body.push(0);
        }
        body.extend_from_slice(&v);
        let mut out = vec![0x02, body.len() as u8];
        out.extend_from_slice(&body);
        out
    }
    let (r, s) = (int(r), int(s));
    let mut out = vec![0x30, (r.len() + s.len()) as u8];
    out.extend_from_slice(&r);
    out.extend_from_slice(&s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tss_form_round_trips_and_refuses_trailing_bytes() {
        let s = Signature::Ecdsa {
            hash: HashAlg::Sha256,
            r: vec![1; 32],
            s: vec![0x80; 32],
        };
        let b = s.to_tss();
        assert_eq!(&b[..6], &[0x00, 0x18, 0x00, 0x0b, 0x00, 0x20]);
        assert_eq!(Signature::from_tss(&b).unwrap(), s);
        let mut long = b.clone();
        long.push(0);
        assert!(Signature::from_tss(&long).is_err());
        assert!(Signature::from_tss(&b[..20]).is_err());
    }

    #[test]
    fn der_integers_get_a_sign_byte_and_lose_leading_zeros() {
        let d = der_ecdsa(&[0, 0, 0x7f], &[0x80]);
        assert_eq!(d, [0x30, 0x07, 0x02, 0x01, 0x7f, 0x02, 0x02, 0x00, 0x80]);
    }
}
