//! `custos backup` and `custos restore`: a consistent copy of a node taken
//! while it serves, and that copy put back into a new data folder, checked.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use custos_node::app::backup::SecretString;
use custos_node::app::ledger::{DeepCheckView, LedgerVerdict};
use custos_node::app::{BackupOptions, KeyProtection, KeySecret, RestoreReport};

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// The node's data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The backup file to write (a tar archive; it must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Include the node's private keys, encrypted (needs --passphrase-file or --recipient).
    #[arg(long)]
    pub with_keys: bool,
    /// Encrypt the keys to the passphrase on this file's first line.
    #[arg(
        long,
        value_name = "FILE",
        requires = "with_keys",
        conflicts_with = "recipient"
    )]
    pub passphrase_file: Option<PathBuf>,
    /// Encrypt the keys to this age recipient (age1...).
    #[arg(long, value_name = "AGE_RECIPIENT", requires = "with_keys")]
    pub recipient: Option<String>,
    /// Only the node's own files, not the database (a PostgreSQL node: copy it with pg_dump).
    #[arg(long)]
    pub files_only: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup file.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The new data directory (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The passphrase the keys were encrypted to, on this file's first line.
    #[arg(long, value_name = "FILE", conflicts_with = "identity")]
    pub passphrase_file: Option<PathBuf>,
    /// The age identity file the keys were encrypted to.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The first line of `path`, as a secret.
fn passphrase(path: &Path) -> anyhow::Result<SecretString> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the passphrase file {}", path.display()))?;
    let line = text.lines().next().unwrap_or("").to_owned();
    if line.is_empty() {
        anyhow::bail!(
            "{} holds no passphrase on its first line; write one there",
            path.display()
        );
    }
    Ok(SecretString::from(line))
}

pub fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let keys = match (args.with_keys, &args.passphrase_file, &args.recipient) {
        (false, _, _) => KeyProtection::Without,
        (true, Some(file), None) => KeyProtection::Passphrase(passphrase(file)?),
        (true, None, Some(r)) => KeyProtection::Recipient(r.clone()),
        (true, _, _) => anyhow::bail!(
            "--with-keys needs --passphrase-file FILE or --recipient AGE_RECIPIENT: the keys are \
             never written unencrypted"
        ),
    };
    let actor = crate::operator::operator()?;
    super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let outcome = node
            .backup(
                &actor,
                BackupOptions {
                    out: args.out.clone(),
                    keys,
                    files_only: args.files_only,
                },
            )
            .await;
        node.close().await;
        let report = outcome?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!(
                "backup written: {} ({} bytes, {} files{}, keys: {})",
                report.out.display(),
                report.bytes,
                report.members,
                if report.database {
                    format!(
                        ", database at schema version {}",
                        report.schema_version.unwrap_or(0)
                    )
                } else {
                    ", no database".to_owned()
                },
                report.keys
            );
            println!("  ledger entries at the start: {}", report.ledger_size);
            println!("  sha256 {}", report.sha256);
            if report.keys == "none" {
                println!(
                    "  the keys are not in it: keep a copy of {} somewhere safe, or back up with --with-keys",
                    args.data.join("keys").display()
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// What `custos restore --json` prints.
#[derive(serde::Serialize)]
struct Restored {
    #[serde(flatten)]
    restore: RestoreReport,
    ledger: Option<LedgerVerdict>,
    deep_check: Option<DeepCheckView>,
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let secret = match (&args.passphrase_file, &args.identity) {
        (Some(file), _) => KeySecret::Passphrase(passphrase(file)?),
        (None, Some(file)) => KeySecret::Identity(SecretString::from(
            std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the identity file {}", file.display()))?,
        )),
        (None, None) => KeySecret::Nothing,
    };
    let report = custos_node::app::restore(&args.from, &args.data, secret)?;
    if !args.json {
        println!(
            "restored {} ({}) into {}: {} files, {} bytes, each matching its SHA-256",
            report.node,
            report.state,
            report.data.display(),
            report.members,
            report.bytes
        );
        println!("  backed up at {}", report.backed_up_at);
    }
    if !report.keys_restored {
        let out = Restored {
            restore: report,
            ledger: None,
            deep_check: None,
        };
        if args.json {
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            println!(
                "  the backup holds no keys: copy the node's keys folder to {} and run \
                 `custos ledger verify --deep --data {}`",
                args.data.join("keys").display(),
                args.data.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let actor = crate::operator::operator()?;
    super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await.with_context(|| {
            format!(
                "the files are restored in {}, but the node does not open",
                args.data.display()
            )
        })?;
        let checked = async {
            let ledger = node.check_ledger(&actor, &mut |_, _| {}).await?;
            let deep = node.deep_check(&actor).await?;
            Ok::<_, custos_node::NodeError>((ledger, deep))
        }
        .await;
        node.close().await;
        let (ledger, deep) = checked?;
        let deep = DeepCheckView::from(&deep);
        let ok = matches!(ledger, LedgerVerdict::Good(_)) && deep.ok;
        if args.json {
            let out = Restored {
                restore: report,
                ledger: Some(ledger),
                deep_check: Some(deep),
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            match &ledger {
                LedgerVerdict::Good(r) => println!("  ledger OK: {} entries", r.size),
                LedgerVerdict::Bad(b) => println!(
                    "  ledger BAD at entry {}: {}",
                    b.first_bad_entry, b.problem
                ),
            }
            for p in &deep.problems {
                println!("  BAD: {p}");
            }
            println!(
                "  deep check {}: {} records ({} messages, {} receipts, {} requests, {} evidence packages)",
                if deep.ok { "OK" } else { "BAD" },
                deep.records,
                deep.messages,
                deep.receipts,
                deep.requests,
                deep.evidence
            );
        }
        Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}
