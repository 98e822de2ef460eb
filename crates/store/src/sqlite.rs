//! The SQLite adapter: the embedded default, one file per node.
//!
//! Timestamps are kept as microseconds since the Unix epoch in `INTEGER`
//! columns (exact, ordered, no text format to agree on); JSON is kept as
//! checked `TEXT`. Tables are `STRICT`, so a value of the wrong type cannot
//! be written even by hand.
//!
//! The schema is brought up to date by sqlx's migrator when the store
//! opens; after that every statement runs on rusqlite connections
//! ([`crate::sqlite_db`]): writes on the writer's thread
//! ([`crate::group_commit`]), reads on the thread that asks.

mod alerts;
mod cases;
mod ledger;
mod people;
mod safeguards;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, params};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use time::OffsetDateTime;

use crate::decode;
use crate::encode;
use crate::federation::{
    AcceptOutcome, IncomingMessage, MessageRecord, OutboxItem, OutboxState, OutgoingMessage,
    RefusalRecord, StoredDirectory, StoredMessage,
};
use crate::group_commit::Writer;
use crate::records::{Backend, NewEvent, NodeInfo, RequestEvent, RequestFilter, RequestRecord};
use crate::rows::{self, columns};
use crate::sqlite_db::{self as db, Readers, Role, all, first, value};
use crate::sqlite_write as write;
use crate::{FederationStore, RequestStore, Store, StoreError};

/// The SQLite schema, embedded at build time.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// The version of the newest migration built into this binary.
pub(crate) fn latest_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// How long the migrations wait for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A node's data in one SQLite file.
#[derive(Debug, Clone)]
pub(crate) struct SqliteStore {
    /// Reading connections, and what stops when the store closes.
    shared: Arc<Shared>,
    /// Every write, grouped into shared commits (see [`crate::group_commit`]).
    pub(crate) writer: Writer,
    /// The database file, for the ledger scan's own connections.
    file: PathBuf,
}

#[derive(Debug)]
struct Shared {
    readers: Readers,
    /// The checkpointer: its stop signal, dropped when the store closes,
    /// and its thread, joined then.
    checkpoints: Mutex<Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://PATH` or
    /// `sqlite:PATH`) and brings its schema up to date.
    pub(crate) async fn open(url: &str) -> Result<Self, StoreError> {
        db::check_url(url)?;
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::UnsupportedUrl(format!("malformed sqlite URL: {e}")))?
            .create_if_missing(true)
            // WAL lets readers run beside the single writer; the mode is
            // kept in the file, so every later connection uses it.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let file = options.get_filename().to_path_buf();
        let name = file.display().to_string();

        let migrations = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot open SQLite database {name}: {e}"))
            })?;
        MIGRATOR.run(&migrations).await.map_err(|e| {
            decode::migration_failed(
                &format!("SQLite database {name}"),
                decode::newest_migration(&MIGRATOR),
                e,
            )
        })?;
        // Its close only ends this connection: the writer below is already
        // open, so the write-ahead log stays in place.
        let wal = db::WalLimit::new();
        let writer = Writer::start(db::connect(&file, Role::Writer)?, Arc::clone(&wal))?;
        migrations.close().await;

        let (stop, thread) = db::start_checkpointer(&file, wal)?;
        Ok(SqliteStore {
            shared: Arc::new(Shared {
                readers: Readers::new(file.clone()),
                checkpoints: Mutex::new(Some((stop, thread))),
            }),
            writer,
            file,
        })
    }

    /// Runs a short read on the calling thread.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.shared.readers.read(f)
    }

    /// Runs a read whose length depends on the data on a blocking thread.
    pub(crate) async fn read_long<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || shared.readers.read(f))
            .await
            .map_err(|e| StoreError::Database {
                operation: "run a read",
                detail: e.to_string(),
            })?
    }
}

/// A count the caller gives, as SQL's integer.
pub(crate) fn sql_count(n: u32) -> i64 {
    i64::from(n)
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn put_node_info(&self, info: &NodeInfo) -> Result<(), StoreError> {
        let info = info.clone();
        self.writer
            .write(move |conn| write::put_node_info(conn, &info))
            .await
    }

    async fn node_info(&self) -> Result<Option<NodeInfo>, StoreError> {
        self.read(|conn| {
            first(
                conn,
                concat!(
                    "SELECT ",
                    columns!(node_info),
                    " FROM node_info WHERE singleton = 1"
                ),
                [],
                "read the node's identity",
                |row| rows::node_info(row)?.parse(),
            )
        })
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        let version: Option<i64> = self.read(|conn| {
            value(
                conn,
                "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
                [],
                "read the schema version",
            )
        })?;
        Ok(version.unwrap_or(0))
    }

    async fn snapshot_into(&self, to: &std::path::Path) -> Result<(), StoreError> {
        let file = self.file.clone();
        let to = to.to_owned();
        tokio::task::spawn_blocking(move || db::snapshot(&file, &to))
            .await
            .map_err(|e| StoreError::Database {
                operation: "copy the database",
                detail: e.to_string(),
            })?
    }

    fn database_file(&self) -> Option<PathBuf> {
        Some(self.file.clone())
    }

    async fn close(&self) {
        self.writer.close().await;
        self.shared.readers.close();
        // Ends the checkpointer and waits for it: the last connection to
        // close copies what is left of the write-ahead log into the
        // database and removes the log, and once `close` returns the files
        // are settled (for a copy, a backup, the next process).
        let checkpointer = self
            .shared
            .checkpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some((stop, thread)) = checkpointer {
            drop(stop);
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

#[async_trait]
impl RequestStore for SqliteStore {
    async fn insert_request(&self, request: &RequestRecord) -> Result<(), StoreError> {
        let request = request.clone();
        self.writer
            .write(move |conn| write::insert_request(conn, &request))
            .await
    }

    async fn get_request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError> {
        if !encode::storable(id) {
            return Ok(None);
        }
        self.read(|conn| {
            first(
                conn,
                concat!(
                    "SELECT ",
                    columns!(requests),
                    " FROM requests \
                 WHERE id = ?1"
                ),
                [id],
                "read a request",
                |row| rows::request(row),
            )
        })
    }

    async fn list_requests(
        &self,
        filter: &RequestFilter,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        // A negative LIMIT means no limit in SQLite.
        let limit = filter.limit.map_or(-1, i64::from);
        let direction = filter.direction.map(|d| d.as_str());
        let kind = filter.kind.map(|k| k.as_str());
        let counterpart = filter.counterpart.as_ref().map(|c| c.as_str().to_owned());
        let hidden = filter.hidden_from.clone();
        self.read_long(move |conn| {
            all(
                conn,
                concat!(
                    "SELECT id, kind, direction, counterpart, NULL AS draft, created_at \
                     FROM requests WHERE (?1 IS NULL OR direction = ?1) \
                       AND (?2 IS NULL OR kind = ?2) \
                       AND (?3 IS NULL OR counterpart = ?3) AND ",
                    crate::hidden_clause!("?5"),
                    " ORDER BY created_at DESC, id DESC LIMIT ?4"
                ),
                params![direction, kind, counterpart, limit, hidden],
                "list requests",
                |row| rows::request(row),
            )
        })
        .await
    }

    async fn append_event(&self, event: &NewEvent) -> Result<RequestEvent, StoreError> {
        let event = event.clone();
        self.writer
            .write(move |conn| write::append_event(conn, &event))
            .await
    }

    async fn record_request(
        &self,
        request: &RequestRecord,
        event: &NewEvent,
    ) -> Result<RequestEvent, StoreError> {
        encode::same_request(request, event)?;
        let (request, event) = (request.clone(), event.clone());
        self.writer
            .write(move |conn| write::record_request(conn, &request, &event))
            .await
    }

    async fn events(&self, request_id: &str) -> Result<Vec<RequestEvent>, StoreError> {
        if !encode::storable(request_id) {
            return Err(StoreError::UnknownRequest(request_id.to_owned()));
        }
        let id = request_id.to_owned();
        let rows = self
            .read_long(move |conn| {
                let rows = all(
                    conn,
                    concat!(
                        "SELECT ",
                        columns!(request_events),
                        " FROM request_events \
                     WHERE request_id = ?1 ORDER BY seq"
                    ),
                    [&id],
                    "read a request's history",
                    |row| rows::event(row),
                )?;
                if rows.is_empty() {
                    let known: Option<i64> = value(
                        conn,
                        "SELECT 1 FROM requests WHERE id = ?1",
                        [&id],
                        "look up a request",
                    )?;
                    if known.is_none() {
                        return Err(StoreError::UnknownRequest(id));
                    }
                }
                Ok(rows)
            })
            .await?;
        decode::history(rows)
    }
}

#[async_trait]
impl FederationStore for SqliteStore {
    async fn put_directory(&self, directory: &StoredDirectory) -> Result<(), StoreError> {
        let directory = directory.clone();
        self.writer
            .write(move |conn| write::put_directory(conn, &directory))
            .await
    }

    async fn directory(&self) -> Result<Option<StoredDirectory>, StoreError> {
        self.read(|conn| {
            first(
                conn,
                concat!(
                    "SELECT ",
                    columns!(directory),
                    " FROM directory WHERE singleton = 1"
                ),
                [],
                "read the directory",
                |row| rows::directory(row)?.parse(),
            )
        })
    }

    async fn directory_version(&self) -> Result<Option<u64>, StoreError> {
        let version: Option<i64> = self.read(|conn| {
            value(
                conn,
                "SELECT version FROM directory WHERE singleton = 1",
                [],
                "read the directory's version",
            )
        })?;
        version
            .map(|v| crate::decode::unsigned("directory", "version", "the directory", v))
            .transpose()
    }

    async fn record_outgoing(&self, message: &OutgoingMessage) -> Result<(), StoreError> {
        let message = message.clone();
        self.writer
            .write(move |conn| write::record_outgoing(conn, &message))
            .await
    }

    async fn accept_incoming(
        &self,
        message: &IncomingMessage,
    ) -> Result<AcceptOutcome, StoreError> {
        let message = message.clone();
        self.writer
            .write(move |conn| write::accept_incoming(conn, &message))
            .await
    }

    async fn get_message(&self, id: &str) -> Result<Option<MessageRecord>, StoreError> {
        if !encode::storable(id) {
            return Ok(None);
        }
        self.read(|conn| {
            first(
                conn,
                concat!(
                    "SELECT ",
                    columns!(messages),
                    " FROM messages WHERE id = ?1"
                ),
                [id],
                "read a message",
                |row| rows::message(row),
            )
        })
    }

    async fn thread_messages(&self, thread: &str) -> Result<Vec<MessageRecord>, StoreError> {
        if !encode::storable(thread) {
            return Ok(Vec::new());
        }
        let thread = thread.to_owned();
        self.read_long(move |conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    columns!(messages),
                    " FROM messages WHERE thread = ?1 ORDER BY seq"
                ),
                [&thread],
                "read a thread's messages",
                |row| rows::message(row),
            )
        })
        .await
    }

    async fn messages_page(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.read_long(move |conn| {
            all(
                conn,
                concat!(
                    "SELECT seq, receipt, ",
                    columns!(messages),
                    " FROM messages WHERE seq > ?1 ORDER BY seq LIMIT ?2"
                ),
                params![after, i64::from(limit)],
                "read a page of messages",
                |row| rows::stored_message(row),
            )
        })
        .await
    }

    async fn reseal_message(&self, id: &str, old: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        let (id, old, new) = (id.to_owned(), old.to_vec(), new.to_vec());
        self.writer
            .write(move |conn| write::reseal_message(conn, &id, &old, &new))
            .await
    }

    async fn unsealed_drafts(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.read_long(|conn| {
            all(
                conn,
                "SELECT id, draft FROM requests \
                 WHERE draft IS NOT NULL AND substr(draft, 1, 1) = X'7B' ORDER BY id",
                [],
                "read drafts kept in clear",
                |row| rows::draft(row),
            )
        })
        .await
    }

    async fn reseal_draft(&self, id: &str, old: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        let (id, old, new) = (id.to_owned(), old.to_vec(), new.to_vec());
        self.writer
            .write(move |conn| write::reseal_draft(conn, &id, &old, &new))
            .await
    }

    async fn last_in_thread(&self, thread: &str) -> Result<Option<MessageRecord>, StoreError> {
        if !encode::storable(thread) {
            return Ok(None);
        }
        self.read(|conn| {
            first(
                conn,
                concat!(
                    "SELECT ",
                    columns!(messages),
                    " FROM messages WHERE thread = ?1 ORDER BY seq DESC LIMIT 1"
                ),
                [thread],
                "read a thread's last message",
                |row| rows::message(row),
            )
        })
    }

    async fn receipt_for(&self, message_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if !encode::storable(message_id) {
            return Ok(None);
        }
        let receipt: Option<Option<Vec<u8>>> = self.read(|conn| {
            value(
                conn,
                "SELECT receipt FROM messages WHERE id = ?1",
                [message_id],
                "read a receipt",
            )
        })?;
        Ok(receipt.flatten())
    }

    async fn claim_due(
        &self,
        now: OffsetDateTime,
        lease: ::time::Duration,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        self.writer
            .write(move |conn| write::claim_due(conn, now, lease, limit))
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
            .write(move |conn| write::mark_delivered(conn, &message_id, &receipt, at, &ledger))
            .await
    }

    async fn resign_outbox(
        &self,
        message_id: &str,
        ciphertext: &[u8],
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        let (message_id, ciphertext, ledger) =
            (message_id.to_owned(), ciphertext.to_vec(), ledger.to_vec());
        self.writer
            .write(move |conn| write::resign_outbox(conn, &message_id, &ciphertext, at, &ledger))
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
                write::mark_retry(conn, &message_id, attempts, next_attempt_at, &error)
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
            .write(move |conn| write::mark_failed(conn, &message_id, &error, at))
            .await
    }

    async fn outbox_item(&self, message_id: &str) -> Result<Option<OutboxItem>, StoreError> {
        if !encode::storable(message_id) {
            return Ok(None);
        }
        self.read(|conn| {
            first(
                conn,
                concat!(
                    "SELECT ",
                    columns!(outbox),
                    " FROM outbox WHERE message_id = ?1"
                ),
                [message_id],
                "read an outbox item",
                |row| rows::outbox(row)?.parse(),
            )
        })
    }

    async fn list_outbox(
        &self,
        state: Option<OutboxState>,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        self.read_long(move |conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    columns!(outbox),
                    " FROM outbox WHERE (?1 IS NULL OR state = ?1) \
                     ORDER BY created_at DESC, seq DESC LIMIT ?2"
                ),
                params![state.map(OutboxState::as_str), sql_count(limit)],
                "list the outbox",
                |row| rows::outbox(row)?.parse(),
            )
        })
        .await
    }

    async fn record_refusal(&self, refusal: &RefusalRecord) -> Result<(), StoreError> {
        let refusal = refusal.clone();
        self.writer
            .write(move |conn| write::record_refusal(conn, &refusal))
            .await
    }

    async fn refusals(&self, limit: u32) -> Result<Vec<RefusalRecord>, StoreError> {
        self.read_long(move |conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    columns!(refusals),
                    " FROM refusals ORDER BY at DESC, seq DESC LIMIT ?1"
                ),
                [sql_count(limit)],
                "list refusals",
                |row| rows::refusal(row),
            )
        })
        .await
    }
}
