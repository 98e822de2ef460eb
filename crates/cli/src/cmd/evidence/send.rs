//! `custos evidence send`: upload a package to a peer node, resuming where it stopped.
//!
//! The package is checked before anything goes out (signed by this node,
//! every segment file present and of the declared size). For each recipient
//! the command then uploads only the segments the receiver has not verified
//! yet, retrying with back-off through broken connections and restarts of
//! either side, and keeps the receiver's signed receipt in
//! `PKG/receipts/<CC>.json`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::hint::Hinted as _;
use anyhow::Context;
use custos_model::StateCode;
use custos_node::app::evidence::TransferView;
use custos_node::evidence::pipeline::Progress;
use custos_node::evidence::transfer::{SendObserver, SendOptions};
use custos_protocol::timestamp;

use super::CliProgress;

/// Arguments of `custos evidence send`.
#[derive(clap::Args, Debug)]
pub struct SendArgs {
    /// The package folder (made by `custos evidence seal`).
    pub package: PathBuf,
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Send to this recipient State only (repeatable); default: every recipient in the manifest.
    #[arg(long = "to", value_name = "CC", value_parser = crate::cmd::state_code)]
    pub to: Vec<StateCode>,
    /// Keep retrying after broken connections and server errors for this long
    /// (seconds, or with a unit: 90s, 10m, 2h). Refusals end the send at once.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub retry_for: Duration,
    /// Send at most this many bytes per second (with a unit: 500K, 8M, 1G).
    #[arg(long, value_name = "RATE", value_parser = parse_bytes)]
    pub limit_rate: Option<u64>,
    /// Print the outcome as JSON (one object per recipient, one per line).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    crate::cmd::runtime()?.block_on(send(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn send(args: SendArgs) -> anyhow::Result<()> {
    let who = crate::operator::operator()?;
    let (_, node) = crate::cmd::node::open(&args.data).await?;
    let package = node
        .check_package_for_send(&args.package)
        .context("the package cannot be sent; nothing was uploaded")?;
    let manifest = &package.verified.manifest;
    let recipients = if args.to.is_empty() {
        manifest.recipients.clone()
    } else {
        args.to.clone()
    };
    let bytes: u64 = manifest.segments.iter().map(|s| s.size).sum();
    if !args.json {
        println!(
            "package {} for request {}: {} segments, {}",
            package.verified.package_id,
            custos_protocol::text::escape(&manifest.request),
            manifest.segments.len(),
            super::human_bytes(bytes)
        );
    }
    let options = SendOptions {
        retry_for: args.retry_for,
        limit_rate: args.limit_rate,
        ..SendOptions::default()
    };
    let observer = Observer {
        progress: CliProgress::new(),
        quiet: args.json,
    };
    let mut failed = Vec::new();
    for to in recipients {
        let outcome = node
            .send_evidence(&package, to, &options, &observer, &who)
            .await;
        if args.json {
            let view = TransferView::of(to, &package.verified.package_id, &outcome);
            println!("{}", serde_json::to_string(&view)?);
        }
        match outcome {
            Ok(outcome) => {
                if !args.json {
                    println!(
                        "{to} accepted the package at {} ({} segments sent by this run); signed receipt kept in {}{}",
                        timestamp::format(outcome.receipt.received_at),
                        outcome.segments_sent,
                        outcome.receipt_file.display(),
                        match outcome.custody_checkpoint {
                            Some(size) => format!(", custody proof checked (ledger size {size})"),
                            None => String::new(),
                        }
                    );
                }
            }
            Err(e) => {
                // The error may quote the receiver's message.
                eprintln!(
                    "error: sending to {to}: {}",
                    custos_protocol::text::escape(&e.to_string())
                );
                failed.push(to);
            }
        }
    }
    // The custody entries were queued; a serving node sequences them too,
    // and doing it here is safe alongside it.
    if let Err(e) = node.sequence_all().await {
        tracing::warn!(error = %e, "cannot sequence the ledger now; the serving node will");
    }
    node.close().await;
    if !failed.is_empty() {
        let list: Vec<String> = failed.iter().map(|s| s.to_string()).collect();
        return Err(anyhow::anyhow!(
            "the package was not accepted by {}",
            list.join(", ")
        ))
        .hint(
            "the upload resumes from the last verified segment: run the same command again \
             once the receiver answers (a longer --retry-for waits for it)",
        );
    }
    Ok(())
}

/// Lines on standard output, progress on standard error.
struct Observer {
    progress: CliProgress,
    quiet: bool,
}

impl SendObserver for Observer {
    fn say(&self, line: &str) {
        if !self.quiet {
            let mut out = std::io::stdout().lock();
            // Lines may quote what the receiver answered.
            let _ = writeln!(out, "{}", custos_protocol::text::escape(line));
            let _ = out.flush();
        }
    }

    fn start(&self, total: u64, label: &str) {
        self.progress.start(total, &format!("sending {label}"));
    }

    fn advance(&self, bytes: u64) {
        self.progress.advance(bytes);
    }

    fn finish(&self) {
        self.progress.finish();
    }
}

/// Reads `600`, `600s`, `10m`, `2h` or `1d`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |i| text.split_at(i));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 90s, 10m or 2h"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(n.saturating_mul(factor)))
}

/// Reads `1048576`, `500K`, `8M` or `1G` (powers of 1024).
fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |i| text.split_at(i));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a byte count such as 500K, 8M or 1G"))?;
    let factor: u64 = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(format!("{text:?}: the unit must be K, M or G")),
    };
    match n.saturating_mul(factor) {
        0 => Err("the rate must be above zero".into()),
        v => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_rates_read() {
        assert_eq!(parse_duration("600").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5y").is_err());
        assert_eq!(parse_bytes("8M").unwrap(), 8 << 20);
        assert_eq!(parse_bytes("500k").unwrap(), 500 << 10);
        assert_eq!(parse_bytes("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("3T").is_err());
    }
}
