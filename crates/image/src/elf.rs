//! Just enough ELF64 little-endian reading for kernel modules (a named
//! section) and static busybox (no `PT_INTERP`). Every offset is checked.

/// A malformed ELF file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("ELF: {0}")]
pub struct ElfError(pub String);

fn get<const N: usize>(b: &[u8], off: u64) -> Result<[u8; N], ElfError> {
    let off = usize::try_from(off).map_err(|_| ElfError(format!("offset {off:#x} too large")))?;
    b.get(off..off.saturating_add(N))
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| ElfError(format!("offset {off:#x}: {N} bytes past end of file")))
}
fn u16_at(b: &[u8], off: u64) -> Result<u16, ElfError> {
    Ok(u16::from_le_bytes(get(b, off)?))
}
fn u32_at(b: &[u8], off: u64) -> Result<u32, ElfError> {
    Ok(u32::from_le_bytes(get(b, off)?))
}
fn u64_at(b: &[u8], off: u64) -> Result<u64, ElfError> {
    Ok(u64::from_le_bytes(get(b, off)?))
}

fn check_ident(b: &[u8]) -> Result<(), ElfError> {
    if b.len() < 64 || &b[..4] != b"\x7fELF" {
        return Err(ElfError("offset 0: no \\x7fELF magic".into()));
    }
    if b[4] != 2 || b[5] != 1 {
        return Err(ElfError(format!(
            "offset 4: class {} data {}: expected ELF64 little-endian",
            b[4], b[5]
        )));
    }
    Ok(())
}

fn slice(b: &[u8], off: u64, len: u64) -> Result<&[u8], ElfError> {
    let end = off
        .checked_add(len)
        .ok_or_else(|| ElfError(format!("range {off:#x}+{len:#x} overflows")))?;
    b.get(off as usize..end as usize)
        .ok_or_else(|| ElfError(format!("range {off:#x}..{end:#x} past end of file")))
}

/// The contents of the section called `name`, if present.
pub fn section<'a>(b: &'a [u8], name: &[u8]) -> Result<Option<&'a [u8]>, ElfError> {
    check_ident(b)?;
    let shoff = u64_at(b, 0x28)?;
    let shentsize = u64::from(u16_at(b, 0x3a)?);
    let shnum = u64::from(u16_at(b, 0x3c)?);
    let shstrndx = u64::from(u16_at(b, 0x3e)?);
    if shentsize < 64 {
        return Err(ElfError(format!(
            "offset 0x3a: e_shentsize {shentsize} < 64"
        )));
    }
    let sh = |i: u64| shoff.wrapping_add(i.wrapping_mul(shentsize));
    if shstrndx >= shnum {
        return Err(ElfError(format!(
            "offset 0x3e: e_shstrndx {shstrndx} >= e_shnum {shnum}"
        )));
    }
    let strtab = slice(
        b,
        u64_at(b, sh(shstrndx).wrapping_add(0x18))?,
        u64_at(b, sh(shstrndx).wrapping_add(0x20))?,
    )?;
    for i in 0..shnum {
        let name_off = u32_at(b, sh(i))? as usize;
        let Some(rest) = strtab.get(name_off..) else {
            continue;
        };
        let n = rest.split(|&c| c == 0).next().unwrap_or(&[]);
        if n == name {
            let off = u64_at(b, sh(i).wrapping_add(0x18))?;
            let size = u64_at(b, sh(i).wrapping_add(0x20))?;
            return Ok(Some(slice(b, off, size)?));
        }
    }
    Ok(None)
}

/// True when the executable asks for no dynamic loader (`PT_INTERP`).
pub fn is_static(b: &[u8]) -> Result<bool, ElfError> {
    check_ident(b)?;
    let phoff = u64_at(b, 0x20)?;
    let phentsize = u64::from(u16_at(b, 0x36)?);
    let phnum = u64::from(u16_at(b, 0x38)?);
    for i in 0..phnum {
        if u32_at(b, phoff.wrapping_add(i.wrapping_mul(phentsize)))? == 3 {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_truncation_are_errors() {
        assert!(section(b"nope", b".modinfo").is_err());
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        h[0x3a] = 64;
        h[0x3c] = 1;
        assert!(section(&h, b".modinfo").is_err());
        h[0x20..0x28].copy_from_slice(&(u64::MAX - 3).to_le_bytes());
        h[0x36] = 56;
        h[0x38] = 2;
        assert!(is_static(&h).is_err());
    }
}
