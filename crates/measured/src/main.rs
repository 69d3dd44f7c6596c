//! `measured`: build Xen service-VM disk images and predict the TPM
//! measurements their measured launch will produce.
//!
//! The binary is thin: every subcommand parses its arguments, calls the
//! libraries under `crates/`, and prints the result as text or `--json`.

mod cmd;
mod exit;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Build Xen service-VM disk images and predict their TPM measurements.
#[derive(Parser, Debug)]
#[command(name = "measured", version, about, long_about = None)]
#[command(after_help = exit::HELP)]
pub struct Cli {
    /// Print machine-readable JSON instead of text (reports and errors).
    #[arg(long, global = true)]
    json: bool,
    /// Show progress bars even when stderr is not a terminal.
    #[arg(short = 'p', long, global = true)]
    progress: bool,
    /// Never show progress bars.
    #[arg(short = 'q', long, global = true, conflicts_with = "progress")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

// Deferred: each subcommand's arguments are defined only when it is the one
// invoked, so a run builds one branch of the command tree, not all of it (start-up
// cost matters for `log replay` run once per log).
#[derive(Subcommand, Debug)]
#[command(defer = true)]
enum Command {
    /// VHD disk images: create, convert, inspect, check.
    #[command(subcommand)]
    Vhd(cmd::vhd::VhdCommand),
    /// ext2/3/4 filesystems: build from a tree, list, read, stat.
    #[command(subcommand)]
    Fs(cmd::fs::FsCommand),
    /// Service VM images: a bootable disk plus VM definitions.
    #[command(subcommand)]
    Image(cmd::image::ImageCommand),
    /// TCG event logs: show and replay.
    #[command(subcommand)]
    Log(cmd::log::LogCommand),
    /// TPM policy digests computed in software.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCommand),
    /// Intel TXT + tboot dynamic launch: ACMs, PCR17/18/19 prediction, replay.
    #[command(subcommand)]
    Drtm(cmd::drtm::DrtmCommand),
    /// Build a measured service VM bundle from a spec, with predicted PCRs.
    Build(cmd::build::BuildArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Write a man page per command (measured.1, measured-vhd-create.1, ...) into DIR,
    /// e.g. `measured manpages /usr/local/share/man/man1`.
    Manpages {
        /// Where to write the pages (created if missing).
        dir: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return output::argument_error(e),
    };
    let ctx = output::Ctx::new(cli.json, cli.progress, cli.quiet);
    let result = match cli.command {
        Command::Vhd(c) => cmd::vhd::run(c, &ctx),
        Command::Fs(c) => cmd::fs::run(c, &ctx),
        Command::Image(c) => cmd::image::run(c, &ctx),
        Command::Log(c) => cmd::log::run(c, &ctx),
        Command::Policy(c) => cmd::policy::run(c, &ctx),
        Command::Drtm(c) => cmd::drtm::run(c, &ctx),
        Command::Build(a) => cmd::build::run(a, &ctx),
        Command::Completions { shell } => {
            let mut command = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "measured", &mut script);
            output::write_stdout_bytes(&script);
            Ok(exit::Status::Ok)
        }
        Command::Manpages { dir } => cmd::manpages::write_all(Cli::command(), &dir).map(|pages| {
            if ctx.json {
                outln!("{}", serde_json::json!({ "pages": pages }));
            } else {
                for p in pages {
                    outln!("{}", p.display());
                }
            }
            exit::Status::Ok
        }),
    };
    let failed = result.is_err();
    let code = match result {
        Ok(status) => status.into(),
        Err(e) => ctx.report_error(&e),
    };
    // Every command's stdout failure is handled here, once: the work is
    // done (a build is committed), but the report did not reach its reader.
    // A command's own error wins over a failure to print it.
    match output::finish_stdout() {
        Some(e) if !failed => {
            output::write_stderr(format_args!(
                "measured: error: writing to standard output: {e}\n"
            ));
            ExitCode::from(exit::OS_ERROR)
        }
        _ => code,
    }
}
