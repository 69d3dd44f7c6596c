//! Runs every committed fuzz seed through its parser, so CI exercises the
//! corpora without cargo-fuzz: the seeds must load cleanly.

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

#[test]
fn ext_reader_seed_corpus_loads() {
    for p in seeds("../extfs/fuzz/corpus/read_image") {
        let t = extfs::read::read_bytes(std::fs::read(&p).unwrap()).unwrap();
        assert!(t.tree.inode_count() >= 4, "{}", p.display());
    }
}

#[test]
fn tar_loader_seed_corpus_loads() {
    for p in seeds("fuzz/corpus/tar_load") {
        let t = rootfs::load_tar(&p).unwrap();
        assert!(t.inode_count() >= 3, "{}", p.display());
    }
}
