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

use crate::access::AccessRecord;
use crate::alerts::{AlertRecord, DeliveryRecord, NewAlert, NewDelivery, ShiftRecord};
use crate::case_index::{CaseRow, CaseRowFilter, ClockFired, StaleCase};
use crate::decode;
use crate::encode;
use crate::federation::{
    AcceptOutcome, IncomingMessage, MessageRecord, OutboxItem, OutboxState, OutgoingMessage,
    RefusalRecord, StoredDirectory, StoredMessage,
};
use crate::group_commit::Writer;
use crate::hash_blocks;
use crate::ledger::{EntryDigest, LedgerEntry, LedgerScan, PendingEntry, StoredCheckpoint};
use crate::people::{SessionOutcome, SessionRecord, SignInState, TokenRecord, UserRecord};
use crate::records::{Backend, NewEvent, NodeInfo, RequestEvent, RequestFilter, RequestRecord};
use crate::rows::{self, columns};
use crate::sqlite_db::{
    self as db, Readers, Role, all, first, read_blocks, read_ledger_size, value,
};
use crate::sqlite_people;
use crate::sqlite_write as write;
use crate::witness::{CosignatureRecord, ForkRecord, WitnessedState};
use crate::{Store, StoreError};

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
        let writer = Writer::start(db::connect(&file, Role::Writer)?)?;
        migrations.close().await;

        let (stop, thread) = db::start_checkpointer(&file)?;
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
            .write(move |conn| write::queue_ledger(conn, &entries, at))
            .await
    }

    async fn pending_ledger(&self, limit: u32) -> Result<Vec<PendingEntry>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    columns!(ledger_pending),
                    " FROM ledger_pending ORDER BY id LIMIT ?1"
                ),
                [sql_count(limit)],
                "read queued ledger entries",
                |row| rows::pending(row),
            )
        })
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
                write::append_ledger(conn, expected_size, &consumed, &entries, &hashes, at)
            })
            .await
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
        let (consumed, entries, hashes) = (consumed.to_vec(), entries.to_vec(), hashes.to_vec());
        let checkpoint = checkpoint.clone();
        // One job: an error in either part rolls back both (the job's
        // savepoint), and both reach the disk with one commit.
        self.writer
            .write(move |conn| {
                write::append_ledger(conn, expected_size, &consumed, &entries, &hashes, at)?;
                write::put_checkpoint(conn, &checkpoint)
            })
            .await
    }

    async fn ledger_size(&self) -> Result<u64, StoreError> {
        decode::ledger_size(self.read(read_ledger_size)?)
    }

    async fn ledger_hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.read(|conn| {
            read_blocks(
                conn,
                hash_blocks::blocks_for(indexes.iter().copied()),
                "read ledger hashes",
            )
        })?;
        hash_blocks::hashes_at(indexes, &rows)
    }

    async fn ledger_scan(
        &self,
        entries: u64,
        hashes: u64,
        digest: EntryDigest,
    ) -> Result<LedgerScan, StoreError> {
        if self.shared.readers.is_closed() {
            return Err(db::closed());
        }
        Ok(crate::sqlite_scan::scan(
            self.file.clone(),
            entries,
            hashes,
            digest,
        ))
    }

    async fn ledger_entries(&self, from: u64, limit: u32) -> Result<Vec<LedgerEntry>, StoreError> {
        let Ok(start) = i64::try_from(from) else {
            // Still a read of the size, so a closed store says so.
            self.ledger_size().await?;
            return Ok(Vec::new());
        };
        let (size, rows) = self
            .read_long(move |conn| {
                // The size is read first: entries are only ever added, so
                // every index below it must be found by the read that
                // follows.
                let size = decode::ledger_size(read_ledger_size(conn)?)?;
                let rows = all(
                    conn,
                    concat!(
                        "SELECT ",
                        columns!(ledger_entries),
                        " FROM ledger_entries WHERE idx >= ?1 \
                     ORDER BY idx LIMIT ?2"
                    ),
                    [start, sql_count(limit)],
                    "read ledger entries",
                    |row| rows::ledger_entry(row),
                )?;
                Ok((size, rows))
            })
            .await?;
        decode::ledger_run(from, limit, size, rows)
    }

    async fn ledger_find(&self, entry: &[u8], from: u64) -> Result<Option<u64>, StoreError> {
        let Ok(start) = i64::try_from(from) else {
            return Ok(None);
        };
        let found: Option<i64> = self.read(|conn| {
            value(
                conn,
                "SELECT idx FROM ledger_entries WHERE idx >= ?1 AND entry = ?2 \
                 ORDER BY idx LIMIT 1",
                params![start, entry],
                "look for a ledger entry",
            )
        })?;
        found.map(decode::ledger_index).transpose()
    }

    async fn ledger_entry(&self, index: u64) -> Result<Option<LedgerEntry>, StoreError> {
        self.read(|conn| {
            // As in `ledger_entries`, the size first.
            let size = decode::ledger_size(read_ledger_size(conn)?)?;
            let Some(idx) = i64::try_from(index).ok().filter(|_| index < size) else {
                return Ok(None);
            };
            let row = first(
                conn,
                concat!(
                    "SELECT ",
                    columns!(ledger_entries),
                    " FROM ledger_entries WHERE idx = ?1"
                ),
                [idx],
                "read a ledger entry",
                |row| rows::ledger_entry(row),
            )?;
            match row {
                Some(row) => row.parse().map(Some),
                None => Err(decode::missing_entry(index)),
            }
        })
    }

    async fn put_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError> {
        let checkpoint = checkpoint.clone();
        self.writer
            .write(move |conn| write::put_checkpoint(conn, &checkpoint))
            .await
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.sqlite_latest_checkpoint().await
    }

    async fn checkpoint(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.sqlite_checkpoint(size).await
    }

    async fn witnessed(&self, origin: &str) -> Result<Option<WitnessedState>, StoreError> {
        self.sqlite_witnessed(origin).await
    }

    async fn put_witnessed(
        &self,
        state: &WitnessedState,
        expected_size: Option<u64>,
    ) -> Result<(), StoreError> {
        let state = state.clone();
        self.writer
            .write(move |conn| write::put_witnessed(conn, &state, expected_size))
            .await
    }

    async fn list_witnessed(&self) -> Result<Vec<WitnessedState>, StoreError> {
        self.sqlite_list_witnessed().await
    }

    async fn record_fork(
        &self,
        origin: &str,
        evidence: &serde_json::Value,
        at: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        let (origin, evidence) = (origin.to_owned(), evidence.clone());
        self.writer
            .write(move |conn| write::record_fork(conn, &origin, &evidence, at))
            .await
    }

    async fn forks(&self, limit: u32) -> Result<Vec<ForkRecord>, StoreError> {
        self.sqlite_forks(limit).await
    }

    async fn put_cosignature(&self, cosignature: &CosignatureRecord) -> Result<(), StoreError> {
        let cosignature = cosignature.clone();
        self.writer
            .write(move |conn| write::put_cosignature(conn, &cosignature))
            .await
    }

    async fn cosignatures(&self, size: u64) -> Result<Vec<CosignatureRecord>, StoreError> {
        self.sqlite_cosignatures(size).await
    }

    async fn latest_cosigned_size(&self, witness: &str) -> Result<Option<u64>, StoreError> {
        self.sqlite_latest_cosigned_size(witness).await
    }

    async fn list_cases(&self, filter: &CaseRowFilter) -> Result<Vec<CaseRow>, StoreError> {
        self.sqlite_list_cases(filter).await
    }

    async fn get_case(&self, id: &str) -> Result<Option<CaseRow>, StoreError> {
        self.sqlite_get_case(id).await
    }

    async fn count_open_cases(
        &self,
        hidden_from: Option<&str>,
    ) -> Result<Vec<crate::StateCount>, StoreError> {
        self.sqlite_count_open_cases(hidden_from).await
    }

    async fn stale_cases(&self, after: &str, limit: u32) -> Result<Vec<StaleCase>, StoreError> {
        self.sqlite_stale_cases(after, limit).await
    }

    async fn case_revision(&self, id: &str) -> Result<Option<i64>, StoreError> {
        self.sqlite_case_revision(id).await
    }

    async fn put_case(&self, row: &CaseRow, revision: i64) -> Result<bool, StoreError> {
        self.sqlite_put_case(row, revision).await
    }

    async fn due_cases(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<String>, StoreError> {
        self.sqlite_due_cases(now, limit).await
    }

    async fn case_index_format(&self) -> Result<i64, StoreError> {
        self.sqlite_case_index_format().await
    }

    async fn reset_case_index(&self, format: i64) -> Result<u64, StoreError> {
        self.sqlite_reset_case_index(format).await
    }

    async fn bulk_put_cases(&self, rows: &[CaseRow]) -> Result<(), StoreError> {
        self.sqlite_bulk_put_cases(rows).await
    }

    async fn case_statistics(
        &self,
        period: crate::StatsPeriod,
    ) -> Result<crate::CaseStatistics, StoreError> {
        self.sqlite_case_statistics(period).await
    }

    async fn fired_events(&self, case_id: &str) -> Result<Vec<ClockFired>, StoreError> {
        self.sqlite_fired_events(case_id).await
    }

    async fn record_clock_event(
        &self,
        fired: &ClockFired,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        self.sqlite_record_clock_event(fired, event).await
    }

    async fn record_outgoing_once(
        &self,
        fired: &ClockFired,
        message: &OutgoingMessage,
    ) -> Result<bool, StoreError> {
        self.sqlite_record_outgoing_once(fired, message).await
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

    // -- Access (`sqlite_access.rs`).

    async fn record_accesses(
        &self,
        records: &[(crate::AccessRecord, Vec<u8>)],
    ) -> Result<Vec<i64>, StoreError> {
        self.sqlite_record_accesses(records).await
    }

    async fn access_records(
        &self,
        filter: &crate::AccessFilter,
    ) -> Result<Vec<crate::AccessRecord>, StoreError> {
        self.sqlite_access_records(filter).await
    }

    async fn grant_case(&self, grant: &crate::CaseGrant, entry: &[u8]) -> Result<i64, StoreError> {
        self.sqlite_grant_case(grant, entry).await
    }

    async fn revoke_case_grants(
        &self,
        case_id: &str,
        person: &str,
        by: &str,
        at: OffsetDateTime,
        entry: &[u8],
    ) -> Result<u64, StoreError> {
        self.sqlite_revoke_case_grants(case_id, person, by, at, entry)
            .await
    }

    async fn case_grants(&self, case_id: &str) -> Result<Vec<crate::CaseGrant>, StoreError> {
        self.sqlite_case_grants(case_id).await
    }

    // -- Confidentiality (`sqlite_assignments.rs`), issue 18.

    async fn assign_case(
        &self,
        a: &crate::CaseAssignment,
        entry: &[u8],
    ) -> Result<Option<i64>, StoreError> {
        self.sqlite_assign_case(a, entry).await
    }

    async fn unassign_case(
        &self,
        case_id: &str,
        person: &str,
        by: &str,
        at: OffsetDateTime,
        entry: &[u8],
    ) -> Result<u64, StoreError> {
        self.sqlite_unassign_case(case_id, person, by, at, entry)
            .await
    }

    async fn case_assignments(&self, id: &str) -> Result<Vec<crate::CaseAssignment>, StoreError> {
        self.sqlite_case_assignments(id).await
    }

    async fn mark_confidential(&self, mark: &crate::ConfidentialMark) -> Result<(), StoreError> {
        self.sqlite_mark_confidential(mark).await
    }

    async fn confidential_marks(
        &self,
        id: &str,
    ) -> Result<Vec<crate::ConfidentialMark>, StoreError> {
        self.sqlite_confidential_marks(id).await
    }

    async fn all_confidential_marks(&self) -> Result<Vec<crate::ConfidentialMark>, StoreError> {
        self.sqlite_all_confidential_marks().await
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

    // -- People: the statements are in `sqlite_people.rs`.

    async fn add_user(
        &self,
        user: &UserRecord,
        recovery_codes: &[String],
        ledger: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlite_people::add_user(self, user, recovery_codes, ledger, at).await
    }

    async fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        sqlite_people::user(self, name)
    }

    async fn set_user_language(
        &self,
        name: &str,
        language: Option<&str>,
    ) -> Result<bool, StoreError> {
        sqlite_people::set_language(self, name, language).await
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        sqlite_people::users(self).await
    }

    async fn change_user(
        &self,
        user: &UserRecord,
        recovery_codes: Option<&[String]>,
        ledger: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        sqlite_people::change_user(self, user, recovery_codes, ledger, at).await
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
        sqlite_people::set_sign_in_state(self, name, expected, new, ledger, access, at).await
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
        sqlite_people::open_session(self, expected, new, recovery_code, session, ledger, access)
            .await
    }

    async fn recovery_codes_left(&self, name: &str) -> Result<u32, StoreError> {
        sqlite_people::recovery_codes_left(self, name)
    }

    async fn session_by_hash(
        &self,
        secret_hash: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        sqlite_people::session_by_hash(self, secret_hash)
    }

    async fn touch_session(&self, id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlite_people::touch_session(self, id, at).await
    }

    async fn sessions(&self, user: Option<&str>) -> Result<Vec<SessionRecord>, StoreError> {
        sqlite_people::sessions(self, user).await
    }

    async fn revoke_session(
        &self,
        id: &str,
        ledger: &[Vec<u8>],
        access: &[AccessRecord],
        at: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        sqlite_people::revoke_session(self, id, ledger, access, at).await
    }

    async fn put_token(
        &self,
        token: &TokenRecord,
        ledger: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlite_people::put_token(self, token, ledger, at).await
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        sqlite_people::token_by_hash(self, secret_hash)
    }

    async fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenRecord>, StoreError> {
        sqlite_people::tokens(self, user).await
    }

    async fn revoke_token(
        &self,
        id: &str,
        ledger: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<Option<TokenRecord>, StoreError> {
        sqlite_people::revoke_token(self, id, ledger, at).await
    }

    // -- The on-call rota and alerts (`sqlite_alerts.rs`).

    async fn put_shift(&self, shift: &ShiftRecord, ledger: &[Vec<u8>]) -> Result<(), StoreError> {
        self.sqlite_put_shift(shift, ledger).await
    }

    async fn remove_shift(
        &self,
        id: &str,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        self.sqlite_remove_shift(id, at, ledger).await
    }

    async fn shifts(&self, include_removed: bool) -> Result<Vec<ShiftRecord>, StoreError> {
        self.sqlite_shifts(include_removed).await
    }

    async fn raise_alert(
        &self,
        alert: &AlertRecord,
        deliveries: &[NewDelivery],
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        self.sqlite_raise_alert(alert, deliveries, ledger).await
    }

    async fn alerts(&self, open_only: bool, limit: u32) -> Result<Vec<AlertRecord>, StoreError> {
        self.sqlite_alerts(open_only, limit).await
    }

    async fn get_alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        self.sqlite_get_alert(id).await
    }

    async fn acknowledge_alert(
        &self,
        id: &str,
        by: &str,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        self.sqlite_acknowledge_alert(id, by, at, ledger).await
    }

    async fn due_escalations(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        self.sqlite_due_escalations(now, limit).await
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
        self.sqlite_escalate_alert(id, from_level, escalate_at, deliveries, at, ledger)
            .await
    }

    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.sqlite_claim_deliveries(now, lease_until, limit).await
    }

    async fn delivery_done(
        &self,
        id: i64,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        self.sqlite_delivery_done(id, at, ledger).await
    }

    async fn delivery_retry(
        &self,
        id: i64,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        self.sqlite_delivery_retry(id, attempts, next_attempt_at, error)
            .await
    }

    async fn delivery_failed(
        &self,
        id: i64,
        attempts: u32,
        at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        self.sqlite_delivery_failed(id, attempts, at, error).await
    }

    async fn alert_deliveries(&self, alert_id: &str) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.sqlite_alert_deliveries(alert_id).await
    }

    async fn accept_incoming_alerting(
        &self,
        message: &IncomingMessage,
        alert: Option<&NewAlert>,
    ) -> Result<AcceptOutcome, StoreError> {
        self.sqlite_accept_incoming_alerting(message, alert).await
    }

    async fn record_clock_event_alerting(
        &self,
        fired: &ClockFired,
        event: &NewEvent,
        alert: Option<&NewAlert>,
    ) -> Result<bool, StoreError> {
        self.sqlite_record_clock_event_alerting(fired, event, alert)
            .await
    }

    async fn record_outgoing_once_alerting(
        &self,
        fired: &ClockFired,
        message: &OutgoingMessage,
        alert: Option<&NewAlert>,
    ) -> Result<bool, StoreError> {
        self.sqlite_record_outgoing_once_alerting(fired, message, alert)
            .await
    }

    // -- issue 18: use limits (`sqlite_received.rs`).

    async fn index_received(
        &self,
        origin: &crate::ReceivedOrigin,
        hashes: &[String],
    ) -> Result<(), StoreError> {
        self.sqlite_index_received(origin, hashes).await
    }

    async fn received_origins(&self) -> Result<Vec<crate::ReceivedOrigin>, StoreError> {
        self.sqlite_received_origins().await
    }

    async fn received_files(
        &self,
        hashes: &[String],
    ) -> Result<Vec<crate::ReceivedFile>, StoreError> {
        self.sqlite_received_files(hashes).await
    }
    // -- issue 18: retention

    async fn retention(&self, case_id: &str) -> Result<Option<crate::RetentionRecord>, StoreError> {
        self.sqlite_retention(case_id).await
    }

    async fn put_retention(
        &self,
        record: &crate::RetentionRecord,
        change: Option<&crate::RetentionChange>,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        self.sqlite_put_retention(record, change, ledger).await
    }

    async fn retention_changes(
        &self,
        case_id: &str,
    ) -> Result<Vec<crate::RetentionChange>, StoreError> {
        self.sqlite_retention_changes(case_id).await
    }

    async fn due_deletions(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        self.sqlite_due_deletions(now, limit).await
    }

    async fn delete_case_content(
        &self,
        deletion: &crate::ContentDeletion,
        ledger: &[Vec<u8>],
        report: Option<&OutgoingMessage>,
    ) -> Result<Option<crate::ContentDeletion>, StoreError> {
        self.sqlite_delete_case_content(deletion, ledger, report)
            .await
    }

    async fn content_deletion(
        &self,
        case_id: &str,
    ) -> Result<Option<crate::ContentDeletion>, StoreError> {
        self.sqlite_content_deletion(case_id).await
    }

    async fn deleted_cases(&self) -> Result<Vec<String>, StoreError> {
        self.sqlite_deleted_cases().await
    }
}
