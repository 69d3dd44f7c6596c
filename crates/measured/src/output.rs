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
}

impl Ctx {
    /// Progress shows on a terminal unless `quiet`, or anywhere when `force`d.
    pub fn new(json: bool, force: bool, quiet: bool) -> Self {
        let show_progress = !quiet && (force || std::io::stderr().is_terminal());
        Ctx {
            json,
            show_progress,
        }
    }

    /// A byte-counting progress bar, hidden when progress is off.
    #[allow(dead_code)]
    pub fn bytes_bar(&self, total: u64, msg: &str) -> ProgressBar {
        if !self.show_progress {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template(
                "{msg:>12} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        pb.set_message(msg.to_string());
        pb
    }

    /// A step counter progress bar, hidden when progress is off.
    #[allow(dead_code)]
    pub fn steps_bar(&self, total: u64, msg: &str) -> ProgressBar {
        if !self.show_progress {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
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
