//! The SQLite adapter: the embedded default, one file per node.
//!
//! Timestamps are kept as microseconds since the Unix epoch in `INTEGER`
//! columns (exact, ordered, no text format to agree on); JSON is kept as
//! checked `TEXT`. Tables are `STRICT`, so a value of the wrong type cannot
//! be written even by hand.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::ConnectOptions;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use time::OffsetDateTime;

use crate::decode::{
    self, RawCheckpoint, RawCosignature, RawDirectory, RawEvent, RawFork, RawLedgerEntry,
    RawMessage, RawNodeInfo, RawOutboxItem, RawPending, RawRefusal, RawRequest, RawWitnessed,
    column, failed,
};
use crate::encode;
use crate::federation::{
    AcceptOutcome, IncomingMessage, MessageRecord, OutboxItem, OutboxState, OutgoingMessage,
    RefusalRecord, StoredDirectory, TokenRecord,
};
use crate::group_commit::Writer;
use crate::hash_blocks::{self, BlockRow};
use crate::ledger::{EntryDigest, LedgerEntry, LedgerScan, PendingEntry, StoredCheckpoint};
use crate::records::{Backend, NewEvent, NodeInfo, RequestEvent, RequestFilter, RequestRecord};
use crate::sqlite_write as write;
use crate::witness::{CosignatureRecord, ForkRecord, WitnessedState};
use crate::{Store, StoreError};

/// The SQLite schema, embedded at build time.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// How long a statement waits for another connection's write lock before it
/// fails. Writes are short, so reaching this means something is stuck.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite allows one writer at a time; a few connections let reads proceed
/// beside it (WAL mode) without many idle handles.
const MAX_CONNECTIONS: u32 = 4;

/// A node's data in one SQLite file.
#[derive(Debug, Clone)]
pub(crate) struct SqliteStore {
    /// Reads, and the migrations at start.
    pool: SqlitePool,
    /// Every write, grouped into shared commits (see [`crate::group_commit`]).
    writer: Writer,
    /// The database file, for the ledger scan's own connections.
    file: std::path::PathBuf,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://PATH` or
    /// `sqlite:PATH`) and brings its schema up to date.
    pub(crate) async fn open(url: &str) -> Result<Self, StoreError> {
        let location = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let (path, params) = location.split_once('?').unwrap_or((location, ""));
        if path.is_empty() {
            return Err(StoreError::UnsupportedUrl(
                "the sqlite URL names no file".to_owned(),
            ));
        }
        if path == ":memory:" || params.split('&').any(|p| p == "mode=memory") {
            // A pool of in-memory connections shares one database only
            // through SQLite's shared cache, whose table locks are not
            // covered by the busy timeout; a node keeps its data in a file.
            return Err(StoreError::UnsupportedUrl(
                "in-memory SQLite is not supported; name a file (a temporary directory in tests)"
                    .to_owned(),
            ));
        }

        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::UnsupportedUrl(format!("malformed sqlite URL: {e}")))?
            .create_if_missing(true)
            // WAL lets readers run beside the single writer.
            .journal_mode(SqliteJournalMode::Wal)
            // FULL, not NORMAL: with WAL, NORMAL may lose the last commits on
            // power failure. A node acknowledges requests to other States and
            // records custody events, so a commit must survive once reported;
            // the traffic (thousands of events a day) makes the extra fsync
            // per commit immaterial.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // The WAL is copied back into the database by a task of its own
            // (see `checkpoint_wal`), not by whichever commit happens to
            // cross the threshold: that commit, and every write grouped
            // with it, would wait for the copy and its fsync.
            .pragma("wal_autocheckpoint", "0");
        let file = options.get_filename().display().to_string();

        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options.clone())
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot open SQLite database {file}: {e}"))
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| decode::migration_failed(&format!("SQLite database {file}"), e))?;
        let conn = options.connect().await.map_err(|e| {
            StoreError::Unavailable(format!("cannot open SQLite database {file}: {e}"))
        })?;
        tokio::spawn(checkpoint_wal(pool.clone()));
        Ok(SqliteStore {
            pool,
            writer: Writer::start(conn),
            file: options.get_filename().to_path_buf(),
        })
    }
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Copies committed WAL frames back into the database file every
/// [`CHECKPOINT_EVERY`], on a reading connection, beside the writer (a
/// passive checkpoint never blocks it), until the pool is closed. Closing
/// the last connection checkpoints whatever is left.
async fn checkpoint_wal(pool: SqlitePool) {
    // The first tick one period from now: opening the store does no
    // checkpoint of its own.
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + CHECKPOINT_EVERY,
        CHECKPOINT_EVERY,
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "copying the write-ahead log into the database failed; retrying");
        }
    }
}

fn node_info_row(row: &SqliteRow) -> Result<RawNodeInfo, StoreError> {
    const T: &str = "node_info";
    Ok(RawNodeInfo {
        state: column(row, T, "state")?,
        name: column(row, T, "name")?,
        created_at: decode::unix_micros(T, "created_at", column(row, T, "created_at")?)?,
    })
}

fn request_row(row: &SqliteRow) -> Result<RequestRecord, StoreError> {
    const T: &str = "requests";
    RawRequest {
        id: column(row, T, "id")?,
        kind: column(row, T, "kind")?,
        direction: column(row, T, "direction")?,
        counterpart: column(row, T, "counterpart")?,
        body: column(row, T, "body")?,
        created_at: decode::unix_micros(T, "created_at", column(row, T, "created_at")?)?,
    }
    .parse()
}

fn event_row(row: &SqliteRow) -> Result<RawEvent, StoreError> {
    const T: &str = "request_events";
    Ok(RawEvent {
        request_id: column(row, T, "request_id")?,
        seq: column(row, T, "seq")?,
        at: decode::unix_micros(T, "at", column(row, T, "at")?)?,
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
pub(crate) use outbox_columns;

/// The columns of a token, in the order [`token_row`] reads them.
macro_rules! token_columns {
    () => {
        "id, name, secret_hash, created_at, revoked_at"
    };
}
pub(crate) use token_columns;

/// Reads a nullable timestamp column.
fn optional_time(
    row: &SqliteRow,
    table: &'static str,
    name: &'static str,
) -> Result<Option<OffsetDateTime>, StoreError> {
    column::<_, Option<i64>>(row, table, name)?
        .map(|micros| decode::unix_micros(table, name, micros))
        .transpose()
}

fn message_row(row: &SqliteRow) -> Result<MessageRecord, StoreError> {
    const T: &str = "messages";
    RawMessage {
        id: column(row, T, "id")?,
        thread: column(row, T, "thread")?,
        direction: column(row, T, "direction")?,
        counterpart: column(row, T, "counterpart")?,
        kind: column(row, T, "kind")?,
        prev: column(row, T, "prev")?,
        created_at: decode::unix_micros(T, "created_at", column(row, T, "created_at")?)?,
        recorded_at: decode::unix_micros(T, "recorded_at", column(row, T, "recorded_at")?)?,
        envelope: column(row, T, "envelope")?,
    }
    .parse()
}

pub(crate) fn outbox_row(row: &SqliteRow) -> Result<RawOutboxItem, StoreError> {
    const T: &str = "outbox";
    Ok(RawOutboxItem {
        seq: column(row, T, "seq")?,
        message_id: column(row, T, "message_id")?,
        recipient: column(row, T, "recipient")?,
        url: column(row, T, "url")?,
        ciphertext: column(row, T, "ciphertext")?,
        created_at: decode::unix_micros(T, "created_at", column(row, T, "created_at")?)?,
        next_attempt_at: decode::unix_micros(
            T,
            "next_attempt_at",
            column(row, T, "next_attempt_at")?,
        )?,
        attempts: column(row, T, "attempts")?,
        state: column(row, T, "state")?,
        last_error: column(row, T, "last_error")?,
        delivered_at: optional_time(row, T, "delivered_at")?,
    })
}

fn refusal_row(row: &SqliteRow) -> Result<RefusalRecord, StoreError> {
    const T: &str = "refusals";
    RawRefusal {
        seq: column(row, T, "seq")?,
        at: decode::unix_micros(T, "at", column(row, T, "at")?)?,
        peer: column(row, T, "peer")?,
        claimed_sender: column(row, T, "claimed_sender")?,
        code: column(row, T, "code")?,
        detail: column(row, T, "detail")?,
        body_sha256: column(row, T, "body_sha256")?,
        body_len: column(row, T, "body_len")?,
    }
    .parse()
}

pub(crate) fn token_row(row: &SqliteRow) -> Result<TokenRecord, StoreError> {
    const T: &str = "tokens";
    Ok(TokenRecord {
        id: column(row, T, "id")?,
        name: column(row, T, "name")?,
        secret_hash: column(row, T, "secret_hash")?,
        created_at: decode::unix_micros(T, "created_at", column(row, T, "created_at")?)?,
        revoked_at: optional_time(row, T, "revoked_at")?,
    })
}

/// A JSON array of integers, which SQLite's `json_each` turns into rows:
/// one bound parameter for a list of any length.
pub(crate) fn json_integers(values: impl IntoIterator<Item = i64>) -> String {
    let items: Vec<String> = values.into_iter().map(|v| v.to_string()).collect();
    format!("[{}]", items.join(","))
}

/// The ledger's size as the connection sees it.
pub(crate) async fn read_ledger_size(
    conn: &mut SqliteConnection,
) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar("SELECT size FROM ledger_head WHERE singleton = 1")
        .fetch_optional(conn)
        .await
        .map_err(failed("read the ledger's size"))
}

fn ledger_entry_row(row: &SqliteRow) -> Result<RawLedgerEntry, StoreError> {
    const T: &str = "ledger_entries";
    Ok(RawLedgerEntry {
        idx: column(row, T, "idx")?,
        entry: column(row, T, "entry")?,
        recorded_at: decode::unix_micros(T, "recorded_at", column(row, T, "recorded_at")?)?,
    })
}

fn checkpoint_row(row: &SqliteRow) -> Result<StoredCheckpoint, StoreError> {
    const T: &str = "ledger_checkpoints";
    RawCheckpoint {
        size: column(row, T, "size")?,
        note: column(row, T, "note")?,
        created_at: decode::unix_micros(T, "created_at", column(row, T, "created_at")?)?,
    }
    .parse()
}

fn witnessed_row(row: &SqliteRow) -> Result<WitnessedState, StoreError> {
    const T: &str = "witnessed";
    RawWitnessed {
        origin: column(row, T, "origin")?,
        size: column(row, T, "size")?,
        note: column(row, T, "note")?,
        updated_at: decode::unix_micros(T, "updated_at", column(row, T, "updated_at")?)?,
    }
    .parse()
}

fn fork_row(row: &SqliteRow) -> Result<ForkRecord, StoreError> {
    const T: &str = "witness_forks";
    RawFork {
        id: column(row, T, "id")?,
        origin: column(row, T, "origin")?,
        detected_at: decode::unix_micros(T, "detected_at", column(row, T, "detected_at")?)?,
        evidence: column(row, T, "evidence")?,
    }
    .parse()
}

fn cosignature_row(row: &SqliteRow) -> Result<CosignatureRecord, StoreError> {
    const T: &str = "cosignatures";
    RawCosignature {
        size: column(row, T, "size")?,
        witness: column(row, T, "witness")?,
        line: column(row, T, "line")?,
        at: decode::unix_micros(T, "at", column(row, T, "at")?)?,
    }
    .parse()
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn put_node_info(&self, info: &NodeInfo) -> Result<(), StoreError> {
        let info = info.clone();
        self.writer
            .write(move |conn| Box::pin(async move { write::put_node_info(conn, &info).await }))
            .await
    }

    async fn node_info(&self) -> Result<Option<NodeInfo>, StoreError> {
        let row = sqlx::query("SELECT state, name, created_at FROM node_info WHERE singleton = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(failed("read the node's identity"))?;
        row.map(|row| node_info_row(&row)?.parse()).transpose()
    }

    async fn insert_request(&self, request: &RequestRecord) -> Result<(), StoreError> {
        let request = request.clone();
        self.writer
            .write(move |conn| Box::pin(async move { write::insert_request(conn, &request).await }))
            .await
    }

    async fn get_request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError> {
        if !encode::storable(id) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, kind, direction, counterpart, body, created_at FROM requests WHERE id = ?1",
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
        // A negative LIMIT means no limit in SQLite.
        let limit = filter.limit.map_or(-1, i64::from);
        let rows = sqlx::query(
            "SELECT id, kind, direction, counterpart, body, created_at FROM requests \
             WHERE (?1 IS NULL OR direction = ?1) \
               AND (?2 IS NULL OR kind = ?2) \
               AND (?3 IS NULL OR counterpart = ?3) \
             ORDER BY created_at DESC, id DESC \
             LIMIT ?4",
        )
        .bind(filter.direction.map(|d| d.as_str()))
        .bind(filter.kind.map(|k| k.as_str()))
        .bind(filter.counterpart.as_ref().map(|c| c.as_str().to_owned()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list requests"))?;
        rows.iter().map(request_row).collect()
    }

    async fn append_event(&self, event: &NewEvent) -> Result<RequestEvent, StoreError> {
        let event = event.clone();
        self.writer
            .write(move |conn| Box::pin(async move { write::append_event(conn, &event).await }))
            .await
    }

    async fn events(&self, request_id: &str) -> Result<Vec<RequestEvent>, StoreError> {
        if !encode::storable(request_id) {
            return Err(StoreError::UnknownRequest(request_id.to_owned()));
        }
        let rows = sqlx::query(
            "SELECT request_id, seq, at, actor, kind, detail FROM request_events \
             WHERE request_id = ?1 ORDER BY seq",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read a request's history"))?;
        if rows.is_empty() {
            let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM requests WHERE id = ?1")
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
        let directory = directory.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move { write::put_directory(conn, &directory).await })
            })
            .await
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
                imported_at: decode::unix_micros(
                    T,
                    "imported_at",
                    column(&row, T, "imported_at")?,
                )?,
            }
            .parse()
        })
        .transpose()
    }

    async fn record_outgoing(&self, message: &OutgoingMessage) -> Result<(), StoreError> {
        let message = message.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move { write::record_outgoing(conn, &message).await })
            })
            .await
    }

    async fn accept_incoming(
        &self,
        message: &IncomingMessage,
    ) -> Result<AcceptOutcome, StoreError> {
        let message = message.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move { write::accept_incoming(conn, &message).await })
            })
            .await
    }

    async fn get_message(&self, id: &str) -> Result<Option<MessageRecord>, StoreError> {
        if !encode::storable(id) {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE id = ?1"
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
            " FROM messages WHERE thread = ?1 ORDER BY seq"
        ))
        .bind(thread)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read a thread's messages"))?;
        rows.iter().map(message_row).collect()
    }

    async fn last_in_thread(&self, thread: &str) -> Result<Option<MessageRecord>, StoreError> {
        if !encode::storable(thread) {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE thread = ?1 ORDER BY seq DESC LIMIT 1"
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
            sqlx::query_scalar("SELECT receipt FROM messages WHERE id = ?1")
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
        self.writer
            .write(move |conn| {
                Box::pin(async move { write::claim_due(conn, now, lease, limit).await })
            })
            .await
    }

    async fn mark_delivered(
        &self,
        message_id: &str,
        receipt: &[u8],
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        let (message_id, receipt, ledger) =
            (message_id.to_owned(), receipt.to_vec(), ledger.to_vec());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    write::mark_delivered(conn, &message_id, &receipt, at, &ledger).await
                })
            })
            .await
    }

    async fn mark_retry(
        &self,
        message_id: &str,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        let (message_id, error) = (message_id.to_owned(), error.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    write::mark_retry(conn, &message_id, attempts, next_attempt_at, &error).await
                })
            })
            .await
    }

    async fn mark_failed(
        &self,
        message_id: &str,
        error: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (message_id, error) = (message_id.to_owned(), error.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move { write::mark_failed(conn, &message_id, &error, at).await })
            })
            .await
    }

    async fn outbox_item(&self, message_id: &str) -> Result<Option<OutboxItem>, StoreError> {
        if !encode::storable(message_id) {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            outbox_columns!(),
            " FROM outbox WHERE message_id = ?1"
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
            " FROM outbox WHERE (?1 IS NULL OR state = ?1) \
             ORDER BY created_at DESC, seq DESC LIMIT ?2"
        ))
        .bind(state.map(OutboxState::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list the outbox"))?;
        rows.iter().map(|row| outbox_row(row)?.parse()).collect()
    }

    async fn record_refusal(&self, refusal: &RefusalRecord) -> Result<(), StoreError> {
        let refusal = refusal.clone();
        self.writer
            .write(move |conn| Box::pin(async move { write::record_refusal(conn, &refusal).await }))
            .await
    }

    async fn refusals(&self, limit: u32) -> Result<Vec<RefusalRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, peer, claimed_sender, code, detail, body_sha256, body_len \
             FROM refusals ORDER BY at DESC, seq DESC LIMIT ?1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list refusals"))?;
        rows.iter().map(refusal_row).collect()
    }

    async fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        let token = token.clone();
        self.writer
            .write(move |conn| Box::pin(async move { write::put_token(conn, &token).await }))
            .await
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        if !encode::storable(secret_hash) {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens WHERE secret_hash = ?1"
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
        let id = id.to_owned();
        self.writer
            .write(move |conn| Box::pin(async move { write::revoke_token(conn, &id, at).await }))
            .await
    }

    async fn queue_ledger(
        &self,
        entries: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return encode::timestamp("ledger_pending.queued_at", at).map(|_| ());
        }
        let entries = entries.to_vec();
        self.writer
            .write(move |conn| {
                Box::pin(async move { write::queue_ledger(conn, &entries, at).await })
            })
            .await
    }

    async fn pending_ledger(&self, limit: u32) -> Result<Vec<PendingEntry>, StoreError> {
        const T: &str = "ledger_pending";
        let rows =
            sqlx::query("SELECT id, entry, queued_at FROM ledger_pending ORDER BY id LIMIT ?1")
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(failed("read queued ledger entries"))?;
        rows.iter()
            .map(|row| {
                Ok(RawPending {
                    id: column(row, T, "id")?,
                    entry: column(row, T, "entry")?,
                    queued_at: decode::unix_micros(T, "queued_at", column(row, T, "queued_at")?)?,
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
        let (consumed, entries, hashes) = (consumed.to_vec(), entries.to_vec(), hashes.to_vec());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    write::append_ledger(conn, expected_size, &consumed, &entries, &hashes, at)
                        .await
                })
            })
            .await
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
        let rows: Vec<BlockRow> = sqlx::query_as(
            "SELECT block, hashes FROM ledger_hash_blocks \
             WHERE block IN (SELECT value FROM json_each(?1))",
        )
        .bind(json_integers(hash_blocks::blocks_for(
            indexes.iter().copied(),
        )))
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
        Ok(crate::sqlite_scan::scan(
            self.file.clone(),
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
            "SELECT idx, entry, recorded_at FROM ledger_entries WHERE idx >= ?1 \
             ORDER BY idx LIMIT ?2",
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
            "SELECT idx FROM ledger_entries WHERE idx >= ?1 AND entry = ?2 ORDER BY idx LIMIT 1",
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
        let row = sqlx::query("SELECT idx, entry, recorded_at FROM ledger_entries WHERE idx = ?1")
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
        let checkpoint = checkpoint.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move { write::put_checkpoint(conn, &checkpoint).await })
            })
            .await
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
            sqlx::query("SELECT size, note, created_at FROM ledger_checkpoints WHERE size = ?1")
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
            sqlx::query("SELECT origin, size, note, updated_at FROM witnessed WHERE origin = ?1")
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
        let state = state.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move { write::put_witnessed(conn, &state, expected_size).await })
            })
            .await
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
        let (origin, evidence) = (origin.to_owned(), evidence.clone());
        self.writer
            .write(move |conn| {
                Box::pin(async move { write::record_fork(conn, &origin, &evidence, at).await })
            })
            .await
    }

    async fn forks(&self, limit: u32) -> Result<Vec<ForkRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, origin, detected_at, evidence FROM witness_forks \
             ORDER BY detected_at DESC, id DESC LIMIT ?1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list forks"))?;
        rows.iter().map(fork_row).collect()
    }

    async fn put_cosignature(&self, cosignature: &CosignatureRecord) -> Result<(), StoreError> {
        let cosignature = cosignature.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move { write::put_cosignature(conn, &cosignature).await })
            })
            .await
    }

    async fn cosignatures(&self, size: u64) -> Result<Vec<CosignatureRecord>, StoreError> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "SELECT size, witness, line, at FROM cosignatures WHERE size = ?1 ORDER BY witness",
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
            sqlx::query_scalar("SELECT MAX(size) FROM cosignatures WHERE witness = ?1")
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
        self.writer.close().await;
        self.pool.close().await;
    }
}
