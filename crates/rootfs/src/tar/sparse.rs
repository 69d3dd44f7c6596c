//! Sparse members: where a member's data goes in the file it stands for.
//!
//! GNU tar writes sparse files in four ways. The old GNU header (type `S`)
//! is decoded by the tar crate; the three PAX forms are not, and read as
//! plain members would give a wrong file under a `GNUSparseFile.N/` name,
//! so they are decoded here:
//!
//! * 0.0: repeated `GNU.sparse.offset` / `GNU.sparse.numbytes` records;
//! * 0.1: `GNU.sparse.map` = `offset,numbytes,...`;
//! * 1.0 (`GNU.sparse.major=1`, `minor=0`): the map at the start of the
//!   data, as decimal lines (count, then offset and size per region),
//!   padded to 512 bytes.
//!
//! The real size is `GNU.sparse.size` (0.x) or `GNU.sparse.realsize` (1.0)
//! and the real name `GNU.sparse.name` when given. A map is checked before
//! use: regions in order, not overlapping, inside the real size, and no
//! more data than the member holds.

use std::io::Read;

/// One region of data: where it goes in the file, and how long it is.
pub(super) type Region = (u64, u64);

/// What a member's PAX records say about sparseness.
#[derive(Debug, Default)]
pub(super) struct PaxSparse {
    major: Option<u64>,
    minor: Option<u64>,
    /// `GNU.sparse.size` or `GNU.sparse.realsize`.
    pub(super) real_size: Option<u64>,
    /// `GNU.sparse.name`.
    pub(super) name: Option<Vec<u8>>,
    map: Option<Vec<u64>>,
    /// 0.0 records, in order.
    pairs: Vec<u64>,
    /// A `GNU.sparse.*` record was seen.
    pub(super) any: bool,
}

fn num(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

impl PaxSparse {
    /// Take one PAX record if it is a `GNU.sparse.*` one; `Err` names a bad value.
    pub(super) fn record(&mut self, key: &[u8], v: &[u8]) -> Result<bool, String> {
        let Some(k) = key.strip_prefix(b"GNU.sparse.") else {
            return Ok(false);
        };
        self.any = true;
        let bad = || format!("PAX GNU.sparse.{}: bad value", String::from_utf8_lossy(k));
        match k {
            b"major" => self.major = Some(num(v).ok_or_else(bad)?),
            b"minor" => self.minor = Some(num(v).ok_or_else(bad)?),
            b"size" | b"realsize" => self.real_size = Some(num(v).ok_or_else(bad)?),
            b"name" => self.name = Some(v.to_vec()),
            b"map" => {
                let s = std::str::from_utf8(v).map_err(|_| bad())?;
                let m: Option<Vec<u64>> = if s.is_empty() {
                    Some(Vec::new())
                } else {
                    s.split(',').map(|x| x.trim().parse().ok()).collect()
                };
                self.map = Some(m.ok_or_else(bad)?);
            }
            b"offset" | b"numbytes" => self.pairs.push(num(v).ok_or_else(bad)?),
            // numblocks is implied by the map itself.
            _ => {}
        }
        Ok(true)
    }

    /// Whether the map is at the start of the data (format 1.0).
    pub(super) fn map_in_data(&self) -> Result<bool, String> {
        match (self.major, self.minor) {
            (Some(1), Some(0)) => Ok(true),
            (None | Some(0), _) => Ok(false),
            (Some(a), b) => Err(format!(
                "GNU sparse format {a}.{} is not one GNU tar writes (0.0, 0.1, 1.0)",
                b.unwrap_or(0)
            )),
        }
    }

    /// The map of a 0.x member (from its PAX records).
    pub(super) fn pax_map(&self) -> Result<Vec<Region>, String> {
        let flat = self.map.as_deref().unwrap_or(&self.pairs);
        if !flat.len().is_multiple_of(2) {
            return Err("GNU sparse map has an odd number of values".into());
        }
        Ok(flat.chunks_exact(2).map(|p| (p[0], p[1])).collect())
    }
}

/// Read the map of a 1.0 member from the start of its data (`avail` bytes);
/// returns the regions and the bytes the map took.
pub(super) fn read_data_map(r: &mut impl Read, avail: u64) -> Result<(Vec<Region>, u64), String> {
    let mut used = 0u64;
    let mut line = || -> Result<u64, String> {
        let mut digits = Vec::new();
        loop {
            let mut b = [0u8; 1];
            if used >= avail {
                return Err("GNU sparse map runs past the member's data".into());
            }
            r.read_exact(&mut b)
                .map_err(|e| format!("reading the GNU sparse map: {e}"))?;
            used += 1;
            match b[0] {
                b'\n' => break,
                d @ b'0'..=b'9' if digits.len() < 20 => digits.push(d),
                _ => return Err("GNU sparse map is not decimal lines".into()),
            }
        }
        num(&digits).ok_or_else(|| "GNU sparse map has an empty or huge number".to_string())
    };
    let count = line()?;
    // Each region takes at least four bytes of map ("0\n0\n").
    if count > avail / 4 {
        return Err(format!(
            "GNU sparse map claims {count} regions in a {avail}-byte member"
        ));
    }
    let mut regions = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let off = line()?;
        let len = line()?;
        regions.push((off, len));
    }
    let padded = used.next_multiple_of(512);
    if padded > avail {
        return Err("GNU sparse map runs past the member's data".into());
    }
    std::io::copy(&mut r.take(padded - used), &mut std::io::sink())
        .map_err(|e| format!("reading the GNU sparse map: {e}"))?;
    Ok((regions, padded))
}

/// Check a map against the real size and the data the member holds.
pub(super) fn check_map(regions: &[Region], real_size: u64, data: u64) -> Result<(), String> {
    let mut end = 0u64;
    let mut total = 0u64;
    for &(off, len) in regions {
        if off < end {
            return Err(format!(
                "GNU sparse map region at {off} overlaps or precedes the one before"
            ));
        }
        end = off
            .checked_add(len)
            .filter(|&e| e <= real_size)
            .ok_or_else(|| {
                format!(
                    "GNU sparse map region at {off} (+{len}) ends past the real size {real_size}"
                )
            })?;
        total = total.saturating_add(len);
    }
    if total > data {
        return Err(format!(
            "GNU sparse map holds {total} bytes of data, the member only {data}"
        ));
    }
    Ok(())
}
