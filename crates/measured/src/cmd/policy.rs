//! `measured policy`: TPM policy digests computed in software.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use tcg::policy::{PcrSelection, PolicyDigest, policy_or_tree, tpm12_composite_digest};
use tcg::{EventLog, HashAlg, PcrValues, replay};

use crate::exit::Status;
use crate::outln;
use crate::output::Ctx;

mod sign;

// The `policy` subcommands. A plain comment: clap would show a doc comment here as
// the group's description, in place of the one on its variant in `main.rs`.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum PolicyCommand {
    /// TPM2_PolicyPCR digest for a PCR selection and its values.
    Pcr {
        /// PCR values: JSON (bank- or PCR-first, a bundle's `pcrs.json`, `drtm predict --json` or
        /// `log replay --json` output), `tpm2_pcrread` YAML, a sysfs TPM directory, or the raw
        /// concatenated values `tpm2_createpolicy --policy-pcr -f` takes.
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with = "log",
            required_unless_present = "log"
        )]
        pcrs: Option<PathBuf>,
        /// Take the values from replaying this event log instead.
        #[arg(long, value_name = "LOG")]
        log: Option<PathBuf>,
        /// Selection in tpm2-tools syntax (`tpm2_createpolicy -l`), e.g. `sha256:17,18,19`
        /// or `sha1:0+sha256:7`. Required: a policy over no PCR binds nothing.
        #[arg(
            short = 'l',
            long = "select",
            visible_alias = "pcr-list",
            value_name = "SEL"
        )]
        select: String,
        /// Policy hash algorithm (the sealed object's nameAlg).
        #[arg(long, default_value = "sha256")]
        alg: HashAlg,
        /// Write the binary digest here (as `tpm2_createpolicy -L`).
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        /// Also write the selected values in `tpm2_createpolicy -f` layout here.
        #[arg(long, value_name = "FILE")]
        values_out: Option<PathBuf>,
    },
    /// TPM2_PolicyOR over any number of branch digests (hex); more than 8 are chained.
    Or {
        /// Branch policy digests, hex.
        branches: Vec<String>,
        /// Policy hash algorithm.
        #[arg(long, default_value = "sha256")]
        alg: HashAlg,
    },
    /// TPM2_PolicyAuthorize by a signing key's name: what to seal to once.
    Authorize {
        /// The key's TPM name (nameAlg || digest), hex.
        #[arg(long, required_unless_present = "key", conflicts_with = "key")]
        name: Option<String>,
        /// The signing key instead: a PEM public or private key (named as
        /// `tpm2_loadexternal -G rsa|ecc -u` names it), or a TPM2B_PUBLIC
        /// (`tpm2_readpublic -o`, a bundle's `policy/signed/signing-key.pub`).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Write the binary digest here (as `tpm2_policyauthorize -L`).
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        /// policyRef, hex (default empty).
        #[arg(long, default_value = "")]
        policy_ref: String,
        /// Policy hash algorithm.
        #[arg(long, default_value = "sha256")]
        alg: HashAlg,
    },
    /// Sign predicted launches for TPM2_PolicyAuthorize (see docs/sealing.md).
    Sign(sign::SignArgs),
    /// TPM 1.2 digestAtRelease (SHA1 of TPM_PCR_COMPOSITE) for SHA1 PCR values.
    Tpm12 {
        /// PCR values (JSON bank- or PCR-first, a bundle's `pcrs.json`, `drtm predict --json`
        /// output, `tpm2_pcrread` YAML or sysfs; the sha1 bank is used).
        #[arg(long, value_name = "FILE")]
        pcrs: PathBuf,
        /// The PCRs: `17,18,19` or in tpm2-tools syntax `sha1:17,18,19` (TPM 1.2 has only
        /// the sha1 bank). Required: a policy over no PCR binds nothing.
        #[arg(
            short = 'l',
            long = "select",
            visible_alias = "pcr-list",
            value_name = "SEL"
        )]
        select: String,
    },
}

/// Write to a temporary file beside `path`, then rename: no partial
/// output, a mode that follows the umask.
fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    Ok(outputs::write_file(path, bytes)?)
}

fn load_values(path: &Path, sel: &PcrSelection) -> anyhow::Result<PcrValues> {
    if !path.is_dir() {
        let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let textual = raw
            .iter()
            .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
        if !textual {
            return sel
                .split_values(&raw)
                .with_context(|| format!("raw PCR values {}", path.display()));
        }
    }
    load_text_values(path)
}

/// JSON (every layout `tcg::PcrValues::from_json` reads), YAML or sysfs values.
fn load_text_values(path: &Path) -> anyhow::Result<PcrValues> {
    Ok(PcrValues::load(path)?)
}

/// The PCR indices of a TPM 1.2 selection: `17,18,19` or `sha1:17,18,19`.
fn tpm12_selection(text: &str) -> anyhow::Result<Vec<u32>> {
    let list = match text.split_once(':') {
        Some((bank, list)) => {
            let alg: HashAlg = bank.trim().parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            anyhow::ensure!(
                alg == HashAlg::Sha1 && !list.contains('+'),
                "--select {text:?}: a TPM 1.2 has only the sha1 bank (expected e.g. sha1:17,18,19)"
            );
            list
        }
        None => text,
    };
    let sel: PcrSelection = format!("sha1:{list}")
        .parse()
        .with_context(|| format!("--select {text:?}"))?;
    Ok(sel.banks[0].1.clone())
}

/// The TPM name of a signing key file: a TPM2B_PUBLIC, or a PEM key.
fn key_name(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if !bytes.starts_with(b"-----BEGIN") && !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let p = policysign::TpmPublic::parse(&bytes)
            .with_context(|| format!("{}: neither PEM nor a TPM2B_PUBLIC", path.display()))?;
        return Ok(p.name());
    }
    if bytes.windows(8).any(|w| w == b"PRIVATE ") {
        crate::cmd::signing::warn_if_loose(path);
    }
    let m = policysign::key::read_public(path)?;
    Ok(policysign::TpmPublic::loadexternal(m).name())
}

/// Run one `policy` subcommand.
pub fn run(cmd: PolicyCommand, ctx: &Ctx) -> anyhow::Result<Status> {
    let (alg, digest, extra) = match cmd {
        PolicyCommand::Pcr {
            pcrs,
            log,
            select,
            alg,
            output,
            values_out,
        } => {
            let sel: PcrSelection = select.parse()?;
            // Where the values came from, for a value the selection lacks.
            let source = pcrs
                .as_ref()
                .or(log.as_ref())
                .map(|p| p.display().to_string());
            let values = match (pcrs, log) {
                (Some(p), _) => load_values(&p, &sel)?,
                (None, Some(l)) => {
                    let log =
                        EventLog::read(&l).with_context(|| format!("event log {}", l.display()))?;
                    let r = replay(&log);
                    let mut v = PcrValues::default();
                    for b in r.banks.banks() {
                        for pcr in 0..24 {
                            v.insert(b.alg(), pcr, b.get(pcr as usize).to_vec());
                        }
                    }
                    v
                }
                (None, None) => bail!("give --pcrs or --log"),
            };
            let mut p = PolicyDigest::new(alg);
            p.policy_pcr(&sel, &values)
                .with_context(|| source.clone().unwrap_or_default())?;
            if let Some(o) = output {
                write_atomic(&o, p.digest())?;
            }
            if let Some(o) = values_out {
                write_atomic(&o, &sel.values(&values)?)?;
            }
            (alg, p.digest().to_vec(), sel.to_string())
        }
        PolicyCommand::Or { branches, alg } => {
            let b = branches
                .iter()
                .map(|h| hex::decode(h).with_context(|| format!("branch {h:?} is not hex")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let levels = policy_or_tree(alg, &b)?;
            let root = levels.last().expect("root")[0].clone();
            (alg, root, format!("{} levels", levels.len() - 1))
        }
        PolicyCommand::Authorize {
            name,
            key,
            output,
            policy_ref,
            alg,
        } => {
            let n = match (name, key) {
                (Some(name), _) => hex::decode(&name).context("--name is not hex")?,
                (None, Some(k)) => key_name(&k)?,
                (None, None) => bail!("give --name or --key"),
            };
            let r = hex::decode(&policy_ref).context("--policy-ref is not hex")?;
            let mut p = PolicyDigest::new(alg);
            p.policy_authorize(&n, &r);
            if let Some(o) = output {
                write_atomic(&o, p.digest())?;
            }
            (alg, p.digest().to_vec(), hex::encode(&n))
        }
        PolicyCommand::Sign(a) => return sign::run(a, ctx),
        PolicyCommand::Tpm12 { pcrs, select } => {
            let select = tpm12_selection(&select)?;
            let v = load_text_values(&pcrs)?;
            let mut list = Vec::new();
            for p in select {
                let val = v
                    .get(HashAlg::Sha1, p)
                    .with_context(|| format!("{}: no sha1 PCR{p}", pcrs.display()))?;
                list.push((p, val.try_into().expect("sha1 values are 20 bytes")));
            }
            (
                HashAlg::Sha1,
                tpm12_composite_digest(&list).to_vec(),
                String::new(),
            )
        }
    };
    if ctx.json {
        ctx.print_json(&serde_json::json!({
            "alg": alg,
            "digest": hex::encode(&digest),
            "detail": extra,
        }))?;
    } else {
        outln!("{}", hex::encode(&digest));
    }
    Ok(Status::Ok)
}
