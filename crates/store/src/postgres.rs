//! The PostgreSQL adapter: for a State that runs several node replicas
//! against one database.
//!
//! Timestamps are `timestamptz` (microsecond precision, UTC); JSON is kept
//! in `json` columns, which store the document text verbatim, so key order
//! survives and `\u0000` escapes are accepted (`jsonb` would do neither).
//! Identifiers use the "C" collation so that ordering by id is bytewise, as
//! in SQLite, whatever the database's locale.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use time::OffsetDateTime;

use crate::access::AccessRecord;
use crate::alerts::{AlertRecord, DeliveryRecord, NewAlert, NewDelivery, ShiftRecord};
use crate::case_index::{CaseRow, CaseRowFilter, ClockFired, StaleCase};
use crate::decode::{self, failed};
use crate::encode;
use crate::federation::{
    AcceptOutcome, IncomingMessage, MessageRecord, OutboxItem, OutboxState, OutgoingMessage,
    RefusalRecord, StoredDirectory, StoredMessage,
};
use crate::hash_blocks::{self, BlockRow};
use crate::ledger::{EntryDigest, LedgerEntry, LedgerScan, PendingEntry, StoredCheckpoint};
use crate::people::{SessionOutcome, SessionRecord, SignInState, TokenRecord, UserRecord};
use crate::postgres_people;
use crate::postgres_write::{self as write, PgTx, earlier_copy, finish};
use crate::records::{Backend, NewEvent, NodeInfo, RequestEvent, RequestFilter, RequestRecord};
use crate::rows::{self, columns};
use crate::txn::{self, Tx};
use crate::witness::{CosignatureRecord, ForkRecord, WitnessedState};
use crate::{Store, StoreError};

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

    async fn queue_ledger(
        &self,
        entries: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let at = encode::timestamp("ledger_pending.queued_at", at)?;
        if entries.is_empty() {
            return Ok(());
        }
        let entries: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin queueing ledger entries"))?;
        let done = PgTx(&mut tx).queue_entries(&entries, at).await;
        finish(tx, done, "commit queued ledger entries").await
    }

    async fn pending_ledger(&self, limit: u32) -> Result<Vec<PendingEntry>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(ledger_pending),
            " FROM ledger_pending ORDER BY id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read queued ledger entries"))?;
        rows.iter().map(rows::pending).collect()
    }

    async fn append_ledger(
        &self,
        expected_size: u64,
        consumed: &[i64],
        entries: &[Vec<u8>],
        hashes: &[(u64, [u8; 32])],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let batch = encode::append(expected_size, consumed, entries, hashes, at)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin appending to the ledger"))?;
        let done = txn::append_ledger(&mut PgTx(&mut tx), expected_size, &batch).await;
        finish(tx, done, "commit a ledger append").await
    }

    async fn append_ledger_checkpointed(
        &self,
        expected_size: u64,
        consumed: &[i64],
        entries: &[Vec<u8>],
        hashes: &[(u64, [u8; 32])],
        at: OffsetDateTime,
        checkpoint: &StoredCheckpoint,
    ) -> Result<(), StoreError> {
        if expected_size.checked_add(entries.len() as u64) != Some(checkpoint.size) {
            return Err(decode::checkpoint_not_appended(
                checkpoint.size,
                expected_size,
                entries.len(),
            ));
        }
        let batch = encode::append(expected_size, consumed, entries, hashes, at)?;
        let cp = encode::checkpoint(checkpoint)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin appending to the ledger"))?;
        let done = match txn::append_ledger(&mut PgTx(&mut tx), expected_size, &batch).await {
            Ok(()) => write::insert_checkpoint(&mut tx, checkpoint, &cp).await,
            Err(e) => Err(e),
        };
        finish(tx, done, "commit a ledger append").await
    }

    async fn ledger_size(&self) -> Result<u64, StoreError> {
        write::ledger_size(&self.pool).await
    }

    async fn ledger_hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<BlockRow> =
            sqlx::query_as("SELECT block, hashes FROM ledger_hash_blocks WHERE block = ANY($1)")
                .bind(hash_blocks::blocks_for(indexes.iter().copied()))
                .fetch_all(&self.pool)
                .await
                .map_err(failed("read ledger hashes"))?;
        hash_blocks::hashes_at(indexes, &rows)
    }

    async fn ledger_scan(
        &self,
        entries: u64,
        hashes: u64,
        digest: EntryDigest,
    ) -> Result<LedgerScan, StoreError> {
        // Rows cross the network page by page either way; two tasks keep
        // both streams moving.
        Ok(crate::ledger::scan_in_pages(
            self.clone(),
            entries,
            hashes,
            digest,
        ))
    }

    async fn ledger_entries(&self, from: u64, limit: u32) -> Result<Vec<LedgerEntry>, StoreError> {
        // The size is read first: entries are only ever added, so every
        // index below it must be found by the read that follows.
        let size = self.ledger_size().await?;
        let Ok(start) = i64::try_from(from) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(ledger_entries),
            " FROM ledger_entries WHERE idx >= $1 \
             ORDER BY idx LIMIT $2"
        ))
        .bind(start)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read ledger entries"))?;
        let rows = rows
            .iter()
            .map(rows::ledger_entry)
            .collect::<Result<_, _>>()?;
        decode::ledger_run(from, limit, size, rows)
    }

    async fn ledger_find(&self, entry: &[u8], from: u64) -> Result<Option<u64>, StoreError> {
        let Ok(start) = i64::try_from(from) else {
            return Ok(None);
        };
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT idx FROM ledger_entries WHERE idx >= $1 AND entry = $2 ORDER BY idx LIMIT 1",
        )
        .bind(start)
        .bind(entry)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("look for a ledger entry"))?;
        found.map(decode::ledger_index).transpose()
    }

    async fn ledger_entry(&self, index: u64) -> Result<Option<LedgerEntry>, StoreError> {
        // As in `ledger_entries`, the size first.
        let size = self.ledger_size().await?;
        let Some(idx) = i64::try_from(index).ok().filter(|_| index < size) else {
            return Ok(None);
        };
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(ledger_entries),
            " FROM ledger_entries WHERE idx = $1"
        ))
        .bind(idx)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read a ledger entry"))?;
        match row {
            Some(row) => rows::ledger_entry(&row)?.parse().map(Some),
            None => Err(decode::missing_entry(index)),
        }
    }

    async fn put_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError> {
        write::put_checkpoint(&self.pool, checkpoint).await
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(ledger_checkpoints),
            " FROM ledger_checkpoints ORDER BY size DESC LIMIT 1"
        ))
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read the latest checkpoint"))?;
        row.as_ref().map(rows::checkpoint).transpose()
    }

    async fn checkpoint(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(None);
        };
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(ledger_checkpoints),
            " FROM ledger_checkpoints WHERE size = $1"
        ))
        .bind(size)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read a checkpoint"))?;
        row.as_ref().map(rows::checkpoint).transpose()
    }

    async fn witnessed(&self, origin: &str) -> Result<Option<WitnessedState>, StoreError> {
        if !encode::storable(origin) {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(witnessed),
            " FROM witnessed WHERE origin = $1"
        ))
        .bind(origin)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read a witnessed checkpoint"))?;
        row.as_ref().map(rows::witnessed).transpose()
    }

    async fn put_witnessed(
        &self,
        state: &WitnessedState,
        expected_size: Option<u64>,
    ) -> Result<(), StoreError> {
        write::put_witnessed(&self.pool, state, expected_size).await
    }

    async fn list_witnessed(&self) -> Result<Vec<WitnessedState>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(witnessed),
            " FROM witnessed ORDER BY origin"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list witnessed checkpoints"))?;
        rows.iter().map(rows::witnessed).collect()
    }

    async fn record_fork(
        &self,
        origin: &str,
        evidence: &serde_json::Value,
        at: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        write::record_fork(&self.pool, origin, evidence, at).await
    }

    async fn forks(&self, limit: u32) -> Result<Vec<ForkRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(witness_forks),
            " FROM witness_forks \
             ORDER BY detected_at DESC, id DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list forks"))?;
        rows.iter().map(rows::fork).collect()
    }

    async fn put_cosignature(&self, cosignature: &CosignatureRecord) -> Result<(), StoreError> {
        write::put_cosignature(&self.pool, cosignature).await
    }

    async fn cosignatures(&self, size: u64) -> Result<Vec<CosignatureRecord>, StoreError> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(cosignatures),
            " FROM cosignatures WHERE size = $1 ORDER BY witness"
        ))
        .bind(size)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read cosignatures"))?;
        rows.iter().map(rows::cosignature).collect()
    }

    async fn latest_cosigned_size(&self, witness: &str) -> Result<Option<u64>, StoreError> {
        if !encode::storable(witness) {
            return Ok(None);
        }
        let largest: Option<i64> =
            sqlx::query_scalar("SELECT MAX(size) FROM cosignatures WHERE witness = $1")
                .bind(witness)
                .fetch_one(&self.pool)
                .await
                .map_err(failed("read the latest cosignature"))?;
        decode::latest_cosigned(witness, largest)
    }

    async fn list_cases(&self, filter: &CaseRowFilter) -> Result<Vec<CaseRow>, StoreError> {
        self.pg_list_cases(filter).await
    }

    async fn get_case(&self, id: &str) -> Result<Option<CaseRow>, StoreError> {
        self.pg_get_case(id).await
    }

    async fn count_open_cases(
        &self,
        hidden_from: Option<&str>,
    ) -> Result<Vec<crate::StateCount>, StoreError> {
        self.pg_count_open_cases(hidden_from).await
    }

    async fn stale_cases(&self, after: &str, limit: u32) -> Result<Vec<StaleCase>, StoreError> {
        self.pg_stale_cases(after, limit).await
    }

    async fn case_revision(&self, id: &str) -> Result<Option<i64>, StoreError> {
        self.pg_case_revision(id).await
    }

    async fn put_case(&self, row: &CaseRow, revision: i64) -> Result<bool, StoreError> {
        self.pg_put_case(row, revision).await
    }

    async fn due_cases(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<String>, StoreError> {
        self.pg_due_cases(now, limit).await
    }

    async fn case_index_format(&self) -> Result<i64, StoreError> {
        self.pg_case_index_format().await
    }

    async fn reset_case_index(&self, format: i64) -> Result<u64, StoreError> {
        self.pg_reset_case_index(format).await
    }

    async fn bulk_put_cases(&self, rows: &[CaseRow]) -> Result<(), StoreError> {
        self.pg_bulk_put_cases(rows).await
    }

    async fn case_statistics(
        &self,
        period: crate::StatsPeriod,
    ) -> Result<crate::CaseStatistics, StoreError> {
        self.pg_case_statistics(period).await
    }

    async fn fired_events(&self, case_id: &str) -> Result<Vec<ClockFired>, StoreError> {
        self.pg_fired_events(case_id).await
    }

    async fn record_clock_event(
        &self,
        fired: &ClockFired,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        self.pg_record_clock_event(fired, event).await
    }

    async fn record_outgoing_once(
        &self,
        fired: &ClockFired,
        message: &OutgoingMessage,
    ) -> Result<bool, StoreError> {
        self.pg_record_outgoing_once(fired, message).await
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .map_err(failed("read the schema version"))
    }

    // -- Access (`postgres_access.rs`).

    async fn record_accesses(
        &self,
        records: &[(crate::AccessRecord, Vec<u8>)],
    ) -> Result<Vec<i64>, StoreError> {
        self.pg_record_accesses(records).await
    }

    async fn access_records(
        &self,
        filter: &crate::AccessFilter,
    ) -> Result<Vec<crate::AccessRecord>, StoreError> {
        self.pg_access_records(filter).await
    }

    async fn grant_case(&self, grant: &crate::CaseGrant, entry: &[u8]) -> Result<i64, StoreError> {
        self.pg_grant_case(grant, entry).await
    }

    async fn revoke_case_grants(
        &self,
        case_id: &str,
        person: &str,
        by: &str,
        at: OffsetDateTime,
        entry: &[u8],
    ) -> Result<u64, StoreError> {
        self.pg_revoke_case_grants(case_id, person, by, at, entry)
            .await
    }

    async fn case_grants(&self, case_id: &str) -> Result<Vec<crate::CaseGrant>, StoreError> {
        self.pg_case_grants(case_id).await
    }

    // -- Confidentiality (`postgres_assignments.rs`), issue 18.

    async fn assign_case(
        &self,
        a: &crate::CaseAssignment,
        entry: &[u8],
    ) -> Result<Option<i64>, StoreError> {
        self.pg_assign_case(a, entry).await
    }

    async fn unassign_case(
        &self,
        case_id: &str,
        person: &str,
        by: &str,
        at: OffsetDateTime,
        entry: &[u8],
    ) -> Result<u64, StoreError> {
        self.pg_unassign_case(case_id, person, by, at, entry).await
    }

    async fn case_assignments(&self, id: &str) -> Result<Vec<crate::CaseAssignment>, StoreError> {
        self.pg_case_assignments(id).await
    }

    async fn mark_confidential(&self, mark: &crate::ConfidentialMark) -> Result<(), StoreError> {
        self.pg_mark_confidential(mark).await
    }

    async fn confidential_marks(
        &self,
        id: &str,
    ) -> Result<Vec<crate::ConfidentialMark>, StoreError> {
        self.pg_confidential_marks(id).await
    }

    async fn all_confidential_marks(&self) -> Result<Vec<crate::ConfidentialMark>, StoreError> {
        self.pg_all_confidential_marks().await
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    // -- People: the statements are in `postgres_people.rs`.

    async fn add_user(
        &self,
        user: &UserRecord,
        recovery_codes: &[String],
        ledger: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        postgres_people::add_user(self, user, recovery_codes, ledger, at).await
    }

    async fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        postgres_people::user(self, name).await
    }

    async fn set_user_language(
        &self,
        name: &str,
        language: Option<&str>,
    ) -> Result<bool, StoreError> {
        postgres_people::set_language(self, name, language).await
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        postgres_people::users(self).await
    }

    async fn change_user(
        &self,
        user: &UserRecord,
        recovery_codes: Option<&[String]>,
        ledger: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        postgres_people::change_user(self, user, recovery_codes, ledger, at).await
    }

    async fn set_sign_in_state(
        &self,
        name: &str,
        expected: &SignInState,
        new: &SignInState,
        ledger: &[Vec<u8>],
        access: &[AccessRecord],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        postgres_people::set_sign_in_state(self, name, expected, new, ledger, access, at).await
    }

    async fn open_session(
        &self,
        expected: &SignInState,
        new: &SignInState,
        recovery_code: Option<&str>,
        session: &SessionRecord,
        ledger: &[Vec<u8>],
        access: &[AccessRecord],
    ) -> Result<SessionOutcome, StoreError> {
        postgres_people::open_session(self, expected, new, recovery_code, session, ledger, access)
            .await
    }

    async fn recovery_codes_left(&self, name: &str) -> Result<u32, StoreError> {
        postgres_people::recovery_codes_left(self, name).await
    }

    async fn session_by_hash(
        &self,
        secret_hash: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        postgres_people::session_by_hash(self, secret_hash).await
    }

    async fn touch_session(&self, id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        postgres_people::touch_session(self, id, at).await
    }

    async fn sessions(&self, user: Option<&str>) -> Result<Vec<SessionRecord>, StoreError> {
        postgres_people::sessions(self, user).await
    }

    async fn revoke_session(
        &self,
        id: &str,
        ledger: &[Vec<u8>],
        access: &[AccessRecord],
        at: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        postgres_people::revoke_session(self, id, ledger, access, at).await
    }

    async fn put_token(
        &self,
        token: &TokenRecord,
        ledger: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        postgres_people::put_token(self, token, ledger, at).await
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        postgres_people::token_by_hash(self, secret_hash).await
    }

    async fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenRecord>, StoreError> {
        postgres_people::tokens(self, user).await
    }

    async fn revoke_token(
        &self,
        id: &str,
        ledger: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<Option<TokenRecord>, StoreError> {
        postgres_people::revoke_token(self, id, ledger, at).await
    }

    // -- The on-call rota and alerts (`pggres_alerts.rs`).

    async fn put_shift(&self, shift: &ShiftRecord, ledger: &[Vec<u8>]) -> Result<(), StoreError> {
        self.pg_put_shift(shift, ledger).await
    }

    async fn remove_shift(
        &self,
        id: &str,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        self.pg_remove_shift(id, at, ledger).await
    }

    async fn shifts(&self, include_removed: bool) -> Result<Vec<ShiftRecord>, StoreError> {
        self.pg_shifts(include_removed).await
    }

    async fn raise_alert(
        &self,
        alert: &AlertRecord,
        deliveries: &[NewDelivery],
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        self.pg_raise_alert(alert, deliveries, ledger).await
    }

    async fn alerts(&self, open_only: bool, limit: u32) -> Result<Vec<AlertRecord>, StoreError> {
        self.pg_alerts(open_only, limit).await
    }

    async fn get_alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        self.pg_get_alert(id).await
    }

    async fn acknowledge_alert(
        &self,
        id: &str,
        by: &str,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        self.pg_acknowledge_alert(id, by, at, ledger).await
    }

    async fn due_escalations(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        self.pg_due_escalations(now, limit).await
    }

    async fn escalate_alert(
        &self,
        id: &str,
        from_level: u32,
        escalate_at: Option<OffsetDateTime>,
        deliveries: &[NewDelivery],
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        self.pg_escalate_alert(id, from_level, escalate_at, deliveries, at, ledger)
            .await
    }

    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.pg_claim_deliveries(now, lease_until, limit).await
    }

    async fn delivery_done(
        &self,
        id: i64,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        self.pg_delivery_done(id, at, ledger).await
    }

    async fn delivery_retry(
        &self,
        id: i64,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        self.pg_delivery_retry(id, attempts, next_attempt_at, error)
            .await
    }

    async fn delivery_failed(
        &self,
        id: i64,
        attempts: u32,
        at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        self.pg_delivery_failed(id, attempts, at, error).await
    }

    async fn alert_deliveries(&self, alert_id: &str) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.pg_alert_deliveries(alert_id).await
    }

    async fn accept_incoming_alerting(
        &self,
        message: &IncomingMessage,
        alert: Option<&NewAlert>,
    ) -> Result<AcceptOutcome, StoreError> {
        self.pg_accept_incoming_alerting(message, alert).await
    }

    async fn record_clock_event_alerting(
        &self,
        fired: &ClockFired,
        event: &NewEvent,
        alert: Option<&NewAlert>,
    ) -> Result<bool, StoreError> {
        self.pg_record_clock_event_alerting(fired, event, alert)
            .await
    }

    async fn record_outgoing_once_alerting(
        &self,
        fired: &ClockFired,
        message: &OutgoingMessage,
        alert: Option<&NewAlert>,
    ) -> Result<bool, StoreError> {
        self.pg_record_outgoing_once_alerting(fired, message, alert)
            .await
    }

    // -- issue 18: use limits (`postgres_received.rs`).

    async fn index_received(
        &self,
        origin: &crate::ReceivedOrigin,
        hashes: &[String],
    ) -> Result<(), StoreError> {
        self.pg_index_received(origin, hashes).await
    }

    async fn received_origins(&self) -> Result<Vec<crate::ReceivedOrigin>, StoreError> {
        self.pg_received_origins().await
    }

    async fn received_files(
        &self,
        hashes: &[String],
    ) -> Result<Vec<crate::ReceivedFile>, StoreError> {
        self.pg_received_files(hashes).await
    }
    // -- issue 18: retention

    async fn retention(&self, case_id: &str) -> Result<Option<crate::RetentionRecord>, StoreError> {
        self.pg_retention(case_id).await
    }

    async fn put_retention(
        &self,
        record: &crate::RetentionRecord,
        change: Option<&crate::RetentionChange>,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        self.pg_put_retention(record, change, ledger).await
    }

    async fn retention_changes(
        &self,
        case_id: &str,
    ) -> Result<Vec<crate::RetentionChange>, StoreError> {
        self.pg_retention_changes(case_id).await
    }

    async fn due_deletions(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        self.pg_due_deletions(now, limit).await
    }

    async fn delete_case_content(
        &self,
        deletion: &crate::ContentDeletion,
        ledger: &[Vec<u8>],
        report: Option<&OutgoingMessage>,
    ) -> Result<Option<crate::ContentDeletion>, StoreError> {
        self.pg_delete_case_content(deletion, ledger, report).await
    }

    async fn content_deletion(
        &self,
        case_id: &str,
    ) -> Result<Option<crate::ContentDeletion>, StoreError> {
        self.pg_content_deletion(case_id).await
    }

    async fn deleted_cases(&self) -> Result<Vec<String>, StoreError> {
        self.pg_deleted_cases().await
    }
}
