//! The system clock: the one place in the binary that reads the time of day.

use custos_model::clock::Clock;
use time::OffsetDateTime;

/// Reads the operating system's clock, in UTC.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // this is the module the ban points to
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
