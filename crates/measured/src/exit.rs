//! Exit codes, documented in `--help` and the README.

/// Text appended to `measured --help`.
pub const HELP: &str = "\
Exit codes:
  0  success
  1  the check ran and found a problem (vhd check violations, PCR mismatch, diff)
  2  bad usage or bad input (unreadable, malformed or inconsistent files, bad spec),
     or a launch drtm predict refuses (tboot would halt, a bank is not extended)
  3  an operating-system error while writing output (disk full, permissions)";

/// How a subcommand ended when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything held.
    Ok,
    /// The command ran, and what it checked did not hold.
    Found,
}

impl Status {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Found => 1,
        }
    }
}

/// Exit code for bad input or usage.
pub const BAD_INPUT: u8 = 2;
/// Exit code for an OS error while producing output.
pub const OS_ERROR: u8 = 3;
