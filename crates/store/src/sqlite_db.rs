//! The SQLite adapter's connections: how they are opened, how their errors
//! and columns become [`StoreError`]s, the pool of reading connections, the
//! thread that checkpoints the write-ahead log, and the reads of the
//! ledger's size and stored hashes that reads and writes share.
//!
//! Every statement runs on a rusqlite connection of the thread that needs
//! its result: the writer's own thread for writes
//! ([`crate::group_commit`]), the calling task's thread for short reads.
//! A point read from a database whose pages are cached takes a few
//! microseconds, less than handing it to another thread and waking the
//! caller again, which is what a connection on a worker thread costs for
//! every statement. Reads whose length depends on the data (lists) run on
//! tokio's blocking threads instead, so they never hold up other tasks.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::{FromSql, ValueRef};
use rusqlite::{Connection, OpenFlags, Params, Row};
use time::OffsetDateTime;

use crate::StoreError;
use crate::decode;
use crate::hash_blocks::{self, BlockRow};

/// How long a statement waits for another connection's lock before it
/// fails. Writes are short, so reaching this means something is stuck.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepared statements each connection keeps (the adapter has a few dozen
/// distinct statements; re-preparing one costs more than running it).
const STATEMENT_CACHE: usize = 96;

/// Idle reading connections kept for reuse; more are opened when more
/// reads run at once, and closed after.
const IDLE_READERS: usize = 4;

/// The writer's page cache, as SQLite's `cache_size` takes it (negative:
/// KiB): 2 MiB, about SQLite's default. A larger cache costs every commit
/// more as it fills: the pager trims the cache at the end of each
/// transaction by walking its hash table (`pcache1TruncateUnsafe` under
/// `pager_end_transaction`, a large share of the writer's samples in a
/// profile of the retention bench with 32 MiB). Back to back on one build
/// the purge went from 504 to 540 cases/s, and the federation bench did
/// not move; the database's pages stay in the operating system's cache.
const WRITER_CACHE_KIB: i64 = -2 * 1024;

/// What a connection is for, which decides how it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The one connection that writes.
    Writer,
    /// A connection that only reads.
    Reader,
    /// The connection that copies the write-ahead log into the database.
    Checkpointer,
}

/// Opens a connection to the database file at `path`, which must exist
/// with its schema (the migrations run before any of these is opened).
pub(crate) fn connect(path: &Path, role: Role) -> Result<Connection, StoreError> {
    let flags = match role {
        Role::Reader => OpenFlags::SQLITE_OPEN_READ_ONLY,
        Role::Writer | Role::Checkpointer => OpenFlags::SQLITE_OPEN_READ_WRITE,
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot open SQLite database {}: {e}",
            path.display()
        ))
    })?;
    let setup = failed("set up a database connection");
    conn.busy_timeout(BUSY_TIMEOUT).map_err(&setup)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if role != Role::Reader {
        // FULL, not NORMAL: with WAL, NORMAL may lose the last commits on
        // power failure. A node acknowledges requests to other States and
        // records custody events, so a commit must survive once reported.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(&setup)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(&setup)?;
        // The WAL is copied back by the checkpointer (see
        // `checkpoint_wal`), not by whichever commit happens
        // to cross the threshold: that commit, and every write grouped with
        // it, would wait for the copy and its fsync.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(&setup)?;
    }
    if role == Role::Writer {
        // Each job runs inside a savepoint, for which SQLite keeps the
        // pages it changes in a statement journal: in memory, not in a
        // temporary file written with a system call per page.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(&setup)?;
        // A group of writes fits in this cache until its commit (SQLite
        // spills pages into the log in the middle of one that does not).
        conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)
            .map_err(&setup)?;
        // Content removed or rewritten is overwritten with zeros, so an
        // earlier version of a row (such as an envelope an upgrade sealed)
        // does not linger in free space for a copy of the file to reveal.
        conn.pragma_update(None, "secure_delete", true)
            .map_err(&setup)?;
    }
    Ok(conn)
}

/// Converts a failed statement into a [`StoreError`], keeping its text.
/// `operation` completes "the database failed to …".
pub(crate) fn failed(operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match &e {
        rusqlite::Error::SqliteFailure(code, _) if code.code == rusqlite::ErrorCode::DiskFull => {
            StoreError::StorageFull(format!("cannot {operation}: {e}"))
        }
        rusqlite::Error::SqliteFailure(code, _)
            if matches!(
                code.code,
                rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::NotADatabase
            ) =>
        {
            StoreError::Unavailable(format!("cannot {operation}: {e}"))
        }
        _ => StoreError::Database {
            operation,
            detail: e.to_string(),
        },
    }
}

/// Reads a column of a row of `table`; a value of the wrong type (only
/// possible when the file was edited outside Custos) is
/// [`StoreError::Corrupt`].
pub(crate) fn column<T: FromSql>(
    row: &Row<'_>,
    table: &'static str,
    column: &'static str,
) -> Result<T, StoreError> {
    row.get(column).map_err(|e| StoreError::Corrupt {
        table,
        column,
        detail: e.to_string(),
    })
}

/// Reads a timestamp column (microseconds since the epoch).
pub(crate) fn time(
    row: &Row<'_>,
    table: &'static str,
    name: &'static str,
) -> Result<OffsetDateTime, StoreError> {
    decode::unix_micros(table, name, column(row, table, name)?)
}

/// Reads a nullable timestamp column.
pub(crate) fn optional_time(
    row: &Row<'_>,
    table: &'static str,
    name: &'static str,
) -> Result<Option<OffsetDateTime>, StoreError> {
    column::<Option<i64>>(row, table, name)?
        .map(|micros| decode::unix_micros(table, name, micros))
        .transpose()
}

/// Runs a statement that changes rows and returns how many it changed.
pub(crate) fn execute(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    operation: &'static str,
) -> Result<usize, StoreError> {
    let e = failed(operation);
    conn.prepare_cached(sql)
        .map_err(&e)?
        .execute(params)
        .map_err(&e)
}

/// Every row of a query, each read by `read`.
pub(crate) fn all<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    operation: &'static str,
    mut read: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let e = failed(operation);
    let mut stmt = conn.prepare_cached(sql).map_err(&e)?;
    let mut rows = stmt.query(params).map_err(&e)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(&e)? {
        out.push(read(row)?);
    }
    Ok(out)
}

/// The first row of a query, if any, read by `read`.
pub(crate) fn first<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    operation: &'static str,
    read: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let e = failed(operation);
    let mut stmt = conn.prepare_cached(sql).map_err(&e)?;
    let mut rows = stmt.query(params).map_err(&e)?;
    match rows.next().map_err(&e)? {
        Some(row) => read(row).map(Some),
        None => Ok(None),
    }
}

/// The single value of the first row of a query, if any.
pub(crate) fn value<T: FromSql>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    operation: &'static str,
) -> Result<Option<T>, StoreError> {
    let e = failed(operation);
    first(conn, sql, params, operation, |row| row.get(0).map_err(&e))
}

/// What every operation of a closed store answers.
pub(crate) fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".to_owned())
}

/// Reading connections, opened on demand and kept for reuse.
#[derive(Debug)]
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    closed: AtomicBool,
}

impl Readers {
    pub(crate) fn new(path: PathBuf) -> Readers {
        Readers {
            path,
            idle: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        }
    }

    /// Runs `f` on a reading connection, on the calling thread.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(closed());
        }
        // A poisoned lock only means another reader panicked while holding
        // the list; the connections in it are still whole.
        let taken = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match taken {
            Some(conn) => conn,
            None => connect(&self.path, Role::Reader)?,
        };
        let result = f(&conn);
        if !self.closed.load(Ordering::Acquire) {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
        }
        result
    }

    /// Refuses further reads and closes the idle connections.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// How many frames (pages) the write-ahead log may hold before the writer
/// starts it again from its beginning: 65,536 frames, 256 MiB of 4 KiB
/// pages. It is also the size the log's file is cut back to once started
/// again (`journal_size_limit`).
///
/// Starting the log again holds the writer for the last copy and its fsync
/// of the database file: 35-65 ms on a 2-core guest in the middle of the
/// retention bench, so every write queued meanwhile waits that long. A
/// purge fills 64 MiB of log in under a second, so at 16,384 frames those
/// waits came more than once a second and made the 1% slowest messages
/// received during it (intake p99 44-71 ms); at 65,536 they come every
/// 3-4 s (p99 14-18 ms, `docs/benchmarks.md`). Reads look a page up in one
/// more hash table of the log's index per 4,096 frames.
const WAL_LIMIT_FRAMES: i64 = 65_536;

/// The bound on the write-ahead log that the checkpointer and the writer
/// share.
///
/// SQLite starts the log again from its beginning only when a write begins
/// at a moment when every frame in it has been copied into the database.
/// The checkpointer copies beside the writer, so under a steady stream of
/// writes (a purge, an import, a busy intake) there is always a newer
/// commit than the last copy, and the log never starts again: a minute of
/// setting up the retention bench left 3.5 GB of log beside a 175 MB
/// database, and every read has to look up its pages in an index of the
/// log that grows with it. So when the checkpointer finds the log over
/// [`WalLimit::frames`] it asks, and the writer, between two groups of
/// writes, copies the frames written since the checkpointer's pass itself
/// (a passive checkpoint: it waits for no reader), so that its next write
/// begins with every frame copied and starts the log again. A reader still
/// on a frame of the old log keeps it (the copy stops at that frame, or the
/// log is not started again); the checkpointer asks again at its next pass.
#[derive(Debug)]
pub(crate) struct WalLimit {
    /// Frames the log may hold.
    frames: i64,
    /// How often the checkpointer runs.
    every: Duration,
    /// Set by the checkpointer when the log is over the limit; cleared by
    /// the writer once it has tried.
    restart: AtomicBool,
}

impl WalLimit {
    pub(crate) fn new() -> Arc<Self> {
        Self::with(WAL_LIMIT_FRAMES, CHECKPOINT_EVERY)
    }

    pub(crate) fn with(frames: i64, every: Duration) -> Arc<Self> {
        Arc::new(WalLimit {
            frames,
            every,
            restart: AtomicBool::new(false),
        })
    }

    /// Has the writer's connection cut the log's file back to the limit
    /// once the log starts again (the file is otherwise kept at the
    /// largest size it ever reached).
    pub(crate) fn cut_back_to_limit(&self, writer: &Connection) -> Result<(), StoreError> {
        let e = failed("limit the write-ahead log's file");
        let page: i64 = writer
            .pragma_query_value(None, "page_size", |r| r.get(0))
            .map_err(&e)?;
        // A frame is a page and its 24-byte header.
        let bytes = self.frames * (page + 24);
        writer
            .pragma_update_and_check(None, "journal_size_limit", bytes, |_| Ok(()))
            .map_err(e)
    }

    /// Run by the writer between groups of writes: if the checkpointer
    /// asked, copies the frames written since its last pass into the
    /// database (a passive checkpoint, which waits for nothing), so that
    /// the writer's next transaction starts the log again.
    pub(crate) fn restart_if_asked(&self, conn: &Connection) {
        if !self.restart.swap(false, Ordering::AcqRel) {
            return;
        }
        // Its row (busy, frames in the log, frames copied) needs no reading:
        // whatever is left, the checkpointer asks again while the log is
        // over its limit.
        let copied = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        if let Err(e) = copied {
            tracing::warn!(error = %e, "copying the write-ahead log into the database failed; retrying later");
        }
    }
}

/// Copies committed WAL frames back into the database file every
/// [`WalLimit::every`], on a connection of its own, beside the writer (a
/// passive checkpoint never blocks it), until the store closes, and asks
/// the writer to start the log again when it is over its limit. Closing
/// the last connection checkpoints whatever is left.
fn checkpoint_wal(conn: &Connection, limit: &WalLimit, stopped: &mpsc::Receiver<()>) {
    loop {
        match stopped.recv_timeout(limit.every) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        // The second column is the number of frames in the log.
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
            Ok(frames) if frames > limit.frames => limit.restart.store(true, Ordering::Release),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "copying the write-ahead log into the database failed; retrying");
            }
        }
    }
}

/// A row of stored hashes: its number and its bytes (`None` if NULL).
pub(crate) fn block_row(row: &Row<'_>) -> Result<BlockRow, StoreError> {
    let block = column(row, hash_blocks::TABLE, "block")?;
    let hashes = match row.get_ref(1) {
        Ok(ValueRef::Blob(raw)) => Some(raw.to_vec()),
        Ok(ValueRef::Null) => None,
        Ok(other) => {
            return Err(StoreError::Corrupt {
                table: hash_blocks::TABLE,
                column: hash_blocks::COLUMN,
                detail: format!(
                    "block {block} is a {:?} value, not bytes",
                    other.data_type()
                ),
            });
        }
        Err(e) => {
            return Err(StoreError::Corrupt {
                table: hash_blocks::TABLE,
                column: hash_blocks::COLUMN,
                detail: e.to_string(),
            });
        }
    };
    Ok((block, hashes))
}

/// The stored rows among `blocks` (a missing one is left out, for
/// [`hash_blocks`] to name), one indexed read each.
pub(crate) fn read_blocks(
    conn: &Connection,
    blocks: impl IntoIterator<Item = i64>,
    operation: &'static str,
) -> Result<Vec<BlockRow>, StoreError> {
    let mut rows = Vec::new();
    for block in blocks {
        rows.extend(first(
            conn,
            "SELECT block, hashes FROM ledger_hash_blocks WHERE block = ?1",
            [block],
            operation,
            block_row,
        )?);
    }
    Ok(rows)
}

/// The ledger's size as the connection sees it.
pub(crate) fn read_ledger_size(conn: &Connection) -> Result<Option<i64>, StoreError> {
    value(
        conn,
        "SELECT size FROM ledger_head WHERE singleton = 1",
        [],
        "read the ledger's size",
    )
}

/// Starts the thread of [`checkpoint_wal`] on a connection of its own to
/// the file at `path`; it stops once the sender returned is dropped.
pub(crate) fn start_checkpointer(
    path: &Path,
    limit: Arc<WalLimit>,
) -> Result<(mpsc::Sender<()>, std::thread::JoinHandle<()>), StoreError> {
    let (stop, stopped) = mpsc::channel();
    let checkpointer = connect(path, Role::Checkpointer)?;
    let thread = std::thread::Builder::new()
        .name("custos-sqlite-checkpoint".to_owned())
        .spawn(move || checkpoint_wal(&checkpointer, &limit, &stopped))
        .map_err(|e| StoreError::Unavailable(format!("cannot start the checkpoint thread: {e}")))?;
    Ok((stop, thread))
}

/// Checks that a SQLite URL (`sqlite://PATH` or `sqlite:PATH`) names a
/// file: every connection of the adapter opens the file by its path, and
/// an in-memory database would be a different one for each.
pub(crate) fn check_url(url: &str) -> Result<(), StoreError> {
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
        return Err(StoreError::UnsupportedUrl(
            "in-memory SQLite is not supported; name a file (a temporary directory in tests)"
                .to_owned(),
        ));
    }
    Ok(())
}

/// Copies the database at `path` into the new file `to` with `VACUUM INTO`:
/// one read transaction on a connection of its own, so the copy is the
/// database as of one commit while the writer goes on (WAL). The copy is a
/// whole database file, with no write-ahead log beside it.
pub(crate) fn snapshot(path: &Path, to: &Path) -> Result<(), StoreError> {
    let target = to.to_str().ok_or_else(|| StoreError::InvalidValue {
        field: "snapshot path",
        problem: format!("{} is not UTF-8", to.display()),
    })?;
    let conn = connect(path, Role::Reader)?;
    conn.execute("VACUUM INTO ?1", [target])
        .map_err(failed("copy the database into a file"))?;
    Ok(())
}
