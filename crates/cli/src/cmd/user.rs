//! `custos user`: the people who may sign in to the node, their roles and
//! second factor. The operator at the command line acts under their own
//! name (`CUSTOS_OPERATOR`); every change is recorded in the ledger.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use custos_node::app::{NewUser, Role, RoleChange, Roles, SecondFactor, UserSecrets, UserView};
use time::format_description::well_known::Rfc3339;

use crate::operator::operator;

const ROLE_HELP: &str = "Roles, comma-separated: duty-officer, caseworker, executing-authority, \
                         data-protection-officer, auditor, administrator";

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user. Their password (when generated), TOTP secret and recovery codes are printed
    /// once; hand them over in person or through a secret store.
    Add {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// The user name: lower-case letters, digits, '.', '_' or '-' (such as ana.garcia).
        name: String,
        #[arg(long, value_name = "ROLES", help = ROLE_HELP, default_value = "")]
        roles: String,
        /// Also make the user an administrator (users, rota, keys, directory).
        #[arg(long)]
        admin: bool,
        /// Where alerts for this person go.
        #[arg(long, value_name = "ADDRESS")]
        email: Option<String>,
        /// How the person is shown (the user name when not given).
        #[arg(long, value_name = "TEXT")]
        display_name: Option<String>,
        /// Read the password (at least 12 characters) from this environment variable instead of
        /// generating one.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
        /// Print JSON (secrets included, once).
        #[arg(long)]
        json: bool,
    },
    /// List the users (never their secrets).
    List {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: they can no longer sign in, and their sessions and tokens stop working at
    /// once.
    Disable {
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        name: String,
    },
    /// Enable a disabled user again.
    Enable {
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        name: String,
    },
    /// Change a user's roles (in force at once for their sessions and tokens).
    Roles {
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        name: String,
        /// Set the roles to exactly these (comma-separated; empty for none).
        #[arg(long, value_name = "ROLES", conflicts_with_all = ["add", "remove"])]
        set: Option<String>,
        /// Add these roles.
        #[arg(long, value_name = "ROLES")]
        add: Option<String>,
        /// Remove these roles.
        #[arg(long, value_name = "ROLES")]
        remove: Option<String>,
    },
    /// Give a user a new TOTP secret and new recovery codes (printed once); the old ones stop
    /// working.
    ResetSecondFactor {
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the sessions opened by signing in (who, from where, last use, end); never secrets.
    Sessions {
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// Only this user's sessions (all users' when absent).
        name: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// End a session at once (its bearer stops working); the session id comes from `user sessions`.
    EndSession {
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// The session's id.
        id: String,
    },
}

fn roles(text: &str) -> anyhow::Result<Roles> {
    Ok(Roles::parse_names(text)?)
}

/// Prints a second factor for the person to take away.
pub fn print_second_factor(f: &SecondFactor) {
    println!("  TOTP secret    {}", f.totp_secret);
    println!("  TOTP URI       {}", f.totp_uri);
    println!("  recovery codes (each works once):");
    for c in &f.recovery_codes {
        println!("    {c}");
    }
}

/// Prints a new user's secrets, shown only now.
pub fn print_new_user(s: &UserSecrets) {
    println!(
        "User {} added with roles: {}",
        s.user.name,
        names_or_none(s.user.roles)
    );
    if let Some(p) = &s.password {
        println!("  password       {p}");
    }
    print_second_factor(&s.second_factor);
    eprintln!(
        "These secrets are shown only now: give them to {} in person or through a secret store.",
        s.user.name
    );
}

fn names_or_none(r: Roles) -> String {
    if r.is_empty() {
        "none".to_owned()
    } else {
        r.names()
    }
}

fn print_user(u: &UserView) {
    let state = match (u.enabled, u.locked_until) {
        (false, _) => "disabled".to_owned(),
        (true, Some(t)) => format!("locked until {}", t.format(&Rfc3339).unwrap_or_default()),
        (true, None) => "enabled".to_owned(),
    };
    println!(
        "{:<20}  {:<10}  {}  ({}; {} recovery codes left)",
        u.name,
        state,
        names_or_none(u.roles),
        u.display_name,
        u.recovery_codes_left
    );
}

pub fn run(cmd: UserCommand) -> anyhow::Result<ExitCode> {
    let actor = operator()?;
    super::runtime()?.block_on(async {
        match cmd {
            UserCommand::Add {
                data,
                name,
                roles: role_names,
                admin,
                email,
                display_name,
                password_env,
                json,
            } => {
                let mut held = roles(&role_names)?;
                if admin {
                    held.insert(Role::Administrator);
                }
                let password = match password_env {
                    Some(var) => match std::env::var(&var) {
                        Ok(p) => Some(p),
                        Err(_) => bail!("the environment variable {var} holds no password"),
                    },
                    None => None,
                };
                let (_, node) = super::node::open(&data).await?;
                let added = node
                    .add_user(
                        &actor,
                        NewUser {
                            name,
                            display_name,
                            email,
                            roles: held,
                            password,
                        },
                    )
                    .await;
                node.close().await;
                let added = added?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&added)?);
                } else {
                    print_new_user(&added);
                }
            }
            UserCommand::List { data, json } => {
                let (_, node) = super::node::open(&data).await?;
                let users = node.users(&actor).await;
                node.close().await;
                let users = users?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&users)?);
                } else {
                    for u in &users {
                        print_user(u);
                    }
                }
            }
            UserCommand::Disable { data, name } => {
                let (_, node) = super::node::open(&data).await?;
                let changed = node.set_user_enabled(&actor, &name, false).await;
                node.close().await;
                print_user(&changed?);
            }
            UserCommand::Enable { data, name } => {
                let (_, node) = super::node::open(&data).await?;
                let changed = node.set_user_enabled(&actor, &name, true).await;
                node.close().await;
                print_user(&changed?);
            }
            UserCommand::Roles {
                data,
                name,
                set,
                add,
                remove,
            } => {
                let change = match (set, add, remove) {
                    (Some(s), _, _) => RoleChange::Set(roles(&s)?),
                    (None, Some(a), None) => RoleChange::Add(roles(&a)?),
                    (None, None, Some(r)) => RoleChange::Remove(roles(&r)?),
                    (None, Some(a), Some(r)) => {
                        // Adding and removing at once: remove first, then add.
                        let (_, node) = super::node::open(&data).await?;
                        let removed = node
                            .change_roles(&actor, &name, RoleChange::Remove(roles(&r)?))
                            .await;
                        let result = match removed {
                            Ok(_) => {
                                node.change_roles(&actor, &name, RoleChange::Add(roles(&a)?))
                                    .await
                            }
                            Err(e) => Err(e),
                        };
                        node.close().await;
                        print_user(&result?);
                        return anyhow::Ok(ExitCode::SUCCESS);
                    }
                    (None, None, None) => {
                        bail!("say how: --set ROLES, --add ROLES or --remove ROLES")
                    }
                };
                let (_, node) = super::node::open(&data).await?;
                let changed = node.change_roles(&actor, &name, change).await;
                node.close().await;
                print_user(&changed?);
            }
            UserCommand::ResetSecondFactor { data, name, json } => {
                let (_, node) = super::node::open(&data).await?;
                let reset = node.reset_second_factor(&actor, &name).await;
                node.close().await;
                let reset = reset?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&reset)?);
                } else {
                    println!("New second factor for {name}:");
                    print_second_factor(&reset);
                    eprintln!("The old TOTP secret and recovery codes no longer work.");
                }
            }
            UserCommand::Sessions { data, name, json } => {
                let (_, node) = super::node::open(&data).await?;
                let who = name.as_deref().unwrap_or("*");
                let sessions = node.sessions(&actor, Some(who)).await;
                node.close().await;
                let sessions = sessions?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&sessions)?);
                } else if sessions.is_empty() {
                    println!("No sessions.");
                } else {
                    for s in &sessions {
                        let state = if s.revoked_at.is_some() {
                            "ended"
                        } else {
                            "open"
                        };
                        println!(
                            "{}  {:<6}  {}  from {}  last used {}  until {}",
                            s.id,
                            state,
                            s.user,
                            s.from,
                            rfc3339(s.last_seen_at),
                            rfc3339(s.expires_at)
                        );
                    }
                }
            }
            UserCommand::EndSession { data, id } => {
                let (_, node) = super::node::open(&data).await?;
                let ended = node.revoke_session(&actor, &id).await;
                node.close().await;
                let ended = ended?;
                println!("Session {} of {} ended.", ended.id, ended.user);
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}
