//! Intel TXT and tboot: SINIT ACMs, the MLE, tboot policies, and prediction
//! of the DRTM PCRs (17, 18, 19) a measured launch will produce, computed
//! from the artifacts themselves on a machine other than the one launched.
//!
//! The byte-level rules follow the MLE Developer's Guide and tboot's
//! sources; see `docs/drtm.md` for what is verified against which tool.

pub mod acm;
pub mod agile;
pub mod capture;
pub mod cmdline;
pub mod diff;
pub mod error;
pub mod event;
pub mod fuzz;
pub mod hexser;
pub mod mle;
pub mod module;
pub mod policy;
pub mod predict;
pub mod profile;
pub mod quote;
pub mod release;
pub mod sinit;
pub mod synth;
pub mod txtlog;
pub mod version;
mod view;

pub use acm::Acm;
pub use error::{Error, Result};
pub use event::{Event, PcrValues, replay};
pub use hexser::Hex;
pub use mle::{MleHeader, MleImage};
pub use policy::TbPolicy;
pub use predict::{
    LaunchFacts, LaunchInputs, ModuleData, ModuleInput, PolicySource, Prediction, predict,
    predict_with_progress,
};
pub use profile::{ExtPolicy, PcrMapping, Profile, TpmFamily};
pub use version::TbootVersion;

#[cfg(test)]
mod tests;
