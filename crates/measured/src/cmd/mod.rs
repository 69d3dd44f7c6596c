//! One module per subcommand; each owns its arguments and its `run`.

pub mod build;
pub mod drtm;
pub mod drtmlog;
pub mod fs;
pub mod image;
pub mod log;
pub mod policy;
pub mod signing;
pub mod vhd;
