//! Extended attributes: the in-inode area and the xattr block, both the
//! `ext4_xattr_entry` layout, and the conversion of ext's compact POSIX ACL
//! encoding back to the `getxattr` format.

use super::error::{ReadError, Result};
use super::source::{le16, le32};

/// `EXT4_XATTR_MAGIC`, opening the in-inode area and the xattr block.
pub const XATTR_MAGIC: u32 = 0xEA02_0000;

/// One attribute whose value lives in another inode (`ea_inode`).
#[derive(Debug)]
pub struct ValueInInode {
    /// Full attribute name.
    pub name: Vec<u8>,
    /// The inode holding the value.
    pub inum: u32,
    /// The value's size.
    pub size: u32,
}

/// The prefix for an `e_name_index`, as the kernel's xattr handlers use.
fn prefix(index: u8) -> Option<&'static [u8]> {
    Some(match index {
        1 => b"user.",
        2 => b"system.posix_acl_access",
        3 => b"system.posix_acl_default",
        4 => b"trusted.",
        6 => b"security.",
        7 => b"system.",
        8 => b"system.richacl",
        _ => return None,
    })
}

/// Parse entries starting at `entries` in `area`; values are at
/// `value_base + e_value_offs`. Appends plain values to `out` and returns
/// the ones stored in separate inodes.
pub fn parse_entries(
    ino: u32,
    where_: &str,
    area: &[u8],
    entries: usize,
    value_base: usize,
    out: &mut fstree::Xattrs,
) -> Result<Vec<ValueInInode>> {
    let bad = |msg: String| ReadError::BadInode {
        ino,
        msg: format!("{where_}: {msg}"),
    };
    let mut pos = entries;
    let mut external = Vec::new();
    while pos + 4 <= area.len() && le32(area, pos) != 0 {
        if pos + 16 > area.len() {
            return Err(bad(format!("entry at byte {pos} runs past the end")));
        }
        let name_len = usize::from(area[pos]);
        let index = area[pos + 1];
        let value_offs = usize::from(le16(area, pos + 2));
        let value_inum = le32(area, pos + 4);
        let value_size = le32(area, pos + 8) as usize;
        let name_end = pos + 16 + name_len;
        if name_end > area.len() {
            return Err(bad(format!("entry at byte {pos}: name runs past the end")));
        }
        let pre = prefix(index)
            .ok_or_else(|| bad(format!("entry at byte {pos}: unknown e_name_index {index}")))?;
        let mut name = pre.to_vec();
        name.extend_from_slice(&area[pos + 16..name_end]);
        if value_inum != 0 {
            external.push(ValueInInode {
                name,
                inum: value_inum,
                size: value_size as u32,
            });
        } else {
            let start = value_base + value_offs;
            let end = start
                .checked_add(value_size)
                .filter(|&e| e <= area.len())
                .ok_or_else(|| {
                    bad(format!(
                        "entry {:?}: value at {value_offs} (+{value_size}) is outside the area",
                        String::from_utf8_lossy(&name)
                    ))
                })?;
            let mut value = area[start..end].to_vec();
            if index == 2 || index == 3 {
                value = acl_to_linux(&value).ok_or_else(|| {
                    bad(format!(
                        "entry {:?}: malformed ext4 ACL",
                        String::from_utf8_lossy(&name)
                    ))
                })?;
            }
            out.insert(name, value);
        }
        pos = (name_end + 3) & !3;
    }
    Ok(external)
}

const ACL_USER_OBJ: u16 = 0x01;
const ACL_USER: u16 = 0x02;
const ACL_GROUP_OBJ: u16 = 0x04;
const ACL_GROUP: u16 = 0x08;
const ACL_MASK: u16 = 0x10;
const ACL_OTHER: u16 = 0x20;

/// ext's on-disk ACL (version 1; 4-byte entries without id for the owner,
/// group, mask and other; 8-byte entries for named users and groups) to
/// the Linux xattr format (version 2, every entry 8 bytes, id -1 when none).
pub fn acl_to_linux(v: &[u8]) -> Option<Vec<u8>> {
    if v.len() < 4 || le32(v, 0) != 1 {
        return None;
    }
    let mut out = 2u32.to_le_bytes().to_vec();
    let mut pos = 4;
    while pos < v.len() {
        if pos + 4 > v.len() {
            return None;
        }
        let tag = le16(v, pos);
        let perm = le16(v, pos + 2);
        let id = match tag {
            ACL_USER_OBJ | ACL_GROUP_OBJ | ACL_MASK | ACL_OTHER => {
                pos += 4;
                u32::MAX
            }
            ACL_USER | ACL_GROUP => {
                if pos + 8 > v.len() {
                    return None;
                }
                pos += 8;
                le32(v, pos - 4)
            }
            _ => return None,
        };
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&perm.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_short_and_long_entries_widen_to_linux_format() {
        let mut disk = 1u32.to_le_bytes().to_vec();
        disk.extend_from_slice(&[1, 0, 6, 0]); // user::rw-
        disk.extend_from_slice(&[2, 0, 4, 0, 0xe8, 3, 0, 0]); // user:1000:r--
        disk.extend_from_slice(&[0x20, 0, 0, 0]); // other::---
        let l = acl_to_linux(&disk).unwrap();
        assert_eq!(l.len(), 4 + 3 * 8);
        assert_eq!(&l[0..4], &2u32.to_le_bytes());
        assert_eq!(&l[4..12], &[1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(&l[12..20], &[2, 0, 4, 0, 0xe8, 3, 0, 0]);
        assert!(acl_to_linux(&[2, 0, 0, 0]).is_none());
        assert!(acl_to_linux(&[1, 0, 0, 0, 2, 0, 4]).is_none());
    }
}
