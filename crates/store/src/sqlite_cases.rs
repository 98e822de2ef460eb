//! The SQLite adapter's case index and clock events (`case_index.rs`):
//! short reads on the calling thread, writes on the writer's thread.

use rusqlite::{Connection, params};
use time::OffsetDateTime;

use crate::StoreError;
use crate::case_index::{
    self, CaseRow, CaseRowFilter, CaseWrite, ClockFired, StaleCase, StateCount,
};
use crate::encode;
use crate::federation::OutgoingMessage;
use crate::records::NewEvent;
use crate::rows::{self, columns};
use crate::sqlite::SqliteStore;
use crate::sqlite_db::{all, execute, first, value};
use crate::sqlite_write::SqliteTx;
use crate::txn::{self, run_now};

/// Refuses a key and an event (or message) of different requests.
pub(crate) fn same_case(fired: &ClockFired, request_id: &str) -> Result<(), StoreError> {
    if fired.case_id == request_id {
        Ok(())
    } else {
        Err(StoreError::InvalidValue {
            field: "clock_events.case_id",
            problem: format!(
                "the key names case {:?}, the record request {request_id:?}",
                fired.case_id
            ),
        })
    }
}

/// Writes a derived row: over the row of that revision (`Some`), or
/// inserted or replaced whatever it held (`None`, seeding).
fn put_row(
    conn: &Connection,
    c: &CaseWrite<'_>,
    revision: Option<i64>,
) -> Result<bool, StoreError> {
    let next_due = c.next_due.map(encode::unix_micros);
    let last_step_at = c.last_step_at.map(encode::unix_micros);
    let done = match revision {
        Some(revision) => execute(
            conn,
            "UPDATE case_index SET side = ?2, state = ?3, urgency = ?4, open = ?5, overdue = ?6, \
             next_due = ?7, due_rank = ?8, last_step_at = ?9, allowed = ?10, stale = 0, \
             outcome = ?12, grounds = ?13, postponed = ?14, ack_seconds = ?15, \
             decision_seconds = ?16 \
             WHERE id = ?1 AND revision = ?11",
            params![
                c.id,
                c.side,
                c.state,
                c.urgency,
                c.open,
                c.overdue,
                next_due,
                c.due_rank,
                last_step_at,
                c.allowed,
                revision,
                c.outcome,
                c.grounds,
                c.postponed,
                c.ack_seconds,
                c.decision_seconds
            ],
            "write a case's index row",
        )?,
        None => execute(
            conn,
            "INSERT INTO case_index (id, side, state, urgency, open, overdue, next_due, due_rank, \
             last_step_at, allowed, stale, kind, direction, counterpart, created_at, outcome, \
             grounds, postponed, ack_seconds, decision_seconds) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11, ?12, ?13, ?14, ?15, ?16, \
             ?17, ?18, ?19) \
             ON CONFLICT (id) DO UPDATE SET side = excluded.side, state = excluded.state, \
             urgency = excluded.urgency, open = excluded.open, overdue = excluded.overdue, \
             next_due = excluded.next_due, due_rank = excluded.due_rank, \
             last_step_at = excluded.last_step_at, allowed = excluded.allowed, stale = 0, \
             kind = excluded.kind, direction = excluded.direction, \
             counterpart = excluded.counterpart, created_at = excluded.created_at, \
             outcome = excluded.outcome, grounds = excluded.grounds, \
             postponed = excluded.postponed, ack_seconds = excluded.ack_seconds, \
             decision_seconds = excluded.decision_seconds",
            params![
                c.id,
                c.side,
                c.state,
                c.urgency,
                c.open,
                c.overdue,
                next_due,
                c.due_rank,
                last_step_at,
                c.allowed,
                c.kind,
                c.direction,
                c.counterpart,
                encode::unix_micros(c.created_at),
                c.outcome,
                c.grounds,
                c.postponed,
                c.ack_seconds,
                c.decision_seconds
            ],
            "seed the case index",
        )?,
    };
    Ok(done == 1)
}

impl SqliteStore {
    pub(crate) async fn sqlite_list_cases(
        &self,
        filter: &CaseRowFilter,
    ) -> Result<Vec<CaseRow>, StoreError> {
        let state = filter.state.clone();
        let kind = filter.kind.map(|k| k.as_str());
        let counterpart = filter.counterpart.map(|c| c.as_str().to_owned());
        let urgency = filter.urgency.map(i64::from);
        let (open, overdue) = (filter.open, filter.overdue);
        let limit = i64::from(filter.limit);
        let offset = encode::count("offset", filter.offset)?;
        let hidden = filter.hidden_from.clone();
        self.read_long(move |conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    columns!(case_index),
                    " FROM case_index \
                     WHERE (?1 IS NULL OR open = ?1) AND (?2 IS NULL OR state = ?2) \
                       AND (?3 IS NULL OR kind = ?3) AND (?4 IS NULL OR counterpart = ?4) \
                       AND (?5 IS NULL OR urgency = ?5) AND (?6 IS NULL OR overdue = ?6) AND ",
                    crate::hidden_clause!("?9"),
                    " ORDER BY open DESC, urgency, due_rank, created_at DESC, id DESC \
                     LIMIT ?7 OFFSET ?8"
                ),
                params![
                    open,
                    state,
                    kind,
                    counterpart,
                    urgency,
                    overdue,
                    limit,
                    offset,
                    hidden
                ],
                "list cases",
                |row| rows::case(row),
            )
        })
        .await
    }

    pub(crate) async fn sqlite_count_open_cases(
        &self,
        hidden_from: Option<&str>,
    ) -> Result<Vec<StateCount>, StoreError> {
        let hidden = hidden_from.map(str::to_owned);
        self.read_long(move |conn| {
            all(
                conn,
                concat!(
                    "SELECT state, count(*) AS cases, CAST(total(overdue) AS INTEGER) AS overdue \
                     FROM case_index WHERE open = 1 AND ",
                    crate::hidden_clause!("?1"),
                    " GROUP BY state ORDER BY state"
                ),
                params![hidden],
                "count open cases",
                |row| rows::state_count(row),
            )
        })
        .await
    }

    pub(crate) async fn sqlite_get_case(&self, id: &str) -> Result<Option<CaseRow>, StoreError> {
        self.read(|conn| {
            first(
                conn,
                concat!(
                    "SELECT ",
                    columns!(case_index),
                    " FROM case_index WHERE id = ?1"
                ),
                [id],
                "read a case's index row",
                |row| rows::case(row),
            )
        })
    }

    pub(crate) async fn sqlite_stale_cases(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<StaleCase>, StoreError> {
        let after = after.to_owned();
        self.read_long(move |conn| {
            all(
                conn,
                "SELECT id, revision FROM case_index WHERE stale = 1 AND id > ?1 \
                 ORDER BY id LIMIT ?2",
                params![after, i64::from(limit)],
                "list stale cases",
                |row| rows::stale_case(row),
            )
        })
        .await
    }

    pub(crate) async fn sqlite_case_revision(&self, id: &str) -> Result<Option<i64>, StoreError> {
        self.read(|conn| {
            value(
                conn,
                "SELECT revision FROM case_index WHERE id = ?1",
                [id],
                "read a case's revision",
            )
        })
    }

    pub(crate) async fn sqlite_put_case(
        &self,
        row: &CaseRow,
        revision: i64,
    ) -> Result<bool, StoreError> {
        case_index::case_write(row)?;
        let row = row.clone();
        self.writer
            .write(move |conn| put_row(conn, &case_index::case_write(&row)?, Some(revision)))
            .await
    }

    pub(crate) async fn sqlite_due_cases(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let now = encode::unix_micros(encode::timestamp("now", now)?);
        self.read(|conn| {
            all(
                conn,
                "SELECT id FROM case_index WHERE next_due <= ?1 ORDER BY next_due LIMIT ?2",
                params![now, i64::from(limit)],
                "find the cases due",
                |row| rows::case_id(row),
            )
        })
    }

    pub(crate) async fn sqlite_case_index_format(&self) -> Result<i64, StoreError> {
        let format: Option<i64> = self.read(|conn| {
            value(
                conn,
                "SELECT format FROM case_index_format WHERE singleton = 1",
                [],
                "read the case index's format",
            )
        })?;
        Ok(format.unwrap_or(0))
    }

    pub(crate) async fn sqlite_reset_case_index(&self, format: i64) -> Result<u64, StoreError> {
        self.writer
            .write(move |conn| {
                execute(
                    conn,
                    "INSERT OR IGNORE INTO case_index (id, kind, direction, counterpart, created_at) \
                     SELECT id, kind, direction, counterpart, created_at FROM requests",
                    [],
                    "add missing case rows",
                )?;
                let marked = execute(
                    conn,
                    "UPDATE case_index SET stale = 1, revision = revision + 1",
                    [],
                    "mark every case stale",
                )?;
                execute(
                    conn,
                    "INSERT INTO case_index_format (singleton, format) VALUES (1, ?1) \
                     ON CONFLICT (singleton) DO UPDATE SET format = excluded.format",
                    [format],
                    "record the case index's format",
                )?;
                Ok(marked as u64)
            })
            .await
    }

    pub(crate) async fn sqlite_bulk_put_cases(&self, rows: &[CaseRow]) -> Result<(), StoreError> {
        for row in rows {
            case_index::case_write(row)?;
        }
        let rows = rows.to_vec();
        self.writer
            .write(move |conn| {
                for row in &rows {
                    put_row(conn, &case_index::case_write(row)?, None)?;
                }
                Ok(())
            })
            .await
    }

    pub(crate) async fn sqlite_fired_events(
        &self,
        case_id: &str,
    ) -> Result<Vec<ClockFired>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    columns!(clock_events),
                    " FROM clock_events WHERE case_id = ?1 ORDER BY due, clock, event"
                ),
                [case_id],
                "read a case's clock events",
                |row| rows::clock_fired(row),
            )
        })
    }

    pub(crate) async fn sqlite_record_clock_event(
        &self,
        fired: &ClockFired,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        same_case(fired, &event.request_id)?;
        let (fired, event) = (fired.clone(), event.clone());
        self.writer
            .write(move |conn| {
                let key = case_index::fired_write(&fired)?;
                let row = encode::event(&event)?;
                run_now(txn::record_clock_event(&mut SqliteTx(conn), &key, &row))
            })
            .await
    }

    pub(crate) async fn sqlite_record_outgoing_once(
        &self,
        fired: &ClockFired,
        message: &OutgoingMessage,
    ) -> Result<bool, StoreError> {
        same_case(fired, &message.message.thread)?;
        let (fired, message) = (fired.clone(), message.clone());
        self.writer
            .write(move |conn| {
                let key = case_index::fired_write(&fired)?;
                let out = encode::outgoing(&message)?;
                run_now(txn::record_outgoing_once(&mut SqliteTx(conn), &key, &out))
            })
            .await
    }
}
