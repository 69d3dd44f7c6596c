//! Signed PCR policies (`TPM2_PolicyAuthorize`) for predicted launches.
//!
//! A secret sealed once to `PolicyAuthorize(K)` unseals after any launch
//! whose `PolicyPCR` digest key K signed. This crate holds what that takes,
//! computed in software and checked against tpm2-tools on a software TPM:
//!
//! - [`key`]: PEM signing keys (RSA 2048/3072, ECC P-256/P-384), read only
//!   to sign and zeroized after;
//! - [`public`]: a key's `TPMT_PUBLIC` as `tpm2_loadexternal` builds it and
//!   its TPM name;
//! - [`approval`]: the approved policy for one launch or a `PolicyOR` of
//!   several, aHash, and the `PolicyAuthorize` digest to seal to;
//! - [`signature`]: `TPMT_SIGNATURE` and the plain forms, verified in software;
//! - [`tpm`]: signing with a key held in a TPM through tpm2-tools;
//! - [`signed`]: a signed approval and the files it ships as.

pub mod approval;
pub mod key;
pub mod public;
pub mod signature;
pub mod signed;
pub mod tpm;
mod wire;

pub use approval::{Approval, ApprovalError, Launch, authorize_policy};
pub use key::{KeyError, SoftwareKey};
pub use public::{KeyMaterial, PublicError, TpmPublic};
pub use signature::{Signature, SignatureError};
pub use signed::{SignError, SignedApproval, Signer};
pub use tpm::{TpmError, TpmKey};
pub use wire::WireError;
