//! Small builders shared by the treaty modules' unit tests.

use time::Date;
use time::macros::date;

use crate::state::StateCode;
use crate::treaty::{Deposit, InstrumentKind, PartyEntry};

/// A party code from text that is known to be well formed.
pub(super) fn code(s: &str) -> StateCode {
    s.parse().expect("a well-formed code in a test")
}

/// A party that signed on the first day and ratified on `deposit`, if given.
pub(super) fn entry(code: StateCode, deposit: Option<Date>) -> PartyEntry {
    PartyEntry {
        code,
        signature: Some(date!(2025 - 10 - 25)),
        deposit: deposit.map(|date| Deposit {
            date,
            instrument: InstrumentKind::Ratification,
        }),
        members: vec![],
        denunciation_notice: None,
        designations: Default::default(),
    }
}
