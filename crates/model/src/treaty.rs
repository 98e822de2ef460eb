//! Treaty status: who has signed and deposited, when the Convention enters
//! into force and for whom, and whether it is a legal basis between two
//! parties on a given day (Arts 64, 65 and 67).
//!
//! The rules, as applied here:
//! - The Convention enters into force on the 90th day after the deposit of
//!   the 40th instrument. A REIO's instrument is never counted toward the
//!   forty: Art. 65 says it is not counted in addition to its member States',
//!   and its members deposit their own.
//! - For a party, it enters into force on the 30th day after its own deposit
//!   or on the Convention's day, whichever is later.
//! - A denunciation takes effect one year after the notice is received; the
//!   Convention is in force for that party up to the day before.
//!
//! The figures live in [`figures`] with their articles. The reading of the
//! text and the choices made where it is uncertain are recorded in
//! `docs/treaty-registry.md`.

mod check;
pub mod date_text;
pub mod figures;
#[cfg(test)]
mod fixtures;
mod legal_basis;
mod registry;
mod status;

pub use check::{IssueLevel, RegistryIssue};
pub use legal_basis::{LegalBasisCheck, NotApplicable};
pub use registry::{Deposit, Designations, InstrumentKind, PartyEntry, Registry};
pub use status::{
    ConventionStatus, PartyStatus, TreatyStatus, convention_entry_into_force,
    counts_toward_entry_into_force, denunciation_effective, party_entry_into_force,
};
