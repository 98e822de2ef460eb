//! `custos case`: a request as a case — its state, clocks, allowed actions
//! and timeline, the actions taken on it, and the list of cases.
//!
//! The node derives the case and decides what is allowed
//! (`custos_node::app::cases`); this command only parses, calls and prints.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use custos_model::{RequestKind, StateCode};
use custos_node::NodeError;
use custos_node::app::{CaseAction, CaseDetail, CaseFilter, CaseState, CaseSummary, Urgency};
use custos_protocol::text::escape;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Subcommand, Debug)]
pub enum CaseCommand {
    /// Show a case: its state, its clocks, what each side may do next, and its timeline.
    Show(ShowArgs),
    /// Take an action on a case and send it to the other State
    ///
    /// The node first checks that the case allows the action for this node's side
    /// (a refusal needs a prior consultation, a closed case takes nothing more, ...);
    /// if not, nothing is sent and the error names the state and the actions allowed.
    ///
    /// Actions: acknowledge, request-info, provide-info, consult, accept-conditions,
    /// decline-conditions, postpone, refuse, confirm-preservation, extend-preservation,
    /// decline-extension, execute-partly, execute-wholly, announce-follow-up, withdraw,
    /// ask-status, close, correspond, ask-consent, grant-consent, refuse-consent.
    ///
    /// The body (--file) is a decision draft for the action, as
    /// `custos request template ACTION` prints it and `custos request validate`
    /// checks it, or the bare JSON body of the action's message (comments allowed):
    ///   consult               {"conditions": ["..."], "note": "..."}
    ///   postpone              {"reasons": "...", "until": "YYYY-MM-DD"}
    ///   refuse                {"refusal": {"grounds": ["R2"], "reasons": "..."}}
    ///   confirm-preservation  {"took_effect": "YYYY-MM-DD", "days": 90}
    ///   extend-preservation   {"until": "YYYY-MM-DD"}
    ///   decline-extension     {"reasons": "..."}
    ///   execute-partly/-wholly {"evidence": ["sha256:..."], "use_conditions": ["..."]}
    ///   announce-follow-up    {"request": "thr-..."}
    ///   correspond            {"text": "..."}
    ///   ask-consent           {"evidence": ["sha256:..."], "onward_to": "NL", "reasons": "..."}
    ///                         (or "for_case": "thr-..." to use it in another case of ours)
    ///   grant-consent         {"ask": "sha256:<the ask's message id>", "conditions": ["..."]}
    ///   refuse-consent        {"ask": "sha256:...", "reasons": "..."}
    ///   the others            {} or {"note": "..."}
    /// Without --file the body is {}. A draft or body that does not validate is
    /// refused with one line per problem (code, field, article) and exit code 1.
    #[command(verbatim_doc_comment)]
    Act(ActArgs),
    /// List cases: open ones first, emergencies first, then the nearest clock, then the newest.
    List(ListArgs),
    /// Derive the case index again from every request's thread (a repair; the
    /// index is derived data and is kept up to date on its own).
    Reindex(ReindexArgs),
    /// Grant a person (an auditor) this case's content until a time; recorded in the ledger.
    Grant(super::audit::GrantArgs),
    /// Revoke a person's grants of a case; recorded in the ledger.
    Revoke(super::audit::RevokeArgs),
    /// List a case's grants, revoked or not.
    Grants(super::audit::GrantsArgs),
    // issue 18: confidentiality and personal-data conditions
    /// Assign a person to a case; a confidential case is shown only to the people
    /// assigned to it. Recorded in the ledger.
    Assign(super::confidential::AssignArgs),
    /// End a person's assignment to a case; recorded in the ledger.
    Unassign(super::confidential::AssignArgs),
    /// List a case's assignments and say whether (and why) it is confidential.
    Assignees(super::confidential::CaseIdArgs),
    /// Export a case's content as JSON with a recorded reason
    ///
    /// The decision (who, when, why) is written to the custody ledger before
    /// anything is printed; without --reason nothing is exported.
    Export(super::confidential::ExportArgs),
    /// List the personal data a case holds, the conditions the providing State
    /// attached to it and its deletion date.
    PersonalData(super::confidential::CaseIdArgs),
    // issue 18: retention
    /// Show or change a case's retention (days after its end, or a date), with a reason.
    Retention(super::retention::RetentionArgs),
    /// Place or lift (--lift) a legal hold on a case, with a reason.
    Hold(super::retention::HoldArgs),
    /// Delete now the content of the cases whose retention ended (--due).
    Purge(super::retention::PurgeArgs),
}

#[derive(Args, Debug)]
pub struct ReindexArgs {
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The case's id (the request's id, as `custos case list` prints it).
    pub id: String,
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ActArgs {
    /// The case's id.
    pub id: String,
    /// The action, such as acknowledge, consult or close.
    #[arg(value_parser = parse_action)]
    pub action: CaseAction,
    /// The action's decision draft or body (JSON; comments allowed). Default: {}.
    #[arg(long, value_name = "DRAFT.json")]
    pub file: Option<PathBuf>,
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Only queue the message; do not try to deliver it now.
    #[arg(long)]
    pub queue_only: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Only cases in this state (such as acknowledged, consulting, closed).
    #[arg(long, value_parser = parse_state)]
    pub state: Option<CaseState>,
    /// Only cases of this request kind.
    #[arg(long)]
    pub kind: Option<RequestKind>,
    /// Only cases with this State.
    #[arg(long, value_name = "CC", value_parser = super::state_code)]
    pub counterpart: Option<StateCode>,
    /// Only cases of this urgency (routine, urgent or emergency).
    #[arg(long, value_parser = parse_urgency)]
    pub urgency: Option<Urgency>,
    /// Only open cases (not refused, withdrawn or closed).
    #[arg(long)]
    pub open: bool,
    /// Only overdue cases.
    #[arg(long)]
    pub overdue: bool,
    /// At most this many cases.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Skip this many first (the next page).
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_action(s: &str) -> Result<CaseAction, String> {
    s.parse().map_err(|e| format!("{e}"))
}

fn parse_urgency(s: &str) -> Result<Urgency, String> {
    match s {
        "routine" => Ok(Urgency::Routine),
        "urgent" => Ok(Urgency::Urgent),
        "emergency" => Ok(Urgency::Emergency),
        _ => Err(format!(
            "{s:?} is not an urgency; one of: routine, urgent, emergency"
        )),
    }
}

fn parse_state(s: &str) -> Result<CaseState, String> {
    CaseState::ALL
        .into_iter()
        .find(|state| state.as_str() == s)
        .ok_or_else(|| {
            let names: Vec<&str> = CaseState::ALL.iter().map(|s| s.as_str()).collect();
            format!("{s:?} is not a case state; one of: {}", names.join(", "))
        })
}

pub fn run(cmd: CaseCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CaseCommand::Show(args) => show(args),
        CaseCommand::Act(args) => act(args),
        CaseCommand::List(args) => list(args),
        CaseCommand::Reindex(args) => reindex(args),
        CaseCommand::Grant(args) => super::audit::grant(args),
        CaseCommand::Revoke(args) => super::audit::revoke(args),
        CaseCommand::Grants(args) => super::audit::grants(args),
        CaseCommand::Assign(args) => super::confidential::assign(args),
        CaseCommand::Unassign(args) => super::confidential::unassign(args),
        CaseCommand::Assignees(args) => super::confidential::assignees(args),
        CaseCommand::Export(args) => super::confidential::export(args),
        CaseCommand::PersonalData(args) => super::confidential::personal_data(args),
        // issue 18: retention
        CaseCommand::Retention(args) => super::retention::retention(args),
        CaseCommand::Hold(args) => super::retention::hold(args),
        CaseCommand::Purge(args) => super::retention::purge(args),
    }
}

fn time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn names(actions: &[CaseAction]) -> String {
    if actions.is_empty() {
        return "nothing".to_owned();
    }
    actions
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let view = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let view = node.case(&args.id, &crate::operator::operator()?).await;
        node.close().await;
        anyhow::Ok(view?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        print_case(&view);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_case(v: &CaseDetail) {
    println!("case       {}", v.id);
    println!(
        "kind       {} ({}; {}, with {}; this node is the {} State)",
        v.kind.as_str(),
        super::term(&format!("kind-{}", v.kind.as_str())),
        v.direction.as_str(),
        v.counterpart,
        v.side
    );
    let overdue = if v.overdue { "  OVERDUE" } else { "" };
    println!(
        "state      {} ({}){overdue}",
        v.state,
        super::term(&format!("state-{}", v.state.as_str()))
    );
    if v.clocks.is_empty() {
        println!("clocks     none");
    }
    for c in &v.clocks {
        let due = c
            .due
            .map(|d| format!(", due {}", time(d)))
            .unwrap_or_default();
        println!(
            "clock      {} {} (from {}{due})",
            c.kind,
            c.status,
            time(c.started)
        );
    }
    println!("we may     {}", names(&v.allowed));
    println!("they may   {}", names(&v.counterpart_allowed));
    for c in &v.conditions {
        // Conditions are the requested State's words, as signed.
        println!("condition  {}", escape(c));
    }
    for e in &v.evidence {
        println!("evidence   {}", escape(e));
    }
    // What is provided serves this case only (issue 18).
    let limits = &v.use_limits;
    if let Some(p) = &limits.purpose {
        println!("purpose    {}", escape(p));
    }
    for c in &limits.conditions {
        println!("use limit  {}", escape(c));
    }
    for c in &limits.consents {
        println!(
            "consent    {} {} for {}: {}{}",
            c.use_for,
            escape(&c.target),
            if c.evidence.is_empty() {
                "the answers".to_owned()
            } else {
                c.evidence.join(", ")
            },
            c.answer,
            c.answered_by
                .as_deref()
                .map(|id| format!(" ({id})"))
                .unwrap_or_default()
        );
    }
    // issue 18: retention
    if let Some(r) = &v.retention {
        super::retention::print_retention_lines(r);
    }
    println!("timeline");
    for t in &v.timeline {
        println!(
            "  {}  {} {:<10}  {:<20} -> {:<20} {}  {}",
            time(t.at),
            t.state_code,
            t.side.as_str(),
            t.action.as_str(),
            t.state.as_str(),
            escape(t.actor.as_deref().unwrap_or("")),
            t.message_id
        );
        // The body is the acting State's words, as signed: shown escaped.
        if let Some(body) = t.body.as_ref().filter(|b| !is_empty_object(b)) {
            println!("      {}", escape(&body.to_string()));
        }
    }
    if !v.refused.is_empty() {
        println!("not accepted");
        for r in &v.refused {
            println!(
                "  {}  {} {:<10}  {:<20} in {:<20} {}  {}",
                time(r.at),
                r.state_code,
                r.side.as_str(),
                r.action.as_str(),
                r.state.as_str(),
                r.code,
                r.message_id
            );
        }
    }
}

fn is_empty_object(v: &Value) -> bool {
    v.as_object().is_some_and(|o| o.is_empty())
}

/// Reads an action's decision draft or body: JSON with comments allowed,
/// no larger than a draft may be, `{}` when no file is given.
fn read_body(file: Option<&Path>) -> anyhow::Result<Value> {
    let Some(file) = file else {
        return Ok(json!({}));
    };
    let text = super::request::read_draft(file).map_err(|report| {
        let problem = report.issues.first().map(|i| i.message.clone());
        anyhow::anyhow!(problem.unwrap_or_else(|| format!("cannot read {}", file.display())))
    })?;
    custos_model::validate::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}: not JSON: {e}", file.display()))
}

fn act(args: ActArgs) -> anyhow::Result<ExitCode> {
    let body = read_body(args.file.as_deref())?;
    let outcome = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let outcome = async {
            let who = crate::operator::operator()?;
            let sent = node.act(&args.id, args.action, body, &who).await?;
            if !args.queue_only {
                node.deliver_due(16).await?;
            }
            let item = node.outbox_entry(&who, &sent.message_id).await?;
            anyhow::Ok((sent, item))
        }
        .await;
        node.close().await;
        outcome
    });
    let (sent, item) = match outcome {
        Ok(done) => done,
        Err(e) => {
            // A decision that does not validate is reported as `custos
            // request validate` reports it, and exits 1 like it.
            if let Some(NodeError::InvalidDecision(report)) = e.downcast_ref::<NodeError>() {
                let file = args
                    .file
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("(no --file)"));
                if args.json {
                    let out = super::request::report_json(&file, report);
                    println!("{}", serde_json::to_string_pretty(&out)?);
                } else {
                    eprint!("{}", super::request::report_lines(&file, report));
                    eprintln!("error: the {} was not taken; nothing was sent", args.action);
                }
                return Ok(ExitCode::from(1));
            }
            return Err(e);
        }
    };
    let state = item.as_ref().map(|i| i.state.as_str()).unwrap_or("unknown");
    let error = item.as_ref().and_then(|i| i.last_error.clone());
    if args.json {
        let out = json!({
            "id": sent.thread,
            "action": args.action,
            "message_id": sent.message_id,
            "delivery": state,
            "last_error": error,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("case       {}", sent.thread);
        println!("action     {}", args.action);
        println!("message    {}", sent.message_id);
        match state {
            "delivered" => println!("delivery   delivered; the receiver's signed receipt verified"),
            "failed" => println!("delivery   FAILED: {}", escape(&error.unwrap_or_default())),
            _ => println!(
                "delivery   queued; `custos serve` keeps retrying{}",
                error
                    .map(|e| format!(" (last attempt: {})", escape(&e)))
                    .unwrap_or_default()
            ),
        }
    }
    Ok(if state == "failed" {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let filter = CaseFilter {
        state: args.state,
        kind: args.kind,
        counterpart: args.counterpart,
        urgency: args.urgency,
        open: args.open.then_some(true),
        overdue: args.overdue.then_some(true),
        limit: Some(args.limit),
        offset: Some(args.offset),
    };
    let cases: Vec<CaseSummary> = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let cases = node.cases(&crate::operator::operator()?, &filter).await;
        node.close().await;
        anyhow::Ok(cases?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&cases)?);
        return Ok(ExitCode::SUCCESS);
    }
    for c in &cases {
        let urgency = match c.urgency {
            Urgency::Emergency => "EMERGENCY",
            Urgency::Urgent => "urgent",
            Urgency::Routine => "routine",
        };
        println!(
            "{}  {:<20}  {:<20}  {:<8}  {}  {:<9}  {}{}{}",
            c.id,
            c.state.as_str(),
            c.kind.as_str(),
            c.direction.as_str(),
            c.counterpart,
            urgency,
            c.last_step_at.map(time).unwrap_or_default(),
            c.next_due
                .map(|t| format!("  next due {}", time(t)))
                .unwrap_or_default(),
            if c.overdue { "  OVERDUE" } else { "" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn reindex(args: ReindexArgs) -> anyhow::Result<ExitCode> {
    let rebuilt = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let rebuilt = node.rebuild_case_index().await;
        node.close().await;
        anyhow::Ok(rebuilt?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rebuilt)?);
    } else {
        println!(
            "case index: {} cases, {} derived",
            rebuilt.cases, rebuilt.derived
        );
    }
    Ok(ExitCode::SUCCESS)
}
