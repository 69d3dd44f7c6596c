//! Interim disk writer: `mke2fs -d` and `qemu-img convert`.
//!
//! Stands in for the project's own ext builder (`extfs`) and VHD writer
//! (`vhd`) until those branches are merged; it is the only part of
//! `image build` that runs external tools, and it is not byte-reproducible
//! (mke2fs copies host ctimes; qemu-img stamps the VHD footer).

use std::path::Path;
use std::process::Command;

use fstree::Tree;
use image::bundle::DiskWriter;
use image::spec::{DiskOutput, Spec};

/// Writes the disk with e2fsprogs and qemu-img.
pub struct ToolsDisk {
    /// `SOURCE_DATE_EPOCH`, passed to mke2fs as its fake time.
    pub epoch: i64,
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("running {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl DiskWriter for ToolsDisk {
    fn write_disk(&self, tree: &Tree, spec: &Spec, out: &Path) -> Result<(), String> {
        let dir = out.parent().ok_or("disk path has no parent")?;
        let stage = tempfile::tempdir_in(dir).map_err(|e| e.to_string())?;
        let root = stage.path().join("root");
        std::fs::create_dir(&root).map_err(|e| e.to_string())?;
        image::hostdir::materialize(tree, &root).map_err(|e| e.to_string())?;
        let raw = stage.path().join("disk.raw");
        // Keep the filesystem within the CHS-addressable size of the VHD
        // (vm-image.md 1.4): 2 MiB less than asked is always inside it.
        let fs_mib = if spec.format == DiskOutput::Raw {
            spec.disk_size_mib
        } else {
            spec.disk_size_mib - 2
        };
        let uuid = spec.uuid();
        run(Command::new("mke2fs")
            .env("E2FSPROGS_FAKE_TIME", self.epoch.max(1).to_string())
            .args(["-q", "-F", "-t", &spec.fs_type, "-b", "4096", "-U", &uuid])
            .arg("-E")
            .arg(format!("root_owner=0:0,hash_seed={uuid}"))
            .arg("-d")
            .arg(&root)
            .arg(&raw)
            .arg(format!("{fs_mib}M")))?;
        if spec.format == DiskOutput::Raw {
            std::fs::rename(&raw, out).map_err(|e| e.to_string())?;
            return Ok(());
        }
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&raw)
            .map_err(|e| e.to_string())?;
        f.set_len(spec.disk_size_mib << 20)
            .map_err(|e| e.to_string())?;
        let sub = if spec.format == DiskOutput::VhdFixed {
            "subformat=fixed"
        } else {
            "subformat=dynamic"
        };
        run(Command::new("qemu-img")
            .args(["convert", "-f", "raw", "-O", "vpc", "-o", sub])
            .arg(&raw)
            .arg(out))
    }
}
