//! `custos config`: the documented example configuration, and a check of a node's file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::config::{self, Config};

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print a documented example configuration (DIR/custos.toml).
    Example,
    /// Read a node's configuration, apply CUSTOS_* overrides, check it and print it (secrets masked).
    Check {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
    },
}

pub fn run(cmd: ConfigCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCommand::Example => print!("{}", config::example()),
        ConfigCommand::Check { data } => {
            let c = Config::load(&data)?;
            let registry = c.treaty_registry(&data)?;
            println!("{} is valid", data.join(config::FILE_NAME).display());
            println!("  node.state    = {}", c.node.state);
            println!("  node.name     = {}", c.node.name);
            println!("  database.url  = {}", config::mask_url(&c.database.url));
            println!("  http.listen   = {}", c.http.listen);
            let alerts = c.alerts.settings(&c.http.listen)?;
            println!(
                "  alerts        = mail {}, {} webhook(s), escalate after {}, warn {} before an emergency's acknowledgement target",
                if alerts.smtp.is_some() { "on" } else { "off" },
                alerts.webhooks.len(),
                alerts.escalate_after,
                alerts.ack_warning
            );
            if let (Some(file), Some(r)) = (&c.treaty.registry, registry) {
                println!(
                    "  treaty.registry = {} (complete to {})",
                    file.display(),
                    custos_model::treaty::date_text::format(r.as_of)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
