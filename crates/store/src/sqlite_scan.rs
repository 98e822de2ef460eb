//! The sequential read of the whole ledger behind
//! [`crate::LedgerStore::ledger_scan`] on SQLite.
//!
//! A full verification reads a row per entry, millions of them. Every
//! reader here is a blocking thread with its own read-only connection that
//! steps through the rows itself. The entries are dealt in runs of
//! [`SCAN_RUN`] to two readers, each digesting its runs straight from
//! SQLite's pages (no copy of the entries leaves the reader) and queueing
//! them on its own, so that neither waits for the other; the stream
//! ([`crate::RunStream`]) hands them out in order. A third reader copies
//! the stored hashes' blocks. WAL
//! lets all of them read beside the node's writer; rows added after the
//! scan starts lie beyond the counts asked for.
//!
//! How a page is best read depends on the machine: through a map of the
//! file (a page fault per few pages, no copy) or with `pread` (a system
//! call and a copy per page). On one virtual machine measured the map made
//! the scan a third cheaper, on another a third dearer. So each scan
//! tries both: the first entry reader starts mapped, the second with
//! `pread`; once each has timed its first [`TRIAL_RUNS`] runs, both go on
//! the faster way ([`Trial`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Statement};

use crate::StoreError;
use crate::hash_blocks;
use crate::ledger::{EntryDigest, HashRun, LedgerScan, SCAN_RUN, StreamOut};
use crate::sqlite_db::{Role, connect, failed};

/// How many readers share the entries: digesting them is most of a
/// verification's work, and a node has at least two cores.
const ENTRY_READERS: usize = 2;

/// Stored hashes per run of the hashes' stream.
const HASH_RUN: usize = 2 * SCAN_RUN;

/// Runs each entry reader times before it may change how it reads pages.
const TRIAL_RUNS: u32 = 3;

/// How a connection reads the database file's pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PageReads {
    /// Through a map of the file (`PRAGMA mmap_size`).
    Mapped,
    /// With `pread`, into SQLite's page cache.
    Copied,
}

impl PageReads {
    /// The way entry reader `reader` starts with: one of each.
    fn first(reader: usize) -> PageReads {
        if reader.is_multiple_of(2) {
            PageReads::Mapped
        } else {
            PageReads::Copied
        }
    }

    fn slot(self) -> usize {
        match self {
            PageReads::Mapped => 0,
            PageReads::Copied => 1,
        }
    }
}

/// The processor time each way of reading pages took over its reader's
/// first [`TRIAL_RUNS`] full runs (the thread's own time, the kernel's
/// share for its page faults or copies included; the digest too, the same
/// work on either side), shared by a scan's entry readers.
#[derive(Debug, Default)]
struct Trial {
    /// Nanoseconds, by [`PageReads::slot`]; 0 until timed.
    nanos: [AtomicU64; 2],
}

impl Trial {
    fn record(&self, way: PageReads, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.nanos[way.slot()].store(nanos, Ordering::Relaxed);
    }

    /// The faster way, once both are timed.
    fn faster(&self) -> Option<PageReads> {
        let mapped = self.nanos[PageReads::Mapped.slot()].load(Ordering::Relaxed);
        let copied = self.nanos[PageReads::Copied.slot()].load(Ordering::Relaxed);
        if mapped == 0 || copied == 0 {
            return None;
        }
        Some(if mapped <= copied {
            PageReads::Mapped
        } else {
            PageReads::Copied
        })
    }
}

/// Starts the readers of a scan of the file at `path`.
pub(crate) fn scan(path: PathBuf, entries: u64, hashes: u64, digest: EntryDigest) -> LedgerScan {
    let (mut scan, digests_out, hashes_out) = LedgerScan::channels(ENTRY_READERS);
    let digests_out = Arc::new(digests_out);
    let trial = Arc::new(Trial::default());
    for reader in 0..ENTRY_READERS {
        let (path, out, trial) = (path.clone(), Arc::clone(&digests_out), Arc::clone(&trial));
        let task = tokio::task::spawn_blocking(move || {
            read_entries(&path, entries, digest, reader, &out, &trial);
        });
        scan.readers.0.push(task);
    }
    let task = tokio::task::spawn_blocking(move || read_hashes(&path, hashes, &hashes_out));
    scan.readers.0.push(task);
    scan
}

/// The entries of a run, in index order. The indexes are not read: the
/// rows in the range are distinct integers, so a run whose row count falls
/// short has a gap, which [`GAP_SQL`] then finds.
const ENTRIES_SQL: &str =
    "SELECT entry FROM ledger_entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx";

/// The indexes present in a run, to find where one is missing.
const GAP_SQL: &str = "SELECT idx FROM ledger_entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx";

/// Reads and digests runs `reader`, `reader + ENTRY_READERS`, … of entries
/// `0..count`, sending each to the reader's lane; stops after a problem,
/// or when the scan is dropped. Times its first runs for `trial`, then
/// reads on the faster way once both are known.
fn read_entries(
    path: &Path,
    count: u64,
    digest: EntryDigest,
    reader: usize,
    out: &StreamOut,
    trial: &Trial,
) {
    let Some(lane) = out.lanes.get(reader) else {
        return;
    };
    let runs = count.div_ceil(SCAN_RUN as u64);
    if reader as u64 >= runs {
        return;
    }
    // The connection reading the way `way`, opened when first needed and
    // again when the trial names the other way.
    let mut way = PageReads::first(reader);
    let mut conn: Option<Connection> = None;
    // This reader's trial: full runs timed, their time; then settled.
    let (mut timed, mut took, mut settled) = (0u32, Duration::ZERO, false);
    for k in (reader as u64..runs).step_by(ENTRY_READERS) {
        if !settled
            && timed >= TRIAL_RUNS
            && let Some(faster) = trial.faster()
        {
            settled = true;
            if faster != way {
                tracing::debug!(?faster, "the ledger scan changes how it reads pages");
                (way, conn) = (faster, None);
            }
        }
        let conn = match conn {
            Some(ref c) => c,
            None => match open(path, way) {
                Ok(c) => &*conn.insert(c),
                Err(e) => {
                    let _ = lane.blocking_send((HashRun::default(), Some(e)));
                    return;
                }
            },
        };
        let first = k * SCAN_RUN as u64;
        let end = count.min(first + SCAN_RUN as u64);
        let mut run = out.fresh(first, SCAN_RUN);
        let started = (timed < TRIAL_RUNS).then(thread_time);
        let problem = match conn.prepare_cached(ENTRIES_SQL) {
            Ok(mut stmt) => digest_entries(conn, &mut stmt, end, digest, &mut run).err(),
            Err(e) => Some(failed("read the ledger's entries")(e)),
        };
        let stop = problem.is_some();
        if !stop {
            digest.finish(&mut run);
            if let Some(started) = started
                && end - first == SCAN_RUN as u64
            {
                took += thread_time().saturating_sub(started);
                timed += 1;
                if timed == TRIAL_RUNS {
                    trial.record(way, took);
                }
            }
        }
        if lane.blocking_send((run, problem)).is_err() || stop {
            return;
        }
    }
}

/// Digests entries `run.first..end` into `run`; a missing entry is
/// [`StoreError::LedgerGap`], with `run` holding the digests of those
/// before it.
fn digest_entries(
    conn: &Connection,
    stmt: &mut Statement<'_>,
    end: u64,
    digest: EntryDigest,
    run: &mut HashRun,
) -> Result<(), StoreError> {
    let read = failed("read the ledger's entries");
    let bound = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let mut rows = stmt.query([bound(run.first), bound(end)]).map_err(&read)?;
    while let Some(row) = rows.next().map_err(&read)? {
        match row.get_ref(0).map_err(&read)? {
            ValueRef::Blob(entry) => run.hashes.push(digest.entry(entry)),
            other => {
                // Named once the gap check below has placed it.
                let at = run.first + run.hashes.len() as u64;
                let gap = first_gap(conn, run.first, at)?;
                run.hashes
                    .truncate((gap.unwrap_or(at) - run.first) as usize);
                return Err(match gap {
                    Some(index) => StoreError::LedgerGap {
                        table: "ledger_entries",
                        index,
                    },
                    None => StoreError::Corrupt {
                        table: "ledger_entries",
                        column: "entry",
                        detail: format!("index {at}: a {:?} value, not bytes", other.data_type()),
                    },
                });
            }
        }
    }
    if run.first + (run.hashes.len() as u64) < end {
        let index = first_gap(conn, run.first, end)?.unwrap_or(end);
        run.hashes.truncate((index - run.first) as usize);
        return Err(StoreError::LedgerGap {
            table: "ledger_entries",
            index,
        });
    }
    Ok(())
}

/// The first index in `first..end` with no entry, if any.
fn first_gap(conn: &Connection, first: u64, end: u64) -> Result<Option<u64>, StoreError> {
    let read = failed("read the ledger's entries");
    let bound = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare(GAP_SQL).map_err(&read)?;
    let mut rows = stmt.query([bound(first), bound(end)]).map_err(&read)?;
    let mut next = first;
    while let Some(row) = rows.next().map_err(&read)? {
        let idx: i64 = row.get(0).map_err(&read)?;
        if u64::try_from(idx).ok() != Some(next) {
            return Ok(Some(next));
        }
        next += 1;
    }
    Ok((next < end).then_some(next))
}

const HASHES_SQL: &str = "SELECT block, hashes FROM ledger_hash_blocks \
     WHERE block >= 0 AND block < ?1 ORDER BY block";

/// Reads stored hashes `0..count` from their blocks into runs and sends
/// them; a problem (a missing block, or one cut short, is
/// [`StoreError::LedgerGap`] at the first hash missing) is sent with the
/// run before it. Stops quietly when the scan is dropped.
fn read_hashes(path: &Path, count: u64, out: &StreamOut) {
    let Some(lane) = out.lanes.first() else {
        return;
    };
    if count == 0 {
        return;
    }
    let mut run = out.fresh(0, HASH_RUN_CAPACITY);
    let problem = match open(path, PageReads::Copied)
        .and_then(|conn| copy_hashes(&conn, count, &mut run, out))
    {
        Ok(None) => return,
        Ok(Some(problem)) | Err(problem) => problem,
    };
    let _ = lane.blocking_send((run, Some(problem)));
}

/// Room in a run of stored hashes: a run ends after the block that fills it.
const HASH_RUN_CAPACITY: usize = HASH_RUN + hash_blocks::BLOCK as usize;

/// Steps through the blocks, sending each full run. Ends with `Ok(None)`
/// when all `count` hashes were sent or the scan was dropped, and with
/// `Ok(Some(problem))` or `Err` with `run` holding what came before it.
fn copy_hashes(
    conn: &Connection,
    count: u64,
    run: &mut HashRun,
    out: &StreamOut,
) -> Result<Option<StoreError>, StoreError> {
    let Some(lane) = out.lanes.first() else {
        return Ok(None);
    };
    let read = failed("read the ledger's stored hashes");
    let mut stmt = conn.prepare(HASHES_SQL).map_err(&read)?;
    let blocks = i64::try_from(count.div_ceil(hash_blocks::BLOCK)).unwrap_or(i64::MAX);
    let mut rows = stmt.query([blocks]).map_err(&read)?;
    let mut next = 0u64;
    while next < count {
        let Some(row) = rows.next().map_err(&read)? else {
            break;
        };
        let key: i64 = row.get(0).map_err(&read)?;
        let (block, 0) = hash_blocks::place(next) else {
            // The block before ended early.
            break;
        };
        if u64::try_from(key).ok() != Some(block) {
            break;
        }
        let raw = match row.get_ref(1).map_err(&read)? {
            ValueRef::Blob(raw) => Some(raw),
            ValueRef::Null => None,
            other => {
                return Err(StoreError::Corrupt {
                    table: hash_blocks::TABLE,
                    column: hash_blocks::COLUMN,
                    detail: format!(
                        "index {next}: block {key} is a {:?} value, not bytes",
                        other.data_type()
                    ),
                });
            }
        };
        let (hashes, _) = hash_blocks::split(key, raw, next)?.as_chunks::<32>();
        let wanted = usize::try_from(count - next).unwrap_or(usize::MAX);
        let hashes = &hashes[..hashes.len().min(wanted)];
        run.hashes.extend_from_slice(hashes);
        next += hashes.len() as u64;
        if run.hashes.len() >= HASH_RUN {
            let full = std::mem::replace(run, out.fresh(next, HASH_RUN_CAPACITY));
            if lane.blocking_send((full, None)).is_err() {
                return Ok(None);
            }
        }
    }
    if next < count {
        return Ok(Some(StoreError::LedgerGap {
            table: hash_blocks::TABLE,
            index: next,
        }));
    }
    if !run.hashes.is_empty() {
        let _ = lane.blocking_send((std::mem::take(run), None));
    }
    Ok(None)
}

/// The processor time the calling thread has used.
fn thread_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Bytes of the file a mapped connection maps: all of it (SQLite caps it
/// at its compiled maximum, beyond which pages are read with `pread`).
const MAP_BYTES: i64 = 1 << 40;

/// A reading connection that reads pages the `way` given.
fn open(path: &Path, way: PageReads) -> Result<Connection, StoreError> {
    let conn = connect(path, Role::Reader)?;
    if way == PageReads::Mapped {
        conn.pragma_update(None, "mmap_size", MAP_BYTES)
            .map_err(failed("map the database to read the ledger"))?;
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_faster_way_is_known_once_both_are_timed() {
        let trial = Trial::default();
        assert_eq!(trial.faster(), None);
        trial.record(PageReads::Copied, Duration::from_millis(30));
        assert_eq!(trial.faster(), None, "the map is not timed yet");
        trial.record(PageReads::Mapped, Duration::from_millis(20));
        assert_eq!(trial.faster(), Some(PageReads::Mapped));
        trial.record(PageReads::Mapped, Duration::from_millis(31));
        assert_eq!(trial.faster(), Some(PageReads::Copied));
        // A time too short to measure still counts as timed.
        trial.record(PageReads::Mapped, Duration::ZERO);
        assert_eq!(trial.faster(), Some(PageReads::Mapped));
        assert_ne!(PageReads::first(0), PageReads::first(1));
    }
}
