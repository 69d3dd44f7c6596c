//! tboot's module measurement: `H(H(cmdline) ‖ H(image))` per bank, with
//! the loader's decompression and the version-dependent command-line rule
//! (spec §6.5). Images are streamed once for every bank.

use std::io::{BufRead, BufReader, Read};

use tcg::{HashAlg, MultiHasher};

use crate::error::{Error, Result};
use crate::version::TbootVersion;

/// The command line tboot hashes for a module: verbatim from 1.9.4 on;
/// older releases skip leading whitespace, the first word, then whitespace.
pub fn effective_cmdline(cmdline: &str, version: TbootVersion) -> &str {
    if !version.skips_module_filename() {
        return cmdline;
    }
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c');
    let s = cmdline.trim_start_matches(is_space);
    let s = s.trim_start_matches(|c: char| !is_space(c));
    s.trim_start_matches(is_space)
}

/// Hash every byte `r` yields into every bank, decompressing a gzip stream
/// first when `decompress` (GRUB2 does so unless `--nounzip`).
pub fn hash_image(
    r: impl Read,
    decompress: bool,
    algs: &[HashAlg],
    what: &'static str,
    mut progress: impl FnMut(u64),
) -> Result<Vec<(HashAlg, Vec<u8>)>> {
    let mut br = BufReader::with_capacity(1 << 20, r);
    let gz = {
        let head = br.fill_buf().map_err(|source| Error::Io {
            path: what.to_string(),
            source,
        })?;
        decompress && head.starts_with(&[0x1f, 0x8b])
    };
    let mut mh = MultiHasher::new(algs);
    let mut buf = vec![0u8; 1 << 20];
    let mut reader: Box<dyn Read + '_> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(br))
    } else {
        Box::new(br)
    };
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) if gz => return Err(Error::Gzip { what, source }),
            Err(source) => {
                return Err(Error::Io {
                    path: what.to_string(),
                    source,
                });
            }
        };
        mh.update(&buf[..n]);
        progress(n as u64);
    }
    Ok(mh.finalize())
}

/// Combine per-bank image digests with the command line:
/// `H_b(H_b(cmdline) ‖ image_digest_b)`.
pub fn module_digests(
    cmdline: &[u8],
    image_digests: &[(HashAlg, Vec<u8>)],
) -> Vec<(HashAlg, Vec<u8>)> {
    image_digests
        .iter()
        .map(|(alg, img)| {
            let mut h = alg.hasher();
            h.update(&alg.digest(cmdline));
            h.update(img);
            (*alg, h.finalize())
        })
        .collect()
}
