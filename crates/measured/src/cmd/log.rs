//! `measured log`: show, replay and verify TCG event logs.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use tcg::verify::{PcrVerdict, verify};
use tcg::{EventLog, PcrValues, replay};

use crate::exit::Status;
use crate::output::Ctx;
use crate::{out, outln};

// The `log` subcommands. A plain comment: clap would show a doc comment here as
// the group's description, in place of the one on its variant in `main.rs`.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
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
            for (i, log) in logs.iter().enumerate() {
                // Several logs: a YAML stream, one document each.
                if i > 0 && !ctx.json {
                    outln!("---");
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
    if log.format == tcg::LogFormat::TdxCcel {
        outln!(
            "TDX CCEL log (SHA-384): the index column is the CC measurement register, 1-4 = RTMR0-3"
        );
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

/// A YAML double-quoted scalar (JSON's string syntax is valid YAML).
fn yq(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// The replayed values as `tpm2_eventlog` prints them (`pcrs:`, a bank per key,
/// `N : 0xHEX` per PCR): what `--verify` and `policy pcr --pcrs` read back.
fn pcrs_yaml(r: &tcg::Replay) -> String {
    let mut out = String::from("pcrs:\n");
    for b in r.banks.banks() {
        out.push_str(&format!("  {}:\n", b.alg()));
        for pcr in r.pcrs() {
            out.push_str(&format!(
                "    {pcr:<2} : 0x{}\n",
                hex::encode_upper(b.get(pcr as usize))
            ));
        }
    }
    out
}

/// A TDX CCEL log: RTMR0-3, or a clear refusal of what cannot be done with one.
fn replay_ccel(
    path: &std::path::Path,
    log: &EventLog,
    verify_with: Option<&std::path::Path>,
    ctx: &Ctx,
) -> anyhow::Result<Status> {
    anyhow::ensure!(
        verify_with.is_none(),
        "{}: a TDX CCEL log replays into RTMR0-3, not PCRs; --verify compares PCRs \
         (compare the RTMRs printed here with the TD quote's)",
        path.display()
    );
    let r =
        tcg::ccel::replay_rtmrs(log).with_context(|| format!("TDX CCEL log {}", path.display()))?;
    if ctx.json {
        ctx.print_json(&serde_json::json!({
            "log": path,
            "format": log.format,
            "rtmrs": r.rtmrs.iter().map(hex::encode).collect::<Vec<_>>(),
            "extended_by": r.extended_by,
            "ok": true,
        }))?;
    } else {
        outln!("log: {}", yq(&path.display().to_string()));
        outln!("format: tdx_ccel");
        outln!("rtmrs:");
        outln!("  sha384:");
        for (i, v) in r.rtmrs.iter().enumerate() {
            outln!("    {i}  : 0x{}", hex::encode_upper(v));
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
    if log.format == tcg::LogFormat::TdxCcel {
        return replay_ccel(path, &log, verify_with, ctx);
    }
    let r = replay(&log);
    let real = match verify_with {
        Some(p) => Some(PcrValues::load(p)?),
        None => None,
    };
    let checks = real.as_ref().map(|v| verify(&r, v));
    let ok = checks
        .as_ref()
        .is_none_or(|c| c.iter().all(|c| c.verdict == PcrVerdict::Match));
    let warnings: Vec<String> = r
        .mismatches
        .iter()
        .map(|m| {
            format!(
                "event {} (byte {}, PCR{}, {}) {} digest {} is not the hash of its data ({})",
                m.event,
                m.offset,
                m.pcr,
                m.event_type,
                m.alg,
                hex::encode(&m.logged),
                hex::encode(&m.computed)
            )
        })
        .collect();
    let notes: Vec<String> = r
        .banks_without_events
        .iter()
        .map(|a| {
            format!(
                "the header declares {a}, but no event carries a {a} digest: its values are start values only"
            )
        })
        .collect();
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
        let verify_json = checks.as_ref().map(|cs| {
            cs.iter()
                .map(|c| {
                    let mut v = serde_json::to_value(c).expect("checks serialise");
                    v["detail"] = c.verdict.describe(c.alg, c.pcr).into();
                    v
                })
                .collect::<Vec<_>>()
        });
        ctx.print_json(&serde_json::json!({
            "log": path,
            "format": log.format,
            "pcrs": banks,
            "quirks": r.quirks,
            "digest_mismatches": r.mismatches,
            "banks_without_events": r.banks_without_events,
            "notes": notes,
            "verify": verify_json,
            "ok": ok,
        }))?;
        return Ok(if ok { Status::Ok } else { Status::Found });
    }
    // Text: one YAML document, the values laid out as tpm2_eventlog prints them.
    outln!("log: {}", yq(&path.display().to_string()));
    outln!(
        "format: {}",
        serde_json::to_value(log.format)
            .expect("format serialises")
            .as_str()
            .unwrap_or("")
    );
    if !r.quirks.is_empty() {
        outln!("quirks:");
        for q in &r.quirks {
            outln!("  - name: {}", q.quirk.name());
            outln!("    event: {}", q.event);
            if !q.detail.is_empty() {
                outln!("    detail: {}", yq(&q.detail));
            }
        }
    }
    for (key, list) in [("warnings", &warnings), ("notes", &notes)] {
        if !list.is_empty() {
            outln!("{key}:");
            for w in list {
                outln!("  - {}", yq(w));
            }
        }
    }
    out!("{}", pcrs_yaml(&r));
    if let Some(checks) = &checks {
        outln!("verify:");
        for c in checks {
            outln!("  - bank: {}", c.alg);
            outln!("    pcr: {}", c.pcr);
            outln!(
                "    result: {}",
                if c.verdict == PcrVerdict::Match {
                    "match"
                } else {
                    "mismatch"
                }
            );
            outln!("    detail: {}", yq(&c.verdict.describe(c.alg, c.pcr)));
        }
    }
    Ok(if ok { Status::Ok } else { Status::Found })
}
