//! Whether an executable is static (asks for no dynamic loader): the
//! initramfs runs busybox before any library exists. Read with `object`'s
//! ELF views; every header is bounds-checked.

use object::Endianness;
use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};

/// A malformed ELF file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("ELF: {0}")]
pub struct ElfError(pub String);

fn interp<H: FileHeader<Endian = Endianness>>(b: &[u8]) -> Result<bool, ElfError> {
    let h = H::parse(b).map_err(|e| ElfError(format!("header: {e}")))?;
    let endian = h.endian().map_err(|e| ElfError(format!("header: {e}")))?;
    let phdrs = h
        .program_headers(endian, b)
        .map_err(|e| ElfError(format!("program headers: {e}")))?;
    Ok(phdrs.iter().any(|p| p.p_type(endian) == elf::PT_INTERP))
}

/// True when the executable asks for no dynamic loader (`PT_INTERP`).
pub fn is_static(b: &[u8]) -> Result<bool, ElfError> {
    if b.len() < 6 || &b[..4] != b"\x7fELF" {
        return Err(ElfError("offset 0: no \\x7fELF magic".into()));
    }
    let dynamic = match b[4] {
        2 => interp::<elf::FileHeader64<Endianness>>(b)?,
        1 => interp::<elf::FileHeader32<Endianness>>(b)?,
        c => return Err(ElfError(format!("offset 4: class {c}, expected 1 or 2"))),
    };
    Ok(!dynamic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_truncation_are_errors_and_hosts_shell_is_dynamic() {
        assert!(is_static(b"nope").is_err());
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[0x20..0x28].copy_from_slice(&(u64::MAX - 3).to_le_bytes());
        h[0x36] = 56;
        h[0x38] = 2;
        assert!(is_static(&h).is_err());
        let sh = std::fs::read("/bin/sh").unwrap();
        assert_eq!(is_static(&sh), Ok(false));
    }
}
