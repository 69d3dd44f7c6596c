//! `measured policy`.

use clap::Subcommand;

use crate::exit::Status;
use crate::output::Ctx;

/// The `policy` subcommands.
#[derive(Subcommand, Debug)]
pub enum PolicyCommand {}

/// Run one `policy` subcommand.
pub fn run(cmd: PolicyCommand, _ctx: &Ctx) -> anyhow::Result<Status> {
    match cmd {}
}
