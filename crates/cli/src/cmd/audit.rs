//! `custos audit`: the record of who saw what (every read, every decision
//! of the access check, every refusal and failed authentication), and
//! `custos case grant|revoke|grants`: a case's content granted to a person
//! whose role sees a case only when granted it (an auditor).
//!
//! The node checks the operator's roles and records each call; this
//! command only parses, calls and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use custos_node::app::{AccessView, AuditFilter, CaseGrantView};
use custos_protocol::text::escape;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

/// List the record of who saw what, newest first
///
/// Each row is one decision of the node's access check about a person: an
/// operation allowed (a read, a listing, an action) or refused, with the
/// refusal's reason, or a caller of the client API that could not be
/// authenticated (`anonymous`). Each row names the custody-ledger entry
/// that records the same decision (`custos ledger verify` checks them).
/// Rows carry no case content.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct AuditArgs {
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Only this person (user or operator name, or `anonymous`).
    #[arg(long)]
    pub person: Option<String>,
    /// Only this case (request id).
    #[arg(long)]
    pub case: Option<String>,
    /// At or after this time (RFC 3339, or a date YYYY-MM-DD meaning its
    /// midnight UTC).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<OffsetDateTime>,
    /// Before this time (RFC 3339, or a date YYYY-MM-DD).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<OffsetDateTime>,
    /// At most this many rows (at most 1000).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Skip this many first (the next page).
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Reads RFC 3339, or a date meaning its midnight UTC.
pub fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    Date::parse(s, format_description!("[year]-[month]-[day]"))
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| {
            format!(
                "{s:?} is not a time: give RFC 3339 (2026-05-01T09:00:00Z) or a date (2026-05-01)"
            )
        })
}

fn time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let filter = AuditFilter {
        person: args.person,
        case: args.case,
        since: args.since,
        until: args.until,
        limit: Some(args.limit),
        offset: Some(args.offset),
    };
    let rows: Vec<AccessView> = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let rows = node.audit(&crate::operator::operator()?, &filter).await;
        node.close().await;
        anyhow::Ok(rows?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("No access recorded for this selection.");
    }
    for r in &rows {
        println!(
            "{}  {:<8}  {:<24}  {:<22}  {}{}",
            time(r.at),
            r.outcome,
            escape(&r.actor),
            r.operation,
            r.case
                .as_deref()
                .map_or_else(|| "-".to_owned(), |c| escape(c).to_string()),
            r.reason
                .as_deref()
                .map_or_else(String::new, |why| format!("  ({})", escape(why)))
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Grant a person (an auditor) a case's content until a time.
#[derive(Args, Debug)]
pub struct GrantArgs {
    /// The case's id.
    pub id: String,
    /// The person granted the case (their user name).
    #[arg(long)]
    pub person: String,
    /// Why (kept in the record and the custody ledger).
    #[arg(long)]
    pub reason: String,
    /// Until when (RFC 3339 or a date YYYY-MM-DD), at most a year ahead.
    #[arg(long, value_parser = parse_time)]
    pub until: OffsetDateTime,
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Revoke a person's grants of a case.
#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// The case's id.
    pub id: String,
    /// The person whose grants end now.
    #[arg(long)]
    pub person: String,
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
}

/// List a case's grants, revoked or not.
#[derive(Args, Debug)]
pub struct GrantsArgs {
    /// The case's id.
    pub id: String,
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn print_grant(g: &CaseGrantView) {
    let state = match (&g.revoked_at, g.in_force) {
        (Some(at), _) => format!(
            "revoked {} by {}",
            time(*at),
            escape(g.revoked_by.as_deref().unwrap_or("?"))
        ),
        (None, true) => "in force".to_owned(),
        (None, false) => "expired".to_owned(),
    };
    println!(
        "#{}  {}  until {}  granted {} by {}  {state}  reason: {}",
        g.id,
        escape(&g.person),
        time(g.until),
        time(g.granted_at),
        escape(&g.granted_by),
        escape(&g.reason)
    );
}

pub fn grant(args: GrantArgs) -> anyhow::Result<ExitCode> {
    let g = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let g = node
            .grant_case_access(
                &crate::operator::operator()?,
                &args.id,
                &args.person,
                &args.reason,
                args.until,
            )
            .await;
        node.close().await;
        anyhow::Ok(g?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&g)?);
    } else {
        print_grant(&g);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn revoke(args: RevokeArgs) -> anyhow::Result<ExitCode> {
    let n = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let n = node
            .revoke_case_access(&crate::operator::operator()?, &args.id, &args.person)
            .await;
        node.close().await;
        anyhow::Ok(n?)
    })?;
    println!(
        "{n} grant(s) of case {} to {} revoked.",
        escape(&args.id),
        escape(&args.person)
    );
    Ok(ExitCode::SUCCESS)
}

pub fn grants(args: GrantsArgs) -> anyhow::Result<ExitCode> {
    let grants = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let g = node
            .case_grants(&crate::operator::operator()?, &args.id)
            .await;
        node.close().await;
        anyhow::Ok(g?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&grants)?);
        return Ok(ExitCode::SUCCESS);
    }
    if grants.is_empty() {
        println!("No grant of this case.");
    }
    grants.iter().for_each(print_grant);
    Ok(ExitCode::SUCCESS)
}
