//! Extended attributes: name prefixes as index numbers, the xattr block
//! (header, entries, values), entry/block hashes, and the conversion of
//! POSIX ACLs between the Linux xattr form and ext's compact disk form.

use super::{DiskError, checksum::crc32c, le, need};

/// `h_magic` of an xattr block.
pub const MAGIC: u32 = 0xEA02_0000;
/// Size of the block header.
pub const HEADER_SIZE: usize = 32;
/// Size of an entry before its name.
pub const ENTRY_SIZE: usize = 16;

/// Name prefixes and their `e_name_index`, longest first so a full-name
/// match wins over a prefix match.
const PREFIXES: &[(&[u8], u8)] = &[
    (b"system.posix_acl_access", 2),
    (b"system.posix_acl_default", 3),
    (b"system.richacl", 8),
    (b"security.", 6),
    (b"trusted.", 4),
    (b"system.", 7),
    (b"user.", 1),
];

/// Split a full name into `(e_name_index, suffix)`; names with no known
/// prefix keep index 0 and the full name.
pub fn split_name(name: &[u8]) -> (u8, &[u8]) {
    for (p, i) in PREFIXES {
        if let Some(rest) = name.strip_prefix(*p) {
            return (*i, rest);
        }
    }
    (0, name)
}

/// Join an index and suffix back into a full name.
pub fn join_name(index: u8, suffix: &[u8]) -> Vec<u8> {
    let p: &[u8] = PREFIXES
        .iter()
        .find(|(_, i)| *i == index)
        .map(|(p, _)| *p)
        .unwrap_or(b"");
    [p, suffix].concat()
}

/// `e_hash` of an entry (`ext2fs_ext_attr_hash_entry`, name bytes taken as
/// signed chars like the x86 build of e2fsprogs and the kernel).
pub fn entry_hash(suffix: &[u8], value: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &c in suffix {
        h = (h << 5) ^ (h >> 27) ^ (c as i8 as i32 as u32);
    }
    for w in value.chunks(4) {
        let mut p = [0u8; 4];
        p[..w.len()].copy_from_slice(w);
        h = (h << 16) ^ (h >> 16) ^ u32::from_le_bytes(p);
    }
    h
}

/// One attribute as stored: index, suffix and value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entry {
    /// `e_name_index`.
    pub index: u8,
    /// Name after the prefix.
    pub name: Vec<u8>,
    /// Value bytes (already in disk form, e.g. ext ACL).
    pub value: Vec<u8>,
}

/// Bytes an entry set needs in a block (header, entries, end marker, values).
pub fn block_bytes(entries: &[Entry]) -> usize {
    HEADER_SIZE
        + 4
        + entries
            .iter()
            .map(|e| ((ENTRY_SIZE + e.name.len() + 3) & !3) + ((e.value.len() + 3) & !3))
            .sum::<usize>()
}

/// Build an xattr block of `block_size` bytes holding `entries` (sorted as
/// the kernel keeps them: by index, name length, name), refcount `refs`,
/// without the checksum (see [`seal_block`]). `None` when they do not fit.
pub fn encode_block(entries: &[Entry], block_size: usize, refs: u32) -> Option<Vec<u8>> {
    if block_bytes(entries) > block_size {
        return None;
    }
    let mut sorted = entries.to_vec();
    sorted.sort_by(|a, b| (a.index, a.name.len(), &a.name).cmp(&(b.index, b.name.len(), &b.name)));
    let mut b = vec![0u8; block_size];
    le::put32(&mut b, 0, MAGIC);
    le::put32(&mut b, 4, refs);
    le::put32(&mut b, 8, 1);
    let mut at = HEADER_SIZE;
    let mut val_end = block_size;
    let mut block_hash: u32 = 0;
    for e in &sorted {
        let vlen = (e.value.len() + 3) & !3;
        val_end -= vlen;
        b[val_end..val_end + e.value.len()].copy_from_slice(&e.value);
        let h = entry_hash(&e.name, &e.value);
        b[at] = e.name.len() as u8;
        b[at + 1] = e.index;
        le::put16(
            &mut b,
            at + 2,
            if e.value.is_empty() {
                0
            } else {
                val_end as u16
            },
        );
        le::put32(&mut b, at + 4, 0);
        le::put32(&mut b, at + 8, e.value.len() as u32);
        le::put32(&mut b, at + 12, h);
        b[at + ENTRY_SIZE..at + ENTRY_SIZE + e.name.len()].copy_from_slice(&e.name);
        at += (ENTRY_SIZE + e.name.len() + 3) & !3;
        block_hash = (block_hash << 16) ^ (block_hash >> 16) ^ h;
    }
    le::put32(&mut b, 0x0C, block_hash);
    Some(b)
}

/// The in-inode xattr area (after `i_extra_isize`) of `space` bytes:
/// magic, entries, a zero terminator, and values packed at the end with
/// offsets counted from the first entry. `None` when they do not fit.
pub fn encode_ibody(entries: &[Entry], space: usize) -> Option<Vec<u8>> {
    if block_bytes(entries) - HEADER_SIZE + 4 > space {
        return None;
    }
    let mut sorted = entries.to_vec();
    sorted.sort_by(|a, b| (a.index, a.name.len(), &a.name).cmp(&(b.index, b.name.len(), &b.name)));
    let mut b = vec![0u8; space];
    le::put32(&mut b, 0, MAGIC);
    let mut at = 4;
    let mut val_end = space;
    for e in &sorted {
        val_end -= (e.value.len() + 3) & !3;
        b[val_end..val_end + e.value.len()].copy_from_slice(&e.value);
        b[at] = e.name.len() as u8;
        b[at + 1] = e.index;
        let offs = if e.value.is_empty() { 0 } else { val_end - 4 };
        le::put16(&mut b, at + 2, offs as u16);
        le::put32(&mut b, at + 8, e.value.len() as u32);
        le::put32(&mut b, at + 12, entry_hash(&e.name, &e.value));
        b[at + ENTRY_SIZE..at + ENTRY_SIZE + e.name.len()].copy_from_slice(&e.name);
        at += (ENTRY_SIZE + e.name.len() + 3) & !3;
    }
    Some(b)
}

/// Write `h_checksum` of an xattr block stored at physical block `blocknr`.
pub fn seal_block(b: &mut [u8], csum_seed: u32, blocknr: u64) {
    // Header: magic, refcount, blocks, hash (0x0C), checksum (0x10).
    le::put32(b, 0x10, 0);
    let c = crc32c(csum_seed, &blocknr.to_le_bytes());
    let c = crc32c(c, b);
    le::put32(b, 0x10, c);
}

/// Decode the entries of an xattr block (values inside the block only).
pub fn decode_block(b: &[u8]) -> Result<Vec<Entry>, DiskError> {
    need("xattr block", b, HEADER_SIZE + 4)?;
    let magic = le::u32(b, 0);
    if magic != MAGIC {
        return Err(DiskError::BadMagic {
            what: "xattr block",
            found: magic,
            expected: MAGIC,
        });
    }
    let mut out = Vec::new();
    let mut at = HEADER_SIZE;
    while at + 4 <= b.len() && le::u32(b, at) != 0 {
        need("xattr entry", &b[at..], ENTRY_SIZE)?;
        let nlen = usize::from(b[at]);
        let off = usize::from(le::u16(b, at + 2));
        let size = le::u32(b, at + 8) as usize;
        let name_end = at + ENTRY_SIZE + nlen;
        if name_end > b.len() || off.checked_add(size).is_none_or(|e| e > b.len()) {
            return Err(DiskError::BadField {
                what: "xattr entry",
                field: "e_value_offs",
                value: off as u64,
            });
        }
        out.push(Entry {
            index: b[at + 1],
            name: b[at + ENTRY_SIZE..name_end].to_vec(),
            value: b[off..off + size].to_vec(),
        });
        at += (ENTRY_SIZE + nlen + 3) & !3;
    }
    Ok(out)
}

const ACL_USER: u16 = 0x02;
const ACL_GROUP: u16 = 0x08;

/// Convert a `system.posix_acl_*` value from the Linux xattr form (version 2,
/// 8-byte entries) to ext's disk form (version 1, 4-byte entries except
/// named users and groups which keep their 4-byte id).
pub fn acl_to_disk(v: &[u8]) -> Result<Vec<u8>, DiskError> {
    if v.len() < 4 || !(v.len() - 4).is_multiple_of(8) || le::u32(v, 0) != 2 {
        return Err(DiskError::BadField {
            what: "posix acl xattr",
            field: "a_version/length",
            value: v.len() as u64,
        });
    }
    let mut out = 1u32.to_le_bytes().to_vec();
    for e in v[4..].chunks(8) {
        let tag = le::u16(e, 0);
        out.extend_from_slice(&e[..4]);
        if tag == ACL_USER || tag == ACL_GROUP {
            out.extend_from_slice(&e[4..8]);
        }
    }
    Ok(out)
}

/// Inverse of [`acl_to_disk`].
pub fn acl_from_disk(v: &[u8]) -> Result<Vec<u8>, DiskError> {
    let bad = |value| DiskError::BadField {
        what: "ext acl",
        field: "a_version/entries",
        value,
    };
    if v.len() < 4 || le::u32(v, 0) != 1 {
        return Err(bad(v.len() as u64));
    }
    let mut out = 2u32.to_le_bytes().to_vec();
    let mut at = 4;
    while at < v.len() {
        if at + 4 > v.len() {
            return Err(bad(at as u64));
        }
        let tag = le::u16(v, at);
        out.extend_from_slice(&v[at..at + 4]);
        if tag == ACL_USER || tag == ACL_GROUP {
            if at + 8 > v.len() {
                return Err(bad(at as u64));
            }
            out.extend_from_slice(&v[at + 4..at + 8]);
            at += 8;
        } else {
            out.extend_from_slice(&u32::MAX.to_le_bytes());
            at += 4;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_converts_both_ways() {
        // user::rw- user:1000:r-- group::r-- mask::r-- other::---
        let mut x = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in [
            (1u16, 6u16, u32::MAX),
            (2, 4, 1000),
            (4, 4, u32::MAX),
            (0x10, 4, u32::MAX),
            (0x20, 0, u32::MAX),
        ] {
            x.extend_from_slice(&tag.to_le_bytes());
            x.extend_from_slice(&perm.to_le_bytes());
            x.extend_from_slice(&id.to_le_bytes());
        }
        let d = acl_to_disk(&x).unwrap();
        assert_eq!(d.len(), 4 + 4 * 4 + 8);
        assert_eq!(acl_from_disk(&d).unwrap(), x);
    }

    #[test]
    fn block_round_trips() {
        let e = vec![
            Entry {
                index: 6,
                name: b"selinux".to_vec(),
                value: b"system_u:object_r:etc_t:s0\0".to_vec(),
            },
            Entry {
                index: 1,
                name: b"x".to_vec(),
                value: vec![],
            },
        ];
        let b = encode_block(&e, 1024, 1).unwrap();
        let mut back = decode_block(&b).unwrap();
        back.sort();
        let mut want = e.clone();
        want.sort();
        assert_eq!(back, want);
    }
}
