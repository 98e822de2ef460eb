//! `custos evidence send`: upload a package to a peer node, resuming where it stopped.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `custos evidence send`.
#[derive(clap::Args, Debug)]
pub struct SendArgs {
    /// The package folder.
    pub package: PathBuf,
    /// The node's data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
}

pub fn run(_args: SendArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("evidence send is being written")
}
