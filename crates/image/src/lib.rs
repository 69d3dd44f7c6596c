//! Service VM assembly.
