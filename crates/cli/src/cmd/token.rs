//! `custos token`: bearer tokens for the client API. Each belongs to a
//! user, is scoped to some of their roles, expires and can be revoked.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use custos_node::app::{Roles, TokenRequest, TokenView};
use time::format_description::well_known::Rfc3339;

use crate::operator::operator;

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token for a user. It is printed once; only its hash is stored.
    Create {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// The user the token belongs to (custos user list).
        #[arg(long, value_name = "NAME")]
        user: String,
        /// What the token is for (shown in records as api:USER/NAME).
        #[arg(long, value_name = "TEXT")]
        name: Option<String>,
        /// The roles it may use, comma-separated, within the user's roles (all of them when not
        /// given).
        #[arg(long, value_name = "ROLES")]
        scope: Option<String>,
        /// How long it lasts: days (90d), hours (12h) or minutes (30m); people.token_lifetime
        /// (90 days) when not given.
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
    },
    /// List tokens (names, scopes and dates, never secrets): every token, or one user's.
    List {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// Only this user's tokens.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: it stops working at once.
    Revoke {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// The token's id (custos token list).
        id: String,
    },
}

fn print_token(t: &TokenView, now: time::OffsetDateTime) {
    let state = if t.revoked_at.is_some() {
        "revoked"
    } else if t.expires_at <= now {
        "expired"
    } else {
        "active"
    };
    println!(
        "{}  {:<8}  {:<16}  expires {}  {}  ({})",
        t.id,
        state,
        t.user,
        t.expires_at.format(&Rfc3339).unwrap_or_default(),
        t.name,
        if t.scopes.is_empty() {
            "no role".to_owned()
        } else {
            t.scopes.names()
        }
    );
}

pub fn run(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let actor = operator()?;
    super::runtime()?.block_on(async {
        match cmd {
            TokenCommand::Create {
                data,
                user,
                name,
                scope,
                expires_in,
            } => {
                let req = TokenRequest {
                    user,
                    name,
                    scopes: scope.as_deref().map(Roles::parse_names).transpose()?,
                    lifetime: expires_in
                        .as_deref()
                        .map(|t| crate::config::duration_text("--expires-in", t))
                        .transpose()?,
                };
                let (_, node) = super::node::open(&data).await?;
                let token = node.create_token(&actor, req).await;
                node.close().await;
                let token = token?;
                println!("{}", token.secret);
                eprintln!(
                    "Token {} for {} created (roles: {}; expires {}). It is shown only now: keep it in a secret store.",
                    token.token.id,
                    token.token.user,
                    token.token.scopes.names(),
                    token.token.expires_at.format(&Rfc3339).unwrap_or_default()
                );
            }
            TokenCommand::List { data, user, json } => {
                let (_, node) = super::node::open(&data).await?;
                let now = node.clock().now();
                let tokens = node.tokens(&actor, user.as_deref()).await;
                node.close().await;
                let tokens = tokens?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&tokens)?);
                    return anyhow::Ok(ExitCode::SUCCESS);
                }
                if tokens.is_empty() {
                    match &user {
                        Some(u) => println!("No tokens for {u}."),
                        None => println!("No tokens."),
                    }
                    eprintln!("Create one with `custos token create --user NAME`.");
                }
                for t in &tokens {
                    print_token(t, now);
                }
            }
            TokenCommand::Revoke { data, id } => {
                let (_, node) = super::node::open(&data).await?;
                let now = node.clock().now();
                let revoked = node.revoke_token(&actor, &id).await;
                node.close().await;
                print_token(&revoked?, now);
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
