//! The treaty registry as written in a file: signatures, deposits, REIO
//! membership, denunciations and designations, party by party.
//!
//! These types only carry data; [`Registry::check`](super) validates them and
//! the status functions read them. The file format is described in
//! `docs/treaty-registry.md`.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::Date;

use super::date_text;
use crate::state::StateCode;

/// The record of the Convention's status kept by a registry operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// True when the data is illustrative and not the real treaty status.
    /// Required, so that every file says which it is.
    pub sample: bool,
    /// Free text about the data; a sample must say in it that it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The day up to which the record is complete.
    #[serde(with = "date_text")]
    pub as_of: Date,
    /// One entry per State or REIO, in any order.
    #[serde(default, rename = "party", skip_serializing_if = "Vec::is_empty")]
    pub parties: Vec<PartyEntry>,
}

/// What the registry records for one State or REIO.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyEntry {
    pub code: StateCode,
    /// Day of signature, if the party signed.
    #[serde(
        default,
        with = "date_text::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub signature: Option<Date>,
    /// Its instrument of ratification, acceptance, approval or accession, if
    /// deposited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deposit: Option<Deposit>,
    /// For a REIO only: its member States.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<StateCode>,
    /// Day the Secretary-General received its notice of denunciation.
    #[serde(
        default,
        with = "date_text::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub denunciation_notice: Option<Date>,
    /// Authorities and contacts notified to the Secretary-General.
    #[serde(default, skip_serializing_if = "Designations::is_empty")]
    pub designations: Designations,
}

/// The deposit of an instrument with the Secretary-General.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deposit {
    #[serde(with = "date_text")]
    pub date: Date,
    pub instrument: InstrumentKind,
}

/// The kinds of instrument by which a State or REIO becomes a party (Art. 64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstrumentKind {
    Ratification,
    Acceptance,
    Approval,
    /// The instrument of a State or REIO that did not sign.
    Accession,
}

impl InstrumentKind {
    /// The name used in files and output.
    pub fn as_str(&self) -> &'static str {
        match self {
            InstrumentKind::Ratification => "ratification",
            InstrumentKind::Acceptance => "acceptance",
            InstrumentKind::Approval => "approval",
            InstrumentKind::Accession => "accession",
        }
    }
}

impl fmt::Display for InstrumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Designations notified to the Secretary-General (Arts 40 and 41).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Designations {
    /// The central authority for mutual legal assistance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub central_authority: Option<String>,
    /// The 24/7 point of contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_24_7: Option<String>,
    /// Languages in which requests are accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
}

impl Designations {
    /// True when nothing is designated.
    pub fn is_empty(&self) -> bool {
        self.central_authority.is_none() && self.contact_24_7.is_none() && self.languages.is_empty()
    }
}
