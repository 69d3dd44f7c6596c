//! How `measured` writes its outputs, for every command alike:
//!
//! - **Atomically.** A file is written under a temporary name beside it and
//!   renamed into place when complete ([`AtomicFile`]); a bundle directory
//!   is assembled in a staging directory and swapped in whole
//!   ([`BundleDir`]). A run killed at any moment leaves the previous output
//!   or the complete new one.
//! - **Only over what is ours.** A bundle directory is replaced only when
//!   absent, empty, or one of our bundles with nothing foreign in it; a file
//!   output never replaces a directory or a device. Values that become file
//!   names are checked first ([`check_file_name`]).
//! - **Cleaning up after killed runs, and only after them.** Temporaries
//!   carry an exact name pattern ([`temp`]); a run removes those of its own
//!   output that no live run holds, and those earlier releases left beside
//!   it under their old names ([`legacy`]).
//! - **With the user's umask.** New files are `0666`, new directories
//!   `0777`, less the umask, as `cp` and `mkdir` make them.
//!
//! Errors tell an OS failure (exit status 3) from a refused request
//! (exit status 2): [`Error::is_os_error`].
//!
//! This sits below every crate that writes outputs (`vhd`, `image`,
//! `bundle`) so that they share one implementation.

pub mod bundle;
mod error;
mod file;
pub mod legacy;
mod name;
pub mod temp;

pub use bundle::{BundleDir, Swapped, check_replaceable_bundle, exchange_or_rename};
pub use error::{Error, Result};
pub use file::{AtomicFile, remove_stale_files, write_file};
pub use name::{MAX_NAME_LEN, check_file_name};
