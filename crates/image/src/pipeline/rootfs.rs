//! Stage `rootfs`: the rootfs as a tree in memory, from a directory (taken
//! as it is, with the ownership rule), an ext image, a disk or a tarball.

use fstree::Tree;

use super::files::InputRecords;
use crate::error::ImageError;
use crate::hostdir;
use crate::spec::{Owners, Spec};

/// Load the spec's rootfs; its record is hashed on another core.
pub(super) fn load(spec: &Spec, epoch: i64, inputs: &mut InputRecords) -> Result<Tree, ImageError> {
    let tree = load_tree(spec, epoch)?;
    inputs.tree(tree.clone(), spec.rootfs.clone());
    Ok(tree)
}

fn load_tree(spec: &Spec, epoch: i64) -> Result<Tree, ImageError> {
    let md = std::fs::metadata(&spec.rootfs).map_err(ImageError::io(&spec.rootfs))?;
    if md.is_dir() {
        return hostdir::load_rootfs(&spec.rootfs, epoch, spec.owners);
    }
    let mut tree = rootfs::load(&spec.rootfs).map_err(|e| ImageError::Rootfs {
        path: spec.rootfs.display().to_string(),
        msg: e.to_string(),
    })?;
    if spec.owners == Owners::Root {
        for (_, id) in tree.walk() {
            let ino = tree.inode_mut(id);
            hostdir::map_owner(&mut ino.meta, ino.kind.is_dir(), spec.owners, None);
        }
    }
    Ok(tree)
}
