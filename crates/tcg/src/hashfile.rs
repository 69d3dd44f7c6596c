//! Hash one stream into several banks at once: read once, one thread per algorithm.

use std::io::Read;
use std::sync::Arc;
use std::sync::mpsc::sync_channel;

use crate::alg::HashAlg;

const CHUNK: usize = 1 << 20;

/// Read `r` to the end once and return its digest in every algorithm of `algs`
/// (deduplicated, in the order given). Each algorithm hashes on its own thread.
pub fn hash_reader<R: Read>(
    algs: &[HashAlg],
    mut r: R,
) -> std::io::Result<Vec<(HashAlg, Vec<u8>)>> {
    let mut uniq: Vec<HashAlg> = Vec::new();
    for &a in algs {
        if !uniq.contains(&a) {
            uniq.push(a);
        }
    }
    std::thread::scope(|s| {
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for &a in &uniq {
            let (tx, rx) = sync_channel::<Arc<Vec<u8>>>(4);
            senders.push(tx);
            handles.push(s.spawn(move || {
                let mut h = a.hasher();
                for chunk in rx {
                    h.update(&chunk);
                }
                (a, h.finalize())
            }));
        }
        loop {
            let mut buf = vec![0u8; CHUNK];
            let mut n = 0;
            while n < CHUNK {
                match r.read(&mut buf[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if n == 0 {
                break;
            }
            buf.truncate(n);
            let chunk = Arc::new(buf);
            for tx in &senders {
                // A hasher thread only stops when its channel closes, so send cannot fail.
                let _ = tx.send(Arc::clone(&chunk));
            }
            if n < CHUNK {
                break;
            }
        }
        drop(senders);
        Ok(handles
            .into_iter()
            .map(|h| h.join().expect("hasher threads do not panic"))
            .collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_hashes_equal_one_shot_digests_across_chunk_boundaries() {
        let data: Vec<u8> = (0..(CHUNK * 2 + 12345)).map(|i| (i * 7) as u8).collect();
        let got = hash_reader(&HashAlg::ALL, &data[..]).unwrap();
        assert_eq!(got.len(), 5);
        for (a, d) in got {
            assert_eq!(d, a.digest(&data), "{a}");
        }
    }
}
