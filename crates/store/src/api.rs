//! The parts of [`crate::Store`], one trait per domain; `Store` is all of
//! them together with the store's identity, backups and closing.

mod alerts;
mod cases;
mod federation;
mod ledger;
mod people;
mod requests;
mod safeguards;

pub use alerts::AlertStore;
pub use cases::CaseStore;
pub use federation::FederationStore;
pub use ledger::LedgerStore;
pub use people::PeopleStore;
pub use requests::RequestStore;
pub use safeguards::SafeguardStore;
