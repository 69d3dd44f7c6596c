//! Linux kernel module trees as kmod sees them: the facts depmod reads from
//! each module (`.modinfo`, exported and needed symbols, through `object`),
//! and the index files depmod writes from them (`modules.dep` and its
//! binary trie, aliases, symbols, soft dependencies, device names, the
//! built-in lists), computed here so an image can ship a module tree that
//! `modprobe` uses without running the host's depmod.
//!
//! [`Depmod`] takes the modules in walk order and writes the files byte for
//! byte as kmod 30's `depmod -b` does; [`elf`] reads one module,
//! [`index`] is kmod's trie format, [`config`] the `depmod.d` rules.

pub mod config;
pub mod depmod;
pub mod elf;
mod error;
pub mod file;
mod hash;
pub mod index;

pub use config::Config;
pub use depmod::{Depmod, IndexFiles, TreeFiles};
pub use error::{DepmodError, ModuleError};
pub use file::{decompress, is_module_name, module_name};

/// Read one module's facts from its file bytes (compressed or not).
pub fn read_module(raw: Vec<u8>) -> Result<elf::ModuleFacts, ModuleError> {
    elf::module_facts(&decompress(raw)?)
}
