//! Linux x86 bzImage detection: the real-mode setup header (`HdrS` at 0x202,
//! boot protocol 2.00+) and the release from its `kernel_version` string.

use std::path::Path;

use crate::error::ImageError;

/// Offset of the `HdrS` magic in the setup header.
const HDRS_OFFSET: usize = 0x202;
/// Offset of the boot protocol version (u16, little-endian).
const VERSION_OFFSET: usize = 0x206;
/// Offset of `kernel_version` (u16 LE): string pointer minus 0x200.
const KERNEL_VERSION_OFFSET: usize = 0x20e;

/// What the setup header says about a kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BzImage {
    /// Boot protocol, e.g. 0x020f.
    pub protocol: u16,
    /// The release, `uname -r` style, e.g. `6.1.0-56-cloud-amd64`.
    pub release: String,
    /// The whole version string.
    pub version_string: String,
}

fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

/// Parse the setup header of `bytes`; `path` only names the file in errors.
pub fn parse_bzimage(bytes: &[u8], path: &Path) -> Result<BzImage, ImageError> {
    let err = |msg: String| ImageError::Kernel {
        path: path.to_path_buf(),
        msg,
    };
    if bytes.len() < 0x210 {
        return Err(err(format!(
            "{} bytes is too short for a setup header (needs 0x210)",
            bytes.len()
        )));
    }
    if &bytes[HDRS_OFFSET..HDRS_OFFSET + 4] != b"HdrS" {
        return Err(err(format!(
            "offset 0x202: expected magic \"HdrS\", found {:02x?}",
            &bytes[HDRS_OFFSET..HDRS_OFFSET + 4]
        )));
    }
    let protocol = le16(bytes, VERSION_OFFSET);
    if protocol < 0x0200 {
        return Err(err(format!(
            "offset 0x206: boot protocol {protocol:#06x} is older than 2.00 (no version string)"
        )));
    }
    let ptr = le16(bytes, KERNEL_VERSION_OFFSET) as usize;
    if ptr == 0 {
        return Err(err("offset 0x20e: kernel_version pointer is 0".into()));
    }
    let start = ptr + 0x200;
    let tail = bytes.get(start..).ok_or_else(|| {
        err(format!(
            "offset 0x20e: kernel_version points to {start:#x}, past the end"
        ))
    })?;
    let end = tail.iter().take(256).position(|&b| b == 0).ok_or_else(|| {
        err(format!(
            "offset {start:#x}: version string not NUL-terminated within 256 bytes"
        ))
    })?;
    let version_string = std::str::from_utf8(&tail[..end])
        .map_err(|_| err(format!("offset {start:#x}: version string is not UTF-8")))?
        .to_string();
    let release = version_string
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    if release.is_empty() || release.contains('/') || release.starts_with('.') {
        return Err(err(format!(
            "offset {start:#x}: version string {version_string:?} has no usable release"
        )));
    }
    Ok(BzImage {
        protocol,
        release,
        version_string,
    })
}

/// The kernel configuration symbol of the drivers a root disk needs, for
/// the modules a spec's `root_modules` commonly names.
const ROOT_DRIVER_CONFIG: [(&str, &str); 8] = [
    ("xen_blkfront", "XEN_BLKDEV_FRONTEND"),
    ("virtio_blk", "VIRTIO_BLK"),
    ("virtio_pci", "VIRTIO_PCI"),
    ("virtio_console", "VIRTIO_CONSOLE"),
    ("virtio_scsi", "SCSI_VIRTIO"),
    ("nvme", "BLK_DEV_NVME"),
    ("ahci", "SATA_AHCI"),
    ("sd_mod", "BLK_DEV_SD"),
];

/// A kernel's `.config` (as distributions ship it in `/boot/config-<release>`).
#[derive(Debug, Clone, Default)]
pub struct KernelConfig {
    values: std::collections::BTreeMap<String, String>,
}

impl KernelConfig {
    /// Parse `CONFIG_X=value` lines (comments and others ignored).
    pub fn parse(text: &str) -> KernelConfig {
        let values = text
            .lines()
            .filter_map(|l| l.strip_prefix("CONFIG_")?.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        KernelConfig { values }
    }

    /// The value of `CONFIG_<symbol>` (`y`, `m`, ...), if set.
    pub fn get(&self, symbol: &str) -> Option<&str> {
        self.values.get(symbol).map(String::as_str)
    }

    /// Of `modules` (names, `-` or `_`), those this kernel builds as
    /// loadable modules (`=m`), with their configuration symbol.
    pub fn loadable<'a>(&self, modules: &'a [String]) -> Vec<(&'a str, &'static str)> {
        modules
            .iter()
            .filter_map(|m| {
                let n = m.replace('-', "_");
                let (_, sym) = ROOT_DRIVER_CONFIG.iter().find(|(name, _)| *name == n)?;
                (self.get(sym) == Some("m")).then_some((m.as_str(), *sym))
            })
            .collect()
    }
}

/// The configuration shipped beside a kernel file (`config-<release>` in
/// the same directory, as in `/boot` and Debian's kernel package).
pub fn config_beside(kernel: &Path, release: &str) -> Option<KernelConfig> {
    let p = kernel.parent()?.join(format!("config-{release}"));
    std::fs::read_to_string(p)
        .ok()
        .map(|t| KernelConfig::parse(&t))
}

#[cfg(test)]
mod tests {
    #[test]
    fn loadable_root_drivers_are_found_by_their_config_symbol() {
        let c = KernelConfig::parse(
            "# comment\nCONFIG_XEN_BLKDEV_FRONTEND=m\nCONFIG_VIRTIO_BLK=y\nCONFIG_VIRTIO_PCI=m\n",
        );
        let want: Vec<String> = ["xen-blkfront", "virtio_blk", "virtio_pci", "unknown"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            c.loadable(&want),
            [
                ("xen-blkfront", "XEN_BLKDEV_FRONTEND"),
                ("virtio_pci", "VIRTIO_PCI")
            ]
        );
    }

    use super::*;

    fn fake(version: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 0x400];
        b[0x202..0x206].copy_from_slice(b"HdrS");
        b[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        b[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
        b[0x300..0x300 + version.len()].copy_from_slice(version);
        b
    }

    #[test]
    fn release_is_first_word_of_version_string() {
        let k = parse_bzimage(&fake(b"6.1.0-9-amd64 (x@y) #1 SMP\0"), Path::new("k")).unwrap();
        assert_eq!(k.release, "6.1.0-9-amd64");
        assert_eq!(k.protocol, 0x020f);
    }

    #[test]
    fn text_file_is_not_a_kernel_and_error_names_offset() {
        let e = parse_bzimage(&vec![b'x'; 4096], Path::new("notes.txt")).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("notes.txt") && s.contains("0x202"), "{s}");
    }

    #[test]
    fn dangling_version_pointer_is_an_error_not_a_panic() {
        let mut b = fake(b"x\0");
        b[0x20e..0x210].copy_from_slice(&0xfff0u16.to_le_bytes());
        assert!(parse_bzimage(&b, Path::new("k")).is_err());
        b.truncate(0x300);
        b[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
        assert!(parse_bzimage(&b, Path::new("k")).is_err());
    }
}
