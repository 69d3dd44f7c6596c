//! Output conventions shared by every subcommand: text or JSON, progress
//! bars only on a terminal, errors as one clear message.
//!
//! Standard output is written in one place ([`outln!`], [`write_stdout`]),
//! so a failing stdout is handled once for every command, as coreutils do:
//! a closed pipe (`measured log show X | head`) ends the process quietly by
//! SIGPIPE; any other write error (`> /dev/full`) is remembered, the
//! command finishes its work (outputs already committed stay committed),
//! and `main` exits 3 with a message.
//!
//! Off a terminal (a file, a pipe), standard output goes out in blocks, one
//! write(2) per [`BLOCK`] bytes and one at the end, not one per line, as
//! coreutils do; on a terminal, line by line, as a person reads it.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

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
        crate::outln!("{s}");
        Ok(())
    }

    /// Print an error (with its causes) and pick the exit code.
    pub fn report_error(&self, e: &anyhow::Error) -> u8 {
        let code = exit_code(e);
        if self.json {
            let causes: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            let v =
                serde_json::json!({ "error": causes.join(": "), "causes": causes, "exit": code });
            crate::outln!("{v}");
        } else {
            write_stderr(format_args!("measured: error: {}\n", message(e)));
        }
        code
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

/// The first error writing to standard output, kept for `main`.
static STDOUT_ERROR: Mutex<Option<std::io::Error>> = Mutex::new(None);

/// Print to standard output, like `println!`, with [`write_stdout`]'s
/// handling of a closed or full stdout.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Print to standard output without a newline, like `print!` (see [`outln!`]).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!($($arg)*))
    };
}

/// Write to standard output. A closed pipe ends the process by SIGPIPE
/// (silently, as `cat` does); another error is kept for [`finish_stdout`]
/// and later writes are skipped.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    if stdout_failed() {
        return;
    }
    if let Ok(mut p) = PENDING.lock() {
        // Writing into a Vec cannot fail.
        let _ = p.buf.write_fmt(args);
        if p.on_terminal() || p.buf.len() >= BLOCK {
            p.hand_over();
        }
    }
}

/// Write raw bytes to standard output (see [`write_stdout`]); `false` once
/// stdout has failed, so a long copy can stop.
pub fn write_stdout_bytes(b: &[u8]) -> bool {
    if stdout_failed() {
        return false;
    }
    if let Ok(mut p) = PENDING.lock() {
        if p.buf.len() + b.len() < BLOCK && !p.on_terminal() {
            p.buf.extend_from_slice(b);
        } else {
            // A large block goes out as it is, after what was pending.
            p.hand_over();
            if !stdout_failed() {
                // Flushed at once: std's stdout keeps a line's tail, and
                // with our own entry point nothing flushes it at exit.
                let r = {
                    let mut out = std::io::stdout().lock();
                    out.write_all(b).and_then(|()| out.flush())
                };
                if let Err(e) = r {
                    stdout_error(e);
                }
            }
        }
    }
    !stdout_failed()
}

/// Bytes per write(2) to a standard output that is not a terminal.
const BLOCK: usize = 64 * 1024;

/// Standard output written by us and not yet handed to the OS.
struct Pending {
    buf: Vec<u8>,
    /// Whether stdout is a terminal, asked once, on the first write.
    terminal: Option<bool>,
}

static PENDING: Mutex<Pending> = Mutex::new(Pending {
    buf: Vec::new(),
    terminal: None,
});

impl Pending {
    fn on_terminal(&mut self) -> bool {
        *self
            .terminal
            .get_or_insert_with(|| std::io::stdout().is_terminal())
    }

    /// Write out what is pending (see [`write_stdout`] for errors).
    fn hand_over(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let r = {
            let mut out = std::io::stdout().lock();
            out.write_all(&self.buf).and_then(|()| out.flush())
        };
        self.buf.clear();
        if let Err(e) = r {
            stdout_error(e);
        }
    }
}

fn stdout_failed() -> bool {
    STDOUT_ERROR.lock().map(|g| g.is_some()).unwrap_or(true)
}

fn stdout_error(e: std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        die_of_sigpipe();
    }
    if let Ok(mut g) = STDOUT_ERROR.lock() {
        g.get_or_insert(e);
    }
}

/// End like a coreutils program whose reader went away: killed by SIGPIPE,
/// no message. Rust ignores SIGPIPE at startup; restore the default action
/// and raise it.
fn die_of_sigpipe() -> ! {
    // SAFETY: `signal` with `SIG_DFL` installs no handler (no code of ours
    // runs in signal context), and `raise` only sends a signal to this
    // process; neither touches memory Rust owns. Both are async-signal-safe
    // and valid from any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    // Not reached: the default action of SIGPIPE terminates the process.
    std::process::exit(128 + libc::SIGPIPE);
}

/// Write out what is pending and return the first error writing standard
/// output, if any.
pub fn finish_stdout() -> Option<std::io::Error> {
    if !stdout_failed() {
        if let Ok(mut p) = PENDING.lock() {
            p.hand_over();
        }
    }
    STDOUT_ERROR.lock().ok().and_then(|mut g| g.take())
}

/// Write to standard error, ignoring failure (there is nowhere left to
/// report it; `eprintln!` would panic).
pub fn write_stderr(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// A command line clap refused (or `--help`/`--version`, which it prints as usual).
/// With `--json` anywhere on the line, the error is JSON on stdout like every other
/// error (`{"error", "causes", "exit"}`), exit 2.
pub fn argument_error(e: clap::Error) -> u8 {
    use clap::error::ErrorKind;
    let json = crate::args().iter().skip(1).any(|a| a == "--json");
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
    outln!("{v}");
    exit::BAD_INPUT
}
