//! `custos rota`: the on-call rota, who holds which role when, in their own
//! time zone, with a deputy.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use custos_node::app::{Role, ShiftInput, ShiftView};

#[derive(Subcommand, Debug)]
pub enum RotaCommand {
    /// Add a shift: a person holds a role from one local time to another, with a deputy.
    ///
    /// Times are a local date and time followed by the person's IANA time zone, for
    /// example "2026-12-07T08:00 Europe/Paris" (or "2026-12-07T08:00[Europe/Paris]");
    /// the end may leave the zone out (the start's is used). Shifts may overlap: everyone on duty is alerted.
    Add {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// The role held: duty-officer, caseworker, executing-authority,
        /// data-protection-officer, auditor or administrator.
        #[arg(long, default_value = "duty-officer")]
        role: Role,
        /// The person on duty: a user of the node (`custos user add`).
        #[arg(long)]
        person: String,
        /// Where the person's alerts go (default: the e-mail address of their user profile).
        #[arg(long, value_name = "ADDRESS")]
        email: Option<String>,
        /// The deputy, alerted when the person does not acknowledge in time: a user of the node.
        #[arg(long)]
        deputy: String,
        /// Where the deputy's alerts go (default: the e-mail address of their user profile).
        #[arg(long, value_name = "ADDRESS")]
        deputy_email: Option<String>,
        /// Start: "2026-12-07T08:00 Europe/Paris".
        #[arg(long)]
        from: String,
        /// End: "2026-12-07T20:00 Europe/Paris" (or "2026-12-07T20:00").
        #[arg(long)]
        until: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the shifts to come and running (all of them with --all).
    List {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// Past and removed shifts too.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a shift (it stays in the record, marked removed).
    Remove {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// The shift's id, as `custos rota list` shows it.
        id: String,
    },
    /// Who is on duty for a role now.
    Now {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// The role.
        #[arg(long, default_value = "duty-officer")]
        role: Role,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn print(shifts: &[ShiftView]) {
    for s in shifts {
        println!(
            "{}  {:<14} {} <{}> (deputy {} <{}>)\n    {} -> {}{}{}",
            s.id,
            s.role,
            s.person,
            s.email,
            s.deputy,
            s.deputy_email,
            s.starts_local,
            s.ends_local,
            if s.on_duty { "  [on duty]" } else { "" },
            if s.removed { "  [removed]" } else { "" },
        );
    }
}

pub fn run(cmd: RotaCommand) -> anyhow::Result<ExitCode> {
    let actor = crate::operator::operator()?;
    super::runtime()?.block_on(async {
        match cmd {
            RotaCommand::Add {
                data,
                role,
                person,
                email,
                deputy,
                deputy_email,
                from,
                until,
                json,
            } => {
                let (_, node) = super::node::open(&data).await?;
                let input = ShiftInput {
                    role,
                    person,
                    email,
                    deputy,
                    deputy_email,
                    starts: from,
                    ends: until,
                };
                let added = node.add_shift(&actor, &input).await;
                node.close().await;
                let added = added?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&added)?);
                } else {
                    print(std::slice::from_ref(&added));
                }
            }
            RotaCommand::List { data, all, json } => {
                let (_, node) = super::node::open(&data).await?;
                let shifts = node.rota(&actor, all).await;
                node.close().await;
                let shifts = shifts?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&shifts)?);
                } else if shifts.is_empty() {
                    println!("The rota is empty: add shifts with `custos rota add`.");
                } else {
                    print(&shifts);
                }
            }
            RotaCommand::Remove { data, id } => {
                let (_, node) = super::node::open(&data).await?;
                let removed = node.remove_shift(&actor, &id).await;
                node.close().await;
                removed?;
                println!("Removed shift {id}.");
            }
            RotaCommand::Now { data, role, json } => {
                let (_, node) = super::node::open(&data).await?;
                let on = node.on_duty(&actor, role, None).await;
                node.close().await;
                let on = on?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&on)?);
                } else if on.is_empty() {
                    println!("Nobody is on duty as {role} now: alerts reach only the webhooks.");
                } else {
                    print(&on);
                }
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
