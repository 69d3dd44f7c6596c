//! `measured drtm`: Intel TXT + tboot dynamic launch. Reads SINIT ACMs,
//! hashes the tboot MLE, reads and writes tboot policies, predicts
//! PCR17/18/19 of system A from its artifacts, and replays TXT logs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use tcg::HashAlg;
use txt::{
    Acm, LaunchInputs, MleImage, ModuleData, ModuleInput, PolicySource, Prediction, Profile,
    TbPolicy, TbootVersion,
};

use crate::exit::Status;
use crate::outln;
use crate::output::Ctx;

// The `drtm` subcommands. A plain comment: clap would show a doc comment here as
// the group's description, in place of the one on its variant in `main.rs`.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum DrtmCommand {
    /// Show a SINIT ACM: header, info table, chipset/processor/TPM lists and its measurement.
    Acm {
        /// The SINIT ACM file.
        acm: PathBuf,
    },
    /// The MLE hash of tboot (what `lcp2_mlehash --create` prints), every bank.
    Mlehash {
        /// `tboot.gz` or the tboot ELF.
        tboot: PathBuf,
        /// tboot's command line as the boot loader passes it.
        #[arg(long)]
        cmdline: Option<String>,
        /// Banks to hash (repeatable; default sha1, sha256, sha384, sha512).
        #[arg(long = "alg")]
        algs: Vec<HashAlg>,
    },
    /// Show a tboot Verified-Launch policy (`tb_polgen --show`).
    PolicyShow {
        /// The policy file.
        policy: PathBuf,
    },
    /// Write tboot's built-in default policy for a tboot release, TPM and
    /// PCR mapping (the `_def_policy*` tboot uses when TPM NV holds none).
    PolicyDefault {
        /// tboot release, e.g. 1.10.5.
        #[arg(long)]
        tboot_version: TbootVersion,
        /// TPM 2.0 (default) or TPM 1.2.
        #[arg(long, default_value = "2.0", value_parser = ["1.2", "2.0"])]
        tpm: String,
        /// TPM 1.2 launched with the details/authorities mapping (tboot's
        /// `pcr_map=da` accepted by the SINIT, or CBnT from 1.10.2).
        #[arg(long)]
        da: bool,
        /// Where to write the policy bytes.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Predict PCR17/18/19 (every bank) and the ordered event log of a launch.
    Predict(PredictArgs),
    /// Write a layout-valid but unsigned SINIT ACM (for tests and benchmarks).
    SynthAcm {
        /// Where to write it.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Replay a TXT event log (container, legacy per-algorithm or agile) into
    /// PCR17-22; with --verify, compare with real PCR values (exit 1 if they differ).
    Replay(super::drtmlog::ReplayArgs),
    /// Capture system A's platform profile from its TXT log (and txt-stat).
    Capture(super::drtmlog::CaptureArgs),
    /// Compare a prediction with a real TXT log, event by event (exit 1 if they differ).
    Diff(super::drtmlog::DiffArgs),
}

/// Arguments of `measured drtm predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// System A's platform profile (TOML, or JSON if it ends in .json).
    #[arg(long)]
    profile: PathBuf,
    /// The SINIT ACM.
    #[arg(long)]
    acm: PathBuf,
    /// `tboot.gz`.
    #[arg(long)]
    tboot: PathBuf,
    /// tboot's command line.
    #[arg(long, default_value = "")]
    tboot_cmdline: String,
    /// The VL policy file, or `default` for tboot's built-in one.
    #[arg(long, default_value = "default")]
    policy: String,
    /// A module as FILE or FILE:CMDLINE, in multiboot order (repeatable).
    #[arg(long = "module")]
    modules: Vec<String>,
    /// Hash modules as stored (GRUB's `--nounzip`).
    #[arg(long)]
    no_decompress: bool,
    /// Also write the predicted event log here.
    #[arg(long)]
    log_out: Option<PathBuf>,
    /// Also write the predicted PCR values here as `tpm2_pcrread` prints them (for the
    /// banks and PCRs predicted), to `diff` with `tpm2_pcrread` on the machine.
    #[arg(long, value_name = "FILE")]
    pcrread_out: Option<PathBuf>,
    /// Format of --log-out: agile, legacy (heap-element file) or container
    /// (TPM 1.2); default: the format this launch writes.
    #[arg(long)]
    log_format: Option<txt::txtlog::TxtLogFormat>,
    /// Predict only these of the profile's banks (repeatable), e.g. the one
    /// bank tboot's `extpol=sha256` extends.
    #[arg(long = "bank")]
    banks: Vec<HashAlg>,
}

/// Run one `drtm` subcommand.
pub fn run(cmd: DrtmCommand, ctx: &Ctx) -> anyhow::Result<Status> {
    match cmd {
        DrtmCommand::Acm { acm } => show_acm(&acm, ctx),
        DrtmCommand::Mlehash {
            tboot,
            cmdline,
            algs,
        } => mlehash(&tboot, cmdline.as_deref(), &algs, ctx),
        DrtmCommand::PolicyShow { policy } => policy_show(&policy, ctx),
        DrtmCommand::PolicyDefault {
            tboot_version,
            tpm,
            da,
            output,
        } => {
            let release = txt::release::Release::of(tboot_version)?;
            if tpm == "2.0" && !release.supports_tpm2() {
                bail!("tboot {tboot_version} has no TPM 2.0 support (it arrived in 1.8.0)");
            }
            if tpm == "2.0" && da {
                bail!("--da is TPM 1.2's pcr_map=da; TPM 2.0 always uses details/authorities");
            }
            let p = txt::policy::default_policy(release, tpm == "2.0", da);
            write_atomic(&output, &p.to_bytes())?;
            Ok(Status::Ok)
        }
        DrtmCommand::Predict(a) => predict(a, ctx),
        DrtmCommand::SynthAcm { output } => {
            write_atomic(&output, &txt::synth::build_acm(&Default::default()))?;
            Ok(Status::Ok)
        }
        DrtmCommand::Replay(a) => super::drtmlog::replay(a, ctx),
        DrtmCommand::Capture(a) => super::drtmlog::capture(a, ctx, write_atomic),
        DrtmCommand::Diff(a) => super::drtmlog::diff(a, ctx),
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Write to a temporary file beside `path`, then rename: no partial
/// output, a mode that follows the umask.
fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    Ok(outputs::write_file(path, bytes)?)
}

#[derive(Serialize)]
struct AcmReport<'a> {
    header: &'a txt::acm::AcmHeader,
    info: &'a txt::acm::InfoTable,
    user_area_offset: usize,
    signed_region_sha1: String,
    signed_region_sha256: String,
}

fn show_acm(path: &Path, ctx: &Ctx) -> anyhow::Result<Status> {
    let bytes = read(path)?;
    let acm = Acm::parse(&bytes).with_context(|| format!("{}", path.display()))?;
    let r = AcmReport {
        header: &acm.header,
        info: &acm.info,
        user_area_offset: acm.user_area_offset(),
        signed_region_sha1: hex::encode(acm.signed_region_digest(HashAlg::Sha1)),
        signed_region_sha256: hex::encode(acm.signed_region_digest(HashAlg::Sha256)),
    };
    if ctx.json {
        ctx.print_json(&r)?;
        return Ok(Status::Ok);
    }
    let h = &acm.header;
    outln!("ACM {}", path.display());
    outln!(
        "  type {:#x} subtype {:#x}",
        h.module_type,
        h.module_sub_type
    );
    outln!(
        "  header_len {} dwords, version {:#010x}",
        h.header_len,
        h.header_version
    );
    outln!(
        "  chipset_id {:#06x} flags {:#06x} (pre-production {}, debug-signed {})",
        h.chipset_id,
        h.flags,
        (h.flags >> 14) & 1,
        (h.flags >> 15) & 1
    );
    outln!(
        "  vendor {:#x} date {:#010x} size {} bytes",
        h.module_vendor,
        h.date,
        h.size as u64 * 4
    );
    outln!(
        "  txt_svn {} se_svn {} key_size {} dwords scratch_size {} dwords",
        h.txt_svn,
        h.se_svn,
        h.key_size,
        h.scratch_size
    );
    let i = &acm.info;
    outln!(
        "  info table v{}: acm type {:#x}, os_sinit_data_ver {}, min_mle_hdr_ver {:#010x}",
        i.version,
        i.chipset_acm_type,
        i.os_sinit_data_ver,
        i.min_mle_header_ver
    );
    outln!(
        "  capabilities {:#010x}, acm_ver {}",
        i.capabilities,
        i.acm_version
    );
    for c in &i.chipset_ids {
        outln!(
            "  chipset {:04x}:{:04x} rev {:#x} flags {:#x} ext {:#x}",
            c.vendor_id,
            c.device_id,
            c.revision_id,
            c.flags,
            c.extended_id
        );
    }
    for p in &i.processor_ids {
        outln!(
            "  processor fms {:#x}/{:#x} platform {:#x}/{:#x}",
            p.fms,
            p.fms_mask,
            p.platform_id,
            p.platform_mask
        );
    }
    if let Some(t) = &i.tpm_info {
        outln!(
            "  tpm: ext_policy {} family {} nv_index_set {} algs {:04x?}",
            t.ext_policy,
            t.tpm_family,
            t.tpm_nv_index_set,
            t.alg_ids
        );
    }
    outln!("  signed region sha1   {}", r.signed_region_sha1);
    outln!("  signed region sha256 {}", r.signed_region_sha256);
    Ok(Status::Ok)
}

fn mlehash(
    path: &Path,
    cmdline: Option<&str>,
    algs: &[HashAlg],
    ctx: &Ctx,
) -> anyhow::Result<Status> {
    let mle = MleImage::load(&read(path)?).with_context(|| format!("{}", path.display()))?;
    let algs = if algs.is_empty() {
        vec![
            HashAlg::Sha1,
            HashAlg::Sha256,
            HashAlg::Sha384,
            HashAlg::Sha512,
        ]
    } else {
        algs.to_vec()
    };
    let hashes: BTreeMap<HashAlg, String> = mle
        .hash(cmdline.map(str::as_bytes), &algs)
        .into_iter()
        .map(|(a, d)| (a, hex::encode(d)))
        .collect();
    if ctx.json {
        ctx.print_json(&serde_json::json!({ "header": mle.header, "hashes": hashes }))?;
    } else {
        let h = &mle.header;
        outln!(
            "MLE header at {:#x}: version {:#010x} caps {:#x} range [{:#x}, {:#x}) cmdline [{:#x}, {:#x})",
            h.offset,
            h.version,
            h.capabilities,
            h.mle_start,
            h.mle_end,
            h.cmdline_start,
            h.cmdline_end
        );
        for (a, d) in &hashes {
            outln!("{a:<7} {d}");
        }
    }
    Ok(Status::Ok)
}

fn policy_show(path: &Path, ctx: &Ctx) -> anyhow::Result<Status> {
    let p = TbPolicy::parse(&read(path)?).with_context(|| format!("{}", path.display()))?;
    if ctx.json {
        ctx.print_json(&p)?;
        return Ok(Status::Ok);
    }
    outln!(
        "tb_policy {}: type {:?}, hash_alg {:#04x} ({}), policy_control {:#010x}",
        path.display(),
        p.policy_type,
        p.hash_alg,
        p.alg(),
        p.policy_control
    );
    for (i, e) in p.entries.iter().enumerate() {
        let m = match e.mod_num {
            txt::policy::MOD_ANY => "any".to_string(),
            txt::policy::MOD_NV => format!("nv {:#x}", e.nv_index),
            txt::policy::MOD_NV_RAW => format!("nv-raw {:#x}", e.nv_index),
            n => n.to_string(),
        };
        let pcr = if e.pcr == txt::policy::PCR_NONE {
            "none".into()
        } else {
            e.pcr.to_string()
        };
        outln!("  entry {i}: module {m}, pcr {pcr}, {:?}", e.hash_type);
        for h in &e.hashes {
            outln!("    {}", hex::encode(h));
        }
    }
    Ok(Status::Ok)
}

fn load_profile(path: &Path) -> anyhow::Result<Profile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "json") {
        Profile::from_json(&text).with_context(|| format!("{}", path.display()))
    } else {
        Profile::from_toml(&text).with_context(|| format!("{}", path.display()))
    }
}

fn predict(a: PredictArgs, ctx: &Ctx) -> anyhow::Result<Status> {
    let mut profile = load_profile(&a.profile)?;
    if !a.banks.is_empty() {
        if let Some(b) = a.banks.iter().find(|b| !profile.banks.contains(b)) {
            bail!(
                "--bank {b}: the profile's banks are {}",
                profile
                    .banks
                    .iter()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        profile.banks.retain(|b| a.banks.contains(b));
    }
    // Each input is parsed here first, so that an error names its file.
    let policy = if a.policy == "default" {
        PolicySource::Default
    } else {
        let b = read(Path::new(&a.policy))?;
        TbPolicy::parse(&b).with_context(|| a.policy.clone())?;
        PolicySource::Nv(b)
    };
    let acm = read(&a.acm)?;
    Acm::parse(&acm).with_context(|| format!("{}", a.acm.display()))?;
    let tboot = read(&a.tboot)?;
    MleImage::load(&tboot).with_context(|| format!("{}", a.tboot.display()))?;
    let mut modules = Vec::new();
    let mut total = 0u64;
    for m in &a.modules {
        // FILE:CMDLINE, but a path may itself contain ':' — take the longest existing prefix.
        let (file, cmdline) = split_module(m)?;
        total += module_hashed_len(&file, !a.no_decompress)
            .with_context(|| format!("module {}", file.display()))?;
        modules.push(ModuleInput {
            name: file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            cmdline,
            data: ModuleData::Path(file),
            decompress: !a.no_decompress,
        });
    }
    let inputs = LaunchInputs {
        profile,
        acm,
        tboot,
        tboot_cmdline: a.tboot_cmdline.clone(),
        policy,
        modules,
    };
    let bar = ctx.bytes_bar(total, "hashing");
    let p = txt::predict_with_progress(&inputs, |n| bar.inc(n)).map_err(|e| {
        // Name the input the prediction could not use.
        let launch_inputs = || {
            format!(
                "{} with {} and profile {}",
                a.acm.display(),
                a.tboot.display(),
                a.profile.display()
            )
        };
        let file = match e.what() {
            Some("profile") => a.profile.display().to_string(),
            Some("tb_policy") if a.policy == "default" => "tboot's default policy".to_string(),
            Some("tb_policy") => a.policy.clone(),
            // A refusal or a conflict is about the inputs together.
            Some("launch") => launch_inputs(),
            None if matches!(e, txt::Error::Refused(_)) => launch_inputs(),
            Some("ACM") => a.acm.display().to_string(),
            Some(w) if w.starts_with("MLE") => a.tboot.display().to_string(),
            _ => return anyhow::Error::new(e).context("predicting the launch"),
        };
        anyhow::Error::new(e).context(format!("predicting the launch: {file}"))
    })?;
    bar.finish_and_clear();
    if let Some(out) = &a.log_out {
        let launched = match p.launch.log_format.as_str() {
            "container" => txt::txtlog::TxtLogFormat::Container,
            "legacy" => txt::txtlog::TxtLogFormat::Legacy,
            _ => txt::txtlog::TxtLogFormat::Agile,
        };
        let format = a.log_format.unwrap_or(launched);
        let bytes = txt::txtlog::write(format, &p.banks, &p.events)
            .with_context(|| format!("writing the predicted log as {format:?}"))?;
        write_atomic(out, &bytes)?;
    }
    if let Some(out) = &a.pcrread_out {
        write_atomic(out, pcrread_yaml(&p).as_bytes())?;
    }
    if ctx.json {
        ctx.print_json(&p)?;
    } else {
        print_prediction(&p);
    }
    Ok(Status::Ok)
}

/// A prediction's values in `tpm2_pcrread`'s YAML: the output of
/// `tpm2_pcrread sha1:17,18,19+sha256:17,18,19` (for those banks) after the launch.
pub(crate) fn pcrread_yaml(p: &Prediction) -> String {
    let mut v = tcg::PcrValues::default();
    for (pcr, banks) in &p.pcrs {
        for (alg, value) in banks {
            v.insert(*alg, *pcr, value.0.clone());
        }
    }
    v.to_pcrread_yaml()
}

/// How many bytes hashing a module reads, for its progress bar: a gzip stream
/// the loader decompresses counts its uncompressed size (the trailer's ISIZE).
pub(crate) fn module_hashed_len(path: &Path, decompress: bool) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let mut magic = [0u8; 2];
    if decompress && len >= 18 && f.read_exact_at(&mut magic, 0).is_ok() && magic == [0x1f, 0x8b] {
        let mut isize = [0u8; 4];
        f.read_exact_at(&mut isize, len - 4)?;
        return Ok(u64::from(u32::from_le_bytes(isize)));
    }
    Ok(len)
}

fn split_module(spec: &str) -> anyhow::Result<(PathBuf, String)> {
    if Path::new(spec).exists() {
        return Ok((PathBuf::from(spec), String::new()));
    }
    for (i, _) in spec.match_indices(':') {
        let (f, rest) = (&spec[..i], &spec[i + 1..]);
        if Path::new(f).is_file() {
            return Ok((PathBuf::from(f), rest.to_string()));
        }
    }
    bail!("module {spec:?}: no such file (expected FILE or FILE:CMDLINE)")
}

fn print_prediction(p: &Prediction) {
    outln!(
        "{:<4} {:<6} {:<22} {:<8} digest",
        "pcr",
        "type",
        "event",
        "bank"
    );
    for e in &p.events {
        for (alg, d) in &e.digests {
            outln!(
                "{:<4} {:#06x} {:<22} {:<8} {}",
                e.pcr,
                e.event_type,
                e.name,
                alg.name(),
                d
            );
        }
    }
    outln!();
    for (pcr, banks) in &p.pcrs {
        for (alg, v) in banks {
            outln!("PCR{pcr} {:<7} {}", alg.name(), v);
        }
    }
    let l = &p.launch;
    outln!(
        "tboot {}: {} mapping, {} log{}{}",
        p.tboot_version,
        l.pcr_mapping,
        l.log_format,
        l.extpol
            .as_ref()
            .map(|e| format!(", extpol={e}"))
            .unwrap_or_default(),
        if l.maximum_agility {
            ", SINIT Maximum Agility"
        } else {
            ""
        }
    );
    for n in &p.notes {
        outln!("note: {n}");
    }
}
