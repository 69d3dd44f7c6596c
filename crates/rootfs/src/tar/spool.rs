//! Member contents kept out of memory: every large member of an archive in
//! one unlinked temporary file (one descriptor however many members), each
//! at its own aligned offset, with its all-zero blocks left as holes. Temp
//! space is what the members really hold: an archive of terabyte-sized
//! empty files, sparse or not, spools almost nothing.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use fstree::{Content, ContentSource};

/// Members start at multiples of this (a multiple of any filesystem's
/// block size), so one member's holes never share a block with another's
/// data.
const ALIGN: u64 = 64 * 1024;
/// Zero blocks are found, and left unwritten, at this grain.
const ZERO_GRAIN: usize = 4096;

/// The spool file of one archive.
#[derive(Default)]
pub(super) struct Spool {
    file: Option<Arc<File>>,
    end: u64,
}

impl Spool {
    fn file(&mut self) -> io::Result<Arc<File>> {
        if let Some(f) = &self.file {
            return Ok(f.clone());
        }
        let f = Arc::new(tempfile::tempfile()?);
        self.file = Some(f.clone());
        Ok(f)
    }

    /// A new member's writer, placed after every earlier member.
    pub(super) fn member(&mut self) -> io::Result<Member> {
        Ok(Member {
            file: self.file()?,
            base: self.end.next_multiple_of(ALIGN),
        })
    }

    /// The contents of a finished member of `len` bytes.
    pub(super) fn finish(&mut self, m: Member, len: u64) -> io::Result<Content> {
        let end = m
            .base
            .checked_add(len)
            .filter(|&e| i64::try_from(e).is_ok());
        let end = end.ok_or_else(|| io::Error::other(format!("{len} bytes do not fit a file")))?;
        self.end = end;
        Ok(Content::new(Spooled {
            file: m.file,
            base: m.base,
            len,
        }))
    }
}

/// One member being written into the spool.
pub(super) struct Member {
    file: Arc<File>,
    base: u64,
}

impl Member {
    /// Write `data` at `at` in the member, leaving all-zero blocks as holes.
    pub(super) fn write(&self, at: u64, data: &[u8]) -> io::Result<()> {
        let mut i = 0;
        while i < data.len() {
            // The grain is relative to the member, so holes are blocks.
            let skip = ZERO_GRAIN - ((at + i as u64) % ZERO_GRAIN as u64) as usize;
            let end = (i + skip).min(data.len());
            if fstree::is_zero(&data[i..end]) {
                i = end;
                continue;
            }
            // Extend over the following non-zero blocks, write them at once.
            let mut stop = end;
            while stop < data.len() {
                let next = (stop + ZERO_GRAIN).min(data.len());
                if fstree::is_zero(&data[stop..next]) {
                    break;
                }
                stop = next;
            }
            self.file
                .write_all_at(&data[i..stop], self.base + at + i as u64)?;
            i = stop;
        }
        Ok(())
    }

    /// Copy the data ranges of `src` (a sparse host file of `len` bytes)
    /// into the member.
    pub(super) fn copy_sparse(&self, src: &File, len: u64) -> io::Result<()> {
        for (off, n) in fstree::host_data_ranges(src, len)? {
            fstree::copy_file_range_all(src, off, &self.file, self.base + off, n)?;
        }
        Ok(())
    }
}

/// A member's contents: `len` bytes at `base` of the spool file.
#[derive(Debug)]
struct Spooled {
    file: Arc<File>,
    base: u64,
    len: u64,
}

impl ContentSource for Spooled {
    fn len(&self) -> u64 {
        self.len
    }
    fn data_ranges(&self) -> io::Result<Vec<(u64, u64)>> {
        fstree::host_data_ranges_in(&self.file, self.base, self.len)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let n = buf.len().min((self.len - offset) as usize);
        // Holes and the unwritten tail read as zeros; the file may end
        // before the member does.
        let buf = &mut buf[..n];
        let mut done = 0;
        while done < n {
            match self
                .file
                .read_at(&mut buf[done..], self.base + offset + done as u64)?
            {
                0 => {
                    buf[done..].fill(0);
                    break;
                }
                k => done += k,
            }
        }
        Ok(n)
    }
}
