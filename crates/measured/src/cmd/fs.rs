//! `measured fs`.

use clap::Subcommand;

use crate::exit::Status;
use crate::output::Ctx;

/// The `fs` subcommands.
#[derive(Subcommand, Debug)]
pub enum FsCommand {}

/// Run one `fs` subcommand.
pub fn run(cmd: FsCommand, _ctx: &Ctx) -> anyhow::Result<Status> {
    match cmd {}
}
