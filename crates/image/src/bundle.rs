//! The bundle directory: disk image, dom0 kernel and initrd, VM definitions
//! and `bundle.json`, built in a temporary directory beside the target and
//! renamed into place, so an interrupted or failed build leaves nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fstree::{Content, Kind, NamePath, Tree};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::edit::{self, InitSystem};
use crate::error::ImageError;
use crate::initramfs::{self, ModuleFile};
use crate::input::HostInput;
use crate::kernel::parse_bzimage;
use crate::modules::{ModulesDep, modinfo_depends, module_name};
use crate::spec::{DiskOutput, InitramfsMode, Spec};
use crate::{elf, hostdir};

/// Writes the edited tree as a filesystem inside a disk image.
pub trait DiskWriter {
    /// Write `tree` as `spec.fs_type` filling a `spec.disk_size_mib` disk in
    /// `spec.format` to `out` (a new file in the bundle's temp directory).
    fn write_disk(&self, tree: &Tree, spec: &Spec, out: &Path) -> Result<(), String>;

    /// Fail early, before anything is written, when `tree` cannot fit.
    fn check_fits(&self, tree: &Tree, spec: &Spec) -> Result<(), String>;
}

/// One file that went in or came out.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileRecord {
    /// Path (inputs) or name in the bundle (outputs).
    pub path: String,
    /// Size in bytes (for directories: total file bytes).
    pub size: u64,
    /// SHA-256, hex (for directories: of the sorted tree manifest).
    pub sha256: String,
}

/// `bundle.json`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BundleReport {
    /// VM name.
    pub name: String,
    /// Kernel release found in the bzImage header.
    pub kernel_release: String,
    /// Init system found in the rootfs.
    pub init_system: InitSystem,
    /// Modules in the initramfs, in load order (empty if none).
    pub initramfs_modules: Vec<String>,
    /// Whether `modules.dep` was derived from `.modinfo` (package had none).
    pub modules_dep_generated: bool,
    /// The effective spec.
    pub spec: Spec,
    /// Inputs.
    pub inputs: Vec<FileRecord>,
    /// Outputs (everything in the bundle but `bundle.json`).
    pub outputs: Vec<FileRecord>,
}

fn sha_file(path: &Path) -> Result<FileRecord, ImageError> {
    hash_copying(path, None)
}

/// The record of the file at `path`, streamed (disk images are far bigger
/// than anything worth holding), writing a copy to `dst` in the same pass.
fn hash_copying(path: &Path, dst: Option<&Path>) -> Result<FileRecord, ImageError> {
    use std::io::{Read, Write};
    let mut f = std::fs::File::open(path).map_err(ImageError::io(path))?;
    let mut copy = match dst {
        Some(d) => Some((std::fs::File::create(d).map_err(ImageError::io(d))?, d)),
        None => None,
    };
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(ImageError::io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        if let Some((w, d)) = &mut copy {
            w.write_all(&buf[..n]).map_err(ImageError::io(*d))?;
        }
        size += n as u64;
    }
    Ok(FileRecord {
        path: path.display().to_string(),
        size,
        sha256: hex::encode(h.finalize()),
    })
}

/// An input's record: computed already, or being computed on another thread.
enum Hashing {
    Done(FileRecord),
    Running(std::thread::JoinHandle<Result<FileRecord, ImageError>>),
}

impl Hashing {
    fn join(self) -> Result<FileRecord, ImageError> {
        match self {
            Hashing::Done(r) => Ok(r),
            Hashing::Running(h) => h.join().expect("hashing thread panicked"),
        }
    }
}

/// Compute an input's record on another thread.
fn in_background(f: impl FnOnce() -> Result<FileRecord, ImageError> + Send + 'static) -> Hashing {
    Hashing::Running(std::thread::spawn(f))
}

/// The inputs' records in input order. Dropping it (an early error) waits
/// for the threads, so none still writes into the temporary bundle
/// directory while it is removed.
struct Pending(Vec<Hashing>);

impl Pending {
    fn push(&mut self, h: Hashing) {
        self.0.push(h);
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn join(mut self) -> Result<Vec<FileRecord>, ImageError> {
        std::mem::take(&mut self.0)
            .into_iter()
            .map(Hashing::join)
            .collect()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        for h in self.0.drain(..) {
            if let Hashing::Running(h) = h {
                let _ = h.join();
            }
        }
    }
}

/// Copy a host input to `dst` and hash it in one pass, on another thread:
/// the input's record, which is also the copy's.
fn copy_in_background(input: &HostInput, dst: PathBuf) -> Hashing {
    let input = input.clone();
    in_background(move || copy_and_hash(&input, &dst))
}

fn copy_and_hash(input: &HostInput, dst: &Path) -> Result<FileRecord, ImageError> {
    let r = hash_copying(&input.path, Some(dst))?;
    if r.size != input.len {
        return Err(ImageError::Io {
            path: input.path.clone(),
            source: std::io::Error::other("changed while the bundle was being built"),
        });
    }
    Ok(r)
}

/// A file of the bundle besides the disk.
enum Out {
    /// Bytes made here.
    Mem(Arc<Vec<u8>>),
    /// A copy of an input, already written by [`copy_in_background`]; its
    /// record is `inputs[.1]`.
    Copy(HostInput, usize),
}

impl Out {
    fn content(&self) -> Content {
        match self {
            Out::Mem(b) => Content::new(b.clone()),
            Out::Copy(i, _) => i.content(),
        }
    }

    /// Its record as `name` in the bundle (a copy's is its input's).
    fn record(&self, name: &str, inputs: &[FileRecord]) -> FileRecord {
        match self {
            Out::Mem(b) => sha_bytes(Path::new(name), b),
            // Same bytes as the input: same digest.
            Out::Copy(_, idx) => FileRecord {
                path: name.to_string(),
                ..inputs[*idx].clone()
            },
        }
    }
}

/// The record of bytes already in memory.
fn sha_bytes(path: &Path, data: &[u8]) -> FileRecord {
    FileRecord {
        path: path.display().to_string(),
        size: data.len() as u64,
        sha256: hex::encode(Sha256::digest(data)),
    }
}

/// A digest of a tree: every path with its mode, owner and content digest
/// ([`fstree::content_sha256`]: holes are not read, so a tree holding a
/// terabyte sparse file digests as fast as its data).
fn sha_tree(tree: &Tree, label: &Path) -> Result<FileRecord, ImageError> {
    let mut h = Sha256::new();
    let mut size = 0;
    for (p, id) in tree.walk() {
        let ino = tree.inode(id);
        h.update(
            format!(
                "{p}\0{:o}\0{}\0{}\0",
                ino.mode(),
                ino.meta.uid,
                ino.meta.gid
            )
            .as_bytes(),
        );
        match &ino.kind {
            Kind::File(c) => {
                let d = fstree::content_sha256(c.source()).map_err(ImageError::io(label))?;
                size += c.len();
                h.update(d);
            }
            Kind::Symlink(t) => h.update(t),
            _ => {}
        }
        h.update(b"\n");
    }
    Ok(FileRecord {
        path: label.display().to_string(),
        size,
        sha256: hex::encode(h.finalize()),
    })
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

fn load_rootfs(spec: &Spec, epoch: i64) -> Result<Tree, ImageError> {
    let md = std::fs::metadata(&spec.rootfs).map_err(ImageError::io(&spec.rootfs))?;
    if md.is_dir() {
        // Host directories are owned by whoever unpacked them: an image
        // wants root-owned files with pinned times.
        return hostdir::load(&spec.rootfs, epoch);
    }
    rootfs::load(&spec.rootfs).map_err(|e| ImageError::Rootfs {
        path: spec.rootfs.display().to_string(),
        msg: e.to_string(),
    })
}

struct Modules {
    dep: ModulesDep,
    builtin: Vec<String>,
    generated: bool,
}

/// Put a `lib/modules/<release>` directory of the host at `at`.
fn load_modules_dir(
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
fn load_modules_tar(
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

/// Read (or derive) `modules.dep` and `modules.builtin` of the modules now
/// at `at`; `src` names the input in errors.
fn index_modules(
    tree: &mut Tree,
    src: &Path,
    release: &str,
    at: &NamePath,
    epoch: i64,
) -> Result<Modules, ImageError> {
    let read = |tree: &Tree, name: &str| -> Result<Option<String>, ImageError> {
        let Some(id) = tree.lookup(&at.join(name.as_bytes())) else {
            return Ok(None);
        };
        let Kind::File(c) = &tree.inode(id).kind else {
            return Ok(None);
        };
        let label = src.join(name);
        let data = c.read_all().map_err(ImageError::io(&label))?;
        Ok(Some(String::from_utf8_lossy(&data).into_owned()))
    };
    let builtin = read(tree, "modules.builtin")?
        .map(|t| t.lines().map(module_name).collect())
        .unwrap_or_default();
    if let Some(text) = read(tree, "modules.dep")? {
        return Ok(Modules {
            dep: ModulesDep::parse(&text, &src.join("modules.dep"))?,
            builtin,
            generated: false,
        });
    }
    let dir = src;
    // Debian leaves modules.dep to depmod at install time: derive it.
    let mut dep = ModulesDep::default();
    let mod_root = tree.lookup(at).expect("just loaded");
    let mut stack = vec![(mod_root, String::new())];
    while let Some((id, rel)) = stack.pop() {
        let Some(entries) = tree.entries(id) else {
            continue;
        };
        for (name, &child) in entries {
            let name = String::from_utf8_lossy(name);
            let path = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            match &tree.inode(child).kind {
                Kind::Dir(_) => stack.push((child, path)),
                Kind::File(c) if name.ends_with(".ko") => {
                    let host = dir.join(&path);
                    let data = c.read_all().map_err(ImageError::io(&host))?;
                    dep.insert(path, modinfo_depends(&data, &host)?);
                }
                _ => {}
            }
        }
    }
    edit::put_file(
        tree,
        &format!("/lib/modules/{release}/modules.dep"),
        Content::bytes(dep.to_text().map_err(|msg| ImageError::Modules {
            path: dir.to_path_buf(),
            msg,
        })?),
        0o644,
        epoch,
    )?;
    Ok(Modules {
        dep,
        builtin,
        generated: true,
    })
}

fn disk_file_name(spec: &Spec) -> String {
    let ext = match spec.format {
        DiskOutput::Raw => "img",
        _ => "vhd",
    };
    format!("{}.{ext}", spec.name)
}

/// Build the bundle for `spec` at `out`. `epoch` is `SOURCE_DATE_EPOCH`.
pub fn build(
    spec: &Spec,
    out: &Path,
    epoch: i64,
    disk: &dyn DiskWriter,
    step: &dyn Fn(&str),
) -> Result<BundleReport, ImageError> {
    spec.validate()?;
    step("kernel");
    // Used in place: streamed into the disk's /boot, copied into the
    // bundle, hashed once (the copy has the same bytes, so the same digest).
    let (kernel, head) = HostInput::open(&spec.kernel, "kernel")?;
    let bz = parse_bzimage(&head, &spec.kernel)?;
    let release = bz.release.clone();

    // Everything is written into a temporary directory beside `out`,
    // renamed into place at the end. Declared before `inputs`, so an early
    // error waits for the input threads before removing it.
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(ImageError::io(parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(".measured-image-")
        .tempdir_in(parent)
        .map_err(ImageError::io(parent))?;
    // Inputs are hashed on other cores while the disk is built; the kernel
    // is copied into the bundle in the same pass.
    let mut inputs = Pending(vec![copy_in_background(
        &kernel,
        tmp.path().join(format!("vmlinuz-{release}")),
    )]);

    step("rootfs");
    let mut tree = load_rootfs(spec, epoch)?;
    inputs.push({
        let (snapshot, label) = (tree.clone(), spec.rootfs.clone());
        in_background(move || sha_tree(&snapshot, &label))
    });

    step("modules");
    let modules = match &spec.modules {
        Some(src) => {
            let at = NamePath::parse(format!("/lib/modules/{release}"))?;
            if src.is_dir() {
                load_modules_dir(&mut tree, src, &release, &at, epoch)?;
                let mut sub = Tree::new(hostdir::meta(0o755, epoch));
                hostdir::load_into(&mut sub, src, &NamePath::root(), epoch)?;
                let label = src.clone();
                inputs.push(in_background(move || sha_tree(&sub, &label)));
            } else if src.is_file() {
                load_modules_tar(&mut tree, src, &release, &at, epoch)?;
                let label = src.clone();
                inputs.push(in_background(move || sha_file(&label)));
            } else {
                return Err(ImageError::Modules {
                    path: src.clone(),
                    msg: "modules directory or tarball not found".into(),
                });
            }
            Some(index_modules(&mut tree, src, &release, &at, epoch)?)
        }
        None => None,
    };

    step("initramfs");
    let mut initramfs_modules = Vec::new();
    let mut initrd_input = None;
    let initrd: Option<Out> = if let Some(p) = &spec.initrd {
        let (i, _) = HostInput::open(p, "initrd")?;
        inputs.push(copy_in_background(
            &i,
            tmp.path().join(format!("initrd.img-{release}")),
        ));
        initrd_input = Some(i.clone());
        Some(Out::Copy(i, inputs.len() - 1))
    } else {
        let mut loadable = Vec::new();
        if let Some(m) = modules
            .as_ref()
            .filter(|_| spec.initramfs != InitramfsMode::Never)
        {
            for want in &spec.root_modules {
                let n = want.replace('-', "_");
                if m.dep.path_of(&n).is_some() {
                    loadable.push(n);
                } else if !m.builtin.contains(&n) {
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
        if wanted {
            let busybox = match &spec.busybox {
                Some(p) => {
                    inputs.push(Hashing::Done(sha_file(p)?));
                    read_input(p, "busybox")?
                }
                None => {
                    let (_, id) = edit::resolve(&tree, "/bin/busybox").ok_or_else(|| ImageError::Rootfs {
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
                Ok(true) => {}
                Ok(false) => {
                    return Err(ImageError::Field {
                        field: "busybox",
                        msg: "busybox is dynamically linked; the initramfs needs a static one"
                            .into(),
                    });
                }
                Err(e) => {
                    return Err(ImageError::Field {
                        field: "busybox",
                        msg: format!("not an executable: {e}"),
                    });
                }
            }
            let m = modules.as_ref().ok_or_else(|| ImageError::Field {
                field: "modules",
                msg: "initramfs = \"always\" needs the kernel's modules".into(),
            })?;
            let refs: Vec<&str> = loadable.iter().map(String::as_str).collect();
            let order = m.dep.load_order(&refs).map_err(|msg| ImageError::Modules {
                path: spec.modules.clone().unwrap_or_default(),
                msg,
            })?;
            let mut files = Vec::new();
            for path in &order {
                let np = NamePath::parse(format!("/lib/modules/{release}/{path}"))?;
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
            initramfs_modules = order;
            let mtime = u32::try_from(epoch.max(0)).unwrap_or(u32::MAX);
            Some(Out::Mem(Arc::new(
                initramfs::build(&busybox, &release, &files, mtime)
                    .map_err(ImageError::io("initramfs"))?,
            )))
        } else {
            None
        }
    };

    step("edit rootfs");
    edit::install_kernel(
        &mut tree,
        &release,
        kernel.content(),
        initrd.as_ref().map(Out::content),
        epoch,
    )?;
    let init_system = edit::console_getty(&mut tree, &spec.console, spec.baud, epoch)?;
    edit::fstab_root(&mut tree, &spec.fs_type, epoch)?;

    disk.check_fits(&tree, spec)
        .map_err(|msg| ImageError::Field {
            field: "disk_size_mib",
            msg,
        })?;

    step("disk");
    let disk_name = disk_file_name(spec);
    disk.write_disk(&tree, spec, &tmp.path().join(&disk_name))
        .map_err(|msg| ImageError::Io {
            path: tmp.path().join(&disk_name),
            source: std::io::Error::other(msg),
        })?;

    step("vm definitions");
    let dom0 = spec
        .dom0_dir
        .clone()
        .unwrap_or_else(|| format!("/storage/{}", spec.name));
    let mut files: BTreeMap<String, Out> = BTreeMap::new();
    files.insert(format!("vmlinuz-{release}"), Out::Copy(kernel.clone(), 0));
    let has_initrd = initrd.is_some();
    if let Some(i) = initrd {
        files.insert(format!("initrd.img-{release}"), i);
    }
    let def = vmdef::VmDef {
        name: spec.name.clone(),
        uuid: spec.uuid(),
        memory_mib: spec.memory_mib,
        vcpus: spec.vcpus,
        virt_type: spec.virt_type,
        kernel: format!("{dom0}/vmlinuz"),
        kernel_in_disk: "/vmlinuz".into(),
        initrd: has_initrd.then(|| format!("{dom0}/initrd.img")),
        initrd_in_disk: has_initrd.then(|| "/initrd.img".into()),
        cmdline: spec.cmdline(),
        disk_path: format!("{dom0}/{disk_name}"),
        disk_format: if spec.format == DiskOutput::Raw {
            vmdef::DiskFormat::Raw
        } else {
            vmdef::DiskFormat::Vhd
        },
        flask_label: spec.flask_label.clone(),
        service_tag: spec
            .service_tag
            .clone()
            .unwrap_or_else(|| spec.name.clone()),
    };
    files.insert(
        format!("{}.cfg", spec.name),
        Out::Mem(Arc::new(vmdef::xl::xl_cfg(&def)?.into_bytes())),
    );
    files.insert(
        format!("{}.xml", spec.name),
        Out::Mem(Arc::new(vmdef::libvirt::domain_xml(&def)?.into_bytes())),
    );
    files.insert(
        "openxt-create.sh".into(),
        Out::Mem(Arc::new(vmdef::openxt::xec_script(&def)?.into_bytes())),
    );
    files.insert(
        format!("service-{}.json", def.service_tag),
        Out::Mem(Arc::new(vmdef::openxt::template_json(&def)?.into_bytes())),
    );
    // The disk is the one output not in memory: hash it from the file on
    // a second core while the other outputs are written and the inputs'
    // threads finish.
    let disk_path = tmp.path().join(&disk_name);
    let (inputs, mut outputs) = std::thread::scope(
        |scope| -> Result<(Vec<FileRecord>, Vec<FileRecord>), ImageError> {
            let disk_sha = scope.spawn(|| sha_file(&disk_path));
            for (name, data) in &files {
                if let Out::Mem(b) = data {
                    let p = tmp.path().join(name);
                    std::fs::write(&p, b.as_slice()).map_err(ImageError::io(&p))?;
                }
            }
            let inputs = inputs.join()?;
            let mut outputs = vec![];
            for (name, data) in &files {
                outputs.push(data.record(name, &inputs));
            }
            let mut r = disk_sha.join().expect("hashing thread panicked")?;
            r.path = disk_name.clone();
            outputs.push(r);
            Ok((inputs, outputs))
        },
    )?;
    outputs.sort_by(|a, b| a.path.cmp(&b.path));
    let report = BundleReport {
        name: spec.name.clone(),
        kernel_release: release,
        init_system,
        initramfs_modules,
        modules_dep_generated: modules.as_ref().is_some_and(|m| m.generated),
        spec: spec.clone(),
        inputs,
        outputs,
    };
    let json = serde_json::to_string_pretty(&report).expect("report serialises") + "\n";
    let bj = tmp.path().join("bundle.json");
    std::fs::write(&bj, json).map_err(ImageError::io(&bj))?;

    // What was hashed, copied and put on the disk came from these files:
    // they must still be the ones opened.
    kernel.check_unchanged()?;
    if let Some(i) = &initrd_input {
        i.check_unchanged()?;
    }

    step("rename");
    if out.exists() {
        if !out.join("bundle.json").exists() {
            return Err(ImageError::Io {
                path: out.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "exists and is not a bundle; refusing to replace it",
                ),
            });
        }
        std::fs::remove_dir_all(out).map_err(ImageError::io(out))?;
    }
    let kept = tmp.keep();
    std::fs::set_permissions(&kept, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(ImageError::io(&kept))?;
    std::fs::rename(&kept, out).map_err(|e| {
        let _ = std::fs::remove_dir_all(&kept);
        ImageError::Io {
            path: out.to_path_buf(),
            source: e,
        }
    })?;
    Ok(report)
}
