//! Where a built filesystem goes: any store that takes writes at byte
//! offsets in any order and reads untouched regions as zeros.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// A random-access byte store for a filesystem image. Regions never written
/// must read as zeros (a sparse file, a VHD with unallocated blocks).
pub trait BlockSink {
    /// Make the store exactly `len` bytes long, zero-filled.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Write `data` at byte `offset`.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;

    /// Write `len` bytes of `src` from `src_offset` at byte `offset`. The
    /// default reads them into memory; stores that are files override it to
    /// copy in the kernel. A source shorter than asked is an error.
    fn copy_from(&mut self, offset: u64, src: &File, src_offset: u64, len: u64) -> io::Result<()> {
        copy_through_memory(self, offset, src, src_offset, len)
    }
}

/// [`BlockSink::copy_from`] by reading `src` into a buffer and calling
/// `write_at`: the default, and for stores that must see the bytes.
pub fn copy_through_memory<S: BlockSink + ?Sized>(
    sink: &mut S,
    offset: u64,
    src: &File,
    src_offset: u64,
    len: u64,
) -> io::Result<()> {
    let mut buf = vec![0u8; len.min(1 << 20) as usize];
    let mut done = 0u64;
    while done < len {
        let k = ((len - done) as usize).min(buf.len());
        src.read_exact_at(&mut buf[..k], src_offset + done)?;
        sink.write_at(offset + done, &buf[..k])?;
        done += k as u64;
    }
    Ok(())
}

/// A file: truncated to the image size first so unwritten blocks stay holes.
impl BlockSink for File {
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, 0)?;
        File::set_len(self, len)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.write_all_at(data, offset)
    }
    fn copy_from(&mut self, offset: u64, src: &File, src_offset: u64, len: u64) -> io::Result<()> {
        fstree::copy_file_range_all(src, src_offset, self, offset, len)
    }
}

/// An in-memory image, for small filesystems and tests.
impl BlockSink for Vec<u8> {
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(|_| io::Error::other("image too big for memory"))?;
        self.clear();
        self.resize(len, 0);
        Ok(())
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let o = usize::try_from(offset).map_err(|_| io::Error::other("offset too big"))?;
        let end = o
            .checked_add(data.len())
            .filter(|&e| e <= self.len())
            .ok_or_else(|| io::Error::other("write past the end of the image"))?;
        self[o..end].copy_from_slice(data);
        Ok(())
    }
}
