//! A directory rootfs is taken as it is: device nodes, a fifo, file
//! capabilities (security.capability), POSIX ACLs, setuid/setgid bits and
//! owners reach the disk (read back with debugfs). The ownership rule: the
//! builder's own files become root's, every other owner is kept (run here
//! as an unprivileged builder through setpriv too); `owners = "root"` makes
//! everything root's without ever turning a setgid-shadow file into a
//! setgid-root one. And the VM definitions name the kernel and initrd the
//! bundle ships; a raw disk is an `aio` disk for OpenXT; without modules a
//! kernel whose root-disk driver is a module is refused.

mod image_common;

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use image_common::*;

const BUILDER: u32 = 65534;
const SHADOW: u32 = 42;
const OTHER: u32 = 1000;

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The OE-shaped busybox tree plus the things a real rootfs carries.
fn rich_tree(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    oe_rootfs(&root);
    std::fs::create_dir_all(root.join("var/log/journal")).unwrap();
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    run(Command::new("mknod")
        .arg(root.join("dev/null"))
        .args(["c", "1", "3"]));
    run(Command::new("mknod")
        .arg(root.join("dev/loop0"))
        .args(["b", "7", "0"]));
    run(Command::new("mkfifo").arg(root.join("dev/initctl")));
    let w = |p: &str, mode: u32, uid: u32, gid: u32| {
        let f = root.join(p);
        std::fs::write(&f, p.as_bytes()).unwrap();
        std::os::unix::fs::chown(&f, Some(uid), Some(gid)).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    w("usr/bin/ping", 0o755, 0, 0);
    w("usr/bin/su", 0o4755, 0, 0);
    w("usr/bin/chage", 0o2755, 0, SHADOW);
    w("usr/bin/mine", 0o644, OTHER, OTHER);
    // cap_net_raw+ep, as `setcap` writes it (VFS_CAP_REVISION_2).
    run(Command::new("setfattr")
        .args([
            "-n",
            "security.capability",
            "-v",
            "0x0100000200200000000000000000000000000000",
        ])
        .arg(root.join("usr/bin/ping")));
    run(Command::new("setfacl")
        .args(["-m", "u:1000:rx,d:u:1000:rx"])
        .arg(root.join("var/log/journal")));
    root
}

fn spec(dir: &Path, rootfs: &Path, extra: &str) -> PathBuf {
    let (kernel, release) = kernel();
    let modules = debian_root().join("lib/modules").join(release);
    let p = dir.join("svc.toml");
    std::fs::write(
        &p,
        format!(
            "name = \"svc\"\nrootfs = {rootfs:?}\nkernel = {kernel:?}\nmodules = {modules:?}\n\
             disk_size_mib = 200\nformat = \"raw\"\n{extra}"
        ),
    )
    .unwrap();
    p
}

fn build(spec: &Path, out: &Path, flags: &[&str]) -> std::process::Output {
    let mut args: Vec<&OsStr> = vec![OsStr::new("image"), OsStr::new("build")];
    args.push(spec.as_os_str());
    args.extend([OsStr::new("-o"), out.as_os_str()]);
    args.extend(flags.iter().map(OsStr::new));
    measured(&args)
}

/// (mode, uid, gid) of a path on the disk, from debugfs.
fn owner_mode(disk: &Path, path: &str) -> (String, u32, u32) {
    let s = debugfs(disk, &format!("stat {path}"));
    let field = |name: &str| -> String {
        let at = s.find(name).unwrap_or_else(|| panic!("{name} in {s}")) + name.len();
        s[at..].split_whitespace().next().unwrap().to_string()
    };
    (
        field("Mode:"),
        field("User:").parse().unwrap(),
        field("Group:").parse().unwrap(),
    )
}

#[test]
fn directory_rootfs_keeps_devices_xattrs_setid_bits_and_owners() {
    let t = tempfile::tempdir().unwrap();
    let root = rich_tree(t.path());
    let s = spec(t.path(), &root, "");
    let out = t.path().join("keep");
    let r = build(&s, &out, &[]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let disk = out.join("svc.img");
    let null = debugfs(&disk, "stat /dev/null");
    assert!(
        null.contains("Type: character special") && null.contains("01:03"),
        "{null}"
    );
    assert!(debugfs(&disk, "stat /dev/loop0").contains("Type: block special"));
    assert!(debugfs(&disk, "stat /dev/initctl").contains("Type: FIFO"));
    let caps = debugfs(&disk, "ea_get -x /usr/bin/ping security.capability");
    assert!(caps.contains("01 00 00 02 00 20 00 00"), "{caps}");
    let acl = debugfs(&disk, "ea_list /var/log/journal");
    assert!(
        acl.contains("system.posix_acl_access") && acl.contains("system.posix_acl_default"),
        "{acl}"
    );
    // As root, the builder's files are root's already: everything kept.
    assert_eq!(owner_mode(&disk, "/usr/bin/su"), ("04755".into(), 0, 0));
    assert_eq!(
        owner_mode(&disk, "/usr/bin/chage"),
        ("02755".into(), 0, SHADOW)
    );
    assert_eq!(
        owner_mode(&disk, "/usr/bin/mine"),
        ("0644".into(), OTHER, OTHER)
    );

    // owners = "root": all root's; the setgid-shadow file loses setgid.
    let out = t.path().join("root");
    let r = build(&s, &out, &["--owners", "root"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let disk = out.join("svc.img");
    assert_eq!(owner_mode(&disk, "/usr/bin/chage"), ("0755".into(), 0, 0));
    assert_eq!(owner_mode(&disk, "/usr/bin/mine"), ("0644".into(), 0, 0));
    assert_eq!(owner_mode(&disk, "/usr/bin/su"), ("04755".into(), 0, 0));
    // The spec key says the same as the flag.
    let s2 = spec(t.path(), &root, "owners = \"root\"\n");
    let out2 = t.path().join("root2");
    assert!(build(&s2, &out2, &[]).status.success());
    assert_eq!(
        std::fs::read(out2.join("svc.img")).unwrap(),
        std::fs::read(&disk).unwrap()
    );
}

#[test]
fn an_unprivileged_builders_files_become_roots_and_others_stay() {
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = rich_tree(t.path());
    // A tree unpacked by the builder (uid 65534), but for one file another
    // user left and the setgid-shadow one.
    run(Command::new("chown")
        .args(["-R", "-h", &format!("{BUILDER}:{BUILDER}")])
        .arg(&root));
    for (p, u, g) in [("usr/bin/chage", 0, SHADOW), ("usr/bin/mine", OTHER, OTHER)] {
        std::os::unix::fs::chown(root.join(p), Some(u), Some(g)).unwrap();
    }
    std::fs::set_permissions(
        root.join("usr/bin/chage"),
        std::fs::Permissions::from_mode(0o2755),
    )
    .unwrap();
    std::fs::set_permissions(
        root.join("usr/bin/su"),
        std::fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    let s = spec(t.path(), &root, "");
    let outdir = t.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    std::os::unix::fs::chown(&outdir, Some(BUILDER), Some(BUILDER)).unwrap();
    let out = outdir.join("b");
    let r = Command::new("setpriv")
        .args([
            &format!("--reuid={BUILDER}"),
            &format!("--regid={BUILDER}"),
            "--clear-groups",
        ])
        .arg(env!("CARGO_BIN_EXE_measured"))
        .args(["image", "build"])
        .arg(&s)
        .arg("-o")
        .arg(&out)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("setpriv (util-linux)");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let disk = out.join("svc.img");
    // The builder's files (and their setuid bit) are root's now.
    assert_eq!(owner_mode(&disk, "/usr/bin/su"), ("04755".into(), 0, 0));
    assert_eq!(owner_mode(&disk, "/bin/busybox").1, 0);
    assert_eq!(owner_mode(&disk, "/etc").1, 0);
    // Everyone else's stay theirs: chage is setgid shadow, not setgid root.
    assert_eq!(
        owner_mode(&disk, "/usr/bin/chage"),
        ("02755".into(), 0, SHADOW)
    );
    assert_eq!(
        owner_mode(&disk, "/usr/bin/mine"),
        ("0644".into(), OTHER, OTHER)
    );
}

#[test]
fn definitions_name_the_shipped_kernel_and_initrd_and_raw_is_aio_for_openxt() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("rootfs");
    oe_rootfs(&root);
    let s = spec(t.path(), &root, "dom0_dir = \"/storage/svc\"\n");
    let out = t.path().join("b");
    let r = build(&s, &out, &[]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let shipped: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let named = |text: &str, key: &str| -> Vec<String> {
        text.split(key)
            .skip(1)
            .map(|rest| {
                let path: String = rest
                    .trim_start_matches(['=', ' ', '"', '\'', '>'])
                    .chars()
                    .take_while(|c| !"\"'<\n ".contains(*c))
                    .collect();
                path.rsplit('/').next().unwrap().to_string()
            })
            .collect()
    };
    let cfg = std::fs::read_to_string(out.join("svc.cfg")).unwrap();
    let xml = std::fs::read_to_string(out.join("svc.xml")).unwrap();
    let xec = std::fs::read_to_string(out.join("openxt-create.sh")).unwrap();
    let json = std::fs::read_to_string(out.join("service-svc.json")).unwrap();
    for (file, text, keys) in [
        ("svc.cfg", &cfg, vec!["kernel", "ramdisk"]),
        ("svc.xml", &xml, vec!["<kernel", "<initrd"]),
        ("openxt-create.sh", &xec, vec!["set kernel ", "set initrd "]),
        (
            "service-svc.json",
            &json,
            vec!["\"kernel\": ", "\"initrd\": "],
        ),
    ] {
        for key in keys {
            let names = named(text, key);
            assert!(!names.is_empty(), "{file}: no {key} in\n{text}");
            for n in names {
                assert!(
                    shipped.contains(&n),
                    "{file} {key} names {n}, not in the bundle {shipped:?}"
                );
            }
        }
    }
    // Raw disk: xenmgr can only extract a kernel from vhd/aio/vdi/file/phy.
    assert!(xec.contains("set phys-type aio"), "{xec}");
    assert!(json.contains("\"type\": \"aio\""), "{json}");
}

#[test]
fn no_modules_while_the_root_disk_driver_is_a_module_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("rootfs");
    oe_rootfs(&root);
    let (kernel, _) = kernel();
    let p = t.path().join("svc.toml");
    std::fs::write(
        &p,
        format!("name = \"svc\"\nrootfs = {root:?}\nkernel = {kernel:?}\ndisk_size_mib = 64\n"),
    )
    .unwrap();
    let out = t.path().join("b");
    let r = build(&p, &out, &[]);
    assert!(!r.status.success());
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(
        e.contains("xen_blkfront")
            && e.contains("CONFIG_XEN_BLKDEV_FRONTEND=m")
            && e.contains("modules"),
        "{e}"
    );
    assert!(!out.exists(), "nothing written on error");
}

#[test]
fn image_build_on_a_measured_build_spec_points_to_measured_build() {
    let spec = repo().join("examples/service-vm.toml");
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("b");
    let r = build(&spec, &out, &[]);
    assert_eq!(r.status.code(), Some(2));
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(
        e.contains("[launch]") && e.contains("run `measured build"),
        "{e}"
    );
    assert!(!out.exists());
}
