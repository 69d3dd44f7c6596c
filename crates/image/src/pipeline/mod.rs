//! The service-VM pipeline: from a spec to a bundle directory (disk image,
//! dom0 kernel and initrd, VM definitions, `bundle.json`), in named stages,
//! one file each, run in this order:
//!
//! | stage | what it does |
//! |---|---|
//! | [`kernel`] | the bzImage's release; the kernel copied into the bundle |
//! | [`rootfs`] | the rootfs as a tree: directory, ext image, disk or tarball |
//! | [`modules`] | the kernel's modules at `/lib/modules/REL`, with kmod's index files |
//! | [`initramfs`] | the initrd: given, or generated to load the root-disk modules |
//! | [`boot`] | kernel and initrd at `/boot`, with the `/vmlinuz` links |
//! | [`console`] | a getty on the Xen console, for the rootfs's init |
//! | [`disk`] | the fstab root entry; the tree as an ext filesystem in a VHD or raw disk |
//! | [`definitions`] | the VM for xl, libvirt and OpenXT |
//! | [`record`] | `bundle.json`: every input and output with its SHA-256 |
//!
//! The kernel goes first because its release names the modules directory
//! and a bad header is found before the rootfs is loaded; the initramfs
//! comes before `boot` because `/boot` holds it. Each stage's inputs and
//! outputs are typed ([`kernel::Kernel`], [`modules::Modules`],
//! [`initramfs::Initrd`], [`disk::Disk`]); the stages share only the
//! records of [`files`] and the tree edits of [`crate::edit`].

use std::path::Path;

use crate::error::ImageError;
use crate::spec::Spec;

pub mod boot;
pub mod console;
pub mod definitions;
pub mod disk;
pub mod files;
pub mod initramfs;
pub mod kernel;
pub mod modules;
pub mod record;
pub mod rootfs;

pub use files::FileRecord;
pub use record::BundleReport;

/// The stages' names, in order: what [`build_into`]'s progress callback
/// is called with.
pub const STAGES: [&str; 9] = [
    "kernel",
    "rootfs",
    "modules",
    "initramfs",
    "boot",
    "console",
    "disk",
    "definitions",
    "record",
];

/// Build the bundle for `spec` at `out`, replacing it atomically: it is
/// assembled in a staging directory beside `out` and swapped in whole,
/// under `out`'s lock (the same as `measured build`'s). `out` must be
/// absent, empty or one of our bundles. `epoch` is `SOURCE_DATE_EPOCH`;
/// `step` is called with each stage's name as it starts, then `rename`.
pub fn build(
    spec: &Spec,
    out: &Path,
    epoch: i64,
    step: &dyn Fn(&str),
) -> Result<BundleReport, ImageError> {
    // Every name is checked before the output directory is touched.
    spec.validate()?;
    let dir = outputs::BundleDir::open(out)?;
    // Earlier releases assembled the bundle in `.measured-image-XXXXXX`.
    outputs::legacy::remove_image_staging_dirs(dir.parent());
    let report = build_into(spec, dir.staging(), epoch, step)?;
    step("rename");
    dir.swap()?.finish()?;
    Ok(report)
}

/// Write the bundle's files for `spec` into `dir`, an empty directory the
/// caller swaps into place (an error leaves files in it for the caller to
/// remove with it). `step` is called with each of [`STAGES`] as it starts.
pub fn build_into(
    spec: &Spec,
    dir: &Path,
    epoch: i64,
    step: &dyn Fn(&str),
) -> Result<BundleReport, ImageError> {
    spec.validate()?;
    // Input records, most computed on other cores while the stages run.
    let mut inputs = files::InputRecords::default();

    step("kernel");
    let kernel = kernel::open(spec, dir, &mut inputs)?;
    step("rootfs");
    let mut tree = rootfs::load(spec, epoch, &mut inputs)?;
    step("modules");
    let modules = modules::install(spec, &mut tree, &kernel.release, epoch, &mut inputs)?;
    step("initramfs");
    let initrd = initramfs::make(
        spec,
        &tree,
        &kernel.release,
        modules.as_ref(),
        dir,
        epoch,
        &mut inputs,
    )?;
    step("boot");
    boot::install(&mut tree, &kernel, initrd.as_ref(), epoch)?;
    step("console");
    let init_system = console::getty(&mut tree, spec, epoch)?;
    step("disk");
    let disk = disk::write(&mut tree, spec, dir, epoch)?;
    step("definitions");
    let definitions = definitions::write(spec, &kernel.release, initrd.is_some(), dir)?;
    step("record");
    let made = record::Made {
        kernel,
        modules,
        initrd,
        init_system,
        disk,
        definitions,
    };
    record::write(spec, dir, inputs, made)
}
