//! The PostgreSQL adapter: for a State that runs several node replicas
//! against one database.
//!
//! Timestamps are `timestamptz` (microsecond precision, UTC); JSON is kept
//! in `json` columns, which store the document text verbatim, so key order
//! survives and `\u0000` escapes are accepted (`jsonb` would do neither).
//! Identifiers use the "C" collation so that ordering by id is bytewise, as
//! in SQLite, whatever the database's locale.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};

use crate::decode::{self, RawEvent, RawNodeInfo, RawRequest, column, failed};
use crate::encode;
use crate::records::{Backend, NewEvent, NodeInfo, RequestEvent, RequestFilter, RequestRecord};
use crate::{Store, StoreError};

/// The PostgreSQL schema, embedded at build time.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// How long an operation waits for a free connection (or for a new one to
/// be established) before reporting the database unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections per process; several replicas may share one server.
const MAX_CONNECTIONS: u32 = 10;

/// A node's data in a PostgreSQL database.
#[derive(Debug, Clone)]
pub(crate) struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://…` or
    /// `postgresql://…`) and brings its schema up to date. Several processes
    /// may do this at once: the migrations take an advisory lock.
    pub(crate) async fn open(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::UnsupportedUrl(format!("malformed postgres URL: {e}")))?;
        // Named without the password, for messages.
        let target = match options.get_socket() {
            Some(socket) => format!("socket {}", socket.display()),
            None => format!("{}:{}", options.get_host(), options.get_port()),
        };
        let target = format!(
            "{target} as {} database {}",
            options.get_username(),
            options.get_database().unwrap_or("(default)")
        );

        // One connection first, outside the pool: a wrong address or login
        // fails at once with the server's reason, instead of being retried
        // until the pool's timeout.
        let unavailable = |e: sqlx::Error| {
            StoreError::Unavailable(format!("cannot connect to PostgreSQL at {target}: {e}"))
        };
        let probe = PgConnection::connect_with(&options)
            .await
            .map_err(unavailable)?;
        probe.close().await.map_err(unavailable)?;

        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        // Through the pool, not a borrowed connection: sqlx's migrator is
        // generic over `Acquire`, and only the pool form keeps this future
        // `Send` (checked by a test in lib.rs).
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| decode::migration_failed(&format!("PostgreSQL at {target}"), e))?;
        Ok(PgStore { pool })
    }
}

fn node_info_row(row: &PgRow) -> Result<RawNodeInfo, StoreError> {
    const T: &str = "node_info";
    Ok(RawNodeInfo {
        state: column(row, T, "state")?,
        name: column(row, T, "name")?,
        created_at: column(row, T, "created_at")?,
    })
}

fn request_row(row: &PgRow) -> Result<RequestRecord, StoreError> {
    const T: &str = "requests";
    RawRequest {
        id: column(row, T, "id")?,
        kind: column(row, T, "kind")?,
        direction: column(row, T, "direction")?,
        counterpart: column(row, T, "counterpart")?,
        body: column(row, T, "body")?,
        created_at: column(row, T, "created_at")?,
    }
    .parse()
}

fn event_row(row: &PgRow) -> Result<RawEvent, StoreError> {
    const T: &str = "request_events";
    Ok(RawEvent {
        request_id: column(row, T, "request_id")?,
        seq: column(row, T, "seq")?,
        at: column(row, T, "at")?,
        actor: column(row, T, "actor")?,
        kind: column(row, T, "kind")?,
        detail: column(row, T, "detail")?,
    })
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn put_node_info(&self, info: &NodeInfo) -> Result<(), StoreError> {
        let created_at = encode::timestamp("node_info.created_at", info.created_at)?;
        sqlx::query(
            "INSERT INTO node_info (singleton, state, name, created_at) VALUES (1, $1, $2, $3) \
             ON CONFLICT (singleton) DO UPDATE SET \
             state = excluded.state, name = excluded.name, created_at = excluded.created_at",
        )
        .bind(info.state.as_str())
        .bind(encode::text("node_info.name", &info.name)?)
        .bind(created_at)
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
             VALUES ($1, $2, $3, $4, $5::json, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(encode::text("requests.id", &request.id)?)
        .bind(request.kind.as_str())
        .bind(request.direction.as_str())
        .bind(request.counterpart.as_str())
        .bind(encode::json("requests.body", &request.body)?)
        .bind(created_at)
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
            "SELECT id, kind, direction, counterpart, body::text AS body, created_at \
             FROM requests WHERE id = $1",
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
        // LIMIT NULL means no limit in PostgreSQL.
        let rows = sqlx::query(
            "SELECT id, kind, direction, counterpart, body::text AS body, created_at FROM requests \
             WHERE ($1::text IS NULL OR direction = $1) \
               AND ($2::text IS NULL OR kind = $2) \
               AND ($3::text IS NULL OR counterpart = $3) \
             ORDER BY created_at DESC, id DESC \
             LIMIT $4",
        )
        .bind(filter.direction.map(|d| d.as_str()))
        .bind(filter.kind.map(|k| k.as_str()))
        .bind(filter.counterpart.as_ref().map(|c| c.as_str().to_owned()))
        .bind(filter.limit.map(i64::from))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list requests"))?;
        rows.iter().map(request_row).collect()
    }

    async fn append_event(&self, event: &NewEvent) -> Result<RequestEvent, StoreError> {
        let request_id = event.request_id.as_str();
        if !encode::storable(request_id) {
            return Err(StoreError::UnknownRequest(event.request_id.clone()));
        }
        let at = encode::timestamp("request_events.at", event.at)?;
        let actor = encode::text("request_events.actor", &event.actor)?;
        let kind = encode::text("request_events.kind", &event.kind)?;
        let detail = encode::json("request_events.detail", &event.detail)?;

        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin appending an event"))?;
        // The UPDATE locks the request's row until commit, so concurrent
        // appenders to one request take numbers one after another; under
        // READ COMMITTED a waiting UPDATE sees the committed counter.
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE requests SET last_event_seq = last_event_seq + 1 WHERE id = $1 \
             RETURNING last_event_seq",
        )
        .bind(request_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(failed("number an event"))?;
        let Some(seq) = seq else {
            tx.rollback().await.map_err(failed("abandon an event"))?;
            return Err(StoreError::UnknownRequest(event.request_id.clone()));
        };
        sqlx::query(
            "INSERT INTO request_events (request_id, seq, at, actor, kind, detail) \
             VALUES ($1, $2, $3, $4, $5, $6::json)",
        )
        .bind(request_id)
        .bind(seq)
        .bind(at)
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
            "SELECT request_id, seq, at, actor, kind, detail::text AS detail FROM request_events \
             WHERE request_id = $1 ORDER BY seq",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read a request's history"))?;
        if rows.is_empty() {
            let known: Option<i32> = sqlx::query_scalar("SELECT 1 FROM requests WHERE id = $1")
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
