//! Group commit for the SQLite adapter: one writer connection on a thread
//! of its own, many writes per `COMMIT`.
//!
//! SQLite lets one connection write at a time and, with `synchronous=FULL`,
//! every `COMMIT` waits for an fsync. When each write took a pooled
//! connection and committed on its own, concurrent writers queued in
//! SQLite's busy handler (sleeping 1, 2, 5, 10 ms… however soon the lock
//! was freed) and paid one fsync each. Here every write is a job sent to
//! one thread that owns the only writing connection. The thread takes all the
//! jobs waiting (up to [`MAX_BATCH`]) and runs them one after the other in
//! one `BEGIN IMMEDIATE … COMMIT`, each inside its own `SAVEPOINT`: a job
//! that fails is rolled back to its savepoint and the others keep their
//! work. No caller hears its result before the `COMMIT` holding its work
//! has returned, so nothing is acknowledged before it is on disk; if the
//! `COMMIT` fails, every job of the batch that had succeeded gets that
//! failure instead. Jobs see each other's writes in the order they ran,
//! exactly as if they had committed one by one.
//!
//! A job is a plain function of the connection: it runs on the writer's
//! thread from its first statement to its last, with no hand-off between
//! statements. Reads do not come here: they run on reading connections
//! (WAL lets them run beside the writer) and see a batch once it is
//! committed.

use std::any::Any;
use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::StoreError;
use crate::sqlite_db::{WalLimit, closed, failed};

/// How many jobs one transaction takes at most, so that one commit's
/// latency stays bounded when writes pour in.
const MAX_BATCH: usize = 256;

/// How many jobs may wait for the writer before senders wait too.
const QUEUE: usize = 4096;

/// A job's result with its type erased, so jobs of any result type share
/// one queue; [`Writer::write`] restores the type.
type Output = Box<dyn Any + Send>;

type Erased = Box<dyn FnOnce(&Connection) -> Result<Output, StoreError> + Send + 'static>;

struct Job {
    work: Erased,
    reply: oneshot::Sender<Result<Output, StoreError>>,
}

enum Command {
    Run(Job),
    Close(oneshot::Sender<()>),
}

/// The handle through which the SQLite adapter writes. Cloning it shares
/// the one writer.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Command>,
}

/// The same failure again, for each job of a batch that it ends. Failures
/// that are not the database's own (the database was reachable) keep their
/// kind; the text is kept whole.
fn again(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(detail) => StoreError::Unavailable(detail.clone()),
        StoreError::Database { operation, detail } => StoreError::Database {
            operation,
            detail: detail.clone(),
        },
        other => StoreError::Database {
            operation: "commit a group of writes",
            detail: other.to_string(),
        },
    }
}

impl Writer {
    /// Starts the writer thread, owning `conn`; between groups of writes
    /// it keeps the write-ahead log within `wal` (see [`WalLimit`]).
    pub(crate) fn start(conn: Connection, wal: Arc<WalLimit>) -> Result<Writer, StoreError> {
        wal.cut_back_to_limit(&conn)?;
        let (queue, jobs) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("custos-sqlite-writer".to_owned())
            .spawn(move || run(conn, &wal, jobs))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer { queue })
    }

    /// Runs `f` on the writer connection, inside a transaction shared with
    /// other writes, and returns its result once that transaction is
    /// committed. An `Err` from `f` undoes everything `f` wrote, and only
    /// that.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let work: Erased = Box::new(move |conn| f(conn).map(|t| Box::new(t) as Output));
        self.queue
            .send(Command::Run(Job { work, reply }))
            .await
            .map_err(|_| closed())?;
        let output = answer.await.map_err(|_| closed())??;
        // The writer hands back the value this very call's job returned,
        // so the type always matches; a mismatch would be a bug here, and
        // is reported rather than panicking.
        output
            .downcast::<T>()
            .map(|t| *t)
            .map_err(|_| StoreError::Database {
                operation: "hand back a write's result",
                detail: "the result had an unexpected type".to_owned(),
            })
    }

    /// Stops taking writes, finishes those already queued and closes the
    /// connection.
    pub(crate) async fn close(&self) {
        let (ack, done) = oneshot::channel();
        if self.queue.send(Command::Close(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

fn run(conn: Connection, wal: &WalLimit, mut commands: mpsc::Receiver<Command>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = commands.blocking_recv() {
        let mut closing = None;
        match first {
            Command::Run(job) => batch.push(job),
            Command::Close(ack) => closing = Some(ack),
        }
        while closing.is_none() && batch.len() < MAX_BATCH {
            match commands.try_recv() {
                Ok(Command::Run(job)) => batch.push(job),
                Ok(Command::Close(ack)) => closing = Some(ack),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            run_batch(&conn, std::mem::take(&mut batch));
        }
        if let Some(ack) = closing {
            // Writes sent after the close are dropped; their callers hear
            // that the store is closed.
            commands.close();
            drop(conn);
            let _ = ack.send(());
            return;
        }
        wal.restart_if_asked(&conn);
    }
}

fn exec(conn: &Connection, sql: &'static str) -> Result<(), StoreError> {
    let e = failed("run a group of writes");
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute([]))
        .map(|_| ())
        .map_err(e)
}

/// Runs a job; a panic in it (a bug) fails that job alone, and the writer
/// thread goes on.
fn perform(conn: &Connection, work: Erased) -> Result<Output, StoreError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(conn))).unwrap_or_else(|_| {
        Err(StoreError::Database {
            operation: "run a write",
            detail: "the write stopped on an internal error".to_owned(),
        })
    })
}

/// Ends a batch that cannot be committed: undoes it and tells every job.
fn abort(
    conn: &Connection,
    done: Vec<oneshot::Sender<Result<Output, StoreError>>>,
    error: &StoreError,
) {
    // The transaction may already be gone (SQLite rolls back by itself
    // after some failures); either way nothing of it stays.
    let _ = exec(conn, "ROLLBACK");
    for reply in done {
        let _ = reply.send(Err(again(error)));
    }
}

fn run_batch(conn: &Connection, jobs: Vec<Job>) {
    // A lone job needs no savepoint: its failure rolls back the whole.
    let alone = jobs.len() == 1;
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        for job in jobs {
            let _ = job.reply.send(Err(again(&e)));
        }
        return;
    }
    let mut results = Vec::with_capacity(jobs.len());
    let mut jobs = jobs.into_iter();
    while let Some(job) = jobs.next() {
        if !alone && let Err(e) = exec(conn, "SAVEPOINT job") {
            let mut everyone: Vec<_> = results.into_iter().map(|(r, _)| r).collect();
            everyone.push(job.reply);
            everyone.extend(jobs.map(|j| j.reply));
            return abort(conn, everyone, &e);
        }
        let result = perform(conn, job.work);
        if !alone {
            let ended = if result.is_ok() {
                exec(conn, "RELEASE job")
            } else {
                exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"))
            };
            if let Err(e) = ended {
                let mut everyone: Vec<_> = results.into_iter().map(|(r, _)| r).collect();
                everyone.push(job.reply);
                everyone.extend(jobs.map(|j| j.reply));
                return abort(conn, everyone, &e);
            }
        }
        results.push((job.reply, result));
    }
    if alone && results.iter().all(|(_, r)| r.is_err()) {
        // The job's own failure says more than a failed rollback would.
        let _ = exec(conn, "ROLLBACK");
        for (reply, result) in results {
            let _ = reply.send(result);
        }
        return;
    }
    match exec(conn, "COMMIT") {
        Ok(()) => {
            for (reply, result) in results {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            let _ = exec(conn, "ROLLBACK");
            for (reply, result) in results {
                let _ = reply.send(match result {
                    Ok(_) => Err(again(&e)),
                    Err(own) => Err(own),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(dir: &tempfile::TempDir) -> Writer {
        let conn = Connection::open(dir.path().join("w.db")).expect("the file opens");
        conn.execute_batch("CREATE TABLE t (v INTEGER NOT NULL)")
            .expect("the table is made");
        Writer::start(conn, WalLimit::new()).expect("the writer starts")
    }

    /// Under writes that never pause, the checkpointer never catches up
    /// with the log on its own; the writer starts it again once it is over
    /// its limit (here 64 frames, checked every 5 ms), and its file is cut
    /// back to that size.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_steady_stream_of_writes_keeps_the_log_within_its_limit() {
        use crate::sqlite_db::{Role, connect, start_checkpointer};
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("w.db");
        let setup = Connection::open(&path).expect("the file opens");
        setup
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v BLOB NOT NULL)")
            .expect("the table is made");
        let wal = WalLimit::with(64, std::time::Duration::from_millis(5));
        let w = Writer::start(
            connect(&path, Role::Writer).expect("the writer opens"),
            Arc::clone(&wal),
        )
        .expect("the writer starts");
        let (stop, checkpointer) = start_checkpointer(&path, wal).expect("the checkpointer starts");
        let log = dir.path().join("w.db-wal");
        let size = || std::fs::metadata(&log).map_or(0, |m| m.len());
        let (writes, frames_each) = (1_500_u64, 5_u64);
        let mut largest = 0;
        // Four writers at once keep the writer thread busy all along.
        let mut writers = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let w = w.clone();
            writers.spawn(async move {
                for _ in 0..writes / 4 {
                    w.write(|conn| {
                        conn.execute("INSERT INTO t (v) VALUES (zeroblob(16000))", [])
                            .map_err(crate::sqlite_db::failed("insert"))
                    })
                    .await
                    .expect("the write commits");
                }
            });
        }
        let batches = async {
            while let Some(done) = writers.join_next().await {
                done.expect("a writing task ends");
            }
        };
        let watch = async {
            loop {
                largest = largest.max(size());
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        };
        tokio::select! {
            () = batches => {}
            () = watch => {}
        }
        largest = largest.max(size());
        drop(stop);
        checkpointer.join().expect("the checkpointer ends");
        w.close().await;
        // Every write at the end of one log would have made it this large.
        let unbounded = writes * frames_each * 4_120;
        assert!(
            largest < unbounded / 4,
            "the log reached {largest} bytes of the {unbounded} an unbounded one would"
        );
        assert_eq!(count(&dir), writes as i64);
    }

    fn count(dir: &tempfile::TempDir) -> i64 {
        let conn = Connection::open(dir.path().join("w.db")).expect("the file opens");
        conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .expect("the count reads")
    }

    #[tokio::test]
    async fn a_failed_job_undoes_only_its_own_writes() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let w = writer(&dir);
        let insert = |conn: &Connection| {
            conn.execute("INSERT INTO t (v) VALUES (1)", [])
                .map_err(crate::sqlite_db::failed("insert"))
        };
        let (kept, undone, also_kept) = tokio::join!(
            w.write(move |conn| insert(conn)),
            w.write(move |conn| {
                insert(conn)?;
                Err::<usize, _>(StoreError::UnknownRequest("x".to_owned()))
            }),
            w.write(move |conn| insert(conn)),
        );
        assert_eq!(kept.expect("the first job commits"), 1);
        assert!(matches!(undone, Err(StoreError::UnknownRequest(_))));
        assert_eq!(also_kept.expect("the third job commits"), 1);
        w.close().await;
        assert_eq!(count(&dir), 2);
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let w = writer(&dir);
        let failed = w
            .write(|conn| -> Result<(), StoreError> {
                conn.execute("INSERT INTO t (v) VALUES (1)", [])
                    .map_err(crate::sqlite_db::failed("insert"))?;
                panic!("a bug in a job")
            })
            .await;
        assert!(
            matches!(failed, Err(StoreError::Database { .. })),
            "{failed:?}"
        );
        let after = w
            .write(|conn| {
                conn.execute("INSERT INTO t (v) VALUES (2)", [])
                    .map_err(crate::sqlite_db::failed("insert"))
            })
            .await;
        assert_eq!(after.expect("the next job commits"), 1);
        w.close().await;
        let conn = Connection::open(dir.path().join("w.db")).expect("the file opens");
        let values: Vec<i64> = conn
            .prepare("SELECT v FROM t")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("the rows read");
        assert_eq!(values, [2]);
    }

    #[tokio::test]
    async fn a_closed_writer_refuses_writes() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let w = writer(&dir);
        w.close().await;
        let refused = w.write(|_| Ok(())).await;
        assert!(
            matches!(refused, Err(StoreError::Unavailable(_))),
            "{refused:?}"
        );
    }
}
