//! The TPM measurement core: hash algorithms, PCR banks, TCG event logs,
//! replay and policy digests.

pub mod alg;

pub use alg::{HashAlg, Hasher, MultiHasher};
