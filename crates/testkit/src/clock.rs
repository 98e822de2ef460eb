//! A clock tests can stop, set and move; benchmarks let it run.

use std::sync::Mutex;
use std::time::Instant;

use custos_model::clock::Clock;
use time::{Duration, OffsetDateTime};

/// A node's clock in the kit.
///
/// [`TestClock::fixed`] stands still until told to move, so deadlines and
/// the 60-day clocks can be jumped over; [`TestClock::running`] starts at
/// an instant and then follows the monotonic clock, so two nodes share one
/// timeline that moves (what a benchmark needs) without reading the wall
/// clock. Both can be set and moved.
#[derive(Debug)]
pub struct TestClock {
    state: Mutex<Reading>,
}

#[derive(Debug, Clone, Copy)]
struct Reading {
    /// What the clock showed at `since` (or shows, when standing still).
    base: OffsetDateTime,
    /// When running: the moment `base` was shown.
    since: Option<Instant>,
}

impl TestClock {
    /// A clock standing still at `at`.
    pub fn fixed(at: OffsetDateTime) -> Self {
        TestClock {
            state: Mutex::new(Reading {
                base: at,
                since: None,
            }),
        }
    }

    /// A clock that shows `at` now and moves on in real time.
    pub fn running(at: OffsetDateTime) -> Self {
        TestClock {
            state: Mutex::new(Reading {
                base: at,
                since: Some(Instant::now()),
            }),
        }
    }

    /// Makes the clock show `at` (and, when running, move on from there).
    pub fn set(&self, at: OffsetDateTime) {
        let mut r = self.state.lock().unwrap_or_else(|p| p.into_inner());
        r.base = at;
        if r.since.is_some() {
            r.since = Some(Instant::now());
        }
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let now = self.now();
        self.set(now + by);
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        let r = *self.state.lock().unwrap_or_else(|p| p.into_inner());
        match r.since {
            None => r.base,
            Some(since) => r.base + since.elapsed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_fixed_clock_moves_only_when_told() {
        let at = datetime!(2026-11-01 12:00 UTC);
        let clock = TestClock::fixed(at);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(clock.now(), at);
        clock.advance(Duration::days(61));
        assert_eq!(clock.now(), at + Duration::days(61));
        clock.set(at);
        assert_eq!(clock.now(), at);
    }

    #[test]
    fn a_running_clock_moves_on_from_where_it_was_set() {
        let at = datetime!(2026-11-01 12:00 UTC);
        let clock = TestClock::running(at);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later = clock.now();
        assert!(later > at, "{later} is not after {at}");
        clock.set(at - Duration::days(1));
        let now = clock.now();
        assert!(now >= at - Duration::days(1) && now < at, "{now}");
    }
}
