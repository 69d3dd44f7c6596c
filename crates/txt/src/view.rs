//! A bounds-checked little-endian view over untrusted bytes.

use crate::error::{Error, Result};

/// Little-endian reads at absolute offsets that fail with the field name
/// instead of panicking.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> View<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        View { buf, what }
    }

    pub(crate) fn bytes(&self, off: usize, len: usize, field: &'static str) -> Result<&'a [u8]> {
        let have = self.buf.len().saturating_sub(off);
        match off.checked_add(len) {
            Some(end) if end <= self.buf.len() => Ok(&self.buf[off..end]),
            _ => Err(Error::Truncated {
                what: self.what,
                field,
                offset: off,
                need: len,
                have,
            }),
        }
    }

    fn array<const N: usize>(&self, off: usize, field: &'static str) -> Result<[u8; N]> {
        let s = self.bytes(off, N, field)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u8(&self, off: usize, field: &'static str) -> Result<u8> {
        Ok(self.array::<1>(off, field)?[0])
    }

    pub(crate) fn u16(&self, off: usize, field: &'static str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(off, field)?))
    }

    pub(crate) fn u32(&self, off: usize, field: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(off, field)?))
    }

    pub(crate) fn u64(&self, off: usize, field: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(off, field)?))
    }

    pub(crate) fn bad(&self, field: &'static str, offset: usize, msg: impl Into<String>) -> Error {
        Error::BadField {
            what: self.what,
            field,
            offset,
            msg: msg.into(),
        }
    }
}
