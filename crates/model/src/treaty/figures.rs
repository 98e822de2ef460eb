//! The numbers and dates fixed by the Convention's final provisions, each
//! with the article that fixes it.
//!
//! The rules in [`super`] read these constants and nothing else, so a
//! correction to the reading of the treaty is a change here only.

use time::Date;
use time::macros::date;

use crate::article::{self, ArticleRef};

/// A figure the Convention fixes, with its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Figure<T> {
    pub value: T,
    pub article: ArticleRef,
    /// What the figure is, in a phrase fit for a help text.
    pub meaning: &'static str,
}

/// Instruments that must be deposited before the Convention can enter into
/// force. Instruments of REIOs are not counted (see [`super`]).
pub const INSTRUMENTS_FOR_ENTRY_INTO_FORCE: Figure<usize> = Figure {
    value: 40,
    article: article::ENTRY_INTO_FORCE,
    meaning: "instruments of ratification, acceptance, approval or accession needed",
};

/// The Convention enters into force on this day after the deposit of the
/// fortieth instrument.
pub const DAYS_AFTER_LAST_NEEDED_INSTRUMENT: Figure<i64> = Figure {
    value: 90,
    article: article::ENTRY_INTO_FORCE,
    meaning: "days after the deposit of the last instrument needed",
};

/// For a party depositing later, the Convention enters into force on this
/// day after its own deposit, or on the Convention's date if that is later.
pub const DAYS_AFTER_OWN_DEPOSIT: Figure<i64> = Figure {
    value: 30,
    article: article::ENTRY_INTO_FORCE,
    meaning: "days after a later party's own deposit",
};

/// A denunciation takes effect this many years after the Secretary-General
/// receives the notice.
pub const DENUNCIATION_YEARS: Figure<i32> = Figure {
    value: 1,
    article: article::DENUNCIATION,
    meaning: "years from receipt of a denunciation notice to its effect",
};

/// First day the Convention was open for signature (Hanoi).
pub const SIGNATURE_OPENS: Figure<Date> = Figure {
    value: date!(2025 - 10 - 25),
    article: article::SIGNATURE,
    meaning: "opening of signature in Hanoi",
};

/// Last day the Convention is open for signature (at UN Headquarters).
pub const SIGNATURE_CLOSES: Figure<Date> = Figure {
    value: date!(2026 - 12 - 31),
    article: article::SIGNATURE,
    meaning: "close of signature at United Nations Headquarters",
};
