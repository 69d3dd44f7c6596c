//! Stage `kernel`: the bzImage's release (from its setup header) names
//! everything after it — the modules directory, `/boot/vmlinuz-REL`, the
//! bundle's files. Read first: a header is cheap to check, a rootfs is not.
//! The kernel is used where it lies: copied into the bundle and hashed in
//! one pass on another core, streamed into the disk's `/boot` later.

use std::path::Path;

use super::files::{BundleFile, InputRecords};
use crate::error::ImageError;
use crate::input::HostInput;
use crate::kernel::parse_bzimage;
use crate::spec::Spec;

/// The kernel, as the later stages need it.
pub struct Kernel {
    /// The release from the bzImage header (`6.1.0-28-cloud-amd64`).
    pub release: String,
    /// `vmlinuz-REL` in the bundle: a copy of the input.
    pub(super) file: BundleFile,
}

/// Read the kernel's release and start copying it into `dir`.
pub(super) fn open(
    spec: &Spec,
    dir: &Path,
    inputs: &mut InputRecords,
) -> Result<Kernel, ImageError> {
    let (kernel, head) = HostInput::open(&spec.kernel, "kernel")?;
    let bz = parse_bzimage(&head, &spec.kernel)?;
    let release = bz.release;
    outputs::check_file_name("kernel release", &release).map_err(|e| ImageError::Kernel {
        path: spec.kernel.clone(),
        msg: e.to_string(),
    })?;
    let idx = inputs.copy(&kernel, dir.join(file_name(&release)));
    Ok(Kernel {
        file: BundleFile::Copied(kernel, idx),
        release,
    })
}

/// The kernel's name in the bundle.
pub(super) fn file_name(release: &str) -> String {
    format!("vmlinuz-{release}")
}
