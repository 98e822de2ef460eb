//! `custos keys`: show, rotate and revoke the node's keys.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use custos_model::clock::Clock;
use custos_node::Keystore;
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use crate::clock::SystemClock;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Print the node's public keys (current and past) with their validity. Secrets are never printed.
    Show {
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replace the signing and encryption keys. Old public keys stay valid for verifying
    /// old messages; publish a new directory entry (`custos directory entry`) so peers learn the new keys.
    Rotate {
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Write the node's current age decryption identity (AGE-SECRET-KEY-1...) to a new file
    /// (mode 0600), so that a receiver can decrypt evidence packages with any age tool.
    /// Logged as an `exported` custody event with the reason. Anyone holding the file can
    /// read every package and message sent to this node: keep it offline and delete it after use.
    ExportIdentity {
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The file to create; an existing file is never replaced.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Why the identity leaves the node (recorded in the custody ledger).
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Mark a past signing key as compromised: once peers import a directory saying so, it verifies nothing.
    Revoke {
        /// The key id (as `custos keys show` prints it).
        keyid: String,
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
}

pub fn run(cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    let now = SystemClock.now();
    match cmd {
        KeysCommand::Show { data, json } => {
            let ks = Keystore::load(&data.join("keys"))?;
            print_keys(&ks, json)?;
        }
        KeysCommand::Rotate { data } => {
            let mut ks = Keystore::load(&data.join("keys"))?;
            ks.rotate(now)?;
            println!("Rotated. New signing key id {}.", ks.signing.key_id());
            println!(
                "Publish a new directory entry so peers learn it: custos directory entry --data {} --url URL --out entry.json",
                data.display()
            );
            print_keys(&ks, false)?;
        }
        KeysCommand::ExportIdentity { data, out, reason } => {
            let recipient = super::runtime()?.block_on(async {
                let (_, node) = super::node::open(&data).await?;
                anyhow::Ok(
                    node.export_identity(&out, &reason, &custos_node::Actor::cli_operator())
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
        KeysCommand::Revoke { keyid, data } => {
            let keyid = crate::key_forms::key_id("KEYID", &keyid)?;
            let mut ks = Keystore::load(&data.join("keys"))?;
            ks.revoke_signing(&keyid, now)?;
            println!(
                "Signing key {keyid} is marked revoked. Publish a new directory entry so peers stop accepting it."
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_keys(ks: &Keystore, as_json: bool) -> anyhow::Result<()> {
    let t = |d: Option<time::OffsetDateTime>| d.and_then(|d| d.format(&Rfc3339).ok());
    let signing: Vec<_> = ks
        .history
        .signing
        .iter()
        .map(|k| json!({ "key": k.key.to_text(), "key_id": k.key.key_id(), "valid_from": t(Some(k.valid_from)), "valid_until": t(k.valid_until), "revoked_at": t(k.revoked_at) }))
        .collect();
    let encryption: Vec<_> = ks
        .history
        .encryption
        .iter()
        .map(|k| json!({ "key": k.key.to_text(), "valid_from": t(Some(k.valid_from)), "valid_until": t(k.valid_until), "revoked_at": t(k.revoked_at) }))
        .collect();
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "signing": signing, "encryption": encryption }))?
        );
        return Ok(());
    }
    println!("Signing keys (Ed25519):");
    for k in &signing {
        println!(
            "  {}  id {}  from {}{}{}",
            k["key"].as_str().unwrap_or(""),
            k["key_id"].as_str().unwrap_or(""),
            k["valid_from"].as_str().unwrap_or(""),
            k["valid_until"]
                .as_str()
                .map(|u| format!(" until {u}"))
                .unwrap_or_else(|| " (current)".into()),
            k["revoked_at"]
                .as_str()
                .map(|u| format!(" REVOKED {u}"))
                .unwrap_or_default()
        );
    }
    println!("Encryption keys (age X25519):");
    for k in &encryption {
        println!(
            "  {}  from {}{}",
            k["key"].as_str().unwrap_or(""),
            k["valid_from"].as_str().unwrap_or(""),
            k["valid_until"]
                .as_str()
                .map(|u| format!(" until {u}"))
                .unwrap_or_else(|| " (current)".into())
        );
    }
    Ok(())
}
