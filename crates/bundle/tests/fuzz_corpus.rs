//! Every committed fuzz seed goes through its parser (no panic), so CI
//! exercises the cargo-fuzz targets' inputs without cargo-fuzz.

use std::path::Path;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(format!("bundle_{target}"));
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
fn build_spec_seeds_give_a_located_error_without_panic() {
    for (name, data) in seeds("build_spec") {
        if name.contains("regression-") {
            // Once crashed the fuzz target: an answer now, any answer.
            if let Ok(text) = String::from_utf8(data) {
                let _ = bundle::spec::BuildSpec::parse(Path::new("/nonexistent/spec.toml"), text);
            }
            continue;
        }
        let text = String::from_utf8(data).unwrap();
        // The seeds name files under a directory that does not exist, so
        // every one must fail, and with a line inside the text.
        match bundle::spec::BuildSpec::parse(Path::new("/nonexistent/spec.toml"), text.clone()) {
            Ok(_) => panic!("{name}: parsed although its files do not exist"),
            Err(bundle::spec::SpecError::At { line, .. }) => {
                assert!(
                    line >= 1 && line <= text.lines().count().max(1),
                    "{name}: line {line}"
                )
            }
            Err(e) => panic!("{name}: error without a line: {e}"),
        }
    }
}

#[test]
fn manifest_seeds_parse_only_when_valid() {
    let mut ok = Vec::new();
    for (name, data) in seeds("manifest") {
        if let Some(m) = bundle::Manifest::from_bytes(&data) {
            assert_eq!(bundle::Manifest::from_bytes(&m.to_bytes()), Some(m));
            if !name.contains("regression-") {
                ok.push(name);
            }
        }
    }
    assert_eq!(ok.len(), 1, "only good.json is a manifest: {ok:?}");
    assert!(ok[0].ends_with("good.json"));
}
