//! `custos ledger`: verify the custody ledger, print its checkpoint and keys, have it witnessed, prove an entry, check a proof offline.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use custos_ledger::{KeyType, ProofBundle, VerifierKey};
use custos_node::app::ledger::{DeepCheckView, LedgerVerdict};
use custos_node::witnessing::CosignOutcome;
use custos_protocol::Directory;
use custos_protocol::text::escape;
use time::format_description::well_known::Rfc3339;

use crate::key_forms;

#[derive(Subcommand, Debug)]
pub enum LedgerCommand {
    /// Recompute the whole ledger from the store; exit 1 naming the first entry that was changed, removed or reordered.
    Verify {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also check every stored message, receipt and request, and every
        /// evidence package received, against its signature and its ledger
        /// entry, naming every mismatch (exit 1).
        #[arg(long)]
        deep: bool,
    },
    /// Print the signed checkpoint (a C2SP signed note) with the most witness cosignatures, with them:
    /// the latest, unless reads or actions were recorded since the witnesses last cosigned.
    Checkpoint {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
    },
    /// Ask every peer in the directory to cosign the latest checkpoint now (`serve` does this on a schedule).
    ///
    /// Exits 0 when every witness cosigned (or already had), 1 when a witness
    /// reports a fork of this ledger or refused, 3 when a witness could not be reached.
    Witness {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// Print each witness's answer as JSON (with a fork's evidence) instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// List the forks this node detected in peers' ledgers, with their evidence.
    Forks {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// Print JSON (the full evidence).
        #[arg(long)]
        json: bool,
    },
    /// Print the log verifier key that checks this node's checkpoints: `custos.ledger/CC+HASH+BASE64`.
    ///
    /// This is the key `verify-bundle --key` wants (C2SP signed-note key, type 0x01). It is not the
    /// node's `ed25519:` public key (`custos keys show`), which signs messages, nor its witness key
    /// (`custos ledger witness-key`), which checks the cosignatures this node makes for its peers.
    Key {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
    },
    /// Print the witness verifier key that checks the cosignatures this node gives its peers' checkpoints.
    ///
    /// Form `custos.witness/CC+HASH+BASE64` (C2SP cosignature/v1, type 0x04): what `verify-bundle
    /// --witness` wants for this State. The same key follows from the State's signing key in the
    /// signed directory (`verify-bundle --witnesses-from`).
    WitnessKey {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
    },
    /// Write a proof bundle for one entry: the entry, its audit path and the signed checkpoint with the witnesses' cosignatures held for it.
    Prove {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// The entry's index (from 0).
        #[arg(long, value_name = "N")]
        entry: u64,
        /// Where to write the bundle (JSON).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Verify a proof bundle offline, with the node's log verifier key and, if wanted, its witnesses' keys.
    ///
    /// Exits 0 when the bundle holds, 1 when it does not (saying why) or an input is unusable.
    VerifyBundle {
        /// The bundle file.
        file: PathBuf,
        /// The node's log verifier key `custos.ledger/CC+HASH+BASE64` (from `custos ledger key`).
        #[arg(long, value_name = "KEY")]
        key: String,
        /// A witness verifier key `custos.witness/CC+HASH+BASE64` (from `custos ledger witness-key`); repeatable.
        #[arg(long = "witness", value_name = "VKEY")]
        witnesses: Vec<String>,
        /// Take every other State's witness key from this signed directory file (`custos directory export`).
        #[arg(long, value_name = "DIRECTORY_FILE", requires = "registry_key")]
        witnesses_from: Option<PathBuf>,
        /// The registry's public key `ed25519:BASE64` that must have signed the --witnesses-from file.
        #[arg(long, value_name = "KEY")]
        registry_key: Option<String>,
        /// Require valid cosignatures from at least this many of the given witnesses.
        #[arg(long, value_name = "N", default_value_t = 0)]
        min_cosignatures: usize,
    },
}

pub fn run(cmd: LedgerCommand) -> anyhow::Result<ExitCode> {
    if let LedgerCommand::VerifyBundle {
        file,
        key,
        witnesses,
        witnesses_from,
        registry_key,
        min_cosignatures,
    } = &cmd
    {
        return verify_bundle(
            file,
            key,
            witnesses,
            witnesses_from.as_deref(),
            registry_key.as_deref(),
            *min_cosignatures,
        );
    }
    super::runtime()?.block_on(async {
        match cmd {
            LedgerCommand::Verify { data, json, deep } => {
                let (_, node) = super::node::open(&data).await?;
                node.sequence_all().await?;
                let started = std::time::Instant::now();
                let outcome = node.check_ledger(&crate::operator::operator()?, &mut |_, _| {}).await;
                let deep = match (&outcome, deep) {
                    (Ok(LedgerVerdict::Good(_)), true) => Some(deep_check(&node).await),
                    _ => None,
                };
                node.close().await;
                if let Some(deep) = deep {
                    return report_deep(deep?, json);
                }
                let verdict = outcome?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&verdict)?);
                }
                match verdict {
                    LedgerVerdict::Good(report) => {
                        if !json {
                            let checkpoint = match report.checkpoint_size {
                                Some(size) => format!("latest signed checkpoint (size {size}) matches"),
                                None => "no checkpoint yet (nothing has been signed)".to_owned(),
                            };
                            println!(
                                "ledger OK: {} entries recomputed in {:.2} s; root {}; {checkpoint}",
                                report.size,
                                started.elapsed().as_secs_f64(),
                                report.root,
                            );
                        }
                        Ok(ExitCode::SUCCESS)
                    }
                    LedgerVerdict::Bad(bad) => {
                        if !json {
                            println!("ledger BAD: entry {}: {}", bad.first_bad_entry, bad.problem);
                        }
                        Ok(ExitCode::from(1))
                    }
                }
            }
            LedgerCommand::Checkpoint { data } => {
                let (_, node) = super::node::open(&data).await?;
                node.sequence_all().await?;
                let cp = node.ledger_checkpoint(&crate::operator::operator()?).await?.cosigned;
                node.close().await;
                match cp {
                    Some(note) => print!("{note}"),
                    None => anyhow::bail!("the ledger is empty: no checkpoint yet"),
                }
                Ok(ExitCode::SUCCESS)
            }
            LedgerCommand::Witness { data, json } => {
                let (_, node) = super::node::open(&data).await?;
                node.sequence_all().await?;
                let who = crate::operator::operator()?;
                let checkpoint = node.ledger_checkpoint(&who).await.map(|c| c.checkpoint);
                let has_directory = node.directory().is_some();
                let outcomes = node.witness_now(&who).await;
                node.close().await;
                if checkpoint?.is_none() {
                    println!("The ledger is empty: there is no checkpoint, so nothing to witness yet.");
                    return Ok(ExitCode::SUCCESS);
                }
                if !has_directory {
                    anyhow::bail!("this node has no directory yet, so it knows no witness; import one with `custos directory import`");
                }
                let outcomes = outcomes?;
                if json {
                    let list: Vec<_> = outcomes
                        .iter()
                        .map(|(peer, outcome)| serde_json::json!({"witness": peer, "outcome": outcome}))
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&list)?);
                }
                Ok(report_witnessing(&outcomes, json))
            }
            LedgerCommand::Forks { data, json } => {
                let (_, node) = super::node::open(&data).await?;
                let forks = node.forks(&crate::operator::operator()?, 100).await;
                node.close().await;
                let forks = forks?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&forks)?);
                } else if forks.is_empty() {
                    println!("No fork detected.");
                } else {
                    for f in &forks {
                        println!("FORK  {}  detected {}  ({})", f.origin, f.detected_at, f.evidence_kind().unwrap_or("?"));
                    }
                }
                Ok(if forks.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
            }
            LedgerCommand::WitnessKey { data } => {
                let (_, node) = super::node::open(&data).await?;
                println!("{}", node.witness_verifier_key()?);
                node.close().await;
                Ok(ExitCode::SUCCESS)
            }
            LedgerCommand::Key { data } => {
                let (_, node) = super::node::open(&data).await?;
                println!("{}", node.ledger_verifier_key()?);
                node.close().await;
                Ok(ExitCode::SUCCESS)
            }
            LedgerCommand::Prove { data, entry, out } => {
                let (_, node) = super::node::open(&data).await?;
                node.sequence_all().await?;
                let view = node.ledger_proof(&crate::operator::operator()?, entry).await?;
                node.close().await;
                let bundle = view.bundle;
                std::fs::write(&out, bundle.to_json()).with_context(|| format!("cannot write {}", out.display()))?;
                let cosignatures = custos_ledger::Note::parse(&bundle.checkpoint).map(|n| n.signatures().len().saturating_sub(1)).unwrap_or(0);
                println!("proof bundle for entry {entry} (tree size {}, {cosignatures} witness cosignature(s)) written to {}", bundle.tree_size, out.display());
                // issue 18: retention. The leaf still proves the entry; what it logged is gone.
                if let Some(d) = view.deletion {
                    println!("content    deleted on {} by {} (its content-deleted entry {})", custos_protocol::timestamp::format(d.at), d.by, d.entry);
                }
                Ok(ExitCode::SUCCESS)
            }
            LedgerCommand::VerifyBundle { .. } => Ok(ExitCode::SUCCESS),
        }
    })
}

/// Prints one line per witness and returns the exit status: 1 when any
/// reports a fork or refused, else 3 when any could not be reached, else 0.
/// With `json`, the lines are left out (the JSON was printed) and only the
/// summary is written to standard error.
fn report_witnessing(
    outcomes: &[(custos_model::StateCode, CosignOutcome)],
    json: bool,
) -> ExitCode {
    let (mut forks, mut refused, mut unreachable) = (Vec::new(), 0, 0);
    if outcomes.is_empty() && !json {
        println!("No peer in the directory to witness this ledger.");
    }
    let println = |line: String| {
        if !json {
            println!("{line}");
        }
    };
    for (peer, outcome) in outcomes {
        match outcome {
            CosignOutcome::Cosigned { size } => println(format!("{peer}: cosigned size {size}")),
            CosignOutcome::AlreadyCosigned { size } => {
                println(format!("{peer}: already cosigned size {size}"))
            }
            CosignOutcome::Refused { reason } => {
                refused += 1;
                println(format!("{peer}: REFUSED: {}", escape(reason)));
            }
            CosignOutcome::Unreachable { reason } => {
                unreachable += 1;
                println(format!("{peer}: UNREACHABLE: {}", escape(reason)));
            }
            CosignOutcome::Fork { evidence } => {
                forks.push(peer.to_string());
                println(format!(
                    "{peer}: FORK: it holds a checkpoint of this ledger that the current one contradicts ({}); `--json` prints the evidence",
                    escape(evidence["kind"].as_str().unwrap_or("unknown kind"))
                ));
            }
        }
    }
    if !forks.is_empty() {
        eprintln!(
            "error: {} report(s) a fork of this ledger: its history differs from what they cosigned before (a rolled-back or replaced database?)",
            forks.join(", ")
        );
        ExitCode::from(1)
    } else if refused > 0 {
        eprintln!("error: {refused} witness(es) refused to cosign");
        ExitCode::from(1)
    } else if unreachable > 0 {
        eprintln!("error: {unreachable} witness(es) could not be reached");
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

/// `ledger verify-bundle`: exit 0 when the bundle holds with the keys given,
/// 1 when it does not, or an error (also 1) when an input is unusable.
fn verify_bundle(
    file: &Path,
    key: &str,
    witnesses: &[String],
    witnesses_from: Option<&Path>,
    registry_key: Option<&str>,
    min_cosignatures: usize,
) -> anyhow::Result<ExitCode> {
    let log_key = key_forms::log_key("--key", key)?;
    let mut witness_keys = Vec::new();
    for w in witnesses {
        witness_keys.push(key_forms::witness_key("--witness", w)?);
    }
    if let Some(path) = witnesses_from {
        let registry = key_forms::registry_key(
            "--registry-key",
            registry_key.context("--witnesses-from needs --registry-key")?,
        )?;
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        // An expired directory still says which keys the States held.
        let directory = Directory::verify_allow_expired(&bytes, &registry).with_context(|| {
            format!(
                "{} is not a directory signed by the registry key given",
                path.display()
            )
        })?;
        let log_state = log_key.name().strip_prefix("custos.ledger/");
        for entry in directory.entries() {
            if log_state == Some(entry.state.as_str()) {
                continue;
            }
            let name = format!("custos.witness/{}", entry.state);
            for k in entry.signing_keys.iter().filter(|k| k.revoked_at.is_none()) {
                let vk = VerifierKey::cosignature_v1(&name, &k.key)
                    .with_context(|| format!("the directory's key for {}", entry.state))?;
                if !witness_keys.contains(&vk) {
                    witness_keys.push(vk);
                }
            }
        }
    }
    if min_cosignatures > 0 && witness_keys.is_empty() {
        anyhow::bail!(
            "--min-cosignatures {min_cosignatures} needs witness keys: give --witness VKEY or --witnesses-from DIRECTORY_FILE"
        );
    }
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let bundle = ProofBundle::from_slice(&bytes)
        .with_context(|| format!("{} is not a proof bundle", file.display()))?;
    match bundle.verify_with(&log_key, &witness_keys, min_cosignatures) {
        Ok(opened) => {
            let cp = &opened.checkpoint;
            println!(
                "VALID: entry {} is in the ledger {} of size {} (root {})",
                bundle.index,
                cp.origin,
                cp.size,
                cp.root.to_base64()
            );
            for v in opened
                .note
                .verified
                .iter()
                .filter(|v| v.key_type == KeyType::CosignatureV1)
            {
                println!(
                    "  cosigned by {} (key id {:08x}) at {}",
                    v.name,
                    v.key_id,
                    v.timestamp
                        .and_then(|t| i64::try_from(t).ok())
                        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                        .and_then(|t| t.format(&Rfc3339).ok())
                        .unwrap_or_else(|| "an unknown time".into())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("INVALID: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// Runs the deep check, timed.
async fn deep_check(
    node: &custos_node::Node,
) -> anyhow::Result<(custos_node::deep_check::DeepReport, f64)> {
    let started = std::time::Instant::now();
    let report = node.deep_check(&crate::operator::operator()?).await?;
    Ok((report, started.elapsed().as_secs_f64()))
}

/// The deep check's findings with the time they took, as `--json` prints them.
#[derive(serde::Serialize)]
struct TimedDeepCheck {
    #[serde(flatten)]
    view: DeepCheckView,
    seconds: f64,
}

/// Prints the deep check's outcome: every mismatch and exit 1, or the count.
fn report_deep(
    (report, seconds): (custos_node::deep_check::DeepReport, f64),
    json: bool,
) -> anyhow::Result<ExitCode> {
    let ok = report.problems.is_empty();
    if json {
        let timed = TimedDeepCheck {
            view: DeepCheckView::from(&report),
            seconds,
        };
        println!("{}", serde_json::to_string_pretty(&timed)?);
    } else {
        for p in &report.problems {
            println!("BAD: {p}");
        }
        println!(
            "{}: {} records checked against their signatures and ledger entries ({} messages, {} receipts, {} requests, {} evidence packages; {} ledger entries read) in {:.2} s",
            if ok { "records OK" } else { "records BAD" },
            report.records(),
            report.messages,
            report.receipts,
            report.requests,
            report.evidence,
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
