//! `measured vhd`: create, convert, inspect and check VHD images.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use fstree::{ContentSource, HostFile};
use vhd::{CreateOptions, Profile, Vhd};

use crate::exit::Status;
use crate::outfile::OutFile;
use crate::output::Ctx;
use crate::size::parse_size;

/// The `vhd` subcommands.
#[derive(Subcommand, Debug)]
pub enum VhdCommand {
    /// Create an empty VHD of SIZE bytes (suffixes K, M, G, T).
    Create {
        /// Virtual size, e.g. 100M or 20G (the profile may round it up).
        #[arg(value_parser = parse_size)]
        size: u64,
        /// Where to write it.
        out: PathBuf,
        #[command(flatten)]
        shape: ShapeArgs,
    },
    /// Convert raw → VHD, VHD → raw, or VHD → VHD (flattening a chain).
    Convert {
        /// Input image: raw, or any VHD (format detected).
        input: PathBuf,
        /// Output image.
        out: PathBuf,
        /// Output format; by default VHD unless OUT ends in .raw or .img.
        #[arg(long, value_enum)]
        to: Option<Format>,
        /// Virtual size of the output VHD (default: the input's size).
        #[arg(long, value_parser = parse_size)]
        size: Option<u64>,
        #[command(flatten)]
        shape: ShapeArgs,
    },
    /// Show a VHD's footer, header and allocation.
    Info {
        /// The image.
        image: PathBuf,
    },
    /// Check a VHD against every rule strict readers apply; exit 1 on any
    /// violation.
    Check {
        /// The image.
        image: PathBuf,
    },
}

/// How the output VHD is shaped.
#[derive(clap::Args, Debug)]
pub struct ShapeArgs {
    /// Consumer conventions: tap (vhd-util/OpenXT), qemu (qemu-img), fixed (Hyper-V/Azure).
    #[arg(long, default_value = "tap")]
    profile: Profile,
    /// Write a fixed VHD instead of a dynamic one.
    #[arg(long)]
    fixed: bool,
    /// Footer UUID (default: derived from the contents, for reproducibility).
    #[arg(long)]
    uuid: Option<String>,
    /// Payload bytes per block of a dynamic disk (vhd-util and tapdisk
    /// only handle the default 2M).
    #[arg(long, value_parser = parse_size, default_value = "2M")]
    block_size: u64,
}

/// Image formats `convert` writes.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// A raw disk image (sparse).
    Raw,
    /// A VHD.
    Vhd,
}

impl ShapeArgs {
    fn options(&self, size: u64) -> anyhow::Result<CreateOptions> {
        let mut o = CreateOptions::new(self.profile, size);
        o.fixed = o.fixed || self.fixed;
        if let Some(u) = &self.uuid {
            o.uuid = Some(parse_uuid(u)?);
        }
        o.block_size = u32::try_from(self.block_size)
            .map_err(|_| anyhow::anyhow!("--block-size {} is over 4 GiB", self.block_size))?;
        Ok(o)
    }
}

fn parse_uuid(s: &str) -> anyhow::Result<[u8; 16]> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    anyhow::ensure!(
        hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        "--uuid {s:?}: expected 32 hex digits, dashes optional"
    );
    let mut u = [0u8; 16];
    for (i, b) in u.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("checked hex");
    }
    Ok(u)
}

/// Whether a file looks like a VHD: a footer cookie at its end (or a
/// dynamic disk's copy at its start).
fn looks_like_vhd(path: &Path) -> anyhow::Result<bool> {
    use std::os::unix::fs::FileExt;
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = f.metadata()?.len();
    let mut c = [0u8; 8];
    if len >= 512 && f.read_exact_at(&mut c, len - 512).is_ok() && &c == b"conectix" {
        return Ok(true);
    }
    Ok(len >= 512 && f.read_exact_at(&mut c, 0).is_ok() && &c == b"conectix")
}

/// Open an image as a readable source: VHD through its chain, else raw.
pub fn open_source(path: &Path) -> anyhow::Result<Box<dyn ContentSource>> {
    if looks_like_vhd(path)? {
        let v = Vhd::open(path).with_context(|| format!("reading VHD {}", path.display()))?;
        Ok(Box::new(v))
    } else {
        let len = std::fs::metadata(path)
            .with_context(|| format!("stat {}", path.display()))?
            .len();
        Ok(Box::new(HostFile::new(path, len)))
    }
}

/// Run one `vhd` subcommand.
pub fn run(cmd: VhdCommand, ctx: &Ctx) -> anyhow::Result<Status> {
    match cmd {
        VhdCommand::Create { size, out, shape } => {
            let opts = shape.options(size)?;
            let tmp = OutFile::create(&out)?;
            let footer = vhd::VhdWriter::new(tmp.file()?, opts)
                .and_then(|w| w.finish())
                .with_context(|| format!("writing {}", out.display()))?;
            tmp.commit(&out)?;
            report_written(ctx, &out, &footer)
        }
        VhdCommand::Convert {
            input,
            out,
            to,
            size,
            shape,
        } => {
            let src = open_source(&input)?;
            let to = to.unwrap_or_else(|| match out.extension().and_then(|e| e.to_str()) {
                Some("raw" | "img") => Format::Raw,
                _ => Format::Vhd,
            });
            let bar = ctx.bytes_bar(data_bytes(&*src)?, "converting");
            let mut progress = |n: u64| bar.inc(n);
            let tmp = OutFile::create(&out)?;
            let what = || format!("converting {} to {}", input.display(), out.display());
            match to {
                Format::Raw => {
                    vhd::convert::to_raw(&*src, tmp.file()?, &mut progress).with_context(what)?;
                    bar.finish_and_clear();
                    tmp.commit(&out)?;
                    if ctx.json {
                        ctx.print_json(&serde_json::json!({
                            "output": out, "format": "raw", "size": src.len()
                        }))?;
                    }
                    Ok(Status::Ok)
                }
                Format::Vhd => {
                    let opts = shape.options(size.unwrap_or(src.len()))?;
                    let footer = vhd::convert::to_vhd(&*src, tmp.file()?, opts, &mut progress)
                        .with_context(what)?;
                    bar.finish_and_clear();
                    tmp.commit(&out)?;
                    report_written(ctx, &out, &footer)
                }
            }
        }
        VhdCommand::Info { image } => {
            let v = Vhd::open(&image).with_context(|| format!("reading {}", image.display()))?;
            print_info(ctx, &v)?;
            Ok(Status::Ok)
        }
        VhdCommand::Check { image } => {
            let found =
                vhd::check(&image).with_context(|| format!("reading {}", image.display()))?;
            if ctx.json {
                ctx.print_json(&serde_json::json!({
                    "image": image, "valid": found.is_empty(), "violations": found
                }))?;
            } else if found.is_empty() {
                println!("{}: valid", image.display());
            } else {
                for v in &found {
                    println!("{}: offset {}: {}", image.display(), v.offset, v.message);
                }
            }
            Ok(if found.is_empty() {
                Status::Ok
            } else {
                Status::Found
            })
        }
    }
}

fn data_bytes(src: &dyn ContentSource) -> anyhow::Result<u64> {
    Ok(src.data_ranges()?.iter().map(|r| r.1).sum())
}

fn report_written(ctx: &Ctx, out: &Path, footer: &vhd::Footer) -> anyhow::Result<Status> {
    if ctx.json {
        ctx.print_json(&serde_json::json!({ "output": out, "footer": footer }))?;
    } else {
        println!(
            "{}: {:?} VHD, {} bytes, creator {}",
            out.display(),
            footer.disk_type,
            footer.current_size,
            vhd::footer::fourcc(&footer.creator_app)
        );
    }
    Ok(Status::Ok)
}

fn print_info(ctx: &Ctx, v: &Vhd) -> anyhow::Result<()> {
    let allocated = v.bat().map(|b| {
        b.iter()
            .filter(|&&e| e != vhd::dynamic::UNALLOCATED)
            .count()
    });
    let mut chain = Vec::new();
    let mut p = v.parent();
    while let Some(x) = p {
        chain.push(x.path().to_path_buf());
        p = x.parent();
    }
    if ctx.json {
        return ctx.print_json(&serde_json::json!({
            "image": v.path(),
            "file_size": v.file_len(),
            "virtual_size": v.size(),
            "footer": v.footer(),
            "dynamic_header": v.header(),
            "allocated_blocks": allocated,
            "batmap": v.batmap(),
            "parents": chain,
        }));
    }
    let f = v.footer();
    println!("image:          {}", v.path().display());
    println!("type:           {:?}", f.disk_type);
    println!("virtual size:   {} bytes", v.size());
    println!("file size:      {} bytes", v.file_len());
    println!(
        "creator:        {} {}.{} on {}",
        vhd::footer::fourcc(&f.creator_app),
        f.creator_version >> 16,
        f.creator_version & 0xffff,
        vhd::footer::fourcc(&f.creator_os)
    );
    println!(
        "geometry:       {}/{}/{} (C/H/S)",
        f.geometry.cylinders, f.geometry.heads, f.geometry.sectors
    );
    println!("uuid:           {}", vhd::footer::format_uuid(&f.uuid));
    println!("timestamp:      {} (seconds since 2000-01-01)", f.timestamp);
    if let Some(h) = v.header() {
        println!("block size:     {} bytes", h.block_size);
        println!(
            "BAT:            {} entries at {}",
            h.max_table_entries, h.table_offset
        );
        println!("allocated:      {} blocks", allocated.unwrap_or(0));
    }
    if let Some(b) = v.batmap() {
        println!(
            "batmap:         {} sectors at {}",
            b.map_sectors, b.map_offset
        );
    }
    for p in chain {
        println!("parent:         {}", p.display());
    }
    Ok(())
}
