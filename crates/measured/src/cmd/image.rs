//! `measured image`: build a service-VM bundle from a spec.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::exit::Status;
use crate::outln;
use crate::output::Ctx;

// The `image` subcommands. A plain comment: clap would show a doc comment here as
// the group's description, in place of the one on its variant in `main.rs`.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum ImageCommand {
    /// Build a bootable disk, kernel/initrd and VM definitions into a bundle directory.
    Build(Box<BuildArgs>),
}

/// `measured image build`: every spec field is also a flag (flags win).
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The spec file (TOML). Optional when the required fields are flags.
    pub spec: Option<PathBuf>,
    /// Bundle directory to write (replaced atomically if it is a bundle).
    #[arg(short, long)]
    pub out: PathBuf,
    /// VM name.
    #[arg(long)]
    pub name: Option<String>,
    /// Root filesystem: directory, ext2/3/4 image or tar archive.
    #[arg(long)]
    pub rootfs: Option<PathBuf>,
    /// Owners in the image: auto (default: the builder's files become
    /// root's, others kept), keep, or root.
    #[arg(long)]
    pub owners: Option<String>,
    /// Kernel bzImage.
    #[arg(long)]
    pub kernel: Option<PathBuf>,
    /// The kernel's `lib/modules/<version>` directory or a tarball of it.
    #[arg(long)]
    pub modules: Option<PathBuf>,
    /// Use this initrd instead of generating one.
    #[arg(long)]
    pub initrd: Option<PathBuf>,
    /// Static busybox for the initramfs.
    #[arg(long)]
    pub busybox: Option<PathBuf>,
    /// auto, always or never.
    #[arg(long)]
    pub initramfs: Option<String>,
    /// Modules the initramfs loads to reach the root disk (repeatable).
    #[arg(long = "root-module")]
    pub root_modules: Vec<String>,
    /// Kernel command line.
    #[arg(long)]
    pub cmdline: Option<String>,
    /// Disk size in MiB.
    #[arg(long)]
    pub disk_size_mib: Option<u64>,
    /// ext2, ext3 (default) or ext4.
    #[arg(long)]
    pub fs_type: Option<String>,
    /// vhd-tap (default), vhd-qemu, vhd-fixed or raw.
    #[arg(long)]
    pub format: Option<String>,
    /// hvc0 (default) or xvc0.
    #[arg(long)]
    pub console: Option<String>,
    /// Console baud rate.
    #[arg(long)]
    pub baud: Option<u32>,
    /// Memory in MiB.
    #[arg(long)]
    pub memory_mib: Option<u32>,
    /// Virtual CPUs.
    #[arg(long)]
    pub vcpus: Option<u32>,
    /// pv (default) or pvh.
    #[arg(long)]
    pub virt_type: Option<String>,
    /// OpenXT flask label.
    #[arg(long)]
    pub flask_label: Option<String>,
    /// OpenXT service tag.
    #[arg(long)]
    pub service_tag: Option<String>,
    /// VM UUID.
    #[arg(long)]
    pub uuid: Option<String>,
    /// dom0 directory for the disk and kernel.
    #[arg(long)]
    pub dom0_dir: Option<String>,
}

fn abs(p: &Path) -> anyhow::Result<String> {
    let p = if p.is_relative() {
        std::env::current_dir()?.join(p)
    } else {
        p.to_path_buf()
    };
    Ok(p.to_string_lossy().into_owned())
}

fn merged_spec(a: &BuildArgs) -> anyhow::Result<image::spec::Spec> {
    let (mut table, base, label) = match &a.spec {
        Some(p) => {
            let t = image::spec::Spec::read_table(p)?;
            let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
            (t, base, p.clone())
        }
        None => (toml::Table::new(), PathBuf::new(), PathBuf::from("(flags)")),
    };
    let mut set = |k: &str, v: toml::Value| {
        table.insert(k.to_string(), v);
    };
    use toml::Value as V;
    if let Some(v) = &a.name {
        set("name", V::String(v.clone()));
    }
    for (k, v) in [
        ("rootfs", &a.rootfs),
        ("kernel", &a.kernel),
        ("modules", &a.modules),
        ("initrd", &a.initrd),
        ("busybox", &a.busybox),
    ] {
        if let Some(p) = v {
            set(k, V::String(abs(p)?));
        }
    }
    for (k, v) in [
        ("initramfs", &a.initramfs),
        ("owners", &a.owners),
        ("cmdline", &a.cmdline),
        ("fs_type", &a.fs_type),
        ("format", &a.format),
        ("console", &a.console),
        ("virt_type", &a.virt_type),
        ("flask_label", &a.flask_label),
        ("service_tag", &a.service_tag),
        ("uuid", &a.uuid),
        ("dom0_dir", &a.dom0_dir),
    ] {
        if let Some(s) = v {
            set(k, V::String(s.clone()));
        }
    }
    if !a.root_modules.is_empty() {
        set(
            "root_modules",
            V::Array(a.root_modules.iter().cloned().map(V::String).collect()),
        );
    }
    if let Some(v) = a.disk_size_mib {
        set("disk_size_mib", V::Integer(v as i64));
    }
    for (k, v) in [
        ("baud", a.baud),
        ("memory_mib", a.memory_mib),
        ("vcpus", a.vcpus),
    ] {
        if let Some(v) = v {
            set(k, V::Integer(i64::from(v)));
        }
    }
    Ok(image::spec::Spec::from_table(table, &base, &label)?)
}

/// Run one `image` subcommand.
pub fn run(cmd: ImageCommand, ctx: &Ctx) -> anyhow::Result<Status> {
    match cmd {
        ImageCommand::Build(a) => {
            let spec = merged_spec(&a)?;
            let epoch = super::build_epoch()?;
            // The pipeline's stages, then the swap into place.
            let bar = ctx.steps_bar(image::pipeline::STAGES.len() as u64 + 1, "image");
            let step = |s: &str| {
                bar.inc(1);
                bar.set_message(s.to_string());
            };
            let report = image::pipeline::build(&spec, &a.out, epoch, &step)?;
            bar.finish_and_clear();
            if ctx.json {
                ctx.print_json(&report)?;
            } else {
                outln!(
                    "built {} (kernel {}, init {:?}) in {}",
                    report.name,
                    report.kernel_release,
                    report.init_system,
                    a.out.display()
                );
                for o in &report.outputs {
                    outln!("  {:<40} {:>12}  {}", o.path, o.size, o.sha256);
                }
            }
            Ok(Status::Ok)
        }
    }
}
