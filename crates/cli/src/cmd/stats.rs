//! `custos stats`: the oversight statistics report of a period (counts by
//! request kind, counterpart State, outcome, refusal ground and
//! postponement, and response-time percentiles, per direction), without
//! case content or identifiers, small counts suppressed; as a table, JSON,
//! CSV or a report signed by the node. `custos stats verify FILE` checks a
//! signed report against the signer's key in the directory.
//!
//! The node checks the operator's roles, builds the report and signs it;
//! this command only parses, calls and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use custos_node::app::StatisticsQuery;
use time::Date;

/// Oversight statistics of a period, without case content or identifiers
///
/// For the cases opened in the period, per direction (received, sent):
/// counts by request kind, counterpart State, outcome (executed,
/// partly-executed, refused, preserved, withdrawn, closed, open), refusal
/// ground (R1-R7) and postponement, and the median (p50) and p90 of the
/// time from submission to acknowledgement and to the first decision.
///
/// Counts below the node's threshold (`[statistics] threshold`, default 5)
/// are suppressed (shown as x), and where one suppressed count could be
/// worked out from a total and the other counts, a second count is
/// suppressed too. Percentiles are given only for groups of at least the
/// threshold. See docs/formats/statistics.md.
///
/// Examples:
///   custos stats --data /srv/custos                       (last calendar year)
///   custos stats --data /srv/custos --from 2026-01-01 --to 2026-06-30 --csv
///   custos stats --data /srv/custos --sign > report.json
///   custos stats verify report.json --data /srv/custos
#[derive(Args, Debug)]
#[command(verbatim_doc_comment, args_conflicts_with_subcommands = true)]
pub struct StatsArgs {
    #[command(subcommand)]
    pub command: Option<StatsCommand>,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Subcommand, Debug)]
pub enum StatsCommand {
    /// Check a signed report: its signature by the reporting State's key in the directory.
    Verify(VerifyArgs),
}

/// What report to make.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: Option<PathBuf>,
    /// The first day of the period (YYYY-MM-DD; default 1 January of last year).
    #[arg(long, value_parser = super::date)]
    pub from: Option<Date>,
    /// The last day of the period, included (YYYY-MM-DD; default 31 December of last year).
    #[arg(long, value_parser = super::date)]
    pub to: Option<Date>,
    /// Suppress below this threshold instead of the node's (it may only be raised).
    #[arg(long)]
    pub threshold: Option<u64>,
    /// Print the report as JSON.
    #[arg(long, conflicts_with_all = ["csv", "sign"])]
    pub json: bool,
    /// Print the report as CSV.
    #[arg(long, conflicts_with = "sign")]
    pub csv: bool,
    /// Print the JSON report signed by the node (a DSSE envelope), for publication.
    #[arg(long)]
    pub sign: bool,
}

/// Check a signed report.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The signed report (`custos stats --sign` output).
    pub file: PathBuf,
    /// The node's data directory (its directory holds the signers' keys).
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: StatsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(StatsCommand::Verify(v)) => verify(v),
        None => report(args.report),
    }
}

fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let data = args
        .data
        .context("--data DIR is required: the node's data directory")?;
    let query = StatisticsQuery {
        from: args.from,
        to: args.to,
        threshold: args.threshold,
    };
    let sign = args.sign;
    let (report, signed) = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&data).await?;
        let actor = crate::operator::operator()?;
        let out = if sign {
            node.signed_oversight_statistics(&actor, &query)
                .await
                .map(|s| (None, Some(s)))
        } else {
            node.oversight_statistics(&actor, &query)
                .await
                .map(|r| (Some(r), None))
        };
        node.close().await;
        anyhow::Ok(out?)
    })?;
    if let Some(signed) = signed {
        println!("{}", String::from_utf8_lossy(&signed));
    } else if let Some(report) = report {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else if args.csv {
            print!("{}", report.to_csv());
        } else {
            print!("{}", report.to_table());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let signed = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let checked = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let out = node
            .verify_statistics(&crate::operator::operator()?, &signed)
            .await;
        node.close().await;
        anyhow::Ok(out?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checked)?);
    } else if let Some(report) = checked.report.as_ref().filter(|_| checked.valid) {
        println!(
            "valid: a statistics report of {} for {} to {}, signed with key {}",
            report.state,
            report.from,
            report.to,
            checked.keyid.as_deref().unwrap_or("?")
        );
    } else {
        println!(
            "NOT valid: {}",
            custos_protocol::text::escape(checked.problem.as_deref().unwrap_or("?"))
        );
    }
    Ok(if checked.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
