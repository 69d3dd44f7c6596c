//! `measured policy`: TPM policy digests computed in software.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Map, Value};
use tcg::policy::{PcrSelection, PolicyDigest, policy_or_tree, tpm12_composite_digest};
use tcg::{EventLog, HashAlg, PcrValues, replay};

use crate::exit::Status;
use crate::output::Ctx;

/// The `policy` subcommands.
#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// TPM2_PolicyPCR digest for a PCR selection and its values.
    Pcr {
        /// PCR values: JSON (bank- or PCR-first, or `drtm predict --json` output), `tpm2_pcrread` YAML, a sysfs TPM directory, or the raw
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
        /// Selection in tpm2-tools syntax, e.g. `sha256:0,2,4,7` or `sha1:0+sha256:7`.
        #[arg(long)]
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
    /// TPM2_PolicyAuthorize by a signing key's name.
    Authorize {
        /// The key's TPM name (nameAlg || digest), hex.
        #[arg(long)]
        name: String,
        /// policyRef, hex (default empty).
        #[arg(long, default_value = "")]
        policy_ref: String,
        /// Policy hash algorithm.
        #[arg(long, default_value = "sha256")]
        alg: HashAlg,
    },
    /// TPM 1.2 digestAtRelease (SHA1 of TPM_PCR_COMPOSITE) for SHA1 PCR values.
    Tpm12 {
        /// PCR values (JSON bank- or PCR-first, `measured --json drtm predict`
        /// output, `tpm2_pcrread` YAML or sysfs; the sha1 bank is used).
        #[arg(long, value_name = "FILE")]
        pcrs: PathBuf,
        /// PCR indices, e.g. `17,18,19`.
        #[arg(long, value_delimiter = ',')]
        select: Vec<u32>,
    },
}

fn write_atomic(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(data)?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
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

/// JSON, YAML or sysfs values; JSON may be bank-first (`{"sha1": {"17": ..}}`),
/// PCR-first (`{"17": {"sha1": ..}}`) or the whole `measured --json drtm
/// predict` output, whose `pcrs` is PCR-first.
fn load_text_values(path: &Path) -> anyhow::Result<PcrValues> {
    if !path.is_dir() {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        if text.trim_start().starts_with('{') {
            let v: Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not JSON", path.display()))?;
            let banks = bank_first(v).with_context(|| path.display().to_string())?;
            return Ok(PcrValues::from_json(
                &banks.to_string(),
                &path.display().to_string(),
            )?);
        }
    }
    Ok(PcrValues::load(path)?)
}

/// Turn PCR-first JSON (or a prediction holding it under `pcrs`) bank-first;
/// bank-first JSON passes unchanged.
fn bank_first(v: Value) -> anyhow::Result<Value> {
    let v = match v {
        Value::Object(mut o) if o.get("pcrs").is_some_and(Value::is_object) => {
            o.remove("pcrs").expect("checked")
        }
        other => other,
    };
    let Value::Object(o) = v else {
        return Ok(v);
    };
    let mut keys = o.keys().filter(|k| !k.starts_with('_')).peekable();
    let pcr_first = keys.peek().is_some() && keys.all(|k| k.parse::<u32>().is_ok());
    if !pcr_first {
        return Ok(Value::Object(o));
    }
    let mut out = Map::new();
    for (pcr, banks) in o.iter().filter(|(k, _)| !k.starts_with('_')) {
        let banks = banks
            .as_object()
            .with_context(|| format!("PCR {pcr}: expected an object of banks (\"sha1\": hex)"))?;
        for (bank, value) in banks {
            if let Value::Object(m) = out
                .entry(bank.clone())
                .or_insert_with(|| Value::Object(Map::new()))
            {
                m.insert(pcr.clone(), value.clone());
            }
        }
    }
    Ok(Value::Object(out))
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
            policy_ref,
            alg,
        } => {
            let n = hex::decode(&name).context("--name is not hex")?;
            let r = hex::decode(&policy_ref).context("--policy-ref is not hex")?;
            let mut p = PolicyDigest::new(alg);
            p.policy_authorize(&n, &r);
            (alg, p.digest().to_vec(), String::new())
        }
        PolicyCommand::Tpm12 { pcrs, select } => {
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
        println!("{}", hex::encode(&digest));
    }
    Ok(Status::Ok)
}
