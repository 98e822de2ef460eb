//! Turning what the database returns into domain records, and sqlx errors
//! into [`StoreError`]s. Shared by both adapters.
//!
//! Nothing read back is trusted: a value that does not parse into its domain
//! type becomes [`StoreError::Corrupt`] naming the table, the column and the
//! row, never a panic.

use std::fmt::Display;
use std::str::FromStr;

use sqlx::migrate::MigrateError;
use sqlx::{ColumnIndex, Decode, Row, Type};
use time::OffsetDateTime;

use crate::StoreError;
use crate::federation::{AcceptOutcome, MessageRecord, OutboxItem, RefusalRecord, StoredDirectory};
use crate::ledger::{LedgerEntry, PendingEntry, StoredCheckpoint};
use crate::records::{Direction, NewEvent, NodeInfo, RequestEvent, RequestRecord};
use crate::witness::{CosignatureRecord, ForkRecord, WitnessedState};

/// Reads one column, reporting a type mismatch (a value written by hand, or
/// by another program) as corruption.
pub(crate) fn column<'r, R, T>(
    row: &'r R,
    table: &'static str,
    column: &'static str,
) -> Result<T, StoreError>
where
    R: Row,
    T: Decode<'r, R::Database> + Type<R::Database>,
    &'static str: ColumnIndex<R>,
{
    row.try_get(column).map_err(|e| StoreError::Corrupt {
        table,
        column,
        detail: e.to_string(),
    })
}

/// Parses a text column into a domain type.
fn parse<T>(
    table: &'static str,
    column: &'static str,
    row: &str,
    raw: &str,
) -> Result<T, StoreError>
where
    T: FromStr,
    T::Err: Display,
{
    raw.parse().map_err(|e: T::Err| StoreError::Corrupt {
        table,
        column,
        detail: format!("{row}: {e}"),
    })
}

fn json(
    table: &'static str,
    column: &'static str,
    row: &str,
    raw: &str,
) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt {
        table,
        column,
        detail: format!("{row}: not a JSON document: {e}"),
    })
}

/// Reads the SQLite timestamp encoding: microseconds since the Unix epoch.
pub(crate) fn unix_micros(
    table: &'static str,
    column: &'static str,
    micros: i64,
) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).map_err(|e| {
        StoreError::Corrupt {
            table,
            column,
            detail: format!("{micros} µs since 1970 is not a representable time: {e}"),
        }
    })
}

/// A `node_info` row with its columns read but not yet parsed.
#[derive(Debug)]
pub(crate) struct RawNodeInfo {
    pub state: String,
    pub name: String,
    pub created_at: OffsetDateTime,
}

impl RawNodeInfo {
    pub(crate) fn parse(self) -> Result<NodeInfo, StoreError> {
        Ok(NodeInfo {
            state: parse("node_info", "state", "the node's identity", &self.state)?,
            name: self.name,
            created_at: self.created_at,
        })
    }
}

/// A `requests` row with its columns read but not yet parsed.
#[derive(Debug)]
pub(crate) struct RawRequest {
    pub id: String,
    pub kind: String,
    pub direction: String,
    pub counterpart: String,
    pub draft: Option<Vec<u8>>,
    pub created_at: OffsetDateTime,
}

impl RawRequest {
    pub(crate) fn parse(self) -> Result<RequestRecord, StoreError> {
        let row = format!("request {:?}", self.id);
        Ok(RequestRecord {
            kind: parse("requests", "kind", &row, &self.kind)?,
            direction: parse("requests", "direction", &row, &self.direction)?,
            counterpart: parse("requests", "counterpart", &row, &self.counterpart)?,
            draft: self.draft,
            created_at: self.created_at,
            id: self.id,
        })
    }
}

/// A `request_events` row with its columns read but not yet parsed.
#[derive(Debug)]
pub(crate) struct RawEvent {
    pub request_id: String,
    pub seq: i64,
    pub at: OffsetDateTime,
    pub actor: String,
    pub kind: String,
    pub detail: String,
}

impl RawEvent {
    fn parse(self) -> Result<RequestEvent, StoreError> {
        let row = format!("request {:?} event {}", self.request_id, self.seq);
        let seq = u64::try_from(self.seq).map_err(|_| StoreError::Corrupt {
            table: "request_events",
            column: "seq",
            detail: format!("{row}: a sequence number cannot be negative"),
        })?;
        Ok(RequestEvent {
            detail: json("request_events", "detail", &row, &self.detail)?,
            request_id: self.request_id,
            seq,
            at: self.at,
            actor: self.actor,
            kind: self.kind,
        })
    }
}

/// Parses a request's history, read in `seq` order, and checks that it runs
/// 1, 2, 3, … without a gap: a gap means rows were removed by hand.
pub(crate) fn history(rows: Vec<RawEvent>) -> Result<Vec<RequestEvent>, StoreError> {
    let mut events = Vec::with_capacity(rows.len());
    for (expected, raw) in (1_u64..).zip(rows) {
        let event = raw.parse()?;
        if event.seq != expected {
            return Err(StoreError::Corrupt {
                table: "request_events",
                column: "seq",
                detail: format!(
                    "request {:?}: found event {} where event {expected} was expected",
                    event.request_id, event.seq
                ),
            });
        }
        events.push(event);
    }
    Ok(events)
}

/// The event just appended, as stored under the sequence number `seq` the
/// store assigned and with its time at storage precision.
pub(crate) fn appended(
    event: &NewEvent,
    seq: i64,
    at: OffsetDateTime,
) -> Result<RequestEvent, StoreError> {
    let seq = u64::try_from(seq).map_err(|_| StoreError::Corrupt {
        table: "requests",
        column: "last_event_seq",
        detail: format!(
            "request {:?}: the event counter is negative",
            event.request_id
        ),
    })?;
    Ok(RequestEvent {
        request_id: event.request_id.clone(),
        seq,
        at,
        actor: event.actor.clone(),
        kind: event.kind.clone(),
        detail: event.detail.clone(),
    })
}

/// Reads a column kept as a signed integer into the unsigned count it
/// stands for.
pub(crate) fn unsigned<T: TryFrom<i64>>(
    table: &'static str,
    column: &'static str,
    row: &str,
    raw: i64,
) -> Result<T, StoreError> {
    T::try_from(raw).map_err(|_| StoreError::Corrupt {
        table,
        column,
        detail: format!("{row}: {raw} is out of range"),
    })
}

/// The `directory` row with its columns read but not yet parsed.
#[derive(Debug)]
pub(crate) struct RawDirectory {
    pub version: i64,
    pub signed: Vec<u8>,
    pub imported_at: OffsetDateTime,
}

impl RawDirectory {
    pub(crate) fn parse(self) -> Result<StoredDirectory, StoreError> {
        Ok(StoredDirectory {
            version: unsigned("directory", "version", "the directory", self.version)?,
            signed: self.signed,
            imported_at: self.imported_at,
        })
    }
}

/// A `messages` row with its columns read but not yet parsed.
#[derive(Debug)]
pub(crate) struct RawMessage {
    pub id: String,
    pub thread: String,
    pub direction: String,
    pub counterpart: String,
    pub kind: String,
    pub prev: Option<String>,
    pub created_at: OffsetDateTime,
    pub recorded_at: OffsetDateTime,
    pub envelope: Vec<u8>,
}

impl RawMessage {
    pub(crate) fn parse(self) -> Result<MessageRecord, StoreError> {
        let row = format!("message {:?}", self.id);
        Ok(MessageRecord {
            direction: parse("messages", "direction", &row, &self.direction)?,
            counterpart: parse("messages", "counterpart", &row, &self.counterpart)?,
            id: self.id,
            thread: self.thread,
            kind: self.kind,
            prev: self.prev,
            created_at: self.created_at,
            recorded_at: self.recorded_at,
            envelope: self.envelope,
        })
    }
}

/// An `outbox` row with its columns read but not yet parsed. `seq` is the
/// order of enqueueing, kept for sorting.
#[derive(Debug)]
pub(crate) struct RawOutboxItem {
    pub seq: i64,
    pub message_id: String,
    pub recipient: String,
    pub url: String,
    pub ciphertext: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub next_attempt_at: OffsetDateTime,
    pub attempts: i64,
    pub state: String,
    pub last_error: Option<String>,
    pub delivered_at: Option<OffsetDateTime>,
}

impl RawOutboxItem {
    pub(crate) fn parse(self) -> Result<OutboxItem, StoreError> {
        let row = format!("outbox item {:?}", self.message_id);
        Ok(OutboxItem {
            recipient: parse("outbox", "recipient", &row, &self.recipient)?,
            attempts: unsigned("outbox", "attempts", &row, self.attempts)?,
            state: parse("outbox", "state", &row, &self.state)?,
            message_id: self.message_id,
            url: self.url,
            ciphertext: self.ciphertext,
            created_at: self.created_at,
            next_attempt_at: self.next_attempt_at,
            last_error: self.last_error,
            delivered_at: self.delivered_at,
        })
    }
}

/// Outbox items claimed together, oldest first: by creation time, then by
/// order of enqueueing (an `UPDATE … RETURNING` gives no order of its own).
pub(crate) fn claimed(mut rows: Vec<RawOutboxItem>) -> Result<Vec<OutboxItem>, StoreError> {
    rows.sort_by_key(|r| (r.created_at, r.seq));
    rows.into_iter().map(RawOutboxItem::parse).collect()
}

/// A `refusals` row with its columns read but not yet parsed.
#[derive(Debug)]
pub(crate) struct RawRefusal {
    pub seq: i64,
    pub at: OffsetDateTime,
    pub peer: String,
    pub claimed_sender: Option<String>,
    pub code: String,
    pub detail: String,
    pub body_sha256: String,
    pub body_len: i64,
}

impl RawRefusal {
    pub(crate) fn parse(self) -> Result<RefusalRecord, StoreError> {
        let row = format!("refusal {}", self.seq);
        Ok(RefusalRecord {
            body_len: unsigned("refusals", "body_len", &row, self.body_len)?,
            at: self.at,
            peer: self.peer,
            claimed_sender: self.claimed_sender,
            code: self.code,
            detail: self.detail,
            body_sha256: self.body_sha256,
        })
    }
}

/// What `accept_incoming` answers for a message whose id is already stored,
/// given that message's direction and receipt as read back.
pub(crate) fn duplicate(
    id: &str,
    direction: &str,
    receipt: Option<Vec<u8>>,
) -> Result<AcceptOutcome, StoreError> {
    let row = format!("message {id:?}");
    match parse::<Direction>("messages", "direction", &row, direction)? {
        // Ids derive from content, and our messages name us as sender: an
        // incoming message cannot share an id with one of ours unless it is
        // one of ours sent back.
        Direction::Outgoing => Err(StoreError::DuplicateMessage(id.to_owned())),
        Direction::Incoming => match receipt {
            Some(receipt) => Ok(AcceptOutcome::Duplicate { receipt }),
            None => Err(StoreError::Corrupt {
                table: "messages",
                column: "receipt",
                detail: format!("{row}: an accepted message has no receipt"),
            }),
        },
    }
}

/// A rowid-like sequence number read back, which is never negative.
pub(crate) fn seq(table: &'static str, raw: i64) -> Result<u64, StoreError> {
    u64::try_from(raw).map_err(|_| StoreError::Corrupt {
        table,
        column: "seq",
        detail: format!("a negative sequence number {raw}"),
    })
}

/// The ledger's size as read from its one `ledger_head` row.
pub(crate) fn ledger_size(raw: Option<i64>) -> Result<u64, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        table: "ledger_head",
        column: "size",
        detail,
    };
    let raw = raw.ok_or_else(|| corrupt("the row holding the ledger's size is missing".into()))?;
    u64::try_from(raw).map_err(|_| corrupt(format!("the ledger's size {raw} is negative")))
}

/// A ledger entry's stored index, which cannot be negative.
pub(crate) fn ledger_index(raw: i64) -> Result<u64, StoreError> {
    u64::try_from(raw).map_err(|_| StoreError::Corrupt {
        table: "ledger_entries",
        column: "idx",
        detail: format!("the index {raw} is negative"),
    })
}

/// The storage indexes `from..from + count`, those past `u64::MAX` left out.
pub(crate) fn range_indexes(from: u64, count: u32) -> Vec<u64> {
    (0..u64::from(count))
        .map_while(|i| from.checked_add(i))
        .collect()
}

/// A `ledger_entries` row with its columns read but not yet parsed.
#[derive(Debug)]
pub(crate) struct RawLedgerEntry {
    pub idx: i64,
    pub entry: Vec<u8>,
    pub recorded_at: OffsetDateTime,
}

impl RawLedgerEntry {
    pub(crate) fn parse(self) -> Result<LedgerEntry, StoreError> {
        Ok(LedgerEntry {
            index: unsigned("ledger_entries", "idx", "a ledger entry", self.idx)?,
            entry: self.entry,
            recorded_at: self.recorded_at,
        })
    }
}

/// A ledger of some size holds every index below it, so a row missing
/// there was removed by hand.
pub(crate) fn missing_entry(index: u64) -> StoreError {
    StoreError::LedgerGap {
        table: "ledger_entries",
        index,
    }
}

/// Up to `limit` entries from `from` on, read in index order from a ledger
/// that had `size` entries before the rows were read: they must run from
/// `from` without a gap, and reach `size` unless `limit` stops them first.
/// (The ledger may have grown meanwhile, so more rows are fine.)
pub(crate) fn ledger_run(
    from: u64,
    limit: u32,
    size: u64,
    rows: Vec<RawLedgerEntry>,
) -> Result<Vec<LedgerEntry>, StoreError> {
    let mut entries = Vec::with_capacity(rows.len());
    for (expected, raw) in (from..).zip(rows) {
        let entry = raw.parse()?;
        if entry.index != expected {
            return Err(missing_entry(expected));
        }
        entries.push(entry);
    }
    let wanted = size.saturating_sub(from).min(u64::from(limit));
    let got = entries.len() as u64;
    if got < wanted {
        return Err(missing_entry(from + got));
    }
    Ok(entries)
}

/// A `ledger_pending` row with its columns read.
#[derive(Debug)]
pub(crate) struct RawPending {
    pub id: i64,
    pub entry: Vec<u8>,
    pub queued_at: OffsetDateTime,
}

impl RawPending {
    pub(crate) fn parse(self) -> PendingEntry {
        PendingEntry {
            id: self.id,
            entry: self.entry,
            queued_at: self.queued_at,
        }
    }
}

/// A `ledger_checkpoints` row with its columns read but not yet parsed.
#[derive(Debug)]
pub(crate) struct RawCheckpoint {
    pub size: i64,
    pub note: String,
    pub created_at: OffsetDateTime,
}

impl RawCheckpoint {
    pub(crate) fn parse(self) -> Result<StoredCheckpoint, StoreError> {
        Ok(StoredCheckpoint {
            size: unsigned("ledger_checkpoints", "size", "a checkpoint", self.size)?,
            note: self.note,
            created_at: self.created_at,
        })
    }
}

/// What storing `offered` comes to when a checkpoint of its size is already
/// stored with the note `stored`: nothing to do if it is the same
/// checkpoint; two different checkpoints of one size cannot both be true.
pub(crate) fn same_checkpoint(offered: &StoredCheckpoint, stored: &str) -> Result<(), StoreError> {
    if offered.note == stored {
        Ok(())
    } else {
        Err(StoreError::Corrupt {
            table: "ledger_checkpoints",
            column: "note",
            detail: format!(
                "a different checkpoint of size {} is already stored",
                offered.size
            ),
        })
    }
}

/// What `append_ledger` answers when the ledger's size is not the one the
/// batch was made for, given the size read back.
pub(crate) fn ledger_conflict(expected_size: u64, actual: Option<i64>) -> StoreError {
    match ledger_size(actual) {
        Ok(actual) => StoreError::LedgerConflict {
            expected: expected_size,
            actual,
        },
        Err(e) => e,
    }
}

/// What `append_ledger` answers when an entry is already stored at an
/// index at or past the ledger's size, where none can be.
pub(crate) fn entry_past_size(index: i64) -> StoreError {
    StoreError::Corrupt {
        table: "ledger_entries",
        column: "idx",
        detail: format!("an entry is already stored at index {index}, past the ledger's size"),
    }
}

/// What `put_checkpoint` answers for a checkpoint larger than the ledger.
pub(crate) fn checkpoint_too_large(offered: u64, size: u64) -> StoreError {
    StoreError::InvalidValue {
        field: "ledger_checkpoints.size",
        problem: format!("{offered} is larger than the ledger, which has {size} entries"),
    }
}

/// A checkpoint stored with an append that is not of the size the append
/// brings the ledger to.
pub(crate) fn checkpoint_not_appended(
    offered: u64,
    expected_size: u64,
    entries: usize,
) -> StoreError {
    StoreError::InvalidValue {
        field: "ledger_checkpoints.size",
        problem: format!(
            "{offered} is not the size the append of {entries} entries at {expected_size} brings the ledger to"
        ),
    }
}

/// A `witnessed` row with its columns read but not yet parsed.
#[derive(Debug)]
pub(crate) struct RawWitnessed {
    pub origin: String,
    pub size: i64,
    pub note: String,
    pub updated_at: OffsetDateTime,
}

impl RawWitnessed {
    pub(crate) fn parse(self) -> Result<WitnessedState, StoreError> {
        let row = format!("log {:?}", self.origin);
        Ok(WitnessedState {
            size: unsigned("witnessed", "size", &row, self.size)?,
            origin: self.origin,
            note: self.note,
            updated_at: self.updated_at,
        })
    }
}

/// The size stored for a log's witnessed checkpoint, if any, as read back.
pub(crate) fn witnessed_size(origin: &str, raw: Option<i64>) -> Result<Option<u64>, StoreError> {
    raw.map(|size| unsigned("witnessed", "size", &format!("log {origin:?}"), size))
        .transpose()
}

/// What `put_witnessed` answers when the stored size, read back as `actual`,
/// is not the one the caller expected.
pub(crate) fn witness_conflict(
    origin: &str,
    expected: Option<u64>,
    actual: Option<i64>,
) -> StoreError {
    match witnessed_size(origin, actual) {
        Ok(actual) => StoreError::WitnessConflict {
            origin: origin.to_owned(),
            expected,
            actual,
        },
        Err(e) => e,
    }
}

/// A `witness_forks` row with its columns read but not yet parsed.
#[derive(Debug)]
pub(crate) struct RawFork {
    pub id: i64,
    pub origin: String,
    pub detected_at: OffsetDateTime,
    pub evidence: String,
}

impl RawFork {
    pub(crate) fn parse(self) -> Result<ForkRecord, StoreError> {
        let row = format!("fork report {}", self.id);
        Ok(ForkRecord {
            evidence: json("witness_forks", "evidence", &row, &self.evidence)?,
            id: self.id,
            origin: self.origin,
            detected_at: self.detected_at,
        })
    }
}

/// A `cosignatures` row with its columns read but not yet parsed.
#[derive(Debug)]
pub(crate) struct RawCosignature {
    pub size: i64,
    pub witness: String,
    pub line: String,
    pub at: OffsetDateTime,
}

impl RawCosignature {
    pub(crate) fn parse(self) -> Result<CosignatureRecord, StoreError> {
        let row = format!("cosignature by {:?}", self.witness);
        Ok(CosignatureRecord {
            size: unsigned("cosignatures", "size", &row, self.size)?,
            witness: self.witness,
            line: self.line,
            at: self.at,
        })
    }
}

/// The largest size a witness cosigned, as read back (`None`: none).
pub(crate) fn latest_cosigned(witness: &str, raw: Option<i64>) -> Result<Option<u64>, StoreError> {
    raw.map(|size| {
        let row = format!("cosignature by {witness:?}");
        unsigned("cosignatures", "size", &row, size)
    })
    .transpose()
}

/// Converts a failed statement into a [`StoreError`], keeping only the text
/// of the sqlx error. `operation` completes "the database failed to …".
pub(crate) fn failed(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(format!("cannot {operation}: {e}")),
        sqlx::Error::Database(d) if d.code().as_deref() == Some("53100") => {
            StoreError::StorageFull(format!("cannot {operation}: {d}"))
        }
        other => StoreError::Database {
            operation,
            detail: other.to_string(),
        },
    }
}

/// The newest migration `migrator` holds (the schema version this release
/// writes).
pub(crate) fn newest_migration(migrator: &sqlx::migrate::Migrator) -> i64 {
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Converts a failed migration run into a [`StoreError`], saying what the
/// usual causes mean for an operator: a database stamped by a newer release
/// (`known` is the newest version this one has) is
/// [`StoreError::SchemaTooNew`], naming both versions; an edited migration
/// is [`StoreError::Migration`]. `database` names the database without
/// credentials.
pub(crate) fn migration_failed(database: &str, known: i64, e: MigrateError) -> StoreError {
    StoreError::Migration(match e {
        MigrateError::VersionMissing(found) if found > known => {
            return StoreError::SchemaTooNew {
                database: database.to_owned(),
                found,
                known,
            };
        }
        MigrateError::VersionMissing(version) => format!(
            "{database} records migration {version}, which this release does not know; \
             it was probably upgraded by a newer Custos release"
        ),
        MigrateError::VersionMismatch(version) => format!(
            "{database}: migration {version} differs from the one applied there; \
             a released migration file must never change"
        ),
        other => format!("{database}: {other}"),
    })
}
