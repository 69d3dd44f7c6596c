//! `measured log`: show, replay and verify TCG event logs.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use tcg::verify::{PcrVerdict, verify};
use tcg::{EventLog, PcrValues, replay};

use crate::exit::Status;
use crate::outln;
use crate::output::Ctx;

/// The `log` subcommands.
#[derive(Subcommand, Debug)]
pub enum LogCommand {
    /// Print every event of a log (TCG 1.2 or crypto-agile) with its decoded data.
    Show {
        /// The log file (default: the kernel's firmware log in sysfs).
        #[arg(default_value = tcg::log::SYSFS_LOG)]
        log: PathBuf,
    },
    /// Replay a log into every bank it carries; optionally compare with real PCR values.
    Replay {
        /// The log files (default: the kernel's firmware log in sysfs). With
        /// several, each is replayed in turn (one JSON document each).
        #[arg(default_value = tcg::log::SYSFS_LOG)]
        logs: Vec<PathBuf>,
        /// Real PCR values: `tpm2_pcrread` YAML, a JSON `{"sha256": {"0": "hex"}}`, or a
        /// sysfs TPM directory with `pcr-<alg>/<n>` files (e.g. /sys/class/tpm/tpm0).
        #[arg(long, value_name = "PCRS")]
        verify: Option<PathBuf>,
    },
    /// Hash files into several banks in one read (what a measurement extends).
    Hash {
        /// Files to hash.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Banks, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "sha1,sha256,sha384")]
        alg: Vec<tcg::HashAlg>,
    },
}

/// Run one `log` subcommand.
pub fn run(cmd: LogCommand, ctx: &Ctx) -> anyhow::Result<Status> {
    match cmd {
        LogCommand::Show { log } => show(&log, ctx),
        LogCommand::Replay { logs, verify } => {
            anyhow::ensure!(
                verify.is_none() || logs.len() == 1,
                "--verify compares one log with one machine's PCRs; give a single log"
            );
            let mut status = Status::Ok;
            for log in &logs {
                if logs.len() > 1 && !ctx.json {
                    outln!("== {}", log.display());
                }
                if replay_cmd(log, verify.as_deref(), ctx)? == Status::Found {
                    status = Status::Found;
                }
            }
            Ok(status)
        }
        LogCommand::Hash { files, alg } => {
            let mut all = Vec::new();
            for f in files {
                let file =
                    std::fs::File::open(&f).with_context(|| format!("opening {}", f.display()))?;
                let len = file.metadata()?.len();
                let bar = ctx.bytes_bar(len, "hashing");
                let digests = tcg::hashfile::hash_reader(&alg, bar.wrap_read(file))
                    .with_context(|| format!("reading {}", f.display()))?;
                bar.finish_and_clear();
                for (a, d) in digests {
                    if !ctx.json {
                        outln!("{a}:{}  {}", hex::encode(&d), f.display());
                    }
                    all.push(serde_json::json!({"file": f, "alg": a, "digest": hex::encode(d)}));
                }
            }
            if ctx.json {
                ctx.print_json(&all)?;
            }
            Ok(Status::Ok)
        }
    }
}

fn read_log(path: &std::path::Path) -> anyhow::Result<EventLog> {
    EventLog::read(path).with_context(|| format!("event log {}", path.display()))
}

fn show(path: &std::path::Path, ctx: &Ctx) -> anyhow::Result<Status> {
    let log = read_log(path)?;
    if ctx.json {
        let events: Vec<serde_json::Value> = log
            .events
            .iter()
            .map(|e| {
                let mut v = serde_json::to_value(e).expect("events serialise");
                v["decoded"] = serde_json::to_value(e.decoded()).expect("decoded serialises");
                v
            })
            .collect();
        ctx.print_json(&serde_json::json!({
            "format": log.format,
            "spec_id": log.spec_id,
            "events": events,
        }))?;
        return Ok(Status::Ok);
    }
    outln!(
        "{:>5} {:>8} {:>3}  {:<34} data",
        "event",
        "offset",
        "pcr",
        "type"
    );
    for e in &log.events {
        outln!(
            "{:>5} {:>8} {:>3}  {:<34} {}",
            e.index,
            e.offset,
            e.pcr,
            e.event_type.to_string(),
            e.decoded()
        );
        for d in &e.digests {
            let name = d
                .alg
                .map(|a| a.name().to_string())
                .unwrap_or_else(|| format!("0x{:04x}", d.alg_id));
            outln!("{:>20}{name}: {}", "", hex::encode(&d.digest));
        }
    }
    Ok(Status::Ok)
}

fn replay_cmd(
    path: &std::path::Path,
    verify_with: Option<&std::path::Path>,
    ctx: &Ctx,
) -> anyhow::Result<Status> {
    let log = read_log(path)?;
    let r = replay(&log);
    let real = match verify_with {
        Some(p) => Some(PcrValues::load(p)?),
        None => None,
    };
    let checks = real.as_ref().map(|v| verify(&r, v));
    let ok = checks
        .as_ref()
        .is_none_or(|c| c.iter().all(|c| c.verdict == PcrVerdict::Match));
    if ctx.json {
        let mut banks = serde_json::Map::new();
        for b in r.banks.banks() {
            let mut m = serde_json::Map::new();
            for pcr in r.pcrs() {
                if let Some(v) = r.value(b.alg(), pcr) {
                    m.insert(pcr.to_string(), hex::encode(v).into());
                }
            }
            banks.insert(b.alg().name().into(), m.into());
        }
        ctx.print_json(&serde_json::json!({
            "format": log.format,
            "pcrs": banks,
            "quirks": r.quirks,
            "digest_mismatches": r.mismatches,
            "verify": checks,
            "ok": ok,
        }))?;
    } else {
        for q in &r.quirks {
            outln!("quirk {} (event {}) {}", q.quirk.name(), q.event, q.detail);
        }
        for m in &r.mismatches {
            outln!(
                "WARNING: event {} (byte {}, PCR{}, {}) {} digest {} is not the hash of its data ({})",
                m.event,
                m.offset,
                m.pcr,
                m.event_type,
                m.alg,
                hex::encode(&m.logged),
                hex::encode(&m.computed)
            );
        }
        for b in r.banks.banks() {
            outln!("{}:", b.alg());
            for pcr in r.pcrs() {
                outln!("  {pcr:>2} : 0x{}", hex::encode(b.get(pcr as usize)));
            }
        }
        if let Some(checks) = &checks {
            for c in checks {
                let what = match &c.verdict {
                    PcrVerdict::Match => "match".to_string(),
                    PcrVerdict::LogHasExtraEvents {
                        matched_through,
                        parts_at,
                    } => format!(
                        "MISMATCH: TPM matches the log through event {matched_through}, parts at event {parts_at}"
                    ),
                    PcrVerdict::TpmSawNoEvents { parts_at } => {
                        format!("MISMATCH: TPM saw none of the log's events (first: {parts_at})")
                    }
                    PcrVerdict::Differs { parts_at: Some(e) } => {
                        format!("MISMATCH: first suspect event {e}")
                    }
                    PcrVerdict::Differs { parts_at: None } => {
                        "MISMATCH: the log never extends this PCR".to_string()
                    }
                };
                outln!("verify {} PCR{}: {what}", c.alg, c.pcr);
            }
        }
    }
    Ok(if ok { Status::Ok } else { Status::Found })
}
