//! A real distribution as the service VM: Debian 12 made by
//! `mmdebstrap --variant=minbase bookworm` (merged /usr, systemd, a leftover
//! /etc/inittab; ci/debian-rootfs.sh builds it once into target/testdata),
//! given to `measured image build` as a directory, a tarball and an ext4
//! image with the Debian cloud kernel's modules.
//!
//! The directory variant boots under qemu-system-x86_64 (TCG) to a root
//! login on hvc0; inside, systemd reports `running` (no failed unit), udev
//! has loaded virtio_net for the virtio NIC and networkd brought it up,
//! `modprobe --show-depends xen_netfront` resolves from the indexes we
//! wrote, and setgid `chage` is still `root:shadow`. The tarball and ext
//! variants give the same filesystem tree (debugfs rdump of all three
//! disks, compared file by file), so booting one proves the three.

mod image_common;

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image_common::*;

/// target/testdata/debian12 (built on first use, then cached).
fn debian12() -> PathBuf {
    let dir = repo().join("target/testdata/debian12");
    if !dir.join(".complete").exists() {
        let st = Command::new("bash")
            .arg(repo().join("ci/debian-rootfs.sh"))
            .status()
            .expect("running ci/debian-rootfs.sh");
        assert!(st.success(), "ci/debian-rootfs.sh failed (mmdebstrap)");
    }
    dir
}

/// Build the service VM from `rootfs` into `out`; returns bundle.json.
fn build(rootfs: &Path, format: &str, out: &Path) -> serde_json::Value {
    let (kernel, release) = kernel();
    let modules = debian_root().join("lib/modules").join(&release);
    let spec = out.with_extension("toml");
    std::fs::write(
        &spec,
        format!(
            "name = \"deb\"\nrootfs = {rootfs:?}\nkernel = {kernel:?}\nmodules = {modules:?}\n\
             disk_size_mib = 700\nfs_type = \"ext4\"\nformat = \"{format}\"\n"
        ),
    )
    .unwrap();
    let r = measured(&[
        OsStr::new("image"),
        OsStr::new("build"),
        spec.as_os_str(),
        OsStr::new("-o"),
        out.as_os_str(),
    ]);
    assert!(
        r.status.success(),
        "image build of {}: {}",
        rootfs.display(),
        String::from_utf8_lossy(&r.stderr)
    );
    serde_json::from_slice(&std::fs::read(out.join("bundle.json")).unwrap()).unwrap()
}

/// A VM's console (virtconsole on QEMU's stdio) we can type into.
struct Console {
    qemu: Child,
    seen: Arc<Mutex<Vec<u8>>>,
    serial: PathBuf,
    next: usize,
}

impl Console {
    fn boot(bundle: &Path, release: &str, disk: &Path, serial: PathBuf) -> Console {
        let mut qemu = Command::new("qemu-system-x86_64")
            .args([
                "-m",
                "768",
                "-display",
                "none",
                "-no-reboot",
                "-monitor",
                "none",
            ])
            .arg("-serial")
            .arg(format!("file:{}", serial.display()))
            .arg("-kernel")
            .arg(bundle.join(format!("vmlinuz-{release}")))
            .arg("-initrd")
            .arg(bundle.join(format!("initrd.img-{release}")))
            // QEMU's disk is virtio (/dev/vda); under Xen the bundle's
            // own root=/dev/xvda applies.
            .args([
                "-append",
                "root=/dev/vda rw console=ttyS0 console=hvc0 panic=-1",
            ])
            .arg("-drive")
            .arg(format!("file={},format=vpc,if=virtio", disk.display()))
            .args([
                "-netdev",
                "user,id=n0",
                "-device",
                "virtio-net-pci,netdev=n0",
            ])
            .args(["-device", "virtio-serial-pci"])
            .args(["-chardev", "stdio,id=c0,signal=off"])
            .args(["-device", "virtconsole,chardev=c0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("qemu-system-x86_64 (ci/install-oracles.sh)");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut out = qemu.stdout.take().unwrap();
        let sink = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Console {
            qemu,
            seen,
            serial,
            next: 0,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    /// Wait until the console shows `what` after byte `from`; the offset
    /// just past it.
    fn expect(&mut self, what: &str, from: usize, within: Duration) -> usize {
        let start = Instant::now();
        while start.elapsed() < within {
            {
                let seen = self.seen.lock().unwrap();
                if let Some(i) = seen
                    .get(from..)
                    .and_then(|s| s.windows(what.len()).position(|w| w == what.as_bytes()))
                {
                    return from + i + what.len();
                }
            }
            if let Some(st) = self.qemu.try_wait().unwrap() {
                panic!("qemu exited ({st}) before {what:?}:\n{}", self.tail());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "no {what:?} on hvc0 within {} s:\n{}",
            within.as_secs(),
            self.tail()
        );
    }

    fn tail(&self) -> String {
        let t = self.text();
        let serial = std::fs::read_to_string(&self.serial).unwrap_or_default();
        let last = |s: &str| {
            s.lines()
                .rev()
                .take(60)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        };
        format!("hvc0:\n{}\nserial:\n{}", last(&t), last(&serial))
    }

    fn send(&mut self, s: &str) {
        let stdin = self.qemu.stdin.as_mut().unwrap();
        stdin.write_all(s.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Run a shell command on the console; its output.
    fn run(&mut self, cmd: &str, within: Duration) -> String {
        self.next += 1;
        let n = self.next;
        let from = self.seen.lock().unwrap().len();
        // The marker is split in the typed line so only the output has it whole.
        self.send(&format!("{cmd}; echo '<<'\"{n}>>\"\n"));
        let end = self.expect(&format!("<<{n}>>"), from, within);
        let seen = self.seen.lock().unwrap();
        let raw = String::from_utf8_lossy(&seen[from..end]).into_owned();
        // Drop the typed line where the terminal echoes it, and escapes.
        let body = raw.trim_end_matches(&format!("<<{n}>>"));
        strip_escapes(body)
            .replace('\r', "")
            .lines()
            .filter(|l| !l.contains("'<<'"))
            .map(|l| format!("{l}\n"))
            .collect()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
    }
}

fn strip_escapes(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[test]
fn debian_minbase_directory_boots_to_login_with_network_up_and_nothing_failed() {
    let fixture = debian12();
    let (_, release) = kernel();
    let t = tempfile::tempdir().unwrap();
    let bundle = t.path().join("dir-vhd");
    let report = build(&fixture.join("root"), "vhd-qemu", &bundle);
    // systemd, although an /etc/inittab was left behind.
    assert_eq!(report["init_system"], "systemd");
    assert!(
        report["module_index"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "modules.alias.bin")
    );

    let mut vm = Console::boot(
        &bundle,
        &release,
        &bundle.join("deb.vhd"),
        t.path().join("serial.log"),
    );
    let boot = Instant::now();
    let at = vm.expect("svc login: ", 0, Duration::from_secs(420));
    let login_secs = boot.elapsed().as_secs();
    vm.send("root\n");
    vm.expect("root@svc:", at, Duration::from_secs(60));
    vm.run(
        "export TERM=dumb; stty -echo; bind 'set enable-bracketed-paste off'",
        Duration::from_secs(30),
    );

    let state = vm.run(
        "systemctl is-system-running --wait",
        Duration::from_secs(240),
    );
    let failed = vm.run(
        "systemctl --failed --no-legend --plain",
        Duration::from_secs(30),
    );
    assert_eq!(
        state.trim(),
        "running",
        "system state {state:?}; failed units:\n{failed}\n{}",
        vm.run(
            "journalctl -b -p err --no-pager | tail -40",
            Duration::from_secs(60)
        )
    );

    // udev loaded virtio_net for the NIC (from modules.alias.bin); networkd
    // brought the interface up.
    let mods = vm.run("cat /proc/modules", Duration::from_secs(30));
    assert!(mods.lines().any(|l| l.starts_with("virtio_net ")), "{mods}");
    let links = vm.run("ip -o link show", Duration::from_secs(30));
    assert!(
        links
            .lines()
            .any(|l| !l.contains(": lo:") && l.contains("state UP")),
        "no interface up:\n{links}"
    );
    // An OpenXT network VM loads xen-netfront after boot: the index knows it.
    let deps = vm.run(
        "modprobe --show-depends xen_netfront",
        Duration::from_secs(30),
    );
    assert!(
        deps.contains(&format!(
            "insmod /lib/modules/{release}/kernel/drivers/net/xen-netfront.ko"
        )),
        "{deps}"
    );
    // The directory's set-id bits and owners survived.
    let chage = vm.run("stat -c %U:%G:%a /usr/bin/chage", Duration::from_secs(30));
    assert_eq!(chage.trim(), "root:shadow:2755");
    eprintln!(
        "debian boot: login after {login_secs} s, checks done after {} s",
        boot.elapsed().as_secs()
    );
}

/// `debugfs -R "rdump / DEST"` of a raw disk.
fn rdump(disk: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(format!("rdump / {}", dest.display()))
        .arg(disk)
        .output()
        .expect("debugfs (e2fsprogs)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every entry under `root` with what must agree: type, mode, owner,
/// size and mtime (not of symlinks: rdump does not set those), the link
/// target, the bytes.
fn listing(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for p in names {
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if rel == "lost+found" {
                continue;
            }
            let md = std::fs::symlink_metadata(&p).unwrap();
            let ft = md.file_type();
            let what = if ft.is_symlink() {
                format!(
                    "link {} -> {}",
                    md.mode() & 0o7777,
                    std::fs::read_link(&p).unwrap().display()
                )
            } else {
                let base = format!("{:o} {}:{} {}", md.mode(), md.uid(), md.gid(), md.mtime());
                if ft.is_dir() {
                    stack.push(p.clone());
                    format!("dir {base}")
                } else {
                    let data = std::fs::read(&p).unwrap();
                    format!("file {base} {} {:x}", data.len(), fnv(&data))
                }
            };
            out.push((rel, what));
        }
    }
    out.sort();
    out
}

/// FNV-1a: enough to tell files apart in a comparison.
fn fnv(d: &[u8]) -> u64 {
    d.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn debugfs_out(disk: &Path, cmd: &str) -> String {
    debugfs(disk, cmd)
}

#[test]
fn debian_tarball_and_ext_image_give_the_directorys_tree() {
    let fixture = debian12();
    let (_, release) = kernel();
    let t = tempfile::tempdir().unwrap();
    let mut trees = Vec::new();
    // The three variants side by side: each builds, dumps and lists its own.
    let variants = [("dir", "root"), ("tar", "root.tar"), ("ext", "root.ext4")];
    let one = |(name, src): (&'static str, &str)| {
        let out = t.path().join(name);
        build(&fixture.join(src), "raw", &out);
        let disk = out.join("deb.img");
        // Merged /usr: the links stay, the modules and their index are
        // where kmod looks, through them.
        assert!(debugfs_out(&disk, "stat /lib").contains("Type: symlink"));
        let idx = debugfs_out(&disk, &format!("ls /usr/lib/modules/{release}"));
        assert!(
            idx.contains("modules.dep.bin") && idx.contains("modules.symbols.bin"),
            "{idx}"
        );
        // Device nodes, ACLs and the setgid group are in every variant.
        let null = debugfs_out(&disk, "stat /dev/null");
        assert!(
            null.contains("Type: character special")
                && null.contains("Device major/minor number: 01:03"),
            "{null}"
        );
        let acl = debugfs_out(&disk, "ea_list /var/log/journal");
        assert!(
            acl.contains("system.posix_acl_access") && acl.contains("system.posix_acl_default"),
            "{name}: {acl}"
        );
        let chage = debugfs_out(&disk, "stat /usr/bin/chage");
        assert!(chage.contains("Mode:  02755"), "{name}: {chage}");
        let dump = t.path().join(format!("{name}-tree"));
        rdump(&disk, &dump);
        std::fs::remove_dir_all(&out).unwrap();
        let l = listing(&dump);
        std::fs::remove_dir_all(&dump).unwrap();
        (name, l)
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = variants.map(|v| s.spawn(move || one(v))).into();
        for h in handles {
            trees.push(h.join().expect("variant thread"));
        }
    });
    let (_, first) = &trees[0];
    assert!(first.len() > 5000, "only {} entries", first.len());
    for (name, other) in &trees[1..] {
        let diff: Vec<_> = first
            .iter()
            .zip(other)
            .filter(|(a, b)| a != b)
            .take(10)
            .collect();
        assert!(
            diff.is_empty() && first.len() == other.len(),
            "{name} differs from dir ({} vs {} entries): {diff:#?}",
            other.len(),
            first.len()
        );
    }
}
