//! ext2/3/4 filesystems: reading images and building a fresh image from a tree.
//!
//! [`disk`] holds the on-disk structures with explicit little-endian encode
//! and decode; [`build`] writes a whole filesystem from an [`fstree::Tree`]
//! through a [`sink::BlockSink`].

pub mod build;
pub mod disk;
pub mod read;
pub mod sink;
