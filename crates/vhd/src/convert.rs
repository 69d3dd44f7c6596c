//! Streaming, sparse-aware conversion between raw images and VHDs.
//!
//! A reader thread fills block buffers and spots all-zero blocks while the
//! calling thread writes, so reading and writing overlap; memory stays at a
//! few blocks whatever the disk size.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::mpsc;

use fstree::ContentSource;

use crate::error::{Error, Result};
use crate::footer::Footer;
use crate::writer::{CreateOptions, VhdWriter};

/// Buffers in flight between the reader thread and the writer.
const DEPTH: usize = 4;

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

/// Read each chunk on a second thread and hand the non-zero ones to `sink`.
fn pump(
    src: &dyn ContentSource,
    chunk: u64,
    progress: &mut dyn FnMut(u64),
    mut sink: impl FnMut(u64, u64, &[u8]) -> Result<()>,
) -> Result<()> {
    let work = chunks_with_data(src, chunk)?;
    let (full_tx, full_rx) =
        mpsc::sync_channel::<std::io::Result<(u64, u64, Vec<u8>, bool)>>(DEPTH);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
    for _ in 0..DEPTH + 1 {
        empty_tx
            .send(vec![0u8; chunk as usize])
            .expect("receiver alive");
    }
    std::thread::scope(|s| {
        s.spawn(move || {
            for (i, off, n) in work {
                let Ok(mut buf) = empty_rx.recv() else { return };
                let r = read_chunk(src, off, &mut buf[..n]).map(|()| {
                    let zero = is_zero(&buf[..n]);
                    buf.truncate(n);
                    (i, off, buf, zero)
                });
                let failed = r.is_err();
                if full_tx.send(r).is_err() || failed {
                    return;
                }
            }
        });
        for item in full_rx.iter() {
            let (i, off, mut buf, zero) = item.map_err(Error::io("reading the source"))?;
            if !zero {
                sink(i, off, &buf)?;
            }
            progress(buf.len() as u64);
            buf.resize(chunk as usize, 0);
            // The reader may have finished; a closed channel is fine.
            let _ = empty_tx.send(buf);
        }
        Ok(())
    })
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
        // Finer-grained zero skipping keeps small holes holes; runs of
        // non-zero pieces go out in one write.
        let mut run: Option<usize> = None;
        let flush = |from: usize, to: usize| {
            out.write_all_at(&data[from..to], off + from as u64)
                .map_err(Error::io("writing raw image"))
        };
        for k in (0..data.len()).step_by(SUB) {
            let end = (k + SUB).min(data.len());
            match (is_zero(&data[k..end]), run) {
                (false, None) => run = Some(k),
                (true, Some(from)) => {
                    flush(from, k)?;
                    run = None;
                }
                _ => {}
            }
        }
        if let Some(from) = run {
            flush(from, data.len())?;
        }
        Ok(())
    })?;
    out.set_len(src.len())
        .map_err(Error::io("sizing raw image"))?;
    out.sync_all().map_err(Error::io("syncing raw image"))
}
