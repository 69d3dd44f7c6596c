//! OpenXT: the `xec`/`xec-vm` script of today's xenmgr (`virt-type`, not the
//! removed `hvm`) and a template JSON for `create-vm-with-template-and-json`
//! or a `service-<tag>` file.
//!
//! OpenXT templates store every scalar as a JSON string (`"memory": "192"`)
//! and maps keyed `"0"`, `"1"`…; the types below keep exactly that shape so
//! the JSON round-trips with OpenXT's key names.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::{DiskFormat, VmDef, VmDefError};

/// A VM template as xenmgr reads it (`templates/default/service-*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Fixed VM UUID; service templates must carry one.
    pub uuid: String,
    /// VM type: any tag other than `svm`/`pvm` makes a service VM.
    #[serde(rename = "type")]
    pub vm_type: String,
    /// Display name.
    pub name: String,
    /// Switcher slot, `"-1"` for service VMs.
    pub slot: String,
    /// Hidden from the switcher.
    pub hidden: String,
    /// Start when xenmgr starts.
    pub start_on_boot: String,
    /// Start order among service VMs.
    pub start_on_boot_priority: String,
    /// Hidden in the UI.
    #[serde(rename = "hidden-in-ui")]
    pub hidden_in_ui: String,
    /// Whether xenmgr pins a hash of the disks (must be refreshed on rebuild).
    pub measured: String,
    /// The `config` subtree.
    pub config: TemplateConfig,
}

/// The `config` subtree of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// `pv`, `pvh` or `hvm`.
    #[serde(rename = "virt-type")]
    pub virt_type: String,
    /// Memory in MiB.
    pub memory: String,
    /// Virtual CPUs.
    pub vcpus: String,
    /// Kernel command line.
    pub cmdline: String,
    /// dom0 path the extracted kernel is copied to.
    pub kernel: String,
    /// `[disk[,part]:]/path` of the kernel inside the VM's disk.
    #[serde(rename = "kernel-extract")]
    pub kernel_extract: String,
    /// dom0 path for the extracted initrd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd: Option<String>,
    /// Path of the initrd inside the disk.
    #[serde(
        rename = "initrd-extract",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub initrd_extract: Option<String>,
    /// SELinux/flask label of the domain.
    #[serde(rename = "flask-label")]
    pub flask_label: String,
    /// No device model for a PV service VM.
    #[serde(rename = "qemu-dm-path")]
    pub qemu_dm_path: String,
    /// Disks keyed `"0"`, `"1"`….
    pub disk: BTreeMap<String, TemplateDisk>,
}

/// One disk of a [`TemplateConfig`] (db keys under `config/disk/N/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateDisk {
    /// dom0 path (`phys-path`).
    pub path: String,
    /// `vhd`, `aio`, … (`phys-type`).
    #[serde(rename = "type")]
    pub disk_type: String,
    /// `r` or `w`.
    pub mode: String,
    /// Guest device (`virt-path`), e.g. `xvda`.
    pub device: String,
    /// `disk` or `cdrom`.
    pub devtype: String,
}

/// xenmgr's disk type for the file. A raw image is `aio` (tapdisk's raw
/// driver): xenmgr can attach it read-only to extract the kernel
/// (`Vm/Utility.hs withMountedRODisk` knows `vhd`, `aio`, `vdi`, `file` and
/// `phy`, and fails on `raw`) and serves it through `block-tap` like a VHD.
fn phys_type(f: DiskFormat) -> &'static str {
    match f {
        DiskFormat::Vhd => "vhd",
        DiskFormat::Raw => "aio",
    }
}

/// Build the template for a VM definition.
pub fn template(def: &VmDef) -> Result<Template, VmDefError> {
    def.validate()?;
    let disk = TemplateDisk {
        path: def.disk_path.clone(),
        disk_type: phys_type(def.disk_format).into(),
        mode: "w".into(),
        device: "xvda".into(),
        devtype: "disk".into(),
    };
    Ok(Template {
        uuid: def.uuid.clone(),
        vm_type: def.service_tag.clone(),
        name: def.name.clone(),
        slot: "-1".into(),
        hidden: "true".into(),
        start_on_boot: "true".into(),
        start_on_boot_priority: "20".into(),
        hidden_in_ui: "true".into(),
        measured: "false".into(),
        config: TemplateConfig {
            virt_type: def.virt_type.as_str().into(),
            memory: def.memory_mib.to_string(),
            vcpus: def.vcpus.to_string(),
            cmdline: def.cmdline.clone(),
            kernel: def.kernel.clone(),
            kernel_extract: def.kernel_in_disk.clone(),
            initrd: def.initrd.clone(),
            initrd_extract: def.initrd_in_disk.clone(),
            flask_label: def.flask_label.clone(),
            qemu_dm_path: String::new(),
            disk: BTreeMap::from([("0".to_string(), disk)]),
        },
    })
}

/// The template as pretty JSON with a trailing newline.
pub fn template_json(def: &VmDef) -> Result<String, VmDefError> {
    let t = template(def)?;
    let mut s = serde_json::to_string_pretty(&t).expect("template serialises");
    s.push('\n');
    Ok(s)
}

/// A dom0 shell script creating the VM with `xec` / `xec-vm` calls.
pub fn xec_script(def: &VmDef) -> Result<String, VmDefError> {
    def.validate()?;
    let mut s = String::new();
    // Values were validated to contain no quotes, so single quotes are safe.
    let _ = writeln!(s, "#!/bin/sh");
    let _ = writeln!(
        s,
        "# Create service VM {} on OpenXT (run in dom0 as root).",
        def.name
    );
    let _ = writeln!(s, "set -e");
    let _ = writeln!(s, "vm=$(xec create-vm-with-template new-vm-empty)");
    let _ = writeln!(s, "xec-vm -o \"$vm\" set name '{}'", def.name);
    let _ = writeln!(s, "xec-vm -o \"$vm\" set type '{}'", def.service_tag);
    let _ = writeln!(
        s,
        "xec-vm -o \"$vm\" set virt-type '{}'",
        def.virt_type.as_str()
    );
    let _ = writeln!(s, "xec-vm -o \"$vm\" set stubdom false");
    let _ = writeln!(s, "xec-vm -o \"$vm\" set qemu-dm-path ''");
    let _ = writeln!(s, "xec-vm -o \"$vm\" set slot -1");
    let _ = writeln!(s, "xec-vm -o \"$vm\" set memory {}", def.memory_mib);
    let _ = writeln!(s, "xec-vm -o \"$vm\" set vcpus {}", def.vcpus);
    let _ = writeln!(s, "xec-vm -o \"$vm\" set flask-label '{}'", def.flask_label);
    let _ = writeln!(s, "xec-vm -o \"$vm\" set kernel '{}'", def.kernel);
    let _ = writeln!(
        s,
        "xec-vm -o \"$vm\" set kernel-extract '{}'",
        def.kernel_in_disk
    );
    if let (Some(i), Some(e)) = (&def.initrd, &def.initrd_in_disk) {
        let _ = writeln!(s, "xec-vm -o \"$vm\" set initrd '{i}'");
        let _ = writeln!(s, "xec-vm -o \"$vm\" set initrd-extract '{e}'");
    }
    let _ = writeln!(s, "xec-vm -o \"$vm\" set cmd-line '{}'", def.cmdline);
    let _ = writeln!(s, "xec-vm -o \"$vm\" add-disk");
    let _ = writeln!(
        s,
        "xec-vm -o \"$vm\" --disk 0 set phys-type {}",
        phys_type(def.disk_format)
    );
    let _ = writeln!(
        s,
        "xec-vm -o \"$vm\" --disk 0 set phys-path '{}'",
        def.disk_path
    );
    let _ = writeln!(s, "xec-vm -o \"$vm\" --disk 0 set virt-path xvda");
    let _ = writeln!(s, "xec-vm -o \"$vm\" --disk 0 set mode w");
    let _ = writeln!(s, "echo \"created $vm\"");
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_round_trips_with_openxt_key_names() {
        let json = template_json(&crate::sample()).unwrap();
        for key in [
            "\"start_on_boot\"",
            "\"hidden-in-ui\"",
            "\"virt-type\": \"pv\"",
            "\"kernel-extract\": \"/vmlinuz\"",
            "\"flask-label\"",
            "\"qemu-dm-path\": \"\"",
            "\"device\": \"xvda\"",
            "\"memory\": \"128\"",
        ] {
            assert!(json.contains(key), "{key} missing in {json}");
        }
        let back: Template = serde_json::from_str(&json).unwrap();
        assert_eq!(back, template(&crate::sample()).unwrap());
        assert!(!json.contains("\"hvm\""));
    }

    #[test]
    fn raw_disk_is_aio_which_xenmgr_can_extract_a_kernel_from() {
        let mut d = crate::sample();
        d.disk_format = DiskFormat::Raw;
        let s = xec_script(&d).unwrap();
        assert!(s.contains("--disk 0 set phys-type aio\n"), "{s}");
        assert_eq!(template(&d).unwrap().config.disk["0"].disk_type, "aio");
        d.disk_format = DiskFormat::Vhd;
        assert!(xec_script(&d).unwrap().contains("set phys-type vhd\n"));
    }

    #[test]
    fn script_uses_virt_type_not_hvm() {
        let s = xec_script(&crate::sample()).unwrap();
        assert!(s.contains("set virt-type 'pv'"));
        assert!(s.contains("--disk 0 set virt-path xvda"));
        assert!(!s.contains(" hvm "));
    }
}
