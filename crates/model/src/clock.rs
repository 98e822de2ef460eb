//! Legal clocks as data, and the `Clock` through which the rest of Custos reads time.
//!
//! The numbers the Convention sets (the preservation minimum, the serious-crime
//! threshold) are constants here, each with the article that sets it. Code that
//! needs the current time takes a `&dyn Clock`, so tests can jump ahead by
//! days; the system clock itself is provided by the effectful crates.

use std::sync::Mutex;

use time::{Date, Duration, OffsetDateTime};

use crate::article::{self, ArticleRef};

/// A rule counted in days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayRule {
    pub days: u32,
    pub article: ArticleRef,
}

/// A rule stated in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub article: ArticleRef,
    pub sentence: &'static str,
}

/// Preserved data is kept for at least this many days (and while the
/// follow-up request for mutual assistance is pending).
pub const PRESERVATION_MINIMUM: DayRule = DayRule {
    days: 60,
    article: article::PRESERVATION,
};

/// A deadline the requesting State proposes must carry its reasons.
pub const DEADLINE_REASONS: Rule = Rule {
    article: article::MLA,
    sentence: "A proposed deadline must give its reasons (trial date, limitation period, data retention).",
};

/// "Serious crime" means conduct punishable by at least this many years' deprivation of liberty.
pub const SERIOUS_CRIME_MIN_PENALTY_YEARS: u32 = 4;

/// The day preservation may end at the earliest, for data preserved from `start`.
pub fn preservation_earliest_end(start: Date, days: u32) -> Date {
    let days = days.max(PRESERVATION_MINIMUM.days);
    start.saturating_add(Duration::days(i64::from(days)))
}

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant, in UTC.
    fn now(&self) -> OffsetDateTime;

    /// Today's date, in UTC.
    fn today(&self) -> Date {
        self.now().date()
    }
}

/// A clock that stands still until told to move; for tests and replays.
#[derive(Debug)]
pub struct FixedClock(Mutex<OffsetDateTime>);

impl FixedClock {
    pub fn new(at: OffsetDateTime) -> Self {
        FixedClock(Mutex::new(at))
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn preservation_never_ends_before_the_minimum() {
        assert_eq!(
            preservation_earliest_end(date!(2026 - 01 - 01), 10),
            date!(2026 - 03 - 02)
        );
        assert_eq!(
            preservation_earliest_end(date!(2026 - 01 - 01), 90),
            date!(2026 - 04 - 01)
        );
    }

    #[test]
    fn a_fixed_clock_jumps_when_told() {
        let c = FixedClock::new(datetime!(2026-01-01 0:00 UTC));
        c.advance(Duration::days(61));
        assert_eq!(c.today(), date!(2026 - 03 - 03));
    }
}
