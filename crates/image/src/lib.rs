//! Service-VM assembly: from a rootfs, a kernel and its modules to a
//! bootable disk tree, a minimal initramfs and the VM definitions.
//!
//! The pieces are separate so each can be checked by a real tool: the
//! kernel header ([`kernel`]), `modules.dep` ([`modules`]), the initramfs
//! ([`initramfs`], a newc [`cpio`]), and the edits on the file tree
//! ([`edit`]). [`spec`] is the TOML description; [`pipeline`] runs the
//! stages that turn it into a bundle, one file each.

pub mod cpio;
pub mod edit;
pub mod elf;
pub mod error;
pub mod hostdir;
pub mod initramfs;
pub mod input;
pub mod kernel;
pub mod modules;
pub mod pipeline;
pub mod spec;

pub use error::ImageError;
