//! Kernel modules: `modules.dep` (as shipped, or derived from each `.ko`'s
//! `.modinfo` `depends=` when the package left it to `depmod`), and the
//! load order of a set of modules with all their dependencies.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::ImageError;

/// Module dependency table: module name (`_` form) -> its file (relative to
/// `/lib/modules/<ver>`) and direct dependencies by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModulesDep {
    modules: BTreeMap<String, (String, Vec<String>)>,
}

/// The canonical module name of a `.ko` path: basename without the
/// extension(s), `-` written `_` (as the kernel and depmod do).
pub fn module_name(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let stem = base.split(".ko").next().unwrap_or(base);
    stem.replace('-', "_")
}

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

    /// Add one module (used when deriving the table from `.modinfo`).
    pub fn insert(&mut self, path: String, deps: Vec<String>) {
        self.modules.insert(module_name(&path), (path, deps));
    }

    /// The file of a module, if known.
    pub fn path_of(&self, name: &str) -> Option<&str> {
        self.modules
            .get(&name.replace('-', "_"))
            .map(|(p, _)| p.as_str())
    }

    /// `modules.dep` text in depmod's shape: each module with its full
    /// dependency closure, nearest-first (the reverse of load order).
    pub fn to_text(&self) -> String {
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
        }
        s
    }

    /// The files to load, dependencies first, for `wanted` module names.
    /// A missing module or dependency, or a cycle, is an error naming it.
    pub fn load_order(&self, wanted: &[&str]) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let mut state: BTreeMap<String, bool> = BTreeMap::new(); // false = in progress
        for w in wanted {
            self.visit(&w.replace('-', "_"), &mut state, &mut out, w)?;
        }
        Ok(out)
    }

    fn visit(
        &self,
        name: &str,
        state: &mut BTreeMap<String, bool>,
        out: &mut Vec<String>,
        root: &str,
    ) -> Result<(), String> {
        match state.get(name) {
            Some(true) => return Ok(()),
            Some(false) => return Err(format!("dependency cycle through module {name}")),
            None => {}
        }
        let (path, deps) = self.modules.get(name).ok_or_else(|| {
            if name == root {
                format!("module {name} not found")
            } else {
                format!("module {name} (needed by {root}) not found")
            }
        })?;
        state.insert(name.to_string(), false);
        for d in deps {
            self.visit(d, state, out, root)?;
        }
        state.insert(name.to_string(), true);
        out.push(path.clone());
        Ok(())
    }
}

/// `depends=` of a module's ELF `.modinfo` section (empty if none).
pub fn modinfo_depends(elf: &[u8], file: &Path) -> Result<Vec<String>, ImageError> {
    let err = |msg: String| ImageError::Modules {
        path: file.to_path_buf(),
        msg,
    };
    let sec = crate::elf::section(elf, b".modinfo").map_err(|e| err(e.to_string()))?;
    let Some(data) = sec else {
        return Err(err("no .modinfo section: not a kernel module".into()));
    };
    for field in data.split(|&b| b == 0) {
        if let Some(v) = field.strip_prefix(b"depends=") {
            let v = std::str::from_utf8(v).map_err(|_| err("depends= is not UTF-8".into()))?;
            return Ok(v
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.replace('-', "_"))
                .collect());
        }
    }
    Ok(Vec::new())
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
        let again = ModulesDep::parse(&d.to_text(), Path::new("m")).unwrap();
        let mut a = d.load_order(&["virtio_pci"]).unwrap();
        let b = again.load_order(&["virtio_pci"]).unwrap();
        // Any dependency-respecting order is fine; virtio_pci itself is last.
        assert_eq!(b.last(), a.last());
        let mut b2 = b.clone();
        a.sort();
        b2.sort();
        assert_eq!(a, b2);
        assert!(d.to_text().contains(
            "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n"
        ));
    }
}
