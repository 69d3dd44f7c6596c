//! Limits on what an archive may make us read: a few megabytes of
//! compressed input must not turn into gigabytes of metadata held in
//! memory or hours of decompression.
//!
//! Two meters sit on the streams: one counts the compressed bytes the
//! decoder consumed, one the decompressed bytes tar parsing reads. The
//! decompressed stream may run ahead of the compressed one by at most
//! [`MAX_EXPANSION`] times plus [`EXPANSION_ALLOWANCE`]; and the bytes read
//! between two members' data (headers, PAX records, long names, sparse
//! maps, and the skipped data of entries that are not files) are at most
//! [`MAX_METADATA`] per entry, since the tar crate holds them in memory.

use std::cell::Cell;
use std::io::{self, BufRead, Read};
use std::rc::Rc;

/// Decompressed bytes allowed per compressed byte (gzip cannot exceed
/// about 1030; a real root filesystem compresses 3 to 10 times).
pub const MAX_EXPANSION: u64 = 1024;
/// Decompressed bytes allowed beyond [`MAX_EXPANSION`] times the input.
pub const EXPANSION_ALLOWANCE: u64 = 1 << 30;
/// Bytes read for one entry outside its file data.
pub const MAX_METADATA: u64 = 16 << 20;

/// What the meters have seen.
#[derive(Debug, Default)]
pub(super) struct Meter {
    compressed: Cell<u64>,
    expanded: Cell<u64>,
    metadata: Cell<u64>,
    in_data: Cell<bool>,
    /// Whether the stream is compressed (else the expansion is 1).
    decoding: Cell<bool>,
}

impl Meter {
    pub(super) fn new(decoding: bool) -> Rc<Meter> {
        let m = Meter::default();
        m.decoding.set(decoding);
        Rc::new(m)
    }

    /// Reading a member's file data (which is spooled, not held) starts or
    /// ends; each end starts a new metadata budget.
    pub(super) fn set_in_data(&self, on: bool) {
        self.in_data.set(on);
        if !on {
            self.metadata.set(0);
        }
    }

    fn account(&self, n: usize) -> io::Result<()> {
        let n = n as u64;
        let expanded = self.expanded.get() + n;
        self.expanded.set(expanded);
        if !self.in_data.get() {
            let meta = self.metadata.get() + n;
            self.metadata.set(meta);
            if meta > MAX_METADATA {
                return Err(io::Error::other(format!(
                    "more than {MAX_METADATA} bytes of headers and records for one entry \
                     (a hostile or damaged archive)"
                )));
            }
        }
        let allowed = self
            .compressed
            .get()
            .saturating_mul(MAX_EXPANSION)
            .saturating_add(EXPANSION_ALLOWANCE);
        if self.decoding.get() && expanded > allowed {
            return Err(io::Error::other(format!(
                "decompresses to more than {MAX_EXPANSION} times its {} compressed bytes \
                 plus 1 GiB: refused as a decompression bomb (store large empty files as \
                 sparse members, `tar --sparse`)",
                self.compressed.get()
            )));
        }
        Ok(())
    }
}

/// Counts the compressed bytes a decoder consumes.
pub(super) struct CountIn<R> {
    pub(super) inner: R,
    pub(super) meter: Rc<Meter>,
}

impl<R: BufRead> Read for CountIn<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter
            .compressed
            .set(self.meter.compressed.get() + n as u64);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for CountIn<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        self.meter
            .compressed
            .set(self.meter.compressed.get() + n as u64);
        self.inner.consume(n);
    }
}

/// Counts (and limits) the decompressed bytes tar parsing reads.
pub(super) struct Guard<R> {
    pub(super) inner: R,
    pub(super) meter: Rc<Meter>,
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.account(n)?;
        Ok(n)
    }
}
