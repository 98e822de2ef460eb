//! `custos ledger`: verify the custody ledger, print its checkpoint, prove an entry, check a proof offline.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use custos_ledger::ProofBundle;
use custos_node::NodeError;

#[derive(Subcommand, Debug)]
pub enum LedgerCommand {
    /// Recompute the whole ledger from the store; exit 1 naming the first entry that was changed, removed or reordered.
    Verify {
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also check every stored message, receipt and request against its
        /// signature and its ledger entry, naming every mismatch (exit 1).
        #[arg(long)]
        deep: bool,
    },
    /// Print the latest signed checkpoint (a C2SP signed note), with the witnesses' cosignatures.
    Checkpoint {
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Ask every peer in the directory to cosign the latest checkpoint now (`serve` does this on a schedule).
    Witness {
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// List the forks this node detected in peers' ledgers, with their evidence.
    Forks {
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Print JSON (the full evidence).
        #[arg(long)]
        json: bool,
    },
    /// Print the verifier key that checks this node's checkpoints (C2SP note key form).
    Key {
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Write a proof bundle for one entry: the entry, its audit path and the signed checkpoint.
    Prove {
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The entry's index (from 0).
        #[arg(long, value_name = "N")]
        entry: u64,
        /// Where to write the bundle (JSON).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Verify a proof bundle offline, with nothing but the node's verifier key.
    VerifyBundle {
        /// The bundle file.
        file: PathBuf,
        /// The node's verifier key (from `custos ledger key`).
        #[arg(long, value_name = "KEY")]
        key: String,
    },
}

pub fn run(cmd: LedgerCommand) -> anyhow::Result<ExitCode> {
    if let LedgerCommand::VerifyBundle { file, key } = &cmd {
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let bundle = ProofBundle::from_slice(&bytes)
            .with_context(|| format!("{} is not a proof bundle", file.display()))?;
        return match bundle.verify(key) {
            Ok(cp) => {
                println!(
                    "VALID: entry {} is in the ledger {} of size {} (root {})",
                    bundle.index,
                    cp.origin,
                    cp.size,
                    cp.root.to_base64()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                println!("INVALID: {e}");
                Ok(ExitCode::from(1))
            }
        };
    }
    super::runtime()?.block_on(async {
        match cmd {
            LedgerCommand::Verify { data, json, deep } => {
                let (_, node) = super::node::open(&data).await?;
                node.sequence_all().await?;
                let started = std::time::Instant::now();
                let outcome = node.verify_ledger(&mut |_, _| {}).await;
                let deep = match (&outcome, deep) {
                    (Ok(_), true) => Some(deep_check(&node).await),
                    _ => None,
                };
                node.store.close().await;
                if let Some(deep) = deep {
                    return report_deep(deep?, json);
                }
                match outcome {
                    Ok(report) => {
                        if json {
                            println!("{}", serde_json::to_string_pretty(&report)?);
                        } else {
                            println!(
                                "ledger OK: {} entries recomputed in {:.2} s; root {}; latest signed checkpoint (size {}) matches",
                                report.size,
                                started.elapsed().as_secs_f64(),
                                report.root,
                                report.checkpoint_size.map(|s| s.to_string()).unwrap_or_else(|| "none".into())
                            );
                        }
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(NodeError::LedgerTampered { index, problem }) => {
                        if json {
                            println!("{}", serde_json::json!({ "ok": false, "first_bad_entry": index, "problem": problem }));
                        } else {
                            println!("ledger BAD: entry {index}: {problem}");
                        }
                        Ok(ExitCode::from(1))
                    }
                    Err(e) => Err(e.into()),
                }
            }
            LedgerCommand::Checkpoint { data } => {
                let (_, node) = super::node::open(&data).await?;
                node.sequence_all().await?;
                let cp = node.cosigned_checkpoint().await?;
                node.store.close().await;
                match cp {
                    Some(note) => print!("{note}"),
                    None => anyhow::bail!("the ledger is empty: no checkpoint yet"),
                }
                Ok(ExitCode::SUCCESS)
            }
            LedgerCommand::Witness { data } => {
                let (_, node) = super::node::open(&data).await?;
                node.sequence_all().await?;
                for (peer, outcome) in node.request_cosignatures().await? {
                    println!("{peer}: {}", serde_json::to_string(&outcome)?);
                }
                node.store.close().await;
                Ok(ExitCode::SUCCESS)
            }
            LedgerCommand::Forks { data, json } => {
                let (_, store) = super::request::open_store(&data).await?;
                let forks = store.forks(100).await?;
                store.close().await;
                if json {
                    let rows: Vec<_> = forks.iter().map(|f| serde_json::json!({ "origin": f.origin, "detected_at": f.detected_at.to_string(), "evidence": f.evidence })).collect();
                    println!("{}", serde_json::to_string_pretty(&rows)?);
                } else if forks.is_empty() {
                    println!("No fork detected.");
                } else {
                    for f in &forks {
                        println!("FORK  {}  detected {}  ({})", f.origin, f.detected_at, f.evidence["kind"].as_str().unwrap_or("?"));
                    }
                }
                Ok(if forks.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
            }
            LedgerCommand::Key { data } => {
                let (_, node) = super::node::open(&data).await?;
                println!("{}", node.ledger_verifier_key()?);
                node.store.close().await;
                Ok(ExitCode::SUCCESS)
            }
            LedgerCommand::Prove { data, entry, out } => {
                let (_, node) = super::node::open(&data).await?;
                node.sequence_all().await?;
                let bundle = node.prove_entry(entry).await?;
                node.store.close().await;
                std::fs::write(&out, bundle.to_json()).with_context(|| format!("cannot write {}", out.display()))?;
                println!("proof bundle for entry {entry} (tree size {}) written to {}", bundle.tree_size, out.display());
                Ok(ExitCode::SUCCESS)
            }
            LedgerCommand::VerifyBundle { .. } => Ok(ExitCode::SUCCESS),
        }
    })
}

/// Runs the deep check, timed.
async fn deep_check(
    node: &custos_node::Node,
) -> anyhow::Result<(custos_node::deep_check::DeepReport, f64)> {
    let started = std::time::Instant::now();
    let report = node.verify_deep().await?;
    Ok((report, started.elapsed().as_secs_f64()))
}

/// Prints the deep check's outcome: every mismatch and exit 1, or the count.
fn report_deep(
    (report, seconds): (custos_node::deep_check::DeepReport, f64),
    json: bool,
) -> anyhow::Result<ExitCode> {
    let ok = report.problems.is_empty();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": ok,
                "ledger_entries": report.ledger_entries,
                "messages": report.messages,
                "receipts": report.receipts,
                "requests": report.requests,
                "records": report.records(),
                "seconds": seconds,
                "problems": report.problems,
            }))?
        );
    } else {
        for p in &report.problems {
            println!("BAD: {p}");
        }
        println!(
            "{}: {} records checked against their signatures and ledger entries ({} messages, {} receipts, {} requests; {} ledger entries read) in {:.2} s",
            if ok { "records OK" } else { "records BAD" },
            report.records(),
            report.messages,
            report.receipts,
            report.requests,
            report.ledger_entries,
            seconds
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
