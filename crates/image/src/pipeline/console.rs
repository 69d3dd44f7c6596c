//! Stage `console`: a login prompt on the Xen console (`hvc0`, or `xvc0`
//! for 2.6.18-era XenLinux), in the dialect of the rootfs's init — an
//! inittab line for busybox and sysvinit, the `serial-getty@` unit for
//! systemd — and the console in `/etc/securetty` when the rootfs has one.

use fstree::{Content, Kind, Tree};

use crate::edit::{put_file, put_symlink, read_file, resolve};
use crate::error::ImageError;
use crate::spec::Spec;

/// The getty on the spec's console; the init system found.
pub(super) fn getty(tree: &mut Tree, spec: &Spec, epoch: i64) -> Result<InitSystem, ImageError> {
    console_getty(tree, &spec.init_path(), &spec.console, spec.baud, epoch)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::merged_usr;
    use crate::hostdir::meta;
    use fstree::NamePath;

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
