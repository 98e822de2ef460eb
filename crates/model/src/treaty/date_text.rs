//! Calendar dates written as ISO 8601 text (`2027-01-31`), in registry files
//! and in JSON output.
//!
//! Use the module with `#[serde(with = "date_text")]` (or `date_text::option`
//! for an optional date). Reading accepts a quoted string and also a TOML
//! native date (`as_of = 2027-01-31`), which the TOML parser hands to serde as
//! a one-entry table under a reserved key; a date with a time of day is
//! refused with a message saying so.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{Date, Month};

/// Why a text is not a calendar date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateTextError {
    #[error("{0:?} is not a date written YYYY-MM-DD (such as 2027-01-31)")]
    Shape(String),
    #[error("{0:?} is not a day of the calendar")]
    NoSuchDay(String),
}

/// Reads `YYYY-MM-DD`: four-digit year, two-digit month and day, nothing else.
pub fn parse(text: &str) -> Result<Date, DateTextError> {
    let shape = || DateTextError::Shape(text.to_owned());
    let b = text.as_bytes();
    let digits_at = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(shape());
    }
    let (Some(year), Some(month), Some(day)) = (digits_at(0..4), digits_at(5..7), digits_at(8..10))
    else {
        return Err(shape());
    };
    let no_such_day = || DateTextError::NoSuchDay(text.to_owned());
    // Four digits and two digits always fit the narrower integer types.
    let year = i32::try_from(year).map_err(|_| shape())?;
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok());
    let day = u8::try_from(day).map_err(|_| shape())?;
    let month = month.ok_or_else(no_such_day)?;
    Date::from_calendar_date(year, month, day).map_err(|_| no_such_day())
}

/// Writes a date as `YYYY-MM-DD`.
pub fn format(date: Date) -> String {
    if (0..=9999).contains(&date.year()) {
        format!(
            "{:04}-{:02}-{:02}",
            date.year(),
            u8::from(date.month()),
            date.day()
        )
    } else {
        date.to_string()
    }
}

/// Serialises a date as `YYYY-MM-DD` text.
pub fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*date))
}

/// Reads a date from `YYYY-MM-DD` text or a TOML native date.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
    deserializer.deserialize_any(DateVisitor)
}

/// The same for `Option<Date>`; pair it with `#[serde(default)]`.
pub mod option {
    use super::*;

    /// Serialises a present date as text and an absent one as none.
    pub fn serialize<S: Serializer>(date: &Option<Date>, serializer: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(date) => serializer.serialize_some(&IsoDate(*date)),
            None => serializer.serialize_none(),
        }
    }

    /// Reads an optional date.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Date>, D::Error> {
        Ok(Option::<IsoDate>::deserialize(deserializer)?.map(|d| d.0))
    }
}

/// A date that (de)serialises through this module.
struct IsoDate(Date);

impl Serialize for IsoDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for IsoDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize(deserializer).map(IsoDate)
    }
}

/// The key under which the `toml` crate passes a native date or time as text.
const TOML_DATETIME_KEY: &str = "$__toml_private_datetime";

struct DateVisitor;

impl<'de> Visitor<'de> for DateVisitor {
    type Value = Date;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a date written YYYY-MM-DD")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Date, E> {
        parse(text).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Date, A::Error> {
        let key: Option<String> = map.next_key()?;
        if key.as_deref() != Some(TOML_DATETIME_KEY) {
            return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
        }
        let text: String = map.next_value()?;
        if text.len() > 10 {
            return Err(de::Error::custom(format!(
                "{text} has a time of day or an offset; write the date alone, YYYY-MM-DD"
            )));
        }
        parse(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn reads_and_writes_iso_dates() {
        assert_eq!(parse("2027-01-31"), Ok(date!(2027 - 01 - 31)));
        assert_eq!(parse("2028-02-29"), Ok(date!(2028 - 02 - 29)));
        assert_eq!(format(date!(2027 - 01 - 31)), "2027-01-31");
        assert_eq!(format(date!(0900 - 03 - 04)), "0900-03-04");
    }

    #[test]
    fn refuses_other_shapes_and_impossible_days() {
        for bad in [
            "2027-1-31",
            "27-01-31",
            "2027/01/31",
            "2027-01-31T00:00",
            "",
            "２０２７-01-31",
        ] {
            assert!(matches!(parse(bad), Err(DateTextError::Shape(_))), "{bad}");
        }
        for bad in [
            "2027-02-29",
            "2027-13-01",
            "2027-00-10",
            "2027-04-31",
            "2027-01-00",
        ] {
            assert!(
                matches!(parse(bad), Err(DateTextError::NoSuchDay(_))),
                "{bad}"
            );
        }
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Holder {
        #[serde(with = "super")]
        at: Date,
        #[serde(
            default,
            with = "super::option",
            skip_serializing_if = "Option::is_none"
        )]
        maybe: Option<Date>,
    }

    #[test]
    fn json_round_trip() {
        let h = Holder {
            at: date!(2027 - 05 - 06),
            maybe: Some(date!(2028 - 01 - 02)),
        };
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, r#"{"at":"2027-05-06","maybe":"2028-01-02"}"#);
        assert_eq!(serde_json::from_str::<Holder>(&json).unwrap(), h);
        let none: Holder = serde_json::from_str(r#"{"at":"2027-05-06"}"#).unwrap();
        assert_eq!(none.maybe, None);
    }

    #[test]
    fn json_errors_name_the_problem() {
        let err = serde_json::from_str::<Holder>(r#"{"at":"2027-02-30"}"#).unwrap_err();
        assert!(
            err.to_string().contains("not a day of the calendar"),
            "{err}"
        );
        let err = serde_json::from_str::<Holder>(r#"{"at":{"x":"2027-02-03"}}"#).unwrap_err();
        assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");
        let err = serde_json::from_str::<Holder>(r#"{"at":20270203}"#).unwrap_err();
        assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");
    }
}
