//! Stage `initramfs`: the initrd dom0 boots the VM with. A given one is
//! copied as it is; otherwise, when the root disk needs modules (or the
//! spec says `always`), one is generated: a static busybox and the
//! root-disk modules in load order ([`crate::initramfs`] lays it out).

use std::path::{Path, PathBuf};

use fstree::{Kind, NamePath, Tree};

use super::files::{BundleFile, InputRecords};
use super::modules::Modules;
use crate::edit;
use crate::elf;
use crate::error::ImageError;
use crate::initramfs::{self, ModuleFile};
use crate::input::HostInput;
use crate::spec::{InitramfsMode, Spec};

/// The bundle's initrd.
pub struct Initrd {
    /// `initrd.img-REL` in the bundle (already written).
    pub(super) file: BundleFile,
    /// The modules a generated one loads, in load order (none for a given one).
    pub modules: Vec<String>,
}

/// The initrd for kernel `release`, written into `dir`; `None` when the VM
/// boots without one.
pub(super) fn make(
    spec: &Spec,
    tree: &Tree,
    release: &str,
    modules: Option<&Modules>,
    dir: &Path,
    epoch: i64,
    inputs: &mut InputRecords,
) -> Result<Option<Initrd>, ImageError> {
    let name = file_name(release);
    if let Some(p) = &spec.initrd {
        let (i, _) = HostInput::open(p, "initrd")?;
        let idx = inputs.copy(&i, dir.join(&name));
        return Ok(Some(Initrd {
            file: BundleFile::Copied(i, idx),
            modules: Vec::new(),
        }));
    }
    let mut loadable = Vec::new();
    if let Some(m) = modules.filter(|_| spec.initramfs != InitramfsMode::Never) {
        for want in &spec.root_modules {
            let n = want.replace('-', "_");
            if m.tree.dep.path_of(&n).is_some() {
                loadable.push(n);
            } else if !m.tree.builtin.contains(&n) {
                return Err(ImageError::Modules {
                    path: spec.modules.clone().unwrap_or_default(),
                    msg: format!("root_modules: {want} is neither a module nor built in"),
                });
            }
        }
    }
    let wanted = match spec.initramfs {
        InitramfsMode::Never => false,
        InitramfsMode::Always => true,
        InitramfsMode::Auto => !loadable.is_empty(),
    };
    if !wanted {
        return Ok(None);
    }
    let busybox = busybox(spec, tree, inputs)?;
    let m = modules.ok_or_else(|| ImageError::Field {
        field: "modules",
        msg: "initramfs = \"always\" needs the kernel's modules".into(),
    })?;
    let refs: Vec<&str> = loadable.iter().map(String::as_str).collect();
    let order = m
        .tree
        .dep
        .load_order(&refs)
        .map_err(|msg| ImageError::Modules {
            path: spec.modules.clone().unwrap_or_default(),
            msg,
        })?;
    let files = module_files(tree, &m.at, &order)?;
    let mtime = u32::try_from(epoch.max(0)).unwrap_or(u32::MAX);
    let bytes =
        initramfs::build(&busybox, release, &files, mtime).map_err(ImageError::io("initramfs"))?;
    Ok(Some(Initrd {
        file: BundleFile::write(dir, &name, bytes)?,
        modules: order,
    }))
}

/// The initrd's name in the bundle.
pub(super) fn file_name(release: &str) -> String {
    format!("initrd.img-{release}")
}

/// The static busybox the initramfs runs: the spec's, else the rootfs's.
fn busybox(spec: &Spec, tree: &Tree, inputs: &mut InputRecords) -> Result<Vec<u8>, ImageError> {
    let busybox = match &spec.busybox {
        Some(p) => {
            inputs.file_now(p)?;
            read_input(p, "busybox")?
        }
        None => {
            let (_, id) = edit::resolve(tree, "/bin/busybox").ok_or_else(|| ImageError::Rootfs {
                path: "/bin/busybox".into(),
                msg: "the initramfs needs a static busybox: none in the rootfs and no `busybox` in the spec".into(),
            })?;
            match &tree.inode(id).kind {
                Kind::File(c) => c.read_all().map_err(ImageError::io(&spec.rootfs))?,
                _ => {
                    return Err(ImageError::Rootfs {
                        path: "/bin/busybox".into(),
                        msg: "not a regular file".into(),
                    });
                }
            }
        }
    };
    match elf::is_static(&busybox) {
        Ok(true) => Ok(busybox),
        Ok(false) => Err(ImageError::Field {
            field: "busybox",
            msg: "busybox is dynamically linked; the initramfs needs a static one".into(),
        }),
        Err(e) => Err(ImageError::Field {
            field: "busybox",
            msg: format!("not an executable: {e}"),
        }),
    }
}

/// The modules at `order` (paths relative to the module tree at `at`).
fn module_files(
    tree: &Tree,
    at: &NamePath,
    order: &[String],
) -> Result<Vec<ModuleFile>, ImageError> {
    let mut files = Vec::new();
    for path in order {
        let np = NamePath::parse(format!("{at}/{path}"))?;
        let id = tree.lookup(&np).ok_or_else(|| ImageError::Modules {
            path: PathBuf::from(path),
            msg: "listed in modules.dep but missing".into(),
        })?;
        let Kind::File(c) = &tree.inode(id).kind else {
            return Err(ImageError::Modules {
                path: PathBuf::from(path),
                msg: "not a regular file".into(),
            });
        };
        files.push(ModuleFile {
            path: path.clone(),
            data: c.read_all().map_err(ImageError::io(path))?,
        });
    }
    Ok(files)
}

fn read_input(path: &Path, what: &str) -> Result<Vec<u8>, ImageError> {
    if !path.exists() {
        return Err(ImageError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, format!("{what} not found")),
        });
    }
    // Not a FIFO (a read that may never end) nor a device.
    if !path.is_file() {
        return Err(ImageError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{what} is not a regular file"),
            ),
        });
    }
    std::fs::read(path).map_err(ImageError::io(path))
}
