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

/// The `vhd` subcommands.
#[derive(Subcommand, Debug)]
pub enum VhdCommand {
    /// Create an empty VHD of SIZE bytes (suffixes K, M, G, T; binary).
    Create {
        /// Virtual size, e.g. 100M, 20GiB.
        size: String,
        /// Output file.
        out: PathBuf,
        /// Which consumer to shape the image for.
        #[arg(long, value_enum, default_value = "tap")]
        profile: ProfileArg,
        /// Write a fixed (preallocated-layout, sparse on disk) image.
        #[arg(long)]
        fixed: bool,
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
            size,
            out,
            profile,
            fixed,
        } => {
            let bytes = vhd::parse_size(&size)?;
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

fn info(ctx: &Ctx, img: &Path) -> anyhow::Result<Status> {
    let v = Vhd::open(img).map_err(lib_err)?;
    let i = describe(&v);
    if ctx.json {
        ctx.print_json(&i)?;
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
            "creator:         {:?} {} os {:#010x}",
            i.creator_app,
            i.creator_version,
            f.creator_os
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
