//! Checks and conversions applied to every value before it is written, the
//! same on both backends, so that what one backend accepts the other accepts
//! too and a value reads back exactly as [`crate::storage_precision`] says.

use time::{OffsetDateTime, UtcOffset};

use crate::StoreError;
use crate::records::storage_precision;

/// The years every backend holds: PostgreSQL's `timestamptz` stops at
/// 4713 BC and the SQLite column keeps microseconds in a 64-bit integer, so
/// the common ground is the four-digit years of RFC 3339.
const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// Returns `t` as the store keeps it: in UTC, to the microsecond, within
/// years 1 to 9999.
pub(crate) fn timestamp(
    field: &'static str,
    t: OffsetDateTime,
) -> Result<OffsetDateTime, StoreError> {
    t.checked_to_offset(UtcOffset::UTC)
        .filter(|utc| YEARS.contains(&utc.year()))
        .map(storage_precision)
        .ok_or_else(|| StoreError::InvalidValue {
            field,
            problem: format!("{t} is outside the years 1 to 9999 (UTC) that every backend holds"),
        })
}

/// Microseconds since the Unix epoch, for a value already passed through
/// [`timestamp`]. Years 1 to 9999 span about ±2.6e17 µs, far inside `i64`.
pub(crate) fn unix_micros(t: OffsetDateTime) -> i64 {
    t.unix_timestamp() * 1_000_000 + i64::from(t.microsecond())
}

/// Refuses text that PostgreSQL cannot hold (the NUL character), so both
/// backends accept the same strings.
pub(crate) fn text<'a>(field: &'static str, value: &'a str) -> Result<&'a str, StoreError> {
    match value.find('\0') {
        None => Ok(value),
        Some(at) => Err(StoreError::InvalidValue {
            field,
            problem: format!("it contains a NUL character at byte {at}"),
        }),
    }
}

/// Whether `value` could have been stored at all: a lookup by a key that
/// [`text`] refuses finds nothing, on either backend, without asking.
pub(crate) fn storable(value: &str) -> bool {
    !value.contains('\0')
}

/// The JSON document as text. The text is kept verbatim (PostgreSQL `json`,
/// SQLite `TEXT`), so key order survives the round trip.
pub(crate) fn json(field: &'static str, value: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::InvalidValue {
        field,
        problem: format!("it cannot be written as JSON: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_become_utc_microseconds() {
        let t = datetime!(2026-03-01 10:00:00.123_456_789 +02:00);
        let kept = timestamp("at", t).unwrap();
        assert_eq!(kept.offset(), UtcOffset::UTC);
        assert_eq!(kept, datetime!(2026-03-01 08:00:00.123_456 UTC));
        assert_eq!(unix_micros(kept), 1_772_352_000_123_456);
    }

    #[test]
    fn microseconds_before_the_epoch_round_towards_the_past() {
        let kept = timestamp("at", datetime!(1969-12-31 23:59:59.999_999_999 UTC)).unwrap();
        assert_eq!(unix_micros(kept), -1);
    }

    #[test]
    fn years_outside_the_common_range_are_refused() {
        for t in [
            datetime!(0000-12-31 23:59:59 UTC),
            datetime!(0001-01-01 00:30 +01:00),
            datetime!(9999-12-31 23:00 -02:00),
        ] {
            let err = timestamp("created_at", t).unwrap_err();
            assert!(
                matches!(
                    err,
                    StoreError::InvalidValue {
                        field: "created_at",
                        ..
                    }
                ),
                "{t}: {err}"
            );
        }
        assert!(timestamp("at", datetime!(0001-01-01 00:00 UTC)).is_ok());
        assert!(timestamp("at", datetime!(9999-12-31 23:59:59.999_999 UTC)).is_ok());
    }

    #[test]
    fn nul_characters_are_refused_with_their_position() {
        let err = text("actor", "ab\0c").unwrap_err();
        assert_eq!(
            err.to_string(),
            "actor cannot be stored: it contains a NUL character at byte 2"
        );
        assert_eq!(text("actor", "officer 7").unwrap(), "officer 7");
    }
}
