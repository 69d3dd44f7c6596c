//! Errors as data: each names the module file (or index input) and what
//! was wrong with it.

/// What is wrong with one module's bytes (the caller adds the file name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ModuleError(pub String);

impl ModuleError {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        ModuleError(msg.into())
    }
}

/// Why a module tree could not be indexed.
#[derive(Debug, thiserror::Error)]
pub enum DepmodError {
    /// A module file is unreadable or malformed.
    #[error("{path}: {msg}")]
    Module {
        /// The module, relative to the modules directory.
        path: String,
        /// What was wrong.
        msg: String,
    },
    /// Modules need each other in a cycle; no load order exists.
    #[error("modules depend on each other in a cycle: {0}")]
    Cycle(String),
    /// A name or alias that kmod's index cannot hold.
    #[error("{what}: {msg}")]
    Index {
        /// The key or file.
        what: String,
        /// What was wrong.
        msg: String,
    },
    /// A `depmod.d` configuration line we cannot honour.
    #[error("{file}:{line}: {msg}")]
    Config {
        /// The configuration file.
        file: String,
        /// 1-based line.
        line: usize,
        /// What was wrong.
        msg: String,
    },
}
