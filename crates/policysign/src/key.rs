//! Approval keys in PEM: private keys to sign with (PKCS#8 `PRIVATE KEY`,
//! PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY`) and public keys to name
//! (`PUBLIC KEY`, `RSA PUBLIC KEY`). RSA 2048/3072 and ECC P-256/P-384:
//! what TPMs verify.
//!
//! A private key's bytes live only in zeroized buffers and in the RustCrypto
//! key types (which zeroize on drop); no error message quotes the file.

use std::io::Read;
use std::path::{Path, PathBuf};

use p256::elliptic_curve::sec1::ToSec1Point;
use pkcs8::der::Decode;
use pkcs8::{ObjectIdentifier, PrivateKeyInfoRef, SubjectPublicKeyInfoRef};
use rsa::traits::PublicKeyParts;
use tcg::HashAlg;
use zeroize::Zeroizing;

use crate::public::{Curve, KeyMaterial};
use crate::signature::Signature;

const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// Larger than any PEM key we take (an RSA 3072 PKCS#1 key is ~2.5 KiB).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// A key file that cannot be used. Never carries the file's content.
#[derive(Debug, thiserror::Error)]
#[error("signing key {path}: {what}")]
pub struct KeyError {
    /// The key file.
    pub path: PathBuf,
    /// What is wrong and what was expected.
    pub what: String,
}

/// A private key held in memory for one signing.
pub enum SoftwareKey {
    /// RSA, signing RSASSA-PKCS1-v1_5 with SHA-256 (deterministic).
    Rsa(Box<rsa::pkcs1v15::SigningKey<sha2::Sha256>>),
    /// ECDSA P-256 with RFC 6979 nonces (deterministic).
    P256(p256::ecdsa::SigningKey),
    /// ECDSA P-384 with RFC 6979 nonces (deterministic).
    P384(p384::ecdsa::SigningKey),
}

impl std::fmt::Debug for SoftwareKey {
    /// The kind only: a key never prints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SoftwareKey({})", self.material().label())
    }
}

impl SoftwareKey {
    /// Read a private key from a PEM file.
    pub fn read(path: &Path) -> Result<SoftwareKey, KeyError> {
        SoftwareKey::from_pem(&read_limited(path)?, path)
    }

    /// A private key from PEM text read from `path` (named in errors).
    pub fn from_pem(text: &[u8], path: &Path) -> Result<SoftwareKey, KeyError> {
        let err = |what: String| KeyError {
            path: path.to_path_buf(),
            what,
        };
        let (label, der) = first_key_block(text).map_err(err)?;
        match label.as_str() {
            "PRIVATE KEY" => {
                let info = PrivateKeyInfoRef::from_der(&der)
                    .map_err(|_| err("not a PKCS#8 private key (bad DER)".into()))?;
                let (alg, param) = info
                    .algorithm
                    .oids()
                    .map_err(|_| err("PKCS#8: unreadable algorithm".into()))?;
                match (alg, param) {
                    (OID_RSA, _) => {
                        let k = <rsa::PrivateKey as pkcs8::DecodePrivateKey>::from_pkcs8_der(&der)
                            .map_err(|_| err("PKCS#8: not a valid RSA private key".into()))?;
                        rsa_signing(k).map_err(err)
                    }
                    (OID_EC, Some(OID_P256)) => {
                        <p256::ecdsa::SigningKey as pkcs8::DecodePrivateKey>::from_pkcs8_der(&der)
                            .map(SoftwareKey::P256)
                            .map_err(|_| err("PKCS#8: not a valid P-256 private key".into()))
                    }
                    (OID_EC, Some(OID_P384)) => {
                        <p384::ecdsa::SigningKey as pkcs8::DecodePrivateKey>::from_pkcs8_der(&der)
                            .map(SoftwareKey::P384)
                            .map_err(|_| err("PKCS#8: not a valid P-384 private key".into()))
                    }
                    (OID_EC, other) => Err(err(format!(
                        "ECC curve {}: expected P-256 or P-384",
                        other.map_or("(none)".into(), |o| o.to_string())
                    ))),
                    (other, _) => Err(err(format!(
                        "key algorithm {other}: expected RSA or ECC (P-256/P-384)"
                    ))),
                }
            }
            "RSA PRIVATE KEY" => {
                let k = <rsa::PrivateKey as rsa::pkcs1::DecodeRsaPrivateKey>::from_pkcs1_der(&der)
                    .map_err(|_| err("not a valid PKCS#1 RSA private key".into()))?;
                rsa_signing(k).map_err(err)
            }
            "EC PRIVATE KEY" => {
                let ec = sec1::EcPrivateKey::try_from(der.as_slice())
                    .map_err(|_| err("not a valid SEC1 EC private key".into()))?;
                let curve = match ec.parameters.and_then(|p| p.named_curve()) {
                    Some(OID_P256) => Curve::P256,
                    Some(OID_P384) => Curve::P384,
                    Some(o) => return Err(err(format!("ECC curve {o}: expected P-256 or P-384"))),
                    None if ec.private_key.len() == 32 => Curve::P256,
                    None if ec.private_key.len() == 48 => Curve::P384,
                    None => return Err(err("SEC1 key without a named curve".into())),
                };
                match curve {
                    Curve::P256 => {
                        p256::ecdsa::SigningKey::from_slice(ec.private_key).map(SoftwareKey::P256)
                    }
                    Curve::P384 => {
                        p384::ecdsa::SigningKey::from_slice(ec.private_key).map(SoftwareKey::P384)
                    }
                }
                .map_err(|_| err(format!("not a valid {} private key", curve.label())))
            }
            "PUBLIC KEY" | "RSA PUBLIC KEY" => Err(err(
                "is a public key: signing needs the private key (PEM `PRIVATE KEY`)".into(),
            )),
            other => Err(err(format!("PEM block {other:?} is not a private key"))),
        }
    }

    /// The public key.
    pub fn material(&self) -> KeyMaterial {
        match self {
            SoftwareKey::Rsa(k) => rsa_material(k.as_ref().as_ref().as_public_key()),
            SoftwareKey::P256(k) => {
                let p = k.verifying_key().to_sec1_point(false);
                let b = p.as_bytes();
                KeyMaterial::Ecc {
                    curve: Curve::P256,
                    x: b[1..33].to_vec(),
                    y: b[33..65].to_vec(),
                }
            }
            SoftwareKey::P384(k) => {
                let p = k.verifying_key().to_sec1_point(false);
                let b = p.as_bytes();
                KeyMaterial::Ecc {
                    curve: Curve::P384,
                    x: b[1..49].to_vec(),
                    y: b[49..97].to_vec(),
                }
            }
        }
    }

    /// Sign a SHA-256 digest: RSASSA-PKCS1-v1_5, or ECDSA with an RFC 6979
    /// nonce. Both are deterministic: the same key and digest give the same
    /// bytes. (RSA blinds the private operation; the result is the same.)
    pub fn sign_digest(&self, digest: &[u8]) -> Result<Signature, String> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        use rsa::signature::SignatureEncoding;
        if digest.len() != HashAlg::Sha256.size() {
            return Err(format!(
                "signing a {}-byte digest; approvals are sha256",
                digest.len()
            ));
        }
        let failed = |_| "the signature could not be made".to_string();
        Ok(match self {
            SoftwareKey::Rsa(k) => Signature::RsaSsa {
                hash: HashAlg::Sha256,
                sig: k.sign_prehash(digest).map_err(failed)?.to_vec(),
            },
            SoftwareKey::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign_prehash(digest).map_err(failed)?;
                let (r, s) = s.split_bytes();
                Signature::Ecdsa {
                    hash: HashAlg::Sha256,
                    r: r.to_vec(),
                    s: s.to_vec(),
                }
            }
            SoftwareKey::P384(k) => {
                let s: p384::ecdsa::Signature = k.sign_prehash(digest).map_err(failed)?;
                let (r, s) = s.split_bytes();
                Signature::Ecdsa {
                    hash: HashAlg::Sha256,
                    r: r.to_vec(),
                    s: s.to_vec(),
                }
            }
        })
    }
}

/// The public key of a PEM file holding either a public or a private key.
pub fn read_public(path: &Path) -> Result<KeyMaterial, KeyError> {
    public_from_pem(&read_limited(path)?, path)
}

/// The public key in PEM text (public or private) read from `path`.
pub fn public_from_pem(text: &[u8], path: &Path) -> Result<KeyMaterial, KeyError> {
    let err = |what: String| KeyError {
        path: path.to_path_buf(),
        what,
    };
    let (label, der) = first_key_block(text).map_err(err)?;
    match label.as_str() {
        "PUBLIC KEY" => {
            let spki = SubjectPublicKeyInfoRef::from_der(&der)
                .map_err(|_| err("not a SubjectPublicKeyInfo (bad DER)".into()))?;
            let (alg, param) = spki
                .algorithm
                .oids()
                .map_err(|_| err("public key: unreadable algorithm".into()))?;
            match (alg, param) {
                (OID_RSA, _) => {
                    let k = <rsa::PublicKey as pkcs8::DecodePublicKey>::from_public_key_der(&der)
                        .map_err(|_| err("not a valid RSA public key".into()))?;
                    check_rsa(&k).map_err(err)?;
                    Ok(rsa_material(&k))
                }
                (OID_EC, Some(OID_P256)) | (OID_EC, Some(OID_P384)) => {
                    let point = spki.subject_public_key.raw_bytes();
                    ecc_material(point, param == Some(OID_P256))
                        .ok_or_else(|| err("not a valid ECC public point".into()))
                }
                (OID_EC, other) => Err(err(format!(
                    "ECC curve {}: expected P-256 or P-384",
                    other.map_or("(none)".into(), |o| o.to_string())
                ))),
                (other, _) => Err(err(format!(
                    "key algorithm {other}: expected RSA or ECC (P-256/P-384)"
                ))),
            }
        }
        "RSA PUBLIC KEY" => {
            let k = <rsa::PublicKey as rsa::pkcs1::DecodeRsaPublicKey>::from_pkcs1_der(&der)
                .map_err(|_| err("not a valid PKCS#1 RSA public key".into()))?;
            check_rsa(&k).map_err(err)?;
            Ok(rsa_material(&k))
        }
        _ => {
            drop(der);
            SoftwareKey::from_pem(text, path).map(|k| k.material())
        }
    }
}

/// The SubjectPublicKeyInfo PEM of a public key (`openssl pkey -pubin`,
/// `tpm2_loadexternal -G rsa|ecc -u`).
pub fn public_pem(key: &KeyMaterial) -> Result<String, String> {
    use pkcs8::EncodePublicKey;
    let lf = pkcs8::LineEnding::LF;
    let bad = |_| "the public key cannot be encoded".to_string();
    match key {
        KeyMaterial::Rsa { n, e } => rsa_public(n, *e)?.to_public_key_pem(lf).map_err(bad),
        KeyMaterial::Ecc { curve, x, y } => {
            let mut point = vec![0x04];
            point.extend_from_slice(x);
            point.extend_from_slice(y);
            match curve {
                Curve::P256 => p256::PublicKey::from_sec1_bytes(&point)
                    .map_err(|_| "not a P-256 point".to_string())?
                    .to_public_key_pem(lf)
                    .map_err(bad),
                Curve::P384 => p384::PublicKey::from_sec1_bytes(&point)
                    .map_err(|_| "not a P-384 point".to_string())?
                    .to_public_key_pem(lf)
                    .map_err(bad),
            }
        }
    }
}

/// The mode bits of a key file that group or others may access, if any.
pub fn loose_mode(path: &Path) -> std::io::Result<Option<u32>> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    Ok((mode & 0o077 != 0).then_some(mode))
}

/// An RSA public key from its modulus and exponent.
pub(crate) fn rsa_public(n: &[u8], e: u32) -> Result<rsa::PublicKey, String> {
    let bits = (n.len() * 8) as u32;
    let n = rsa::BoxedUint::from_be_slice(n, bits).map_err(|_| "bad RSA modulus".to_string())?;
    rsa::PublicKey::new(n, rsa::BoxedUint::from(u64::from(e)))
        .map_err(|_| "not a valid RSA public key".to_string())
}

fn rsa_signing(k: rsa::PrivateKey) -> Result<SoftwareKey, String> {
    check_rsa(k.as_public_key())?;
    Ok(SoftwareKey::Rsa(Box::new(rsa::pkcs1v15::SigningKey::new(
        k,
    ))))
}

/// TPMs verify with RSA 2048 and 3072 keys; the exponent is a `UINT32`.
fn check_rsa(k: &rsa::PublicKey) -> Result<(), String> {
    let bits = k.n().as_ref().bit_width();
    if bits != 2048 && bits != 3072 {
        return Err(format!(
            "RSA {bits}: TPMs verify approvals with RSA 2048 or 3072 keys"
        ));
    }
    if k.e_bytes().len() > 4 {
        return Err("the RSA exponent does not fit a TPM's 32-bit field".into());
    }
    Ok(())
}

fn rsa_material(k: &rsa::PublicKey) -> KeyMaterial {
    let bytes = (k.n().as_ref().bit_width() as usize).div_ceil(8);
    let trimmed = k.n_bytes();
    let mut n = vec![0u8; bytes.saturating_sub(trimmed.len())];
    n.extend_from_slice(&trimmed);
    let e = k
        .e_bytes()
        .iter()
        .fold(0u32, |a, b| (a << 8) | u32::from(*b));
    KeyMaterial::Rsa { n, e }
}

fn ecc_material(point: &[u8], p256: bool) -> Option<KeyMaterial> {
    // Validate the point on its curve, then take the uncompressed coordinates.
    let (curve, b) = if p256 {
        let pk = p256::PublicKey::from_sec1_bytes(point).ok()?;
        (Curve::P256, pk.to_sec1_point(false).as_bytes().to_vec())
    } else {
        let pk = p384::PublicKey::from_sec1_bytes(point).ok()?;
        (Curve::P384, pk.to_sec1_point(false).as_bytes().to_vec())
    };
    let n = curve.size();
    Some(KeyMaterial::Ecc {
        curve,
        x: b[1..1 + n].to_vec(),
        y: b[1 + n..1 + 2 * n].to_vec(),
    })
}

fn read_limited(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let err = |what: String| KeyError {
        path: path.to_path_buf(),
        what,
    };
    let f = std::fs::File::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
    let mut buf = Zeroizing::new(Vec::new());
    f.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| err(format!("cannot read: {e}")))?;
    if buf.len() as u64 > MAX_KEY_FILE {
        return Err(err(format!(
            "larger than {MAX_KEY_FILE} bytes: not a PEM key"
        )));
    }
    Ok(buf)
}

/// The first PEM block that holds a key (skipping `EC PARAMETERS`, which
/// `openssl ecparam -genkey` writes first), decoded.
fn first_key_block(text: &[u8]) -> Result<(String, Zeroizing<Vec<u8>>), String> {
    let mut rest = text;
    loop {
        let Some(start) = find(rest, b"-----BEGIN ") else {
            return Err("no PEM key block (-----BEGIN ... KEY-----)".into());
        };
        let block = &rest[start..];
        let line_end = block
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(block.len());
        let label = String::from_utf8_lossy(&block[11..line_end])
            .trim_end()
            .trim_end_matches('-')
            .to_string();
        let end_marker = format!("-----END {label}-----");
        let Some(end) = find(block, end_marker.as_bytes()) else {
            return Err(format!("PEM block {label:?} has no END line"));
        };
        let whole = &block[..end + end_marker.len()];
        rest = &block[end + end_marker.len()..];
        if label == "EC PARAMETERS" {
            continue;
        }
        if label == "ENCRYPTED PRIVATE KEY" || find(whole, b"Proc-Type: 4,ENCRYPTED").is_some() {
            return Err(
                "the key is encrypted: give a decrypted key readable only by its owner \
                 (chmod 600), or keep it in a TPM (tpm:HANDLE)"
                    .into(),
            );
        }
        let (l, der) = pkcs8::der::pem::decode_vec(whole)
            .map_err(|_| format!("PEM block {label:?} is not valid base64 PEM"))?;
        return Ok((l.to_string(), Zeroizing::new(der)));
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6979 A.2.5: P-256 key x and the signature of SHA-256("sample").
    #[test]
    fn p256_signature_is_rfc6979_deterministic_ecdsa() {
        let x = hex::decode("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721")
            .unwrap();
        let k = SoftwareKey::P256(p256::ecdsa::SigningKey::from_slice(&x).unwrap());
        let d = HashAlg::Sha256.digest(b"sample");
        let Signature::Ecdsa { r, s, .. } = k.sign_digest(&d).unwrap() else {
            panic!("ECDSA")
        };
        assert_eq!(
            hex::encode_upper(r),
            "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"
        );
        assert_eq!(
            hex::encode_upper(s),
            "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"
        );
        let KeyMaterial::Ecc { x: ux, .. } = k.material() else {
            panic!("ECC")
        };
        // RFC 6979 A.2.5 public key Ux.
        assert_eq!(
            hex::encode_upper(ux),
            "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"
        );
    }

    #[test]
    fn encrypted_and_missing_blocks_are_named_without_content() {
        let e = first_key_block(
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(e.contains("encrypted"), "{e}");
        let e = first_key_block(b"hello").unwrap_err();
        assert!(e.contains("no PEM key block"), "{e}");
        let e = first_key_block(b"-----BEGIN PRIVATE KEY-----\nQUJD").unwrap_err();
        assert!(e.contains("no END line"), "{e}");
    }
}
