//! The system clock: the one place in the binary that reads the time of day.
//!
//! For developers only: a debug build (`cfg(debug_assertions)`) reads the
//! file named by `CUSTOS_DEV_CLOCK_FILE`, when set, on every reading, so an
//! end-to-end test can move a real node process's time (61 days ahead, to
//! see a preservation end). The file holds either an instant in RFC 3339,
//! at which the clock then stands, or an offset added to the system time:
//! `+` and a number of seconds (`+5270400` is 61 days ahead). A file that is
//! missing or cannot be read leaves the system time. Release builds ignore
//! the variable altogether.

use custos_model::clock::Clock;
use time::OffsetDateTime;

/// The variable naming the development clock file (debug builds only).
#[cfg_attr(not(debug_assertions), allow(dead_code))]
pub const DEV_CLOCK_VAR: &str = "CUSTOS_DEV_CLOCK_FILE";

/// Reads the operating system's clock, in UTC.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // this is the module the ban points to
    fn now(&self) -> OffsetDateTime {
        let system = OffsetDateTime::now_utc();
        #[cfg(debug_assertions)]
        if let Some(path) = std::env::var_os(DEV_CLOCK_VAR)
            && let Ok(text) = std::fs::read_to_string(path)
            && let Some(moved) = moved(system, &text)
        {
            return moved;
        }
        system
    }
}

/// The instant a development clock file's `text` names, from `system`.
#[cfg_attr(not(debug_assertions), allow(dead_code))]
fn moved(system: OffsetDateTime, text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if let Some(seconds) = text.strip_prefix('+') {
        let seconds: i64 = seconds.parse().ok()?;
        return system.checked_add(time::Duration::seconds(seconds));
    }
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_development_clock_file_gives_an_instant_or_an_offset() {
        let now = datetime!(2026-12-06 11:00 UTC);
        assert_eq!(
            moved(now, "+5270400\n"),
            Some(datetime!(2027-02-05 11:00 UTC))
        );
        assert_eq!(
            moved(now, "2027-01-01T00:00:00Z"),
            Some(datetime!(2027-01-01 0:00 UTC))
        );
        assert_eq!(moved(now, "tomorrow"), None);
        assert_eq!(moved(now, "+x"), None);
    }
}
