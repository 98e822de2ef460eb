//! `custos request`: templates, validation, and the node's record of requests.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use custos_model::clock::Clock;
use custos_model::validate::{self, Report, Severity};
use custos_model::{RequestKind, StateCode, contents, template};
use custos_store::{Direction, NewEvent, RequestFilter, RequestRecord};
use serde_json::json;

use crate::clock::SystemClock;
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum RequestCommand {
    /// List the request kinds, or print a complete, commented draft of one kind.
    ///
    /// The draft is JSON with // comments and validates as printed; replace the
    /// invented example values with the case's own.
    Template {
        /// The kind to print (omit to list the kinds).
        kind: Option<RequestKind>,
    },
    /// Check a draft: exit 0 when it may be sent, 1 when it may not.
    ///
    /// Prints one line per problem: severity, code, field, article and a sentence.
    /// Warnings (items to give where possible) do not make a draft invalid.
    Validate {
        /// The draft file (JSON; comments allowed).
        file: PathBuf,
        /// Print a machine-readable report instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Validate a draft and record it in the node as an outgoing request.
    Save(SaveArgs),
    /// List the requests the node holds, newest first.
    List(ListArgs),
    /// Show one request and its history.
    Show(ShowArgs),
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// The draft file.
    pub file: PathBuf,
    /// The node's data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// The node's data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Only requests of this kind.
    #[arg(long)]
    pub kind: Option<RequestKind>,
    /// Only requests exchanged with this State.
    #[arg(long, value_name = "CC")]
    pub with: Option<StateCode>,
    /// At most this many requests.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The request's id (as `custos request list` prints it).
    pub id: String,
    /// The node's data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: RequestCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RequestCommand::Template { kind: None } => {
            print!("{}", list_kinds());
            Ok(ExitCode::SUCCESS)
        }
        RequestCommand::Template { kind: Some(kind) } => {
            print!("{}", template::render(kind));
            Ok(ExitCode::SUCCESS)
        }
        RequestCommand::Validate { file, json } => {
            let report = validate_file(&file)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report_json(&file, &report))?
                );
            } else {
                print!("{}", report_lines(&file, &report));
            }
            Ok(if report.is_valid() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        RequestCommand::Save(args) => save(args, &SystemClock),
        RequestCommand::List(args) => list(args),
        RequestCommand::Show(args) => show(args),
    }
}

/// The kinds, one line each, with the article that governs them.
pub fn list_kinds() -> String {
    let mut out = String::from("Request kinds (print one with `custos request template KIND`):\n");
    for k in RequestKind::ALL {
        out.push_str(&format!(
            "  {:<28} {:<9} {}\n",
            k.as_str(),
            contents::governing_article(k).to_string(),
            contents::title(k)
        ));
    }
    out
}

/// Reads and validates a draft file. Only a file that cannot be read is an error.
pub fn validate_file(file: &Path) -> anyhow::Result<Report> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the draft {}", file.display()))?;
    Ok(validate::validate_text(&text))
}

/// The report as lines: one per problem, then a summary.
pub fn report_lines(file: &Path, report: &Report) -> String {
    let mut out = String::new();
    for issue in &report.issues {
        out.push_str(&format!("{}: {issue}\n", file.display()));
    }
    let warnings = report.issues.len() - report.errors();
    let kind = report.kind.map(|k| format!(" {k}")).unwrap_or_default();
    if report.is_valid() {
        out.push_str(&format!(
            "{}: valid{kind} draft, {warnings} warning(s)\n",
            file.display()
        ));
    } else {
        out.push_str(&format!(
            "{}: NOT valid: {} error(s), {warnings} warning(s)\n",
            file.display(),
            report.errors()
        ));
    }
    out
}

/// The report as JSON.
pub fn report_json(file: &Path, report: &Report) -> serde_json::Value {
    json!({
        "file": file.display().to_string(),
        "valid": report.is_valid(),
        "kind": report.kind,
        "errors": report.errors(),
        "warnings": report.issues.iter().filter(|i| i.severity == Severity::Warning).count(),
        "issues": report.issues,
    })
}

/// Opens the store of the node in `data`.
pub async fn open_store(
    data: &Path,
) -> anyhow::Result<(Config, std::sync::Arc<dyn custos_store::Store>)> {
    let config = Config::load(data)?;
    let url = config.database_url(data);
    let store = custos_store::open(&url).await.with_context(|| {
        format!(
            "cannot open the node's database at {}",
            crate::config::mask_url(&url)
        )
    })?;
    Ok((config, store))
}

fn save(args: SaveArgs, clock: &dyn Clock) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read the draft {}", args.file.display()))?;
    let report = validate::validate_text(&text);
    if !report.is_valid() {
        eprint!("{}", report_lines(&args.file, &report));
        bail!(
            "the draft {} is not valid; nothing was recorded",
            args.file.display()
        );
    }
    let body = validate::parse(&text).map_err(anyhow::Error::msg)?;
    let id = super::runtime()?.block_on(record_outgoing(&args.data, body, clock))?;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

/// Records a valid draft as an outgoing request; returns its id.
pub async fn record_outgoing(
    data: &Path,
    body: serde_json::Value,
    clock: &dyn Clock,
) -> anyhow::Result<String> {
    let (config, store) = open_store(data).await?;
    let text = |k: &str| {
        body.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let kind: RequestKind = text("kind").parse()?;
    let from: StateCode = text("requesting_state").parse()?;
    if from != config.node.state {
        bail!(
            "the draft is from {from}, but this node speaks for {}",
            config.node.state
        );
    }
    let counterpart: StateCode = text("requested_state").parse()?;
    let now = clock.now();
    let id = uuid::Uuid::new_v4().to_string();
    let record = RequestRecord {
        id: id.clone(),
        kind,
        direction: Direction::Outgoing,
        counterpart,
        body,
        created_at: now,
    };
    store.insert_request(&record).await?;
    store
        .append_event(&NewEvent {
            request_id: id.clone(),
            at: now,
            actor: actor(),
            kind: "drafted".into(),
            detail: json!({ "validated": true }),
        })
        .await?;
    store.close().await;
    Ok(id)
}

/// Who is acting, for the request's history: the operating-system user.
fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let records = super::runtime()?.block_on(async {
        let (_, store) = open_store(&args.data).await?;
        let filter = RequestFilter {
            direction: None,
            kind: args.kind,
            counterpart: args.with,
            limit: Some(args.limit),
        };
        let r = store.list_requests(&filter).await?;
        store.close().await;
        anyhow::Ok(r)
    })?;
    if args.json {
        let rows: Vec<_> = records.iter().map(summary_json).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if records.is_empty() {
        println!("No requests.");
    } else {
        println!(
            "{:<36}  {:<8}  {:<4}  {:<26}  created (UTC)",
            "id", "way", "with", "kind"
        );
        for r in &records {
            println!(
                "{:<36}  {:<8}  {:<4}  {:<26}  {}",
                r.id,
                r.direction.as_str(),
                r.counterpart,
                r.kind.as_str(),
                r.created_at.date()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn summary_json(r: &RequestRecord) -> serde_json::Value {
    json!({
        "id": r.id,
        "direction": r.direction.as_str(),
        "kind": r.kind,
        "counterpart": r.counterpart,
        "created_at": r.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
    })
}

fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let (record, events) = super::runtime()?.block_on(async {
        let (_, store) = open_store(&args.data).await?;
        let Some(record) = store.get_request(&args.id).await? else {
            bail!("no request with id {:?} in this node", args.id);
        };
        let events = store.events(&args.id).await?;
        store.close().await;
        anyhow::Ok((record, events))
    })?;
    let rfc3339 = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    if args.json {
        let history: Vec<_> = events
            .iter()
            .map(|e| json!({ "seq": e.seq, "at": rfc3339(e.at), "actor": e.actor, "kind": e.kind, "detail": e.detail }))
            .collect();
        let mut out = summary_json(&record);
        out["body"] = record.body.clone();
        out["history"] = json!(history);
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("Request {}", record.id);
        println!(
            "  kind        {} ({})",
            record.kind,
            contents::title(record.kind)
        );
        println!(
            "  direction   {} ({})",
            record.direction.as_str(),
            record.counterpart.display_name()
        );
        println!("  created     {}", rfc3339(record.created_at));
        println!("History:");
        for e in &events {
            println!(
                "  {:>3}  {}  {:<12}  {}",
                e.seq,
                rfc3339(e.at),
                e.kind,
                e.actor
            );
        }
        println!("Draft:");
        println!("{}", serde_json::to_string_pretty(&record.body)?);
    }
    Ok(ExitCode::SUCCESS)
}
