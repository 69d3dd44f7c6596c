//! VM definitions for a service VM: OpenXT (xec-vm script and template
//! JSON), xl.cfg and libvirt domain XML.
//!
//! Every generator takes the same [`VmDef`], validated once by
//! [`VmDef::validate`], so the four outputs can never disagree about the
//! name, memory, kernel or disk of the VM.

pub mod libvirt;
pub mod openxt;
pub mod xl;

use serde::{Deserialize, Serialize};

/// How Xen runs the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum VirtType {
    /// Paravirtualised (Xen's and OpenXT's service-VM default).
    #[default]
    Pv,
    /// PVH: hardware container, PV interfaces; needs a PVH-capable kernel.
    Pvh,
}

/// The most memory we describe for a guest, in MiB: 16 TiB, the x86 Xen
/// host limit without the `bigmem` build option.
pub const MAX_MEMORY_MIB: u32 = 16 << 20;

impl VirtType {
    /// The most vCPUs we describe for a guest of this type: 128 for PVH
    /// (an HVM container: `HVM_MAX_VCPUS` in Xen's public
    /// `hvm_info_table.h`); 512 for PV, our own bound (Xen's depends on how
    /// it was built, and no service VM comes near it), so that a typo such
    /// as 100000 is refused rather than written into every definition.
    pub fn max_vcpus(self) -> u32 {
        match self {
            VirtType::Pv => 512,
            VirtType::Pvh => 128,
        }
    }

    /// The spelling xl, OpenXT's `virt-type` and libvirt share.
    pub fn as_str(self) -> &'static str {
        match self {
            VirtType::Pv => "pv",
            VirtType::Pvh => "pvh",
        }
    }
}

/// Format of the disk image file the VM boots from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskFormat {
    /// A VHD (any profile).
    Vhd,
    /// A raw image.
    Raw,
}

/// Everything the VM definitions need to know about one service VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmDef {
    /// VM name (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// Fixed UUID (OpenXT service templates must carry one).
    pub uuid: String,
    /// Memory in MiB.
    pub memory_mib: u32,
    /// Number of virtual CPUs.
    pub vcpus: u32,
    /// PV or PVH.
    pub virt_type: VirtType,
    /// Where the kernel lives in dom0 (xl `kernel=`; OpenXT's extract target).
    pub kernel: String,
    /// Where the kernel lives inside the VM's disk (OpenXT `kernel-extract`).
    pub kernel_in_disk: String,
    /// Where the initrd lives in dom0, if the VM needs one.
    pub initrd: Option<String>,
    /// Where the initrd lives inside the disk (OpenXT `initrd-extract`).
    pub initrd_in_disk: Option<String>,
    /// Kernel command line.
    pub cmdline: String,
    /// Disk image path in dom0.
    pub disk_path: String,
    /// Disk image format.
    pub disk_format: DiskFormat,
    /// OpenXT flask label, e.g. `system_u:system_r:ndvm_t`.
    pub flask_label: String,
    /// OpenXT service tag: the VM `type`, and the template is `service-<tag>`.
    pub service_tag: String,
}

/// A [`VmDef`] field that the generated files could not carry safely.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VmDefError {
    /// A field holds a character that would break out of a quoted value.
    #[error("VM definition field `{field}` = {value:?}: {expected}")]
    BadField {
        /// The field name.
        field: &'static str,
        /// Its value.
        value: String,
        /// What was expected instead.
        expected: &'static str,
    },
}

impl VmDef {
    /// Check every field so that no generator can emit a broken file.
    pub fn validate(&self) -> Result<(), VmDefError> {
        let bad = |field, value: &str, expected| VmDefError::BadField {
            field,
            value: value.to_string(),
            expected,
        };
        // Both become file names (`NAME.cfg`, `service-TAG.json`): `.` and
        // `..` would name directories.
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        if !name_ok(&self.name) {
            return Err(bad(
                "name",
                &self.name,
                "1-64 characters from [A-Za-z0-9._-], not `.` or `..`",
            ));
        }
        if !name_ok(&self.service_tag) {
            return Err(bad(
                "service_tag",
                &self.service_tag,
                "1-64 characters from [A-Za-z0-9._-], not `.` or `..`",
            ));
        }
        if !is_uuid(&self.uuid) {
            return Err(bad(
                "uuid",
                &self.uuid,
                "a UUID like 00000000-0000-0000-0000-000000000000",
            ));
        }
        if !(1..=MAX_MEMORY_MIB).contains(&self.memory_mib) {
            return Err(bad(
                "memory_mib",
                &self.memory_mib.to_string(),
                "1 MiB to 16 TiB (16777216), what Xen on x86 can give a guest",
            ));
        }
        let max_vcpus = self.virt_type.max_vcpus();
        if !(1..=max_vcpus).contains(&self.vcpus) {
            return Err(bad(
                "vcpus",
                &self.vcpus.to_string(),
                match self.virt_type {
                    VirtType::Pv => "1 to 512 for a PV guest",
                    VirtType::Pvh => "1 to 128 for a PVH guest (Xen's HVM_MAX_VCPUS)",
                },
            ));
        }
        let text_fields: [(&'static str, Option<&str>); 7] = [
            ("kernel", Some(&self.kernel)),
            ("kernel_in_disk", Some(&self.kernel_in_disk)),
            ("initrd", self.initrd.as_deref()),
            ("initrd_in_disk", self.initrd_in_disk.as_deref()),
            ("cmdline", Some(&self.cmdline)),
            ("disk_path", Some(&self.disk_path)),
            ("flask_label", Some(&self.flask_label)),
        ];
        for (field, value) in text_fields {
            let Some(v) = value else { continue };
            // xl.cfg strings cannot escape quotes; shell, XML and JSON could,
            // but one rule for all keeps the four outputs equivalent.
            if v.bytes()
                .any(|b| b.is_ascii_control() || b == b'"' || b == b'\'' || b == b'\\')
            {
                return Err(bad(
                    field,
                    v,
                    "printable text without quotes, backslashes or control characters",
                ));
            }
        }
        for (field, v) in [
            ("kernel", &self.kernel),
            ("kernel_in_disk", &self.kernel_in_disk),
            ("disk_path", &self.disk_path),
        ] {
            if !v.starts_with('/') {
                return Err(bad(field, v, "an absolute path"));
            }
        }
        if self.disk_path.contains(',') {
            return Err(bad(
                "disk_path",
                &self.disk_path,
                "a path without commas (xl disk specs split on them)",
            ));
        }
        Ok(())
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
pub(crate) fn sample() -> VmDef {
    VmDef {
        name: "svc".into(),
        uuid: "6f1c7a1e-0b4e-5c11-9a43-2d0f51e0c0de".into(),
        memory_mib: 128,
        vcpus: 1,
        virt_type: VirtType::Pv,
        kernel: "/var/lib/xen/svc/vmlinuz".into(),
        kernel_in_disk: "/vmlinuz".into(),
        initrd: Some("/var/lib/xen/svc/initrd.img".into()),
        initrd_in_disk: Some("/boot/initrd.img".into()),
        cmdline: "root=/dev/xvda rw console=hvc0".into(),
        disk_path: "/storage/svc/svc.vhd".into(),
        disk_format: DiskFormat::Vhd,
        flask_label: "system_u:system_r:ndvm_t".into(),
        service_tag: "svc".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_valid() {
        sample().validate().unwrap();
    }

    #[test]
    fn quote_in_cmdline_is_rejected_naming_the_field() {
        let mut d = sample();
        d.cmdline = "root=\"x".into();
        let e = d.validate().unwrap_err();
        assert!(e.to_string().contains("`cmdline`"), "{e}");
    }

    #[test]
    fn impossible_vcpus_memory_and_dot_names_are_rejected_naming_the_field() {
        for (f, field) in [
            (
                (|d: &mut VmDef| d.vcpus = 100_000) as fn(&mut VmDef),
                "vcpus",
            ),
            (|d| d.vcpus = 0, "vcpus"),
            (
                |d| {
                    d.virt_type = VirtType::Pvh;
                    d.vcpus = 129
                },
                "vcpus",
            ),
            (|d| d.memory_mib = u32::MAX, "memory_mib"),
            (|d| d.name = ".".into(), "name"),
            (|d| d.name = "..".into(), "name"),
            (|d| d.service_tag = "..".into(), "service_tag"),
        ] {
            let mut d = sample();
            f(&mut d);
            let e = d.validate().unwrap_err();
            assert!(e.to_string().contains(&format!("`{field}`")), "{e}");
        }
        let mut d = sample();
        d.vcpus = 512;
        d.validate().unwrap();
    }

    #[test]
    fn bad_uuid_and_relative_kernel_are_rejected() {
        let mut d = sample();
        d.uuid = "nope".into();
        assert!(d.validate().is_err());
        let mut d = sample();
        d.kernel = "vmlinuz".into();
        assert!(d.validate().is_err());
    }
}
