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
    let entries_out = out.entries;
    tokio::task::spawn_blocking(move || {
        if let Err(e) = read_entries(&entries_path, entries, &entries_out) {
            let _ = entries_out.blocking_send(Err(e));
        }
    });
    let hashes_out = out.hashes;
    tokio::task::spawn_blocking(move || {
        if let Err(e) = read_hashes(&path, hashes, &hashes_out) {
            let _ = hashes_out.blocking_send(Err(e));
        }
    });
    scan
}

/// The end of a stream: the receiver is gone (the scan was dropped), so
/// the reader stops quietly.
struct Stopped;

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

/// Reads entries `0..count` into runs; a missing row ends the stream with
/// [`StoreError::LedgerGap`] after the runs before it.
fn read_entries(
    path: &Path,
    count: u64,
    out: &Sender<Result<EntryRun, StoreError>>,
) -> Result<(), StoreError> {
    const READ: &str = "read the ledger's entries";
    if count == 0 {
        return Ok(());
    }
    let conn = open(path)?;
    let mut stmt = conn
        .prepare("SELECT idx, entry FROM ledger_entries WHERE idx >= 0 AND idx < ?1 ORDER BY idx")
        .map_err(failed(READ))?;
    let mut rows = stmt
        .query([i64::try_from(count).unwrap_or(i64::MAX)])
        .map_err(failed(READ))?;
    let mut next = 0u64;
    let mut run = new_run(0);
    let send = |run: EntryRun| out.blocking_send(Ok(run)).map_err(|_| Stopped);
    let problem = loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break None,
            Err(e) => break Some(failed(READ)(e)),
        };
        match entry_row(row, next) {
            Ok(Some(entry)) => run.push(entry),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
        next += 1;
        if run.len() == SCAN_RUN && send(std::mem::replace(&mut run, new_run(next))).is_err() {
            return Ok(());
        }
    };
    // Everything read before the problem goes first, so that the reader of
    // the stream meets the problem where it is.
    if !run.is_empty() && send(run).is_err() {
        return Ok(());
    }
    match problem {
        Some(e) => Err(e),
        None if next < count => Err(StoreError::LedgerGap {
            table: "ledger_entries",
            index: next,
        }),
        None => Ok(()),
    }
}

/// The entry of a row that should hold entry `next`; `None` if the row is
/// a later one (the entry is missing).
fn entry_row<'r>(row: &'r rusqlite::Row<'_>, next: u64) -> Result<Option<&'r [u8]>, StoreError> {
    const READ: &str = "read the ledger's entries";
    let idx: i64 = row.get(0).map_err(failed(READ))?;
    if u64::try_from(idx).ok() != Some(next) {
        return Ok(None);
    }
    match row.get_ref(1).map_err(failed(READ))? {
        ValueRef::Blob(entry) => Ok(Some(entry)),
        other => Err(StoreError::Corrupt {
            table: "ledger_entries",
            column: "entry",
            detail: format!("index {next}: a {:?} value, not bytes", other.data_type()),
        }),
    }
}

fn new_run(first: u64) -> EntryRun {
    // Custody entries are a few hundred bytes each.
    EntryRun::with_capacity(first, SCAN_RUN, SCAN_RUN * 512)
}

/// Reads stored hashes `0..count` into runs, as [`read_entries`] does.
fn read_hashes(
    path: &Path,
    count: u64,
    out: &Sender<Result<HashRun, StoreError>>,
) -> Result<(), StoreError> {
    const READ: &str = "read the ledger's stored hashes";
    const RUN: usize = 2 * SCAN_RUN;
    if count == 0 {
        return Ok(());
    }
    let conn = open(path)?;
    let mut stmt = conn
        .prepare("SELECT idx, hash FROM ledger_hashes WHERE idx >= 0 AND idx < ?1 ORDER BY idx")
        .map_err(failed(READ))?;
    let mut rows = stmt
        .query([i64::try_from(count).unwrap_or(i64::MAX)])
        .map_err(failed(READ))?;
    let mut next = 0u64;
    let mut run = HashRun {
        first: 0,
        hashes: Vec::with_capacity(RUN),
    };
    let send = |run: HashRun| out.blocking_send(Ok(run)).map_err(|_| Stopped);
    let problem = loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break None,
            Err(e) => break Some(failed(READ)(e)),
        };
        match hash_row(row, next) {
            Ok(Some(hash)) => run.hashes.push(hash),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
        next += 1;
        if run.hashes.len() == RUN {
            let full = std::mem::replace(
                &mut run,
                HashRun {
                    first: next,
                    hashes: Vec::with_capacity(RUN),
                },
            );
            if send(full).is_err() {
                return Ok(());
            }
        }
    };
    if !run.hashes.is_empty() && send(run).is_err() {
        return Ok(());
    }
    match problem {
        Some(e) => Err(e),
        None if next < count => Err(StoreError::LedgerGap {
            table: "ledger_hashes",
            index: next,
        }),
        None => Ok(()),
    }
}

/// The hash of a row that should hold stored hash `next`, as
/// [`entry_row`].
fn hash_row(row: &rusqlite::Row<'_>, next: u64) -> Result<Option<[u8; 32]>, StoreError> {
    const READ: &str = "read the ledger's stored hashes";
    let idx: i64 = row.get(0).map_err(failed(READ))?;
    if u64::try_from(idx).ok() != Some(next) {
        return Ok(None);
    }
    let hash = match row.get_ref(1).map_err(failed(READ))? {
        ValueRef::Blob(hash) => {
            <[u8; 32]>::try_from(hash).map_err(|_| format!("{} bytes", hash.len()))
        }
        ValueRef::Null => Err("the hash is NULL".to_owned()),
        other => Err(format!("a {:?} value", other.data_type())),
    };
    hash.map(Some).map_err(|what| StoreError::Corrupt {
        table: "ledger_hashes",
        column: "hash",
        detail: format!("index {next}: {what}, not a 32-byte hash"),
    })
}
