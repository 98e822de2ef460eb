//! Identifiers on the wire: message ids (the content id of a message's
//! canonical bytes) and thread ids (text chosen by the State that submits a
//! request, and used as the request's id in both nodes' stores).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::TextFormError;

const MESSAGE_ID_PREFIX: &str = "sha256:";
const THREAD_ID_PREFIX: &str = "thr-";

/// `sha256:<64 lower-case hex>`: SHA-256 of the RFC 8785 bytes of a message.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageId(String);

impl MessageId {
    /// The id of a message whose canonical bytes are `payload`.
    pub fn of_payload(payload: &[u8]) -> Self {
        Self(custos_seal::content_id(payload))
    }

    /// Reads an id, checking its form.
    pub fn parse(text: &str) -> Result<Self, TextFormError> {
        let ok = text.strip_prefix(MESSAGE_ID_PREFIX).is_some_and(|hex| {
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(TextFormError::MessageId(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for MessageId {
    type Err = TextFormError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for MessageId {
    type Error = TextFormError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<MessageId> for String {
    fn from(id: MessageId) -> String {
        id.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", self.0)
    }
}

/// The thread id made from a UUID the caller chose: `thr-` and the UUID in
/// lower-case hyphenated form. Any version makes a valid id; a node makes
/// its own with [`thread_id_at`].
pub fn new_thread_id(uuid: Uuid) -> String {
    format!("{THREAD_ID_PREFIX}{}", uuid.hyphenated())
}

/// A new thread id, `thr-` and a version 7 UUID made at `now`: its first
/// 48 bits are the time in milliseconds and the rest random, so the ids a
/// node makes rise with time and each new case's rows in the indexes
/// keyed by thread (the case index, the messages by thread, the history,
/// the retention dates) go to the end of those indexes, a few shared pages
/// per commit, where a random id dirtied a page of each index for each
/// case. The time it shows is the one the request's first message carries
/// anyway.
pub fn thread_id_at(now: OffsetDateTime) -> String {
    let secs = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    let at = uuid::Timestamp::from_unix(uuid::NoContext, secs, now.nanosecond());
    new_thread_id(Uuid::new_v7(at))
}

/// Checks the form of a thread id: `thr-` followed by a UUID in lower-case
/// hyphenated form (any UUID version is read).
pub fn check_thread_id(text: &str) -> Result<(), TextFormError> {
    let ok = text.strip_prefix(THREAD_ID_PREFIX).is_some_and(|rest| {
        Uuid::try_parse(rest).is_ok_and(|u| u.hyphenated().to_string() == rest)
    });
    if ok {
        Ok(())
    } else {
        Err(TextFormError::ThreadId(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_ids_are_well_formed_and_rise_with_the_clock() {
        use time::macros::datetime;
        let times = [
            datetime!(2026-12-07 10:00:00.000 UTC),
            datetime!(2026-12-07 10:00:00.001 UTC),
            datetime!(2026-12-07 10:00:01 UTC),
            datetime!(2031-01-01 00:00:00 UTC),
        ];
        let ids: Vec<String> = times.iter().map(|&t| thread_id_at(t)).collect();
        for id in &ids {
            check_thread_id(id).unwrap();
            let uuid = Uuid::parse_str(&id[THREAD_ID_PREFIX.len()..]).unwrap();
            assert_eq!(uuid.get_version_num(), 7, "{id}");
        }
        assert!(ids.is_sorted(), "{ids:?}");
        // Two made in the same millisecond still differ.
        assert_ne!(thread_id_at(times[0]), thread_id_at(times[0]));
    }

    #[test]
    fn message_ids_are_content_ids() {
        let id = MessageId::of_payload(b"");
        assert_eq!(
            id.as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(MessageId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn malformed_message_ids_are_refused() {
        let upper = format!("sha256:{}", "A".repeat(64));
        let short = format!("sha256:{}", "a".repeat(63));
        let other = format!("sha512:{}", "a".repeat(64));
        for text in [upper.as_str(), short.as_str(), other.as_str(), ""] {
            assert!(MessageId::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn thread_ids_wrap_a_hyphenated_lower_case_uuid() {
        let uuid = Uuid::from_u128(0x0123_4567_89ab_4def_8123_4567_89ab_cdef);
        let id = new_thread_id(uuid);
        assert_eq!(id, "thr-01234567-89ab-4def-8123-456789abcdef");
        assert_eq!(check_thread_id(&id), Ok(()));
        for text in [
            "thr-01234567-89AB-4DEF-8123-456789ABCDEF",
            "thr-0123456789ab4def8123456789abcdef",
            "01234567-89ab-4def-8123-456789abcdef",
            "thr-",
        ] {
            assert!(check_thread_id(text).is_err(), "{text:?}");
        }
    }
}
