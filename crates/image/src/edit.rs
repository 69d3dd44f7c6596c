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

/// The contents of the file `path` names (symlinks followed), if any.
pub(crate) fn read_file(tree: &Tree, path: &str) -> Result<Option<Vec<u8>>, ImageError> {
    let Some((_, id)) = resolve(tree, path) else {
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

/// Most symlinks one path may pass through (the kernel's limit).
const MAX_LINKS: usize = 40;

/// One step of a path walk inside the tree.
enum Step {
    /// A directory: descend.
    Dir,
    /// A symlink: continue with its target.
    Link(Vec<u8>),
    /// Nothing by that name.
    Missing,
    /// Something that is neither.
    Other,
}

fn step(tree: &Tree, dir: &[Vec<u8>], name: &[u8]) -> Step {
    let mut id = fstree::ROOT;
    for c in dir.iter().map(Vec::as_slice).chain([name]) {
        match tree.entries(id).and_then(|e| e.get(c)) {
            Some(&next) => id = next,
            None => return Step::Missing,
        }
    }
    match &tree.inode(id).kind {
        Kind::Dir(_) => Step::Dir,
        Kind::Symlink(t) => Step::Link(t.clone()),
        _ => Step::Other,
    }
}

fn components(p: &[u8]) -> std::collections::VecDeque<Vec<u8>> {
    p.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn show(p: &[Vec<u8>]) -> String {
    NamePath::parse(p.join(&b'/')).map_or_else(|_| "?".into(), |n| n.to_string())
}

/// A tree a path walk may or may not add directories to.
trait Walkable {
    fn tree(&self) -> &Tree;
    /// Create the directory `path` (its parent exists), if allowed.
    fn mkdir(&mut self, path: &NamePath) -> Result<bool, ImageError>;
}

impl Walkable for &Tree {
    fn tree(&self) -> &Tree {
        self
    }
    fn mkdir(&mut self, _: &NamePath) -> Result<bool, ImageError> {
        Ok(false)
    }
}

struct Creating<'a>(&'a mut Tree, fstree::Meta);

impl Walkable for Creating<'_> {
    fn tree(&self) -> &Tree {
        self.0
    }
    fn mkdir(&mut self, path: &NamePath) -> Result<bool, ImageError> {
        self.0.mkdir_p(path, &self.1)?;
        Ok(true)
    }
}

/// Walk `path` with the tree as the root directory, following every
/// symlink on the way as the kernel would inside a chroot (absolute
/// targets start at the tree's root, `..` stops there): what `/lib/modules`
/// names when `/lib -> usr/lib`. The last component is followed only when
/// `follow_last`; missing directories are created when `tree` may.
/// Returns the symlink-free path.
fn walk(mut tree: impl Walkable, path: &str, follow_last: bool) -> Result<NamePath, ImageError> {
    let err = |msg: String| ImageError::Rootfs {
        path: path.to_string(),
        msg,
    };
    let mut cur: Vec<Vec<u8>> = Vec::new();
    let mut rest = components(path.as_bytes());
    let mut links = 0;
    while let Some(c) = rest.pop_front() {
        match c.as_slice() {
            b"." => continue,
            b".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let last = rest.is_empty();
        match step(tree.tree(), &cur, &c) {
            Step::Dir => cur.push(c),
            Step::Link(_) if last && !follow_last => cur.push(c),
            Step::Link(target) => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(err(format!("more than {MAX_LINKS} symlinks (a loop?)")));
                }
                if target.starts_with(b"/") {
                    cur.clear();
                }
                for t in components(&target).into_iter().rev() {
                    rest.push_front(t);
                }
            }
            Step::Missing | Step::Other if last => cur.push(c),
            Step::Missing => {
                cur.push(c);
                if !tree.mkdir(&NamePath::parse(cur.join(&b'/'))?)? {
                    return Err(err(format!("{}: no such directory", show(&cur))));
                }
            }
            Step::Other => {
                cur.push(c);
                return Err(err(format!("{}: not a directory", show(&cur))));
            }
        }
    }
    Ok(NamePath::parse(cur.join(&b'/'))?)
}

/// The symlink-free path `path` names (every symlink followed, the last
/// too), and its inode; `None` when it does not resolve.
pub(crate) fn resolve(tree: &Tree, path: &str) -> Option<(String, InodeId)> {
    let real = walk(tree, path, true).ok()?;
    let id = tree.lookup(&real)?;
    Some((real.to_string(), id))
}

/// The symlink-free directory `path` names, created (with root-owned
/// `0755` directories) where missing.
pub fn real_dir(tree: &mut Tree, path: &str, epoch: i64) -> Result<NamePath, ImageError> {
    let real = walk(Creating(tree, meta(0o755, epoch)), path, true)?;
    tree.mkdir_p(&real, &meta(0o755, epoch))?;
    Ok(real)
}

/// Where an entry written at `path` lands: its parent directory resolved
/// (and created), its own name kept (an existing symlink there is
/// replaced, not followed).
fn place(tree: &mut Tree, path: &str, epoch: i64) -> Result<NamePath, ImageError> {
    let real = walk(Creating(tree, meta(0o755, epoch)), path, false)?;
    if let Some((parent, _)) = real.split_last() {
        tree.mkdir_p(&parent, &meta(0o755, epoch))?;
    }
    Ok(real)
}

/// Write a regular file (replacing what was there), creating parents;
/// symlinked directories on the way are followed.
pub fn put_file(
    tree: &mut Tree,
    path: &str,
    content: Content,
    perm: u16,
    epoch: i64,
) -> Result<(), ImageError> {
    let np = place(tree, path, epoch)?;
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

/// Write a symlink (replacing what was there), creating parents;
/// symlinked directories on the way are followed.
pub fn put_symlink(
    tree: &mut Tree,
    path: &str,
    target: &str,
    epoch: i64,
) -> Result<(), ImageError> {
    let np = place(tree, path, epoch)?;
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

/// Which init system the rootfs runs: what `init` (normally `/sbin/init`)
/// resolves to decides, so a systemd rootfs that still carries an
/// `/etc/inittab` is systemd. Without a usable `init`, an inittab or a
/// systemd binary tells.
pub fn detect_init(tree: &Tree, init: &str) -> Result<InitSystem, ImageError> {
    let has_inittab = resolve(tree, "/etc/inittab").is_some();
    if let Some((target, id)) = resolve(tree, init) {
        let base = target.rsplit('/').next().unwrap_or("");
        if base == "systemd" {
            return Ok(InitSystem::Systemd);
        }
        if base.starts_with("busybox") {
            return Ok(if has_inittab {
                InitSystem::Inittab
            } else {
                InitSystem::BusyboxNoInittab
            });
        }
        if matches!(tree.inode(id).kind, Kind::File(_)) && has_inittab {
            // sysvinit's own `init`.
            return Ok(InitSystem::Inittab);
        }
        return Err(ImageError::Rootfs {
            path: init.into(),
            msg: format!(
                "resolves to {target}, which is neither systemd, busybox nor an init with an /etc/inittab"
            ),
        });
    }
    if has_inittab {
        return Ok(InitSystem::Inittab);
    }
    for sd in ["/lib/systemd/systemd", "/usr/lib/systemd/systemd"] {
        if resolve(tree, sd).is_some() {
            return Ok(InitSystem::Systemd);
        }
    }
    Err(ImageError::UnknownInit)
}

/// Put a login prompt on `console` at `baud`; drop the `ttyS0` getty.
pub fn console_getty(
    tree: &mut Tree,
    init: &str,
    console: &str,
    baud: u32,
    epoch: i64,
) -> Result<InitSystem, ImageError> {
    let init = detect_init(tree, init)?;
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
                .find(|u| resolve(tree, u).is_some())
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

    fn p(s: &str) -> NamePath {
        NamePath::parse(s).expect("static path")
    }

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
        assert!(matches!(
            detect_init(&tree, "/sbin/init"),
            Err(ImageError::UnknownInit)
        ));
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
            console_getty(&mut tree, "/sbin/init", "hvc0", 115200, 0).unwrap(),
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

    fn merged_usr() -> Tree {
        let mut tree = Tree::new(meta(0o755, 0));
        tree.mkdir_p(&p("/usr/lib"), &meta(0o755, 0)).unwrap();
        tree.mkdir_p(&p("/usr/bin"), &meta(0o755, 0)).unwrap();
        put_symlink(&mut tree, "/lib", "usr/lib", 0).unwrap();
        put_symlink(&mut tree, "/bin", "usr/bin", 0).unwrap();
        tree
    }

    #[test]
    fn merged_usr_links_are_followed_when_writing() {
        let mut tree = merged_usr();
        let at = real_dir(&mut tree, "/lib/modules", 0).unwrap();
        assert_eq!(at.to_string(), "/usr/lib/modules");
        put_file(
            &mut tree,
            "/lib/modules/6.1/modules.dep",
            Content::empty(),
            0o644,
            0,
        )
        .unwrap();
        assert!(
            tree.lookup(&p("/usr/lib/modules/6.1/modules.dep"))
                .is_some()
        );
        // The links themselves stay links.
        assert!(matches!(
            tree.inode(tree.lookup(&p("/lib")).unwrap()).kind,
            Kind::Symlink(_)
        ));
        // Absolute targets and `..` resolve inside the tree, never above it.
        put_symlink(&mut tree, "/usr/bin/busybox", "../../../../bin/real", 0).unwrap();
        put_file(&mut tree, "/usr/bin/real", Content::empty(), 0o755, 0).unwrap();
        assert_eq!(resolve(&tree, "/bin/busybox").unwrap().0, "/usr/bin/real");
        put_symlink(&mut tree, "/sbin", "/usr/bin", 0).unwrap();
        assert_eq!(resolve(&tree, "/sbin/real").unwrap().0, "/usr/bin/real");
    }

    #[test]
    fn link_loops_and_files_in_the_way_are_errors() {
        let mut tree = merged_usr();
        put_symlink(&mut tree, "/a", "b", 0).unwrap();
        put_symlink(&mut tree, "/b", "a", 0).unwrap();
        let e = put_file(&mut tree, "/a/x", Content::empty(), 0o644, 0).unwrap_err();
        assert!(e.to_string().contains("symlinks"), "{e}");
        put_file(&mut tree, "/usr/lib/f", Content::empty(), 0o644, 0).unwrap();
        let e = put_file(&mut tree, "/lib/f/x", Content::empty(), 0o644, 0).unwrap_err();
        assert!(e.to_string().contains("/usr/lib/f: not a directory"), "{e}");
    }

    #[test]
    fn init_is_what_sbin_init_resolves_to() {
        let mut tree = merged_usr();
        put_file(
            &mut tree,
            "/usr/lib/systemd/systemd",
            Content::empty(),
            0o755,
            0,
        )
        .unwrap();
        // A leftover inittab does not make a systemd rootfs sysvinit.
        put_file(
            &mut tree,
            "/etc/inittab",
            Content::bytes("id:2:initdefault:\n"),
            0o644,
            0,
        )
        .unwrap();
        put_symlink(&mut tree, "/sbin/init", "/lib/systemd/systemd", 0).unwrap();
        assert_eq!(
            detect_init(&tree, "/sbin/init").unwrap(),
            InitSystem::Systemd
        );
        // busybox with or without an inittab.
        put_file(
            &mut tree,
            "/usr/bin/busybox.nosuid",
            Content::empty(),
            0o755,
            0,
        )
        .unwrap();
        put_symlink(&mut tree, "/sbin/init", "../bin/busybox.nosuid", 0).unwrap();
        assert_eq!(
            detect_init(&tree, "/sbin/init").unwrap(),
            InitSystem::Inittab
        );
        // sysvinit: a real init with an inittab; `init=` is followed first.
        put_file(&mut tree, "/sbin/init", Content::empty(), 0o755, 0).unwrap();
        assert_eq!(
            detect_init(&tree, "/sbin/init").unwrap(),
            InitSystem::Inittab
        );
        assert_eq!(
            detect_init(&tree, "/lib/systemd/systemd").unwrap(),
            InitSystem::Systemd
        );
        put_file(&mut tree, "/etc/inittab", Content::empty(), 0o644, 0).unwrap();
        let mut no_tab = tree.clone();
        let etc = no_tab.lookup(&p("/etc")).unwrap();
        no_tab.unlink(etc, b"inittab");
        let e = detect_init(&no_tab, "/sbin/init").unwrap_err();
        assert!(e.to_string().contains("neither systemd"), "{e}");
    }
}
