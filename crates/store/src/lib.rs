//! A node's persistent data behind one trait of domain operations.
//!
//! [`Store`] says what a node keeps (its identity, the requests it sent and
//! received, each request's numbered history); two adapters keep it, SQLite
//! (the embedded default, one file) and PostgreSQL (for a State running
//! several replicas). [`open`] picks the adapter once, from the URL, and
//! brings the schema up to date; everything else sees only `Arc<dyn Store>`.
//!
//! Both adapters pass one conformance suite (`tests/conformance.rs`), so a
//! behaviour described here holds on either. Failures are [`StoreError`]s
//! naming the domain problem; no database library type crosses this API.

mod decode;
mod encode;
mod error;
mod postgres;
mod records;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;

pub use error::StoreError;
pub use records::{
    Backend, Direction, NewEvent, NodeInfo, RequestEvent, RequestFilter, RequestRecord,
    UnknownDirection, storage_precision,
};

/// What a node keeps, as domain operations.
///
/// Timestamps come back in UTC, truncated to the microsecond
/// ([`storage_precision`]); values outside the years 1 to 9999, and text
/// containing a NUL character, are refused with [`StoreError::InvalidValue`]
/// on every backend.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Which database this store runs on.
    fn backend(&self) -> Backend;

    /// Records the node's identity, replacing any recorded before.
    async fn put_node_info(&self, info: &NodeInfo) -> Result<(), StoreError>;

    /// The node's identity, or `None` before it is first recorded.
    async fn node_info(&self) -> Result<Option<NodeInfo>, StoreError>;

    /// Records a new request. An id already stored is
    /// [`StoreError::DuplicateRequest`], and the stored request is unchanged.
    async fn insert_request(&self, request: &RequestRecord) -> Result<(), StoreError>;

    /// The request with this id, if stored.
    async fn get_request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError>;

    /// The requests matching `filter`, newest first (ties by id, descending).
    async fn list_requests(&self, filter: &RequestFilter)
    -> Result<Vec<RequestRecord>, StoreError>;

    /// Adds an event to a request's history and returns it as stored, with
    /// the next sequence number for that request (1 for the first). Appends
    /// that race each other get distinct, consecutive numbers. A request not
    /// stored is [`StoreError::UnknownRequest`].
    async fn append_event(&self, event: &NewEvent) -> Result<RequestEvent, StoreError>;

    /// A request's history in sequence order (empty if nothing has happened
    /// yet). A request not stored is [`StoreError::UnknownRequest`].
    async fn events(&self, request_id: &str) -> Result<Vec<RequestEvent>, StoreError>;

    /// The version of the newest schema migration applied, for diagnostics.
    async fn schema_version(&self) -> Result<i64, StoreError>;

    /// Closes the store's connections, waiting for operations in flight.
    /// Operations after this fail with [`StoreError::Unavailable`].
    async fn close(&self);
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
}
