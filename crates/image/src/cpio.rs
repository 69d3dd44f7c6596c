//! A `newc` (SVR4, no CRC) cpio writer, the format the kernel unpacks as an
//! initramfs. Inode numbers and times come from the caller, so the archive
//! depends on nothing but its entries.

use std::io::{self, Write};

/// A newc archive being written to `W`.
#[derive(Debug)]
pub struct NewcWriter<W: Write> {
    out: W,
    next_ino: u32,
    mtime: u32,
}

/// Kinds of entry the initramfs needs.
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    /// A directory.
    Dir,
    /// A regular file with these bytes.
    File(&'a [u8]),
    /// A symbolic link to this target.
    Symlink(&'a [u8]),
}

impl<W: Write> NewcWriter<W> {
    /// Start an archive whose entries all carry `mtime` (seconds).
    pub fn new(out: W, mtime: u32) -> Self {
        NewcWriter {
            out,
            next_ino: 1,
            mtime,
        }
    }

    /// Append one entry owned by root; `name` has no leading `/`.
    pub fn add(&mut self, name: &str, perm: u32, entry: Entry<'_>) -> io::Result<()> {
        let (fmt, data, nlink): (u32, &[u8], u32) = match entry {
            Entry::Dir => (0o040000, &[], 2),
            Entry::File(d) => (0o100000, d, 1),
            Entry::Symlink(t) => (0o120000, t, 1),
        };
        let ino = self.next_ino;
        self.next_ino += 1;
        self.header(ino, fmt | (perm & 0o7777), nlink, name, data.len())?;
        self.out.write_all(data)?;
        self.pad(data.len())
    }

    fn header(
        &mut self,
        ino: u32,
        mode: u32,
        nlink: u32,
        name: &str,
        size: usize,
    ) -> io::Result<()> {
        let size = u32::try_from(size)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "cpio entry over 4 GiB"))?;
        let namesize = name.len() + 1;
        write!(
            self.out,
            "070701{ino:08x}{mode:08x}{:08x}{:08x}{nlink:08x}{:08x}{size:08x}{:08x}{:08x}{:08x}{:08x}{namesize:08x}{:08x}",
            0, 0, self.mtime, 0, 0, 0, 0, 0
        )?;
        self.out.write_all(name.as_bytes())?;
        self.out.write_all(&[0])?;
        // Header (110 bytes) plus name is padded to a multiple of four.
        self.pad(110 + namesize)
    }

    fn pad(&mut self, len: usize) -> io::Result<()> {
        let n = (4 - len % 4) % 4;
        self.out.write_all(&[0u8; 3][..n])
    }

    /// Write the `TRAILER!!!` entry and return the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.header(0, 0, 1, "TRAILER!!!", 0)?;
        Ok(self.out)
    }
}
