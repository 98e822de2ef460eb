//! `custos outbox` and `custos refusals`: what waits to be delivered, and what peers sent that was refused.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use custos_node::app::OutboxState;
use custos_protocol::text::escape;
use time::format_description::well_known::Rfc3339;

#[derive(Subcommand, Debug)]
pub enum OutboxCommand {
    /// List queued, delivered and failed messages, newest first.
    List {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// Only messages with this delivery status: pending, delivered or failed.
        #[arg(long, value_name = "STATUS", alias = "state")]
        status: Option<OutboxState>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make one delivery attempt for every message that is due (what `custos serve` does continuously).
    Deliver {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
    },
}

pub fn run(cmd: OutboxCommand) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        match cmd {
            OutboxCommand::List {
                data,
                status,
                limit,
                json,
            } => {
                let (_, node) = super::node::open(&data).await?;
                let items = node
                    .outbox(&crate::operator::operator()?, status, limit)
                    .await;
                node.close().await;
                let items = items?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&items)?);
                    return anyhow::Ok(ExitCode::SUCCESS);
                }
                if items.is_empty() {
                    println!("The outbox is empty: no message queued, delivered or failed.");
                }
                let t = |d: time::OffsetDateTime| d.format(&Rfc3339).unwrap_or_default();
                for i in items {
                    // A delivered message has no next attempt: it shows when
                    // it was delivered; a failed one, that none will come.
                    let when = match (i.state, i.delivered_at) {
                        (OutboxState::Delivered, Some(at)) => format!("delivered {}", t(at)),
                        (OutboxState::Delivered, None) => "delivered -".to_owned(),
                        (OutboxState::Failed, _) => "next none".to_owned(),
                        _ => format!("next {}", t(i.next_attempt_at)),
                    };
                    println!(
                        "{}  {:<9}  to {}  attempts {:<3}  {}  {}",
                        i.message_id,
                        i.state.as_str(),
                        i.recipient,
                        i.attempts,
                        when,
                        // The last error may quote the peer's answer.
                        escape(&i.last_error.unwrap_or_default())
                    );
                }
            }
            OutboxCommand::Deliver { data } => {
                let (_, node) = super::node::open(&data).await?;
                let n = node.deliver_due(256).await?;
                println!("{n} message(s) tried");
                node.close().await;
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Prints the messages the node refused, newest first.
/// With `json`, prints the node's views as JSON (what a peer sent stays
/// escaped by the JSON encoding).
pub fn refusals(data: PathBuf, limit: u32, json: bool) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&data).await?;
        let refusals = node.refusals(&crate::operator::operator()?, limit).await;
        node.close().await;
        let refusals = refusals?;
        if json {
            println!("{}", serde_json::to_string_pretty(&refusals)?);
            return anyhow::Ok(ExitCode::SUCCESS);
        }
        if refusals.is_empty() {
            println!("No refusals: the node has refused no message from a peer.");
        }
        for r in refusals {
            println!(
                "{}  {:<22}  from {}  {} bytes  {}",
                r.at.format(&Rfc3339).unwrap_or_default(),
                r.code,
                // What a peer sent: shown escaped.
                escape(r.claimed_sender.as_deref().unwrap_or(&r.peer)),
                r.body_len,
                escape(&r.detail)
            );
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
