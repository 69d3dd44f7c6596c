//! `measured log`.

use clap::Subcommand;

use crate::exit::Status;
use crate::output::Ctx;

/// The `log` subcommands.
#[derive(Subcommand, Debug)]
pub enum LogCommand {}

/// Run one `log` subcommand.
pub fn run(cmd: LogCommand, _ctx: &Ctx) -> anyhow::Result<Status> {
    match cmd {}
}
