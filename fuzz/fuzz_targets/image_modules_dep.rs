#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(dep) = image::modules::ModulesDep::parse(&text, std::path::Path::new("fuzz")) {
        let first = text.split(':').next().unwrap_or("");
        let _ = dep.load_order(&[&image::modules::module_name(first)]);
        let _ = dep.to_text();
    }
});
