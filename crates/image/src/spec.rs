//! The service-VM spec: a TOML file (unknown keys refused) whose every
//! field can also be given as a command-line flag.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vmdef::VirtType;

use crate::error::ImageError;

/// Output disk format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DiskOutput {
    /// Dynamic VHD as `vhd-util create` writes it (OpenXT, XenServer).
    #[default]
    VhdTap,
    /// Dynamic VHD as `qemu-img create -f vpc` writes it.
    VhdQemu,
    /// Fixed VHD.
    VhdFixed,
    /// Raw image.
    Raw,
}

/// When to build an initramfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InitramfsMode {
    /// When any of the root-disk modules is a loadable module.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never (the kernel has the drivers built in).
    Never,
}

/// Who owns the files of a directory rootfs in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Owners {
    /// Files owned by the user running the build become root's (a tree
    /// made without root); every other owner is kept (a tree made as root
    /// by mmdebstrap or debootstrap). Archives and images keep theirs.
    #[default]
    Auto,
    /// Every owner as found.
    Keep,
    /// Everything root's (any source). A setuid or setgid bit whose owner
    /// or group would thereby change is dropped: a setgid-`shadow` file
    /// never becomes setgid-root.
    Root,
}

/// The service VM to build. Paths are relative to the spec file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// VM name; also names the disk file.
    pub name: String,
    /// Root filesystem: a directory, an ext2/3/4 image or a tar archive.
    pub rootfs: PathBuf,
    /// Who owns the rootfs's files in the image.
    #[serde(default)]
    pub owners: Owners,
    /// Kernel bzImage.
    pub kernel: PathBuf,
    /// Its modules: the `lib/modules/<version>` directory.
    pub modules: Option<PathBuf>,
    /// An initrd to ship instead of generating one.
    pub initrd: Option<PathBuf>,
    /// A static busybox for the initramfs (default: the rootfs's).
    pub busybox: Option<PathBuf>,
    /// Whether to generate the initramfs.
    #[serde(default)]
    pub initramfs: InitramfsMode,
    /// Modules the initramfs loads to reach the root disk.
    #[serde(default = "default_root_modules")]
    pub root_modules: Vec<String>,
    /// Kernel command line (default `root=/dev/xvda rw console=<console>`).
    pub cmdline: Option<String>,
    /// Disk size in MiB.
    pub disk_size_mib: u64,
    /// Filesystem type: ext2, ext3 or ext4.
    #[serde(default = "default_fs")]
    pub fs_type: String,
    /// Disk output format.
    #[serde(default)]
    pub format: DiskOutput,
    /// Console device: `hvc0`, or `xvc0` for 2.6.18-era XenLinux.
    #[serde(default = "default_console")]
    pub console: String,
    /// Console baud rate.
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Memory in MiB.
    #[serde(default = "default_memory")]
    pub memory_mib: u32,
    /// Virtual CPUs.
    #[serde(default = "default_vcpus")]
    pub vcpus: u32,
    /// PV or PVH.
    #[serde(default)]
    pub virt_type: VirtType,
    /// OpenXT flask label.
    #[serde(default = "default_flask")]
    pub flask_label: String,
    /// OpenXT service tag (VM type; template `service-<tag>`).
    pub service_tag: Option<String>,
    /// Fixed UUID (default: derived from the name).
    pub uuid: Option<String>,
    /// dom0 directory the disk and kernel live in (default `/storage/<name>`).
    pub dom0_dir: Option<String>,
    /// The directory relative paths were resolved against (the spec's), set by
    /// [`Spec::rebase`]; records name inputs relative to it.
    #[serde(skip)]
    pub base: Option<PathBuf>,
}

fn default_root_modules() -> Vec<String> {
    ["xen_blkfront", "virtio_pci", "virtio_blk", "virtio_console"]
        .map(String::from)
        .to_vec()
}
fn default_fs() -> String {
    "ext3".into()
}
fn default_console() -> String {
    "hvc0".into()
}
fn default_baud() -> u32 {
    115200
}
fn default_memory() -> u32 {
    128
}
fn default_vcpus() -> u32 {
    1
}
fn default_flask() -> String {
    "system_u:system_r:ndvm_t".into()
}

impl Spec {
    /// Read a spec file; relative paths become relative to its directory.
    pub fn load(path: &Path) -> Result<Spec, ImageError> {
        let text = std::fs::read_to_string(path).map_err(ImageError::io(path))?;
        let mut spec: Spec = toml::from_str(&text).map_err(|e| ImageError::Spec {
            path: path.to_path_buf(),
            msg: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        spec.rebase(base);
        Ok(spec)
    }

    /// Read a spec file as a TOML table, for flags to override before
    /// [`Spec::from_table`]. A `measured build` spec is refused: its
    /// `[launch]` and `[policy]` would be silently left out here.
    pub fn read_table(path: &Path) -> Result<toml::Table, ImageError> {
        let text = std::fs::read_to_string(path).map_err(ImageError::io(path))?;
        let spec_error = |msg: String| ImageError::Spec {
            path: path.to_path_buf(),
            msg,
        };
        let t: toml::Table = toml::from_str(&text).map_err(|e| spec_error(e.to_string()))?;
        if let Some(k) = ["launch", "policy"]
            .into_iter()
            .find(|k| t.contains_key(*k))
        {
            return Err(spec_error(format!(
                "[{k}] belongs to a `measured build` spec: run `measured build {}` to build the image with its measured launch and policy",
                path.display()
            )));
        }
        Ok(t)
    }

    /// Build a spec from an already-merged TOML table (spec file plus flag
    /// overrides); `label` names the source in errors, `base` anchors paths.
    pub fn from_table(table: toml::Table, base: &Path, label: &Path) -> Result<Spec, ImageError> {
        let mut spec: Spec = table
            .try_into()
            .map_err(|e: toml::de::Error| ImageError::Spec {
                path: label.to_path_buf(),
                msg: e.to_string(),
            })?;
        spec.rebase(base);
        Ok(spec)
    }

    /// Make relative input paths relative to `base`.
    pub fn rebase(&mut self, base: &Path) {
        self.base = Some(base.to_path_buf());
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.rootfs);
        fix(&mut self.kernel);
        for p in [&mut self.modules, &mut self.initrd, &mut self.busybox]
            .into_iter()
            .flatten()
        {
            fix(p);
        }
    }

    /// How a record (bundle.json, pcrs.json) names the input at `p`: see [`recorded_path`].
    pub fn recorded(&self, p: &Path) -> String {
        match &self.base {
            Some(b) => recorded_path(b, p),
            None => p.display().to_string(),
        }
    }

    /// This spec with its input paths as records name them (relative to the spec), so a
    /// record does not depend on how the spec was named on the command line.
    pub fn recorded_spec(&self) -> Spec {
        let mut s = self.clone();
        let fix = |p: &mut PathBuf| *p = PathBuf::from(self.recorded(p));
        fix(&mut s.rootfs);
        fix(&mut s.kernel);
        for p in [&mut s.modules, &mut s.initrd, &mut s.busybox]
            .into_iter()
            .flatten()
        {
            fix(p);
        }
        s
    }

    /// Check values the type system does not, before anything is written:
    /// every field the VM definitions carry (name, service tag, UUID,
    /// memory, vCPUs, command line, dom0 paths) and every name that
    /// becomes a file name.
    pub fn validate(&self) -> Result<(), ImageError> {
        let field = |field, msg: &str| ImageError::Field {
            field,
            msg: msg.into(),
        };
        for (name, value) in [
            ("name", Some(&self.name)),
            ("service_tag", self.service_tag.as_ref()),
        ] {
            if let Some(v) = value {
                outputs::check_file_name(name, v).map_err(|e| ImageError::Field {
                    field: name,
                    msg: e.to_string(),
                })?;
            }
        }
        self.vm_def(
            None,
            self.initrd.is_some() || self.initramfs != InitramfsMode::Never,
        )
        .validate()
        .map_err(|e| {
            let vmdef::VmDefError::BadField { field, .. } = &e;
            ImageError::Field {
                field: spec_field_of(field),
                msg: e.to_string(),
            }
        })?;
        if !matches!(self.fs_type.as_str(), "ext2" | "ext3" | "ext4") {
            return Err(field("fs_type", "expected ext2, ext3 or ext4"));
        }
        if !matches!(self.console.as_str(), "hvc0" | "xvc0") {
            return Err(field("console", "expected hvc0 or xvc0"));
        }
        if !(4..=2_088_960).contains(&self.disk_size_mib) {
            return Err(field("disk_size_mib", "expected 4 MiB to 2040 GiB"));
        }
        if self.initrd.is_some() && self.initramfs == InitramfsMode::Always {
            return Err(field(
                "initrd",
                "an initrd was given and initramfs = \"always\": pick one",
            ));
        }
        Ok(())
    }

    /// The disk image's file name in the bundle: `NAME.vhd` or `NAME.img`.
    pub fn disk_file_name(&self) -> String {
        let ext = match self.format {
            DiskOutput::Raw => "img",
            _ => "vhd",
        };
        format!("{}.{ext}", self.name)
    }

    /// The VM definitions' view of this spec; `has_initrd` when the bundle
    /// ships an initrd.
    pub fn vm_def(&self, release: Option<&str>, has_initrd: bool) -> vmdef::VmDef {
        let dom0 = self
            .dom0_dir
            .clone()
            .unwrap_or_else(|| format!("/storage/{}", self.name));
        // The names the bundle ships (`vmlinuz-<release>`), so dom0 boots
        // the files copied there; before the kernel is read (validation)
        // the release is not known and only the shape is checked.
        let suffix = release.map(|r| format!("-{r}")).unwrap_or_default();
        vmdef::VmDef {
            name: self.name.clone(),
            uuid: self.uuid(),
            memory_mib: self.memory_mib,
            vcpus: self.vcpus,
            virt_type: self.virt_type,
            kernel: format!("{dom0}/vmlinuz{suffix}"),
            kernel_in_disk: "/vmlinuz".into(),
            initrd: has_initrd.then(|| format!("{dom0}/initrd.img{suffix}")),
            initrd_in_disk: has_initrd.then(|| "/initrd.img".into()),
            cmdline: self.cmdline(),
            disk_path: format!("{dom0}/{}", self.disk_file_name()),
            disk_format: if self.format == DiskOutput::Raw {
                vmdef::DiskFormat::Raw
            } else {
                vmdef::DiskFormat::Vhd
            },
            flask_label: self.flask_label.clone(),
            service_tag: self
                .service_tag
                .clone()
                .unwrap_or_else(|| self.name.clone()),
        }
    }

    /// The kernel command line in effect.
    pub fn cmdline(&self) -> String {
        self.cmdline
            .clone()
            .unwrap_or_else(|| format!("root=/dev/xvda rw console={}", self.console))
    }

    /// The init the kernel runs: `init=` of the command line, else
    /// `/sbin/init`.
    pub fn init_path(&self) -> String {
        self.cmdline()
            .split_whitespace()
            .rev()
            .find_map(|w| w.strip_prefix("init="))
            .unwrap_or("/sbin/init")
            .to_string()
    }

    /// The VM's UUID: given, or a name-based one (stable across builds).
    pub fn uuid(&self) -> String {
        if let Some(u) = &self.uuid {
            return u.clone();
        }
        use sha2::Digest;
        let h = sha2::Sha256::digest(format!("measured service vm {}", self.name).as_bytes());
        let mut b: [u8; 16] = h[..16].try_into().expect("16 bytes");
        b[6] = (b[6] & 0x0f) | 0x50; // version 5-style, name-based
        b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
        let x = hex::encode(b);
        format!(
            "{}-{}-{}-{}-{}",
            &x[..8],
            &x[8..12],
            &x[12..16],
            &x[16..20],
            &x[20..]
        )
    }
}

/// The spec field behind a VM-definition field (dom0 paths come from
/// `dom0_dir`).
fn spec_field_of(vmdef_field: &'static str) -> &'static str {
    match vmdef_field {
        "kernel" | "initrd" | "disk_path" => "dom0_dir",
        "kernel_in_disk" | "initrd_in_disk" => "name",
        f => f,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        std::fs::write(
            &p,
            "name='a'\nrootfs='r'\nkernel='k'\ndisk_size_mib=64\nmemroy_mib=3\n",
        )
        .unwrap();
        let e = Spec::load(&p).unwrap_err().to_string();
        assert!(e.contains("memroy_mib") && e.contains("s.toml"), "{e}");
    }

    #[test]
    fn defaults_and_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        std::fs::write(&p, "name='a'\nrootfs='r'\nkernel='k'\ndisk_size_mib=64\n").unwrap();
        let s = Spec::load(&p).unwrap();
        assert_eq!(s.rootfs, dir.path().join("r"));
        assert_eq!(s.cmdline(), "root=/dev/xvda rw console=hvc0");
        assert_eq!(s.format, DiskOutput::VhdTap);
        assert_eq!(s.fs_type, "ext3");
        assert_eq!(s.uuid(), s.uuid());
        s.validate().unwrap();
    }
}

/// The path a record gives an input at `p` that a spec in directory `base` named: relative to
/// `base` when `p` is under it (lexically, so `../x` stays `../x`), else absolute. The same
/// spec named by a relative or an absolute path gives the same record.
pub fn recorded_path(base: &Path, p: &Path) -> String {
    let abs = |x: &Path| -> PathBuf {
        if x.as_os_str().is_empty() {
            return std::env::current_dir().unwrap_or_default();
        }
        std::path::absolute(x).unwrap_or_else(|_| x.to_path_buf())
    };
    let (b, a) = (abs(base), abs(p));
    if let Ok(r) = a.strip_prefix(&b)
        && !r.as_os_str().is_empty()
    {
        return r.display().to_string();
    }
    a.display().to_string()
}

#[cfg(test)]
mod recorded_tests {
    use super::*;

    #[test]
    fn recorded_paths_do_not_depend_on_how_the_spec_was_named() {
        let cwd = std::env::current_dir().unwrap();
        for (base, p, want) in [
            ("examples", "examples/launch/a.bin", "launch/a.bin"),
            ("examples", "examples/../target/k", "../target/k"),
            ("", "rootfs", "rootfs"),
            ("examples", "/boot/tboot.gz", "/boot/tboot.gz"),
        ] {
            assert_eq!(recorded_path(Path::new(base), Path::new(p)), want);
            let abs_base = cwd.join(base);
            let abs_p = if p.starts_with('/') {
                PathBuf::from(p)
            } else {
                cwd.join(p)
            };
            assert_eq!(recorded_path(&abs_base, &abs_p), want, "{base} {p}");
        }
    }
}
