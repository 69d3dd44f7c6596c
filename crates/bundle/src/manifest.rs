//! The step records kept inside a bundle (`.measured/steps.json`).
//!
//! Content only (digests, sizes, names), sorted, so the file is the same
//! bytes for the same build: it takes part in the bundle's reproducibility.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::digest::ContentDigest;

/// Where the manifest lives, relative to the bundle root.
pub const MANIFEST_PATH: &str = ".measured/steps.json";

/// Format version; a bundle with another version is treated as having no
/// records (everything is rebuilt), never misread. Version 2: file inputs
/// are keyed by their content digest (holes not read), not their sha256.
pub const MANIFEST_VERSION: u32 = 2;

/// Every step of the build that produced a bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// Steps by name.
    pub steps: BTreeMap<String, StepRecord>,
}

/// What one step consumed and produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step key: digest over the step name, version and input digests.
    pub key: ContentDigest,
    /// Input label -> digest of its content.
    pub inputs: BTreeMap<String, ContentDigest>,
    /// Bundle-relative path -> what the step wrote there.
    pub outputs: BTreeMap<String, OutputRecord>,
}

/// One file a step wrote into the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputRecord {
    /// Digest of the file's content.
    pub sha256: ContentDigest,
    /// Its length in bytes.
    pub size: u64,
}

impl Manifest {
    /// An empty manifest of the current version.
    pub fn new() -> Self {
        Manifest {
            version: MANIFEST_VERSION,
            steps: BTreeMap::new(),
        }
    }

    /// The manifest of an existing bundle, or `None` when there is none or
    /// it cannot be used (missing, unreadable, other version): then every
    /// step is rebuilt, which is always safe.
    pub fn load(bundle: &Path) -> Option<Self> {
        Self::from_bytes(&std::fs::read(bundle.join(MANIFEST_PATH)).ok()?)
    }

    /// Parse manifest bytes; `None` for anything but a manifest of this
    /// version (the bytes come from a directory anyone may have edited).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let m: Manifest = serde_json::from_slice(bytes).ok()?;
        (m.version == MANIFEST_VERSION).then_some(m)
    }

    /// Canonical bytes: pretty JSON with sorted keys and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("manifest serialises");
        v.push(b'\n');
        v
    }

    /// The record of the file at `rel`, whichever step wrote it.
    pub fn output(&self, rel: &str) -> Option<&OutputRecord> {
        self.steps.values().find_map(|s| s.outputs.get(rel))
    }
}
