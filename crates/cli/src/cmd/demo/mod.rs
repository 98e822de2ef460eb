//! `custos demo`: a guided walk through what a node does, on invented sample data.
//!
//! Everything happens in a temporary directory that is removed at the end
//! (unless `--keep DIR` names one to keep). The walk grows as the node does:
//! today it creates a node, drafts and checks requests, records one, checks a
//! refusal and reads a sample treaty registry.
//! Its network part, three nodes serving on loopback, is in `network.rs`;
//! the two cases carried through their decisions there (an MLA request
//! acknowledged, questioned, consulted on, partly executed and closed, and
//! one refused with grounds after a consultation), in `cases.rs`; and the
//! evidence package Germany sends France in the first, in `evidence.rs`.

mod cases;
mod evidence;
mod network;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use custos_model::clock::Clock;
use custos_model::refusal::{Ground, Refusal};
use custos_model::{RequestKind, template, validate};
use serde_json::{Value, json};

use super::{init, request, treaty};
use crate::clock::SystemClock;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Print a machine-readable summary instead of the narrated walk.
    #[arg(long)]
    pub json: bool,
    /// Keep the demo's node in this directory instead of a temporary one (must not hold a node).
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let tmp;
    let dir = match &args.keep {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::Builder::new()
                .prefix("custos-demo-")
                .tempdir()
                .context("cannot create a temporary directory")?;
            tmp.path().to_owned()
        }
    };
    let mut say = Narrator { quiet: args.json };
    let summary = walk(&dir, &mut say, &SystemClock)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", what_next(args.keep.as_deref()));
    }
    Ok(ExitCode::SUCCESS)
}

/// The demo's last words: where its files are (or that they are gone and
/// how to keep them), and what to try next.
fn what_next(kept: Option<&Path>) -> String {
    let mut out = String::new();
    match kept {
        Some(dir) => {
            let fr = dir.join("network").join("fr");
            out.push_str(&format!(
                "\nThe demo's files are kept in {}: the nodes' folders, drafts, packages and logs.\n\
                 Look inside with, for example:\n  \
                 custos request list --data {}\n  \
                 custos case list --data {}\n  \
                 custos ledger verify --data {}\n",
                dir.display(),
                fr.display(),
                fr.display(),
                fr.display()
            ));
        }
        None => out.push_str(
            "\nThe paths above were in a temporary folder, now removed. \
             Run `custos demo --keep DIR` to keep the nodes and files and look inside them.\n",
        ),
    }
    out.push_str(
        "\nWhat to try next:\n  \
         custos request template preservation --out draft.jsonc   a commented draft to fill in\n  \
         custos request validate draft.jsonc                      every problem at once\n  \
         README.md, \"Three nodes by hand\"                         the same network, command by command\n  \
         custos --help                                            every command; each has --help\n",
    );
    out
}

struct Narrator {
    quiet: bool,
}

impl Narrator {
    fn step(&mut self, n: usize, title: &str) {
        if !self.quiet {
            println!("\n== {n}. {title}");
        }
    }
    fn line(&mut self, text: impl AsRef<str>) {
        if !self.quiet {
            for l in text.as_ref().lines() {
                println!("   {l}");
            }
        }
    }
}

fn walk(dir: &Path, say: &mut Narrator, clock: &dyn Clock) -> anyhow::Result<Value> {
    if !say.quiet {
        println!(
            "Custos demo: one State's node, with invented sample data (nothing here is a real case)."
        );
    }

    say.step(1, "A node for France's 24/7 point of contact");
    let node_dir = dir.join("fr-node");
    let created = init::init(
        &init::InitArgs {
            data: node_dir.clone(),
            state: "FR".parse()?,
            name: "France (sample) - cybercrime 24/7 point of contact".into(),
            database: None,
            registry_key: None,
            admin_user: None,
            no_admin: true,
        },
        clock,
    )?;
    say.line(created.trim_end());

    say.step(2, "The request kinds the Convention names");
    say.line(request::list_kinds().trim_end());

    say.step(
        3,
        "A 24/7 officer drafts an expedited preservation request (ransomware case)",
    );
    let good = dir.join("preservation.json");
    std::fs::write(&good, template::render(RequestKind::Preservation))
        .context("cannot write the sample draft")?;
    let report = request::validate_file(&good);
    say.line(format!("$ custos request validate {}", good.display()));
    say.line(request::report_lines(&good, &report).trim_end());
    anyhow::ensure!(
        report.is_valid(),
        "the sample preservation draft should be valid"
    );

    say.step(
        4,
        "An incomplete draft is stopped before it leaves, with every problem at once",
    );
    let mut broken = validate::parse(&template::render(RequestKind::Preservation))
        .map_err(anyhow::Error::msg)?;
    if let Some(obj) = broken.as_object_mut() {
        obj.remove("facts");
        obj.remove("necessity");
        obj.insert("preservation_days".into(), json!(30));
        obj.insert("deadline".into(), json!({ "date": "2026-12-15" }));
    }
    if let Some(data) = broken.get_mut("data").and_then(Value::as_object_mut) {
        data.remove("custodian");
    }
    let bad = dir.join("preservation-incomplete.json");
    std::fs::write(&bad, serde_json::to_string_pretty(&broken)?)
        .context("cannot write the sample draft")?;
    let bad_report = request::validate_file(&bad);
    say.line(format!("$ custos request validate {}", bad.display()));
    say.line(request::report_lines(&bad, &bad_report).trim_end());
    anyhow::ensure!(
        !bad_report.is_valid(),
        "the incomplete draft should be refused"
    );

    say.step(5, "The valid draft is recorded in the node's database");
    let text = request::read_draft(&good).map_err(|r| {
        anyhow::anyhow!(
            "{}",
            r.issues
                .first()
                .map(|i| i.message.as_str())
                .unwrap_or_default()
        )
    })?;
    let body = validate::parse(&text).map_err(anyhow::Error::msg)?;
    let rt = super::runtime()?;
    let id = rt.block_on(request::save_draft(&node_dir, body))?;
    let listed = rt.block_on(async {
        let (_, node) = crate::cmd::node::open(&node_dir).await?;
        let counted = async {
            let n = node
                .requests(&crate::operator::operator()?, &Default::default())
                .await?
                .len();
            let events = node.request_detail(&id).await?.history.len();
            anyhow::Ok((n, events))
        }
        .await;
        node.close().await;
        counted
    })?;
    say.line(format!(
        "recorded request {id}: {} request(s) in the node, {} event(s) in its history",
        listed.0, listed.1
    ));

    say.step(
        6,
        "A refusal must cite a valid ground, give reasons and follow consultation",
    );
    let fiscal_only = Refusal {
        grounds: vec![Ground::FiscalMatters],
        reasons: "The offence concerns tax.".into(),
        consulted: true,
    };
    let fiscal_issues = fiscal_only.check();
    for i in &fiscal_issues {
        say.line(format!("refusal citing only 'fiscal' -> {i}"));
    }
    let proper = Refusal {
        grounds: vec![Ground::EssentialInterests],
        reasons: "Execution would disclose an ongoing national security operation.".into(),
        consulted: true,
    };
    say.line(format!(
        "refusal citing R2 with reasons after consultation -> {} problem(s)",
        proper.check().len()
    ));

    say.step(
        7,
        "Treaty status from a sample registry (invented dates, marked as a sample)",
    );
    let (treaty_text, applies) = treaty::demo_summary()?;
    say.line(treaty_text.trim_end());

    say.step(
        8,
        "Three States' nodes exchange requests, signed and encrypted, with signed receipts, and decide them as cases",
    );
    let quiet = say.quiet;
    let network = network::walk(
        dir,
        &mut |line: &str| {
            if !quiet {
                println!("   {line}");
            }
        },
        clock,
    )?;

    if !say.quiet {
        let secs = network["seconds"].as_f64().unwrap_or(0.0);
        println!("\nDone in {secs:.1} s. Every node process has been stopped.");
    }
    Ok(json!({
        "node": { "state": "FR", "dir": node_dir.display().to_string() },
        "kinds": RequestKind::ALL.len(),
        "valid_draft": { "kind": "preservation", "valid": report.is_valid(), "warnings": report.issues.len() },
        "incomplete_draft": { "valid": bad_report.is_valid(), "issues": bad_report.issues },
        "recorded_request": { "id": id, "requests_in_node": listed.0, "history_events": listed.1 },
        "refusal_checks": { "fiscal_only_problems": fiscal_issues.len(), "proper_problems": proper.check().len() },
        "treaty": applies,
        "network": network,
    }))
}
