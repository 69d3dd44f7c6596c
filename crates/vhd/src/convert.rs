//! Streaming, sparse-aware conversion between raw images and VHDs.
//!
//! A reader thread fills block buffers and spots all-zero blocks while the
//! calling thread writes, so reading and writing overlap; memory stays at a
//! few blocks whatever the disk size.

use std::fs::File;
use std::os::unix::fs::FileExt;

use fstree::ContentSource;

use crate::error::{Error, Result};
use crate::footer::Footer;
use crate::writer::{CreateOptions, VhdWriter};

/// True when every byte is zero.
pub fn is_zero(buf: &[u8]) -> bool {
    // SAFETY: u128 has no invalid bit patterns and align_to only yields a
    // correctly aligned middle slice within `buf`'s bounds.
    let (head, body, tail) = unsafe { buf.align_to::<u128>() };
    head.iter().all(|&b| b == 0) && body.iter().all(|&w| w == 0) && tail.iter().all(|&b| b == 0)
}

/// The chunks `(index, offset, len)` of size `chunk` that overlap a data
/// range of `src`, in order.
fn chunks_with_data(src: &dyn ContentSource, chunk: u64) -> Result<Vec<(u64, u64, usize)>> {
    let len = src.len();
    let ranges = src
        .data_ranges()
        .map_err(Error::io("finding the data in the source"))?;
    let mut out: Vec<(u64, u64, usize)> = Vec::new();
    for (o, l) in ranges {
        let end = (o + l).min(len);
        if o >= end {
            continue;
        }
        let mut i = o / chunk;
        while i * chunk < end {
            if out.last().is_none_or(|&(last, _, _)| last < i) {
                let off = i * chunk;
                out.push((i, off, chunk.min(len - off) as usize));
            }
            i += 1;
        }
    }
    Ok(out)
}

/// Read each chunk that may hold data and hand the non-zero ones to `sink`.
///
/// One thread on purpose: the source is usually in the page cache, so a
/// reader thread buys little overlap and costs a wake-up per block, which
/// on a loaded machine is what dominates.
fn pump(
    src: &dyn ContentSource,
    chunk: u64,
    progress: &mut dyn FnMut(u64),
    mut sink: impl FnMut(u64, u64, &[u8]) -> Result<()>,
) -> Result<()> {
    let mut buf = vec![0u8; chunk as usize];
    for (i, off, n) in chunks_with_data(src, chunk)? {
        let data = &mut buf[..n];
        read_chunk(src, off, data).map_err(Error::io("reading the source"))?;
        if !is_zero(data) {
            sink(i, off, data)?;
        }
        progress(n as u64);
    }
    Ok(())
}

/// The runs `(start, end)` of `data` that are not zero, at `piece`
/// granularity: what must be written, everything else may stay a hole.
pub fn nonzero_runs(data: &[u8], piece: usize) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for k in (0..data.len()).step_by(piece) {
        let end = (k + piece).min(data.len());
        if is_zero(&data[k..end]) {
            continue;
        }
        match runs.last_mut() {
            Some(last) if last.1 == k => last.1 = end,
            _ => runs.push((k, end)),
        }
    }
    runs
}

fn read_chunk(src: &dyn ContentSource, off: u64, buf: &mut [u8]) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match src.read_at(off + done as u64, &mut buf[done..])? {
            0 => {
                buf[done..].fill(0);
                break;
            }
            k => done += k,
        }
    }
    Ok(())
}

/// Write `src` as a VHD into `out`. `opts.size` is the virtual size (at
/// least `src.len()`). `progress` gets the bytes read as they go.
pub fn to_vhd(
    src: &dyn ContentSource,
    out: File,
    opts: CreateOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Footer> {
    if opts.size < src.len() {
        return Err(Error::BadSize {
            size: opts.size,
            why: "smaller than the source image",
        });
    }
    let mut w = VhdWriter::new(out, opts)?;
    let bs = w.block_size();
    pump(src, bs, progress, |i, _, data| w.write_block(i, data))?;
    w.finish()
}

/// Write `src` as a raw image into `out`, leaving zero runs as holes.
pub fn to_raw(src: &dyn ContentSource, out: File, progress: &mut dyn FnMut(u64)) -> Result<()> {
    const CHUNK: u64 = 2 << 20;
    const SUB: usize = 64 << 10;
    pump(src, CHUNK, progress, |_, off, data| {
        // Finer-grained zero skipping keeps small holes holes.
        for (a, b) in nonzero_runs(data, SUB) {
            out.write_all_at(&data[a..b], off + a as u64)
                .map_err(Error::io("writing raw image"))?;
        }
        Ok(())
    })?;
    out.set_len(src.len())
        .map_err(Error::io("sizing raw image"))
}
