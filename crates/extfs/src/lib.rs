//! ext2/3/4 filesystems: reading images and building a fresh image from a tree.

pub mod read;
