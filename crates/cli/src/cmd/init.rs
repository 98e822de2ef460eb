//! `custos init`: create a node's data directory.
//!
//! The directory holds the configuration (`custos.toml`), the embedded
//! database (`custos.db`, unless the configuration points at PostgreSQL) and a
//! `keys/` folder. The folder and everything in it are private to the node's
//! user (folders 0700, files 0600), also what was there before. An existing
//! node is never overwritten.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use custos_model::StateCode;
use custos_model::clock::Clock;
use custos_node::app::{StoreCreated, create_store};

use crate::clock::SystemClock;
use crate::config::{self, Config};

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The data directory to create (it may exist, but must not hold a node yet).
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// The State this node speaks for, as an ISO 3166-1 alpha-2 code (FR, DE, ...).
    #[arg(long, value_name = "CC", value_parser = super::state_code)]
    pub state: StateCode,
    /// A human name for the node, shown to peers.
    #[arg(long, value_name = "TEXT")]
    pub name: String,
    /// Keep the data in PostgreSQL instead of the embedded SQLite file (postgres://...).
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    /// The public key (ed25519:...) of the registry whose directory this node trusts.
    #[arg(long, value_name = "KEY")]
    pub registry_key: Option<String>,
    /// The user name of the node's first administrator, whose password, TOTP secret and
    /// recovery codes are printed once (default: the operator's name, CUSTOS_OPERATOR or the
    /// account's).
    #[arg(long, value_name = "NAME", conflicts_with = "no_admin")]
    pub admin_user: Option<String>,
    /// Make no administrator now (make one later with `custos user add NAME --admin`); the
    /// custody ledger then starts empty.
    #[arg(long)]
    pub no_admin: bool,
}

pub fn run(args: InitArgs) -> anyhow::Result<ExitCode> {
    let actor = crate::operator::operator()?;
    let summary = init(&args, &SystemClock)?;
    println!("{summary}");
    if !args.no_admin {
        first_administrator(&args, &actor)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Makes the node's first administrator and prints their secrets, once.
/// Without `--admin-user`, the operator's name is used when it is a usable
/// user name; otherwise the operator is told how to make one.
fn first_administrator(args: &InitArgs, actor: &custos_node::Actor) -> anyhow::Result<()> {
    let operator = actor.person().unwrap_or_default().to_lowercase();
    let name = match &args.admin_user {
        Some(name) => name.clone(),
        None if custos_node::app::users::check_user_name(&operator).is_ok() => operator,
        None => {
            println!(
                "No administrator was made: the operator's name is not a usable user name. \
                 Make one with: custos user add NAME --admin --data {}",
                args.data.display()
            );
            return Ok(());
        }
    };
    let mut roles = custos_node::app::Roles::NONE;
    roles.insert(custos_node::app::Role::Administrator);
    let added = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let added = node
            .add_user(
                actor,
                custos_node::app::NewUser {
                    name,
                    roles,
                    ..Default::default()
                },
            )
            .await;
        node.close().await;
        anyhow::Ok(added?)
    })?;
    println!("First administrator:");
    super::user::print_new_user(&added);
    Ok(())
}

/// Creates the node; returns a summary for the operator.
pub fn init(args: &InitArgs, clock: &dyn Clock) -> anyhow::Result<String> {
    let dir = &args.data;
    if let Some(key) = &args.registry_key {
        crate::key_forms::registry_key("--registry-key", key)?;
    }
    let mut config = Config::new(args.state, args.name.trim().to_owned());
    if let Some(url) = &args.database {
        config.database.url = url.clone();
    }
    config.directory.registry_key = args.registry_key.clone();
    config
        .check()
        .context("the node's settings are not valid")?;

    let config_path = dir.join(config::FILE_NAME);
    if config_path.exists() {
        bail!(
            "{} already holds a node ({} exists); choose another directory",
            dir.display(),
            config_path.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // The folder may have existed, made under a looser umask.
    crate::private::tighten(dir)?;
    // The key store creates `keys/` readable by the owner only.
    let keys = custos_node::Keystore::create(&dir.join("keys"), clock.now())?;

    let url = config.database_url(dir);
    let rt = super::runtime()?;
    let created = rt
        .block_on(create_store(
            &url,
            config.node.state,
            &config.node.name,
            clock.now(),
        ))
        .map_err(|e| super::node::open_error(e, &url))?;
    if let StoreCreated::Taken { state, name } = created {
        bail!(
            "the database at {} already belongs to node {state} ({name}); give a fresh database",
            config::mask_url(&url),
        );
    }

    // Written last: a directory with a configuration is a finished node.
    config.save(dir)?;
    crate::private::tighten(dir)?;
    Ok(format!(
        "Created node {} ({}) in {}\n  configuration  {}\n  database       {}\n  keys           {}\n  signing key    {} (id {})\n  encryption key {}\n",
        config.node.state,
        config.node.name,
        dir.display(),
        config_path.display(),
        config::mask_url(&url),
        dir.join("keys").display(),
        keys.signing.verifying_key().to_text(),
        keys.signing.key_id(),
        keys.encryption.recipient().to_text(),
    ))
}
