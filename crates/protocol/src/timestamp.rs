//! The one text form of a point in time in signed protocol documents:
//! `YYYY-MM-DDTHH:MM:SS.ffffffZ`, UTC, always six fraction digits.
//!
//! Times are text, not numbers, because microseconds since 1970 exceed 2^53
//! and would be rounded in canonical JSON. Structs hold `OffsetDateTime`
//! values and use the serde adapters here ([`micros`], [`option`]). Writing
//! moves the instant to UTC and drops anything below a microsecond; reading
//! accepts exactly one spelling of each instant (it re-renders the value and
//! compares it with the input), so a document read back re-encodes to the
//! bytes that were signed.

use serde::{Deserialize, Deserializer, Serializer};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::error::TextFormError;

const FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// The instant moved to UTC and cut to whole microseconds: the value a
/// document holds after it has been written and read back.
pub fn truncate(at: OffsetDateTime) -> OffsetDateTime {
    let utc = at.to_offset(UtcOffset::UTC);
    // Setting the microsecond it already has only drops the nanoseconds below
    // it; that cannot be out of range, and the fallback keeps `utc`.
    utc.replace_microsecond(utc.microsecond()).unwrap_or(utc)
}

/// The text form, such as `2026-11-28T10:00:00.123456Z`.
pub fn format(at: OffsetDateTime) -> String {
    let t = truncate(at);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Reads the one accepted text form.
pub fn parse(text: &str) -> Result<OffsetDateTime, TextFormError> {
    let bad = || TextFormError::Timestamp(text.to_owned());
    let parsed = PrimitiveDateTime::parse(text, FORMAT)
        .map_err(|_| bad())?
        .assume_utc();
    if format(parsed) != text {
        return Err(bad());
    }
    Ok(parsed)
}

/// Serde adapter for an `OffsetDateTime` field written in the text form.
pub mod micros {
    use super::*;

    pub fn serialize<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde adapter for an `Option<OffsetDateTime>` field: `null` or the text form.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(
        at: &Option<OffsetDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.serialize_str(&format(*at)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            Some(text) => parse(&text).map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn text_form_has_six_fraction_digits_and_z() {
        let t = datetime!(2026-11-28 10:00:00.123_456_789 +02:00);
        assert_eq!(format(t), "2026-11-28T08:00:00.123456Z");
        assert_eq!(parse(&format(t)), Ok(truncate(t)));
        assert_eq!(
            format(datetime!(2026-01-02 03:04:05 UTC)),
            "2026-01-02T03:04:05.000000Z"
        );
    }

    #[test]
    fn other_spellings_of_the_same_instant_are_refused() {
        for text in [
            "2026-11-28T10:00:00Z",
            "2026-11-28T10:00:00.123Z",
            "2026-11-28T10:00:00.123456+00:00",
            "2026-11-28t10:00:00.123456z",
            "2026-11-28 10:00:00.123456Z",
            "2026-11-28T10:00:00.1234567Z",
            " 2026-11-28T10:00:00.123456Z",
            "2026-02-30T10:00:00.000000Z",
            "",
        ] {
            assert!(parse(text).is_err(), "{text:?} was accepted");
        }
    }
}
