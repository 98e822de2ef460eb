//! The SQLite adapter: the embedded default, one file per node.
//!
//! Timestamps are kept as microseconds since the Unix epoch in `INTEGER`
//! columns (exact, ordered, no text format to agree on); JSON is kept as
//! checked `TEXT`. Tables are `STRICT`, so a value of the wrong type cannot
//! be written even by hand.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

use crate::decode::{self, RawEvent, RawNodeInfo, RawRequest, column, failed};
use crate::encode;
use crate::records::{Backend, NewEvent, NodeInfo, RequestEvent, RequestFilter, RequestRecord};
use crate::{Store, StoreError};

/// The SQLite schema, embedded at build time.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// How long a statement waits for another connection's write lock before it
/// fails. Writes are short, so reaching this means something is stuck.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite allows one writer at a time; a few connections let reads proceed
/// beside it (WAL mode) without many idle handles.
const MAX_CONNECTIONS: u32 = 4;

/// A node's data in one SQLite file.
#[derive(Debug, Clone)]
pub(crate) struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://PATH` or
    /// `sqlite:PATH`) and brings its schema up to date.
    pub(crate) async fn open(url: &str) -> Result<Self, StoreError> {
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
            // A pool of in-memory connections shares one database only
            // through SQLite's shared cache, whose table locks are not
            // covered by the busy timeout; a node keeps its data in a file.
            return Err(StoreError::UnsupportedUrl(
                "in-memory SQLite is not supported; name a file (a temporary directory in tests)"
                    .to_owned(),
            ));
        }

        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::UnsupportedUrl(format!("malformed sqlite URL: {e}")))?
            .create_if_missing(true)
            // WAL lets readers run beside the single writer.
            .journal_mode(SqliteJournalMode::Wal)
            // FULL, not NORMAL: with WAL, NORMAL may lose the last commits on
            // power failure. A node acknowledges requests to other States and
            // records custody events, so a commit must survive once reported;
            // the traffic (thousands of events a day) makes the extra fsync
            // per commit immaterial.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let file = options.get_filename().display().to_string();

        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot open SQLite database {file}: {e}"))
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| decode::migration_failed(&format!("SQLite database {file}"), e))?;
        Ok(SqliteStore { pool })
    }
}

fn node_info_row(row: &SqliteRow) -> Result<RawNodeInfo, StoreError> {
    const T: &str = "node_info";
    Ok(RawNodeInfo {
        state: column(row, T, "state")?,
        name: column(row, T, "name")?,
        created_at: decode::unix_micros(T, "created_at", column(row, T, "created_at")?)?,
    })
}

fn request_row(row: &SqliteRow) -> Result<RequestRecord, StoreError> {
    const T: &str = "requests";
    RawRequest {
        id: column(row, T, "id")?,
        kind: column(row, T, "kind")?,
        direction: column(row, T, "direction")?,
        counterpart: column(row, T, "counterpart")?,
        body: column(row, T, "body")?,
        created_at: decode::unix_micros(T, "created_at", column(row, T, "created_at")?)?,
    }
    .parse()
}

fn event_row(row: &SqliteRow) -> Result<RawEvent, StoreError> {
    const T: &str = "request_events";
    Ok(RawEvent {
        request_id: column(row, T, "request_id")?,
        seq: column(row, T, "seq")?,
        at: decode::unix_micros(T, "at", column(row, T, "at")?)?,
        actor: column(row, T, "actor")?,
        kind: column(row, T, "kind")?,
        detail: column(row, T, "detail")?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn put_node_info(&self, info: &NodeInfo) -> Result<(), StoreError> {
        let created_at = encode::timestamp("node_info.created_at", info.created_at)?;
        sqlx::query(
            "INSERT INTO node_info (singleton, state, name, created_at) VALUES (1, ?1, ?2, ?3) \
             ON CONFLICT (singleton) DO UPDATE SET \
             state = excluded.state, name = excluded.name, created_at = excluded.created_at",
        )
        .bind(info.state.as_str())
        .bind(encode::text("node_info.name", &info.name)?)
        .bind(encode::unix_micros(created_at))
        .execute(&self.pool)
        .await
        .map_err(failed("store the node's identity"))?;
        Ok(())
    }

    async fn node_info(&self) -> Result<Option<NodeInfo>, StoreError> {
        let row = sqlx::query("SELECT state, name, created_at FROM node_info WHERE singleton = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(failed("read the node's identity"))?;
        row.map(|row| node_info_row(&row)?.parse()).transpose()
    }

    async fn insert_request(&self, request: &RequestRecord) -> Result<(), StoreError> {
        let created_at = encode::timestamp("requests.created_at", request.created_at)?;
        let done = sqlx::query(
            "INSERT INTO requests (id, kind, direction, counterpart, body, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(encode::text("requests.id", &request.id)?)
        .bind(request.kind.as_str())
        .bind(request.direction.as_str())
        .bind(request.counterpart.as_str())
        .bind(encode::json("requests.body", &request.body)?)
        .bind(encode::unix_micros(created_at))
        .execute(&self.pool)
        .await
        .map_err(failed("insert a request"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::DuplicateRequest(request.id.clone()));
        }
        Ok(())
    }

    async fn get_request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError> {
        if !encode::storable(id) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, kind, direction, counterpart, body, created_at FROM requests WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read a request"))?;
        row.as_ref().map(request_row).transpose()
    }

    async fn list_requests(
        &self,
        filter: &RequestFilter,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        // A negative LIMIT means no limit in SQLite.
        let limit = filter.limit.map_or(-1, i64::from);
        let rows = sqlx::query(
            "SELECT id, kind, direction, counterpart, body, created_at FROM requests \
             WHERE (?1 IS NULL OR direction = ?1) \
               AND (?2 IS NULL OR kind = ?2) \
               AND (?3 IS NULL OR counterpart = ?3) \
             ORDER BY created_at DESC, id DESC \
             LIMIT ?4",
        )
        .bind(filter.direction.map(|d| d.as_str()))
        .bind(filter.kind.map(|k| k.as_str()))
        .bind(filter.counterpart.as_ref().map(|c| c.as_str().to_owned()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list requests"))?;
        rows.iter().map(request_row).collect()
    }

    async fn append_event(&self, event: &NewEvent) -> Result<RequestEvent, StoreError> {
        if !encode::storable(&event.request_id) {
            return Err(StoreError::UnknownRequest(event.request_id.clone()));
        }
        let at = encode::timestamp("request_events.at", event.at)?;
        let actor = encode::text("request_events.actor", &event.actor)?;
        let kind = encode::text("request_events.kind", &event.kind)?;
        let detail = encode::json("request_events.detail", &event.detail)?;

        // IMMEDIATE takes the write lock first, so two appenders queue on the
        // busy timeout instead of both reading and one failing to upgrade.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(failed("begin appending an event"))?;
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE requests SET last_event_seq = last_event_seq + 1 WHERE id = ?1 \
             RETURNING last_event_seq",
        )
        .bind(&event.request_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(failed("number an event"))?;
        let Some(seq) = seq else {
            tx.rollback().await.map_err(failed("abandon an event"))?;
            return Err(StoreError::UnknownRequest(event.request_id.clone()));
        };
        sqlx::query(
            "INSERT INTO request_events (request_id, seq, at, actor, kind, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&event.request_id)
        .bind(seq)
        .bind(encode::unix_micros(at))
        .bind(actor)
        .bind(kind)
        .bind(&detail)
        .execute(&mut *tx)
        .await
        .map_err(failed("append an event"))?;
        tx.commit().await.map_err(failed("commit an event"))?;

        decode::appended(event, seq, at)
    }

    async fn events(&self, request_id: &str) -> Result<Vec<RequestEvent>, StoreError> {
        if !encode::storable(request_id) {
            return Err(StoreError::UnknownRequest(request_id.to_owned()));
        }
        let rows = sqlx::query(
            "SELECT request_id, seq, at, actor, kind, detail FROM request_events \
             WHERE request_id = ?1 ORDER BY seq",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read a request's history"))?;
        if rows.is_empty() {
            let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM requests WHERE id = ?1")
                .bind(request_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(failed("look up a request"))?;
            if known.is_none() {
                return Err(StoreError::UnknownRequest(request_id.to_owned()));
            }
        }
        decode::history(rows.iter().map(event_row).collect::<Result<_, _>>()?)
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .map_err(failed("read the schema version"))
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
