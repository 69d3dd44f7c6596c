//! Stage `modules`: the kernel's modules where the rootfs's kmod looks for
//! them (`/lib/modules/REL`, through a merged-/usr `/lib -> usr/lib` link),
//! from a directory or a tarball, or the ones the rootfs already carries;
//! then the index files depmod would write, computed from the modules.

use std::path::{Path, PathBuf};

use fstree::{NamePath, Tree};

use super::files::InputRecords;
use crate::edit;
use crate::error::ImageError;
use crate::hostdir;
use crate::kernel::{KernelConfig, config_beside};
use crate::modules::{ModuleTree, index_tree};
use crate::spec::{InitramfsMode, Spec};

/// The installed module tree.
pub struct Modules {
    /// Its dependencies, built-ins and index files.
    pub tree: ModuleTree,
    /// Where it lies in the rootfs (symlink-free).
    pub at: NamePath,
}

/// Install the modules for `release` into `tree` and index them. `None`
/// when there are none; an error when the root disk then cannot be reached.
pub(super) fn install(
    spec: &Spec,
    tree: &mut Tree,
    release: &str,
    epoch: i64,
    inputs: &mut InputRecords,
) -> Result<Option<Modules>, ImageError> {
    let modules_dir = edit::real_dir(tree, "/lib/modules", epoch)?;
    let at = modules_dir.join(release.as_bytes());
    let modules = match &spec.modules {
        Some(src) => {
            // The given modules replace any the rootfs carried for this release.
            if let Some((parent, name)) = at.split_last() {
                let dir = tree.lookup(&parent).expect("made by real_dir");
                tree.unlink(dir, name);
            }
            if src.is_dir() {
                load_dir(tree, src, release, &at, epoch)?;
                let mut sub = Tree::new(hostdir::meta(0o755, epoch));
                hostdir::load_into(&mut sub, src, &NamePath::root(), epoch)?;
                inputs.tree(sub, src.clone());
            } else if src.is_file() {
                load_tar(tree, src, release, &at, epoch)?;
                inputs.file(src.clone());
            } else {
                return Err(ImageError::Modules {
                    path: src.clone(),
                    msg: "modules directory or tarball not found".into(),
                });
            }
            Some(index_tree(tree, &at, release, src, epoch)?)
        }
        // A rootfs that carries this kernel's modules (a distribution
        // kernel package) has its tree indexed in place.
        None if tree
            .lookup(&at)
            .is_some_and(|id| tree.inode(id).kind.is_dir()) =>
        {
            let label = PathBuf::from(format!("rootfs:{at}"));
            Some(index_tree(tree, &at, release, &label, epoch)?)
        }
        None => None,
    };
    check_root_drivers(spec, modules.as_ref(), tree, release)?;
    Ok(modules.map(|tree| Modules { tree, at }))
}

/// Put a `lib/modules/<release>` directory of the host at `at`.
fn load_dir(
    tree: &mut Tree,
    dir: &Path,
    release: &str,
    at: &NamePath,
    epoch: i64,
) -> Result<(), ImageError> {
    // A link such as `modules/current -> 6.1.0-56-cloud-amd64` names the
    // release through its target.
    let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let base_name = real.file_name().map(|n| n.to_string_lossy().into_owned());
    if base_name.as_deref() != Some(release) {
        return Err(ImageError::Modules {
            path: dir.to_path_buf(),
            msg: format!("modules directory is not named after the kernel release {release}"),
        });
    }
    hostdir::load_into(tree, dir, at, epoch)
}

/// Put the modules of a tarball (any compression the rootfs loader reads)
/// at `at`: its `lib/modules/<release>`, `usr/lib/modules/<release>` or
/// `<release>` directory, as a kernel build's `modules_install` or a
/// distribution package lays them out. Owners and times are set as for a
/// directory (root, `epoch`), so either form of the same modules gives the
/// same disk.
fn load_tar(
    tree: &mut Tree,
    tar: &Path,
    release: &str,
    at: &NamePath,
    epoch: i64,
) -> Result<(), ImageError> {
    let err = |msg: String| ImageError::Modules {
        path: tar.to_path_buf(),
        msg,
    };
    let mut sub = rootfs::load_tar(tar).map_err(|e| err(e.to_string()))?;
    for (_, id) in sub.walk() {
        let ino = sub.inode_mut(id);
        ino.meta = hostdir::meta(ino.meta.perm, epoch);
    }
    let candidates = [
        format!("/lib/modules/{release}"),
        format!("/usr/lib/modules/{release}"),
        format!("/{release}"),
    ];
    let from = candidates
        .iter()
        .filter_map(|c| sub.lookup(&NamePath::parse(c).ok()?))
        .find(|&id| sub.inode(id).kind.is_dir())
        .ok_or_else(|| {
            err(format!(
                "no modules for kernel {release}: expected a directory lib/modules/{release}, usr/lib/modules/{release} or {release} in the tarball"
            ))
        })?;
    tree.graft(at, &sub, from)?;
    Ok(())
}

/// Without modules, a root-disk driver the kernel builds as a module can
/// never load: refuse that build instead of writing a VM that cannot find
/// its root. What is a module is read from the kernel's configuration
/// (`config-<release>` beside the kernel or in the rootfs's `/boot`);
/// without one nothing is known and nothing is refused.
fn check_root_drivers(
    spec: &Spec,
    modules: Option<&ModuleTree>,
    tree: &Tree,
    release: &str,
) -> Result<(), ImageError> {
    if modules.is_some() || spec.initrd.is_some() || spec.initramfs == InitramfsMode::Never {
        return Ok(());
    }
    let config = config_beside(&spec.kernel, release).or_else(|| {
        edit::read_file(tree, &format!("/boot/config-{release}"))
            .ok()
            .flatten()
            .map(|t| KernelConfig::parse(&String::from_utf8_lossy(&t)))
    });
    let Some(config) = config else {
        return Ok(());
    };
    let loadable = config.loadable(&spec.root_modules);
    if let Some((m, sym)) = loadable.first() {
        return Err(ImageError::Field {
            field: "modules",
            msg: format!(
                "kernel {release} builds the root-disk driver {m} as a module (CONFIG_{sym}=m): \
                 give its modules (`modules`, the lib/modules/{release} directory or a tarball) \
                 so the initramfs can load it, or an `initrd`"
            ),
        });
    }
    Ok(())
}
