//! `custos token`: bearer tokens for the client API.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use time::format_description::well_known::Rfc3339;

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token for the client API. It is printed once; only its hash is stored.
    Create {
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Who or what the token is for (shown in request histories).
        #[arg(long)]
        name: String,
    },
    /// List the node's tokens (names and dates, never secrets).
    List {
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        match cmd {
            TokenCommand::Create { data, name } => {
                let (_, node) = super::node::open(&data).await?;
                let token = node.create_token(&name).await;
                node.close().await;
                println!("{}", token?.secret);
                eprintln!(
                    "Token for {name:?} created. It is shown only now: keep it in a secret store."
                );
            }
            TokenCommand::List { data, json } => {
                let (_, node) = super::node::open(&data).await?;
                let tokens = node.tokens().await;
                node.close().await;
                let tokens = tokens?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&tokens)?);
                    return anyhow::Ok(ExitCode::SUCCESS);
                }
                for t in tokens {
                    let state = if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{}  {:<8}  {}  {}",
                        t.id,
                        state,
                        t.created_at.format(&Rfc3339).unwrap_or_default(),
                        t.name
                    );
                }
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
