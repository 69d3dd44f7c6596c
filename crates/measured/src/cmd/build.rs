//! `measured build`.

use std::path::PathBuf;

use clap::Args;

use crate::exit::Status;
use crate::output::Ctx;

/// Arguments of `measured build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The build spec (TOML).
    pub spec: Option<PathBuf>,
}

/// Run `measured build`.
pub fn run(_args: BuildArgs, _ctx: &Ctx) -> anyhow::Result<Status> {
    anyhow::bail!("measured build is not implemented yet")
}
