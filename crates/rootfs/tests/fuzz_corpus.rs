//! Runs every committed fuzz seed through its parser, so CI exercises the
//! corpora without cargo-fuzz: the seeds must load cleanly, and inputs
//! that once crashed a target (`regression-*`, saved by scripts/fuzz.sh)
//! must be errors, not panics.

use std::path::Path;

fn seeds(dir: &str) -> Vec<std::path::PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut v: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no seeds in {}", d.display());
    v
}

fn is_regression(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("regression-"))
}

#[test]
fn ext_reader_seed_corpus_loads() {
    for p in seeds("../../fuzz/corpus/extfs_read_image") {
        let r = extfs::read::read_bytes(std::fs::read(&p).unwrap());
        if is_regression(&p) {
            continue;
        }
        assert!(r.unwrap().tree.inode_count() >= 4, "{}", p.display());
    }
}

#[test]
fn tar_loader_seed_corpus_loads() {
    for p in seeds("../../fuzz/corpus/rootfs_tar_load") {
        let r = rootfs::load_tar(&p);
        if is_regression(&p) {
            continue;
        }
        assert!(r.unwrap().inode_count() >= 3, "{}", p.display());
    }
}
