//! Where image bytes come from: a file read with `pread`, or memory (fuzzing,
//! tests). Every read is bounds-checked and names what it was reading.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::error::{ReadError, Result};

/// Random-access image bytes.
pub trait ImageSource: Send + Sync + std::fmt::Debug {
    /// Size in bytes.
    fn size(&self) -> u64;
    /// Fill `buf` from `offset`; the caller has checked the bounds.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl ImageSource for File {
    fn size(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
}

/// An image held in memory.
#[derive(Debug)]
pub struct MemImage(pub Vec<u8>);

impl ImageSource for MemImage {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let s = offset as usize;
        buf.copy_from_slice(&self.0[s..s + buf.len()]);
        Ok(())
    }
}

/// A shared image with a cached size and checked reads.
#[derive(Clone, Debug)]
pub struct Image {
    src: Arc<dyn ImageSource>,
    size: u64,
}

impl Image {
    /// Wrap a source.
    pub fn new(src: Arc<dyn ImageSource>) -> Self {
        let size = src.size();
        Image { src, size }
    }

    /// Image size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Read exactly `buf.len()` bytes at `offset`, or say what was cut off.
    pub fn read(&self, what: impl FnOnce() -> String, offset: u64, buf: &mut [u8]) -> Result<()> {
        let len = buf.len() as u64;
        if offset.checked_add(len).is_none_or(|end| end > self.size) {
            return Err(ReadError::Truncated {
                what: what(),
                offset,
                len,
                size: self.size,
            });
        }
        self.src
            .read_exact_at(offset, buf)
            .map_err(|source| ReadError::Io {
                what: what(),
                offset,
                source,
            })
    }

    /// Read `len` bytes at `offset` into a new buffer.
    pub fn read_vec(
        &self,
        what: impl FnOnce() -> String,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>> {
        if offset
            .checked_add(len as u64)
            .is_none_or(|end| end > self.size)
        {
            return Err(ReadError::Truncated {
                what: what(),
                offset,
                len: len as u64,
                size: self.size,
            });
        }
        let mut v = vec![0u8; len];
        self.read(what, offset, &mut v)?;
        Ok(v)
    }
}

/// Little-endian field readers over a byte slice; callers pass offsets
/// inside the slice (structures are read whole first).
pub(crate) fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

pub(crate) fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}
