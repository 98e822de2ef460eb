//! `custos request`: templates, validation, and the node's record of requests.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use custos_model::basis;
use custos_model::clock::Clock as _;
use custos_model::decision::Taker;
use custos_model::validate::{self, Report, Severity};
use custos_model::{Decision, RequestKind, StateCode, contents, template};
use custos_node::app::views::RequestSummary;
use custos_node::app::{CaseFilter, CaseSummary, OutboxState, RequestFilter, Urgency};
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use crate::clock::SystemClock;
use crate::hint::Hinted as _;

#[derive(Subcommand, Debug)]
pub enum RequestCommand {
    /// List the request kinds and the decisions, or print a complete,
    /// commented draft of one.
    ///
    /// The draft is JSON with // comments and validates as printed; replace the
    /// invented example values with the case's own. A decision draft (a refusal,
    /// a consultation, an execution, ...) is named after the case action that
    /// takes it: `custos case act ID ACTION --file DRAFT`.
    ///
    /// With --out, the draft is written to that file instead: with its
    /// comments when the name ends in `.jsonc`, as plain JSON (no comments)
    /// when it ends in `.json`.
    Template {
        /// The request kind or decision to print (omit to list them).
        #[arg(value_name = "KIND|DECISION", value_parser = parse_template_name)]
        name: Option<TemplateName>,
        /// Write the draft to this file (`.jsonc`: commented; `.json`: plain JSON).
        #[arg(long, value_name = "FILE", requires = "name")]
        out: Option<PathBuf>,
    },
    /// Check a draft: exit 0 when it may be sent, 1 when it may not or
    /// cannot be read (the report says which).
    ///
    /// Prints one line per problem: severity, code, field, article and a sentence.
    /// Warnings (items to give where possible) do not make a draft invalid.
    /// A draft with a `decision` field is checked as that decision (the
    /// checks a case action runs; those that depend on the case, such as a
    /// consultation before a refusal, are left to `custos case act`).
    /// Drafts larger than 1 MiB are refused. With a treaty registry (--registry,
    /// or the one configured for the node in --data), a draft citing the
    /// Convention is also checked to be in force for both States on the
    /// sending date (--at, default today), as `custos request send` does.
    Validate {
        /// The draft file (JSON; comments allowed).
        file: PathBuf,
        /// Print a machine-readable report instead of lines (also for a draft
        /// that cannot be read).
        #[arg(long)]
        json: bool,
        /// A treaty registry file (TOML, `custos treaty template`) to check
        /// the legal basis against.
        #[arg(long, value_name = "FILE", conflicts_with = "data")]
        registry: Option<PathBuf>,
        /// A node's data directory: check the legal basis against the treaty
        /// registry configured there (`treaty.registry` in custos.toml).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// The sending date to check the legal basis on, YYYY-MM-DD (default: today).
        #[arg(long, value_name = "DATE", value_parser = parse_day)]
        at: Option<time::Date>,
    },
    /// Validate a draft and record it in the node as an outgoing request, without sending it.
    Save(SaveArgs),
    /// Validate a draft, sign and encrypt it, and deliver it to the requested State's node.
    ///
    /// The message goes into the node's outbox first, so nothing is lost if the peer is
    /// down: one delivery attempt is made at once, and `custos serve` retries with back-off.
    Send(SendArgs),
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
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
}

#[derive(Args, Debug)]
pub struct SendArgs {
    /// The draft file.
    pub file: PathBuf,
    /// The State to send to; must match the draft's requested_state.
    #[arg(long, value_name = "CC", value_parser = super::state_code)]
    pub to: Option<StateCode>,
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Only queue the message; do not try to deliver it now.
    #[arg(long)]
    pub queue_only: bool,
    /// Send the draft even though it still holds the template's sample
    /// marker (its reference): the invented example, sent as such.
    #[arg(long)]
    pub allow_sample: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Only requests of this kind.
    #[arg(long)]
    pub kind: Option<RequestKind>,
    /// Only requests exchanged with this State.
    #[arg(long, value_name = "CC", value_parser = super::state_code)]
    pub with: Option<StateCode>,
    /// At most this many requests.
    #[arg(long, default_value_t = custos_node::app::views::DEFAULT_REQUEST_LIMIT)]
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
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: RequestCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RequestCommand::Template { name: None, .. } => {
            print!("{}\n{}", list_kinds(), list_decisions());
            Ok(ExitCode::SUCCESS)
        }
        RequestCommand::Template {
            name: Some(name),
            out,
        } => {
            let text = match name {
                TemplateName::Kind(kind) => template::render(kind),
                TemplateName::Decision(decision) => template::render_decision(decision),
            };
            match out {
                None => print!("{text}"),
                Some(out) => write_template(&out, &text)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        RequestCommand::Validate {
            file,
            json,
            registry,
            data,
            at,
        } => {
            let registry = match (registry, data) {
                (Some(path), _) => Some(super::treaty::load(&path)?.registry),
                (None, Some(data)) => crate::config::Config::load(&data)?.treaty_registry(&data)?,
                (None, None) => None,
            };
            let report = match read_draft(&file) {
                Ok(text) => {
                    let mut report = validate::validate_text(&text);
                    if let (Some(registry), Ok(draft)) = (&registry, validate::parse(&text)) {
                        let on = at.unwrap_or_else(|| SystemClock.today());
                        if let Err(refused) = basis::check(&draft, Some(registry), on) {
                            report.issues.push(refused.issue());
                        }
                    }
                    report
                }
                Err(report) => report,
            };
            if report.is_unreadable_file() {
                // Nothing was validated: a failure (exit 1) like any input
                // that cannot be used, with the report still in JSON when asked for.
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&report_json(&file, &report))?
                    );
                } else {
                    for issue in &report.issues {
                        eprintln!("error: {}", issue.message);
                    }
                    eprintln!(
                        "hint: give the path of a readable UTF-8 draft file of at most 1 MiB"
                    );
                }
                return Ok(ExitCode::from(1));
            }
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
        RequestCommand::Save(args) => save(args),
        RequestCommand::Send(args) => send(args),
        RequestCommand::List(args) => list(args),
        RequestCommand::Show(args) => show(args),
    }
}

/// What `custos request template` prints: a request kind's draft or a
/// decision's.
#[derive(Clone, Copy, Debug)]
pub enum TemplateName {
    Kind(RequestKind),
    Decision(Decision),
}

fn parse_template_name(text: &str) -> Result<TemplateName, String> {
    if let Ok(kind) = text.parse::<RequestKind>() {
        return Ok(TemplateName::Kind(kind));
    }
    text.parse::<Decision>()
        .map(TemplateName::Decision)
        .map_err(|_| {
            format!(
                "{text:?} is neither a request kind nor a decision; `custos request template` lists them"
            )
        })
}

fn parse_day(text: &str) -> Result<time::Date, String> {
    custos_model::treaty::date_text::parse(text).map_err(|e| e.to_string())
}

/// A kind's template as a JSON value.
pub fn parse_template(kind: RequestKind) -> anyhow::Result<serde_json::Value> {
    validate::parse(&template::render(kind)).map_err(anyhow::Error::msg)
}

/// The kinds, one line each, with the article that governs them.
pub fn list_kinds() -> String {
    let mut out = String::from("Request kinds (print one with `custos request template KIND`):\n");
    for k in RequestKind::ALL {
        out.push_str(&format!(
            "  {:<28} {:<9} {}\n",
            k.as_str(),
            contents::governing_article(k).to_string(),
            super::term(&format!("kind-{}", k.as_str()))
        ));
    }
    out
}

/// The decisions, one line each, with the State that takes them and the
/// article that governs them.
pub fn list_decisions() -> String {
    let mut out = String::from(
        "Decisions (print one with `custos request template DECISION`; take it with\n\
         `custos case act ID DECISION --file DRAFT`):\n",
    );
    for d in Decision::ALL {
        let taker = match d.taker() {
            Taker::Requesting => "requesting",
            Taker::Requested => "requested",
            Taker::Either => "either",
        };
        out.push_str(&format!(
            "  {:<28} {:<9} {:<11} {}\n",
            d.as_str(),
            d.article().to_string(),
            taker,
            super::term(&format!("action-{}", d.as_str()))
        ));
    }
    out
}

/// Reads and validates a draft file. A file that cannot be read, or is
/// larger than [`validate::MAX_DRAFT_BYTES`], gives a report of that one
/// problem ([`Report::is_unreadable_file`] tells the first apart).
pub fn validate_file(file: &Path) -> Report {
    match read_draft(file) {
        Ok(text) => validate::validate_text(&text),
        Err(report) => report,
    }
}

/// Reads a draft file's text, never more than [`validate::MAX_DRAFT_BYTES`]
/// plus one byte of it: a larger file is refused as too large without being
/// read whole. Every command that reads a draft file reads it here.
pub fn read_draft(file: &Path) -> Result<String, Report> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| {
        Report::cannot_read(format!("cannot read the draft {}: {e}", file.display()))
    };
    let handle = std::fs::File::open(file).map_err(cannot)?;
    let on_disk = handle.metadata().map(|m| m.len()).unwrap_or(0);
    let limit = validate::MAX_DRAFT_BYTES as u64;
    let mut bytes = Vec::new();
    handle
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > limit {
        return Err(Report::too_large(on_disk.max(bytes.len() as u64)));
    }
    String::from_utf8(bytes).map_err(|e| {
        Report::cannot_read(format!(
            "cannot read the draft {}: it is not UTF-8 text ({e})",
            file.display()
        ))
    })
}

/// The report as lines: one per problem, then a summary.
pub fn report_lines(file: &Path, report: &Report) -> String {
    let mut out = String::new();
    for issue in &report.issues {
        out.push_str(&format!("{}: {issue}\n", file.display()));
    }
    let warnings = report.issues.len() - report.errors();
    let kind = match (report.kind, report.decision) {
        (Some(k), _) => format!(" {k}"),
        (None, Some(d)) => format!(" {d} decision"),
        (None, None) => String::new(),
    };
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
        "decision": report.decision,
        "errors": report.errors(),
        "warnings": report.issues.iter().filter(|i| i.severity == Severity::Warning).count(),
        "issues": report.issues,
    })
}

/// Reads a draft that must be valid: prints the problems and fails when it is not.
fn read_valid_draft(file: &Path, consequence: &str) -> anyhow::Result<serde_json::Value> {
    let text = match read_draft(file) {
        Ok(text) => text,
        Err(report) => {
            let problem = report.issues.first().map(|i| i.message.as_str());
            bail!(
                "{}; {consequence}",
                problem.unwrap_or("the draft cannot be read")
            );
        }
    };
    let report = validate::validate_text(&text);
    if !report.is_valid() {
        eprint!("{}", report_lines(file, &report));
        bail!("the draft {} is not valid; {consequence}", file.display());
    }
    validate::parse(&text).map_err(anyhow::Error::msg)
}

fn save(args: SaveArgs) -> anyhow::Result<ExitCode> {
    let body = read_valid_draft(&args.file, "nothing was recorded")?;
    let id = super::runtime()?.block_on(save_draft(&args.data, body))?;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

fn send(args: SendArgs) -> anyhow::Result<ExitCode> {
    let draft = read_valid_draft(&args.file, "nothing was sent")?;
    if let Some(to) = args.to {
        let named = draft
            .get("requested_state")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        if named != to.as_str() {
            bail!("--to {to} does not match the draft's requested_state {named:?}");
        }
    }
    let report = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let report = node
            .send_request(
                draft,
                &crate::operator::operator()?,
                !args.queue_only,
                args.allow_sample,
            )
            .await;
        node.close().await;
        anyhow::Ok(report?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let error = report.last_error;
        println!("request    {}", report.sent.thread);
        println!("message    {}", report.sent.message_id);
        match report.delivery {
            Some(OutboxState::Delivered) => println!(
                "delivery   delivered; the receiver's signed receipt verified and is stored"
            ),
            Some(OutboxState::Failed) => {
                println!("delivery   FAILED: {}", error.unwrap_or_default())
            }
            _ => match error {
                Some(e) => println!(
                    "delivery   queued, not delivered yet: {e}\n           \
                     The message stays in the outbox: `custos serve` delivers it, retrying with \
                     back-off, while it runs; `custos outbox deliver` tries once now."
                ),
                None => println!(
                    "delivery   queued: `custos serve` delivers it while it runs; \
                     `custos outbox deliver` tries once now."
                ),
            },
        }
    }
    Ok(if report.delivery == Some(OutboxState::Failed) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Records a valid draft as an outgoing request, without sending it (see
/// [`custos_node::Node::save_draft`]); returns its id.
pub async fn save_draft(data: &Path, body: serde_json::Value) -> anyhow::Result<String> {
    let (_, node) = super::node::open(data).await?;
    let id = node.save_draft(body, &crate::operator::operator()?).await;
    node.close().await;
    Ok(id?)
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let (records, cases) = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let filter = RequestFilter {
            direction: None,
            kind: args.kind,
            counterpart: args.with,
            limit: Some(args.limit),
            hidden_from: None,
        };
        let actor = crate::operator::operator()?;
        let r = node.requests(&actor, &filter).await;
        // The urgency and status of each request come from its case.
        let cases = if args.json {
            Ok(Vec::new())
        } else {
            let cases = CaseFilter {
                kind: args.kind,
                counterpart: args.with,
                limit: Some(10_000),
                ..CaseFilter::default()
            };
            node.cases(&actor, &cases).await
        };
        node.close().await;
        anyhow::Ok((r?, cases.unwrap_or_default()))
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&records)?);
    } else if records.is_empty() {
        println!("No requests.");
    } else {
        print!("{}", request_table(&records, &cases));
    }
    Ok(ExitCode::SUCCESS)
}

/// The requests as a table of aligned columns: id, direction, State, kind,
/// urgency and status (from the case index), and when it was created.
fn request_table(records: &[RequestSummary], cases: &[CaseSummary]) -> String {
    let status = |id: &str| cases.iter().find(|c| c.id == id);
    let rows: Vec<[String; 7]> = records
        .iter()
        .map(|r| {
            let case = status(&r.id);
            [
                r.id.clone(),
                r.direction.as_str().to_owned(),
                r.counterpart.to_string(),
                r.kind.as_str().to_owned(),
                case.map(|c| match c.urgency {
                    Urgency::Emergency => "EMERGENCY",
                    Urgency::Urgent => "urgent",
                    Urgency::Routine => "routine",
                })
                .unwrap_or("-")
                .to_owned(),
                case.map(|c| c.state.as_str().to_owned())
                    .unwrap_or_else(|| "-".to_owned()),
                r.created_at
                    .format(time::macros::format_description!(
                        "[year]-[month]-[day] [hour]:[minute]:[second]"
                    ))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let header = [
        "ID",
        "WAY",
        "WITH",
        "KIND",
        "URGENCY",
        "STATUS",
        "CREATED (UTC)",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(&header);
    for row in &rows {
        out.push_str(&line(&row.each_ref().map(String::as_str)));
    }
    out
}

fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let view = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let view = node
            .read_request(&args.id, &crate::operator::operator()?)
            .await;
        node.close().await;
        anyhow::Ok(view?)
    })?;
    let time = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    if args.json {
        // The same view, in the same shape, as the client API's
        // `GET /api/v1/requests/{id}`.
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Request {}", view.id);
    println!(
        "  kind        {} ({})",
        view.kind.as_str(),
        super::term(&format!("kind-{}", view.kind.as_str()))
    );
    println!(
        "  direction   {} {}",
        view.direction.as_str(),
        view.counterpart
    );
    println!("  created     {}", time(view.created_at));
    if !view.messages.is_empty() {
        println!("Messages:");
        for m in &view.messages {
            let delivery = m
                .delivery
                .map(|d| format!(" [{}]", d.as_str()))
                .unwrap_or_default();
            let receipt = if m.receipt { " receipt verified" } else { "" };
            println!(
                "  {}  {:<9} {:<13} {}{delivery}{receipt}",
                time(m.created_at),
                m.direction.as_str(),
                m.kind,
                m.id
            );
        }
    }
    println!("History:");
    for e in &view.history {
        println!(
            "  {:>3}  {}  {:<20}  {}",
            e.seq,
            time(e.at),
            e.kind,
            e.actor
        );
    }
    println!("Draft:");
    println!("{}", serde_json::to_string_pretty(&view.draft)?);
    Ok(ExitCode::SUCCESS)
}

/// Writes a template to `out`: with its comments for a `.jsonc` file, as
/// plain JSON (the same draft without comments) for a `.json` file.
fn write_template(out: &Path, text: &str) -> anyhow::Result<()> {
    let plain = out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let body = if plain {
        let value = validate::parse(text).map_err(anyhow::Error::msg)?;
        format!("{}\n", serde_json::to_string_pretty(&value)?)
    } else {
        text.to_owned()
    };
    std::fs::write(out, body)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))
        .hint("choose a file in a folder that exists and that you may write to")?;
    eprintln!(
        "Wrote {} ({}).",
        out.display(),
        if plain {
            "plain JSON"
        } else {
            "JSON with comments"
        }
    );
    Ok(())
}
