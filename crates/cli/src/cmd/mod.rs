//! One module per top-level command.

pub mod alerts;
pub mod audit;
pub mod backup;
pub mod case;
pub mod confidential;
pub mod config;
pub mod demo;
pub mod directory;
pub mod evidence;
pub mod init;
pub mod keys;
pub mod ledger;
pub mod node;
pub mod outbox;
pub mod package_files;
pub mod request;
pub mod retention;
pub mod rota;
pub mod serve;
pub mod stats;
pub mod token;
pub mod treaty;
pub mod user;

use anyhow::Context;

/// A term of the Convention's vocabulary (`kind-preservation`,
/// `action-refuse`, `state-refused`, `ground-R2`...) as people read it, in
/// English, from the same message catalogues the desk shows in six
/// languages: the vocabulary is translated once, for every face.
pub fn term(key: &str) -> String {
    custos_desk::i18n::t(custos_desk::i18n::Lang::En, key)
}

/// A runtime for the commands that talk to the store.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A calendar date given on the command line, `YYYY-MM-DD`.
pub fn date(text: &str) -> Result<time::Date, String> {
    time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| format!("{text:?} is not a date: give YYYY-MM-DD"))
}

/// A State code given on the command line, in any case (`fr`, `Fr`, `FR`):
/// upper-cased, then checked as the wire checks it.
pub fn state_code(text: &str) -> Result<custos_model::StateCode, String> {
    text.trim()
        .to_ascii_uppercase()
        .parse()
        .map_err(|e: custos_model::state::StateCodeError| e.to_string())
}
