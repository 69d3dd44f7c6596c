//! SHA-256 content digests of files and byte strings.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::error::BundleError;

/// The SHA-256 of some content; printed and serialised as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentDigest(pub [u8; 32]);

impl ContentDigest {
    /// The digest of a byte string.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        ContentDigest(Sha256::digest(bytes).into())
    }

    /// The digest of a file's content, read in 1 MiB chunks.
    pub fn of_file(path: &Path) -> Result<(Self, u64), BundleError> {
        let io = |source| BundleError::Io {
            path: path.to_path_buf(),
            what: "hash",
            source,
        };
        let mut f = File::open(path).map_err(io)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut len = 0u64;
        loop {
            let n = f.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            len += n as u64;
            h.update(&buf[..n]);
        }
        Ok((ContentDigest(h.finalize().into()), len))
    }

    /// The content digest of a file ([`fstree::content_sha256`]): what
    /// step keys and tree digests use for inputs, since it reads only the
    /// file's data, never its holes (a rootfs holding a terabyte sparse file
    /// digests as fast as its data). Not a sha256 of the bytes: records a
    /// user checks with `sha256sum` use [`ContentDigest::of_file`].
    pub fn of_content(path: &Path) -> Result<(Self, u64), BundleError> {
        let io = |source| BundleError::Io {
            path: path.to_path_buf(),
            what: "hash",
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        let d = fstree::content_sha256(&fstree::HostFile::new(path, len)).map_err(io)?;
        Ok((ContentDigest(d), len))
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

impl FromStr for ContentDigest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)
            .map_err(|e| format!("expected 64 hex digits of a sha256, got {s:?}: {e}"))?;
        Ok(ContentDigest(out))
    }
}

impl Serialize for ContentDigest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ContentDigest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
