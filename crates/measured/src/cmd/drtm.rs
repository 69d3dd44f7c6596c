//! `measured drtm`.

use clap::Subcommand;

use crate::exit::Status;
use crate::output::Ctx;

/// The `drtm` subcommands.
#[derive(Subcommand, Debug)]
pub enum DrtmCommand {}

/// Run one `drtm` subcommand.
pub fn run(cmd: DrtmCommand, _ctx: &Ctx) -> anyhow::Result<Status> {
    match cmd {}
}
