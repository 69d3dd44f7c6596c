//! The JBD2 journal superblock (big-endian, unlike the rest of ext).

use super::{DiskError, need};

/// `h_magic` of every JBD2 block header.
pub const MAGIC: u32 = 0xC03B_3998;
/// `h_blocktype` of a version 2 superblock.
pub const SUPERBLOCK_V2: u32 = 4;

/// The fields of a clean, internal journal's superblock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)] // JBD2's `s_*` names
pub struct JournalSuperblock {
    pub blocktype: u32,
    pub sequence: u32,
    pub block_size: u32,
    pub maxlen: u32,
    pub first: u32,
    pub first_seq: u32,
    /// First log block to replay; 0 means the journal is clean.
    pub start: u32,
    pub feature_compat: u32,
    pub feature_incompat: u32,
    pub feature_ro_compat: u32,
    pub uuid: [u8; 16],
    pub nr_users: u32,
}

fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}

impl JournalSuperblock {
    /// Decode the first 1024 bytes of the journal.
    pub fn decode(b: &[u8]) -> Result<Self, DiskError> {
        need("journal superblock", b, 1024)?;
        let magic = be32(b, 0);
        if magic != MAGIC {
            return Err(DiskError::BadMagic {
                what: "journal superblock",
                found: magic,
                expected: MAGIC,
            });
        }
        Ok(JournalSuperblock {
            blocktype: be32(b, 4),
            sequence: be32(b, 8),
            block_size: be32(b, 12),
            maxlen: be32(b, 16),
            first: be32(b, 20),
            first_seq: be32(b, 24),
            start: be32(b, 28),
            feature_compat: be32(b, 36),
            feature_incompat: be32(b, 40),
            feature_ro_compat: be32(b, 44),
            uuid: b[48..64].try_into().expect("16"),
            nr_users: be32(b, 64),
        })
    }

    /// Encode into 1024 bytes (users array: the first user is `uuid`).
    pub fn encode(&self) -> [u8; 1024] {
        let mut b = [0u8; 1024];
        let mut put = |o: usize, v: u32| b[o..o + 4].copy_from_slice(&v.to_be_bytes());
        put(0, MAGIC);
        put(4, self.blocktype);
        put(8, self.sequence);
        put(12, self.block_size);
        put(16, self.maxlen);
        put(20, self.first);
        put(24, self.first_seq);
        put(28, self.start);
        put(36, self.feature_compat);
        put(40, self.feature_incompat);
        put(44, self.feature_ro_compat);
        put(64, self.nr_users);
        b[48..64].copy_from_slice(&self.uuid);
        b
    }
}
