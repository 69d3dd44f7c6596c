//! Kernel modules in the image: the tree indexed as depmod would index it
//! (by the `kmod` crate, from the modules themselves), and the load order
//! of a set of modules with all their dependencies from `modules.dep`.

use std::collections::BTreeMap;
use std::path::Path;

use fstree::{Content, InodeId, Kind, NamePath, Tree};

use crate::edit;
use crate::error::ImageError;

/// The largest `modules.dep` text [`ModulesDep::to_text`] writes: 64 MiB
/// (a real kernel's is under 1 MiB).
pub const MAX_DEP_TEXT: usize = 64 << 20;

/// Module dependency table: module name (`_` form) -> its file (relative to
/// `/lib/modules/<ver>`) and direct dependencies by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModulesDep {
    modules: BTreeMap<String, (String, Vec<String>)>,
}

/// The canonical module name of a `.ko` path: the file name up to its
/// first `.`, `-` written `_` (as the kernel and kmod do).
pub use kmod::module_name;

impl ModulesDep {
    /// Parse `modules.dep` text: `path: dep_path dep_path...` per line.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ImageError> {
        let mut modules = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let (path, deps) = line.split_once(':').ok_or_else(|| ImageError::Modules {
                path: file.to_path_buf(),
                msg: format!(
                    "line {}: expected `module.ko: deps...`, found {line:?}",
                    i + 1
                ),
            })?;
            let path = path.trim();
            if !path.contains(".ko") {
                return Err(ImageError::Modules {
                    path: file.to_path_buf(),
                    msg: format!("line {}: {path:?} is not a .ko path", i + 1),
                });
            }
            let deps = deps.split_whitespace().map(module_name).collect();
            modules.insert(module_name(path), (path.to_string(), deps));
        }
        Ok(ModulesDep { modules })
    }

    /// The file of a module, if known.
    pub fn path_of(&self, name: &str) -> Option<&str> {
        self.modules
            .get(&name.replace('-', "_"))
            .map(|(p, _)| p.as_str())
    }

    /// `modules.dep` text in depmod's shape: each module with its full
    /// dependency closure, nearest-first (the reverse of load order). The
    /// closures of a long chain grow as its square: past [`MAX_DEP_TEXT`]
    /// bytes the table is refused.
    pub fn to_text(&self) -> Result<String, String> {
        let mut s = String::new();
        for (name, (path, _)) in &self.modules {
            s.push_str(path);
            s.push(':');
            if let Ok(order) = self.load_order(&[name.as_str()]) {
                for dep in order.iter().rev().skip(1) {
                    s.push(' ');
                    s.push_str(dep);
                }
            }
            s.push('\n');
            if s.len() > MAX_DEP_TEXT {
                return Err(format!(
                    "the dependency closures of {} modules exceed {MAX_DEP_TEXT} bytes of modules.dep",
                    self.modules.len()
                ));
            }
        }
        Ok(s)
    }

    /// The files to load, dependencies first, for `wanted` module names.
    /// A missing module or dependency, or a cycle, is an error naming it.
    /// Walked with an explicit stack: a chain of a million modules is a
    /// long list, not a deep recursion.
    pub fn load_order(&self, wanted: &[&str]) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        // false = in progress (on the stack), true = done.
        let mut state: BTreeMap<String, bool> = BTreeMap::new();
        for w in wanted {
            let root = w.replace('-', "_");
            let missing = |name: &str| {
                if name == root {
                    format!("module {name} not found")
                } else {
                    format!("module {name} (needed by {w}) not found")
                }
            };
            if state.get(&root) == Some(&true) {
                continue;
            }
            let deps_of = |name: &str| -> Result<&(String, Vec<String>), String> {
                self.modules.get(name).ok_or_else(|| missing(name))
            };
            deps_of(&root)?;
            state.insert(root.clone(), false);
            // (module, index of its next dependency to visit)
            let mut stack: Vec<(String, usize)> = vec![(root.clone(), 0)];
            while let Some((name, next)) = stack.pop() {
                let (path, deps) = deps_of(&name)?;
                match deps.get(next) {
                    Some(d) => {
                        stack.push((name, next + 1));
                        match state.get(d) {
                            Some(true) => {}
                            Some(false) => {
                                return Err(format!("dependency cycle through module {d}"));
                            }
                            None => {
                                deps_of(d)?;
                                state.insert(d.clone(), false);
                                stack.push((d.clone(), 0));
                            }
                        }
                    }
                    None => {
                        state.insert(name, true);
                        out.push(path.clone());
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The module tree now in the image, indexed.
#[derive(Debug, Clone)]
pub struct ModuleTree {
    /// `modules.dep` as written.
    pub dep: ModulesDep,
    /// Built-in module names (`modules.builtin`).
    pub builtin: Vec<String>,
    /// Index files written, by name.
    pub index_files: Vec<String>,
}

/// Directories kmod 30 reads `depmod.d` files from, in its order.
const DEPMOD_D: [&str; 4] = [
    "/etc/depmod.d",
    "/run/depmod.d",
    "/usr/local/lib/depmod.d",
    "/lib/depmod.d",
];

/// The rootfs's own `depmod.d` files as kmod lists them: by file name, a
/// name in an earlier directory hiding it in later ones.
fn depmod_config(tree: &Tree) -> Result<Vec<(String, String)>, ImageError> {
    let mut by_name: BTreeMap<Vec<u8>, String> = BTreeMap::new();
    for d in DEPMOD_D {
        let Some((real, id)) = edit::resolve(tree, d) else {
            continue;
        };
        let Some(entries) = tree.entries(id) else {
            continue;
        };
        for name in entries.keys() {
            if name.starts_with(b".") || name.len() < 6 || !name.ends_with(b".conf") {
                continue;
            }
            by_name
                .entry(name.clone())
                .or_insert_with(|| format!("{real}/{}", String::from_utf8_lossy(name)));
        }
    }
    let mut out = Vec::new();
    for path in by_name.into_values() {
        if let Some(text) = edit::read_file(tree, &path)? {
            out.push((path, String::from_utf8_lossy(&text).into_owned()));
        }
    }
    Ok(out)
}

/// Every file under the directory `at` that depmod would look at, as
/// (path relative to `at`, inode), depth first in name order. Symlinks
/// inside the tree are followed (to files and to directories, each
/// directory once) as depmod follows them.
fn module_files(
    tree: &Tree,
    at: &NamePath,
    depmod: &kmod::Depmod,
) -> Result<Vec<(String, InodeId)>, ImageError> {
    let root = tree.lookup(at).ok_or_else(|| ImageError::Rootfs {
        path: at.to_string(),
        msg: "modules directory vanished".into(),
    })?;
    let mut out = Vec::new();
    let mut seen_dirs = std::collections::HashSet::new();
    let mut stack = vec![(root, at.to_string(), String::new())];
    while let Some((dir, dir_path, rel)) = stack.pop() {
        if !seen_dirs.insert(dir) {
            continue;
        }
        let Some(entries) = tree.entries(dir) else {
            continue;
        };
        let mut subdirs = Vec::new();
        for (name, &child) in entries {
            let name = String::from_utf8_lossy(name).into_owned();
            if !depmod.walks(&name) {
                continue;
            }
            let path = format!("{dir_path}/{name}");
            let r = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let target = match &tree.inode(child).kind {
                Kind::Symlink(_) => match edit::resolve(tree, &path) {
                    Some((_, id)) => id,
                    None => continue, // dangling: depmod skips it too
                },
                _ => child,
            };
            match &tree.inode(target).kind {
                Kind::Dir(_) => subdirs.push((target, path, r)),
                Kind::File(_) => out.push((r, target)),
                _ => {}
            }
        }
        // Depth first in name order: the first subdirectory on top.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(out)
}

/// Index the module tree at `at` (`/lib/modules/<release>` resolved) the
/// way depmod would on the running system, from the modules' own
/// `.modinfo` and symbol tables, honouring the rootfs's `depmod.d`, and
/// write the index files beside the modules. `src` names the input in
/// errors.
pub fn index_tree(
    tree: &mut Tree,
    at: &NamePath,
    release: &str,
    src: &Path,
    epoch: i64,
) -> Result<ModuleTree, ImageError> {
    let cfg_files = depmod_config(tree)?;
    let config = kmod::Config::parse(&cfg_files, release).map_err(|e| ImageError::Rootfs {
        path: "depmod.d".into(),
        msg: e.to_string(),
    })?;
    let mut depmod = kmod::Depmod::new(config);
    let files = module_files(tree, at, &depmod)?;
    let modules_err = |e: kmod::DepmodError| ImageError::Modules {
        path: src.to_path_buf(),
        msg: e.to_string(),
    };
    for (rel, id) in &files {
        if !depmod.wants(rel) {
            continue;
        }
        let Kind::File(c) = &tree.inode(*id).kind else {
            continue;
        };
        let data = c.read_all().map_err(ImageError::io(src.join(rel)))?;
        depmod.add(rel, data).map_err(modules_err)?;
    }
    let read = |name: &str| -> Result<Option<Vec<u8>>, ImageError> {
        match tree
            .lookup(&at.join(name.as_bytes()))
            .map(|id| &tree.inode(id).kind)
        {
            Some(Kind::File(c)) => c
                .read_all()
                .map(Some)
                .map_err(ImageError::io(src.join(name))),
            _ => Ok(None),
        }
    };
    let (order, builtin, builtin_modinfo) = (
        read("modules.order")?,
        read("modules.builtin")?,
        read("modules.builtin.modinfo")?,
    );
    let index = depmod
        .finish(kmod::TreeFiles {
            order: order.as_deref(),
            builtin: builtin.as_deref(),
            builtin_modinfo: builtin_modinfo.as_deref(),
        })
        .map_err(modules_err)?;
    let mut names = Vec::new();
    let mut dep_text = String::new();
    for (name, bytes) in index.files {
        if name == "modules.dep" {
            dep_text = String::from_utf8_lossy(&bytes).into_owned();
        }
        edit::put_file(
            tree,
            &format!("{at}/{name}"),
            Content::bytes(bytes),
            0o644,
            epoch,
        )?;
        names.push(name.to_string());
    }
    Ok(ModuleTree {
        dep: ModulesDep::parse(&dep_text, &src.join("modules.dep"))?,
        builtin: builtin
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .lines()
                    .map(module_name)
                    .collect()
            })
            .unwrap_or_default(),
        index_files: names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
";

    #[test]
    fn load_order_puts_every_dependency_first_once() {
        let d = ModulesDep::parse(DEP, Path::new("modules.dep")).unwrap();
        let o = d.load_order(&["virtio_pci", "virtio-blk"]).unwrap();
        let pos = |n: &str| o.iter().position(|p| p.ends_with(n)).unwrap();
        assert_eq!(o.len(), 5);
        assert!(pos("/virtio.ko") < pos("virtio_pci.ko"));
        assert!(pos("virtio_pci_modern_dev.ko") < pos("virtio_pci.ko"));
        assert!(pos("virtio_ring.ko") < pos("virtio_blk.ko"));
    }

    #[test]
    fn missing_dependency_is_named() {
        let d = ModulesDep::parse("a.ko: b.ko\n", Path::new("m")).unwrap();
        let e = d.load_order(&["a"]).unwrap_err();
        assert!(e.contains("b (needed by a)"), "{e}");
    }

    #[test]
    fn cycle_is_an_error_not_a_hang() {
        let d = ModulesDep::parse("a.ko: b.ko\nb.ko: a.ko\n", Path::new("m")).unwrap();
        assert!(d.load_order(&["a"]).unwrap_err().contains("cycle"));
    }

    #[test]
    fn malformed_line_error_names_line() {
        let e = ModulesDep::parse("ok.ko:\ngarbage\n", Path::new("modules.dep")).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn generated_text_reparses_to_same_closure() {
        let d = ModulesDep::parse(DEP, Path::new("m")).unwrap();
        let again = ModulesDep::parse(&d.to_text().unwrap(), Path::new("m")).unwrap();
        let mut a = d.load_order(&["virtio_pci"]).unwrap();
        let b = again.load_order(&["virtio_pci"]).unwrap();
        // Any dependency-respecting order is fine; virtio_pci itself is last.
        assert_eq!(b.last(), a.last());
        let mut b2 = b.clone();
        a.sort();
        b2.sort();
        assert_eq!(a, b2);
        assert!(d.to_text().unwrap().contains(
            "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n"
        ));
    }

    #[test]
    fn a_chain_of_100000_modules_is_walked_without_recursion() {
        // Recursing once per dependency overflowed a thread's stack here.
        let n = 100_000;
        let mut text = String::with_capacity(n * 24);
        for i in 0..n {
            text.push_str(&format!("m{i}.ko: m{}.ko\n", i + 1));
        }
        text.push_str(&format!("m{n}.ko:\n"));
        let d = ModulesDep::parse(&text, Path::new("m")).unwrap();
        let o = d.load_order(&["m0"]).unwrap();
        assert_eq!(o.len(), n + 1);
        assert_eq!(
            (o[0].as_str(), o[n].as_str()),
            (format!("m{n}.ko").as_str(), "m0.ko")
        );
        // Depmod's text holds every module's closure: a chain's grows as
        // its square (here 300 modules with 4 KiB paths), refused past
        // MAX_DEP_TEXT.
        let dir = "d/".repeat(2000);
        let mut text = String::new();
        for i in 0..300 {
            text.push_str(&format!("{dir}m{i}.ko: {dir}m{}.ko\n", i + 1));
        }
        text.push_str(&format!("{dir}m300.ko:\n"));
        let e = ModulesDep::parse(&text, Path::new("m"))
            .unwrap()
            .to_text()
            .unwrap_err();
        assert!(e.contains("exceed"), "{e}");
        let cyc = ModulesDep::parse("a.ko: b.ko\nb.ko: a.ko\n", Path::new("m")).unwrap();
        assert!(cyc.load_order(&["a"]).unwrap_err().contains("cycle"));
    }
}
