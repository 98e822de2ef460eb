//! `custos keys`: show, rotate and revoke the node's keys.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use custos_node::app::KeysView;
use time::format_description::well_known::Rfc3339;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Print the node's public keys (current and past) with their validity. Secrets are never printed.
    Show {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replace the signing and encryption keys. Old public keys stay valid for verifying
    /// old messages; publish a new directory entry (`custos directory entry`) so peers learn the new keys.
    /// Recorded in the custody ledger as `keys-rotated`, naming the operator.
    Rotate {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write the node's current age decryption identity (AGE-SECRET-KEY-1...) to a new file
    /// (mode 0600), so that a receiver can decrypt evidence packages with any age tool.
    /// Logged as an `exported` custody event with the reason. Anyone holding the file can
    /// read every package and message sent to this node: keep it offline and delete it after use.
    ExportIdentity {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// The file to create; an existing file is never replaced.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Why the identity leaves the node (recorded in the custody ledger).
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Mark a past signing key as compromised: once peers import a directory saying so, it verifies nothing.
    /// Recorded in the custody ledger as `key-revoked`, naming the operator.
    Revoke {
        /// The key id (as `custos keys show` prints it).
        keyid: String,
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCommand::Show { data, json } => {
            let view = super::runtime()?.block_on(async {
                let (_, node) = super::node::open(&data).await?;
                let view = node.keys_view(&crate::operator::operator()?).await;
                node.close().await;
                anyhow::Ok(view?)
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                print_keys(&view);
            }
        }
        KeysCommand::Rotate { data, json } => {
            let actor = crate::operator::operator()?;
            let rotated = super::runtime()?.block_on(async {
                let (_, node) = super::node::open(&data).await?;
                anyhow::Ok(node.rotate_keys(&actor).await?)
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rotated)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "Rotated. New signing key id {} (was {}).",
                rotated.signing_key_id, rotated.previous_signing_key_id
            );
            println!(
                "Publish a new directory entry so peers learn it: custos directory entry --data {} --url URL --out entry.json",
                data.display()
            );
            print_keys(&rotated.keys);
        }
        KeysCommand::ExportIdentity { data, out, reason } => {
            let recipient = super::runtime()?.block_on(async {
                let (_, node) = super::node::open(&data).await?;
                anyhow::Ok(
                    node.export_identity(&out, &reason, &crate::operator::operator()?)
                        .await?,
                )
            })?;
            eprintln!(
                "WARNING: {} now holds this node's secret decryption key (public key {recipient}).",
                out.display()
            );
            eprintln!(
                "Anyone with the file can decrypt every evidence package and message sent to this node."
            );
            eprintln!(
                "Keep it offline and delete it when done. The export is in the custody ledger."
            );
            println!("{}", out.display());
        }
        KeysCommand::Revoke { keyid, data, json } => {
            let keyid = crate::key_forms::key_id("KEYID", &keyid)?;
            let actor = crate::operator::operator()?;
            let revoked = super::runtime()?.block_on(async {
                let (_, node) = super::node::open(&data).await?;
                anyhow::Ok(node.revoke_key(&keyid, &actor).await?)
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&revoked)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "Signing key {} is marked revoked. Publish a new directory entry so peers stop accepting it.",
                revoked.key_id
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_keys(view: &KeysView) {
    let t = |d: time::OffsetDateTime| d.format(&Rfc3339).unwrap_or_default();
    let until = |d: Option<time::OffsetDateTime>| match d {
        Some(u) => format!(" until {}", t(u)),
        None => " (current)".into(),
    };
    println!("Signing keys (Ed25519):");
    for k in &view.signing {
        println!(
            "  {}  id {}  from {}{}{}",
            k.key,
            k.key_id,
            t(k.valid_from),
            until(k.valid_until),
            k.revoked_at
                .map(|r| format!(" REVOKED {}", t(r)))
                .unwrap_or_default()
        );
    }
    println!("Encryption keys (age X25519):");
    for k in &view.encryption {
        println!(
            "  {}  from {}{}",
            k.key,
            t(k.valid_from),
            until(k.valid_until)
        );
    }
}
