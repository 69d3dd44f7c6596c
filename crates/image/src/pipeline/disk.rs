//! Stage `disk`: the root entry in `/etc/fstab`, then the tree as an
//! ext2/3/4 filesystem, written by our builder (`extfs`) straight into the
//! chosen output, a sparse raw file or a VHD (no raw temp file: its bytes
//! would be written, read back and written again). A tree that cannot fit
//! is refused before anything is written.

use std::path::Path;

use extfs::build::{BuildOptions, FsType, Size};
use fstree::{Content, Tree};

use super::files::{FileRecord, Hashing, sha_file};
use crate::edit::{put_file, read_file};
use crate::error::ImageError;
use crate::spec::{DiskOutput, Spec};

/// The disk written into the bundle.
pub struct Disk {
    /// Its name in the bundle (`NAME.vhd`, `NAME.img`).
    pub name: String,
    /// Its record, computed on another core.
    hash: Hashing,
}

impl Disk {
    /// Its record, once computed.
    pub(super) fn record(self) -> Result<FileRecord, ImageError> {
        let mut r = self.hash.join()?;
        r.path = self.name;
        Ok(r)
    }
}

/// Write the tree as the spec's disk into `dir`.
pub(super) fn write(
    tree: &mut Tree,
    spec: &Spec,
    dir: &Path,
    epoch: i64,
) -> Result<Disk, ImageError> {
    fstab_root(tree, &spec.fs_type, epoch)?;
    check_fits(tree, spec, epoch).map_err(|msg| ImageError::Field {
        field: "disk_size_mib",
        msg,
    })?;
    let name = spec.disk_file_name();
    let path = dir.join(&name);
    write_disk(tree, spec, epoch, &path).map_err(ImageError::io(&path))?;
    // The disk is the one output not in memory: it is hashed from the file
    // on another core while the definitions are written and the inputs'
    // threads finish.
    let hash = Hashing::spawn(move || sha_file(&path));
    Ok(Disk { name, hash })
}

/// Make the root entry of `/etc/fstab` mount `/dev/xvda` as `fstype`.
pub fn fstab_root(tree: &mut Tree, fstype: &str, epoch: i64) -> Result<(), ImageError> {
    let old = read_file(tree, "/etc/fstab")?.unwrap_or_default();
    let old = String::from_utf8_lossy(&old);
    let root = format!("/dev/xvda\t/\t{fstype}\tdefaults,errors=remount-ro\t0\t1\n");
    let mut out = String::new();
    let mut replaced = false;
    for l in old.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if !l.trim_start().starts_with('#') && f.len() >= 2 && f[1] == "/" {
            if !replaced {
                out.push_str(&root);
                replaced = true;
            }
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    if !replaced {
        out.insert_str(0, &root);
    }
    put_file(tree, "/etc/fstab", Content::bytes(out), 0o644, epoch)
}

/// Bytes addressable through the VHD CHS geometry of a `size`-byte disk,
/// rounded down as vhd-util does (vm-image.md 1.4): a filesystem no larger
/// than this is fully visible to readers that trust CHS.
pub fn chs_floor_bytes(size: u64) -> u64 {
    vhd::Geometry::floor(size).capacity()
}

/// The ext builder's options for the spec's disk: the filesystem fills the
/// disk (a VHD's CHS-addressable part), UUID and hash seed from the VM's UUID.
fn options(spec: &Spec, epoch: i64) -> Result<BuildOptions, String> {
    let fs: FsType = spec.fs_type.parse()?;
    let mut o = BuildOptions::new(fs);
    let disk = spec.disk_size_mib << 20;
    let fs_bytes = if spec.format == DiskOutput::Raw {
        disk
    } else {
        chs_floor_bytes(disk)
    };
    o.size = Size::Bytes(fs_bytes);
    o.epoch = epoch;
    let uuid = spec.uuid().replace('-', "");
    let mut u = [0u8; 16];
    for (i, b) in u.iter_mut().enumerate() {
        *b = u8::from_str_radix(&uuid[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    o.uuid = u;
    o.hash_seed = u;
    o.hash_seed[0] ^= 0xff;
    Ok(o)
}

/// An error, before anything is written, when `tree` cannot fit.
fn check_fits(tree: &Tree, spec: &Spec, epoch: i64) -> Result<(), String> {
    let o = options(spec, epoch)?;
    if extfs::build::fits(tree, &o).map_err(|e| e.to_string())? {
        return Ok(());
    }
    // Only to say how much is missing: a search over many layouts.
    let need = extfs::build::min_size(tree, &o).map_err(|e| e.to_string())?;
    let Size::Bytes(have) = o.size else {
        unreachable!("options() sets an exact size")
    };
    if need > have {
        return Err(format!(
            "the rootfs with kernel and modules needs {} MiB of {} filesystem; a {} MiB disk holds {} MiB",
            need.div_ceil(1 << 20),
            spec.fs_type,
            spec.disk_size_mib,
            have >> 20
        ));
    }
    Ok(())
}

/// Write `tree` as `spec.fs_type` filling a `spec.disk_size_mib` disk in
/// `spec.format` to `out`, a new file. An OS error keeps its kind (a full
/// disk stays `StorageFull`).
fn write_disk(tree: &Tree, spec: &Spec, epoch: i64, out: &Path) -> std::io::Result<()> {
    let o = options(spec, epoch).map_err(std::io::Error::other)?;
    if spec.format == DiskOutput::Raw {
        let mut f = std::fs::File::create(out)?;
        extfs::build::build(tree, &o, &mut f).map_err(build_err)?;
        return Ok(());
    }
    let profile = match spec.format {
        DiskOutput::VhdTap => vhd::Profile::Tap,
        DiskOutput::VhdQemu => vhd::Profile::Qemu,
        _ => vhd::Profile::Fixed,
    };
    let mut opts = vhd::CreateOptions::new(profile);
    // VHD times count from 2000-01-01; the UUID defaults to one derived
    // from the contents, so the VHD is reproducible too.
    opts.timestamp = Some(vhd::writer::vhd_timestamp(epoch.max(0) as u64));
    // Read too: the dynamic writer reads its blocks back for the UUID.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(out)?;
    let disk = spec.disk_size_mib << 20;
    let mut sink = if profile == vhd::Profile::Fixed {
        VhdSink::Fixed(vhd::FixedWriter::new(file, out, disk, &opts).map_err(vhd_err)?)
    } else {
        VhdSink::Dynamic(vhd::DynamicWriter::new(file, out, disk, &opts).map_err(vhd_err)?)
    };
    extfs::build::build(tree, &o, &mut sink).map_err(build_err)?;
    match sink {
        VhdSink::Fixed(w) => w.finish().map(drop),
        VhdSink::Dynamic(w) => w.finish().map(drop),
    }
    .map_err(vhd_err)
}

/// A VHD error as an I/O error that keeps the OS error's kind (a full
/// disk must stay a full disk for the exit status).
fn vhd_err(e: vhd::Error) -> std::io::Error {
    let kind = e.as_io().map_or(std::io::ErrorKind::Other, |io| io.kind());
    std::io::Error::new(kind, e.to_string())
}

/// An ext build error as an I/O error, keeping the kind of an OS error
/// (a file copied into the disk fails on the disk's side when it fills).
fn build_err(e: extfs::build::BuildError) -> std::io::Error {
    let kind = match &e {
        extfs::build::BuildError::Write(io) | extfs::build::BuildError::Read { source: io, .. } => {
            io.kind()
        }
        _ => std::io::ErrorKind::InvalidData,
    };
    std::io::Error::new(kind, e.to_string())
}

/// A VHD being written, as the ext builder's byte store. The disk is at
/// least as big as the filesystem (CHS rounding), and a new VHD reads as
/// zeros, so `set_len` only checks the size.
#[allow(clippy::large_enum_variant)] // one per build, on the stack
enum VhdSink {
    Fixed(vhd::FixedWriter),
    Dynamic(vhd::DynamicWriter),
}

impl extfs::sink::BlockSink for VhdSink {
    fn set_len(&mut self, len: u64) -> std::io::Result<()> {
        let size = match self {
            VhdSink::Fixed(w) => w.size(),
            VhdSink::Dynamic(w) => w.size(),
        };
        if len > size {
            return Err(std::io::Error::other(format!(
                "a {len}-byte filesystem does not fit a {size}-byte disk"
            )));
        }
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        match self {
            VhdSink::Fixed(w) => w.write_at(offset, data),
            VhdSink::Dynamic(w) => w.write_anywhere(offset, data),
        }
        .map_err(vhd_err)
    }

    fn copy_from(
        &mut self,
        offset: u64,
        src: &std::fs::File,
        src_offset: u64,
        len: u64,
    ) -> std::io::Result<()> {
        match self {
            VhdSink::Dynamic(w) => w
                .copy_anywhere(offset, src, src_offset, len)
                .map_err(vhd_err),
            // A fixed VHD skips zero runs to stay sparse: it reads them.
            VhdSink::Fixed(_) => {
                extfs::sink::copy_through_memory(self, offset, src, src_offset, len)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostdir::meta;

    #[test]
    fn fstab_root_replaced_once_other_lines_kept() {
        let mut tree = Tree::new(meta(0o755, 0));
        put_file(
            &mut tree,
            "/etc/fstab",
            Content::bytes(&b"/dev/root / auto defaults 1 1\nproc /proc proc defaults 0 0\n"[..]),
            0o644,
            0,
        )
        .unwrap();
        fstab_root(&mut tree, "ext3", 0).unwrap();
        let t = String::from_utf8(read_file(&tree, "/etc/fstab").unwrap().unwrap()).unwrap();
        assert_eq!(
            t,
            "/dev/xvda\t/\text3\tdefaults,errors=remount-ro\t0\t1\nproc /proc proc defaults 0 0\n"
        );
    }

    #[test]
    fn chs_floor_matches_vhd_util_table() {
        // Values from vm-image.md 1.4 (vhd-util / VirtualBox floor CHS).
        assert_eq!(chs_floor_bytes(100 << 20), 104_761_344);
        assert_eq!(chs_floor_bytes(256 << 20), 268_369_920);
        assert_eq!(chs_floor_bytes(1 << 30), 1_073_479_680);
        assert_eq!(chs_floor_bytes(32 << 30), 34_359_214_080);
    }
}
