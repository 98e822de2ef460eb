//! A node's persistent data behind one trait of domain operations.
//!
//! [`Store`] says what a node keeps (its identity, the requests it sent and
//! received, each request's numbered history, and for federation the
//! directory it trusts, the signed messages of each request thread, the
//! outbox delivering them, refused messages, the
//! custody ledger's entries, tree hashes and checkpoints, and what
//! witnessing other nodes' ledgers, and being witnessed, leaves behind, and
//! the people who use the node: users, sessions and client-API tokens); two
//! adapters keep it, SQLite (the embedded default, one file) and PostgreSQL
//! (for a State running several replicas). [`open`] picks the adapter once,
//! from the URL, and brings the schema up to date; everything else sees only
//! `Arc<dyn Store>`. The operations are grouped by domain into the traits
//! `Store` is made of ([`RequestStore`], [`FederationStore`],
//! [`LedgerStore`], [`CaseStore`], [`AlertStore`], [`PeopleStore`],
//! [`SafeguardStore`], in `api/`); each adapter implements each of them in a
//! file of its own (`sqlite/`, `postgres/`), beside the statements
//! (`sqlite_*.rs`, `postgres_*.rs`).
//!
//! Both adapters pass one conformance suite (`tests/conformance/`), so a
//! behaviour described here holds on either. Failures are [`StoreError`]s
//! naming the domain problem; no database library type crosses this API.

mod access;
mod alerts;
mod api;
mod assignments;
mod case_index;
mod decode;
mod encode;
mod error;
mod federation;
mod group_commit;
mod hash_blocks;
mod ledger;
mod people;
mod postgres;
mod postgres_access;
mod postgres_alerts;
mod postgres_assignments;
mod postgres_cases;
mod postgres_joined;
mod postgres_people;
mod postgres_received;
mod postgres_retention;
mod postgres_stats;
mod postgres_write;
mod received;
mod records;
mod retention;
mod rows;
mod sqlite;
mod sqlite_access;
mod sqlite_alerts;
mod sqlite_assignments;
mod sqlite_cases;
mod sqlite_db;
mod sqlite_joined;
mod sqlite_people;
mod sqlite_received;
mod sqlite_retention;
mod sqlite_scan;
mod sqlite_stats;
mod sqlite_witness;
mod sqlite_write;
mod stats;
mod txn;
mod witness;

use std::sync::Arc;

use async_trait::async_trait;

pub use access::{ALLOWED, AccessFilter, AccessRecord, CaseGrant, REFUSED};
pub use alerts::{AlertRecord, DeliveryRecord, NewAlert, NewDelivery, ShiftRecord};
pub use api::{
    AlertStore, CaseStore, FederationStore, LedgerStore, PeopleStore, RequestStore, SafeguardStore,
};
pub use assignments::{CaseAssignment, ConfidentialMark};
pub use case_index::{
    CaseFigures, CaseRow, CaseRowFilter, ClockFired, StaleCase, StateCount, URGENCY_EMERGENCY,
    URGENCY_ROUTINE, URGENCY_URGENT,
};
pub use error::StoreError;
pub use federation::{
    AcceptOutcome, IncomingMessage, MessageRecord, OutboxItem, OutboxState, OutgoingMessage,
    RefusalRecord, StoredDirectory, StoredMessage, UnknownOutboxState,
};
pub use ledger::{
    EntryDigest, HashRun, LedgerEntry, LedgerScan, PendingEntry, RunDigest, RunStream, SCAN_RUN,
    Spent, StoredCheckpoint,
};
pub use people::{SessionOutcome, SessionRecord, SignInState, TokenRecord, UserRecord};
pub use received::{ReceivedFile, ReceivedOrigin};
pub use records::{
    Backend, Direction, NewEvent, NodeInfo, RequestEvent, RequestFilter, RequestRecord,
    UnknownDirection, storage_precision,
};
pub use retention::{
    CHANGE_HOLD_LIFTED, CHANGE_HOLD_PLACED, CHANGE_RETENTION, ContentDeletion, RetentionChange,
    RetentionRecord,
};
pub use stats::{
    CaseStatistics, DRAFT_OUTCOME, Percentiles, StatsCount, StatsDimension, StatsPeriod, StatsTimes,
};
pub use witness::{CosignatureRecord, ForkRecord, WitnessedState};

/// What a node keeps, as domain operations.
///
/// Timestamps come back in UTC, truncated to the microsecond
/// ([`storage_precision`]); values outside the years 1 to 9999, and text
/// containing a NUL character, are refused with [`StoreError::InvalidValue`]
/// on every backend.
#[async_trait]
pub trait Store:
    RequestStore
    + FederationStore
    + LedgerStore
    + CaseStore
    + AlertStore
    + PeopleStore
    + SafeguardStore
    + Send
    + Sync
    + std::fmt::Debug
{
    /// Which database this store runs on.
    fn backend(&self) -> Backend;

    /// Records the node's identity, replacing any recorded before.
    async fn put_node_info(&self, info: &NodeInfo) -> Result<(), StoreError>;

    /// The node's identity, or `None` before it is first recorded.
    async fn node_info(&self) -> Result<Option<NodeInfo>, StoreError>;

    // -- Diagnostics.

    /// The version of the newest schema migration applied, for diagnostics.
    async fn schema_version(&self) -> Result<i64, StoreError>;

    // -- Backups.

    /// Writes a consistent copy of the whole database, as of one instant,
    /// into the new file `to`, while other connections go on writing
    /// (SQLite: `VACUUM INTO` in one read transaction beside the writer).
    /// A backend that cannot (PostgreSQL, which `pg_dump` copies) answers
    /// [`StoreError::SnapshotUnsupported`].
    async fn snapshot_into(&self, to: &std::path::Path) -> Result<(), StoreError> {
        let _ = to;
        Err(StoreError::SnapshotUnsupported(
            "PostgreSQL",
            "copy it with pg_dump and the node's own files with `custos backup --files-only`",
        ))
    }

    /// The file the database lives in, when it is one (SQLite), so that a
    /// backup of the data folder copies it only through
    /// [`Store::snapshot_into`].
    fn database_file(&self) -> Option<std::path::PathBuf> {
        None
    }

    /// Closes the store's connections, waiting for operations in flight.
    /// Operations after this fail with [`StoreError::Unavailable`].
    async fn close(&self);
}

/// The database schema this build writes: the version of its newest
/// migration. SQLite and PostgreSQL keep their migrations in step, so one
/// number names both.
pub fn schema_version() -> i64 {
    sqlite::latest_migration().max(postgres::latest_migration())
}

/// Opens the store named by `url` and applies any pending migrations:
///
/// - `sqlite://PATH` or `sqlite:PATH`: a SQLite file, created if missing
///   (its directory must exist);
/// - `postgres://…` or `postgresql://…`: a PostgreSQL database, which must
///   exist.
///
/// Opening twice, or from several processes, is safe: migrations already
/// applied are skipped.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    match scheme(url) {
        Some("sqlite") => Ok(Arc::new(sqlite::SqliteStore::open(url).await?)),
        Some("postgres" | "postgresql") => Ok(Arc::new(postgres::PgStore::open(url).await?)),
        Some(other) => Err(StoreError::UnsupportedUrl(format!(
            "the scheme {other:?} names no supported database"
        ))),
        None => Err(StoreError::UnsupportedUrl(
            "it does not start with a scheme such as sqlite: or postgres:".to_owned(),
        )),
    }
}

/// The URL's scheme, if it has one (RFC 3986: a letter, then letters,
/// digits, `+`, `-` or `.`, then `:`). Only the scheme is ever echoed in an
/// error, since the rest may carry a password.
fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_read_without_the_rest_of_the_url() {
        assert_eq!(scheme("sqlite://node.db"), Some("sqlite"));
        assert_eq!(scheme("sqlite:node.db"), Some("sqlite"));
        assert_eq!(scheme("postgresql://u:secret@h/db"), Some("postgresql"));
        assert_eq!(scheme("node.db"), None);
        assert_eq!(scheme("/var/lib/custos:x"), None);
        assert_eq!(scheme(":memory:"), None);
    }

    /// Callers open stores inside spawned tasks, which need `Send` futures.
    #[test]
    fn opening_is_a_send_future() {
        fn assert_send<T: Send>(_: T) {}
        assert_send(open("sqlite://unused.db"));
        assert_send(sqlite::SqliteStore::open("sqlite://unused.db"));
        assert_send(postgres::PgStore::open("postgres://unused"));
    }

    #[tokio::test]
    async fn unsupported_urls_are_refused_without_echoing_credentials() {
        for url in [
            "mysql://admin:hunter2@db/custos",
            "node.db",
            "SQLITE://x.db",
        ] {
            let err = open(url).await.unwrap_err();
            assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{url}: {err}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        for url in [
            "sqlite://",
            "sqlite:",
            "sqlite::memory:",
            "sqlite://x.db?mode=memory",
        ] {
            let err = open(url).await.unwrap_err();
            assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{url}: {err}");
        }
    }

    #[tokio::test]
    async fn a_sqlite_file_in_a_missing_directory_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/no/such/dir/node.db", dir.path().display());
        let err = open(&url).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
        assert!(err.to_string().contains("no/such/dir/node.db"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_postgres_is_unavailable_without_its_password() {
        // Port 1 on loopback: nothing listens there, so the connection is
        // refused at once.
        let err = open("postgres://custos:hunter2@127.0.0.1:1/custos")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
        assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[tokio::test]
    async fn the_schema_version_is_the_one_a_fresh_database_reaches() {
        assert_eq!(
            sqlite::latest_migration(),
            postgres::latest_migration(),
            "the two backends' migrations are numbered alike"
        );
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/node.db", dir.path().display());
        let store = open(&url).await.unwrap();
        assert_eq!(store.schema_version().await.unwrap(), schema_version());
        assert!(schema_version() >= 14);
    }
}
