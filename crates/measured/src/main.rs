//! `measured`: build Xen service-VM disk images and predict the TPM
//! measurements their measured launch will produce.
//!
//! The binary is thin: every subcommand parses its arguments, calls the
//! libraries under `crates/`, and prints the result as text or `--json`.
//!
//! The process enters at [`start`] (not through std's `main` set-up; see
//! there why), which calls [`run`].

// Unit tests keep the test harness's own entry point.
#![cfg_attr(not(test), no_main)]

mod cmd;
mod exit;
mod output;
#[cfg(not(test))]
mod start;

use clap::{Args, CommandFactory, Parser, Subcommand};

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

// Deferred: each subcommand's arguments, and each group's subcommands, are defined
// only when it is the one invoked, so a run builds one branch of the command tree,
// not all of it (start-up cost matters for `log replay` run once per log).
#[derive(Subcommand, Debug)]
#[command(defer = true)]
enum Command {
    /// VHD disk images: create, convert, inspect, check.
    Vhd(Group<cmd::vhd::VhdCommand>),
    /// ext2/3/4 filesystems: build from a tree, list, read, stat.
    Fs(Group<cmd::fs::FsCommand>),
    /// Service VM images: a bootable disk plus VM definitions.
    Image(Group<cmd::image::ImageCommand>),
    /// TCG event logs: show and replay.
    Log(Group<cmd::log::LogCommand>),
    /// TPM policy digests computed in software.
    Policy(Group<cmd::policy::PolicyCommand>),
    /// Intel TXT + tboot dynamic launch: ACMs, PCR17/18/19 prediction, replay.
    Drtm(Group<cmd::drtm::DrtmCommand>),
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

// A command group (`vhd`, `log`, ...) as clap `Args`, not a nested `Subcommand`:
// clap defers the definition of `Args` variants, so the group's subcommands are
// built only when the group is invoked. No doc comment: it would replace the
// group's own `about` in `--help`.
#[derive(Args, Debug)]
struct Group<T: Subcommand> {
    #[command(subcommand)]
    command: T,
}

/// The whole command tree with every group's subcommands defined, for what
/// describes all of it (completions, man pages): clap copies the tree under
/// `help` as it stands, so a group still deferred would lose `help GROUP SUB`.
fn full_command() -> clap::Command {
    fn define<T: Subcommand>(group: clap::Command) -> clap::Command {
        // What the deferred definition does, done now (and not again).
        Group::<T>::augment_args(group.defer(|c| c))
    }
    let mut cli = Cli::command();
    for sub in cli.get_subcommands_mut() {
        let define: fn(clap::Command) -> clap::Command = match sub.get_name() {
            "vhd" => define::<cmd::vhd::VhdCommand>,
            "fs" => define::<cmd::fs::FsCommand>,
            "image" => define::<cmd::image::ImageCommand>,
            "log" => define::<cmd::log::LogCommand>,
            "policy" => define::<cmd::policy::PolicyCommand>,
            "drtm" => define::<cmd::drtm::DrtmCommand>,
            _ => continue,
        };
        *sub = define(std::mem::take(sub));
    }
    cli
}

/// The command line, program name first (see [`start::args`]).
#[cfg(not(test))]
fn args() -> Vec<std::ffi::OsString> {
    start::args()
}

/// The command line, program name first: under the test harness, std's own.
#[cfg(test)]
fn args() -> Vec<std::ffi::OsString> {
    std::env::args_os().collect()
}

/// Parse the command line, run the command, report: the exit code.
#[cfg_attr(test, allow(dead_code))]
fn run() -> u8 {
    let cli = match Cli::try_parse_from(args()) {
        Ok(cli) => cli,
        Err(e) => {
            let code = output::argument_error(e);
            output::finish_stdout();
            return code;
        }
    };
    let ctx = output::Ctx::new(cli.json, cli.progress, cli.quiet);
    let result = match cli.command {
        Command::Vhd(g) => cmd::vhd::run(g.command, &ctx),
        Command::Fs(g) => cmd::fs::run(g.command, &ctx),
        Command::Image(g) => cmd::image::run(g.command, &ctx),
        Command::Log(g) => cmd::log::run(g.command, &ctx),
        Command::Policy(g) => cmd::policy::run(g.command, &ctx),
        Command::Drtm(g) => cmd::drtm::run(g.command, &ctx),
        Command::Build(a) => cmd::build::run(a, &ctx),
        Command::Completions { shell } => {
            let mut command = full_command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "measured", &mut script);
            output::write_stdout_bytes(&script);
            Ok(exit::Status::Ok)
        }
        Command::Manpages { dir } => cmd::manpages::write_all(full_command(), &dir).map(|pages| {
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
        Ok(status) => status.code(),
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
            exit::OS_ERROR
        }
        _ => code,
    }
}
