//! Stage `record`: `bundle.json`, every input and output with its size and
//! SHA-256 (inputs named relative to the spec, so the same spec gives the
//! same record however it was named on the command line), and a last check
//! that the inputs used where they lie did not change meanwhile.

use std::path::Path;

use serde::Serialize;

use super::console::InitSystem;
use super::disk::Disk;
use super::files::{BundleFile, FileRecord, InputRecords};
use super::initramfs::{self, Initrd};
use super::kernel::{self, Kernel};
use super::modules::Modules;
use crate::error::ImageError;
use crate::spec::Spec;

/// `bundle.json`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BundleReport {
    /// VM name.
    pub name: String,
    /// Kernel release found in the bzImage header.
    pub kernel_release: String,
    /// Init system found in the rootfs.
    pub init_system: InitSystem,
    /// Modules in the initramfs, in load order (empty if none).
    pub initramfs_modules: Vec<String>,
    /// The module index files written beside the modules (`modules.dep`,
    /// `modules.alias.bin`, ...), computed from the modules themselves.
    pub module_index: Vec<String>,
    /// The effective spec.
    pub spec: Spec,
    /// Inputs.
    pub inputs: Vec<FileRecord>,
    /// Outputs (everything in the bundle but `bundle.json`).
    pub outputs: Vec<FileRecord>,
}

/// What the stages made, to record.
pub(super) struct Made {
    pub kernel: Kernel,
    pub modules: Option<Modules>,
    pub initrd: Option<Initrd>,
    pub init_system: InitSystem,
    pub disk: Disk,
    pub definitions: Vec<(String, BundleFile)>,
}

/// Write `dir/bundle.json` once every record is computed.
pub(super) fn write(
    spec: &Spec,
    dir: &Path,
    inputs: InputRecords,
    made: Made,
) -> Result<BundleReport, ImageError> {
    let release = made.kernel.release;
    let mut files = vec![(kernel::file_name(&release), made.kernel.file)];
    let mut initramfs_modules = Vec::new();
    if let Some(i) = made.initrd {
        files.push((initramfs::file_name(&release), i.file));
        initramfs_modules = i.modules;
    }
    files.extend(made.definitions);

    let mut inputs = inputs.join()?;
    let mut outputs: Vec<FileRecord> = files
        .iter()
        .map(|(name, f)| f.record(name, &inputs))
        .collect();
    outputs.push(made.disk.record()?);
    outputs.sort_by(|a, b| a.path.cmp(&b.path));
    for r in &mut inputs {
        r.path = spec.recorded(Path::new(&r.path));
    }
    let report = BundleReport {
        name: spec.name.clone(),
        kernel_release: release,
        init_system: made.init_system,
        initramfs_modules,
        module_index: made.modules.map(|m| m.tree.index_files).unwrap_or_default(),
        spec: spec.recorded_spec(),
        inputs,
        outputs,
    };
    let json = serde_json::to_string_pretty(&report).expect("report serialises") + "\n";
    let bj = dir.join("bundle.json");
    std::fs::write(&bj, json).map_err(ImageError::io(&bj))?;

    // What was hashed, copied and put on the disk came from these files:
    // they must still be the ones opened.
    for (_, f) in &files {
        f.check_unchanged()?;
    }
    Ok(report)
}
