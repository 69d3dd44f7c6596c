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

    /// The release a tboot image says it is, from the build string its
    /// banner prints (`TBOOT_CHANGESET`): `2021-06-14 14:00 +0100 1.10.2`
    /// when built from a release tarball, `v1.9.11 2019-12-12 ...` when
    /// built from a Mercurial checkout with tags. Images built from
    /// Mercurial before 1.9.7 carry only a date and a changeset: `None`.
    /// Several different versions in one image are an error.
    pub fn from_image(image: &[u8]) -> Result<Option<Self>, BadVersion> {
        let mut found: Option<TbootVersion> = None;
        for s in image.split(|&b| !(0x20..0x7f).contains(&b)) {
            let Ok(s) = std::str::from_utf8(s) else {
                continue;
            };
            let Some(v) = changeset_version(s) else {
                continue;
            };
            match found {
                Some(f) if f != v => {
                    return Err(BadVersion(format!(
                        "the image names two tboot versions, {f} and {v}"
                    )));
                }
                _ => found = Some(v),
            }
        }
        Ok(found)
    }
}

/// `YYYY-MM-DD HH:MM +ZZZZ a.b.c` (release tarball) or `va.b.c YYYY-MM-DD ...`
/// (Mercurial `latesttag` form).
fn changeset_version(s: &str) -> Option<TbootVersion> {
    let is_date = |d: &str| {
        d.len() == 10
            && d.bytes().enumerate().all(|(i, c)| {
                if i == 4 || i == 7 {
                    c == b'-'
                } else {
                    c.is_ascii_digit()
                }
            })
    };
    let words: Vec<&str> = s.split(' ').collect();
    match words.as_slice() {
        [date, time, zone, ver]
            if is_date(date)
                && time.len() == 5
                && zone.len() == 5
                && (zone.starts_with('+') || zone.starts_with('-')) =>
        {
            full_version(ver)
        }
        [tag, date, ..] if is_date(date) => full_version(tag.strip_prefix('v').unwrap_or(tag)),
        _ => None,
    }
}

fn full_version(s: &str) -> Option<TbootVersion> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    s.parse().ok()
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
