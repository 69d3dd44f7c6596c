//! Why an image could not be read: every variant names the field or offset.

/// An ext image that could not be read, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The underlying file could not be read.
    #[error("{what} at byte {offset}: {source}")]
    Io {
        /// What was being read.
        what: String,
        /// Byte offset in the image.
        offset: u64,
        /// The OS error.
        source: std::io::Error,
    },
    /// The image ends before a structure it declares.
    #[error("image truncated: {what} at byte {offset} (+{len}) is past the end ({size} bytes)")]
    Truncated {
        /// What was being read.
        what: String,
        /// Byte offset in the image.
        offset: u64,
        /// Bytes wanted.
        len: u64,
        /// Image size.
        size: u64,
    },
    /// `s_magic` at byte 1080 is not 0xEF53.
    #[error(
        "not an ext2/3/4 image: superblock magic at byte 1080 is {found:#06x}, expected 0xef53"
    )]
    BadMagic {
        /// The value found.
        found: u16,
    },
    /// A superblock field has a value we cannot work with.
    #[error("superblock field {field} = {value}: {expected}")]
    BadSuperblock {
        /// Field name as in the kernel's `ext4_super_block`.
        field: &'static str,
        /// The value found.
        value: u64,
        /// What was expected.
        expected: &'static str,
    },
    /// The filesystem uses a feature this reader does not understand.
    #[error("unsupported incompatible feature(s) {0:#x} in s_feature_incompat")]
    Unsupported(u32),
    /// A block number points outside the filesystem.
    #[error("{what}: block {block} is outside the filesystem ({blocks} blocks)")]
    BlockOutOfRange {
        /// Which pointer.
        what: String,
        /// The block number.
        block: u64,
        /// Filesystem size in blocks.
        blocks: u64,
    },
    /// An inode number outside 1..=s_inodes_count, or a reserved one.
    #[error("{what}: inode {ino} out of range (1..={count}, reserved below {first})")]
    InodeOutOfRange {
        /// Where the number came from.
        what: String,
        /// The inode number.
        ino: u64,
        /// `s_inodes_count`.
        count: u32,
        /// `s_first_ino`.
        first: u32,
    },
    /// A directory reachable by two names, which would make a cycle.
    #[error("{path}: directory inode {ino} is linked more than once (directory cycle)")]
    DirCycle {
        /// The second path it was reached by.
        path: String,
        /// The inode number.
        ino: u32,
    },
    /// A malformed structure inside an inode or block.
    #[error("inode {ino}: {msg}")]
    BadInode {
        /// The inode number.
        ino: u32,
        /// What was wrong, with the field.
        msg: String,
    },
    /// A block two owners claim (cross-linked files, a map naming its own
    /// blocks as data, a file inside the inode tables).
    #[error(
        "block {block} is claimed twice, by {} and by {} (cross-linked)",
        owner(*first),
        owner(*second)
    )]
    CrossLinked {
        /// The first block claimed twice.
        block: u64,
        /// One owner: an inode number, or 0 for the inode tables.
        first: u32,
        /// The other owner.
        second: u32,
    },
    /// A malformed directory entry.
    #[error("directory inode {ino}, block {block}, offset {offset}: {msg}")]
    BadDirEntry {
        /// The directory's inode number.
        ino: u32,
        /// Logical block in the directory.
        block: u64,
        /// Byte offset in that block.
        offset: usize,
        /// What was wrong.
        msg: String,
    },
    /// A directory entry name the tree refuses.
    #[error("directory inode {ino}: entry {name:?}: {source}")]
    BadName {
        /// Directory inode number.
        ino: u32,
        /// The name, lossily.
        name: String,
        /// Why.
        source: fstree::PathError,
    },
}

fn owner(ino: u32) -> String {
    if ino == 0 {
        "the inode tables".into()
    } else {
        format!("inode {ino}")
    }
}

/// Shorthand for results in the reader.
pub type Result<T> = std::result::Result<T, ReadError>;
