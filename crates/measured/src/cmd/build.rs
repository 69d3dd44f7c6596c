//! `measured build`: image build + DRTM prediction + sealing policy, as
//! memoised steps of one atomically replaced bundle (`bundle` crate).

mod launch;
mod policy;
mod record;
mod sign;

use std::path::{Path, PathBuf};

use anyhow::Context;
use bundle::spec::BuildSpec;
use bundle::{BundleBuilder, Commit, Phase, StepOutcome, StepSpec};
use clap::Args;
use serde::Serialize;

use crate::exit::Status;
use crate::outln;
use crate::output::Ctx;

/// The spec built when none is given.
pub const DEFAULT_SPEC: &str = "examples/service-vm.toml";

/// Bump when a step's output for the same inputs changes.
const IMAGE_STEP_VERSION: u32 = 2;

/// The image step's own report (what `measured image build` calls
/// bundle.json); the bundle's `bundle.json` records every step.
pub const IMAGE_REPORT: &str = "image.json";

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

/// The image step: everything `measured image build` makes.
fn image_step(
    b: &mut BundleBuilder,
    spec: &BuildSpec,
    epoch: i64,
    ctx: &Ctx,
) -> anyhow::Result<StepOutcome> {
    let im = &spec.image;
    let mut step = StepSpec::new("image")
        .version(IMAGE_STEP_VERSION)
        .bytes("image spec", spec.image_toml.clone())
        .bytes("SOURCE_DATE_EPOCH", epoch.to_string())
        .path("rootfs", &im.rootfs)
        .file("kernel", &im.kernel);
    // A directory rootfs under `owners = "auto"` maps the builder's own
    // files to root: who builds is an input.
    if im.owners == image::spec::Owners::Auto && im.rootfs.is_dir() {
        // SAFETY: geteuid/getegid take no arguments, touch no memory of
        // ours and cannot fail.
        let who = unsafe { format!("{}:{}", libc::geteuid(), libc::getegid()) };
        step = step.bytes("builder uid:gid", who);
    }
    for (label, p) in [
        ("modules", &im.modules),
        ("initrd", &im.initrd),
        ("busybox", &im.busybox),
    ] {
        if let Some(p) = p {
            step = step.path(label, p);
        }
    }
    let bar = ctx.steps_bar(image::pipeline::STAGES.len() as u64, "image");
    let outcome = b.step(step, |dir: &Path| -> anyhow::Result<()> {
        let on_step = |s: &str| {
            bar.inc(1);
            bar.set_message(s.to_string());
        };
        image::pipeline::build_into(im, dir, epoch, &on_step).map_err(|e| {
            // Point at the spec key an image error is about; an OS error
            // (a full disk) is not the spec's fault and keeps its cause.
            let key = match &e {
                image::ImageError::Field { field, .. } => *field,
                image::ImageError::Kernel { .. } => "kernel",
                image::ImageError::Modules { .. } => "modules",
                image::ImageError::Rootfs { .. }
                | image::ImageError::UnknownInit
                | image::ImageError::Path(_) => "rootfs",
                _ => return anyhow::Error::new(e),
            };
            spec.error_at(spec.line_of_key(key), e.to_string()).into()
        })?;
        // In a build bundle, bundle.json is the build's record: the image
        // step's own record is kept beside it under its own name.
        let report = dir.join("bundle.json");
        std::fs::rename(&report, dir.join(IMAGE_REPORT))
            .with_context(|| format!("moving {}", report.display()))?;
        Ok(())
    })?;
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
