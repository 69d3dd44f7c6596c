//! The in-memory file tree: load it from an ext image, a tar archive or a
//! directory, edit it, and hand it to the ext builder.
