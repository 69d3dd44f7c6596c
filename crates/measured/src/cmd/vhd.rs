//! `measured vhd`: create, convert, inspect and check VHD images.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use fstree::{ContentSource, HostFile};
use serde::Serialize;
use vhd::{CreateOptions, Profile, Vhd};

use crate::exit::Status;
use crate::outln;
use crate::output::Ctx;

/// Image profile on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProfileArg {
    /// vhd-util compatible (OpenXT tapdisk): tap 1.3, batmap, 4 KiB-aligned blocks.
    Tap,
    /// What `qemu-img create -f vpc` writes.
    Qemu,
    /// Fixed disk, whole MiB (Hyper-V, Azure).
    Fixed,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Profile {
        match p {
            ProfileArg::Tap => Profile::Tap,
            ProfileArg::Qemu => Profile::Qemu,
            ProfileArg::Fixed => Profile::Fixed,
        }
    }
}

/// Output format of `convert`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ToArg {
    /// A raw (sparse) disk image.
    Raw,
    /// A VHD (flattened, if the input is a differencing chain).
    Vhd,
}

// The `vhd` subcommands. A plain comment: clap would show a doc comment here as
// the group's description, in place of the one on its variant in `main.rs`.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum VhdCommand {
    /// Create an empty VHD of SIZE bytes (suffixes K, M, G, T; binary). Takes
    /// `SIZE OUT`, or qemu-img's order and flags: `[-f vpc] [-o subformat=fixed] OUT SIZE`.
    Create {
        /// Virtual size, e.g. 100M, 20GiB (or the output file, in qemu-img's order).
        #[arg(value_name = "SIZE")]
        first: String,
        /// Output file (or the size, in qemu-img's order).
        #[arg(value_name = "OUT")]
        second: String,
        /// Which consumer to shape the image for (default tap; qemu with `-f vpc`).
        #[arg(long, value_enum)]
        profile: Option<ProfileArg>,
        /// Write a fixed (preallocated-layout, sparse on disk) image.
        #[arg(long)]
        fixed: bool,
        /// qemu-img's `-f FMT`: only `vpc` (VHD); picks the qemu profile.
        #[arg(short = 'f', long = "format", value_name = "FMT")]
        format: Option<String>,
        /// qemu-img's `-o OPTS` for vpc: `subformat=dynamic|fixed` (comma-separated).
        #[arg(short = 'o', long = "options", value_name = "OPTS")]
        options: Option<String>,
    },
    /// Convert raw -> VHD, VHD -> raw, or VHD -> VHD (flattening a chain).
    Convert {
        /// Input: a raw image or a VHD (detected by its footer).
        input: PathBuf,
        /// Output file.
        out: PathBuf,
        /// Profile of a VHD output.
        #[arg(long, value_enum, default_value = "tap")]
        profile: ProfileArg,
        /// Write a fixed VHD.
        #[arg(long)]
        fixed: bool,
        /// Output format; default: raw for a VHD input, vhd for a raw one.
        #[arg(long, value_enum)]
        to: Option<ToArg>,
    },
    /// Show an image's footer, header, BAT summary and parent chain.
    Info {
        /// The image.
        img: PathBuf,
    },
    /// Check an image against the format rules; exit 1 on any violation.
    Check {
        /// The image.
        img: PathBuf,
    },
}

/// Run one `vhd` subcommand.
pub fn run(cmd: VhdCommand, ctx: &Ctx) -> anyhow::Result<Status> {
    match cmd {
        VhdCommand::Create {
            first,
            second,
            profile,
            fixed,
            format,
            options,
        } => {
            let (bytes, out) = create_args(&first, &second)?;
            let mut fixed = fixed;
            let profile = match format.as_deref() {
                None => profile.unwrap_or(ProfileArg::Tap),
                Some("vpc") => profile.unwrap_or(ProfileArg::Qemu),
                Some(f) => anyhow::bail!(
                    "-f {f}: measured writes VHD only (qemu-img's format name for it is vpc)"
                ),
            };
            for opt in options.iter().flat_map(|o| o.split(',')) {
                match opt.trim() {
                    "subformat=fixed" => fixed = true,
                    "subformat=dynamic" | "" => {}
                    other => anyhow::bail!(
                        "-o {other}: supported vpc options are subformat=dynamic and subformat=fixed"
                    ),
                }
            }
            let mut opts = create_options(profile.into())?;
            opts.fixed |= fixed;
            let w = vhd::create(&out, bytes, &opts).map_err(lib_err)?;
            report_written(ctx, &out, &w)
        }
        VhdCommand::Convert {
            input,
            out,
            profile,
            fixed,
            to,
        } => convert(ctx, &input, &out, profile.into(), fixed, to),
        VhdCommand::Info { img } => info(ctx, &img),
        VhdCommand::Check { img } => {
            let v = vhd::check_file(&img).map_err(lib_err)?;
            if ctx.json {
                ctx.print_json(&serde_json::json!({
                    "image": img, "valid": v.is_empty(), "violations": v }))?;
            } else if v.is_empty() {
                outln!("{}: valid", img.display());
            } else {
                for x in &v {
                    outln!("{}: {x}", img.display());
                }
                outln!("{}: {} violation(s)", img.display(), v.len());
            }
            Ok(if v.is_empty() {
                Status::Ok
            } else {
                Status::Found
            })
        }
    }
}

/// Options for a new VHD: the footer time from `SOURCE_DATE_EPOCH` when
/// set (reproducible), else now.
fn create_options(profile: Profile) -> anyhow::Result<CreateOptions> {
    let mut opts = CreateOptions::new(profile);
    opts.timestamp = super::source_date_epoch()?.map(|t| vhd::writer::vhd_timestamp(t as u64));
    Ok(opts)
}

/// `SIZE OUT` (ours) or `OUT SIZE` (qemu-img's): whichever argument is a size.
/// When both read as sizes, ours wins.
fn create_args(first: &str, second: &str) -> anyhow::Result<(u64, PathBuf)> {
    match (vhd::parse_size(first), vhd::parse_size(second)) {
        (Ok(n), _) => Ok((n, PathBuf::from(second))),
        (Err(_), Ok(n)) => Ok((n, PathBuf::from(first))),
        (Err(e), Err(_)) => Err(anyhow::Error::new(e).context(format!(
            "neither {first:?} nor {second:?} is a size (expected SIZE OUT or, as qemu-img, OUT SIZE)"
        ))),
    }
}

/// Keep I/O errors visible to the exit-code logic.
fn lib_err(e: vhd::Error) -> anyhow::Error {
    if let Some(io) = e.as_io() {
        let msg = e.to_string();
        return anyhow::Error::new(std::io::Error::new(io.kind(), msg));
    }
    anyhow::Error::new(e)
}

fn report_written(ctx: &Ctx, out: &Path, w: &vhd::writer::Written) -> anyhow::Result<Status> {
    if ctx.json {
        ctx.print_json(&serde_json::json!({ "output": out, "written": w }))?;
    } else {
        outln!(
            "{}: {:?} VHD, {} bytes virtual, {} blocks allocated",
            out.display(),
            w.disk_type,
            w.size,
            w.blocks
        );
    }
    Ok(Status::Ok)
}

fn is_vhd(path: &Path) -> anyhow::Result<bool> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let len = f.metadata()?.len();
    if len < 512 {
        return Ok(false);
    }
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, len - 512)?;
    if &b == b"conectix" {
        return Ok(true);
    }
    f.read_exact_at(&mut b, 0)?;
    Ok(&b == b"conectix")
}

fn convert(
    ctx: &Ctx,
    input: &Path,
    out: &Path,
    profile: Profile,
    fixed: bool,
    to: Option<ToArg>,
) -> anyhow::Result<Status> {
    let from_vhd = is_vhd(input)?;
    let src: Box<dyn ContentSource> = if from_vhd {
        Box::new(Vhd::open(input).map_err(lib_err)?)
    } else {
        let len = std::fs::metadata(input)
            .with_context(|| format!("{}", input.display()))?
            .len();
        Box::new(HostFile::new(input, len))
    };
    let to = to.unwrap_or(if from_vhd { ToArg::Raw } else { ToArg::Vhd });
    let bar = ctx.bytes_bar(src.len(), "converting");
    let mut progress = |done: u64| bar.set_position(done);
    if to == ToArg::Raw {
        let n = vhd::convert_to_raw(src.as_ref(), out, &mut progress).map_err(lib_err)?;
        bar.finish_and_clear();
        if ctx.json {
            ctx.print_json(&serde_json::json!({ "output": out, "raw_bytes": n }))?;
        } else {
            outln!("{}: raw, {n} bytes", out.display());
        }
        return Ok(Status::Ok);
    }
    let mut opts = create_options(profile)?;
    opts.fixed |= fixed;
    let w = vhd::convert_to_vhd(src.as_ref(), out, &opts, &mut progress).map_err(lib_err)?;
    bar.finish_and_clear();
    report_written(ctx, out, &w)
}

#[derive(Serialize)]
struct Info<'a> {
    image: &'a Path,
    disk_type: vhd::DiskType,
    virtual_size: u64,
    file_size: u64,
    creator_app: String,
    creator_version: String,
    footer: &'a vhd::Footer,
    header: Option<&'a vhd::DynamicHeader>,
    allocated_blocks: usize,
    batmap: Option<&'a vhd::BatmapHeader>,
    parent: Option<Box<Info<'a>>>,
}

fn describe(v: &Vhd) -> Info<'_> {
    let f = v.footer();
    Info {
        image: v.path(),
        disk_type: v.disk_type(),
        virtual_size: v.size(),
        file_size: v.file_len(),
        creator_app: f.creator_app_text(),
        creator_version: format!("{}.{}", f.creator_version >> 16, f.creator_version & 0xffff),
        footer: f,
        header: v.header(),
        allocated_blocks: v.allocated_blocks(),
        batmap: v.batmap().map(|b| &b.0),
        parent: v.parent().map(|p| Box::new(describe(p))),
    }
}

/// The largest integer every JSON reader holds exactly (2^53 - 1, IEEE double).
const JSON_SAFE_MAX: u64 = (1 << 53) - 1;

/// A number when JSON readers hold it exactly, else its hex text (e.g. the all-ones
/// "unused" offsets of the VHD format).
fn json_u64(v: u64) -> serde_json::Value {
    if v <= JSON_SAFE_MAX {
        v.into()
    } else {
        format!("{v:#x}").into()
    }
}

/// Four bytes as text (`tap`, `qemu`, `Wi2k`), NULs and spaces at the end dropped.
fn four_cc(b: [u8; 4]) -> String {
    let end = b
        .iter()
        .rposition(|&c| c != 0 && c != b' ')
        .map_or(0, |i| i + 1);
    b[..end].escape_ascii().to_string()
}

/// `vhd info --json`: qemu-img's key names where they mean the same (`filename`,
/// `format`, `virtual-size`, `actual-size`, `cluster-size`, `dirty-flag`,
/// `backing-filename`, `backing-image` as with `--backing-chain`), then the VHD
/// structures under `vhd`. Sizes are numbers (values beyond 2^53 as hex text); the
/// creator is text.
fn info_json(i: &Info<'_>) -> anyhow::Result<serde_json::Value> {
    use serde_json::json;
    let f = i.footer;
    let actual = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(i.image)
            .with_context(|| format!("{}", i.image.display()))?
            .blocks()
            * 512
    };
    let mut v = serde_json::Map::new();
    v.insert("filename".into(), i.image.display().to_string().into());
    v.insert("format".into(), "vpc".into());
    v.insert("virtual-size".into(), json_u64(i.virtual_size));
    v.insert("actual-size".into(), json_u64(actual));
    if let Some(h) = i.header {
        v.insert("cluster-size".into(), u64::from(h.block_size).into());
    }
    v.insert("dirty-flag".into(), false.into());
    let header = i.header.map(|h| {
        let locators: Vec<serde_json::Value> = h
            .locators
            .iter()
            .filter(|l| l.code != vhd::format::platform::NONE)
            .map(|l| {
                json!({
                    "platform": four_cc(l.code.to_be_bytes()),
                    "data-space": l.data_space,
                    "data-length": l.data_len,
                    "data-offset": json_u64(l.data_offset),
                })
            })
            .collect();
        json!({
            "cookie": h.cookie.escape_ascii().to_string(),
            "data-offset": json_u64(h.data_offset),
            "table-offset": json_u64(h.table_offset),
            "version": format!("{}.{}", h.version >> 16, h.version & 0xffff),
            "max-table-entries": h.max_table_entries,
            "block-size": h.block_size,
            "checksum": format!("{:#010x}", h.checksum),
            "parent-uuid": hex::encode(h.parent_uuid),
            "parent-timestamp": h.parent_timestamp,
            "parent-name": h.parent_name(),
            "parent-locators": locators,
        })
    });
    v.insert(
        "vhd".into(),
        json!({
            "disk-type": i.disk_type,
            "file-size": json_u64(i.file_size),
            "creator-app": four_cc(f.creator_app),
            "creator-version": i.creator_version,
            "creator-os": four_cc(f.creator_os.to_be_bytes()),
            "original-size": json_u64(f.original_size),
            "current-size": json_u64(f.current_size),
            "geometry": {
                "cylinders": f.geometry.cylinders,
                "heads": f.geometry.heads,
                "sectors": f.geometry.sectors,
            },
            "timestamp": f.timestamp,
            "uuid": hex::encode(f.uuid),
            "features": format!("{:#010x}", f.features),
            "data-offset": json_u64(f.data_offset),
            "checksum": format!("{:#010x}", f.checksum),
            "saved-state": f.saved_state != 0,
            "hidden": f.hidden,
            "header": header,
            "allocated-blocks": i.allocated_blocks,
            "batmap": i.batmap.map(|b| json!({
                "map-offset": json_u64(b.map_offset),
                "map-sectors": b.map_sectors,
                "version": format!("{}.{}", b.version >> 16, b.version & 0xffff),
                "checksum": format!("{:#010x}", b.checksum),
                "marker": b.marker,
            })),
        }),
    );
    if let Some(p) = &i.parent {
        v.insert(
            "backing-filename".into(),
            p.image.display().to_string().into(),
        );
        v.insert("backing-filename-format".into(), "vpc".into());
        v.insert("backing-image".into(), info_json(p)?);
    }
    Ok(serde_json::Value::Object(v))
}

fn info(ctx: &Ctx, img: &Path) -> anyhow::Result<Status> {
    let v = Vhd::open(img).map_err(lib_err)?;
    let i = describe(&v);
    if ctx.json {
        ctx.print_json(&info_json(&i)?)?;
        return Ok(Status::Ok);
    }
    let mut cur = Some(&i);
    while let Some(i) = cur {
        let f = i.footer;
        outln!("image:           {}", i.image.display());
        outln!("type:            {:?}", i.disk_type);
        outln!("virtual size:    {} bytes", i.virtual_size);
        outln!("file size:       {} bytes", i.file_size);
        outln!(
            "creator:         {} {} (os {})",
            four_cc(f.creator_app),
            i.creator_version,
            four_cc(f.creator_os.to_be_bytes())
        );
        outln!(
            "geometry:        {}/{}/{} (C/H/S)",
            f.geometry.cylinders,
            f.geometry.heads,
            f.geometry.sectors
        );
        outln!("timestamp:       {}", f.timestamp);
        outln!(
            "uuid:            {}",
            f.uuid
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        if let Some(h) = i.header {
            outln!("block size:      {}", h.block_size);
            outln!(
                "BAT:             {:#x}, {} entries, {} allocated",
                h.table_offset,
                h.max_table_entries,
                i.allocated_blocks
            );
            if let Some(b) = i.batmap {
                outln!(
                    "batmap:          {:#x}, {} sectors, checksum {:#010x}",
                    b.map_offset,
                    b.map_sectors,
                    b.checksum
                );
            }
            if i.disk_type == vhd::DiskType::Differencing {
                outln!("parent name:     {}", h.parent_name());
            }
        }
        cur = i.parent.as_deref();
        if cur.is_some() {
            outln!("--- parent ---");
        }
    }
    Ok(Status::Ok)
}
