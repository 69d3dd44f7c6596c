//! Stage `boot`: the kernel at `/boot/vmlinuz-REL` with relative links
//! `/boot/vmlinuz` and `/vmlinuz`, the initrd likewise: where a bootloader
//! or OpenXT's xenmgr looks for them inside the disk.

use fstree::{Content, Tree};

use super::initramfs::Initrd;
use super::kernel::Kernel;
use crate::edit::{put_file, put_symlink};
use crate::error::ImageError;

/// Put the kernel and the initrd (if any) in the tree's `/boot`.
pub(super) fn install(
    tree: &mut Tree,
    kernel: &Kernel,
    initrd: Option<&Initrd>,
    epoch: i64,
) -> Result<(), ImageError> {
    install_kernel(
        tree,
        &kernel.release,
        kernel.file.content(),
        initrd.map(|i| i.file.content()),
        epoch,
    )
}

/// Install the kernel at `/boot/vmlinuz-<release>` with relative links
/// `/boot/vmlinuz` and `/vmlinuz`, and the initrd likewise if given.
pub fn install_kernel(
    tree: &mut Tree,
    release: &str,
    kernel: Content,
    initrd: Option<Content>,
    epoch: i64,
) -> Result<(), ImageError> {
    put_file(
        tree,
        &format!("/boot/vmlinuz-{release}"),
        kernel,
        0o644,
        epoch,
    )?;
    put_symlink(tree, "/boot/vmlinuz", &format!("vmlinuz-{release}"), epoch)?;
    put_symlink(tree, "/vmlinuz", &format!("boot/vmlinuz-{release}"), epoch)?;
    if let Some(initrd) = initrd {
        put_file(
            tree,
            &format!("/boot/initrd.img-{release}"),
            initrd,
            0o644,
            epoch,
        )?;
        put_symlink(
            tree,
            "/boot/initrd.img",
            &format!("initrd.img-{release}"),
            epoch,
        )?;
        put_symlink(
            tree,
            "/initrd.img",
            &format!("boot/initrd.img-{release}"),
            epoch,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::resolve;
    use crate::hostdir::meta;

    #[test]
    fn kernel_links_are_relative() {
        let mut tree = Tree::new(meta(0o755, 0));
        install_kernel(&mut tree, "6.1.0-x", Content::bytes(vec![1]), None, 0).unwrap();
        assert_eq!(
            resolve(&tree, "/vmlinuz").unwrap().0,
            "/boot/vmlinuz-6.1.0-x"
        );
        assert_eq!(
            resolve(&tree, "/boot/vmlinuz").unwrap().0,
            "/boot/vmlinuz-6.1.0-x"
        );
    }
}
