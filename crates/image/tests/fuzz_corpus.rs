//! Every committed fuzz seed runs through its parser (no panic), so CI
//! exercises the fuzz targets' inputs without cargo-fuzz.

use std::path::Path;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(format!("image_{target}"));
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (p.display().to_string(), std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no seeds in {}", dir.display());
    v
}

#[test]
fn bzimage_seeds_parse_or_error_without_panic() {
    let mut ok = 0;
    for (name, data) in seeds("bzimage") {
        if let Ok(k) = image::kernel::parse_bzimage(&data, Path::new(&name)) {
            assert!(!k.release.is_empty());
            ok += usize::from(!name.contains("regression-"));
        }
    }
    assert_eq!(ok, 1, "exactly the good seed parses");
}

#[test]
fn modules_dep_seeds_parse_or_error_without_panic() {
    for (name, data) in seeds("modules_dep") {
        let text = String::from_utf8_lossy(&data);
        if let Ok(d) = image::modules::ModulesDep::parse(&text, Path::new(&name)) {
            let _ = d.load_order(&["a", "virtio_blk"]);
            let _ = d.to_text();
        }
    }
}

#[test]
fn static_elf_seeds_parse_or_error_without_panic() {
    for (name, data) in seeds("static_elf") {
        let r = image::elf::is_static(&data);
        if name.ends_with("busybox-head.bin") {
            // The headers of Debian's busybox-static: no PT_INTERP.
            assert_eq!(r, Ok(true), "{name}");
        }
    }
}

#[test]
fn spec_seeds_parse_and_validate() {
    for (name, data) in seeds("spec") {
        let Ok(text) = String::from_utf8(data) else {
            continue;
        };
        let parsed = text
            .parse::<toml::Table>()
            .map_err(|e| e.to_string())
            .and_then(|t| {
                let base = Path::new("/nonexistent");
                image::spec::Spec::from_table(t, base, &base.join("spec.toml"))
                    .map_err(|e| e.to_string())
            });
        if name.contains("regression-") {
            continue;
        }
        let spec = parsed.unwrap_or_else(|e| panic!("{name}: {e}"));
        spec.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!spec.cmdline().is_empty());
    }
}
