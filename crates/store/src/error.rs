//! The one error type of the store: each variant names what went wrong in
//! terms of the node's data, never in terms of the database library.
//!
//! Errors from sqlx are turned into these variants at the adapter boundary
//! (see `decode::failed`), keeping only their text, so callers never depend
//! on the storage library.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A request with this id is already stored; ids are never reused.
    #[error("a request with id {0:?} is already stored")]
    DuplicateRequest(String),

    /// An event was appended to a request that is not stored.
    #[error("no request with id {0:?} is stored")]
    UnknownRequest(String),

    /// A value read back from the database does not parse into its domain
    /// type: the row was changed outside Custos or by an incompatible
    /// version.
    #[error("stored data is corrupt in {table}.{column}: {detail}")]
    Corrupt {
        table: &'static str,
        column: &'static str,
        detail: String,
    },

    /// A ledger row that must exist is not in the store: the entry (table
    /// `ledger_entries`) or stored tree hash (`ledger_hashes`) at `index`,
    /// below the ledger's size, was removed behind the store's back.
    #[error("{table} has no row {index}, below the ledger's size: it was removed")]
    LedgerGap { table: &'static str, index: u64 },

    /// The URL names no backend this build supports. The text never repeats
    /// credentials from the URL.
    #[error("unsupported store URL: {0}; use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),

    /// The database could not be reached or opened: a missing directory, a
    /// refused connection, a failed login, an exhausted pool.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),

    /// The schema migrations could not be applied, for instance because the
    /// database was migrated by a newer release or an applied migration file
    /// was edited afterwards.
    #[error("the database schema could not be migrated: {0}")]
    Migration(String),

    /// The database records a migration this release does not know: it was
    /// upgraded by a newer release. Nothing was changed; run that release
    /// (or a newer one) on it.
    #[error(
        "{database} records schema version {found}, newer than version {known}, the newest this \
         release knows: it was upgraded by a newer Custos release; run that release or a newer one"
    )]
    SchemaTooNew {
        database: String,
        found: i64,
        known: i64,
    },

    /// The backend cannot copy itself into a file (PostgreSQL: take a
    /// dump with `pg_dump` instead).
    #[error("a {0} database cannot be copied into a file by the node; {1}")]
    SnapshotUnsupported(&'static str, &'static str),

    /// A value handed to the store cannot be kept as it is, identically on
    /// every backend (for instance a NUL character in a text field).
    #[error("{field} cannot be stored: {problem}")]
    InvalidValue {
        field: &'static str,
        problem: String,
    },

    /// The directory offered is not newer than the one the node holds;
    /// directory versions only ever increase.
    #[error("directory version {offered} is not newer than the version {current} already held")]
    StaleDirectory { current: u64, offered: u64 },

    /// A message with this id is already stored; ids derive from content,
    /// so it is the same message again.
    #[error("a message with id {0:?} is already stored")]
    DuplicateMessage(String),

    /// A message names as its predecessor a message that is not stored in
    /// its thread: it arrived out of order, or belongs to another thread.
    #[error("the previous message {prev:?} is not stored in this thread")]
    OutOfOrder { prev: String },

    /// An operation named a message that is not stored (or, for the
    /// outbox, one that was never queued for delivery).
    #[error("no message with id {0:?} is stored")]
    UnknownMessage(String),

    /// A token with this id, or with the same secret, is already stored.
    #[error("a token with id {0:?} or with the same secret is already stored")]
    DuplicateToken(String),

    /// A user with this name is already stored.
    #[error("a user named {0:?} already exists")]
    DuplicateUser(String),

    /// A batch could not be appended to the ledger because the ledger is
    /// not as the sequencer saw it: it holds `actual` entries, not
    /// `expected` (another sequencer appended first), or, when the two
    /// agree, a queued entry the batch consumes is no longer queued. Nothing
    /// was changed; the sequencer reads the ledger and the queue again.
    #[error("{}", ledger_conflict(*.expected, *.actual))]
    LedgerConflict { expected: u64, actual: u64 },

    /// The last checkpoint witnessed for a log could not be replaced
    /// because it is not the one the caller saw: the stored size is
    /// `actual`, not `expected` (`None`: no checkpoint held for that
    /// origin). Another writer moved it first; nothing was changed. The
    /// caller reads it again and checks the new checkpoint against it.
    #[error("{}", witness_conflict(.origin, *.expected, *.actual))]
    WitnessConflict {
        origin: String,
        expected: Option<u64>,
        actual: Option<u64>,
    },

    /// The database rejected or failed a statement for a reason that is not
    /// one of the domain failures above (disk full, lock wait exhausted, a
    /// constraint the types should have prevented).
    #[error("the database failed to {operation}: {detail}")]
    Database {
        operation: &'static str,
        detail: String,
    },

    /// The database has no room left for the write (SQLite's disk-full
    /// error, PostgreSQL's `53100 disk_full`); nothing was changed.
    #[error("the database is out of disk space: {0}")]
    StorageFull(String),
}

/// The text of [`StoreError::LedgerConflict`], which says which of its two
/// causes it is.
fn ledger_conflict(expected: u64, actual: u64) -> String {
    if expected == actual {
        format!(
            "the batch consumes queued ledger entries that are no longer queued \
             (the ledger has {actual} entries); another sequencer took them"
        )
    } else {
        format!(
            "the ledger has {actual} entries, not the {expected} the batch was made for; \
             another sequencer appended first"
        )
    }
}

/// The text of [`StoreError::WitnessConflict`].
fn witness_conflict(origin: &str, expected: Option<u64>, actual: Option<u64>) -> String {
    let held = |size: Option<u64>| match size {
        Some(size) => format!("a checkpoint of size {size}"),
        None => "no checkpoint".to_owned(),
    };
    format!(
        "the witness holds {} for {origin:?}, not {} as the update expected; \
         another writer changed it first",
        held(actual),
        held(expected)
    )
}
