//! The committed fuzz seeds (real Debian modules, plain and xz, zstd and
//! gzip compressed, and a truncated one) run through the fuzz target's
//! calls: real modules read with their facts, the truncated one is an
//! error naming what is missing, nothing panics.

use std::path::Path;

#[test]
fn module_seeds_read_or_fail_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/kmod_module");
    let mut seen = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&p).unwrap();
        let r = kmod::read_module(data.clone());
        if name.starts_with("truncated") {
            let e = r.unwrap_err().to_string();
            assert!(!e.is_empty());
        } else {
            let f = r.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(f.modinfo.iter().any(|m| m.key == "license"), "{name}");
            assert!(!f.needs.is_empty(), "{name}");
            let mut d = kmod::Depmod::new(kmod::Config::default());
            d.add(&format!("kernel/{name}"), data).unwrap();
            let idx = d.finish(kmod::TreeFiles::default()).unwrap();
            let dep = String::from_utf8(idx.get("modules.dep").unwrap().to_vec()).unwrap();
            assert_eq!(dep, format!("kernel/{name}:\n"));
        }
        seen += 1;
    }
    assert_eq!(seen, 6);
}
