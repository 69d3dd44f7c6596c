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
use crate::modules::{ModuleTree, index_tree};
use crate::spec::{InitramfsMode, Spec};
use crate::{elf, hostdir};

/// Writes the edited tree as a filesystem inside a disk image.
pub trait DiskWriter {
    /// Write `tree` as `spec.fs_type` filling a `spec.disk_size_mib` disk in
    /// `spec.format` to `out` (a new file in the bundle's temp directory).
    /// An OS error keeps its kind (a full disk stays `StorageFull`).
    fn write_disk(&self, tree: &Tree, spec: &Spec, out: &Path) -> std::io::Result<()>;

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
    /// The module index files written beside the modules (`modules.dep`,
    /// `modules.alias.bin`, ...), computed from the modules themselves.
    pub module_index: Vec<String>,
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
        return hostdir::load_rootfs(&spec.rootfs, epoch, spec.owners);
    }
    let mut tree = rootfs::load(&spec.rootfs).map_err(|e| ImageError::Rootfs {
        path: spec.rootfs.display().to_string(),
        msg: e.to_string(),
    })?;
    if spec.owners == crate::spec::Owners::Root {
        for (_, id) in tree.walk() {
            let ino = tree.inode_mut(id);
            hostdir::map_owner(&mut ino.meta, ino.kind.is_dir(), spec.owners, None);
        }
    }
    Ok(tree)
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
    let config = crate::kernel::config_beside(&spec.kernel, release).or_else(|| {
        edit::read_file(tree, &format!("/boot/config-{release}"))
            .ok()
            .flatten()
            .map(|t| crate::kernel::KernelConfig::parse(&String::from_utf8_lossy(&t)))
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

/// Build the bundle for `spec` at `out`, replacing it atomically: it is
/// assembled in a staging directory beside `out` and swapped in whole,
/// under `out`'s lock (the same as `measured build`'s). `out` must be
/// absent, empty or one of our bundles. `epoch` is `SOURCE_DATE_EPOCH`.
pub fn build(
    spec: &Spec,
    out: &Path,
    epoch: i64,
    disk: &dyn DiskWriter,
    step: &dyn Fn(&str),
) -> Result<BundleReport, ImageError> {
    // Every name is checked before the output directory is touched.
    spec.validate()?;
    let dir = outputs::BundleDir::open(out)?;
    // Earlier releases assembled the bundle in `.measured-image-XXXXXX`.
    outputs::legacy::remove_image_staging_dirs(dir.parent());
    let report = build_into(spec, dir.staging(), epoch, disk, step)?;
    step("rename");
    dir.swap()?.finish()?;
    Ok(report)
}

/// Write the bundle's files for `spec` into `dir`, an empty directory the
/// caller swaps into place (an error leaves files in it for the caller to
/// remove with it).
pub fn build_into(
    spec: &Spec,
    dir: &Path,
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
    outputs::check_file_name("kernel release", &release).map_err(|e| ImageError::Kernel {
        path: spec.kernel.clone(),
        msg: e.to_string(),
    })?;

    // Inputs are hashed on other cores while the disk is built; the kernel
    // is copied into the bundle in the same pass. An early error drops
    // `inputs`, which waits for those threads before the caller removes
    // the directory they write into.
    let mut inputs = Pending(vec![copy_in_background(
        &kernel,
        dir.join(format!("vmlinuz-{release}")),
    )]);

    step("rootfs");
    let mut tree = load_rootfs(spec, epoch)?;
    inputs.push({
        let (snapshot, label) = (tree.clone(), spec.rootfs.clone());
        in_background(move || sha_tree(&snapshot, &label))
    });

    step("modules");
    // Modules go where the rootfs's kmod looks: `/lib/modules`, through a
    // merged-/usr `/lib -> usr/lib` link.
    let modules_dir = edit::real_dir(&mut tree, "/lib/modules", epoch)?;
    let at = modules_dir.join(release.as_bytes());
    let modules: Option<ModuleTree> = match &spec.modules {
        Some(src) => {
            // The given modules replace any the rootfs carried for this release.
            if let Some((parent, name)) = at.split_last() {
                let dir = tree.lookup(&parent).expect("made by real_dir");
                tree.unlink(dir, name);
            }
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
            Some(index_tree(&mut tree, &at, &release, src, epoch)?)
        }
        // A rootfs that carries this kernel's modules (a distribution
        // kernel package) has its tree indexed in place.
        None if tree
            .lookup(&at)
            .is_some_and(|id| tree.inode(id).kind.is_dir()) =>
        {
            let label = PathBuf::from(format!("rootfs:{at}"));
            Some(index_tree(&mut tree, &at, &release, &label, epoch)?)
        }
        None => None,
    };
    check_root_drivers(spec, modules.as_ref(), &tree, &release)?;

    step("initramfs");
    let mut initramfs_modules = Vec::new();
    let mut initrd_input = None;
    let initrd: Option<Out> = if let Some(p) = &spec.initrd {
        let (i, _) = HostInput::open(p, "initrd")?;
        inputs.push(copy_in_background(
            &i,
            dir.join(format!("initrd.img-{release}")),
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
    let init_system = edit::console_getty(
        &mut tree,
        &spec.init_path(),
        &spec.console,
        spec.baud,
        epoch,
    )?;
    edit::fstab_root(&mut tree, &spec.fs_type, epoch)?;

    disk.check_fits(&tree, spec)
        .map_err(|msg| ImageError::Field {
            field: "disk_size_mib",
            msg,
        })?;

    step("disk");
    let disk_name = spec.disk_file_name();
    disk.write_disk(&tree, spec, &dir.join(&disk_name))
        .map_err(ImageError::io(dir.join(&disk_name)))?;

    step("vm definitions");
    let mut files: BTreeMap<String, Out> = BTreeMap::new();
    files.insert(format!("vmlinuz-{release}"), Out::Copy(kernel.clone(), 0));
    let has_initrd = initrd.is_some();
    if let Some(i) = initrd {
        files.insert(format!("initrd.img-{release}"), i);
    }
    let def = spec.vm_def(Some(&release), has_initrd);
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
    let disk_path = dir.join(&disk_name);
    let (inputs, mut outputs) = std::thread::scope(
        |scope| -> Result<(Vec<FileRecord>, Vec<FileRecord>), ImageError> {
            let disk_sha = scope.spawn(|| sha_file(&disk_path));
            for (name, data) in &files {
                if let Out::Mem(b) = data {
                    let p = dir.join(name);
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
    // Records name inputs relative to the spec: the same spec gives the same
    // bundle.json however it was named on the command line.
    let mut inputs = inputs;
    for r in &mut inputs {
        r.path = spec.recorded(Path::new(&r.path));
    }
    let report = BundleReport {
        name: spec.name.clone(),
        kernel_release: release,
        init_system,
        initramfs_modules,
        module_index: modules.map(|m| m.index_files).unwrap_or_default(),
        spec: spec.recorded_spec(),
        inputs,
        outputs,
    };
    let json = serde_json::to_string_pretty(&report).expect("report serialises") + "\n";
    let bj = dir.join("bundle.json");
    std::fs::write(&bj, json).map_err(ImageError::io(&bj))?;

    // What was hashed, copied and put on the disk came from these files:
    // they must still be the ones opened.
    kernel.check_unchanged()?;
    if let Some(i) = &initrd_input {
        i.check_unchanged()?;
    }

    Ok(report)
}
