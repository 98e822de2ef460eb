//! Checks and conversions applied to every value before it is written, the
//! same on both backends, so that what one backend accepts the other accepts
//! too and a value reads back exactly as [`crate::storage_precision`] says.

use time::{OffsetDateTime, UtcOffset};

use crate::StoreError;
use crate::access::AccessRecord;
use crate::federation::{
    IncomingMessage, MessageRecord, OutboxItem, OutboxState, OutgoingMessage, RefusalRecord,
};
use crate::ledger::StoredCheckpoint;
use crate::records::{Direction, NewEvent, RequestRecord, storage_precision};
use crate::witness::{CosignatureRecord, WitnessedState};

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

/// A count or version number as the signed 64-bit integer both backends
/// hold (PostgreSQL has no unsigned type).
pub(crate) fn count(field: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::InvalidValue {
        field,
        problem: format!(
            "{value} is larger than {}, the largest number kept",
            i64::MAX
        ),
    })
}

/// Refuses a record whose parts disagree.
fn agree<T: PartialEq + std::fmt::Debug>(
    field: &'static str,
    given: &T,
    expected: &T,
    what: &str,
) -> Result<(), StoreError> {
    if given == expected {
        Ok(())
    } else {
        Err(StoreError::InvalidValue {
            field,
            problem: format!("it is {given:?}, but {what} is {expected:?}"),
        })
    }
}

/// A request, checked and converted for writing.
#[derive(Debug)]
pub(crate) struct RequestRow<'a> {
    pub id: &'a str,
    pub kind: &'static str,
    pub direction: &'static str,
    pub counterpart: &'a str,
    pub draft: Option<&'a [u8]>,
    pub created_at: OffsetDateTime,
}

/// Refuses an event meant to open a request's history that names another
/// request (`RequestStore::record_request`).
pub(crate) fn same_request(request: &RequestRecord, event: &NewEvent) -> Result<(), StoreError> {
    if event.request_id != request.id {
        return Err(StoreError::InvalidValue {
            field: "event.request_id",
            problem: format!("the event belongs to another request than {:?}", request.id),
        });
    }
    Ok(())
}

pub(crate) fn request(r: &RequestRecord) -> Result<RequestRow<'_>, StoreError> {
    Ok(RequestRow {
        id: text("requests.id", &r.id)?,
        kind: r.kind.as_str(),
        direction: r.direction.as_str(),
        counterpart: r.counterpart.as_str(),
        draft: r.draft.as_deref(),
        created_at: timestamp("requests.created_at", r.created_at)?,
    })
}

/// An event, checked and converted for writing. Its request id is checked
/// by the caller, which decides what an unstorable one means.
#[derive(Debug)]
pub(crate) struct EventRow<'a> {
    pub request_id: &'a str,
    pub at: OffsetDateTime,
    pub actor: &'a str,
    pub kind: &'a str,
    pub detail: String,
    /// The ledger entry to queue with it; whoever writes the event queues
    /// it (see [`Outgoing::ledger`]).
    pub ledger: Option<&'a [u8]>,
}

pub(crate) fn event(e: &NewEvent) -> Result<EventRow<'_>, StoreError> {
    Ok(EventRow {
        request_id: &e.request_id,
        at: timestamp("request_events.at", e.at)?,
        actor: text("request_events.actor", &e.actor)?,
        kind: text("request_events.kind", &e.kind)?,
        detail: json("request_events.detail", &e.detail)?,
        ledger: e.ledger.as_deref(),
    })
}

/// The ledger entries an operation queues, in order: its own, then its
/// event's if it has one.
fn queued<'a>(own: &'a [Vec<u8>], event: &EventRow<'a>) -> Vec<&'a [u8]> {
    own.iter().map(Vec::as_slice).chain(event.ledger).collect()
}

/// A message, checked and converted for writing.
#[derive(Debug)]
pub(crate) struct MessageRow<'a> {
    pub id: &'a str,
    pub thread: &'a str,
    pub direction: &'static str,
    pub counterpart: &'a str,
    pub kind: &'a str,
    pub prev: Option<&'a str>,
    pub created_at: OffsetDateTime,
    pub recorded_at: OffsetDateTime,
    pub envelope: &'a [u8],
}

fn message(m: &MessageRecord) -> Result<MessageRow<'_>, StoreError> {
    Ok(MessageRow {
        id: text("messages.id", &m.id)?,
        thread: text("messages.thread", &m.thread)?,
        direction: m.direction.as_str(),
        counterpart: m.counterpart.as_str(),
        kind: text("messages.kind", &m.kind)?,
        prev: m
            .prev
            .as_deref()
            .map(|p| text("messages.prev", p))
            .transpose()?,
        created_at: timestamp("messages.created_at", m.created_at)?,
        recorded_at: timestamp("messages.recorded_at", m.recorded_at)?,
        envelope: &m.envelope,
    })
}

/// An outbox item, checked and converted for enqueueing.
#[derive(Debug)]
pub(crate) struct OutboxRow<'a> {
    pub message_id: &'a str,
    pub thread: &'a str,
    pub recipient: &'a str,
    pub url: &'a str,
    pub ciphertext: &'a [u8],
    pub created_at: OffsetDateTime,
    pub next_attempt_at: OffsetDateTime,
    pub attempts: i64,
    pub last_error: Option<&'a str>,
}

/// What `record_outgoing` writes, checked as a whole.
#[derive(Debug)]
pub(crate) struct Outgoing<'a> {
    pub message: MessageRow<'a>,
    pub request: Option<RequestRow<'a>>,
    pub event: EventRow<'a>,
    pub outbox: OutboxRow<'a>,
    /// Every ledger entry to queue, the event's included.
    pub ledger: Vec<&'a [u8]>,
    /// The sender's access record, checked, with its time at storage
    /// precision.
    pub access: Option<(&'a AccessRecord, OffsetDateTime)>,
}

/// Checks that a request opening a thread, and the event added to it,
/// belong to the message's thread and agree with it.
fn thread_parts<'a>(
    m: &'a MessageRecord,
    new_request: Option<&'a RequestRecord>,
    e: &'a NewEvent,
) -> Result<(Option<RequestRow<'a>>, EventRow<'a>), StoreError> {
    if let Some(r) = new_request {
        agree("requests.id", &r.id, &m.thread, "the message's thread")?;
        agree(
            "requests.direction",
            &r.direction,
            &m.direction,
            "the message's direction",
        )?;
        agree(
            "requests.counterpart",
            &r.counterpart,
            &m.counterpart,
            "the message's counterpart",
        )?;
    }
    agree(
        "request_events.request_id",
        &e.request_id,
        &m.thread,
        "the message's thread",
    )?;
    Ok((new_request.map(request).transpose()?, event(e)?))
}

pub(crate) fn outgoing(m: &OutgoingMessage) -> Result<Outgoing<'_>, StoreError> {
    agree(
        "messages.direction",
        &m.message.direction,
        &Direction::Outgoing,
        "a message sent",
    )?;
    let o: &OutboxItem = &m.outbox;
    agree(
        "outbox.message_id",
        &o.message_id,
        &m.message.id,
        "the message's id",
    )?;
    agree(
        "outbox.recipient",
        &o.recipient,
        &m.message.counterpart,
        "the message's counterpart",
    )?;
    agree(
        "outbox.state",
        &o.state,
        &OutboxState::Pending,
        "a newly queued item",
    )?;
    agree(
        "outbox.delivered_at",
        &o.delivered_at,
        &None,
        "a newly queued item",
    )?;
    let (request, event) = thread_parts(&m.message, m.new_request.as_ref(), &m.event)?;
    let message = message(&m.message)?;
    let outbox = OutboxRow {
        message_id: message.id,
        thread: message.thread,
        recipient: o.recipient.as_str(),
        url: text("outbox.url", &o.url)?,
        ciphertext: &o.ciphertext,
        created_at: timestamp("outbox.created_at", o.created_at)?,
        next_attempt_at: timestamp("outbox.next_attempt_at", o.next_attempt_at)?,
        attempts: i64::from(o.attempts),
        last_error: o
            .last_error
            .as_deref()
            .map(|e| text("outbox.last_error", e))
            .transpose()?,
    };
    let access = match &m.access {
        Some(r) => Some((r, crate::access::check_record(r)?)),
        None => None,
    };
    Ok(Outgoing {
        message,
        request,
        ledger: queued(&m.ledger, &event),
        event,
        outbox,
        access,
    })
}

/// What `accept_incoming` writes, checked as a whole.
#[derive(Debug)]
pub(crate) struct Incoming<'a> {
    pub message: MessageRow<'a>,
    pub request: Option<RequestRow<'a>>,
    pub event: EventRow<'a>,
    pub receipt: &'a [u8],
    /// Every ledger entry to queue, the event's included.
    pub ledger: Vec<&'a [u8]>,
}

pub(crate) fn incoming(m: &IncomingMessage) -> Result<Incoming<'_>, StoreError> {
    agree(
        "messages.direction",
        &m.message.direction,
        &Direction::Incoming,
        "a message received",
    )?;
    let (request, event) = thread_parts(&m.message, m.new_request.as_ref(), &m.event)?;
    Ok(Incoming {
        message: message(&m.message)?,
        request,
        ledger: queued(&m.ledger, &event),
        event,
        receipt: &m.receipt,
    })
}

/// A refusal, checked and converted for writing.
#[derive(Debug)]
pub(crate) struct RefusalRow<'a> {
    pub at: OffsetDateTime,
    pub peer: &'a str,
    pub claimed_sender: Option<&'a str>,
    pub code: &'a str,
    pub detail: &'a str,
    pub body_sha256: &'a str,
    pub body_len: i64,
}

pub(crate) fn refusal(r: &RefusalRecord) -> Result<RefusalRow<'_>, StoreError> {
    Ok(RefusalRow {
        at: timestamp("refusals.at", r.at)?,
        peer: text("refusals.peer", &r.peer)?,
        claimed_sender: r
            .claimed_sender
            .as_deref()
            .map(|s| text("refusals.claimed_sender", s))
            .transpose()?,
        code: text("refusals.code", &r.code)?,
        detail: text("refusals.detail", &r.detail)?,
        body_sha256: text("refusals.body_sha256", &r.body_sha256)?,
        body_len: count("refusals.body_len", r.body_len)?,
    })
}

/// A batch for the ledger, checked and converted for writing.
#[derive(Debug)]
pub(crate) struct Append<'a> {
    /// The size the sequencer saw, which the ledger must still have.
    pub expected: i64,
    /// The size after the batch.
    pub end: i64,
    /// The queued entries consumed, each once, in ascending order.
    pub consumed: Vec<i64>,
    /// The entries, for indexes `expected`, `expected + 1`, …
    pub entries: &'a [Vec<u8>],
    /// The hashes by storage index, each index once, in ascending order.
    pub hashes: Vec<(i64, [u8; 32])>,
    pub at: OffsetDateTime,
}

impl Append<'_> {
    /// The entries with the indexes they take.
    pub(crate) fn indexed(&self) -> impl Iterator<Item = (i64, &[u8])> {
        (self.expected..).zip(self.entries.iter().map(Vec::as_slice))
    }
}

pub(crate) fn append<'a>(
    expected_size: u64,
    consumed: &[i64],
    entries: &'a [Vec<u8>],
    hashes: &[(u64, [u8; 32])],
    at: OffsetDateTime,
) -> Result<Append<'a>, StoreError> {
    let expected = count("ledger size", expected_size)?;
    let end = u64::try_from(entries.len())
        .ok()
        .and_then(|n| expected_size.checked_add(n))
        .ok_or_else(|| StoreError::InvalidValue {
            field: "ledger_entries.idx",
            problem: format!(
                "{} entries after {expected_size} overflow the index",
                entries.len()
            ),
        })?;
    let end = count("ledger_entries.idx", end)?;
    let consumed: std::collections::BTreeSet<i64> = consumed.iter().copied().collect();
    let mut by_index = std::collections::BTreeMap::new();
    for &(index, hash) in hashes {
        let index = count("ledger_hash_blocks.hashes", index)?;
        if let Some(earlier) = by_index.insert(index, hash)
            && earlier != hash
        {
            return Err(StoreError::InvalidValue {
                field: "ledger_hash_blocks.hashes",
                problem: format!("the batch gives index {index} two different hashes"),
            });
        }
    }
    Ok(Append {
        expected,
        end,
        consumed: consumed.into_iter().collect(),
        entries,
        hashes: by_index.into_iter().collect(),
        at: timestamp("ledger_entries.recorded_at", at)?,
    })
}

/// A checkpoint, checked and converted for writing.
#[derive(Debug)]
pub(crate) struct CheckpointRow<'a> {
    pub size: i64,
    pub note: &'a str,
    pub created_at: OffsetDateTime,
}

pub(crate) fn checkpoint(cp: &StoredCheckpoint) -> Result<CheckpointRow<'_>, StoreError> {
    Ok(CheckpointRow {
        size: count("ledger_checkpoints.size", cp.size)?,
        note: text("ledger_checkpoints.note", &cp.note)?,
        created_at: timestamp("ledger_checkpoints.created_at", cp.created_at)?,
    })
}

/// A witnessed checkpoint, with the size it must replace, checked and
/// converted for writing.
#[derive(Debug)]
pub(crate) struct WitnessedRow<'a> {
    pub origin: &'a str,
    pub size: i64,
    pub note: &'a str,
    pub updated_at: OffsetDateTime,
    /// The size the caller saw stored (`None`: no row yet).
    pub expected: Option<i64>,
}

pub(crate) fn witnessed(
    state: &WitnessedState,
    expected_size: Option<u64>,
) -> Result<WitnessedRow<'_>, StoreError> {
    Ok(WitnessedRow {
        origin: text("witnessed.origin", &state.origin)?,
        size: count("witnessed.size", state.size)?,
        note: text("witnessed.note", &state.note)?,
        updated_at: timestamp("witnessed.updated_at", state.updated_at)?,
        expected: expected_size
            .map(|size| count("expected_size", size))
            .transpose()?,
    })
}

/// A fork report, checked and converted for writing.
#[derive(Debug)]
pub(crate) struct ForkRow<'a> {
    pub origin: &'a str,
    pub detected_at: OffsetDateTime,
    pub evidence: String,
}

pub(crate) fn fork<'a>(
    origin: &'a str,
    evidence: &serde_json::Value,
    at: OffsetDateTime,
) -> Result<ForkRow<'a>, StoreError> {
    Ok(ForkRow {
        origin: text("witness_forks.origin", origin)?,
        detected_at: timestamp("witness_forks.detected_at", at)?,
        evidence: json("witness_forks.evidence", evidence)?,
    })
}

/// A cosignature, checked and converted for writing.
#[derive(Debug)]
pub(crate) struct CosignatureRow<'a> {
    pub size: i64,
    pub witness: &'a str,
    pub line: &'a str,
    pub at: OffsetDateTime,
}

pub(crate) fn cosignature(c: &CosignatureRecord) -> Result<CosignatureRow<'_>, StoreError> {
    Ok(CosignatureRow {
        size: count("cosignatures.size", c.size)?,
        witness: text("cosignatures.witness", &c.witness)?,
        line: text("cosignatures.line", &c.line)?,
        at: timestamp("cosignatures.at", c.at)?,
    })
}

/// The instant a claim made at `now` for `lease` expires, both as stored.
pub(crate) fn lease(
    now: OffsetDateTime,
    lease: time::Duration,
) -> Result<(OffsetDateTime, OffsetDateTime), StoreError> {
    if !lease.is_positive() {
        return Err(StoreError::InvalidValue {
            field: "lease",
            problem: format!("a lease must be longer than zero, not {lease}"),
        });
    }
    let now = timestamp("now", now)?;
    let until = now
        .checked_add(lease)
        .ok_or_else(|| StoreError::InvalidValue {
            field: "lease",
            problem: format!("{now} plus {lease} is not a representable time"),
        })?;
    Ok((now, timestamp("lease", until)?))
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
    fn counts_beyond_the_signed_range_are_refused() {
        assert_eq!(count("v", 0).unwrap(), 0);
        assert_eq!(count("v", i64::MAX as u64).unwrap(), i64::MAX);
        let err = count("directory.version", i64::MAX as u64 + 1).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::InvalidValue {
                    field: "directory.version",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn leases_must_be_positive_and_representable() {
        let now = datetime!(2026-03-01 10:00:00.123_456_7 UTC);
        let (at, until) = lease(now, time::Duration::seconds(30)).unwrap();
        assert_eq!(at, datetime!(2026-03-01 10:00:00.123_456 UTC));
        assert_eq!(until, datetime!(2026-03-01 10:00:30.123_456 UTC));
        for bad in [time::Duration::ZERO, time::Duration::seconds(-1)] {
            assert!(lease(now, bad).is_err(), "{bad}");
        }
        let err = lease(datetime!(9999-12-31 23:59 UTC), time::Duration::minutes(5)).unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidValue { field: "lease", .. }),
            "{err}"
        );
    }

    #[test]
    fn a_ledger_batch_is_checked_and_put_in_order() {
        let entries = vec![b"a".to_vec(), b"b".to_vec()];
        let t = datetime!(2026-03-01 10:00:00.123_456_7 UTC);
        let batch = append(
            5,
            &[9, 3, 9],
            &entries,
            &[(7, [1; 32]), (2, [2; 32]), (7, [1; 32])],
            t,
        )
        .unwrap();
        assert_eq!((batch.expected, batch.end), (5, 7));
        assert_eq!(batch.consumed, [3, 9]);
        assert_eq!(batch.hashes, [(2, [2; 32]), (7, [1; 32])]);
        assert_eq!(batch.at, datetime!(2026-03-01 10:00:00.123_456 UTC));
        let indexed: Vec<(i64, &[u8])> = batch.indexed().collect();
        assert_eq!(indexed, [(5, b"a".as_slice()), (6, b"b".as_slice())]);
    }

    #[test]
    fn a_ledger_batch_that_cannot_be_kept_is_refused() {
        let t = datetime!(2026-03-01 10:00 UTC);
        let one = vec![b"x".to_vec()];
        for (size, hashes, field) in [
            (
                2,
                vec![(4, [1; 32]), (4, [2; 32])],
                "ledger_hash_blocks.hashes",
            ),
            (2, vec![(u64::MAX, [1; 32])], "ledger_hash_blocks.hashes"),
            (i64::MAX as u64, vec![], "ledger_entries.idx"),
            (u64::MAX, vec![], "ledger size"),
        ] {
            let err = append(size, &[], &one, &hashes, t).unwrap_err();
            assert!(
                matches!(err, StoreError::InvalidValue { field: f, .. } if f == field),
                "{size}: {err}"
            );
        }
        // The largest size is fine for an empty batch.
        assert!(append(i64::MAX as u64, &[], &[], &[], t).is_ok());
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
