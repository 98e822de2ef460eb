//! `custos case assign`, `unassign`, `assignees`, `export` and
//! `personal-data` (issue 18): who is assigned to a case (a confidential
//! case is shown only to them), a case's content exported with a recorded
//! reason, and the personal data a case holds with its conditions and
//! deletion date. The node decides and records
//! (`custos_node::app::assignments`); this command only parses, calls and
//! prints.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use custos_node::app::{AssignmentView, PersonalDataView};
use custos_protocol::text::escape;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Args, Debug)]
pub struct AssignArgs {
    /// The case's id.
    pub id: String,
    /// The person (user name) to assign or unassign.
    #[arg(long, value_name = "USER")]
    pub user: String,
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CaseIdArgs {
    /// The case's id.
    pub id: String,
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The case's id.
    pub id: String,
    /// Why the content leaves the node (required; recorded in the custody
    /// ledger with who and when before anything is printed).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
}

fn time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn print_assignment(a: &AssignmentView) {
    let state = match &a.unassigned_at {
        Some(at) => format!(
            "ended {} by {}",
            time(*at),
            escape(a.unassigned_by.as_deref().unwrap_or("?"))
        ),
        None => "in force".to_owned(),
    };
    println!(
        "{:<20} assigned {} by {}  {state}",
        escape(&a.person),
        time(a.assigned_at),
        escape(&a.assigned_by)
    );
}

pub fn assign(args: AssignArgs) -> anyhow::Result<ExitCode> {
    let view = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let v = node
            .assign_case(&crate::operator::operator()?, &args.id, &args.user)
            .await;
        node.close().await;
        anyhow::Ok(v?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        print_assignment(&view);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn unassign(args: AssignArgs) -> anyhow::Result<ExitCode> {
    let n = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let v = node
            .unassign_case(&crate::operator::operator()?, &args.id, &args.user)
            .await;
        node.close().await;
        anyhow::Ok(v?)
    })?;
    if args.json {
        println!("{}", serde_json::json!({ "unassigned": n }));
    } else {
        println!("{} is no longer assigned to case {}.", args.user, args.id);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn assignees(args: CaseIdArgs) -> anyhow::Result<ExitCode> {
    let view = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let v = node
            .case_assignees(&crate::operator::operator()?, &args.id)
            .await;
        node.close().await;
        anyhow::Ok(v?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    if view.confidential {
        println!(
            "confidential ({}): shown only to the people assigned",
            view.confidential_because.join(", ")
        );
    } else {
        println!("not confidential");
    }
    if view.assignments.is_empty() {
        println!("No one is assigned to this case.");
    }
    view.assignments.iter().for_each(print_assignment);
    Ok(ExitCode::SUCCESS)
}

pub fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let reason = args.reason.unwrap_or_default();
    let view = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let v = node
            .export_case(&crate::operator::operator()?, &args.id, &reason)
            .await;
        node.close().await;
        anyhow::Ok(v?)
    })?;
    // The export is JSON: the request as signed, the case and the record
    // of the decision.
    println!("{}", serde_json::to_string_pretty(&view)?);
    Ok(ExitCode::SUCCESS)
}

fn print_personal_data(v: &PersonalDataView) {
    println!("case           {}", v.case);
    println!(
        "deletion date  {}",
        v.deletion_date.as_deref().unwrap_or("none given")
    );
    if v.items.is_empty() {
        println!("No personal data received with conditions for this case.");
    }
    for i in &v.items {
        let confidential = if i.confidential { "  CONFIDENTIAL" } else { "" };
        println!("{} {} from {}{confidential}", i.source, i.id, i.from);
        // The providing State's words, as signed: shown escaped.
        println!("  categories   {}", escape(&i.categories.join("; ")));
        for c in &i.conditions {
            println!("  condition    {}", escape(c));
        }
        if let Some(d) = &i.delete_by {
            println!("  delete by    {d}");
        }
    }
}

pub fn personal_data(args: CaseIdArgs) -> anyhow::Result<ExitCode> {
    let view = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let v = node
            .personal_data(&crate::operator::operator()?, &args.id)
            .await;
        node.close().await;
        anyhow::Ok(v?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        print_personal_data(&view);
    }
    Ok(ExitCode::SUCCESS)
}
