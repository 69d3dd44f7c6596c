//! `measured policy sign`: sign existing predictions for
//! `TPM2_PolicyAuthorize`, into an approval directory replaced atomically
//! (the bundle mechanism, one step), laid out as a build's `policy/signed/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use bundle::{BundleBuilder, StepSpec};
use clap::Args;
use policysign::{Approval, TpmKey};
use tcg::policy::PcrSelection;

use crate::cmd::signing::{self, KeySource};
use crate::exit::Status;
use crate::outln;
use crate::output::Ctx;

const SIGN_STEP_VERSION: u32 = 1;

/// Arguments of `measured policy sign`.
#[derive(Args, Debug)]
pub struct SignArgs {
    /// Predicted launches to approve: bundle directories, `pcrs.json` files or
    /// `measured --json drtm predict` output. Several give a PolicyOR of them.
    #[arg(required = true, value_name = "PREDICTION")]
    predictions: Vec<PathBuf>,
    /// The signing key: a PEM private key (RSA 2048/3072, ECC P-256/P-384).
    #[arg(
        long,
        value_name = "PEM",
        conflicts_with = "tpm_key",
        required_unless_present = "tpm_key"
    )]
    key: Option<PathBuf>,
    /// A signing key held in a TPM: a persistent handle (0x81000010) or a
    /// context file; tpm2-tools reach the TPM through TPM2TOOLS_TCTI.
    #[arg(long, value_name = "HANDLE")]
    tpm_key: Option<String>,
    /// The TPM key's authorization, in tpm2-tools syntax (e.g. `file:PATH`).
    #[arg(long, value_name = "AUTH", conflicts_with = "key")]
    tpm_auth: Option<String>,
    /// PCR selection (tpm2-tools syntax). Default: the bundles'
    /// `policy/pcr-selection.txt`, else `sha256:17,18,19`.
    #[arg(long)]
    select: Option<String>,
    /// policyRef, hex (default empty).
    #[arg(long, default_value = "")]
    policy_ref: String,
    /// The approval directory to write (replaced atomically).
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,
}

/// The selection: given, or the bundles' own (they must agree).
fn selection(args: &SignArgs) -> anyhow::Result<PcrSelection> {
    if let Some(s) = &args.select {
        return Ok(s.parse()?);
    }
    let mut found: Option<(String, &Path)> = None;
    for p in &args.predictions {
        let f = p.join("policy/pcr-selection.txt");
        if !p.is_dir() || !f.is_file() {
            continue;
        }
        let s = std::fs::read_to_string(&f)
            .with_context(|| format!("reading {}", f.display()))?
            .trim()
            .to_string();
        match &found {
            Some((other, at)) if *other != s => bail!(
                "{} selects {s}, {} selects {other}: give --select",
                p.display(),
                at.display()
            ),
            _ => found = Some((s, p)),
        }
    }
    Ok(found
        .map(|(s, _)| s)
        .unwrap_or_else(|| "sha256:17,18,19".into())
        .parse()?)
}

/// `-o` may name a new or empty directory, or an approval this command
/// wrote before; never a build bundle or anything else, which replacing
/// would destroy.
fn check_out(out: &Path) -> anyhow::Result<()> {
    if !out.exists() {
        return Ok(());
    }
    let empty = out.is_dir()
        && std::fs::read_dir(out)
            .with_context(|| format!("listing {}", out.display()))?
            .next()
            .is_none();
    let ours = bundle::Manifest::load(out).is_some_and(|m| m.steps.keys().eq(["sign"]));
    if !empty && !ours {
        bail!(
            "-o {}: exists and is not an approval directory written by `measured policy sign`; \
             give a new directory",
            out.display()
        );
    }
    Ok(())
}

/// Run `measured policy sign`.
pub fn run(args: SignArgs, ctx: &Ctx) -> anyhow::Result<Status> {
    check_out(&args.out)?;
    let sel = selection(&args)?;
    let policy_ref = hex::decode(&args.policy_ref).context("--policy-ref is not hex")?;
    let source = match (&args.key, &args.tpm_key) {
        (Some(k), _) => KeySource::Pem(k.clone()),
        (None, Some(t)) => KeySource::Tpm(TpmKey {
            context: t.clone(),
            auth: args.tpm_auth.clone(),
            tcti: None,
        }),
        (None, None) => bail!("give --key PEM or --tpm-key HANDLE"),
    };
    let mut launches = Vec::new();
    for p in &args.predictions {
        launches.push(signing::launch(p.display().to_string(), p)?);
    }
    // Check the approval before touching the key or the output.
    let approval = Approval::new(&sel, &launches, &policy_ref)?;
    let signer = signing::open_signer(&source)?;

    let mut b = BundleBuilder::open(&args.out)?;
    let mut step = StepSpec::new("sign")
        .version(SIGN_STEP_VERSION)
        .bytes("select", sel.to_string())
        .bytes("key (public name)", signer.public().name())
        .bytes("policy_ref", policy_ref.clone());
    for (i, p) in args.predictions.iter().enumerate() {
        let file = if p.is_dir() {
            p.join("pcrs.json")
        } else {
            p.clone()
        };
        step = step
            .bytes(format!("prediction[{i}]"), p.display().to_string())
            .file(format!("prediction[{i}] file"), file);
    }
    let mut signed = None;
    b.step(step, |dir: &Path| -> anyhow::Result<()> {
        let s = signer.sign(approval)?;
        signing::write_approval(dir, &s)?;
        signed = Some(s);
        Ok(())
    })?;
    let commit = b.commit()?;
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(args.out.join(policysign::signed::files::JSON))
            .context("reading the approval back")?,
    )?;
    if ctx.json {
        ctx.print_json(&serde_json::json!({
            "out": args.out,
            "replaced": commit.replaced,
            "approval": doc,
        }))?;
    } else {
        let s = |k: &str| doc[k].as_str().unwrap_or("?").to_string();
        outln!(
            "key name         {}",
            doc["key"]["name"].as_str().unwrap_or("?")
        );
        outln!("approved policy  {}", s("approved_policy"));
        outln!("aHash            {}", s("ahash"));
        outln!(
            "seal to          {}  (PolicyAuthorize)",
            s("authorize_policy")
        );
        outln!(
            "{} {}",
            if signed.is_some() {
                "written"
            } else {
                "up to date"
            },
            args.out.display()
        );
    }
    Ok(Status::Ok)
}
