//! tboot release numbers: several measurement rules changed between releases.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A tboot version `major.minor.patch`, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TbootVersion {
    /// Major.
    pub major: u16,
    /// Minor.
    pub minor: u16,
    /// Patch.
    pub patch: u16,
}

impl TbootVersion {
    /// Build a version.
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        TbootVersion {
            major,
            minor,
            patch,
        }
    }

    /// tboot >= 1.9.4 hashes module command lines verbatim; older releases
    /// skipped the first word (the file name under GRUB legacy).
    pub fn skips_module_filename(self) -> bool {
        self < TbootVersion::new(1, 9, 4)
    }

    /// Guess the release family from the MLE header (spec §4.3, §5.1):
    /// header 0x20003 means >= 1.11.9, caps bit 10 means >= 1.10.1.
    pub fn guess_from_mle(header_version: u32, caps: u32) -> Self {
        if header_version >= 0x0002_0003 {
            TbootVersion::new(1, 11, 9)
        } else if caps & (1 << 10) != 0 {
            TbootVersion::new(1, 10, 1)
        } else {
            TbootVersion::new(1, 9, 0)
        }
    }
}

impl fmt::Display for TbootVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A version string that is not `a.b[.c]`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("tboot version {0:?} is not of the form 1.10.5")]
pub struct BadVersion(pub String);

impl FromStr for TbootVersion {
    type Err = BadVersion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadVersion(s.to_string());
        let mut it = s
            .trim()
            .split('.')
            .map(|p| p.parse::<u16>().map_err(|_| bad()));
        let major = it.next().ok_or_else(bad)??;
        let minor = it.next().ok_or_else(bad)??;
        let patch = it.next().transpose()?.unwrap_or(0);
        if it.next().is_some() {
            return Err(bad());
        }
        Ok(TbootVersion::new(major, minor, patch))
    }
}

impl Serialize for TbootVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for TbootVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}
