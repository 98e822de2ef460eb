//! The `custos` command-line tool: the glue between the node's crates and its operators.
//!
//! `main` parses the command line, runs one command and turns its outcome
//! into an exit status: 0 for success, 1 for a failure or a negative answer
//! (a draft that does not validate), 2 for a command line that does not parse
//! (clap's usage errors). A failure prints its chain of causes and a `hint:`
//! line naming the next step on standard error.

mod clock;
mod cmd;
mod config;
mod config_alerts;
mod config_retention;
mod hint;
mod key_forms;
mod logging;
mod operator;
mod private;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// A node handles many small, short-lived allocations per message on a few
/// busy threads; mimalloc serves them with far less CPU than the system's
/// allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Custos: a node of the cooperation network of the UN Convention against Cybercrime.
///
/// Each State runs its own node. Nodes exchange requests (preservation,
/// disclosure, mutual legal assistance, emergency help) and electronic evidence
/// directly, with every message signed and every step on record.
#[derive(Parser, Debug)]
#[command(
    name = "custos",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    /// The form of a serving node's log on standard error: readable lines or one JSON object per line (filter with CUSTOS_LOG, e.g. `info` or `custos_node=debug`).
    #[arg(long, global = true, value_enum, env = "CUSTOS_LOG_FORMAT", default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a node's data directory: configuration, database, room for keys.
    Init(cmd::init::InitArgs),
    /// Draft, check and record requests.
    #[command(subcommand)]
    Request(cmd::request::RequestCommand),
    /// Cases: a request's state, clocks, allowed actions and timeline; act on it.
    #[command(subcommand)]
    Case(cmd::case::CaseCommand),
    /// Treaty status: signatures, deposits, entry into force, legal-basis checks.
    #[command(subcommand)]
    Treaty(cmd::treaty::TreatyCommand),
    /// The node's signing and encryption keys.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCommand),
    /// The signed network directory: entries, signing, verification, import.
    #[command(subcommand)]
    Directory(cmd::directory::DirectoryCommand),
    /// For the registry operator: the registry's signing key.
    #[command(subcommand)]
    Registry(cmd::directory::RegistryCommand),
    /// Run the node: federation API, client API and delivery of queued messages.
    Serve(cmd::serve::ServeArgs),
    /// Messages waiting for delivery, delivered or failed.
    #[command(subcommand)]
    Outbox(cmd::outbox::OutboxCommand),
    /// Messages from peers that the node refused, with the reason.
    Refusals {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: std::path::PathBuf,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Evidence packages: seal, verify, open, send.
    #[command(subcommand)]
    Evidence(cmd::evidence::EvidenceCommand),
    /// The custody ledger: verify it, print its checkpoint, prove entries, check proofs offline.
    #[command(subcommand)]
    Ledger(cmd::ledger::LedgerCommand),
    /// Bearer tokens for the client API: each belongs to a user, is scoped, expires, can be revoked.
    #[command(subcommand)]
    Token(cmd::token::TokenCommand),
    /// The people who may sign in: add, list, disable, enable, roles, reset a second factor.
    #[command(subcommand)]
    User(cmd::user::UserCommand),
    /// The on-call rota: who holds which role when, in their time zone, with a deputy.
    #[command(subcommand)]
    Rota(cmd::rota::RotaCommand),
    /// Alerts sent to the people on duty: list, acknowledge, test the channels.
    #[command(subcommand)]
    Alerts(cmd::alerts::AlertsCommand),
    /// The node's configuration file.
    #[command(subcommand)]
    Config(cmd::config::ConfigCommand),
    /// The record of who saw what: every read, decision and refusal, by person, case and period.
    Audit(cmd::audit::AuditArgs),
    /// Walk through what a node does, with invented sample data, in a temporary directory.
    Demo(cmd::demo::DemoArgs),
    /// Oversight statistics of a period without case data: table, JSON, CSV or signed; verify a signed report.
    Stats(cmd::stats::StatsArgs),
    /// Back up a node while it serves: database, files and, when asked, its keys encrypted.
    Backup(cmd::backup::BackupArgs),
    /// Restore a backup into a new data directory, check every file and run the deep check.
    Restore(cmd::backup::RestoreArgs),
    /// Write the manual pages and shell completions for a package (used by packaging/).
    #[command(hide = true)]
    PackageFiles(cmd::package_files::PackageFilesArgs),
}

fn main() -> ExitCode {
    // Before anything is created: files 0600, folders 0700.
    private::restrict_umask();
    quiet_on_closed_pipe();
    let cli = parse();
    let outcome = match cli.command {
        Command::Init(args) => cmd::init::run(args),
        Command::Request(c) => cmd::request::run(c),
        Command::Case(c) => cmd::case::run(c),
        Command::Treaty(c) => cmd::treaty::run(c),
        Command::Config(c) => cmd::config::run(c),
        Command::Keys(c) => cmd::keys::run(c),
        Command::Directory(c) => cmd::directory::run(c),
        Command::Registry(c) => cmd::directory::run_registry(c),
        Command::Serve(args) => cmd::serve::run(args, cli.log_format),
        Command::Outbox(c) => cmd::outbox::run(c),
        Command::Refusals { data, limit, json } => cmd::outbox::refusals(data, limit, json),
        Command::Token(c) => cmd::token::run(c),
        Command::User(c) => cmd::user::run(c),
        Command::Rota(c) => cmd::rota::run(c),
        Command::Alerts(c) => cmd::alerts::run(c),
        Command::Ledger(c) => cmd::ledger::run(c),
        Command::Evidence(c) => cmd::evidence::run(c),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Stats(args) => cmd::stats::run(args),
        Command::Backup(args) => cmd::backup::backup(args),
        Command::Restore(args) => cmd::backup::restore(args),
        Command::PackageFiles(args) => cmd::package_files::run(args, command()),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            // Errors may quote a peer's message or a package's names.
            let escape = |t: String| custos_protocol::text::escape(&t).into_owned();
            eprintln!("error: {}", escape(e.to_string()));
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {}", escape(cause.to_string()));
            }
            eprintln!("hint: {}", hint::for_error(&e));
            ExitCode::from(1)
        }
    }
}

/// The command line, with `--version` naming what this build writes and
/// speaks beside its own version: the database schema, the protocol and the
/// evidence and proof formats.
fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The command line's definition, as parsed and as documented.
fn command() -> clap::Command {
    Cli::command().long_version(version_text(&custos_node::app::versions()))
}

/// The long version text: the program's version on the first line, then
/// one line per format.
fn version_text(v: &custos_node::app::Versions) -> String {
    let read: Vec<String> = v
        .evidence_manifests_read
        .iter()
        .map(u32::to_string)
        .collect();
    format!(
        "{}\ndatabase schema {}\nprotocol {} (messages, receipts, directory)\nevidence manifest {} (reads {})\nproof bundle {}",
        v.binary,
        v.database_schema,
        v.protocol,
        v.evidence_manifest,
        read.join(", "),
        v.proof_bundle
    )
}

/// `custos ... | head` closes our standard output early; that is not an error worth a panic report.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or("");
        if text.contains("failed printing to stdout") {
            std::process::exit(141);
        }
        default(info);
    }));
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
