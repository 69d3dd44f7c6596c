//! `measured build`: image build + DRTM prediction + sealing policy, as
//! memoised steps of one atomically replaced bundle (`bundle` crate).

mod launch;
mod policy;
mod record;
mod sign;

use std::path::{Path, PathBuf};

use anyhow::Context;
use bundle::spec::BuildSpec;
use bundle::{BundleBuilder, Commit, Phase, StepOutcome};
use clap::Args;
use serde::Serialize;

use crate::exit::Status;
use crate::outln;
use crate::output::Ctx;

/// The spec built when none is given.
pub const DEFAULT_SPEC: &str = "examples/service-vm.toml";

/// Arguments of `measured build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The build spec (TOML): the image spec's keys plus `[launch]` and
    /// `[policy]`. Default: examples/service-vm.toml.
    pub spec: Option<PathBuf>,
    /// The bundle directory (default: out/<name>). Replaced atomically.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
}

/// What `--json` prints.
#[derive(Serialize)]
struct Report {
    bundle: PathBuf,
    replaced: bool,
    steps: Vec<StepJson>,
    files: Vec<FileJson>,
    pcrs: Option<serde_json::Value>,
    policy_digest: Option<String>,
    /// The `PolicyAuthorize` digest to seal to, when the policy is signed.
    authorize_policy: Option<String>,
}

#[derive(Serialize)]
struct StepJson {
    name: String,
    built: bool,
    reasons: Vec<String>,
}

#[derive(Serialize)]
struct FileJson {
    path: String,
    size: u64,
    sha256: String,
}

/// Run `measured build`.
pub fn run(args: BuildArgs, ctx: &Ctx) -> anyhow::Result<Status> {
    let spec_path = args.spec.unwrap_or_else(|| PathBuf::from(DEFAULT_SPEC));
    let spec = BuildSpec::load(&spec_path)?;
    let out = args
        .out
        .unwrap_or_else(|| Path::new("out").join(&spec.image.name));
    let epoch = crate::cmd::build_epoch()?;

    let mut b = BundleBuilder::open(&out)?;
    let total = 2 + 2 * u64::from(spec.launch.is_some()) + u64::from(spec.sign.is_some());
    let bar = ctx.steps_bar(total, "build");
    {
        let bar = bar.clone();
        b.on_phase(move |p| match p {
            Phase::StepStarted(s) => bar.set_message(format!("{s}...")),
            Phase::StepDone(_) => bar.inc(1),
            _ => {}
        });
    }

    image_step(&mut b, &spec, epoch, ctx)?;
    if let Some(l) = &spec.launch {
        let kernel = b
            .output_named(|n| n.starts_with("vmlinuz-"))
            .context("the image step produced no kernel")?;
        let initramfs = b.output_named(|n| n.starts_with("initrd.img-"));
        let refs = launch::BundleRefs { kernel, initramfs };
        launch::predict_step(&mut b, &spec, l, &refs, ctx)?;
        policy::policy_step(&mut b, &spec)?;
        if let Some(s) = &spec.sign {
            sign::sign_step(&mut b, &spec, s)?;
        }
    }
    record::record_step(&mut b, &spec)?;
    let commit = b.commit()?;
    bar.finish_and_clear();
    report(&out, &commit, ctx)?;
    Ok(Status::Ok)
}

/// The image step, with its own progress bar over the pipeline's stages.
fn image_step(
    b: &mut BundleBuilder,
    spec: &BuildSpec,
    epoch: i64,
    ctx: &Ctx,
) -> anyhow::Result<StepOutcome> {
    let bar = ctx.steps_bar(image::pipeline::STAGES.len() as u64, "image");
    let on_stage = |s: &str| {
        bar.inc(1);
        bar.set_message(s.to_string());
    };
    let outcome = bundle::image_step::<anyhow::Error>(b, spec, epoch, &on_stage)?;
    bar.finish_and_clear();
    Ok(outcome)
}

fn report(out: &Path, c: &Commit, ctx: &Ctx) -> anyhow::Result<()> {
    let steps: Vec<StepJson> = c
        .steps
        .iter()
        .map(|s| StepJson {
            name: s.name.clone(),
            built: s.outcome != StepOutcome::Reused,
            reasons: match &s.outcome {
                StepOutcome::Built { reasons } => reasons.clone(),
                StepOutcome::Reused => vec![],
            },
        })
        .collect();
    let files: Vec<FileJson> = c
        .steps
        .iter()
        .flat_map(|s| s.outputs.iter())
        .map(|(p, o)| FileJson {
            path: p.clone(),
            size: o.size,
            sha256: o.sha256.to_hex(),
        })
        .collect();
    let pcrs: Option<serde_json::Value> = std::fs::read(out.join(launch::PCRS_JSON))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let policy_digest = std::fs::read_to_string(out.join(policy::DIGEST_HEX)).ok();
    let authorize_policy = std::fs::read(
        out.join(crate::cmd::signing::BUNDLE_DIR)
            .join(policysign::signed::files::AUTHORIZE_POLICY),
    )
    .ok()
    .map(hex::encode);
    if ctx.json {
        return ctx.print_json(&Report {
            bundle: out.to_path_buf(),
            replaced: c.replaced,
            steps,
            files,
            pcrs: pcrs.map(|v| v["pcrs"].clone()),
            policy_digest: policy_digest.map(|s| s.trim().to_string()),
            authorize_policy,
        });
    }
    for s in &steps {
        if s.built {
            outln!("  built   {:<10} ({})", s.name, s.reasons.join(", "));
        } else {
            outln!("  reused  {:<10} (inputs unchanged)", s.name);
        }
    }
    outln!();
    outln!("  {:<40} {:>12}  sha256", "file", "size");
    for f in &files {
        outln!("  {:<40} {:>12}  {}", f.path, f.size, &f.sha256[..16]);
    }
    if let Some(p) = pcrs {
        outln!();
        if let Some(map) = p["pcrs"].as_object() {
            for (pcr, banks) in map {
                if let Some(banks) = banks.as_object() {
                    for (bank, v) in banks {
                        outln!("  PCR{pcr:<3} {bank:<7} {}", v.as_str().unwrap_or("?"));
                    }
                }
            }
        }
    }
    if let Some(d) = policy_digest {
        outln!("  policy  {}", d.trim());
    }
    if let Some(d) = &authorize_policy {
        outln!(
            "  signed  {BUNDLE}/ (seal once to PolicyAuthorize {d})",
            BUNDLE = crate::cmd::signing::BUNDLE_DIR
        );
    }
    outln!();
    if c.replaced {
        outln!("bundle {} written", out.display());
    } else {
        outln!("bundle {} is up to date (nothing to do)", out.display());
    }
    Ok(())
}
