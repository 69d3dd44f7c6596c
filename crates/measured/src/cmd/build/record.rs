//! The `record` step: `bundle.json`, every input and output of every step
//! of the build, written last.
//!
//! Host paths are named relative to the spec (absolute only when outside its
//! directory), so the same spec gives the same bytes whether it was named by a
//! relative or an absolute path. Nothing in it depends on the run (no times,
//! no built/reused flags): two clean builds of the same inputs are identical.

use std::path::Path;

use anyhow::Context;
use bundle::spec::{BuildSpec, ModuleSource, VlPolicy};
use bundle::{BundleBuilder, IMAGE_REPORT, Input, StepOutcome, StepSpec};
use serde_json::{Map, Value, json};

/// The bundle's record.
pub const BUNDLE_JSON: &str = "bundle.json";

const RECORD_STEP_VERSION: u32 = 1;

/// Write (or reuse) `bundle.json` from the steps run so far.
pub fn record_step(b: &mut BundleBuilder, spec: &BuildSpec) -> anyhow::Result<StepOutcome> {
    let doc = record(b, spec)?;
    let mut bytes = serde_json::to_vec_pretty(&doc)?;
    bytes.push(b'\n');
    let step = StepSpec::new("record")
        .version(RECORD_STEP_VERSION)
        .bytes("record", bytes.clone())
        .produces(BUNDLE_JSON);
    b.step(step, |dir: &Path| -> anyhow::Result<()> {
        let p = dir.join(BUNDLE_JSON);
        std::fs::write(&p, &bytes).with_context(|| format!("writing {}", p.display()))
    })
}

/// Parameter bytes as text when they are text, else hex.
fn bytes_value(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) if s.chars().all(|c| !c.is_control() || c == '\n' || c == '\t') => s.into(),
        _ => json!({ "hex": hex::encode(b) }),
    }
}

fn record(b: &BundleBuilder, spec: &BuildSpec) -> anyhow::Result<Value> {
    let image_report = b.staging_dir().join(IMAGE_REPORT);
    let image: Value = serde_json::from_slice(
        &std::fs::read(&image_report)
            .with_context(|| format!("reading {}", image_report.display()))?,
    )
    .with_context(|| format!("parsing {}", image_report.display()))?;

    let mut doc = Map::new();
    // The image report's description of the VM (what `image build` records).
    for k in [
        "name",
        "kernel_release",
        "init_system",
        "initramfs_modules",
        "module_index",
        "spec",
    ] {
        doc.insert(k.into(), image[k].clone());
    }
    doc.insert(
        "build_spec".into(),
        spec.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .into(),
    );
    doc.insert("launch".into(), launch(spec));
    doc.insert("policy".into(), json!({ "pcrs": spec.pcrs.to_string() }));

    // Every host input of every step, once, with size and sha256: the image
    // step's own records (directories as its sorted tree manifest), then the
    // files the other steps read.
    let mut inputs: Vec<Value> = image["inputs"].as_array().cloned().unwrap_or_default();
    let mut steps = Vec::new();
    for r in b.reports() {
        let mut ins = Vec::new();
        for i in &r.inputs {
            let mut v = Map::new();
            v.insert("label".into(), i.label.clone().into());
            // A step keys a file on a digest of its data that skips holes;
            // the record gives the sha256 of its bytes, as sha256sum does.
            let mut sha256 = i.sha256.to_hex();
            match &i.input {
                Input::File(p) => {
                    let path = spec.recorded(p);
                    v.insert("file".into(), path.clone().into());
                    let (digest, size) = bundle::ContentDigest::of_file(p)?;
                    sha256 = digest.to_hex();
                    if r.name != "image" && !inputs.iter().any(|x| x["path"] == path.as_str()) {
                        inputs.push(json!({
                            "path": path,
                            "size": size,
                            "sha256": sha256,
                        }));
                    }
                }
                Input::Dir(p) => {
                    v.insert("dir".into(), spec.recorded(p).into());
                }
                Input::Output(rel) => {
                    v.insert("output".into(), rel.clone().into());
                }
                Input::Bytes(bytes) => {
                    v.insert("value".into(), bytes_value(bytes));
                }
            }
            v.insert("sha256".into(), sha256.into());
            ins.push(Value::Object(v));
        }
        let outs: Vec<Value> = r
            .outputs
            .iter()
            .map(|(p, o)| json!({ "path": p, "size": o.size, "sha256": o.sha256.to_hex() }))
            .collect();
        steps.push(json!({ "name": r.name, "inputs": ins, "outputs": outs }));
    }
    let mut outputs: Vec<Value> = b
        .reports()
        .iter()
        .flat_map(|r| r.outputs.iter())
        .map(|(p, o)| json!({ "path": p, "size": o.size, "sha256": o.sha256.to_hex() }))
        .collect();
    outputs.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    doc.insert("inputs".into(), inputs.into());
    doc.insert("outputs".into(), outputs.into());
    doc.insert("steps".into(), steps.into());
    Ok(Value::Object(doc))
}

/// `[launch]` as the spec gave it, paths relative to the spec.
fn launch(spec: &BuildSpec) -> Value {
    let Some(l) = &spec.launch else {
        return Value::Null;
    };
    let modules: Vec<Value> = l
        .modules
        .iter()
        .map(|m| {
            let file = match &m.value.source {
                ModuleSource::File(p) => spec.recorded(p),
                other => other.label(),
            };
            json!({
                "file": file,
                "cmdline": m.value.cmdline,
                "decompress": m.value.decompress,
            })
        })
        .collect();
    json!({
        "platform": spec.recorded(&l.platform.value),
        "sinit": spec.recorded(&l.sinit.value),
        "tboot": spec.recorded(&l.tboot.value),
        "tboot_cmdline": l.tboot_cmdline,
        "policy": match &l.policy.value {
            VlPolicy::Default => "default".to_string(),
            VlPolicy::File(p) => spec.recorded(p),
        },
        "modules": modules,
    })
}
