//! File contents read lazily from the image through the file's runs;
//! unmapped blocks are holes and read as zeros.

use std::io;

use fstree::ContentSource;

use super::map::Run;
use super::source::Image;

/// A regular file inside an ext image.
#[derive(Debug)]
pub struct ExtContent {
    img: Image,
    block_size: u64,
    len: u64,
    runs: Vec<Run>,
}

impl ExtContent {
    /// Contents of `len` bytes stored in `runs` (sorted, within the image).
    pub fn new(img: Image, block_size: u32, len: u64, runs: Vec<Run>) -> Self {
        ExtContent {
            img,
            block_size: u64::from(block_size),
            len,
            runs,
        }
    }
}

impl ContentSource for ExtContent {
    fn len(&self) -> u64 {
        self.len
    }

    fn data_ranges(&self) -> io::Result<Vec<(u64, u64)>> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for r in &self.runs {
            let start = r.logical * self.block_size;
            let end = ((r.logical + r.len) * self.block_size).min(self.len);
            if start >= end {
                continue;
            }
            match out.last_mut() {
                Some((s, n)) if *s + *n == start => *n += end - start,
                _ => out.push((start, end - start)),
            }
        }
        Ok(out)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let n = buf.len().min((self.len - offset) as usize);
        let buf = &mut buf[..n];
        buf.fill(0);
        let (lo, hi) = (offset, offset + n as u64);
        // First run that may end after `lo`.
        let first = self
            .runs
            .partition_point(|r| (r.logical + r.len) * self.block_size <= lo);
        for r in &self.runs[first..] {
            let rs = r.logical * self.block_size;
            if rs >= hi {
                break;
            }
            let re = (r.logical + r.len) * self.block_size;
            let (s, e) = (lo.max(rs), hi.min(re));
            let disk = r.physical * self.block_size + (s - rs);
            self.img
                .read(
                    || "file data".into(),
                    disk,
                    &mut buf[(s - lo) as usize..(e - lo) as usize],
                )
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        }
        Ok(n)
    }
}
