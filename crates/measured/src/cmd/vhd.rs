//! `measured vhd`.

use clap::Subcommand;

use crate::exit::Status;
use crate::output::Ctx;

/// The `vhd` subcommands.
#[derive(Subcommand, Debug)]
pub enum VhdCommand {}

/// Run one `vhd` subcommand.
pub fn run(cmd: VhdCommand, _ctx: &Ctx) -> anyhow::Result<Status> {
    match cmd {}
}
