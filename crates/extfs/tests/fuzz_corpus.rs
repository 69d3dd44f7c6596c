//! Every seed of the `disk` fuzz target, and every truncation and
//! single-byte corruption of it, goes through the decoders without panic.

use std::path::Path;

#[test]
fn disk_seed_corpus_decodes_and_corruptions_do_not_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/extfs_disk");
    let mut seeds = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let regression = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("regression-"));
        assert!(
            regression || extfs::disk::probe(&data) > 0,
            "{} decodes as something",
            path.display()
        );
        for n in 0..data.len() {
            extfs::disk::probe(&data[..n]);
        }
        let mut bad = data.clone();
        for i in 0..bad.len() {
            bad[i] ^= 0xA5;
            extfs::disk::probe(&bad);
            bad[i] ^= 0xA5;
        }
        seeds += 1;
    }
    assert!(seeds >= 8, "seed corpus present");
}
