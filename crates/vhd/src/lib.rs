//! VHD disk images (Microsoft Virtual Hard Disk v1.0): fixed, dynamic and
//! differencing; reading, writing and streaming conversion.
//!
//! All on-disk integers are big-endian. The footer, dynamic header and
//! batmap are typed views ([`Footer`], [`DynamicHeader`], [`BatmapHeader`])
//! that decode from and encode to their exact bytes; [`Vhd`] reads a disk
//! through its parent chain, [`VhdWriter`] writes one block at a time, and
//! [`convert`] streams between raw images and VHDs without holding more
//! than a few blocks in memory.

pub mod batmap;
pub mod check;
pub mod convert;
pub mod dynamic;
mod error;
pub mod footer;
pub mod geometry;
pub mod profile;
mod reader;
pub mod writer;

pub use batmap::BatmapHeader;
pub use check::{Violation, check};
pub use dynamic::{DynamicHeader, ParentLocator};
pub use error::{Error, Result};
pub use footer::{DiskType, Footer};
pub use geometry::Geometry;
pub use profile::Profile;
pub use reader::Vhd;
pub use writer::{CreateOptions, VhdWriter};
