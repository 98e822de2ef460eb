//! The sequential read of the whole ledger behind
//! [`crate::Store::ledger_scan`] on SQLite.
//!
//! sqlx runs each SQLite connection on a worker thread and hands rows to
//! the calling task one at a time, about a microsecond a row; a full
//! verification reads three rows per entry, millions of them. Here each of
//! the two streams gets its own read-only connection (rusqlite, on the same
//! bundled SQLite) on a blocking thread that steps through the rows and
//! packs them into runs. WAL lets both read beside the node's writer; rows
//! added after the scan starts lie beyond the counts asked for.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::mpsc::Sender;

use crate::StoreError;
use crate::ledger::{EntryRun, HashRun, LedgerScan, SCAN_RUN};

/// How long a scan's connection waits for a lock (only a checkpoint of the
/// WAL can hold one against readers, briefly).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the two readers of a scan of the file at `path`.
pub(crate) fn scan(path: PathBuf, entries: u64, hashes: u64) -> LedgerScan {
    let (scan, out) = LedgerScan::channels();
    let entries_path = path.clone();
    tokio::task::spawn_blocking(move || read::<EntryRun>(&entries_path, entries, &out.entries));
    tokio::task::spawn_blocking(move || read::<HashRun>(&path, hashes, &out.hashes));
    scan
}

/// What one stream of a scan reads: a table of rows `(idx, value)`, packed
/// into runs.
trait Stream: Sized {
    /// The table, for the query and for errors.
    const TABLE: &'static str;
    /// What a failed read was doing, for errors.
    const READ: &'static str;
    /// Rows per run.
    const RUN: usize;
    /// The query: the rows below `?1`, in index order.
    const SQL: &'static str;
    fn new_run(first: u64) -> Self;
    fn len(&self) -> usize;
    /// Adds the value of row `index`, or says why it is not one.
    fn push(&mut self, index: u64, value: ValueRef<'_>) -> Result<(), StoreError>;
}

impl Stream for EntryRun {
    const TABLE: &'static str = "ledger_entries";
    const READ: &'static str = "read the ledger's entries";
    const RUN: usize = SCAN_RUN;
    const SQL: &'static str =
        "SELECT idx, entry FROM ledger_entries WHERE idx >= 0 AND idx < ?1 ORDER BY idx";

    fn new_run(first: u64) -> Self {
        // Custody entries are a few hundred bytes each.
        EntryRun::with_capacity(first, SCAN_RUN, SCAN_RUN * 512)
    }

    fn len(&self) -> usize {
        EntryRun::len(self)
    }

    fn push(&mut self, index: u64, value: ValueRef<'_>) -> Result<(), StoreError> {
        match value {
            ValueRef::Blob(entry) => {
                EntryRun::push(self, entry);
                Ok(())
            }
            other => Err(StoreError::Corrupt {
                table: Self::TABLE,
                column: "entry",
                detail: format!("index {index}: a {:?} value, not bytes", other.data_type()),
            }),
        }
    }
}

impl Stream for HashRun {
    const TABLE: &'static str = "ledger_hashes";
    const READ: &'static str = "read the ledger's stored hashes";
    const RUN: usize = 2 * SCAN_RUN;
    const SQL: &'static str =
        "SELECT idx, hash FROM ledger_hashes WHERE idx >= 0 AND idx < ?1 ORDER BY idx";

    fn new_run(first: u64) -> Self {
        HashRun {
            first,
            hashes: Vec::with_capacity(Self::RUN),
        }
    }

    fn len(&self) -> usize {
        self.hashes.len()
    }

    fn push(&mut self, index: u64, value: ValueRef<'_>) -> Result<(), StoreError> {
        let hash = match value {
            ValueRef::Blob(hash) => {
                <[u8; 32]>::try_from(hash).map_err(|_| format!("{} bytes", hash.len()))
            }
            ValueRef::Null => Err("the hash is NULL".to_owned()),
            other => Err(format!("a {:?} value", other.data_type())),
        };
        let hash = hash.map_err(|what| StoreError::Corrupt {
            table: Self::TABLE,
            column: "hash",
            detail: format!("index {index}: {what}, not a 32-byte hash"),
        })?;
        self.hashes.push(hash);
        Ok(())
    }
}

/// Reads rows `0..count` of one stream's table into runs and sends them; a
/// problem (a missing row is [`StoreError::LedgerGap`]) is sent after the
/// runs before it, so that the reader of the stream meets it where it is.
/// Stops quietly when the scan is dropped.
fn read<R: Stream>(path: &Path, count: u64, out: &Sender<Result<R, StoreError>>) {
    let send = |item: Result<R, StoreError>| out.blocking_send(item).is_ok();
    if count == 0 {
        return;
    }
    let conn = match open(path) {
        Ok(conn) => conn,
        Err(e) => {
            send(Err(e));
            return;
        }
    };
    let mut stmt = match conn.prepare(R::SQL) {
        Ok(stmt) => stmt,
        Err(e) => {
            send(Err(failed(R::READ)(e)));
            return;
        }
    };
    let mut rows = match stmt.query([i64::try_from(count).unwrap_or(i64::MAX)]) {
        Ok(rows) => rows,
        Err(e) => {
            send(Err(failed(R::READ)(e)));
            return;
        }
    };
    let mut next = 0u64;
    let mut run = R::new_run(0);
    let problem = loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break None,
            Err(e) => break Some(failed(R::READ)(e)),
        };
        let value = row
            .get::<_, i64>(0)
            .and_then(|idx| Ok((idx, row.get_ref(1)?)));
        match value {
            Ok((idx, _)) if u64::try_from(idx).ok() != Some(next) => break None,
            Ok((_, value)) => {
                if let Err(e) = run.push(next, value) {
                    break Some(e);
                }
            }
            Err(e) => break Some(failed(R::READ)(e)),
        }
        next += 1;
        if run.len() == R::RUN && !send(Ok(std::mem::replace(&mut run, R::new_run(next)))) {
            return;
        }
    };
    if run.len() > 0 && !send(Ok(run)) {
        return;
    }
    match problem {
        Some(e) => {
            send(Err(e));
        }
        None if next < count => {
            send(Err(StoreError::LedgerGap {
                table: R::TABLE,
                index: next,
            }));
        }
        None => {}
    }
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed("open the database to read the ledger"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(failed("open the database to read the ledger"))?;
    Ok(conn)
}

fn failed(operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError::Database {
        operation,
        detail: e.to_string(),
    }
}
