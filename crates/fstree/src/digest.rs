//! A content digest that costs what a file holds, not what it claims: the
//! SHA-256 of a description of the contents in which runs of all-zero
//! chunks are counted instead of hashed. Holes are never read, so a 1 TiB
//! file holding 4 KiB digests in microseconds; and since zero chunks count
//! the same whether a hole or written zeros hold them, the digest depends
//! only on the bytes, not on how the host stored them.

use std::io;

use sha2::{Digest as _, Sha256};

use crate::ContentSource;

/// True when every byte of `b` is zero. Compares against a static block of
/// zeros, so the work is libc's `memcmp`, fast at any optimisation level.
pub fn is_zero(b: &[u8]) -> bool {
    static ZEROS: [u8; 4096] = [0; 4096];
    b.chunks(ZEROS.len()).all(|c| c == &ZEROS[..c.len()])
}

/// Chunk size of [`content_sha256`]: zero runs are found at this grain.
pub const CHUNK: u64 = 64 * 1024;

/// The digest of `src`'s contents: SHA-256 over `"measured-content-v1"`, the
/// length (u64 LE), then chunk by chunk in order (every chunk [`CHUNK`]
/// bytes but the last): `'D'` and the bytes of a chunk holding a non-zero
/// byte, or `'Z'` and a count (u64 LE) for each maximal run of zero chunks.
/// Reads only the data ranges [`ContentSource::data_ranges`] reports.
pub fn content_sha256(src: &dyn ContentSource) -> io::Result<[u8; 32]> {
    let len = src.len();
    let mut h = Sha256::new();
    h.update(b"measured-content-v1");
    h.update(len.to_le_bytes());
    let mut zeros = 0u64;
    let flush = |h: &mut Sha256, zeros: &mut u64| {
        if *zeros > 0 {
            h.update(b"Z");
            h.update(zeros.to_le_bytes());
            *zeros = 0;
        }
    };
    let chunks = len.div_ceil(CHUNK);
    let mut next = 0u64; // first chunk not yet described
    let mut buf = vec![0u8; CHUNK as usize];
    for (off, n) in src.data_ranges()? {
        if n == 0 || off >= len {
            continue;
        }
        let first = (off / CHUNK).max(next);
        let last = (off.saturating_add(n).min(len) - 1) / CHUNK;
        if first > last {
            continue;
        }
        zeros += first - next;
        for c in first..=last {
            let at = c * CHUNK;
            let want = (len - at).min(CHUNK) as usize;
            let b = &mut buf[..want];
            let mut got = 0;
            while got < want {
                match src.read_at(at + got as u64, &mut b[got..])? {
                    0 => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("contents end at {}, expected {len} bytes", at + got as u64),
                        ));
                    }
                    k => got += k,
                }
            }
            if is_zero(b) {
                zeros += 1;
            } else {
                flush(&mut h, &mut zeros);
                h.update(b"D");
                h.update(&*b);
            }
        }
        next = last + 1;
    }
    zeros += chunks - next;
    flush(&mut h, &mut zeros);
    Ok(h.finalize().into())
}
