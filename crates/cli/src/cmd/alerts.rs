//! `custos alerts`: the alerts sent to the people on duty; acknowledge one,
//! or send a test alert to check the channels.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use custos_node::app::AlertView;

#[derive(Subcommand, Debug)]
pub enum AlertsCommand {
    /// List alerts, newest first, with their deliveries.
    List {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// Only alerts not acknowledged yet.
        #[arg(long)]
        open: bool,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge an alert: it stops escalating, and the record names you.
    Ack {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// The alert's id, as the mail, the webhook or `custos alerts list` gives it.
        id: String,
    },
    /// Send a test alert through every configured channel to the people on duty now,
    /// and wait up to 30 seconds for its deliveries.
    Test {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
    },
}

fn print(alerts: &[AlertView]) {
    for a in alerts {
        let state = match (&a.acknowledged_by, a.level) {
            (Some(by), _) => format!("acknowledged by {by}"),
            (None, 0) => "open".to_owned(),
            (None, n) => format!("open, escalated to level {n}"),
        };
        println!(
            "{}  {:<18} {} {:<9} {}  [{}]\n    {}",
            a.id,
            a.kind,
            a.counterpart,
            a.urgency,
            a.raised_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            state,
            a.link
        );
        for d in &a.deliveries {
            println!(
                "    level {} {:<7} {:<28} {:<9} attempts {}{}",
                d.level,
                d.channel,
                d.target,
                d.state,
                d.attempts,
                d.last_error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            );
        }
    }
}

pub fn run(cmd: AlertsCommand) -> anyhow::Result<ExitCode> {
    let actor = crate::operator::operator()?;
    super::runtime()?.block_on(async {
        match cmd {
            AlertsCommand::List {
                data,
                open,
                limit,
                json,
            } => {
                let (_, node) = super::node::open(&data).await?;
                let alerts = node.alerts(&actor, open, limit).await;
                node.close().await;
                let alerts = alerts?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&alerts)?);
                } else if alerts.is_empty() {
                    println!("No alerts.");
                } else {
                    print(&alerts);
                }
            }
            AlertsCommand::Ack { data, id } => {
                let (_, node) = super::node::open(&data).await?;
                let acked = node.acknowledge_alert(&actor, &id).await;
                node.close().await;
                let acked = acked?;
                println!(
                    "Alert {} acknowledged by {}.",
                    acked.id,
                    acked.acknowledged_by.as_deref().unwrap_or("?")
                );
            }
            AlertsCommand::Test { data } => {
                let (_, node) = super::node::open(&data).await?;
                let outcome = async {
                    let alert = node.test_alert(&actor).await?;
                    if alert.deliveries.is_empty() {
                        anyhow::bail!(
                            "no channel to deliver to: configure [alerts.smtp] or [[alerts.webhooks]] in custos.toml, and put someone on duty with `custos rota add`"
                        );
                    }
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                    loop {
                        node.deliver_alerts_now().await?;
                        let now = node
                            .alerts(&actor, false, 50)
                            .await?
                            .into_iter()
                            .find(|a| a.id == alert.id)
                            .unwrap_or(alert.clone());
                        let pending = now.deliveries.iter().any(|d| d.state == "pending");
                        if !pending || std::time::Instant::now() > deadline {
                            print(std::slice::from_ref(&now));
                            let failed = now.deliveries.iter().any(|d| d.state != "delivered");
                            return anyhow::Ok(if failed {
                                ExitCode::FAILURE
                            } else {
                                ExitCode::SUCCESS
                            });
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                }
                .await;
                node.close().await;
                return outcome;
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
