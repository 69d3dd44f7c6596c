//! `measured drtm replay|capture|diff`: real TXT logs in every format,
//! replayed (and checked against quoted PCRs), turned into a platform
//! profile, and compared event by event with a prediction.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use tcg::{HashAlg, PcrValues};
use txt::Event;
use txt::txtlog::{self, HashStartForm, HashStartMode, TxtLog, secl};

use crate::exit::Status;
use crate::outln;
use crate::output::Ctx;

/// Which log file(s) to read.
#[derive(Args, Debug)]
pub struct LogArgs {
    /// The TXT log: a TXT event container, a legacy heap-element file, a TCG
    /// agile log, one or more per-algorithm legacy logs, or an Intel SecL
    /// host manifest (JSON) or quote response (XML).
    #[arg(required = true)]
    logs: Vec<PathBuf>,
    /// Bank of each per-algorithm legacy log that has no TCG_LOG_DESCRIPTOR,
    /// in the order of the files (default sha1).
    #[arg(long = "alg")]
    algs: Vec<HashAlg>,
}

/// Arguments of `measured drtm replay`.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    #[command(flatten)]
    log: LogArgs,
    /// Expected PCR values: JSON (bank- or PCR-first, a bundle's `pcrs.json`, `drtm
    /// predict --json` output), tpm2_pcrread YAML, a sysfs PCR directory, an Intel
    /// SecL quote XML or host manifest.
    #[arg(long)]
    verify: Option<PathBuf>,
    /// How the HASH_START (0x402) digest is read: `auto` recomputes it from
    /// its data (else tries both forms against --verify), `extend` (digest
    /// is H(data)), `set` (digest is the resulting PCR17).
    #[arg(long, default_value = "auto", value_parser = ["auto", "extend", "set"])]
    hash_start: String,
}

/// Arguments of `measured drtm capture`.
#[derive(Args, Debug)]
pub struct CaptureArgs {
    /// System A's TXT log or SecL report (see `replay`); may be omitted
    /// with --sysfs.
    logs: Vec<PathBuf>,
    /// Bank of each per-algorithm legacy log without a descriptor.
    #[arg(long = "alg")]
    algs: Vec<HashAlg>,
    /// `txt-stat` output from system A, for values the log lacks.
    #[arg(long)]
    txt_stat: Option<PathBuf>,
    /// A securityfs TXT directory (e.g. /sys/kernel/security/txt or
    /// .../slaunch): its `log`, `eventlog` or `event_log` file is the log.
    #[arg(long)]
    sysfs: Option<PathBuf>,
    /// Where to write the profile (.json for JSON, else TOML).
    #[arg(short, long)]
    output: PathBuf,
}

/// Arguments of `measured drtm diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The prediction: a bundle's `pcrs.json`, `drtm predict --json` output, or a
    /// predicted log.
    predicted: PathBuf,
    /// The real TXT log (any format).
    real: PathBuf,
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn load_log(logs: &[PathBuf], algs: &[HashAlg]) -> anyhow::Result<TxtLog> {
    if algs.len() > logs.len() {
        bail!("{} --alg values for {} log files", algs.len(), logs.len());
    }
    if let [one] = logs {
        let b = read(one)?;
        return txtlog::parse(&b, algs.first().copied())
            .with_context(|| format!("{}", one.display()));
    }
    let mut files = Vec::new();
    for (i, p) in logs.iter().enumerate() {
        let b = read(p)?;
        if txtlog::detect(&b) != txtlog::TxtLogFormat::Legacy {
            bail!(
                "{}: several log files must each be one per-algorithm legacy log",
                p.display()
            );
        }
        // Parse alone first so an error names the file.
        txtlog::parse_legacy_single(&b, algs.get(i).copied())
            .with_context(|| format!("{}", p.display()))?;
        files.push((b, algs.get(i).copied()));
    }
    Ok(txtlog::parse_legacy_files(&files)?)
}

#[derive(Serialize)]
struct Mismatch {
    pcr: u32,
    bank: HashAlg,
    replayed: String,
    expected: String,
}

#[derive(Serialize)]
struct ReplayReport<'a> {
    format: txtlog::TxtLogFormat,
    banks: &'a [HashAlg],
    events: usize,
    hash_start: &'a BTreeMap<HashAlg, HashStartForm>,
    hash_start_mode: &'static str,
    pcrs: &'a txt::PcrValues,
    #[serde(skip_serializing_if = "Option::is_none")]
    verified: Option<usize>,
    mismatches: Vec<Mismatch>,
}

fn load_expected(path: &Path) -> anyhow::Result<PcrValues> {
    if path.is_file() {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        if txt::quote::is_secl_quote(&text) {
            return txt::quote::pcrs_from_secl_xml(&text)
                .with_context(|| format!("{}", path.display()));
        }
        if secl::is_manifest(text.as_bytes()) {
            let r =
                secl::parse_secl(text.as_bytes()).with_context(|| format!("{}", path.display()))?;
            if r.pcrs.map.is_empty() {
                bail!(
                    "{}: the SecL host manifest has no PCR values (pcr_manifest.sha1pcrs / sha2pcrs)",
                    path.display()
                );
            }
            return Ok(r.pcrs);
        }
        if text.trim_start().starts_with('{') {
            return PcrValues::load(path).with_context(|| {
                format!(
                    "{}: JSON, but neither PCR values ({{\"sha256\": {{\"17\": \"hex\"}}}}) nor \
                     an Intel SecL host manifest",
                    path.display()
                )
            });
        }
    }
    Ok(PcrValues::load(path)?)
}

fn mismatches(r: &txt::PcrValues, want: &PcrValues) -> (usize, Vec<Mismatch>) {
    let mut n = 0;
    let mut out = Vec::new();
    for (alg, pcrs) in &want.map {
        for (pcr, v) in pcrs.range(17..=22) {
            // A bank the log covers; PCRs it never extends keep the DRTM reset value.
            if !r.get(&17).is_some_and(|b| b.contains_key(alg)) {
                continue;
            }
            let got = r
                .get(pcr)
                .and_then(|b| b.get(alg))
                .map(|h| h.0.clone())
                .unwrap_or_else(|| alg.zeros());
            n += 1;
            if got != *v {
                out.push(Mismatch {
                    pcr: *pcr,
                    bank: *alg,
                    replayed: hex::encode(&got),
                    expected: hex::encode(v),
                });
            }
        }
    }
    (n, out)
}

/// `measured drtm replay`.
pub fn replay(a: ReplayArgs, ctx: &Ctx) -> anyhow::Result<Status> {
    let log = load_log(&a.log.logs, &a.log.algs)?;
    let expected = a.verify.as_deref().map(load_expected).transpose()?;
    let mut mode = match a.hash_start.as_str() {
        "extend" => HashStartMode::Extend,
        "set" => HashStartMode::Set,
        _ => HashStartMode::Auto,
    };
    let mut r = txtlog::replay_log(&log.events, &log.banks, mode);
    // Without data the HASH_START form is a guess: let the real PCRs decide.
    if mode == HashStartMode::Auto
        && r.hash_start.values().any(|f| *f == HashStartForm::NoData)
        && let Some(want) = &expected
        && !mismatches(&r.pcrs, want).1.is_empty()
    {
        let set = txtlog::replay_log(&log.events, &log.banks, HashStartMode::Set);
        if mismatches(&set.pcrs, want).1.is_empty() {
            r = set;
            mode = HashStartMode::Set;
        }
    }
    let (verified, bad) = match &expected {
        Some(want) => {
            let (n, m) = mismatches(&r.pcrs, want);
            if n == 0 {
                bail!(
                    "{}: no PCR17-22 value of the log's banks to compare",
                    a.verify.as_ref().expect("set").display()
                );
            }
            (Some(n), m)
        }
        None => (None, Vec::new()),
    };
    let mode_name = match mode {
        HashStartMode::Auto => "auto",
        HashStartMode::Extend => "extend",
        HashStartMode::Set => "set",
    };
    let report = ReplayReport {
        format: log.format,
        banks: &log.banks,
        events: log.events.len(),
        hash_start: &r.hash_start,
        hash_start_mode: mode_name,
        pcrs: &r.pcrs,
        verified,
        mismatches: bad,
    };
    if ctx.json {
        ctx.print_json(&report)?;
    } else {
        outln!(
            "{:?} log, {} events, banks {}",
            log.format,
            log.events.len(),
            log.banks
                .iter()
                .map(|b| b.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
        for (alg, f) in &r.hash_start {
            outln!(
                "HASH_START {:<7} logged as {f:?} (replayed: {mode_name})",
                alg.name()
            );
        }
        for (pcr, banks) in &r.pcrs {
            for (alg, v) in banks {
                outln!("PCR{pcr} {:<7} {v}", alg.name());
            }
        }
        if let Some(n) = verified {
            for m in &report.mismatches {
                outln!(
                    "MISMATCH PCR{} {}: replayed {} expected {}",
                    m.pcr,
                    m.bank.name(),
                    m.replayed,
                    m.expected
                );
            }
            outln!(
                "verified {n} PCR values: {}",
                if report.mismatches.is_empty() {
                    "all match".to_string()
                } else {
                    format!("{} differ", report.mismatches.len())
                }
            );
        }
    }
    Ok(if report.mismatches.is_empty() {
        Status::Ok
    } else {
        Status::Found
    })
}

/// `measured drtm capture`.
pub fn capture(
    a: CaptureArgs,
    ctx: &Ctx,
    write: impl Fn(&Path, &[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<Status> {
    let mut logs = a.logs.clone();
    if logs.is_empty() {
        let Some(dir) = &a.sysfs else {
            bail!("give a log file or --sysfs DIR");
        };
        let found = ["log", "eventlog", "event_log"]
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
            .with_context(|| format!("{}: no log, eventlog or event_log file", dir.display()))?;
        logs.push(found);
    }
    let secl_report = match logs.as_slice() {
        [one] if a.algs.is_empty() => {
            let b = read(one)?;
            secl::is_secl(&b)
                .then(|| secl::parse_secl(&b).with_context(|| format!("{}", one.display())))
                .transpose()?
        }
        _ => None,
    };
    // A SecL report also says which TPM the host has, and its own PCRs.
    let (log, mut c) = match secl_report {
        Some(r) => {
            let c = txt::capture::capture_secl(&r).context("capturing the profile")?;
            (r.log, c)
        }
        None => {
            let log = load_log(&logs, &a.algs)?;
            let c = txt::capture::capture_log(&log).context("capturing the profile")?;
            (log, c)
        }
    };
    if let Some(ts) = &a.txt_stat {
        let text =
            std::fs::read_to_string(ts).with_context(|| format!("reading {}", ts.display()))?;
        txt::capture::apply_txt_stat(&mut c, &text).with_context(|| format!("{}", ts.display()))?;
    }
    let text = if a.output.extension().is_some_and(|e| e == "json") {
        serde_json::to_string_pretty(&c.profile)? + "\n"
    } else {
        format!(
            "# Platform profile captured by `measured drtm capture` from {}.\n{}",
            logs.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            toml::to_string(&c.profile).context("serialising the profile")?
        )
    };
    write(&a.output, text.as_bytes())?;
    if ctx.json {
        ctx.print_json(&c)?;
    } else {
        outln!(
            "captured {} ({} events): {} fields from the log{}",
            a.output.display(),
            log.events.len(),
            c.from_log.len(),
            if c.from_txt_stat.is_empty() {
                String::new()
            } else {
                format!(", {} from txt-stat", c.from_txt_stat.len())
            }
        );
        for n in &c.notes {
            outln!("note: {n}");
        }
    }
    Ok(Status::Ok)
}

fn load_predicted(path: &Path) -> anyhow::Result<Vec<Event>> {
    let b = read(path)?;
    if b.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{') {
        let v: serde_json::Value =
            serde_json::from_slice(&b).with_context(|| format!("{}: not JSON", path.display()))?;
        if v.get("events").is_none() && PcrValues::from_json_value(&v, "").is_ok() {
            bail!(
                "{}: PCR values without events; `drtm diff` compares events, so it needs a \
                 prediction (a bundle's pcrs.json or `drtm predict --json` output) or a predicted log",
                path.display()
            );
        }
        let p: txt::Prediction = serde_json::from_value(v).with_context(|| {
            format!(
                "{}: not a prediction (a bundle's pcrs.json or `drtm predict --json` output)",
                path.display()
            )
        })?;
        return Ok(p.events);
    }
    Ok(txtlog::parse(&b, None)
        .with_context(|| format!("{}", path.display()))?
        .events)
}

/// `measured drtm diff`.
pub fn diff(a: DiffArgs, ctx: &Ctx) -> anyhow::Result<Status> {
    let pred = load_predicted(&a.predicted)?;
    let real = load_log(std::slice::from_ref(&a.real), &[])?;
    let d = txt::diff::diff(&pred, &real.events);
    if ctx.json {
        ctx.print_json(&serde_json::json!({
            "differs": d.differs(),
            "rows": d.rows,
            "first_parting": d.first_parting,
        }))?;
    } else {
        outln!(
            "{:<4} {:<14} {:<22} {:<12} origin",
            "pcr",
            "result",
            "event",
            "banks"
        );
        for r in &d.rows {
            let banks: Vec<&str> = r.banks.iter().map(|b| b.name()).collect();
            outln!(
                "{:<4} {:<14} {:<22} {:<12} {}",
                r.pcr,
                format!("{:?}", r.kind),
                r.name,
                banks.join(","),
                r.origin
            );
        }
        for (pcr, i) in &d.first_parting {
            let r = &d.rows[*i];
            outln!("PCR{pcr} parts at {} ({:?}): {}", r.name, r.kind, r.origin);
        }
        if !d.differs() {
            outln!("prediction and log agree");
        }
    }
    Ok(if d.differs() {
        Status::Found
    } else {
        Status::Ok
    })
}
