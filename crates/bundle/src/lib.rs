//! Build orchestration for `measured` bundles.
//!
//! A bundle is a directory of build outputs (disk image, VM definitions,
//! predicted PCRs, policies). Building one is a sequence of [`StepSpec`]s,
//! each a function of named inputs. This crate gives two guarantees:
//!
//! - **Only what changed is redone.** Every step gets a key: the SHA-256 of
//!   its name, version and the content digests of its inputs. A step whose key
//!   matches the previous bundle's record is not run; its outputs are hard
//!   linked from the previous bundle. A step reading another step's output
//!   keys on that output's *content*, so an upstream rebuild that produces the
//!   same bytes stops there. The [`StepReport`]s say which inputs changed.
//! - **The bundle is replaced atomically.** The new bundle is assembled in a
//!   staging directory beside the target and swapped in with one
//!   `renameat2(RENAME_EXCHANGE)`; a process killed at any moment leaves
//!   either the previous bundle or the complete new one, and leftovers are
//!   removed by the next run. The swap, the lock and the check that the
//!   target is one of our bundles are the `outputs` crate's, shared with
//!   `measured image build`.
//!
//! The step records live in the bundle (`.measured/steps.json`, content
//! only, so two clean builds are byte-identical). A stat cache beside the
//! bundle (`.NAME.statcache.json`) only saves re-hashing files whose size,
//! times and inode did not change; losing it costs time, never correctness.

mod builder;
mod digest;
mod error;
mod image_step;
mod manifest;
pub mod spec;
mod statcache;

pub use builder::{
    BundleBuilder, Commit, Input, InputReport, Phase, StepOutcome, StepReport, StepSpec,
};
pub use digest::ContentDigest;
pub use error::BundleError;
pub use image_step::{IMAGE_REPORT, image_step};
pub use manifest::{MANIFEST_PATH, Manifest, OutputRecord, StepRecord};
pub use outputs::exchange_or_rename;
pub use outputs::temp::staging_prefix;
