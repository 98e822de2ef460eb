//! The vocabulary of the UN Convention against Cybercrime as Custos uses it.
//!
//! This crate is pure: no I/O, no clock, no randomness. Article references are
//! kept as data in [`article`] and the catalogues beside it, so that a
//! correction to the reading of the treaty is a one-line change.

pub mod article;
pub mod basis;
pub mod clock;
pub mod contents;
pub mod decision;
pub mod kind;
pub mod refusal;
pub mod schema;
pub mod state;
pub mod template;
pub mod treaty;
pub mod validate;

pub use decision::Decision;
pub use kind::RequestKind;
pub use state::{PartyKind, StateCode};
pub use treaty::Registry;
