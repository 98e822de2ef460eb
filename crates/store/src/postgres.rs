//! The PostgreSQL adapter: for a State that runs several node replicas
//! against one database.
//!
//! Timestamps are `timestamptz` (microsecond precision, UTC); JSON is kept
//! in `json` columns, which store the document text verbatim, so key order
//! survives and `\u0000` escapes are accepted (`jsonb` would do neither).
//! Identifiers use the "C" collation so that ordering by id is bytewise, as
//! in SQLite, whatever the database's locale.

mod alerts;
mod cases;
mod ledger;
mod people;
mod safeguards;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use time::OffsetDateTime;

use crate::decode::{self, failed};
use crate::encode;
use crate::federation::{
    AcceptOutcome, IncomingMessage, MessageRecord, OutboxItem, OutboxState, OutgoingMessage,
    RefusalRecord, StoredDirectory, StoredMessage,
};
use crate::postgres_write::{self as write, PgTx, earlier_copy, finish};
use crate::records::{Backend, NewEvent, NodeInfo, RequestEvent, RequestFilter, RequestRecord};
use crate::rows::{self, columns};
use crate::txn::{self, Tx};
use crate::{FederationStore, RequestStore, Store, StoreError};

/// The PostgreSQL schema, embedded at build time.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// The version of the newest migration built into this binary.
pub(crate) fn latest_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// How long an operation waits for a free connection (or for a new one to
/// be established) before reporting the database unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections per process; several replicas may share one server.
const MAX_CONNECTIONS: u32 = 10;

/// A node's data in a PostgreSQL database.
#[derive(Debug, Clone)]
pub(crate) struct PgStore {
    pub(crate) pool: PgPool,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://…` or
    /// `postgresql://…`) and brings its schema up to date. Several processes
    /// may do this at once: the migrations take an advisory lock.
    pub(crate) async fn open(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::UnsupportedUrl(format!("malformed postgres URL: {e}")))?;
        // Named without the password, for messages.
        let target = match options.get_socket() {
            Some(socket) => format!("socket {}", socket.display()),
            None => format!("{}:{}", options.get_host(), options.get_port()),
        };
        let target = format!(
            "{target} as {} database {}",
            options.get_username(),
            options.get_database().unwrap_or("(default)")
        );

        // One connection first, outside the pool: a wrong address or login
        // fails at once with the server's reason, instead of being retried
        // until the pool's timeout.
        let unavailable = |e: sqlx::Error| {
            StoreError::Unavailable(format!("cannot connect to PostgreSQL at {target}: {e}"))
        };
        let probe = PgConnection::connect_with(&options)
            .await
            .map_err(unavailable)?;
        probe.close().await.map_err(unavailable)?;

        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        // Through the pool, not a borrowed connection: sqlx's migrator is
        // generic over `Acquire`, and only the pool form keeps this future
        // `Send` (checked by a test in lib.rs).
        MIGRATOR.run(&pool).await.map_err(|e| {
            decode::migration_failed(
                &format!("PostgreSQL at {target}"),
                decode::newest_migration(&MIGRATOR),
                e,
            )
        })?;
        Ok(PgStore { pool })
    }
}

impl PgStore {
    /// What `accept_incoming` answers when its transaction met a conflict
    /// (`error`): if the conflict was a copy of the same message committed
    /// meanwhile by another replica, that copy's outcome; else `error`.
    pub(crate) async fn after_conflict(
        &self,
        id: &str,
        error: StoreError,
    ) -> Result<AcceptOutcome, StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(failed("look up a message"))?;
        match earlier_copy(&mut conn, id).await? {
            Some((direction, receipt)) => decode::duplicate(id, &direction, receipt),
            None => Err(error),
        }
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn put_node_info(&self, info: &NodeInfo) -> Result<(), StoreError> {
        write::put_node_info(&self.pool, info).await
    }

    async fn node_info(&self) -> Result<Option<NodeInfo>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(node_info),
            " FROM node_info WHERE singleton = 1"
        ))
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read the node's identity"))?;
        row.map(|row| rows::node_info(&row)?.parse()).transpose()
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .map_err(failed("read the schema version"))
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl RequestStore for PgStore {
    async fn insert_request(&self, request: &RequestRecord) -> Result<(), StoreError> {
        let row = encode::request(request)?;
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(failed("insert a request"))?;
        if !PgTx(&mut conn).insert_request(&row).await? {
            return Err(StoreError::DuplicateRequest(request.id.clone()));
        }
        Ok(())
    }

    async fn get_request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError> {
        if !encode::storable(id) {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(requests),
            " FROM requests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read a request"))?;
        row.as_ref().map(rows::request).transpose()
    }

    async fn list_requests(
        &self,
        filter: &RequestFilter,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        // LIMIT NULL means no limit in PostgreSQL.
        let rows = sqlx::query(concat!(
            "SELECT id, kind, direction, counterpart, NULL::bytea AS draft, created_at \
             FROM requests WHERE ($1::text IS NULL OR direction = $1) \
               AND ($2::text IS NULL OR kind = $2) \
               AND ($3::text IS NULL OR counterpart = $3) AND ",
            crate::hidden_clause!("$5::text"),
            " ORDER BY created_at DESC, id DESC LIMIT $4"
        ))
        .bind(filter.direction.map(|d| d.as_str()))
        .bind(filter.kind.map(|k| k.as_str()))
        .bind(filter.counterpart.as_ref().map(|c| c.as_str().to_owned()))
        .bind(filter.limit.map(i64::from))
        .bind(filter.hidden_from.as_deref())
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list requests"))?;
        rows.iter().map(rows::request).collect()
    }

    async fn append_event(&self, event: &NewEvent) -> Result<RequestEvent, StoreError> {
        if !encode::storable(&event.request_id) {
            return Err(StoreError::UnknownRequest(event.request_id.clone()));
        }
        let row = encode::event(event)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin appending an event"))?;
        let unknown = || StoreError::UnknownRequest(event.request_id.clone());
        let seq = txn::append_event(&mut PgTx(&mut tx), &row, unknown).await;
        let seq = finish(tx, seq, "commit an event").await?;
        decode::appended(event, seq, row.at)
    }

    async fn record_request(
        &self,
        request: &RequestRecord,
        event: &NewEvent,
    ) -> Result<RequestEvent, StoreError> {
        encode::same_request(request, event)?;
        let request_row = encode::request(request)?;
        let row = encode::event(event)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin recording a request"))?;
        let seq = txn::record_request(&mut PgTx(&mut tx), &request_row, &row).await;
        let seq = finish(tx, seq, "commit a request").await?;
        decode::appended(event, seq, row.at)
    }

    async fn events(&self, request_id: &str) -> Result<Vec<RequestEvent>, StoreError> {
        if !encode::storable(request_id) {
            return Err(StoreError::UnknownRequest(request_id.to_owned()));
        }
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(request_events),
            " FROM request_events \
             WHERE request_id = $1 ORDER BY seq"
        ))
        .bind(request_id)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read a request's history"))?;
        if rows.is_empty() {
            let known: Option<i32> = sqlx::query_scalar("SELECT 1 FROM requests WHERE id = $1")
                .bind(request_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(failed("look up a request"))?;
            if known.is_none() {
                return Err(StoreError::UnknownRequest(request_id.to_owned()));
            }
        }
        decode::history(rows.iter().map(rows::event).collect::<Result<_, _>>()?)
    }
}

#[async_trait]
impl FederationStore for PgStore {
    async fn put_directory(&self, directory: &StoredDirectory) -> Result<(), StoreError> {
        write::put_directory(&self.pool, directory).await
    }

    async fn directory(&self) -> Result<Option<StoredDirectory>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(directory),
            " FROM directory WHERE singleton = 1"
        ))
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read the directory"))?;
        row.map(|row| rows::directory(&row)?.parse()).transpose()
    }

    async fn directory_version(&self) -> Result<Option<u64>, StoreError> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM directory WHERE singleton = 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(failed("read the directory's version"))?;
        version
            .map(|v| crate::decode::unsigned("directory", "version", "the directory", v))
            .transpose()
    }

    async fn record_outgoing(&self, message: &OutgoingMessage) -> Result<(), StoreError> {
        let out = encode::outgoing(message)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin recording a message"))?;
        let done = txn::record_outgoing(&mut PgTx(&mut tx), &out).await;
        finish(tx, done, "commit a message").await
    }

    async fn accept_incoming(
        &self,
        message: &IncomingMessage,
    ) -> Result<AcceptOutcome, StoreError> {
        let inc = encode::incoming(message)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin accepting a message"))?;
        let outcome = txn::accept_incoming(&mut PgTx(&mut tx), &inc).await;
        match finish(tx, outcome, "commit an accepted message").await {
            // Another replica may have been accepting a copy of the same
            // message: its uncommitted request or message made our insert
            // wait, then find the id taken; answer as for any duplicate.
            Err(taken @ (StoreError::DuplicateRequest(_) | StoreError::DuplicateMessage(_))) => {
                self.after_conflict(inc.message.id, taken).await
            }
            other => other,
        }
    }

    async fn get_message(&self, id: &str) -> Result<Option<MessageRecord>, StoreError> {
        if !encode::storable(id) {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(messages),
            " FROM messages WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read a message"))?;
        row.as_ref().map(rows::message).transpose()
    }

    async fn thread_messages(&self, thread: &str) -> Result<Vec<MessageRecord>, StoreError> {
        if !encode::storable(thread) {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(messages),
            " FROM messages WHERE thread = $1 ORDER BY seq"
        ))
        .bind(thread)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read a thread's messages"))?;
        rows.iter().map(rows::message).collect()
    }

    async fn messages_page(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT seq, receipt, ",
            columns!(messages),
            " FROM messages WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read a page of messages"))?;
        rows.iter().map(rows::stored_message).collect()
    }

    async fn reseal_message(&self, id: &str, old: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE messages SET envelope = $3 WHERE id = $1 AND envelope = $2")
            .bind(id)
            .bind(old)
            .bind(new)
            .execute(&self.pool)
            .await
            .map_err(failed("seal a stored envelope"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn unsealed_drafts(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, draft FROM requests \
             WHERE draft IS NOT NULL AND length(draft) > 0 AND get_byte(draft, 0) = 123 ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read drafts kept in clear"))?;
        rows.iter().map(rows::draft).collect()
    }

    async fn reseal_draft(&self, id: &str, old: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE requests SET draft = $3 WHERE id = $1 AND draft = $2")
            .bind(id)
            .bind(old)
            .bind(new)
            .execute(&self.pool)
            .await
            .map_err(failed("seal a stored draft"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn last_in_thread(&self, thread: &str) -> Result<Option<MessageRecord>, StoreError> {
        if !encode::storable(thread) {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(messages),
            " FROM messages WHERE thread = $1 ORDER BY seq DESC LIMIT 1"
        ))
        .bind(thread)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read a thread's last message"))?;
        row.as_ref().map(rows::message).transpose()
    }

    async fn receipt_for(&self, message_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if !encode::storable(message_id) {
            return Ok(None);
        }
        let receipt: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT receipt FROM messages WHERE id = $1")
                .bind(message_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(failed("read a receipt"))?;
        Ok(receipt.flatten())
    }

    async fn claim_due(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let (now, until) = encode::lease(now, lease)?;
        // SKIP LOCKED passes over rows another claimer is taking; a row
        // that claimer has already leased is re-checked against the lease
        // condition after its commit (READ COMMITTED), so it drops out.
        // MATERIALIZED makes the locking SELECT run exactly once.
        let rows = sqlx::query(concat!(
            "WITH due AS MATERIALIZED (\
               SELECT o.seq AS due_seq FROM outbox AS o \
               WHERE o.state = 'pending' AND o.next_attempt_at <= $1 \
                 AND (o.lease_until IS NULL OR o.lease_until <= $1) \
                 AND NOT EXISTS (SELECT 1 FROM outbox AS p \
                   WHERE p.state = 'pending' AND p.thread = o.thread \
                     AND p.recipient = o.recipient AND p.seq < o.seq) \
               ORDER BY o.created_at, o.seq LIMIT $3 \
               FOR UPDATE SKIP LOCKED) \
             UPDATE outbox SET lease_until = $2 FROM due WHERE outbox.seq = due.due_seq \
             RETURNING ",
            columns!(outbox)
        ))
        .bind(now)
        .bind(until)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("claim outbox items"))?;
        decode::claimed(rows.iter().map(rows::outbox).collect::<Result<_, _>>()?)
    }

    async fn mark_delivered(
        &self,
        message_id: &str,
        receipt: &[u8],
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        if !encode::storable(message_id) {
            return Err(StoreError::UnknownMessage(message_id.to_owned()));
        }
        let at = encode::timestamp("outbox.delivered_at", at)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin marking a delivery"))?;
        let done = txn::mark_delivered(&mut PgTx(&mut tx), message_id, receipt, at, ledger).await;
        finish(tx, done, "commit a delivery").await
    }

    async fn resign_outbox(
        &self,
        message_id: &str,
        ciphertext: &[u8],
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        if !encode::storable(message_id) {
            return Err(StoreError::UnknownMessage(message_id.to_owned()));
        }
        let at = encode::timestamp("ledger_queue.at", at)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin replacing an outbox ciphertext"))?;
        let done = txn::resign_outbox(&mut PgTx(&mut tx), message_id, ciphertext, at, ledger).await;
        finish(tx, done, "commit a replaced outbox ciphertext").await
    }

    async fn mark_retry(
        &self,
        message_id: &str,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        if !encode::storable(message_id) {
            return Err(StoreError::UnknownMessage(message_id.to_owned()));
        }
        let next = encode::timestamp("outbox.next_attempt_at", next_attempt_at)?;
        let error = encode::text("outbox.last_error", error)?;
        // One row changes: no transaction.
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(failed("schedule a retry"))?;
        txn::mark_retry(&mut PgTx(&mut conn), message_id, attempts, next, error).await
    }

    async fn mark_failed(
        &self,
        message_id: &str,
        error: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if !encode::storable(message_id) {
            return Err(StoreError::UnknownMessage(message_id.to_owned()));
        }
        let at = encode::timestamp("outbox.failed_at", at)?;
        let error = encode::text("outbox.last_error", error)?;
        // One row changes: no transaction.
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(failed("give up a delivery"))?;
        txn::mark_failed(&mut PgTx(&mut conn), message_id, error, at).await
    }

    async fn outbox_item(&self, message_id: &str) -> Result<Option<OutboxItem>, StoreError> {
        if !encode::storable(message_id) {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(outbox),
            " FROM outbox WHERE message_id = $1"
        ))
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read an outbox item"))?;
        row.map(|row| rows::outbox(&row)?.parse()).transpose()
    }

    async fn list_outbox(
        &self,
        state: Option<OutboxState>,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(outbox),
            " FROM outbox WHERE ($1::text IS NULL OR state = $1) \
             ORDER BY created_at DESC, seq DESC LIMIT $2"
        ))
        .bind(state.map(OutboxState::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list the outbox"))?;
        rows.iter().map(|row| rows::outbox(row)?.parse()).collect()
    }

    async fn record_refusal(&self, refusal: &RefusalRecord) -> Result<(), StoreError> {
        write::record_refusal(&self.pool, refusal).await
    }

    async fn refusals(&self, limit: u32) -> Result<Vec<RefusalRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(refusals),
            " FROM refusals ORDER BY at DESC, seq DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list refusals"))?;
        rows.iter().map(rows::refusal).collect()
    }
}
