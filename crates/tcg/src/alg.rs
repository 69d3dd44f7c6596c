//! Hash algorithms by their TCG identifiers (TCG Algorithm Registry, `TPM_ALG_ID`).

use std::fmt;
use std::str::FromStr;

use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use sm3::Sm3;

/// A hash algorithm a PCR bank can use, named by its `TPM_ALG_ID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlg {
    /// `TPM_ALG_SHA1` (0x0004), the only bank of a TPM 1.2.
    Sha1,
    /// `TPM_ALG_SHA256` (0x000B).
    Sha256,
    /// `TPM_ALG_SHA384` (0x000C).
    Sha384,
    /// `TPM_ALG_SHA512` (0x000D).
    Sha512,
    /// `TPM_ALG_SM3_256` (0x0012).
    Sm3_256,
}

impl HashAlg {
    /// Every algorithm we know, in `TPM_ALG_ID` order.
    pub const ALL: [HashAlg; 5] = [
        HashAlg::Sha1,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
        HashAlg::Sm3_256,
    ];

    /// The `TPM_ALG_ID` value.
    pub const fn id(self) -> u16 {
        match self {
            HashAlg::Sha1 => 0x0004,
            HashAlg::Sha256 => 0x000B,
            HashAlg::Sha384 => 0x000C,
            HashAlg::Sha512 => 0x000D,
            HashAlg::Sm3_256 => 0x0012,
        }
    }

    /// The algorithm with this `TPM_ALG_ID`, if it is a hash we know.
    pub const fn from_id(id: u16) -> Option<HashAlg> {
        match id {
            0x0004 => Some(HashAlg::Sha1),
            0x000B => Some(HashAlg::Sha256),
            0x000C => Some(HashAlg::Sha384),
            0x000D => Some(HashAlg::Sha512),
            0x0012 => Some(HashAlg::Sm3_256),
            _ => None,
        }
    }

    /// Digest length in bytes.
    pub const fn size(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 | HashAlg::Sm3_256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// The name tpm2-tools uses (`sha1`, `sha256`, `sha384`, `sha512`, `sm3_256`).
    pub const fn name(self) -> &'static str {
        match self {
            HashAlg::Sha1 => "sha1",
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
            HashAlg::Sm3_256 => "sm3_256",
        }
    }

    /// A fresh incremental hasher for this algorithm.
    pub fn hasher(self) -> Hasher {
        Hasher(match self {
            HashAlg::Sha1 => Inner::Sha1(Sha1::new()),
            HashAlg::Sha256 => Inner::Sha256(Sha256::new()),
            HashAlg::Sha384 => Inner::Sha384(Sha384::new()),
            HashAlg::Sha512 => Inner::Sha512(Sha512::new()),
            HashAlg::Sm3_256 => Inner::Sm3(Sm3::new()),
        })
    }

    /// Hash `data` in one go.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = self.hasher();
        h.update(data);
        h.finalize()
    }

    /// The all-zero value of this size (a PCR after reset at locality 0).
    pub fn zeros(self) -> Vec<u8> {
        vec![0; self.size()]
    }
}

impl fmt::Display for HashAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An algorithm name that is not one we know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown hash algorithm {0:?} (expected sha1, sha256, sha384, sha512 or sm3_256)")]
pub struct UnknownAlg(pub String);

impl FromStr for HashAlg {
    type Err = UnknownAlg;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "sha1" | "sha-1" => Ok(HashAlg::Sha1),
            "sha256" | "sha-256" => Ok(HashAlg::Sha256),
            "sha384" | "sha-384" => Ok(HashAlg::Sha384),
            "sha512" | "sha-512" => Ok(HashAlg::Sha512),
            "sm3_256" | "sm3" | "sm3-256" => Ok(HashAlg::Sm3_256),
            _ => Err(UnknownAlg(s.to_string())),
        }
    }
}

impl serde::Serialize for HashAlg {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for HashAlg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An incremental hash of one algorithm.
#[derive(Clone)]
pub struct Hasher(Inner);

#[derive(Clone)]
enum Inner {
    Sha1(Sha1),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
    Sm3(Sm3),
}

impl Hasher {
    /// Feed more bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            Inner::Sha1(h) => h.update(data),
            Inner::Sha256(h) => h.update(data),
            Inner::Sha384(h) => h.update(data),
            Inner::Sha512(h) => h.update(data),
            Inner::Sm3(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far.
    pub fn finalize(self) -> Vec<u8> {
        match self.0 {
            Inner::Sha1(h) => h.finalize().to_vec(),
            Inner::Sha256(h) => h.finalize().to_vec(),
            Inner::Sha384(h) => h.finalize().to_vec(),
            Inner::Sha512(h) => h.finalize().to_vec(),
            Inner::Sm3(h) => h.finalize().to_vec(),
        }
    }
}

/// Several algorithms over the same bytes, so a file is read once for every bank.
#[derive(Clone)]
pub struct MultiHasher {
    parts: Vec<(HashAlg, Hasher)>,
}

impl MultiHasher {
    /// One hasher per algorithm in `algs` (duplicates are kept once).
    pub fn new(algs: &[HashAlg]) -> Self {
        let mut parts: Vec<(HashAlg, Hasher)> = Vec::new();
        for &a in algs {
            if !parts.iter().any(|(b, _)| *b == a) {
                parts.push((a, a.hasher()));
            }
        }
        MultiHasher { parts }
    }

    /// Feed more bytes to every algorithm.
    pub fn update(&mut self, data: &[u8]) {
        for (_, h) in &mut self.parts {
            h.update(data);
        }
    }

    /// The digests, in the order the algorithms were given.
    pub fn finalize(self) -> Vec<(HashAlg, Vec<u8>)> {
        self.parts
            .into_iter()
            .map(|(a, h)| (a, h.finalize()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_sizes_match_digests() {
        for a in HashAlg::ALL {
            assert_eq!(HashAlg::from_id(a.id()), Some(a));
            assert_eq!(a.digest(b"abc").len(), a.size());
            assert_eq!(a.name().parse::<HashAlg>().unwrap(), a);
        }
        assert_eq!(HashAlg::from_id(0x0010), None);
    }

    #[test]
    fn known_answers_for_abc() {
        assert_eq!(
            hex::encode(HashAlg::Sha1.digest(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex::encode(HashAlg::Sha256.digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex::encode(HashAlg::Sm3_256.digest(b"abc")),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    #[test]
    fn multihasher_equals_separate_hashes() {
        let data = vec![7u8; 100_000];
        let mut m = MultiHasher::new(&HashAlg::ALL);
        for chunk in data.chunks(4099) {
            m.update(chunk);
        }
        for (a, d) in m.finalize() {
            assert_eq!(d, a.digest(&data), "{a}");
        }
    }
}
