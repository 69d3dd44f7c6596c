//! Directory blocks read as a linear list of `ext4_dir_entry_2`: htree
//! index blocks look like one empty entry, so they need no special case,
//! and metadata_csum tails are entries with inode 0.

use super::error::{ReadError, Result};
use super::source::{le16, le32};

/// One live entry: inode number and name (never `.` or `..`).
#[derive(Debug)]
pub struct DirEntry {
    /// Inode number.
    pub ino: u32,
    /// Name bytes.
    pub name: Vec<u8>,
}

/// Parse the entries of one directory block (or the inline area).
pub fn parse_block(
    dir_ino: u32,
    logical: u64,
    data: &[u8],
    filetype: bool,
    out: &mut Vec<DirEntry>,
) -> Result<()> {
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        let bad = |msg: String| ReadError::BadDirEntry {
            ino: dir_ino,
            block: logical,
            offset: pos,
            msg,
        };
        let ino = le32(data, pos);
        let mut rec_len = usize::from(le16(data, pos + 4));
        // 64 KiB blocks store a whole-block record as 0 or 65535.
        if data.len() == 65536 && (rec_len == 0 || rec_len == 65535) {
            rec_len = 65536;
        }
        let name_len = if filetype {
            usize::from(data[pos + 6])
        } else {
            usize::from(le16(data, pos + 6) & 0xff)
        };
        if rec_len < 8 || rec_len % 4 != 0 || pos + rec_len > data.len() {
            return Err(bad(format!(
                "rec_len {rec_len} is not a multiple of 4 within the block"
            )));
        }
        if ino != 0 {
            if 8 + name_len > rec_len || name_len == 0 {
                return Err(bad(format!(
                    "name_len {name_len} does not fit rec_len {rec_len}"
                )));
            }
            let name = &data[pos + 8..pos + 8 + name_len];
            if name != b"." && name != b".." {
                out.push(DirEntry {
                    ino,
                    name: name.to_vec(),
                });
            }
        }
        pos += rec_len;
    }
    Ok(())
}
