//! Reading rows, once for both adapters: the column list of each table and
//! the mapper that turns one of its rows into a record.
//!
//! A mapper reads through [`RowAccess`], which both backends' rows
//! implement (rusqlite's on SQLite, sqlx's on PostgreSQL). The one thing
//! they store differently is time: microseconds since the epoch in an
//! `INTEGER` on SQLite, `timestamptz` on PostgreSQL; [`RowAccess::time`]
//! hides it. JSON columns are listed as `CAST(… AS TEXT)`, which SQLite
//! (where they are `TEXT` already) and PostgreSQL (`json`) both read as text.
//!
//! Each list names its columns in the order the table's mapper reads them;
//! statements splice a list in with `concat!`, so the SQL stays a literal
//! that each connection prepares once.

use sqlx::Postgres;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;

use crate::StoreError;
use crate::case_index::{CaseRow, ClockFired, RawCase, StaleCase, StateCount};
use crate::decode::{
    self, RawCheckpoint, RawCosignature, RawDirectory, RawEvent, RawFork, RawLedgerEntry,
    RawMessage, RawNodeInfo, RawOutboxItem, RawPending, RawRefusal, RawRequest, RawWitnessed,
};
use crate::federation::{MessageRecord, RefusalRecord, StoredMessage};
use crate::ledger::{PendingEntry, StoredCheckpoint};
use crate::records::RequestRecord;
use crate::sqlite_db;
use crate::stats::{self, EdgeRow, Measure, RollupBucket, RollupCount, StatsCase, StatsDimension};
use crate::witness::{CosignatureRecord, ForkRecord, WitnessedState};

/// The columns of each table's records, in the order its mapper reads them.
macro_rules! columns {
    (node_info) => {
        "state, name, created_at"
    };
    (requests) => {
        "id, kind, direction, counterpart, draft, created_at"
    };
    (request_events) => {
        "request_id, seq, at, actor, kind, CAST(detail AS TEXT) AS detail"
    };
    (directory) => {
        "version, signed, imported_at"
    };
    (messages) => {
        "id, thread, direction, counterpart, kind, prev, created_at, recorded_at, envelope"
    };
    (outbox) => {
        "seq, message_id, recipient, url, ciphertext, created_at, next_attempt_at, attempts, \
         state, last_error, delivered_at"
    };
    (refusals) => {
        "seq, at, peer, claimed_sender, code, detail, body_sha256, body_len"
    };
    (ledger_entries) => {
        "idx, entry, recorded_at"
    };
    (ledger_pending) => {
        "id, entry, queued_at"
    };
    (ledger_checkpoints) => {
        "size, note, created_at"
    };
    (witnessed) => {
        "origin, size, note, updated_at"
    };
    (witness_forks) => {
        "id, origin, detected_at, CAST(evidence AS TEXT) AS evidence"
    };
    (cosignatures) => {
        "size, witness, line, at"
    };
    (case_index) => {
        "id, kind, direction, counterpart, side, state, urgency, open, overdue, next_due, \
         last_step_at, created_at, allowed, stale, outcome, grounds, postponed, ack_seconds, \
         decision_seconds"
    };
    (clock_events) => {
        "case_id, clock, event, due, fired_at"
    };
}
pub(crate) use columns;

/// A value type both backends can read from a column.
pub(crate) trait Column:
    rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>
{
}

impl<T> Column for T where
    T: rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>
{
}

/// A row of either backend, read column by column. A value of the wrong
/// type (only possible when the database was edited by hand) is
/// [`StoreError::Corrupt`] naming the table and the column.
pub(crate) trait RowAccess {
    /// A column of a type both backends store alike.
    fn get<T: Column>(&self, table: &'static str, column: &'static str) -> Result<T, StoreError>;

    /// A timestamp column.
    fn time(&self, table: &'static str, column: &'static str)
    -> Result<OffsetDateTime, StoreError>;

    /// A nullable timestamp column.
    fn optional_time(
        &self,
        table: &'static str,
        column: &'static str,
    ) -> Result<Option<OffsetDateTime>, StoreError>;
}

impl RowAccess for rusqlite::Row<'_> {
    fn get<T: Column>(&self, table: &'static str, column: &'static str) -> Result<T, StoreError> {
        sqlite_db::column(self, table, column)
    }

    fn time(
        &self,
        table: &'static str,
        column: &'static str,
    ) -> Result<OffsetDateTime, StoreError> {
        sqlite_db::time(self, table, column)
    }

    fn optional_time(
        &self,
        table: &'static str,
        column: &'static str,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        sqlite_db::optional_time(self, table, column)
    }
}

impl RowAccess for PgRow {
    fn get<T: Column>(&self, table: &'static str, column: &'static str) -> Result<T, StoreError> {
        decode::column(self, table, column)
    }

    fn time(
        &self,
        table: &'static str,
        column: &'static str,
    ) -> Result<OffsetDateTime, StoreError> {
        decode::column(self, table, column)
    }

    fn optional_time(
        &self,
        table: &'static str,
        column: &'static str,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        decode::column(self, table, column)
    }
}

pub(crate) fn case(row: &impl RowAccess) -> Result<CaseRow, StoreError> {
    const T: &str = "case_index";
    RawCase {
        id: row.get(T, "id")?,
        kind: row.get(T, "kind")?,
        direction: row.get(T, "direction")?,
        counterpart: row.get(T, "counterpart")?,
        side: row.get(T, "side")?,
        state: row.get(T, "state")?,
        urgency: row.get(T, "urgency")?,
        open: row.get(T, "open")?,
        overdue: row.get(T, "overdue")?,
        next_due: row.optional_time(T, "next_due")?,
        last_step_at: row.optional_time(T, "last_step_at")?,
        created_at: row.time(T, "created_at")?,
        allowed: row.get(T, "allowed")?,
        stale: row.get(T, "stale")?,
        outcome: row.get(T, "outcome")?,
        grounds: row.get(T, "grounds")?,
        postponed: row.get(T, "postponed")?,
        ack_seconds: row.get(T, "ack_seconds")?,
        decision_seconds: row.get(T, "decision_seconds")?,
    }
    .parse()
}

pub(crate) fn stale_case(row: &impl RowAccess) -> Result<StaleCase, StoreError> {
    const T: &str = "case_index";
    Ok(StaleCase {
        id: row.get(T, "id")?,
        revision: row.get(T, "revision")?,
    })
}

/// A count of open cases in one state (`state`, `cases`, `overdue`
/// columns of the inbox's grouped query; both counts as 64-bit integers).
pub(crate) fn state_count(row: &impl RowAccess) -> Result<StateCount, StoreError> {
    const T: &str = "case_index";
    let cases: i64 = row.get(T, "cases")?;
    let overdue: i64 = row.get(T, "overdue")?;
    Ok(StateCount {
        state: row.get(T, "state")?,
        cases: u64::try_from(cases).unwrap_or(0),
        overdue: u64::try_from(overdue).unwrap_or(0),
    })
}

pub(crate) fn case_id(row: &impl RowAccess) -> Result<String, StoreError> {
    row.get("case_index", "id")
}

pub(crate) fn clock_fired(row: &impl RowAccess) -> Result<ClockFired, StoreError> {
    const T: &str = "clock_events";
    Ok(ClockFired {
        case_id: row.get(T, "case_id")?,
        clock: row.get(T, "clock")?,
        event: row.get(T, "event")?,
        due: row.time(T, "due")?,
        fired_at: row.time(T, "fired_at")?,
    })
}

pub(crate) fn node_info(row: &impl RowAccess) -> Result<RawNodeInfo, StoreError> {
    const T: &str = "node_info";
    Ok(RawNodeInfo {
        state: row.get(T, "state")?,
        name: row.get(T, "name")?,
        created_at: row.time(T, "created_at")?,
    })
}

pub(crate) fn request(row: &impl RowAccess) -> Result<RequestRecord, StoreError> {
    const T: &str = "requests";
    RawRequest {
        id: row.get(T, "id")?,
        kind: row.get(T, "kind")?,
        direction: row.get(T, "direction")?,
        counterpart: row.get(T, "counterpart")?,
        draft: row.get(T, "draft")?,
        created_at: row.time(T, "created_at")?,
    }
    .parse()
}

pub(crate) fn event(row: &impl RowAccess) -> Result<RawEvent, StoreError> {
    const T: &str = "request_events";
    Ok(RawEvent {
        request_id: row.get(T, "request_id")?,
        seq: row.get(T, "seq")?,
        at: row.time(T, "at")?,
        actor: row.get(T, "actor")?,
        kind: row.get(T, "kind")?,
        detail: row.get(T, "detail")?,
    })
}

pub(crate) fn directory(row: &impl RowAccess) -> Result<RawDirectory, StoreError> {
    const T: &str = "directory";
    Ok(RawDirectory {
        version: row.get(T, "version")?,
        signed: row.get(T, "signed")?,
        imported_at: row.time(T, "imported_at")?,
    })
}

pub(crate) fn message(row: &impl RowAccess) -> Result<MessageRecord, StoreError> {
    const T: &str = "messages";
    RawMessage {
        id: row.get(T, "id")?,
        thread: row.get(T, "thread")?,
        direction: row.get(T, "direction")?,
        counterpart: row.get(T, "counterpart")?,
        kind: row.get(T, "kind")?,
        prev: row.get(T, "prev")?,
        created_at: row.time(T, "created_at")?,
        recorded_at: row.time(T, "recorded_at")?,
        envelope: row.get(T, "envelope")?,
    }
    .parse()
}

/// A message with its place in recording order and its receipt (selected
/// as `seq, receipt, ` before the message's columns).
pub(crate) fn stored_message(row: &impl RowAccess) -> Result<StoredMessage, StoreError> {
    const T: &str = "messages";
    let seq: i64 = row.get(T, "seq")?;
    Ok(StoredMessage {
        seq: decode::seq(T, seq)?,
        receipt: row.get(T, "receipt")?,
        message: message(row)?,
    })
}

pub(crate) fn outbox(row: &impl RowAccess) -> Result<RawOutboxItem, StoreError> {
    const T: &str = "outbox";
    Ok(RawOutboxItem {
        seq: row.get(T, "seq")?,
        message_id: row.get(T, "message_id")?,
        recipient: row.get(T, "recipient")?,
        url: row.get(T, "url")?,
        ciphertext: row.get(T, "ciphertext")?,
        created_at: row.time(T, "created_at")?,
        next_attempt_at: row.time(T, "next_attempt_at")?,
        attempts: row.get(T, "attempts")?,
        state: row.get(T, "state")?,
        last_error: row.get(T, "last_error")?,
        delivered_at: row.optional_time(T, "delivered_at")?,
    })
}

pub(crate) fn refusal(row: &impl RowAccess) -> Result<RefusalRecord, StoreError> {
    const T: &str = "refusals";
    RawRefusal {
        seq: row.get(T, "seq")?,
        at: row.time(T, "at")?,
        peer: row.get(T, "peer")?,
        claimed_sender: row.get(T, "claimed_sender")?,
        code: row.get(T, "code")?,
        detail: row.get(T, "detail")?,
        body_sha256: row.get(T, "body_sha256")?,
        body_len: row.get(T, "body_len")?,
    }
    .parse()
}

/// A draft kept in clear: the request's id and the draft's bytes.
pub(crate) fn draft(row: &impl RowAccess) -> Result<(String, Vec<u8>), StoreError> {
    const T: &str = "requests";
    Ok((row.get(T, "id")?, row.get(T, "draft")?))
}

pub(crate) fn ledger_entry(row: &impl RowAccess) -> Result<RawLedgerEntry, StoreError> {
    const T: &str = "ledger_entries";
    Ok(RawLedgerEntry {
        idx: row.get(T, "idx")?,
        entry: row.get(T, "entry")?,
        recorded_at: row.time(T, "recorded_at")?,
    })
}

pub(crate) fn pending(row: &impl RowAccess) -> Result<PendingEntry, StoreError> {
    const T: &str = "ledger_pending";
    Ok(RawPending {
        id: row.get(T, "id")?,
        entry: row.get(T, "entry")?,
        queued_at: row.time(T, "queued_at")?,
    }
    .parse())
}

pub(crate) fn checkpoint(row: &impl RowAccess) -> Result<StoredCheckpoint, StoreError> {
    const T: &str = "ledger_checkpoints";
    RawCheckpoint {
        size: row.get(T, "size")?,
        note: row.get(T, "note")?,
        created_at: row.time(T, "created_at")?,
    }
    .parse()
}

pub(crate) fn witnessed(row: &impl RowAccess) -> Result<WitnessedState, StoreError> {
    const T: &str = "witnessed";
    RawWitnessed {
        origin: row.get(T, "origin")?,
        size: row.get(T, "size")?,
        note: row.get(T, "note")?,
        updated_at: row.time(T, "updated_at")?,
    }
    .parse()
}

pub(crate) fn fork(row: &impl RowAccess) -> Result<ForkRecord, StoreError> {
    const T: &str = "witness_forks";
    RawFork {
        id: row.get(T, "id")?,
        origin: row.get(T, "origin")?,
        detected_at: row.time(T, "detected_at")?,
        evidence: row.get(T, "evidence")?,
    }
    .parse()
}

pub(crate) fn cosignature(row: &impl RowAccess) -> Result<CosignatureRecord, StoreError> {
    const T: &str = "cosignatures";
    RawCosignature {
        size: row.get(T, "size")?,
        witness: row.get(T, "witness")?,
        line: row.get(T, "line")?,
        at: row.time(T, "at")?,
    }
    .parse()
}

/// One case row of the SQLite statistics scan of a period's ends, read in
/// place (no allocation): `direction, kind, counterpart, outcome,
/// postponed, grounds, ack_seconds, decision_seconds` of `case_index`.
pub(crate) fn stats_scan_row<'r>(row: &'r rusqlite::Row<'_>) -> Result<EdgeRow<'r>, StoreError> {
    const WHAT: &str = "count the cases of a period";
    let corrupt = |column: &'static str, detail: String| StoreError::Corrupt {
        table: "case_index",
        column,
        detail,
    };
    let text = |i: usize, column: &'static str| -> Result<&'r str, StoreError> {
        row.get_ref(i)
            .map_err(sqlite_db::failed(WHAT))?
            .as_str()
            .map_err(|e| corrupt(column, e.to_string()))
    };
    Ok(EdgeRow {
        direction: text(0, "direction")?,
        kind: text(1, "kind")?,
        counterpart: text(2, "counterpart")?,
        outcome: text(3, "outcome")?,
        postponed: row.get(4).map_err(sqlite_db::failed(WHAT))?,
        grounds: text(5, "grounds")?,
        ack: row.get(6).map_err(sqlite_db::failed(WHAT))?,
        decision: row.get(7).map_err(sqlite_db::failed(WHAT))?,
    })
}

/// One row of `case_stats_counts` (summed over spans): `direction, draft,
/// dimension, key, cases`.
pub(crate) fn stats_count(row: &impl RowAccess) -> Result<RollupCount, StoreError> {
    const T: &str = "case_stats_counts";
    Ok(RollupCount {
        direction: stats::direction(T, &row.get::<String>(T, "direction")?)?,
        draft: row.get(T, "draft")?,
        dimension: StatsDimension::parse(&row.get::<String>(T, "dimension")?)?,
        key: row.get(T, "key")?,
        cases: row.get(T, "cases")?,
    })
}

/// One row of `case_stats_times` (summed over spans): `direction, kind,
/// measure, bucket, cases`.
pub(crate) fn stats_bucket(row: &impl RowAccess) -> Result<RollupBucket, StoreError> {
    const T: &str = "case_stats_times";
    Ok(RollupBucket {
        direction: stats::direction(T, &row.get::<String>(T, "direction")?)?,
        kind: row.get(T, "kind")?,
        measure: Measure::parse(&row.get::<String>(T, "measure")?)?,
        bucket: row.get(T, "bucket")?,
        cases: row.get(T, "cases")?,
    })
}

/// One case row of a period's ends, owned: `direction, kind, counterpart,
/// outcome, postponed, grounds, ack_seconds, decision_seconds` of
/// `case_index`.
pub(crate) fn stats_case(row: &impl RowAccess) -> Result<StatsCase, StoreError> {
    const T: &str = "case_index";
    Ok(StatsCase {
        direction: row.get(T, "direction")?,
        kind: row.get(T, "kind")?,
        counterpart: row.get(T, "counterpart")?,
        outcome: row.get(T, "outcome")?,
        postponed: row.get(T, "postponed")?,
        grounds: row.get(T, "grounds")?,
        ack: row.get(T, "ack_seconds")?,
        decision: row.get(T, "decision_seconds")?,
    })
}

/// One response time of a histogram bucket's cases (`seconds`).
pub(crate) fn stats_seconds(row: &impl RowAccess) -> Result<i64, StoreError> {
    row.get("case_index", "seconds")
}
