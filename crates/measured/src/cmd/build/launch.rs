//! The `predict` step: the DRTM launch the spec's `[launch]` describes,
//! predicted with the `txt` crate, written as `pcrs.json` and as the TCG
//! agile event log the TXT heap will hold (`txt-eventlog.bin`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use bundle::spec::{BuildSpec, LaunchSpec, ModuleSource, VlPolicy};
use bundle::{BundleBuilder, StepOutcome, StepSpec};
use tcg::HashAlg;
use tcg::log::{AgileLogWriter, EventType};

use crate::output::Ctx;

/// `pcrs.json` in the bundle.
pub const PCRS_JSON: &str = "pcrs.json";
/// The predicted values as `tpm2_pcrread` prints them, to `diff` on the machine.
pub const PCRS_YAML: &str = "pcrs.yaml";
/// The predicted TXT event log in the bundle.
pub const EVENT_LOG: &str = "txt-eventlog.bin";

const PREDICT_STEP_VERSION: u32 = 3;

/// Bundle-relative names of the image step's kernel and initramfs.
pub struct BundleRefs {
    /// `vmlinuz-<release>`.
    pub kernel: String,
    /// `initrd.img-<release>`, when the image has one.
    pub initramfs: Option<String>,
}

/// A module resolved to where its bytes are.
struct Module {
    name: String,
    /// Host path, or bundle-relative path.
    at: ModuleAt,
    cmdline: String,
    decompress: bool,
}

enum ModuleAt {
    Host(PathBuf),
    Bundle(String),
}

/// Run (or reuse) the prediction.
pub fn predict_step(
    b: &mut BundleBuilder,
    spec: &BuildSpec,
    l: &LaunchSpec,
    refs: &BundleRefs,
    ctx: &Ctx,
) -> anyhow::Result<StepOutcome> {
    let mut step = StepSpec::new("predict")
        .version(PREDICT_STEP_VERSION)
        .file("launch.platform", &l.platform.value)
        .file("launch.sinit", &l.sinit.value)
        .file("launch.tboot", &l.tboot.value)
        .bytes("launch.tboot_cmdline", l.tboot_cmdline.clone())
        .produces(PCRS_JSON)
        .produces(PCRS_YAML)
        .produces(EVENT_LOG);
    step = match &l.policy.value {
        VlPolicy::Default => step.bytes("launch.policy", "default"),
        VlPolicy::File(p) => step.file("launch.policy", p),
    };

    let mut modules = Vec::new();
    for (i, m) in l.modules.iter().enumerate() {
        let at = match &m.value.source {
            ModuleSource::File(p) => ModuleAt::Host(p.clone()),
            ModuleSource::BundleKernel => ModuleAt::Bundle(refs.kernel.clone()),
            ModuleSource::BundleInitramfs => match &refs.initramfs {
                Some(r) => ModuleAt::Bundle(r.clone()),
                None => {
                    return Err(spec
                        .error_at(
                            m.line,
                            "launch.modules.file: bundle:initramfs, but this image has no initramfs \
                             (its kernel needs no modules to reach the root disk, or initramfs = \"never\")",
                        )
                        .into());
                }
            },
        };
        let name = match &at {
            ModuleAt::Host(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string()),
            ModuleAt::Bundle(r) => r.clone(),
        };
        step = match &at {
            ModuleAt::Host(p) => step.file(format!("launch.modules[{i}].file"), p),
            ModuleAt::Bundle(r) => step.output(r.clone()),
        };
        step = step
            .bytes(
                format!("launch.modules[{i}].cmdline"),
                m.value.cmdline.clone(),
            )
            .bytes(
                format!("launch.modules[{i}].decompress"),
                [u8::from(m.value.decompress)],
            );
        modules.push(Module {
            name,
            at,
            cmdline: m.value.cmdline.clone(),
            decompress: m.value.decompress,
        });
    }

    // A tb_policy naming modules the launch does not have would make
    // tboot measure something other than what the spec says.
    if let VlPolicy::File(p) = &l.policy.value {
        let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        let pol = txt::TbPolicy::parse(&bytes)
            .map_err(|e| spec.error_at(l.policy.line, format!("launch.policy: {e}")))?;
        for e in &pol.entries {
            if e.mod_num < 128 && usize::from(e.mod_num) >= modules.len() {
                return Err(spec
                    .error_at(
                        l.policy.line,
                        format!(
                            "launch.policy: {} has an entry for module {}, but [launch] lists {} module(s)",
                            p.display(),
                            e.mod_num,
                            modules.len()
                        ),
                    )
                    .into());
            }
        }
    }

    // Where each event's input came from, for pcrs.json.
    let mut sources: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (label, p) in [
        ("acm", &l.sinit.value),
        ("tboot", &l.tboot.value),
        ("profile", &l.platform.value),
    ] {
        sources.insert(label.into(), (spec.recorded(p), b.digest_file(p)?.to_hex()));
    }
    match &l.policy.value {
        VlPolicy::File(p) => {
            sources.insert(
                "policy".into(),
                (spec.recorded(p), b.digest_file(p)?.to_hex()),
            );
        }
        // No file: tboot's built-in policy for its version (the events carry its bytes).
        VlPolicy::Default => {
            sources.insert(
                "default policy".into(),
                ("builtin:tboot".into(), String::new()),
            );
        }
    }
    for m in &modules {
        let v = match &m.at {
            ModuleAt::Host(p) => (spec.recorded(p), b.digest_file(p)?.to_hex()),
            ModuleAt::Bundle(r) => (
                format!("bundle:{r}"),
                b.output(r).map(|o| o.sha256.to_hex()).unwrap_or_default(),
            ),
        };
        sources.insert(m.name.clone(), v);
    }

    let bar = ctx.bytes_bar(0, "predict");
    let outcome = b.step(step, |dir: &Path| -> anyhow::Result<()> {
        // The bytes hashing the modules reads, now that bundle files exist.
        let mut total = 0;
        for m in &modules {
            let p = match &m.at {
                ModuleAt::Host(p) => p.clone(),
                ModuleAt::Bundle(r) => dir.join(r),
            };
            total += crate::cmd::drtm::module_hashed_len(&p, m.decompress)
                .with_context(|| format!("reading {}", p.display()))?;
        }
        bar.set_length(total);
        bar.set_style(ctx.bytes_style());
        let text = std::fs::read_to_string(&l.platform.value)
            .with_context(|| format!("reading {}", l.platform.value.display()))?;
        let is_json = l.platform.value.extension().is_some_and(|e| e == "json");
        let profile = if is_json {
            txt::Profile::from_json(&text).map_err(|e| e.to_string())
        } else {
            txt::Profile::from_toml(&text).map_err(|e| e.to_string())
        }
        .map_err(|e| {
            spec.error_at(
                l.platform.line,
                format!("launch.platform: {}: {e}", l.platform.value.display()),
            )
        })?;
        let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
        let policy = match &l.policy.value {
            VlPolicy::Default => txt::PolicySource::Default,
            VlPolicy::File(p) => txt::PolicySource::Nv(read(p)?),
        };
        let inputs = txt::LaunchInputs {
            profile,
            acm: read(&l.sinit.value)?,
            tboot: read(&l.tboot.value)?,
            tboot_cmdline: l.tboot_cmdline.clone(),
            policy,
            modules: modules
                .iter()
                .map(|m| txt::ModuleInput {
                    name: m.name.clone(),
                    cmdline: m.cmdline.clone(),
                    data: txt::ModuleData::Path(match &m.at {
                        ModuleAt::Host(p) => p.clone(),
                        ModuleAt::Bundle(r) => dir.join(r),
                    }),
                    decompress: m.decompress,
                })
                .collect(),
        };
        let pred = txt::predict_with_progress(&inputs, |n| bar.inc(n))
            .map_err(|e| spec.error_at(l.line, format!("[launch]: {e}")))?;
        write_new(&dir.join(PCRS_JSON), &pcrs_json(&pred, &sources))?;
        write_new(&dir.join(EVENT_LOG), &event_log(&pred))?;
        write_new(
            &dir.join(PCRS_YAML),
            crate::cmd::drtm::pcrread_yaml(&pred).as_bytes(),
        )?;
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(outcome)
}

fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// `pcrs.json`: exactly what `measured --json drtm predict` prints for the same launch
/// (banks, tboot version, OsSinitData caps, `pcrs` PCR-first, the ordered events with
/// their `source`), plus `inputs`: for each event source, the input file (relative to
/// the spec, or `bundle:NAME`) and its sha256. Every command that reads PCR values takes it.
fn pcrs_json(p: &txt::Prediction, sources: &BTreeMap<String, (String, String)>) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Input<'a> {
        file: &'a str,
        sha256: Option<&'a str>,
    }
    #[derive(serde::Serialize)]
    struct PcrsJson<'a> {
        #[serde(flatten)]
        prediction: &'a txt::Prediction,
        inputs: BTreeMap<&'a str, Input<'a>>,
    }
    let doc = PcrsJson {
        prediction: p,
        inputs: sources
            .iter()
            .map(|(k, (file, sha256))| {
                let sha256 = (!sha256.is_empty()).then_some(sha256.as_str());
                (k.as_str(), Input { file, sha256 })
            })
            .collect(),
    };
    let mut v = serde_json::to_vec_pretty(&doc).expect("json serialises");
    v.push(b'\n');
    v
}

/// The predicted TXT log in TCG agile format, over the banks every DRTM
/// event carries (tboot's fixed `extpol` leaves other banks without events).
fn event_log(p: &txt::Prediction) -> Vec<u8> {
    let drtm: Vec<&txt::Event> = p
        .events
        .iter()
        .filter(|e| (17..=22).contains(&e.pcr))
        .collect();
    let algs: Vec<HashAlg> = p
        .banks
        .iter()
        .copied()
        .filter(|a| drtm.iter().all(|e| e.digests.contains_key(a)))
        .collect();
    let mut w = AgileLogWriter::new(&algs);
    for e in drtm {
        let digests: Vec<Vec<u8>> = algs.iter().map(|a| e.digests[a].0.clone()).collect();
        w.push(
            e.pcr,
            EventType::from_u32(e.event_type),
            &digests,
            &e.data.0,
        );
    }
    w.into_bytes()
}
