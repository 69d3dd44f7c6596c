//! VHD (Microsoft Virtual Hard Disk v1.0) images: typed big-endian views of
//! the on-disk structures, a reader for fixed, dynamic and differencing
//! images, streaming writers for fixed and dynamic images in the `tap`,
//! `qemu` and `fixed` profiles, and a checker that names every violation.
//!
//! All integers on disk are big-endian; a sector is 512 bytes.

pub mod check;
mod error;
pub mod format;
pub mod geometry;
pub mod reader;
pub mod size;
pub mod writer;

pub use check::{Violation, check_file};
pub use error::{Error, Result};
pub use format::{BatmapHeader, DiskType, DynamicHeader, Footer, ParentLocator, SECTOR, checksum};
pub use geometry::Geometry;
pub use reader::Vhd;
pub use size::parse_size;
pub use writer::{
    CreateOptions, DynamicWriter, FixedWriter, Profile, convert_to_raw, convert_to_vhd, create,
};
