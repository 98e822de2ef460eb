//! `custos case retention|hold|purge`: a case's retention (how long its
//! content is kept after it ended), legal holds, and the deletion of the
//! content whose retention ended (issue 18).
//!
//! The node checks the operator's roles, records each change with its
//! reason and ledger entry, and deletes; this command only parses, calls
//! and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use custos_node::app::{PurgeReport, RetentionPeriod, RetentionView};
use custos_protocol::text::escape;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Show or change a case's retention
///
/// Without --days or --until: shows the case's retention (when it ended,
/// the period in force, a legal hold, the deletion date, every change).
/// With one of them and --reason: sets the case's own period (days after
/// the case ended) or date; the change, its reason and its author are
/// recorded with a custody-ledger entry.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct RetentionArgs {
    /// The case's id.
    pub id: String,
    /// Keep the content this many days after the case ended.
    #[arg(long, conflicts_with = "until", requires = "reason")]
    pub days: Option<u32>,
    /// Keep the content until this date (YYYY-MM-DD) or time (RFC 3339).
    #[arg(long, value_parser = super::audit::parse_time, requires = "reason")]
    pub until: Option<OffsetDateTime>,
    /// Why (recorded; required with --days or --until).
    #[arg(long)]
    pub reason: Option<String>,
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Place or lift a legal hold on a case
///
/// While a hold is in place the case's content is not deleted, whatever its
/// retention says. Each placing and lifting is recorded with its reason, its
/// author and a custody-ledger entry.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct HoldArgs {
    /// The case's id.
    pub id: String,
    /// Lift the hold instead of placing it.
    #[arg(long)]
    pub lift: bool,
    /// Why (recorded).
    #[arg(long)]
    pub reason: String,
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Delete now the content of the cases whose retention ended
///
/// `custos serve` does it on its own (`[retention]` in custos.toml); this is
/// the operator's command. Each case's request, messages, drafts and
/// evidence files are deleted in one transaction with a content-deleted
/// custody-ledger entry; ids, kinds, states, times, the history and the
/// ledger's hashes stay, so `custos ledger verify` still passes. The other
/// State is told with a signed report-deletion message.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct PurgeArgs {
    /// Delete the content of every case due now (required: the command
    /// deletes nothing else).
    #[arg(long, required = true)]
    pub due: bool,
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub fn retention(args: RetentionArgs) -> anyhow::Result<ExitCode> {
    let period = match (args.days, args.until) {
        (Some(d), _) => Some(RetentionPeriod::Days(d)),
        (None, Some(t)) => Some(RetentionPeriod::Until(t)),
        (None, None) => None,
    };
    let view = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let view = async {
            let who = crate::operator::operator()?;
            let view = match period {
                Some(p) => {
                    let reason = args.reason.as_deref().unwrap_or_default();
                    node.set_retention(&args.id, p, reason, &who).await?
                }
                None => node.retention(&args.id, &who).await?,
            };
            anyhow::Ok(view)
        }
        .await;
        node.close().await;
        view
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        print_retention(&view);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn hold(args: HoldArgs) -> anyhow::Result<ExitCode> {
    let view = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let view = async {
            let who = crate::operator::operator()?;
            anyhow::Ok(
                node.legal_hold(&args.id, !args.lift, &args.reason, &who)
                    .await?,
            )
        }
        .await;
        node.close().await;
        view
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        print_retention(&view);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn purge(args: PurgeArgs) -> anyhow::Result<ExitCode> {
    let report: PurgeReport = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let report = async {
            let who = crate::operator::operator()?;
            let report = node.purge_due(&who).await?;
            // The other States' reports of the deletions, sent now.
            node.deliver_due(64).await?;
            anyhow::Ok(report)
        }
        .await;
        node.close().await;
        report
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    for d in &report.deleted {
        println!(
            "deleted    {}  {} messages, {} drafts, {} evidence files ({} bytes)  entry {}",
            d.case, d.messages, d.drafts, d.evidence_files, d.evidence_bytes, d.entry
        );
    }
    println!(
        "{} cases deleted, {} skipped (held or deleted meanwhile)",
        report.deleted.len(),
        report.skipped
    );
    Ok(ExitCode::SUCCESS)
}

/// The retention lines of a case, as `custos case show` and the commands
/// above print them.
pub fn print_retention_lines(v: &RetentionView) {
    let ended = v.ended_at.map_or_else(|| "open".to_owned(), time);
    let whose = if v.set_for_case {
        "set for the case"
    } else {
        "the node's default for the kind"
    };
    match v.until {
        Some(u) => println!("retention  until {} ({whose}); ended {ended}", time(u)),
        None => println!(
            "retention  {} days after the end ({whose}); ended {ended}",
            v.days
        ),
    }
    if v.legal_hold {
        println!("hold       LEGAL HOLD: nothing is deleted until it is lifted");
    }
    if let Some(d) = &v.deleted {
        println!(
            "deleted    {} by {} ({}), entry {}",
            time(d.at),
            escape(&d.by),
            escape(&d.reason),
            d.entry
        );
    } else if let Some(at) = v.deletion_date {
        println!("deletion   {}", time(at));
    } else if !v.legal_hold {
        println!("deletion   none while the case is open");
    }
    if let Some(p) = &v.peer_deleted {
        println!(
            "peer       the other State deleted its copy on {} (its entry {})",
            time(p.deleted_at),
            p.entry
        );
    }
}

fn print_retention(v: &RetentionView) {
    println!("case       {}", v.case);
    print_retention_lines(v);
    for c in &v.changes {
        let what = match (c.days, c.until) {
            (Some(d), _) => format!("{} {d} days", c.change),
            (None, Some(u)) => format!("{} until {}", c.change, time(u)),
            _ => c.change.clone(),
        };
        println!(
            "change     {}  {}  {}  ({})",
            time(c.at),
            escape(&c.by),
            what,
            escape(&c.reason)
        );
    }
}
