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
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;

use crate::decode::{
    self, RawCheckpoint, RawCosignature, RawDirectory, RawEvent, RawFork, RawLedgerEntry,
    RawMessage, RawNodeInfo, RawOutboxItem, RawPending, RawRefusal, RawRequest, RawWitnessed,
    column, failed,
};
use crate::encode::{self, EventRow, MessageRow, RequestRow};
use crate::federation::{
    AcceptOutcome, IncomingMessage, MessageRecord, OutboxItem, OutboxState, OutgoingMessage,
    RefusalRecord, StoredDirectory, StoredMessage, TokenRecord,
};
use crate::hash_blocks::{self, BlockRow};
use crate::ledger::{EntryDigest, LedgerEntry, LedgerScan, PendingEntry, StoredCheckpoint};
use crate::records::{Backend, NewEvent, NodeInfo, RequestEvent, RequestFilter, RequestRecord};
use crate::witness::{CosignatureRecord, ForkRecord, WitnessedState};
use crate::{Store, StoreError};

/// The PostgreSQL schema, embedded at build time.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// How long an operation waits for a free connection (or for a new one to
/// be established) before reporting the database unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections per process; several replicas may share one server.
const MAX_CONNECTIONS: u32 = 10;

/// A node's data in a PostgreSQL database.
#[derive(Debug, Clone)]
pub(crate) struct PgStore {
    pool: PgPool,
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
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| decode::migration_failed(&format!("PostgreSQL at {target}"), e))?;
        Ok(PgStore { pool })
    }
}

fn node_info_row(row: &PgRow) -> Result<RawNodeInfo, StoreError> {
    const T: &str = "node_info";
    Ok(RawNodeInfo {
        state: column(row, T, "state")?,
        name: column(row, T, "name")?,
        created_at: column(row, T, "created_at")?,
    })
}

fn request_row(row: &PgRow) -> Result<RequestRecord, StoreError> {
    const T: &str = "requests";
    RawRequest {
        id: column(row, T, "id")?,
        kind: column(row, T, "kind")?,
        direction: column(row, T, "direction")?,
        counterpart: column(row, T, "counterpart")?,
        draft: column(row, T, "draft")?,
        created_at: column(row, T, "created_at")?,
    }
    .parse()
}

fn event_row(row: &PgRow) -> Result<RawEvent, StoreError> {
    const T: &str = "request_events";
    Ok(RawEvent {
        request_id: column(row, T, "request_id")?,
        seq: column(row, T, "seq")?,
        at: column(row, T, "at")?,
        actor: column(row, T, "actor")?,
        kind: column(row, T, "kind")?,
        detail: column(row, T, "detail")?,
    })
}

/// The columns of a message, in the order [`message_row`] reads them.
macro_rules! message_columns {
    () => {
        "id, thread, direction, counterpart, kind, prev, created_at, recorded_at, envelope"
    };
}

/// The columns of an outbox item, in the order [`outbox_row`] reads them.
macro_rules! outbox_columns {
    () => {
        "seq, message_id, recipient, url, ciphertext, created_at, next_attempt_at, attempts, \
         state, last_error, delivered_at"
    };
}

/// The columns of a token, in the order [`token_row`] reads them.
macro_rules! token_columns {
    () => {
        "id, name, secret_hash, created_at, revoked_at"
    };
}

fn message_row(row: &PgRow) -> Result<MessageRecord, StoreError> {
    const T: &str = "messages";
    RawMessage {
        id: column(row, T, "id")?,
        thread: column(row, T, "thread")?,
        direction: column(row, T, "direction")?,
        counterpart: column(row, T, "counterpart")?,
        kind: column(row, T, "kind")?,
        prev: column(row, T, "prev")?,
        created_at: column(row, T, "created_at")?,
        recorded_at: column(row, T, "recorded_at")?,
        envelope: column(row, T, "envelope")?,
    }
    .parse()
}

fn outbox_row(row: &PgRow) -> Result<RawOutboxItem, StoreError> {
    const T: &str = "outbox";
    Ok(RawOutboxItem {
        seq: column(row, T, "seq")?,
        message_id: column(row, T, "message_id")?,
        recipient: column(row, T, "recipient")?,
        url: column(row, T, "url")?,
        ciphertext: column(row, T, "ciphertext")?,
        created_at: column(row, T, "created_at")?,
        next_attempt_at: column(row, T, "next_attempt_at")?,
        attempts: column(row, T, "attempts")?,
        state: column(row, T, "state")?,
        last_error: column(row, T, "last_error")?,
        delivered_at: column(row, T, "delivered_at")?,
    })
}

fn refusal_row(row: &PgRow) -> Result<RefusalRecord, StoreError> {
    const T: &str = "refusals";
    RawRefusal {
        seq: column(row, T, "seq")?,
        at: column(row, T, "at")?,
        peer: column(row, T, "peer")?,
        claimed_sender: column(row, T, "claimed_sender")?,
        code: column(row, T, "code")?,
        detail: column(row, T, "detail")?,
        body_sha256: column(row, T, "body_sha256")?,
        body_len: column(row, T, "body_len")?,
    }
    .parse()
}

fn token_row(row: &PgRow) -> Result<TokenRecord, StoreError> {
    const T: &str = "tokens";
    Ok(TokenRecord {
        id: column(row, T, "id")?,
        name: column(row, T, "name")?,
        secret_hash: column(row, T, "secret_hash")?,
        created_at: column(row, T, "created_at")?,
        revoked_at: column(row, T, "revoked_at")?,
    })
}

/// Rolls back `tx` and returns `error`, the reason for abandoning it.
async fn abandon(tx: Transaction<'_, Postgres>, error: StoreError) -> StoreError {
    match tx.rollback().await {
        Ok(()) => error,
        Err(e) => failed("roll back a transaction")(e),
    }
}

/// Inserts a request; `false` if its id is taken (waiting, if another
/// transaction is inserting the same id, for that one to end).
async fn insert_request_row(
    conn: &mut PgConnection,
    r: &RequestRow<'_>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO requests (id, kind, direction, counterpart, draft, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(r.id)
    .bind(r.kind)
    .bind(r.direction)
    .bind(r.counterpart)
    .bind(r.draft)
    .bind(r.created_at)
    .execute(conn)
    .await
    .map_err(failed("insert a request"))?;
    Ok(done.rows_affected() == 1)
}

/// Takes the next event number of a request; `None` if it is not stored.
/// The request's row stays locked until the transaction ends, so
/// everything recorded in one thread is recorded one after the other.
async fn next_event_seq(
    conn: &mut PgConnection,
    request_id: &str,
) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar(
        "UPDATE requests SET last_event_seq = last_event_seq + 1 WHERE id = $1 \
         RETURNING last_event_seq",
    )
    .bind(request_id)
    .fetch_optional(conn)
    .await
    .map_err(failed("number an event"))
}

async fn insert_event_row(
    conn: &mut PgConnection,
    e: &EventRow<'_>,
    seq: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO request_events (request_id, seq, at, actor, kind, detail) \
         VALUES ($1, $2, $3, $4, $5, $6::json)",
    )
    .bind(e.request_id)
    .bind(seq)
    .bind(e.at)
    .bind(e.actor)
    .bind(e.kind)
    .bind(&e.detail)
    .execute(conn)
    .await
    .map_err(failed("append an event"))?;
    Ok(())
}

/// Inserts a message; `false` if its id is taken.
async fn insert_message_row(
    conn: &mut PgConnection,
    m: &MessageRow<'_>,
    receipt: Option<&[u8]>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO messages (id, thread, direction, counterpart, kind, prev, created_at, \
         recorded_at, envelope, receipt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(m.id)
    .bind(m.thread)
    .bind(m.direction)
    .bind(m.counterpart)
    .bind(m.kind)
    .bind(m.prev)
    .bind(m.created_at)
    .bind(m.recorded_at)
    .bind(m.envelope)
    .bind(receipt)
    .execute(conn)
    .await
    .map_err(failed("insert a message"))?;
    Ok(done.rows_affected() == 1)
}

/// The direction and receipt of a stored message, if one has this id.
async fn earlier_copy(
    conn: &mut PgConnection,
    id: &str,
) -> Result<Option<(String, Option<Vec<u8>>)>, StoreError> {
    sqlx::query_as("SELECT direction, receipt FROM messages WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(failed("look up a message"))
}

/// After an update of a pending outbox item changed nothing: fine if the
/// item exists (it was settled meanwhile), [`StoreError::UnknownMessage`]
/// if it was never queued.
async fn settled_or_unknown(pool: &PgPool, message_id: &str) -> Result<(), StoreError> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM outbox WHERE message_id = $1")
        .bind(message_id)
        .fetch_optional(pool)
        .await
        .map_err(failed("look up an outbox item"))?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::UnknownMessage(message_id.to_owned())),
    }
}

/// Queues ledger entries, in order, as of `at` (already at storage
/// precision). One statement per entry, so ids follow the order given.
async fn queue_entries(
    conn: &mut PgConnection,
    entries: &[&[u8]],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    // One statement for the lot; ids are drawn as the rows come, in the
    // order given.
    sqlx::query(
        "INSERT INTO ledger_pending (entry, queued_at) \
         SELECT entry, $2 FROM UNNEST($1::bytea[]) WITH ORDINALITY AS q (entry, n) ORDER BY n",
    )
    .bind(entries)
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(failed("queue ledger entries"))?;
    Ok(())
}

/// The ledger's size as the connection sees it.
async fn read_ledger_size(conn: &mut PgConnection) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar("SELECT size FROM ledger_head WHERE singleton = 1")
        .fetch_optional(conn)
        .await
        .map_err(failed("read the ledger's size"))
}

fn ledger_entry_row(row: &PgRow) -> Result<RawLedgerEntry, StoreError> {
    const T: &str = "ledger_entries";
    Ok(RawLedgerEntry {
        idx: column(row, T, "idx")?,
        entry: column(row, T, "entry")?,
        recorded_at: column(row, T, "recorded_at")?,
    })
}

fn checkpoint_row(row: &PgRow) -> Result<StoredCheckpoint, StoreError> {
    const T: &str = "ledger_checkpoints";
    RawCheckpoint {
        size: column(row, T, "size")?,
        note: column(row, T, "note")?,
        created_at: column(row, T, "created_at")?,
    }
    .parse()
}

impl PgStore {
    /// What `accept_incoming` answers when its transaction met a conflict
    /// (`error`): if the conflict was a copy of the same message committed
    /// meanwhile by another replica, that copy's outcome; else `error`.
    async fn after_conflict(
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

fn witnessed_row(row: &PgRow) -> Result<WitnessedState, StoreError> {
    const T: &str = "witnessed";
    RawWitnessed {
        origin: column(row, T, "origin")?,
        size: column(row, T, "size")?,
        note: column(row, T, "note")?,
        updated_at: column(row, T, "updated_at")?,
    }
    .parse()
}

fn fork_row(row: &PgRow) -> Result<ForkRecord, StoreError> {
    const T: &str = "witness_forks";
    RawFork {
        id: column(row, T, "id")?,
        origin: column(row, T, "origin")?,
        detected_at: column(row, T, "detected_at")?,
        evidence: column(row, T, "evidence")?,
    }
    .parse()
}

fn cosignature_row(row: &PgRow) -> Result<CosignatureRecord, StoreError> {
    const T: &str = "cosignatures";
    RawCosignature {
        size: column(row, T, "size")?,
        witness: column(row, T, "witness")?,
        line: column(row, T, "line")?,
        at: column(row, T, "at")?,
    }
    .parse()
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn put_node_info(&self, info: &NodeInfo) -> Result<(), StoreError> {
        let created_at = encode::timestamp("node_info.created_at", info.created_at)?;
        sqlx::query(
            "INSERT INTO node_info (singleton, state, name, created_at) VALUES (1, $1, $2, $3) \
             ON CONFLICT (singleton) DO UPDATE SET \
             state = excluded.state, name = excluded.name, created_at = excluded.created_at",
        )
        .bind(info.state.as_str())
        .bind(encode::text("node_info.name", &info.name)?)
        .bind(created_at)
        .execute(&self.pool)
        .await
        .map_err(failed("store the node's identity"))?;
        Ok(())
    }

    async fn node_info(&self) -> Result<Option<NodeInfo>, StoreError> {
        let row = sqlx::query("SELECT state, name, created_at FROM node_info WHERE singleton = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(failed("read the node's identity"))?;
        row.map(|row| node_info_row(&row)?.parse()).transpose()
    }

    async fn insert_request(&self, request: &RequestRecord) -> Result<(), StoreError> {
        let row = encode::request(request)?;
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(failed("insert a request"))?;
        if !insert_request_row(&mut conn, &row).await? {
            return Err(StoreError::DuplicateRequest(request.id.clone()));
        }
        Ok(())
    }

    async fn get_request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError> {
        if !encode::storable(id) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, kind, direction, counterpart, draft, created_at \
             FROM requests WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read a request"))?;
        row.as_ref().map(request_row).transpose()
    }

    async fn list_requests(
        &self,
        filter: &RequestFilter,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        // LIMIT NULL means no limit in PostgreSQL.
        let rows = sqlx::query(
            "SELECT id, kind, direction, counterpart, NULL::bytea AS draft, created_at \
             FROM requests WHERE ($1::text IS NULL OR direction = $1) \
               AND ($2::text IS NULL OR kind = $2) \
               AND ($3::text IS NULL OR counterpart = $3) \
             ORDER BY created_at DESC, id DESC \
             LIMIT $4",
        )
        .bind(filter.direction.map(|d| d.as_str()))
        .bind(filter.kind.map(|k| k.as_str()))
        .bind(filter.counterpart.as_ref().map(|c| c.as_str().to_owned()))
        .bind(filter.limit.map(i64::from))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list requests"))?;
        rows.iter().map(request_row).collect()
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
        // The UPDATE locks the request's row until commit, so concurrent
        // appenders to one request take numbers one after another; under
        // READ COMMITTED a waiting UPDATE sees the committed counter.
        let Some(seq) = next_event_seq(&mut tx, row.request_id).await? else {
            let unknown = StoreError::UnknownRequest(event.request_id.clone());
            return Err(abandon(tx, unknown).await);
        };
        insert_event_row(&mut tx, &row, seq).await?;
        queue_entries(&mut tx, row.ledger.as_slice(), row.at).await?;
        tx.commit().await.map_err(failed("commit an event"))?;

        decode::appended(event, seq, row.at)
    }

    async fn record_request(
        &self,
        request: &RequestRecord,
        event: &NewEvent,
    ) -> Result<RequestEvent, StoreError> {
        if event.request_id != request.id {
            return Err(StoreError::InvalidValue {
                field: "event.request_id",
                problem: format!("the event belongs to another request than {:?}", request.id),
            });
        }
        let request_row = encode::request(request)?;
        let row = encode::event(event)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin recording a request"))?;
        if !insert_request_row(&mut tx, &request_row).await? {
            let duplicate = StoreError::DuplicateRequest(request.id.clone());
            return Err(abandon(tx, duplicate).await);
        }
        let Some(seq) = next_event_seq(&mut tx, row.request_id).await? else {
            let unknown = StoreError::UnknownRequest(event.request_id.clone());
            return Err(abandon(tx, unknown).await);
        };
        insert_event_row(&mut tx, &row, seq).await?;
        queue_entries(&mut tx, row.ledger.as_slice(), row.at).await?;
        tx.commit().await.map_err(failed("commit a request"))?;
        decode::appended(event, seq, row.at)
    }

    async fn events(&self, request_id: &str) -> Result<Vec<RequestEvent>, StoreError> {
        if !encode::storable(request_id) {
            return Err(StoreError::UnknownRequest(request_id.to_owned()));
        }
        let rows = sqlx::query(
            "SELECT request_id, seq, at, actor, kind, detail::text AS detail FROM request_events \
             WHERE request_id = $1 ORDER BY seq",
        )
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
        decode::history(rows.iter().map(event_row).collect::<Result<_, _>>()?)
    }

    async fn put_directory(&self, directory: &StoredDirectory) -> Result<(), StoreError> {
        let version = encode::count("directory.version", directory.version)?;
        let imported_at = encode::timestamp("directory.imported_at", directory.imported_at)?;
        let done = sqlx::query(
            "INSERT INTO directory (singleton, version, signed, imported_at) \
             VALUES (1, $1, $2, $3) \
             ON CONFLICT (singleton) DO UPDATE SET version = excluded.version, \
             signed = excluded.signed, imported_at = excluded.imported_at \
             WHERE excluded.version > directory.version",
        )
        .bind(version)
        .bind(directory.signed.as_slice())
        .bind(imported_at)
        .execute(&self.pool)
        .await
        .map_err(failed("store the directory"))?;
        if done.rows_affected() == 0 {
            let current: i64 =
                sqlx::query_scalar("SELECT version FROM directory WHERE singleton = 1")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(failed("read the directory's version"))?;
            return Err(StoreError::StaleDirectory {
                current: u64::try_from(current).unwrap_or(0),
                offered: directory.version,
            });
        }
        Ok(())
    }

    async fn directory(&self) -> Result<Option<StoredDirectory>, StoreError> {
        const T: &str = "directory";
        let row =
            sqlx::query("SELECT version, signed, imported_at FROM directory WHERE singleton = 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(failed("read the directory"))?;
        row.map(|row| {
            RawDirectory {
                version: column(&row, T, "version")?,
                signed: column(&row, T, "signed")?,
                imported_at: column(&row, T, "imported_at")?,
            }
            .parse()
        })
        .transpose()
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
        if let Some(request) = &out.request
            && !insert_request_row(&mut tx, request).await?
        {
            let taken = StoreError::DuplicateRequest(request.id.to_owned());
            return Err(abandon(tx, taken).await);
        }
        let Some(seq) = next_event_seq(&mut tx, out.message.thread).await? else {
            let unknown = StoreError::UnknownRequest(out.message.thread.to_owned());
            return Err(abandon(tx, unknown).await);
        };
        if !insert_message_row(&mut tx, &out.message, None).await? {
            let taken = StoreError::DuplicateMessage(out.message.id.to_owned());
            return Err(abandon(tx, taken).await);
        }
        insert_event_row(&mut tx, &out.event, seq).await?;
        let o = &out.outbox;
        sqlx::query(
            "INSERT INTO outbox (message_id, thread, recipient, url, ciphertext, created_at, \
             next_attempt_at, attempts, state, last_error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9)",
        )
        .bind(o.message_id)
        .bind(o.thread)
        .bind(o.recipient)
        .bind(o.url)
        .bind(o.ciphertext)
        .bind(o.created_at)
        .bind(o.next_attempt_at)
        .bind(o.attempts)
        .bind(o.last_error)
        .execute(&mut *tx)
        .await
        .map_err(failed("queue a message"))?;
        queue_entries(&mut tx, &out.ledger, out.message.recorded_at).await?;
        tx.commit().await.map_err(failed("commit a message"))
    }

    async fn accept_incoming(
        &self,
        message: &IncomingMessage,
    ) -> Result<AcceptOutcome, StoreError> {
        let inc = encode::incoming(message)?;
        let m = &inc.message;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin accepting a message"))?;
        if let Some((direction, receipt)) = earlier_copy(&mut tx, m.id).await? {
            tx.rollback()
                .await
                .map_err(failed("end a read of a duplicate"))?;
            return decode::duplicate(m.id, &direction, receipt);
        }
        // Another replica may be accepting a copy of the same message right
        // now: its uncommitted request or message makes our insert wait,
        // then find the id taken; `after_conflict` then answers as for any
        // duplicate.
        if let Some(request) = &inc.request
            && !insert_request_row(&mut tx, request).await?
        {
            let taken = StoreError::DuplicateRequest(request.id.to_owned());
            let taken = abandon(tx, taken).await;
            return self.after_conflict(m.id, taken).await;
        }
        let Some(seq) = next_event_seq(&mut tx, m.thread).await? else {
            let unknown = StoreError::UnknownRequest(m.thread.to_owned());
            return Err(abandon(tx, unknown).await);
        };
        if let Some(prev) = m.prev {
            let found: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM messages WHERE id = $1 AND thread = $2")
                    .bind(prev)
                    .bind(m.thread)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(failed("look up the previous message"))?;
            if found.is_none() {
                let gap = StoreError::OutOfOrder {
                    prev: prev.to_owned(),
                };
                return Err(abandon(tx, gap).await);
            }
        }
        if !insert_message_row(&mut tx, m, Some(inc.receipt)).await? {
            let taken = StoreError::DuplicateMessage(m.id.to_owned());
            let taken = abandon(tx, taken).await;
            return self.after_conflict(m.id, taken).await;
        }
        insert_event_row(&mut tx, &inc.event, seq).await?;
        queue_entries(&mut tx, &inc.ledger, m.recorded_at).await?;
        tx.commit()
            .await
            .map_err(failed("commit an accepted message"))?;
        Ok(AcceptOutcome::Accepted)
    }

    async fn get_message(&self, id: &str) -> Result<Option<MessageRecord>, StoreError> {
        if !encode::storable(id) {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read a message"))?;
        row.as_ref().map(message_row).transpose()
    }

    async fn thread_messages(&self, thread: &str) -> Result<Vec<MessageRecord>, StoreError> {
        if !encode::storable(thread) {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE thread = $1 ORDER BY seq"
        ))
        .bind(thread)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read a thread's messages"))?;
        rows.iter().map(message_row).collect()
    }

    async fn messages_page(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT seq, receipt, ",
            message_columns!(),
            " FROM messages WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read a page of messages"))?;
        rows.iter()
            .map(|row| {
                let seq: i64 = column(row, "messages", "seq")?;
                Ok(StoredMessage {
                    seq: decode::seq("messages", seq)?,
                    receipt: column(row, "messages", "receipt")?,
                    message: message_row(row)?,
                })
            })
            .collect()
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
        rows.iter()
            .map(|row| {
                Ok((
                    column(row, "requests", "id")?,
                    column(row, "requests", "draft")?,
                ))
            })
            .collect()
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
            message_columns!(),
            " FROM messages WHERE thread = $1 ORDER BY seq DESC LIMIT 1"
        ))
        .bind(thread)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read a thread's last message"))?;
        row.as_ref().map(message_row).transpose()
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
            outbox_columns!()
        ))
        .bind(now)
        .bind(until)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("claim outbox items"))?;
        decode::claimed(rows.iter().map(outbox_row).collect::<Result<_, _>>()?)
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
        let done = sqlx::query(
            "UPDATE outbox SET state = 'delivered', delivered_at = $2, lease_until = NULL \
             WHERE message_id = $1 AND state <> 'delivered'",
        )
        .bind(message_id)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(failed("mark a delivery"))?;
        if done.rows_affected() == 0 {
            tx.rollback()
                .await
                .map_err(failed("end marking a delivery"))?;
            return settled_or_unknown(&self.pool, message_id).await;
        }
        sqlx::query("UPDATE messages SET receipt = $2 WHERE id = $1")
            .bind(message_id)
            .bind(receipt)
            .execute(&mut *tx)
            .await
            .map_err(failed("store a receipt"))?;
        let entries: Vec<&[u8]> = ledger.iter().map(Vec::as_slice).collect();
        queue_entries(&mut tx, &entries, at).await?;
        tx.commit().await.map_err(failed("commit a delivery"))
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
        let done = sqlx::query(
            "UPDATE outbox SET ciphertext = $2 WHERE message_id = $1 AND state = 'pending'",
        )
        .bind(message_id)
        .bind(ciphertext)
        .execute(&mut *tx)
        .await
        .map_err(failed("replace an outbox ciphertext"))?;
        if done.rows_affected() == 0 {
            tx.rollback()
                .await
                .map_err(failed("end replacing an outbox ciphertext"))?;
            return settled_or_unknown(&self.pool, message_id).await;
        }
        let entries: Vec<&[u8]> = ledger.iter().map(Vec::as_slice).collect();
        queue_entries(&mut tx, &entries, at).await?;
        tx.commit()
            .await
            .map_err(failed("commit a replaced outbox ciphertext"))
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
        let done = sqlx::query(
            "UPDATE outbox SET attempts = $2, next_attempt_at = $3, last_error = $4, \
             lease_until = NULL WHERE message_id = $1 AND state = 'pending'",
        )
        .bind(message_id)
        .bind(i64::from(attempts))
        .bind(next)
        .bind(error)
        .execute(&self.pool)
        .await
        .map_err(failed("schedule a retry"))?;
        if done.rows_affected() == 0 {
            return settled_or_unknown(&self.pool, message_id).await;
        }
        Ok(())
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
        let done = sqlx::query(
            "UPDATE outbox SET state = 'failed', last_error = $2, failed_at = $3, \
             lease_until = NULL WHERE message_id = $1 AND state = 'pending'",
        )
        .bind(message_id)
        .bind(error)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(failed("give up a delivery"))?;
        if done.rows_affected() == 0 {
            return settled_or_unknown(&self.pool, message_id).await;
        }
        Ok(())
    }

    async fn outbox_item(&self, message_id: &str) -> Result<Option<OutboxItem>, StoreError> {
        if !encode::storable(message_id) {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            outbox_columns!(),
            " FROM outbox WHERE message_id = $1"
        ))
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read an outbox item"))?;
        row.map(|row| outbox_row(&row)?.parse()).transpose()
    }

    async fn list_outbox(
        &self,
        state: Option<OutboxState>,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            outbox_columns!(),
            " FROM outbox WHERE ($1::text IS NULL OR state = $1) \
             ORDER BY created_at DESC, seq DESC LIMIT $2"
        ))
        .bind(state.map(OutboxState::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list the outbox"))?;
        rows.iter().map(|row| outbox_row(row)?.parse()).collect()
    }

    async fn record_refusal(&self, refusal: &RefusalRecord) -> Result<(), StoreError> {
        let r = encode::refusal(refusal)?;
        sqlx::query(
            "INSERT INTO refusals (at, peer, claimed_sender, code, detail, body_sha256, body_len) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(r.at)
        .bind(r.peer)
        .bind(r.claimed_sender)
        .bind(r.code)
        .bind(r.detail)
        .bind(r.body_sha256)
        .bind(r.body_len)
        .execute(&self.pool)
        .await
        .map_err(failed("record a refusal"))?;
        Ok(())
    }

    async fn refusals(&self, limit: u32) -> Result<Vec<RefusalRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, peer, claimed_sender, code, detail, body_sha256, body_len \
             FROM refusals ORDER BY at DESC, seq DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list refusals"))?;
        rows.iter().map(refusal_row).collect()
    }

    async fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        let t = encode::token(token)?;
        let done = sqlx::query(
            "INSERT INTO tokens (id, name, secret_hash, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(t.id)
        .bind(t.name)
        .bind(t.secret_hash)
        .bind(t.created_at)
        .bind(t.revoked_at)
        .execute(&self.pool)
        .await
        .map_err(failed("store a token"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::DuplicateToken(token.id.clone()));
        }
        Ok(())
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        if !encode::storable(secret_hash) {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens WHERE secret_hash = $1"
        ))
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("look up a token"))?;
        row.as_ref().map(token_row).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list tokens"))?;
        rows.iter().map(token_row).collect()
    }

    async fn revoke_token(
        &self,
        id: &str,
        at: OffsetDateTime,
    ) -> Result<Option<TokenRecord>, StoreError> {
        if !encode::storable(id) {
            return Ok(None);
        }
        let at = encode::timestamp("tokens.revoked_at", at)?;
        let row = sqlx::query(concat!(
            "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING ",
            token_columns!()
        ))
        .bind(id)
        .bind(at)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("revoke a token"))?;
        row.as_ref().map(token_row).transpose()
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
        queue_entries(&mut tx, &entries, at).await?;
        tx.commit()
            .await
            .map_err(failed("commit queued ledger entries"))
    }

    async fn pending_ledger(&self, limit: u32) -> Result<Vec<PendingEntry>, StoreError> {
        const T: &str = "ledger_pending";
        let rows =
            sqlx::query("SELECT id, entry, queued_at FROM ledger_pending ORDER BY id LIMIT $1")
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(failed("read queued ledger entries"))?;
        rows.iter()
            .map(|row| {
                Ok(RawPending {
                    id: column(row, T, "id")?,
                    entry: column(row, T, "entry")?,
                    queued_at: column(row, T, "queued_at")?,
                }
                .parse())
            })
            .collect()
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
        // The update locks the size's row until commit. A second sequencer
        // waits on it, and once the first commits (READ COMMITTED) finds
        // the size changed and updates nothing.
        let moved =
            sqlx::query("UPDATE ledger_head SET size = $2 WHERE singleton = 1 AND size = $1")
                .bind(batch.expected)
                .bind(batch.end)
                .execute(&mut *tx)
                .await
                .map_err(failed("advance the ledger's size"))?;
        if moved.rows_affected() == 0 {
            let actual = read_ledger_size(&mut tx).await?;
            let conflict = decode::ledger_conflict(expected_size, actual);
            return Err(abandon(tx, conflict).await);
        }

        let removed = sqlx::query("DELETE FROM ledger_pending WHERE id = ANY($1)")
            .bind(&batch.consumed)
            .execute(&mut *tx)
            .await
            .map_err(failed("remove consumed ledger entries"))?;
        if removed.rows_affected() != batch.consumed.len() as u64 {
            let taken = StoreError::LedgerConflict {
                expected: expected_size,
                actual: expected_size,
            };
            return Err(abandon(tx, taken).await);
        }

        let (indexes, rows): (Vec<i64>, Vec<&[u8]>) = batch.indexed().unzip();
        let inserted = sqlx::query(
            "INSERT INTO ledger_entries (idx, entry, recorded_at) \
             SELECT idx, entry, $3 FROM UNNEST($1::bigint[], $2::bytea[]) AS batch (idx, entry) \
             ON CONFLICT (idx) DO NOTHING RETURNING idx",
        )
        .bind(&indexes)
        .bind(&rows)
        .bind(batch.at)
        .fetch_all(&mut *tx)
        .await
        .map_err(failed("append ledger entries"))?;
        if inserted.len() != indexes.len() {
            let taken: std::collections::HashSet<i64> = inserted
                .iter()
                .map(|row| column::<_, i64>(row, "ledger_entries", "idx"))
                .collect::<Result<_, _>>()?;
            let idx = indexes
                .iter()
                .copied()
                .find(|i| !taken.contains(i))
                .unwrap_or(batch.expected);
            return Err(abandon(tx, decode::entry_past_size(idx)).await);
        }

        // The stored hashes end in the last block; the batch must extend
        // them from there, and repeat any it offers below that unchanged.
        let last: Option<BlockRow> = sqlx::query_as(
            "SELECT block, hashes FROM ledger_hash_blocks ORDER BY block DESC LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(failed("read the last block of ledger hashes"))?;
        let held = match hash_blocks::stored_count(last.as_ref()) {
            Ok(held) => held,
            Err(e) => return Err(abandon(tx, e).await),
        };
        let wanted = hash_blocks::blocks_to_read(&batch.hashes, held);
        let mut read: Vec<BlockRow> = Vec::new();
        if !wanted.is_empty() {
            read = sqlx::query_as(
                "SELECT block, hashes FROM ledger_hash_blocks WHERE block = ANY($1)",
            )
            .bind(&wanted)
            .fetch_all(&mut *tx)
            .await
            .map_err(failed("read stored ledger hashes"))?;
        }
        read.extend(last);
        let rows = match hash_blocks::plan_append(&batch.hashes, held, &read) {
            Ok(rows) => rows,
            Err(e) => return Err(abandon(tx, e).await),
        };
        let (blocks, values): (Vec<i64>, Vec<Vec<u8>>) = rows.into_iter().unzip();
        sqlx::query(
            "INSERT INTO ledger_hash_blocks (block, hashes) \
             SELECT block, hashes FROM UNNEST($1::bigint[], $2::bytea[]) AS batch (block, hashes) \
             ON CONFLICT (block) DO UPDATE SET hashes = excluded.hashes",
        )
        .bind(&blocks)
        .bind(&values)
        .execute(&mut *tx)
        .await
        .map_err(failed("store ledger hashes"))?;
        tx.commit().await.map_err(failed("commit a ledger append"))
    }

    async fn ledger_size(&self) -> Result<u64, StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(failed("read the ledger's size"))?;
        decode::ledger_size(read_ledger_size(&mut conn).await?)
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
        let rows = sqlx::query(
            "SELECT idx, entry, recorded_at FROM ledger_entries WHERE idx >= $1 \
             ORDER BY idx LIMIT $2",
        )
        .bind(start)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read ledger entries"))?;
        let rows = rows
            .iter()
            .map(ledger_entry_row)
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
        let row = sqlx::query("SELECT idx, entry, recorded_at FROM ledger_entries WHERE idx = $1")
            .bind(idx)
            .fetch_optional(&self.pool)
            .await
            .map_err(failed("read a ledger entry"))?;
        match row {
            Some(row) => ledger_entry_row(&row)?.parse().map(Some),
            None => Err(decode::missing_entry(index)),
        }
    }

    async fn put_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError> {
        let cp = encode::checkpoint(checkpoint)?;
        // The size only grows, so a checkpoint within it stays within it.
        let size = self.ledger_size().await?;
        if checkpoint.size > size {
            return Err(decode::checkpoint_too_large(checkpoint.size, size));
        }
        // A concurrent insert of the same size makes this one wait for it,
        // then do nothing; the note stored is then compared.
        let inserted = sqlx::query(
            "INSERT INTO ledger_checkpoints (size, note, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (size) DO NOTHING",
        )
        .bind(cp.size)
        .bind(cp.note)
        .bind(cp.created_at)
        .execute(&self.pool)
        .await
        .map_err(failed("store a checkpoint"))?;
        if inserted.rows_affected() == 0 {
            let stored: String =
                sqlx::query_scalar("SELECT note FROM ledger_checkpoints WHERE size = $1")
                    .bind(cp.size)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(failed("read a stored checkpoint"))?;
            return decode::same_checkpoint(checkpoint, &stored);
        }
        Ok(())
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = sqlx::query(
            "SELECT size, note, created_at FROM ledger_checkpoints ORDER BY size DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read the latest checkpoint"))?;
        row.as_ref().map(checkpoint_row).transpose()
    }

    async fn checkpoint(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(None);
        };
        let row =
            sqlx::query("SELECT size, note, created_at FROM ledger_checkpoints WHERE size = $1")
                .bind(size)
                .fetch_optional(&self.pool)
                .await
                .map_err(failed("read a checkpoint"))?;
        row.as_ref().map(checkpoint_row).transpose()
    }

    async fn witnessed(&self, origin: &str) -> Result<Option<WitnessedState>, StoreError> {
        if !encode::storable(origin) {
            return Ok(None);
        }
        let row =
            sqlx::query("SELECT origin, size, note, updated_at FROM witnessed WHERE origin = $1")
                .bind(origin)
                .fetch_optional(&self.pool)
                .await
                .map_err(failed("read a witnessed checkpoint"))?;
        row.as_ref().map(witnessed_row).transpose()
    }

    async fn put_witnessed(
        &self,
        state: &WitnessedState,
        expected_size: Option<u64>,
    ) -> Result<(), StoreError> {
        let w = encode::witnessed(state, expected_size)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin updating a witnessed checkpoint"))?;
        // The row, if any, stays locked until the end, so the size compared
        // is the size replaced; a racing writer waits, then sees the new
        // size and fails the comparison.
        let held: Option<i64> =
            sqlx::query_scalar("SELECT size FROM witnessed WHERE origin = $1 FOR UPDATE")
                .bind(w.origin)
                .fetch_optional(&mut *tx)
                .await
                .map_err(failed("read a witnessed checkpoint"))?;
        if held != w.expected {
            let conflict = decode::witness_conflict(&state.origin, expected_size, held);
            return Err(abandon(tx, conflict).await);
        }
        let written = if held.is_some() {
            sqlx::query(
                "UPDATE witnessed SET size = $2, note = $3, updated_at = $4 WHERE origin = $1",
            )
        } else {
            // No row to lock: of writers inserting at once, one inserts and
            // the others, after waiting for it, insert nothing.
            sqlx::query(
                "INSERT INTO witnessed (origin, size, note, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (origin) DO NOTHING",
            )
        }
        .bind(w.origin)
        .bind(w.size)
        .bind(w.note)
        .bind(w.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(failed("store a witnessed checkpoint"))?;
        if written.rows_affected() == 0 {
            let now_held: Option<i64> =
                sqlx::query_scalar("SELECT size FROM witnessed WHERE origin = $1")
                    .bind(w.origin)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(failed("read a witnessed checkpoint"))?;
            let conflict = decode::witness_conflict(&state.origin, expected_size, now_held);
            return Err(abandon(tx, conflict).await);
        }
        tx.commit()
            .await
            .map_err(failed("commit a witnessed checkpoint"))
    }

    async fn list_witnessed(&self) -> Result<Vec<WitnessedState>, StoreError> {
        let rows =
            sqlx::query("SELECT origin, size, note, updated_at FROM witnessed ORDER BY origin")
                .fetch_all(&self.pool)
                .await
                .map_err(failed("list witnessed checkpoints"))?;
        rows.iter().map(witnessed_row).collect()
    }

    async fn record_fork(
        &self,
        origin: &str,
        evidence: &serde_json::Value,
        at: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        let f = encode::fork(origin, evidence, at)?;
        sqlx::query_scalar(
            "INSERT INTO witness_forks (origin, detected_at, evidence) \
             VALUES ($1, $2, $3::json) RETURNING id",
        )
        .bind(f.origin)
        .bind(f.detected_at)
        .bind(f.evidence)
        .fetch_one(&self.pool)
        .await
        .map_err(failed("record a fork"))
    }

    async fn forks(&self, limit: u32) -> Result<Vec<ForkRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, origin, detected_at, evidence::text AS evidence FROM witness_forks \
             ORDER BY detected_at DESC, id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list forks"))?;
        rows.iter().map(fork_row).collect()
    }

    async fn put_cosignature(&self, cosignature: &CosignatureRecord) -> Result<(), StoreError> {
        let c = encode::cosignature(cosignature)?;
        // The same line again updates nothing, keeping its first time.
        sqlx::query(
            "INSERT INTO cosignatures (size, witness, line, at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (size, witness) DO UPDATE SET line = excluded.line, at = excluded.at \
             WHERE cosignatures.line <> excluded.line",
        )
        .bind(c.size)
        .bind(c.witness)
        .bind(c.line)
        .bind(c.at)
        .execute(&self.pool)
        .await
        .map_err(failed("store a cosignature"))?;
        Ok(())
    }

    async fn cosignatures(&self, size: u64) -> Result<Vec<CosignatureRecord>, StoreError> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "SELECT size, witness, line, at FROM cosignatures WHERE size = $1 ORDER BY witness",
        )
        .bind(size)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read cosignatures"))?;
        rows.iter().map(cosignature_row).collect()
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
