//! Module files as kmod opens them: plain ELF, or xz, zstd or gzip
//! compressed (recognised by magic, as kmod does, not by the name).

use std::io::Read;

use crate::error::ModuleError;

/// The file-name endings kmod takes for modules.
pub const EXTENSIONS: [&str; 4] = [".ko", ".ko.gz", ".ko.xz", ".ko.zst"];

/// Largest module we decompress: far above any real one (the biggest
/// upstream modules are tens of MiB), low enough that a compression bomb
/// is an error instead of an exhausted machine.
pub const MAX_MODULE: u64 = 1 << 30;

/// True when `name` (a file name or path) ends like a module file, with
/// something before the ending.
pub fn is_module_name(name: &str) -> bool {
    EXTENSIONS
        .iter()
        .any(|e| name.len() > e.len() && name.ends_with(e))
}

/// The module name of a path: the file name up to its first `.`, with `-`
/// written `_` (kmod's `modname_normalize`).
pub fn module_name(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.split('.').next().unwrap_or("").replace('-', "_")
}

/// The module's ELF bytes: `raw` itself, or decompressed.
pub fn decompress(raw: Vec<u8>) -> Result<Vec<u8>, ModuleError> {
    let fail = |what: &str, e: std::io::Error| ModuleError::new(format!("{what}: {e}"));
    let mut out = Vec::new();
    let limit = MAX_MODULE + 1;
    let what = if raw.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        xz2::read::XzDecoder::new(&raw[..])
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| fail("xz", e))?;
        "xz"
    } else if raw.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::stream::read::Decoder::new(&raw[..])
            .map_err(|e| fail("zstd", e))?
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| fail("zstd", e))?;
        "zstd"
    } else if raw.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(&raw[..])
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| fail("gzip", e))?;
        "gzip"
    } else {
        return Ok(raw);
    };
    if out.len() as u64 > MAX_MODULE {
        return Err(ModuleError::new(format!(
            "{what}: decompresses to more than {MAX_MODULE} bytes"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kmod() {
        assert!(is_module_name("kernel/a/virtio-blk.ko.xz"));
        assert!(is_module_name("x.ko"));
        assert!(!is_module_name(".ko"));
        assert!(!is_module_name("x.ko.bz2"));
        assert!(!is_module_name("modules.dep"));
        assert_eq!(
            module_name("kernel/drivers/virtio-blk.ko.zst"),
            "virtio_blk"
        );
        assert_eq!(module_name("a.b.ko"), "a");
    }

    #[test]
    fn every_compression_round_trips_and_garbage_is_an_error() {
        use std::io::Write;
        let elf = b"\x7fELF pretend".to_vec();
        let xz = {
            let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(&elf).unwrap();
            e.finish().unwrap()
        };
        let zst = zstd::encode_all(&elf[..], 1).unwrap();
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&elf).unwrap();
            e.finish().unwrap()
        };
        for c in [xz, zst, gz, elf.clone()] {
            assert_eq!(decompress(c).unwrap(), elf);
        }
        let e = decompress(vec![0xfd, b'7', b'z', b'X', b'Z', 0, 1, 2]).unwrap_err();
        assert!(e.to_string().starts_with("xz:"), "{e}");
    }
}
