//! The fuzz seed corpus, and deterministic mutations of it, go through the
//! reader and the checker without a panic: the fuzz target's contract,
//! exercised on every test run.

use std::path::Path;

fn exercise(path: &Path) {
    if let Ok(v) = vhd::Vhd::open(path) {
        let mut buf = vec![0u8; 64 * 1024];
        for (o, l) in v.data_ranges().into_iter().take(64) {
            let _ = v.read_at(o, &mut buf[..(l.min(65536)) as usize]);
        }
    }
    let _ = vhd::check(path);
}

#[test]
fn seed_corpus_and_its_mutations_never_panic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/open");
    let dir = tempfile::tempdir().unwrap();
    let mut seeds = 0;
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        exercise(&path);
        seeds += 1;
        let m = dir.path().join("m.vhd");
        // Truncations at every sector boundary and odd lengths near the end.
        for cut in (0..data.len())
            .step_by(512)
            .chain(data.len().saturating_sub(600)..data.len())
        {
            std::fs::write(&m, &data[..cut]).unwrap();
            exercise(&m);
        }
        // Each byte of the footer, header and BAT flipped; every fourth also
        // set to 0x00 and 0xFF.
        let meta = data.len().min(2048);
        for i in (0..meta).chain(data.len().saturating_sub(512)..data.len()) {
            let values: &[u8] = if i % 4 == 0 {
                &[0x00, 0xFF, data[i] ^ 0x80]
            } else {
                &[data[i] ^ 0xFF]
            };
            for &v in values {
                let mut d = data.clone();
                d[i] = v;
                std::fs::write(&m, &d).unwrap();
                exercise(&m);
            }
        }
    }
    assert!(seeds >= 6, "seed corpus missing: {corpus:?}");
}
