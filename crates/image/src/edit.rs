//! Edits that turn a generic rootfs into a Xen service VM: the kernel and
//! its links, modules, a getty on the Xen console, the root fstab entry.

use fstree::{Content, Inode, InodeId, Kind, NamePath, Tree, Xattrs};

use crate::error::ImageError;
use crate::hostdir::meta;

/// The init system found in a rootfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InitSystem {
    /// `/etc/inittab` driven: busybox init or sysvinit.
    Inittab,
    /// busybox init without an inittab (we write one).
    BusyboxNoInittab,
    /// systemd.
    Systemd,
}

fn p(s: &str) -> NamePath {
    NamePath::parse(s).expect("static path")
}

fn read_file(tree: &Tree, path: &str) -> Result<Option<Vec<u8>>, ImageError> {
    let Some(id) = tree.lookup(&p(path)) else {
        return Ok(None);
    };
    match &tree.inode(id).kind {
        Kind::File(c) => c.read_all().map(Some).map_err(|e| ImageError::Rootfs {
            path: path.into(),
            msg: e.to_string(),
        }),
        _ => Err(ImageError::Rootfs {
            path: path.into(),
            msg: "expected a regular file".into(),
        }),
    }
}

/// Resolve symlinks (inside the tree, at most 16) to the final inode.
pub(crate) fn resolve(tree: &Tree, path: &str) -> Option<(String, InodeId)> {
    let mut cur = path.to_string();
    for _ in 0..16 {
        let id = tree.lookup(&NamePath::parse(cur.as_bytes()).ok()?)?;
        match &tree.inode(id).kind {
            Kind::Symlink(t) => {
                let t = String::from_utf8_lossy(t).into_owned();
                cur = if t.starts_with('/') {
                    t
                } else {
                    let parent = cur.rsplit_once('/').map(|(a, _)| a).unwrap_or("");
                    normalize(&format!("{parent}/{t}"))
                };
            }
            _ => return Some((cur, id)),
        }
    }
    None
}

fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

/// Write a regular file (replacing what was there), creating parents.
pub fn put_file(
    tree: &mut Tree,
    path: &str,
    content: Content,
    perm: u16,
    epoch: i64,
) -> Result<(), ImageError> {
    let np = p(path);
    if let Some((parent, _)) = np.split_last() {
        tree.mkdir_p(&parent, &meta(0o755, epoch))?;
    }
    tree.put(
        &np,
        Inode {
            kind: Kind::File(content),
            meta: meta(perm, epoch),
            xattrs: Xattrs::new(),
        },
    )?;
    Ok(())
}

/// Write a symlink (replacing what was there), creating parents.
pub fn put_symlink(
    tree: &mut Tree,
    path: &str,
    target: &str,
    epoch: i64,
) -> Result<(), ImageError> {
    let np = p(path);
    if let Some((parent, _)) = np.split_last() {
        tree.mkdir_p(&parent, &meta(0o755, epoch))?;
    }
    tree.put(
        &np,
        Inode {
            kind: Kind::Symlink(target.as_bytes().to_vec()),
            meta: meta(0o777, epoch),
            xattrs: Xattrs::new(),
        },
    )?;
    Ok(())
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

/// Which init system the rootfs runs.
pub fn detect_init(tree: &Tree) -> Result<InitSystem, ImageError> {
    if tree.lookup(&p("/etc/inittab")).is_some() {
        return Ok(InitSystem::Inittab);
    }
    for sd in ["/lib/systemd/systemd", "/usr/lib/systemd/systemd"] {
        if tree.lookup(&p(sd)).is_some() {
            return Ok(InitSystem::Systemd);
        }
    }
    if let Some((target, _)) = resolve(tree, "/sbin/init") {
        if target.ends_with("/busybox") {
            return Ok(InitSystem::BusyboxNoInittab);
        }
    }
    Err(ImageError::UnknownInit)
}

/// Put a login prompt on `console` at `baud`; drop the `ttyS0` getty.
pub fn console_getty(
    tree: &mut Tree,
    console: &str,
    baud: u32,
    epoch: i64,
) -> Result<InitSystem, ImageError> {
    let init = detect_init(tree)?;
    match init {
        InitSystem::Inittab | InitSystem::BusyboxNoInittab => {
            let old = read_file(tree, "/etc/inittab")?.unwrap_or_default();
            let text = edit_inittab(&String::from_utf8_lossy(&old), console, baud);
            put_file(tree, "/etc/inittab", Content::bytes(text), 0o644, epoch)?;
        }
        InitSystem::Systemd => {
            let unit = ["/lib/systemd/system", "/usr/lib/systemd/system"]
                .iter()
                .map(|d| format!("{d}/serial-getty@.service"))
                .find(|u| tree.lookup(&p(u)).is_some())
                .ok_or_else(|| ImageError::Rootfs {
                    path: "/lib/systemd/system/serial-getty@.service".into(),
                    msg: "systemd rootfs without the serial-getty@ template unit".into(),
                })?;
            // What `systemctl enable serial-getty@hvc0` creates.
            put_symlink(
                tree,
                &format!("/etc/systemd/system/getty.target.wants/serial-getty@{console}.service"),
                &unit,
                epoch,
            )?;
        }
    }
    if let Some(old) = read_file(tree, "/etc/securetty")? {
        let text = String::from_utf8_lossy(&old);
        if !text.lines().any(|l| l.trim() == console) {
            let mut t = text.into_owned();
            if !t.is_empty() && !t.ends_with('\n') {
                t.push('\n');
            }
            t.push_str(console);
            t.push('\n');
            put_file(tree, "/etc/securetty", Content::bytes(t), 0o644, epoch)?;
        }
    }
    Ok(init)
}

/// The inittab with `ttyS0` and old `console` gettys removed and one
/// respawning getty on `console` added, in the file's own dialect.
pub fn edit_inittab(old: &str, console: &str, baud: u32) -> String {
    let is_entry = |l: &str| !l.trim_start().starts_with('#') && l.split(':').count() >= 4;
    // sysvinit fills the runlevels field; busybox leaves it empty.
    let sysv = old
        .lines()
        .filter(|l| is_entry(l))
        .any(|l| !l.split(':').nth(1).unwrap_or("").is_empty());
    let mut out = String::new();
    for l in old.lines() {
        let process = l.splitn(4, ':').nth(3).unwrap_or("");
        let getty_on = |tty: &str| {
            is_entry(l) && process.contains("getty") && process.split_whitespace().any(|w| w == tty)
        };
        if getty_on("ttyS0") || getty_on(console) {
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    if old.is_empty() {
        out.push_str(
            "::sysinit:/bin/mount -a\n::ctrlaltdel:/sbin/reboot\n::shutdown:/bin/umount -a -r\n",
        );
    }
    if sysv {
        let id: String = console
            .chars()
            .rev()
            .take(2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        out.push_str(&format!(
            "{id}:2345:respawn:/sbin/getty -L {baud} {console} vt100\n"
        ));
    } else {
        out.push_str(&format!(
            "{console}::respawn:/sbin/getty -L {baud} {console} vt100\n"
        ));
    }
    out
}

/// Make the root entry of `/etc/fstab` mount `/dev/xvda` as `fstype`.
pub fn fstab_root(tree: &mut Tree, fstype: &str, epoch: i64) -> Result<(), ImageError> {
    let old = read_file(tree, "/etc/fstab")?.unwrap_or_default();
    let old = String::from_utf8_lossy(&old);
    let root = format!("/dev/xvda\t/\t{fstype}\tdefaults,errors=remount-ro\t0\t1\n");
    let mut out = String::new();
    let mut replaced = false;
    for l in old.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if !l.trim_start().starts_with('#') && f.len() >= 2 && f[1] == "/" {
            if !replaced {
                out.push_str(&root);
                replaced = true;
            }
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    if !replaced {
        out.insert_str(0, &root);
    }
    put_file(tree, "/etc/fstab", Content::bytes(out), 0o644, epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OE: &str = "::sysinit:/etc/init.d/rcS\n# comment ttyS0 getty\nttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt102\ntty1::askfirst:-/bin/sh\n";

    #[test]
    fn busybox_inittab_loses_ttys0_and_gains_hvc0() {
        let t = edit_inittab(OE, "hvc0", 115200);
        assert!(!t.lines().any(|l| l.starts_with("ttyS0")));
        assert!(t.contains("hvc0::respawn:/sbin/getty -L 115200 hvc0 vt100\n"));
        assert!(t.contains("# comment ttyS0 getty"));
        assert!(t.contains("tty1::askfirst"));
        // Idempotent: a second edit does not duplicate the console line.
        assert_eq!(edit_inittab(&t, "hvc0", 115200), t);
    }

    #[test]
    fn sysvinit_inittab_gets_sysvinit_line() {
        let t = edit_inittab(
            "id:5:initdefault:\nS0:12345:respawn:/sbin/getty -L 115200 ttyS0 vt102\n",
            "xvc0",
            9600,
        );
        assert!(!t.contains("ttyS0"));
        assert!(t.contains("c0:2345:respawn:/sbin/getty -L 9600 xvc0 vt100\n"));
    }

    #[test]
    fn fstab_root_replaced_once_other_lines_kept() {
        let mut tree = Tree::new(meta(0o755, 0));
        put_file(
            &mut tree,
            "/etc/fstab",
            Content::bytes(&b"/dev/root / auto defaults 1 1\nproc /proc proc defaults 0 0\n"[..]),
            0o644,
            0,
        )
        .unwrap();
        fstab_root(&mut tree, "ext3", 0).unwrap();
        let t = String::from_utf8(read_file(&tree, "/etc/fstab").unwrap().unwrap()).unwrap();
        assert_eq!(
            t,
            "/dev/xvda\t/\text3\tdefaults,errors=remount-ro\t0\t1\nproc /proc proc defaults 0 0\n"
        );
    }

    #[test]
    fn systemd_rootfs_gets_enablement_symlink_and_unknown_init_errors() {
        let mut tree = Tree::new(meta(0o755, 0));
        assert!(matches!(detect_init(&tree), Err(ImageError::UnknownInit)));
        put_file(
            &mut tree,
            "/lib/systemd/systemd",
            Content::empty(),
            0o755,
            0,
        )
        .unwrap();
        put_file(
            &mut tree,
            "/lib/systemd/system/serial-getty@.service",
            Content::empty(),
            0o644,
            0,
        )
        .unwrap();
        assert_eq!(
            console_getty(&mut tree, "hvc0", 115200, 0).unwrap(),
            InitSystem::Systemd
        );
        let id = tree
            .lookup(&p(
                "/etc/systemd/system/getty.target.wants/serial-getty@hvc0.service",
            ))
            .unwrap();
        assert!(
            matches!(&tree.inode(id).kind, Kind::Symlink(t) if t == b"/lib/systemd/system/serial-getty@.service")
        );
    }

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
