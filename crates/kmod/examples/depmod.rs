//! `depmod -b BASEDIR RELEASE` done by this crate: index
//! `BASEDIR/lib/modules/RELEASE` and write its index files there (each
//! through a temporary file renamed into place). For benchmarks against
//! kmod's depmod (scripts/bench.d/depmod.sh) and for trying the crate on a
//! module tree by hand. The default configuration applies (no depmod.d).

use std::path::{Path, PathBuf};

/// Every file under `dir`, relative, depth first in name order (symlinks
/// followed, as depmod follows them).
fn walk(
    depmod: &kmod::Depmod,
    dir: &Path,
    rel: &str,
    out: &mut Vec<String>,
) -> std::io::Result<()> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for n in names {
        if !depmod.walks(&n) {
            continue;
        }
        let p = dir.join(&n);
        let r = if rel.is_empty() {
            n.clone()
        } else {
            format!("{rel}/{n}")
        };
        if p.is_dir() {
            walk(depmod, &p, &r, out)?;
        } else if p.is_file() {
            out.push(r);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, release] = args.as_slice() else {
        return Err("usage: depmod BASEDIR RELEASE".into());
    };
    let dir = PathBuf::from(base).join("lib/modules").join(release);
    let mut depmod = kmod::Depmod::new(kmod::Config::default());
    let mut files = Vec::new();
    walk(&depmod, &dir, "", &mut files).map_err(|e| format!("{}: {e}", dir.display()))?;
    for f in &files {
        if depmod.wants(f) {
            depmod.add(f, std::fs::read(dir.join(f))?)?;
        }
    }
    let read = |n: &str| std::fs::read(dir.join(n)).ok();
    let (order, builtin, modinfo) = (
        read("modules.order"),
        read("modules.builtin"),
        read("modules.builtin.modinfo"),
    );
    let index = depmod.finish(kmod::TreeFiles {
        order: order.as_deref(),
        builtin: builtin.as_deref(),
        builtin_modinfo: modinfo.as_deref(),
    })?;
    for (name, bytes) in index.files {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, dir.join(name))?;
    }
    Ok(())
}
