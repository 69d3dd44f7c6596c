//! Our index files against kmod's own `depmod -b` on the same trees: the
//! Debian cloud kernel's 1100+ modules as packaged, compressed with xz and
//! zstd, with a module outside `modules.order`, with a second copy in
//! `updates/`, and without `modules.order`. Every file must be byte-equal;
//! `modprobe -d DIR --show-depends` and `modinfo -b` must also answer alike
//! for every module (they read the binary indexes we wrote).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kmod::{Config, Depmod, TreeFiles};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The unpacked Debian kernel package (fetched by ci/fetch-testdata.sh).
fn debian_modules() -> (PathBuf, String) {
    let root = repo().join("target/testdata/debian");
    if !root.join(".complete").exists() {
        let st = Command::new("bash")
            .arg(repo().join("ci/fetch-testdata.sh"))
            .status()
            .expect("running ci/fetch-testdata.sh");
        assert!(st.success(), "ci/fetch-testdata.sh failed");
    }
    let dir = root.join("root/lib/modules");
    let rel = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n != "current")
        .expect("a module tree in the kernel package");
    (dir.join(&rel), rel)
}

fn copy_tree(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Every file under `dir`, relative, depth first in name order.
fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in names {
        let p = dir.join(&n);
        let r = if rel.is_empty() {
            n.clone()
        } else {
            format!("{rel}/{n}")
        };
        if p.is_dir() {
            if n != "build" && n != "source" {
                walk(&p, &r, out);
            }
        } else {
            out.push(r);
        }
    }
}

/// Our index files for the module tree at `dir`.
fn ours(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = Vec::new();
    walk(dir, "", &mut files);
    let mut d = Depmod::new(Config::default());
    for f in &files {
        if d.wants(f) {
            d.add(f, std::fs::read(dir.join(f)).unwrap()).unwrap();
        }
    }
    let read = |n: &str| std::fs::read(dir.join(n)).ok();
    let (order, builtin, modinfo) = (
        read("modules.order"),
        read("modules.builtin"),
        read("modules.builtin.modinfo"),
    );
    d.finish(TreeFiles {
        order: order.as_deref(),
        builtin: builtin.as_deref(),
        builtin_modinfo: modinfo.as_deref(),
    })
    .unwrap()
    .files
    .into_iter()
    .map(|(n, b)| (n.to_string(), b))
    .collect()
}

/// Run `depmod -b base rel` and read back what it wrote.
fn theirs(base: &Path, rel: &str) -> BTreeMap<String, Vec<u8>> {
    let out = Command::new("depmod")
        .arg("-b")
        .arg(base)
        .arg(rel)
        .output()
        .expect("depmod (kmod) is installed by ci/install-oracles.sh");
    assert!(
        out.status.success(),
        "depmod: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = base.join("lib/modules").join(rel);
    ours_names()
        .into_iter()
        .map(|n| {
            let b = std::fs::read(dir.join(&n)).unwrap_or_else(|e| panic!("{n}: {e}"));
            (n, b)
        })
        .collect()
}

fn ours_names() -> Vec<String> {
    [
        "modules.dep",
        "modules.dep.bin",
        "modules.alias",
        "modules.alias.bin",
        "modules.softdep",
        "modules.symbols",
        "modules.symbols.bin",
        "modules.builtin.bin",
        "modules.builtin.alias.bin",
        "modules.devname",
    ]
    .map(String::from)
    .to_vec()
}

fn assert_same(ours: &BTreeMap<String, Vec<u8>>, theirs: &BTreeMap<String, Vec<u8>>, case: &str) {
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    for (n, b) in theirs {
        let o = &ours[n];
        if o != b {
            let at = o
                .iter()
                .zip(b)
                .position(|(x, y)| x != y)
                .unwrap_or(o.len().min(b.len()));
            panic!(
                "{case}: {n} differs from depmod's at byte {at} (ours {} bytes, depmod {} bytes)\nours:   {:?}\ndepmod: {:?}",
                o.len(),
                b.len(),
                String::from_utf8_lossy(&o[at.saturating_sub(40)..(at + 80).min(o.len())]),
                String::from_utf8_lossy(&b[at.saturating_sub(40)..(at + 80).min(b.len())]),
            );
        }
    }
}

/// A scratch `lib/modules/<rel>` holding a copy of the Debian tree.
fn scratch() -> (tempfile::TempDir, PathBuf, String) {
    let (src, rel) = debian_modules();
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("lib/modules")).unwrap();
    let dir = t.path().join("lib/modules").join(&rel);
    copy_tree(&src, &dir);
    (t, dir, rel)
}

fn compress(dir: &Path, every: usize, tool: &str) {
    let mut files = Vec::new();
    walk(dir, "", &mut files);
    for f in files.iter().filter(|f| f.ends_with(".ko")).step_by(every) {
        // xz removes its input by itself; zstd needs telling.
        let args: &[&str] = if tool == "zstd" {
            &["-q", "--rm"]
        } else {
            &["-q"]
        };
        let st = Command::new(tool)
            .args(args)
            .arg(dir.join(f))
            .status()
            .unwrap();
        assert!(st.success(), "{tool} {f}");
    }
}

#[test]
fn debian_tree_indexes_equal_depmods_byte_for_byte() {
    let (t, dir, rel) = scratch();
    let ours = ours(&dir);
    let theirs = theirs(t.path(), &rel);
    assert_same(&ours, &theirs, "debian");
    // Not vacuous: the tree has dependencies, aliases, symbols, devnames.
    let dep = String::from_utf8_lossy(&ours["modules.dep"]).into_owned();
    assert!(
        dep.contains("kernel/drivers/net/xen-netfront.ko:"),
        "{}",
        &dep[..300]
    );
    assert!(dep.lines().count() > 1000);
    assert!(!ours["modules.devname"].is_empty());
    assert!(ours["modules.symbols"].len() > 10_000);
}

#[test]
fn compressed_reordered_and_duplicated_modules_index_as_depmod_does() {
    let (t, dir, rel) = scratch();
    compress(&dir, 10, "xz");
    compress(&dir, 11, "zstd");
    // A module modules.order does not list, and a second copy of one in
    // updates/ (which must win), both sorted after the listed ones.
    let extra = dir.join("extra");
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::create_dir_all(dir.join("updates")).unwrap();
    let find = |name: &str| {
        let mut files = Vec::new();
        walk(&dir, "", &mut files);
        files
            .into_iter()
            .find(|f| f.rsplit('/').next().unwrap().starts_with(name))
            .unwrap()
    };
    let dummy = find("dummy.ko");
    std::fs::rename(
        dir.join(&dummy),
        extra.join(dummy.rsplit('/').next().unwrap()),
    )
    .unwrap();
    let netfront = find("xen-netfront.ko");
    std::fs::copy(
        dir.join(&netfront),
        dir.join("updates")
            .join(netfront.rsplit('/').next().unwrap()),
    )
    .unwrap();
    let ours_now = ours(&dir);
    let theirs_now = theirs(t.path(), &rel);
    assert_same(&ours_now, &theirs_now, "compressed+extra+updates");
    let dep = String::from_utf8_lossy(&ours_now["modules.dep"]).into_owned();
    assert!(
        dep.contains("updates/xen-netfront.ko"),
        "updates/ copy not taken"
    );
    assert!(dep.contains(".ko.xz:") && dep.contains(".ko.zst:"));

    // Without modules.order the list is kmod's hash order: still equal.
    std::fs::remove_file(dir.join("modules.order")).unwrap();
    let ours_now = ours(&dir);
    let theirs_now = theirs(t.path(), &rel);
    assert_same(&ours_now, &theirs_now, "no modules.order");

    // modprobe and modinfo, reading the indexes we wrote, agree with
    // themselves reading depmod's for every module.
    let names: Vec<String> = String::from_utf8_lossy(&ours_now["modules.dep"])
        .lines()
        .map(|l| kmod::module_name(l.split(':').next().unwrap()))
        .collect();
    // One run each over all modules: a process per module would cost a
    // minute on a loaded machine.
    let ask = |base: &Path| -> Vec<String> {
        let d = Command::new("modprobe")
            .arg("-d")
            .arg(base)
            .args(["-S", &rel, "-a", "--show-depends"])
            .args(&names)
            .output()
            .expect("modprobe (kmod)");
        assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stderr));
        let i = Command::new("modinfo")
            .arg("-b")
            .arg(base)
            .args(["-k", &rel, "-F", "filename"])
            .args(&names)
            .output()
            .expect("modinfo (kmod)");
        assert!(i.status.success(), "{}", String::from_utf8_lossy(&i.stderr));
        [d.stdout, i.stdout]
            .iter()
            .flat_map(|o| {
                String::from_utf8_lossy(o)
                    .lines()
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let with_depmods = ask(t.path());
    for (n, b) in &ours_now {
        std::fs::write(dir.join(n), b).unwrap();
    }
    let with_ours = ask(t.path());
    assert_eq!(with_ours, with_depmods);
    assert!(
        with_ours
            .iter()
            .any(|l| l.starts_with("insmod ") && l.contains("updates/xen-netfront.ko")),
        "{:?}",
        &with_ours[..3]
    );
    assert!(
        with_ours.len() > 2 * names.len(),
        "one line per module at least, twice"
    );
}
