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
        let code = exit_code(e);
        if self.json {
            let causes: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            let v =
                serde_json::json!({ "error": causes.join(": "), "causes": causes, "exit": code });
            println!("{v}");
        } else {
            eprintln!("measured: error: {}", message(e));
        }
        ExitCode::from(code)
    }
}

/// An error and its causes on one line, each cause said once: many
/// errors already print their source in their own message.
pub fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for c in e.chain() {
        let t = c.to_string();
        if out.contains(&t) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&t);
    }
    out
}

/// The exit status of a failed command: 3 when the operating system failed
/// us while writing output (a full disk, an unwritable output directory),
/// 2 for everything else (bad or unreadable input, a refused request).
pub fn exit_code(e: &anyhow::Error) -> u8 {
    for c in e.chain() {
        if let Some(o) = output_error(c) {
            return if o.is_os_error() {
                exit::OS_ERROR
            } else {
                exit::BAD_INPUT
            };
        }
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| is_write_failure(io.kind()))
        {
            return exit::OS_ERROR;
        }
    }
    exit::BAD_INPUT
}

/// An error of the output machinery, directly or inside a library error
/// that carries it transparently.
fn output_error<'a>(c: &'a (dyn std::error::Error + 'static)) -> Option<&'a outputs::Error> {
    if let Some(o) = c.downcast_ref::<outputs::Error>() {
        return Some(o);
    }
    if let Some(vhd::Error::Output(o)) = c.downcast_ref::<vhd::Error>() {
        return Some(o);
    }
    if let Some(image::ImageError::Output(o)) = c.downcast_ref::<image::ImageError>() {
        return Some(o);
    }
    if let Some(bundle::BundleError::Output(o)) = c.downcast_ref::<bundle::BundleError>() {
        return Some(o);
    }
    None
}

/// Errors only writing can meet. Reading an input never fills a disk, so
/// these are the output's fault whatever file they name; a permission
/// error is not among them (an unreadable input is exit 2; an unwritable
/// output directory comes as an `outputs::Error`).
fn is_write_failure(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        kind,
        StorageFull | ReadOnlyFilesystem | QuotaExceeded | FileTooLarge
    )
}
