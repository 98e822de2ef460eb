//! `custos evidence`: seal, verify, open and send evidence packages.

use std::process::ExitCode;

use clap::Subcommand;

/// Evidence package commands.
#[derive(Subcommand, Debug)]
pub enum EvidenceCommand {
    /// Upload a package to a peer node in verified chunks, resuming where it stopped.
    Send(super::evidence_send::SendArgs),
}

pub fn run(command: EvidenceCommand) -> anyhow::Result<ExitCode> {
    match command {
        EvidenceCommand::Send(args) => super::evidence_send::run(args),
    }
}
