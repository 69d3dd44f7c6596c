//! A cache of file digests keyed by what `stat` says, so an unchanged input
//! is not re-read on every run (as git's index does).
//!
//! An entry is trusted only while size, mtime, ctime, inode and device all
//! match. Any mismatch, a missing or unreadable cache, means re-hashing: the
//! cache can make a run slower or faster, never wrong. It is kept beside the
//! bundle, not in it, since inode numbers and times differ between machines.

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::ContentDigest;
use crate::error::BundleError;

/// What `stat` said when the digest was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
    dev: u64,
}

impl Stamp {
    fn of(m: &Metadata) -> Self {
        Stamp {
            size: m.len(),
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            ctime_ns: m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
            ino: m.ino(),
            dev: m.dev(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    stamp: Stamp,
    /// The file's sha256 ([`ContentDigest::of_file`]), if taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<ContentDigest>,
    /// Its content digest ([`ContentDigest::of_content`]), if taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content: Option<ContentDigest>,
}

/// Which digest of a file is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The sha256 of its bytes (records users check).
    Sha256,
    /// The hole-skipping content digest (step keys, tree digests).
    Content,
}

/// Digests of files by absolute path, valid while their stamp holds.
#[derive(Debug, Default)]
pub(crate) struct StatCache {
    path: PathBuf,
    entries: BTreeMap<PathBuf, Entry>,
    /// How many files were actually read (for reports and tests).
    pub(crate) hashed: u64,
}

impl StatCache {
    /// Load the cache at `path`; a missing or damaged file is an empty cache.
    pub(crate) fn load(path: PathBuf) -> Self {
        let entries = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        StatCache {
            path,
            entries,
            hashed: 0,
        }
    }

    /// The sha256 and size of the file at `path`, from the cache when its
    /// stamp still holds, else by reading it.
    pub(crate) fn digest(&mut self, path: &Path) -> Result<(ContentDigest, u64), BundleError> {
        self.get(path, Kind::Sha256)
    }

    /// The content digest and size of the file at `path` (cached alike).
    pub(crate) fn content(&mut self, path: &Path) -> Result<(ContentDigest, u64), BundleError> {
        self.get(path, Kind::Content)
    }

    fn get(&mut self, path: &Path, kind: Kind) -> Result<(ContentDigest, u64), BundleError> {
        let abs = std::path::absolute(path).map_err(|source| BundleError::Io {
            path: path.to_path_buf(),
            what: "resolve",
            source,
        })?;
        let meta = std::fs::metadata(&abs).map_err(|source| BundleError::Io {
            path: path.to_path_buf(),
            what: "stat",
            source,
        })?;
        let stamp = Stamp::of(&meta);
        let entry = self.entries.get_mut(&abs).filter(|e| e.stamp == stamp);
        let cached = entry.as_ref().and_then(|e| match kind {
            Kind::Sha256 => e.sha256,
            Kind::Content => e.content,
        });
        if let Some(d) = cached {
            return Ok((d, stamp.size));
        }
        let (d, size) = match kind {
            Kind::Sha256 => ContentDigest::of_file(&abs)?,
            Kind::Content => ContentDigest::of_content(&abs)?,
        };
        self.hashed += 1;
        // A file modified while we read it gets a stamp that will not match
        // next time; take the stamp from before the read.
        let e = self.entries.entry(abs).or_insert(Entry {
            stamp,
            sha256: None,
            content: None,
        });
        if e.stamp != stamp {
            *e = Entry {
                stamp,
                sha256: None,
                content: None,
            };
        }
        match kind {
            Kind::Sha256 => e.sha256 = Some(d),
            Kind::Content => e.content = Some(d),
        }
        Ok((d, size))
    }

    /// Record a sha256 we already know (a file we just wrote and hashed).
    pub(crate) fn remember(&mut self, path: &Path, sha256: ContentDigest) {
        let Ok(abs) = std::path::absolute(path) else {
            return;
        };
        if let Ok(meta) = std::fs::metadata(&abs) {
            self.entries.insert(
                abs,
                Entry {
                    stamp: Stamp::of(&meta),
                    sha256: Some(sha256),
                    content: None,
                },
            );
        }
    }

    /// Drop entries under `dir` (a bundle about to be replaced).
    pub(crate) fn forget_under(&mut self, dir: &Path) {
        if let Ok(abs) = std::path::absolute(dir) {
            self.entries.retain(|p, _| !p.starts_with(&abs));
        }
    }

    /// Drop entries whose file is gone, then write the cache atomically.
    /// Failure to save is not an error of the build: it only costs time.
    pub(crate) fn save(&mut self) {
        self.entries.retain(|p, _| p.exists());
        if let Ok(bytes) = serde_json::to_vec(&self.entries) {
            let _ = outputs::write_file(&self.path, &bytes);
        }
    }
}
