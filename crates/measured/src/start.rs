//! The process entry point.
//!
//! Collectors run `measured log replay` once per event log, so what a process
//! costs before its first useful instruction is a real part of its cost. Before
//! calling `main`, std's runtime probes the main thread's stack bounds (glibc
//! opens, reads and parses `/proc/self/maps` for it) and maps an alternate
//! signal stack, only to print a nicer message on a stack overflow: 15 system
//! calls, 60-75 µs of the 1.1-1.4 ms a small `log replay` took (docs/tcg.md,
//! "Speed"). We enter at C `main` instead and do the rest of what std does
//! there: the standard descriptors are made safe, SIGPIPE is ignored (writes
//! then fail with `EPIPE`, which [`crate::output`] turns back into a quiet
//! death by SIGPIPE), and a panic exits 101 after the default hook has printed
//! it. A stack overflow is then a plain SIGSEGV.

use std::ffi::{CStr, OsString, c_char, c_int};
use std::os::unix::ffi::OsStringExt;
use std::sync::OnceLock;

/// The process's arguments, as the C runtime passed them to `main`.
static ARGS: OnceLock<Vec<OsString>> = OnceLock::new();

/// The command line (program name first). Taken from `main`'s own `argv`
/// because only glibc also hands it to std (through `.init_array`): with
/// musl, `std::env::args` is empty in a `no_main` program.
pub fn args() -> Vec<OsString> {
    ARGS.get()
        .cloned()
        .unwrap_or_else(|| std::env::args_os().collect())
}

// SAFETY (`no_mangle`): with `#![no_main]`, rustc emits no `main` of its own and
// none of the C libraries linked in defines one, so this is the only `main`
// symbol: the C runtime calls it once, with the process's arguments.
#[unsafe(no_mangle)]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    open_standard_descriptors();
    let count = usize::try_from(argc).unwrap_or(0);
    let args = (0..count)
        .map(|i| {
            // SAFETY: the C runtime (glibc's and musl's `__libc_start_main`,
            // as C requires of `main`'s arguments) passes `argv` with `argc`
            // valid pointers to NUL-terminated strings that live, unchanged
            // by us, for the whole process; `i < argc`.
            let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
            OsString::from_vec(arg.to_bytes().to_vec())
        })
        .collect();
    let _ = ARGS.set(args);
    // SAFETY: `SIG_IGN` installs no handler, so no code of ours runs in signal
    // context; `signal` is async-signal-safe and touches no Rust-owned memory.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    match std::panic::catch_unwind(crate::run) {
        Ok(code) => c_int::from(code),
        Err(_) => {
            // What std's runtime does after a panic in `main`: flush, exit 101.
            crate::output::finish_stdout();
            101
        }
    }
}

/// Descriptors 0, 1 and 2 open, on `/dev/null` if they were closed, as std
/// ensures before `main`: otherwise the first file we open could become
/// descriptor 1, and a report meant for stdout would be written into it.
fn open_standard_descriptors() {
    for fd in 0..=2 {
        // SAFETY: F_GETFD only reads the descriptor's flags.
        let closed = unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF);
        if closed {
            // SAFETY: a static NUL-terminated path; `open` returns the lowest
            // free descriptor, which is `fd`, as those below it are open.
            let got = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            if got != fd {
                std::process::abort();
            }
        }
    }
}
