//! The PostgreSQL adapter's case index and clock events (`case_index.rs`).

use sqlx::postgres::PgConnection;
use time::OffsetDateTime;

use crate::StoreError;
use crate::case_index::{
    self, CaseRow, CaseRowFilter, CaseWrite, ClockFired, StaleCase, StateCount,
};
use crate::decode::failed;
use crate::encode;
use crate::federation::OutgoingMessage;
use crate::postgres::PgStore;
use crate::postgres_write::{PgTx, finish};
use crate::records::NewEvent;
use crate::rows::{self, columns};
use crate::sqlite_cases::same_case;
use crate::txn;

/// Writes a derived row over the row of that revision.
async fn update_row(
    conn: &mut PgConnection,
    c: &CaseWrite<'_>,
    revision: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE case_index SET side = $2, state = $3, urgency = $4, open = $5, overdue = $6, \
         next_due = $7, due_rank = $8, last_step_at = $9, allowed = $10, stale = FALSE, \
         outcome = $12, grounds = $13, postponed = $14, ack_seconds = $15, decision_seconds = $16 \
         WHERE id = $1 AND revision = $11",
    )
    .bind(c.id)
    .bind(c.side)
    .bind(c.state)
    .bind(c.urgency)
    .bind(c.open)
    .bind(c.overdue)
    .bind(c.next_due)
    .bind(c.due_rank)
    .bind(c.last_step_at)
    .bind(&c.allowed)
    .bind(revision)
    .bind(c.outcome)
    .bind(&c.grounds)
    .bind(c.postponed)
    .bind(c.ack_seconds)
    .bind(c.decision_seconds)
    .execute(conn)
    .await
    .map_err(failed("write a case's index row"))?;
    Ok(done.rows_affected() == 1)
}

impl PgStore {
    pub(crate) async fn pg_list_cases(
        &self,
        filter: &CaseRowFilter,
    ) -> Result<Vec<CaseRow>, StoreError> {
        let offset = encode::count("offset", filter.offset)?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(case_index),
            " FROM case_index \
             WHERE ($1::boolean IS NULL OR open = $1) AND ($2::text IS NULL OR state = $2) \
               AND ($3::text IS NULL OR kind = $3) AND ($4::text IS NULL OR counterpart = $4) \
               AND ($5::bigint IS NULL OR urgency = $5) AND ($6::boolean IS NULL OR overdue = $6) AND ",
            crate::hidden_clause!("$9::text"),
            " ORDER BY open DESC, urgency, due_rank, created_at DESC, id DESC \
             LIMIT $7 OFFSET $8"
        ))
        .bind(filter.open)
        .bind(filter.state.as_deref())
        .bind(filter.kind.map(|k| k.as_str()))
        .bind(filter.counterpart.map(|c| c.as_str().to_owned()))
        .bind(filter.urgency.map(i64::from))
        .bind(filter.overdue)
        .bind(i64::from(filter.limit))
        .bind(offset)
        .bind(filter.hidden_from.as_deref())
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list cases"))?;
        rows.iter().map(rows::case).collect()
    }

    pub(crate) async fn pg_count_open_cases(
        &self,
        hidden_from: Option<&str>,
    ) -> Result<Vec<StateCount>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT state, count(*) AS cases, count(*) FILTER (WHERE overdue) AS overdue \
             FROM case_index WHERE open AND ",
            crate::hidden_clause!("$1::text"),
            " GROUP BY state ORDER BY state"
        ))
        .bind(hidden_from)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("count open cases"))?;
        rows.iter().map(rows::state_count).collect()
    }

    pub(crate) async fn pg_get_case(&self, id: &str) -> Result<Option<CaseRow>, StoreError> {
        if !encode::storable(id) {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(case_index),
            " FROM case_index WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read a case's index row"))?;
        row.as_ref().map(rows::case).transpose()
    }

    pub(crate) async fn pg_stale_cases(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<StaleCase>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, revision FROM case_index WHERE stale AND id > $1 ORDER BY id LIMIT $2",
        )
        .bind(encode::text("after", after)?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list stale cases"))?;
        rows.iter().map(rows::stale_case).collect()
    }

    pub(crate) async fn pg_case_revision(&self, id: &str) -> Result<Option<i64>, StoreError> {
        if !encode::storable(id) {
            return Ok(None);
        }
        sqlx::query_scalar("SELECT revision FROM case_index WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(failed("read a case's revision"))
    }

    pub(crate) async fn pg_put_case(
        &self,
        row: &CaseRow,
        revision: i64,
    ) -> Result<bool, StoreError> {
        let c = case_index::case_write(row)?;
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(failed("write a case's index row"))?;
        update_row(&mut conn, &c, revision).await
    }

    pub(crate) async fn pg_due_cases(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM case_index WHERE next_due <= $1 ORDER BY next_due LIMIT $2",
        )
        .bind(encode::timestamp("now", now)?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("find the cases due"))?;
        rows.iter().map(rows::case_id).collect()
    }

    pub(crate) async fn pg_case_index_format(&self) -> Result<i64, StoreError> {
        let format: Option<i64> =
            sqlx::query_scalar("SELECT format FROM case_index_format WHERE singleton = 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(failed("read the case index's format"))?;
        Ok(format.unwrap_or(0))
    }

    pub(crate) async fn pg_reset_case_index(&self, format: i64) -> Result<u64, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin resetting the case index"))?;
        let done: Result<u64, StoreError> = async {
            sqlx::query(
                "INSERT INTO case_index (id, kind, direction, counterpart, created_at) \
                 SELECT id, kind, direction, counterpart, created_at FROM requests \
                 ON CONFLICT (id) DO NOTHING",
            )
            .execute(&mut *tx)
            .await
            .map_err(failed("add missing case rows"))?;
            let marked = sqlx::query("UPDATE case_index SET stale = TRUE, revision = revision + 1")
                .execute(&mut *tx)
                .await
                .map_err(failed("mark every case stale"))?
                .rows_affected();
            sqlx::query(
                "INSERT INTO case_index_format (singleton, format) VALUES (1, $1) \
                 ON CONFLICT (singleton) DO UPDATE SET format = excluded.format",
            )
            .bind(format)
            .execute(&mut *tx)
            .await
            .map_err(failed("record the case index's format"))?;
            Ok(marked)
        }
        .await;
        finish(tx, done, "commit the case index's reset").await
    }

    pub(crate) async fn pg_bulk_put_cases(&self, rows: &[CaseRow]) -> Result<(), StoreError> {
        let writes = rows
            .iter()
            .map(case_index::case_write)
            .collect::<Result<Vec<_>, _>>()?;
        // One statement for the lot: each column as an array.
        let text = |f: &dyn Fn(&CaseWrite<'_>) -> String| -> Vec<String> {
            writes.iter().map(f).collect()
        };
        let ids = text(&|c| c.id.to_owned());
        let sides = text(&|c| c.side.to_owned());
        let states = text(&|c| c.state.to_owned());
        let allowed = text(&|c| c.allowed.clone());
        let kinds = text(&|c| c.kind.to_owned());
        let directions = text(&|c| c.direction.to_owned());
        let counterparts = text(&|c| c.counterpart.to_owned());
        let urgency: Vec<i64> = writes.iter().map(|c| c.urgency).collect();
        let open: Vec<bool> = writes.iter().map(|c| c.open).collect();
        let overdue: Vec<bool> = writes.iter().map(|c| c.overdue).collect();
        let next_due: Vec<Option<OffsetDateTime>> = writes.iter().map(|c| c.next_due).collect();
        let due_rank: Vec<i64> = writes.iter().map(|c| c.due_rank).collect();
        let last_step: Vec<Option<OffsetDateTime>> =
            writes.iter().map(|c| c.last_step_at).collect();
        let created: Vec<OffsetDateTime> = writes.iter().map(|c| c.created_at).collect();
        let outcomes = text(&|c| c.outcome.to_owned());
        let grounds = text(&|c| c.grounds.clone());
        let postponed: Vec<bool> = writes.iter().map(|c| c.postponed).collect();
        let ack: Vec<Option<i64>> = writes.iter().map(|c| c.ack_seconds).collect();
        let decision: Vec<Option<i64>> = writes.iter().map(|c| c.decision_seconds).collect();
        sqlx::query(
            "INSERT INTO case_index (id, side, state, urgency, open, overdue, next_due, due_rank, \
             last_step_at, allowed, stale, kind, direction, counterpart, created_at, outcome, \
             grounds, postponed, ack_seconds, decision_seconds) \
             SELECT id, side, state, urgency, open, overdue, next_due, due_rank, last_step_at, \
             allowed, FALSE, kind, direction, counterpart, created_at, outcome, grounds, \
             postponed, ack_seconds, decision_seconds \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::boolean[], \
             $6::boolean[], $7::timestamptz[], $8::bigint[], $9::timestamptz[], $10::text[], \
             $11::text[], $12::text[], $13::text[], $14::timestamptz[], $15::text[], \
             $16::text[], $17::boolean[], $18::bigint[], $19::bigint[]) \
             AS t (id, side, state, urgency, open, overdue, next_due, due_rank, last_step_at, \
             allowed, kind, direction, counterpart, created_at, outcome, grounds, postponed, \
             ack_seconds, decision_seconds) \
             ON CONFLICT (id) DO UPDATE SET side = excluded.side, state = excluded.state, \
             urgency = excluded.urgency, open = excluded.open, overdue = excluded.overdue, \
             next_due = excluded.next_due, due_rank = excluded.due_rank, \
             last_step_at = excluded.last_step_at, allowed = excluded.allowed, stale = FALSE, \
             kind = excluded.kind, direction = excluded.direction, \
             counterpart = excluded.counterpart, created_at = excluded.created_at, \
             outcome = excluded.outcome, grounds = excluded.grounds, \
             postponed = excluded.postponed, ack_seconds = excluded.ack_seconds, \
             decision_seconds = excluded.decision_seconds",
        )
        .bind(&ids)
        .bind(&sides)
        .bind(&states)
        .bind(&urgency)
        .bind(&open)
        .bind(&overdue)
        .bind(&next_due)
        .bind(&due_rank)
        .bind(&last_step)
        .bind(&allowed)
        .bind(&kinds)
        .bind(&directions)
        .bind(&counterparts)
        .bind(&created)
        .bind(&outcomes)
        .bind(&grounds)
        .bind(&postponed)
        .bind(&ack)
        .bind(&decision)
        .execute(&self.pool)
        .await
        .map_err(failed("seed the case index"))?;
        Ok(())
    }

    pub(crate) async fn pg_fired_events(
        &self,
        case_id: &str,
    ) -> Result<Vec<ClockFired>, StoreError> {
        if !encode::storable(case_id) {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(clock_events),
            " FROM clock_events WHERE case_id = $1 ORDER BY due, clock, event"
        ))
        .bind(case_id)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read a case's clock events"))?;
        rows.iter().map(rows::clock_fired).collect()
    }

    pub(crate) async fn pg_record_clock_event(
        &self,
        fired: &ClockFired,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        same_case(fired, &event.request_id)?;
        let key = case_index::fired_write(fired)?;
        let row = encode::event(event)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin firing a clock event"))?;
        let done = txn::record_clock_event(&mut PgTx(&mut tx), &key, &row).await;
        finish(tx, done, "commit a clock event").await
    }

    pub(crate) async fn pg_record_outgoing_once(
        &self,
        fired: &ClockFired,
        message: &OutgoingMessage,
    ) -> Result<bool, StoreError> {
        same_case(fired, &message.message.thread)?;
        let key = case_index::fired_write(fired)?;
        let out = encode::outgoing(message)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin recording a message"))?;
        let done = txn::record_outgoing_once(&mut PgTx(&mut tx), &key, &out).await;
        finish(tx, done, "commit a message").await
    }
}
