//! `measured image`.

use clap::Subcommand;

use crate::exit::Status;
use crate::output::Ctx;

/// The `image` subcommands.
#[derive(Subcommand, Debug)]
pub enum ImageCommand {}

/// Run one `image` subcommand.
pub fn run(cmd: ImageCommand, _ctx: &Ctx) -> anyhow::Result<Status> {
    match cmd {}
}
