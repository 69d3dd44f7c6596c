//! Output conventions shared by every subcommand: text or JSON, progress
//! bars only on a terminal, errors as one clear message.

use std::io::IsTerminal;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::exit;

/// What every subcommand gets: how to print and whether to show progress.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Print JSON instead of text.
    pub json: bool,
    show_progress: bool,
    /// `-p` on a stderr that is not a terminal: draw anyway.
    forced: bool,
}

impl Ctx {
    /// Progress shows on a terminal unless `quiet`, or anywhere when `force`d.
    pub fn new(json: bool, force: bool, quiet: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        let show_progress = !quiet && (force || tty);
        Ctx {
            json,
            show_progress,
            forced: show_progress && !tty,
        }
    }

    /// Where bars draw: stderr. indicatif hides a terminal target that is not a
    /// terminal, so a forced bar draws through the terminal-like interface instead.
    fn target(&self) -> ProgressDrawTarget {
        if self.forced {
            ProgressDrawTarget::term_like_with_hz(Box::new(console::Term::stderr()), 20)
        } else {
            ProgressDrawTarget::stderr()
        }
    }

    /// A byte-counting progress bar, hidden when progress is off.
    #[allow(dead_code)]
    pub fn bytes_bar(&self, total: u64, msg: &str) -> ProgressBar {
        if !self.show_progress {
            return ProgressBar::hidden();
        }
        // A total of 0 means "unknown": count bytes without a total or an eta
        // (never "5 MiB/0 B").
        let (len, template) = if total == 0 {
            (None, "{msg:>12} {spinner} {bytes} {bytes_per_sec}")
        } else {
            (
                Some(total),
                "{msg:>12} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
        };
        let pb = ProgressBar::with_draw_target(len, self.target());
        pb.set_style(
            ProgressStyle::with_template(template)
                .expect("static template")
                .progress_chars("=> "),
        );
        pb.set_message(msg.to_string());
        pb
    }

    /// The style of a byte bar whose total is known (for a bar made before its total was).
    pub fn bytes_style(&self) -> ProgressStyle {
        ProgressStyle::with_template(
            "{msg:>12} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("static template")
        .progress_chars("=> ")
    }

    /// A step counter progress bar, hidden when progress is off.
    #[allow(dead_code)]
    pub fn steps_bar(&self, total: u64, msg: &str) -> ProgressBar {
        if !self.show_progress {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::with_draw_target(Some(total), self.target());
        pb.set_style(
            ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} {wide_msg}")
                .expect("static template")
                .progress_chars("=> "),
        );
        pb.set_message(msg.to_string());
        pb
    }

    /// Print a serialisable report as pretty JSON on stdout.
    #[allow(dead_code)]
    pub fn print_json<T: serde::Serialize>(&self, value: &T) -> anyhow::Result<()> {
        let s = serde_json::to_string_pretty(value)?;
        println!("{s}");
        Ok(())
    }

    /// Print an error (with its causes) and pick the exit code.
    pub fn report_error(&self, e: &anyhow::Error) -> ExitCode {
        let code = if e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io_is_os_side(io.kind()))
        }) {
            exit::OS_ERROR
        } else {
            exit::BAD_INPUT
        };
        if self.json {
            let causes: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            let v =
                serde_json::json!({ "error": causes.join(": "), "causes": causes, "exit": code });
            println!("{v}");
        } else {
            eprintln!("measured: error: {e:#}");
        }
        ExitCode::from(code)
    }
}

fn io_is_os_side(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        kind,
        PermissionDenied | StorageFull | ReadOnlyFilesystem | QuotaExceeded | AlreadyExists
    )
}

/// A command line clap refused (or `--help`/`--version`, which it prints as usual).
/// With `--json` anywhere on the line, the error is JSON on stdout like every other
/// error (`{"error", "causes", "exit"}`), exit 2.
pub fn argument_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let json = std::env::args_os().skip(1).any(|a| a == "--json");
    let shown = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !json || shown {
        e.exit();
    }
    let text = e.render().to_string();
    // The message is everything before the usage block, on one line.
    let head = text.split("\n\n").next().unwrap_or("");
    let msg = head
        .trim_start_matches("error: ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let v = serde_json::json!({
        "error": msg,
        "causes": [msg],
        "usage": text.trim_end(),
        "exit": exit::BAD_INPUT,
    });
    println!("{v}");
    ExitCode::from(exit::BAD_INPUT)
}
