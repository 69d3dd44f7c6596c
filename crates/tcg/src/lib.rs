//! The TPM measurement core: hash algorithms, PCR banks, TCG event logs,
//! replay and policy digests.

pub mod alg;
pub mod ccel;
pub mod hashfile;
pub mod log;
pub mod pcr;
pub mod policy;
pub mod replay;
pub mod values;
pub mod verify;

pub use alg::{HashAlg, Hasher, MultiHasher};
pub use log::{Event, EventData, EventLog, EventType, LogFormat, ParseError};
pub use pcr::{PcrBank, PcrBanks};
pub use replay::{Quirk, Replay, ReplayOptions, replay, replay_with};
pub use values::PcrValues;
