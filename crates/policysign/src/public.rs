//! A signing key's public area (`TPMT_PUBLIC`, TPM 2.0 Part 2 §12.2.4) and
//! its TPM name: `nameAlg ‖ H_nameAlg(TPMT_PUBLIC)` (Part 1 §16).
//!
//! For a PEM key the public area is the one `tpm2_loadexternal -G rsa|ecc
//! -u KEY.pem` builds (tpm2-tools `lib/tpm2_openssl.c` and the tool's
//! defaults): nameAlg SHA-256, attributes `userwithauth|decrypt|sign`
//! (0x00060040), empty authPolicy, NULL symmetric and scheme (and KDF), the
//! RSA exponent as it is (65537, not the TPM's 0 shorthand), ECC
//! coordinates padded to the curve size. The name the TPM reports for that
//! load is the one a `PolicyAuthorize` must name. A key created inside a TPM
//! keeps the public area the TPM gave it: [`TpmPublic::parse`] reads it from
//! `tpm2_readpublic -o` and keeps its bytes, so its name is exact too.

use tcg::HashAlg;

use crate::wire::{Reader, WireError, Writer};

/// `TPM_ALG_RSA`.
pub const TPM_ALG_RSA: u16 = 0x0001;
/// `TPM_ALG_ECC`.
pub const TPM_ALG_ECC: u16 = 0x0023;
/// `TPM_ALG_NULL`.
pub const TPM_ALG_NULL: u16 = 0x0010;
/// `TPM_ALG_RSASSA` (RSASSA-PKCS1-v1_5).
pub const TPM_ALG_RSASSA: u16 = 0x0014;
/// `TPM_ALG_ECDSA`.
pub const TPM_ALG_ECDSA: u16 = 0x0018;
const TPM_ALG_ECDAA: u16 = 0x001A;
const TPM_ALG_RSAES: u16 = 0x0015;

/// `TPMA_OBJECT_USERWITHAUTH`.
const ATTR_USERWITHAUTH: u32 = 1 << 6;
/// `TPMA_OBJECT_RESTRICTED`.
const ATTR_RESTRICTED: u32 = 1 << 16;
/// `TPMA_OBJECT_DECRYPT`.
const ATTR_DECRYPT: u32 = 1 << 17;
/// `TPMA_OBJECT_SIGN_ENCRYPT`.
const ATTR_SIGN: u32 = 1 << 18;
/// What `tpm2_loadexternal` gives a key loaded from PEM without `-a`.
pub const LOADEXTERNAL_ATTRIBUTES: u32 = ATTR_USERWITHAUTH | ATTR_DECRYPT | ATTR_SIGN;

/// A NIST curve TPMs sign with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    /// `TPM_ECC_NIST_P256` (0x0003).
    P256,
    /// `TPM_ECC_NIST_P384` (0x0004).
    P384,
}

impl Curve {
    /// The `TPM_ECC_CURVE` value.
    pub const fn id(self) -> u16 {
        match self {
            Curve::P256 => 0x0003,
            Curve::P384 => 0x0004,
        }
    }

    /// Coordinate and scalar size in bytes.
    pub const fn size(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    /// `P-256`, `P-384`.
    pub const fn label(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }
}

/// The key material of a public area.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyMaterial {
    /// RSA: the modulus (big-endian, `keyBits / 8` bytes) and exponent.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent (65537; a TPM public area may say 0 for it).
        e: u32,
    },
    /// ECC: the point, each coordinate padded to the curve size.
    Ecc {
        /// The curve.
        curve: Curve,
        /// X coordinate.
        x: Vec<u8>,
        /// Y coordinate.
        y: Vec<u8>,
    },
}

impl KeyMaterial {
    /// `RSA 2048`, `ECC P-256`.
    pub fn label(&self) -> String {
        match self {
            KeyMaterial::Rsa { n, .. } => format!("RSA {}", n.len() * 8),
            KeyMaterial::Ecc { curve, .. } => format!("ECC {}", curve.label()),
        }
    }

    /// The signature scheme this key signs approvals with.
    pub fn scheme(&self) -> u16 {
        match self {
            KeyMaterial::Rsa { .. } => TPM_ALG_RSASSA,
            KeyMaterial::Ecc { .. } => TPM_ALG_ECDSA,
        }
    }
}

/// A public area, its exact bytes, and what we need from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpmPublic {
    raw: Vec<u8>,
    name_alg: HashAlg,
    attributes: u32,
    scheme: Option<(u16, u16)>,
    key: KeyMaterial,
}

/// Why a public area cannot serve to verify approvals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicError {
    /// The bytes are not a `TPM2B_PUBLIC`.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A readable public area that is not an RSA/ECC signing key we can use.
    #[error("{0}")]
    Unusable(String),
}

impl TpmPublic {
    /// The public area `tpm2_loadexternal -G rsa|ecc -u KEY.pem` builds for `key`.
    pub fn loadexternal(key: KeyMaterial) -> TpmPublic {
        let mut w = Writer::default();
        w.u16(match key {
            KeyMaterial::Rsa { .. } => TPM_ALG_RSA,
            KeyMaterial::Ecc { .. } => TPM_ALG_ECC,
        });
        w.u16(HashAlg::Sha256.id());
        w.u32(LOADEXTERNAL_ATTRIBUTES);
        w.tpm2b(&[]); // authPolicy
        w.u16(TPM_ALG_NULL); // symmetric
        w.u16(TPM_ALG_NULL); // scheme
        match &key {
            KeyMaterial::Rsa { n, e } => {
                w.u16((n.len() * 8) as u16).u32(*e).tpm2b(n);
            }
            KeyMaterial::Ecc { curve, x, y } => {
                w.u16(curve.id()).u16(TPM_ALG_NULL).tpm2b(x).tpm2b(y);
            }
        }
        TpmPublic {
            raw: w.0,
            name_alg: HashAlg::Sha256,
            attributes: LOADEXTERNAL_ATTRIBUTES,
            scheme: None,
            key,
        }
    }

    /// Read a `TPM2B_PUBLIC` (the `tpm2_readpublic -o` / `tpm2_create -u`
    /// file) of an RSA or ECC signing key.
    pub fn parse(bytes: &[u8]) -> Result<TpmPublic, PublicError> {
        let mut r = Reader::new("TPM2B_PUBLIC", bytes);
        let size = usize::from(r.u16("size")?);
        let start = r.offset();
        let ty = r.u16("type")?;
        let name_alg_id = r.u16("nameAlg")?;
        let name_alg = HashAlg::from_id(name_alg_id)
            .ok_or_else(|| r.err("nameAlg", format!("0x{name_alg_id:04x} is not a hash")))?;
        let attributes = r.u32("objectAttributes")?;
        r.tpm2b("authPolicy")?;
        let sym = r.u16("parameters.symmetric.algorithm")?;
        if sym != TPM_ALG_NULL {
            r.u16("parameters.symmetric.keyBits")?;
            r.u16("parameters.symmetric.mode")?;
        }
        let scheme_alg = r.u16("parameters.scheme.scheme")?;
        let scheme = match scheme_alg {
            TPM_ALG_NULL => None,
            TPM_ALG_RSAES => Some((scheme_alg, TPM_ALG_NULL)),
            TPM_ALG_ECDAA => {
                let h = r.u16("parameters.scheme.hashAlg")?;
                r.u16("parameters.scheme.count")?;
                Some((scheme_alg, h))
            }
            _ => Some((scheme_alg, r.u16("parameters.scheme.hashAlg")?)),
        };
        let key = match ty {
            TPM_ALG_RSA => {
                let bits = r.u16("parameters.keyBits")?;
                let e = r.u32("parameters.exponent")?;
                let n = r.tpm2b("unique.rsa")?;
                if n.len() * 8 != usize::from(bits) {
                    return Err(r
                        .err(
                            "unique.rsa",
                            format!("{} bytes for a {bits}-bit key", n.len()),
                        )
                        .into());
                }
                KeyMaterial::Rsa {
                    n: n.to_vec(),
                    e: if e == 0 { 65537 } else { e },
                }
            }
            TPM_ALG_ECC => {
                let cid = r.u16("parameters.curveID")?;
                let curve = match cid {
                    0x0003 => Curve::P256,
                    0x0004 => Curve::P384,
                    _ => {
                        return Err(r
                            .err(
                                "parameters.curveID",
                                format!("curve 0x{cid:04x}: expected NIST P-256 or P-384"),
                            )
                            .into());
                    }
                };
                let kdf = r.u16("parameters.kdf.scheme")?;
                if kdf != TPM_ALG_NULL {
                    r.u16("parameters.kdf.hashAlg")?;
                }
                let x = r.tpm2b("unique.ecc.x")?;
                let x = pad_coordinate(&r, curve, x, "unique.ecc.x")?;
                let y = r.tpm2b("unique.ecc.y")?;
                let y = pad_coordinate(&r, curve, y, "unique.ecc.y")?;
                KeyMaterial::Ecc { curve, x, y }
            }
            _ => {
                return Err(PublicError::Unusable(format!(
                    "TPM2B_PUBLIC: type 0x{ty:04x}: expected an RSA (0x0001) or ECC (0x0023) key"
                )));
            }
        };
        if r.offset() - start != size {
            return Err(r
                .err(
                    "size",
                    format!(
                        "says {size} bytes, the public area has {}",
                        r.offset() - start
                    ),
                )
                .into());
        }
        r.end()?;
        let p = TpmPublic {
            raw: bytes[start..].to_vec(),
            name_alg,
            attributes,
            scheme,
            key,
        };
        p.check_signer()?;
        Ok(p)
    }

    /// Refuse what cannot sign an approval a TPM verifies: no `sign`
    /// attribute, a restricted key (it signs only what the TPM hashed), or a
    /// fixed scheme other than RSASSA/ECDSA with the key's nameAlg.
    fn check_signer(&self) -> Result<(), PublicError> {
        if self.attributes & ATTR_SIGN == 0 {
            return Err(PublicError::Unusable(format!(
                "the key's attributes (0x{:08x}) lack `sign`: it cannot sign",
                self.attributes
            )));
        }
        if self.attributes & ATTR_RESTRICTED != 0 {
            return Err(PublicError::Unusable(
                "the key is restricted: it signs only digests the TPM computed, not approvals"
                    .into(),
            ));
        }
        if let Some((s, h)) = self.scheme {
            if s != self.key.scheme() || h != self.name_alg.id() {
                return Err(PublicError::Unusable(format!(
                    "the key's scheme is 0x{s:04x} with hash 0x{h:04x}; approvals need \
                     {} with {} (or a NULL scheme)",
                    scheme_name(self.key.scheme()),
                    self.name_alg
                )));
            }
        }
        if self.name_alg != HashAlg::Sha256 {
            return Err(PublicError::Unusable(format!(
                "the key's nameAlg is {}: approvals are made with sha256 keys",
                self.name_alg
            )));
        }
        Ok(())
    }

    /// The marshalled `TPMT_PUBLIC`.
    pub fn tpmt_public(&self) -> &[u8] {
        &self.raw
    }

    /// The `TPM2B_PUBLIC` (`tpm2_loadexternal -u FILE`, `tpm2_readpublic -o`).
    pub fn tpm2b_public(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.tpm2b(&self.raw);
        w.0
    }

    /// The name alg (also the hash of aHash and of the signature).
    pub fn name_alg(&self) -> HashAlg {
        self.name_alg
    }

    /// `nameAlg ‖ H(TPMT_PUBLIC)`: what `tpm2_loadexternal -n` writes.
    pub fn name(&self) -> Vec<u8> {
        let mut n = self.name_alg.id().to_be_bytes().to_vec();
        n.extend_from_slice(&self.name_alg.digest(&self.raw));
        n
    }

    /// The key material.
    pub fn key(&self) -> &KeyMaterial {
        &self.key
    }

    /// `objectAttributes`.
    pub fn attributes(&self) -> u32 {
        self.attributes
    }
}

/// An ECC coordinate left-padded to the curve size (a TPM may trim zeros).
fn pad_coordinate(
    r: &Reader<'_>,
    curve: Curve,
    c: &[u8],
    field: &'static str,
) -> Result<Vec<u8>, WireError> {
    if c.len() > curve.size() {
        return Err(r.err(
            field,
            format!("{} bytes for a {} coordinate", c.len(), curve.label()),
        ));
    }
    let mut v = vec![0u8; curve.size() - c.len()];
    v.extend_from_slice(c);
    Ok(v)
}

/// `rsassa`, `ecdsa`: the tpm2-tools name of a signature scheme.
pub fn scheme_name(alg: u16) -> &'static str {
    match alg {
        TPM_ALG_RSASSA => "rsassa",
        TPM_ALG_ECDSA => "ecdsa",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p256() -> KeyMaterial {
        KeyMaterial::Ecc {
            curve: Curve::P256,
            x: vec![0x11; 32],
            y: vec![0x22; 32],
        }
    }

    #[test]
    fn loadexternal_area_round_trips_through_the_parser() {
        for k in [
            p256(),
            KeyMaterial::Rsa {
                n: vec![0xC5; 256],
                e: 65537,
            },
        ] {
            let p = TpmPublic::loadexternal(k);
            let back = TpmPublic::parse(&p.tpm2b_public()).unwrap();
            assert_eq!(back, p);
            assert_eq!(p.name().len(), 34);
            assert_eq!(&p.name()[..2], &[0, 0x0b]);
        }
    }

    #[test]
    fn ecc_area_layout_matches_tpm2_readpublic_bytes() {
        // Header as tpm2_readpublic -f tss writes it for a loadexternal'd P-256 key.
        let b = TpmPublic::loadexternal(p256()).tpm2b_public();
        assert_eq!(
            &b[..20],
            &[
                0x00, 0x56, 0x00, 0x23, 0x00, 0x0b, 0x00, 0x06, 0x00, 0x40, 0x00, 0x00, 0x00, 0x10,
                0x00, 0x10, 0x00, 0x03, 0x00, 0x10
            ]
        );
        assert_eq!(b.len(), 0x56 + 2);
    }

    #[test]
    fn restricted_or_non_signing_keys_are_refused() {
        let mut b = TpmPublic::loadexternal(p256()).tpm2b_public();
        b[7] |= 0x01; // restricted
        assert!(matches!(
            TpmPublic::parse(&b),
            Err(PublicError::Unusable(m)) if m.contains("restricted")
        ));
        let mut b = TpmPublic::loadexternal(p256()).tpm2b_public();
        b[7] &= !0x04; // no sign
        assert!(TpmPublic::parse(&b).is_err());
    }

    #[test]
    fn size_field_must_cover_the_area_exactly() {
        let mut b = TpmPublic::loadexternal(p256()).tpm2b_public();
        b.push(0);
        let e = TpmPublic::parse(&b).unwrap_err().to_string();
        assert!(
            e.contains("after the structure") || e.contains("size"),
            "{e}"
        );
        let b = TpmPublic::loadexternal(p256()).tpm2b_public();
        let e = TpmPublic::parse(&b[..40]).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
    }
}
