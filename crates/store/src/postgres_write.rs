//! The PostgreSQL adapter's writes: the statements of the shared
//! multi-step writes ([`crate::txn`]), how a transaction running one ends,
//! and the writes of one statement (or of a check and a statement), as
//! `sqlite_write.rs` holds SQLite's.
//!
//! [`PgTx`] runs each step on one connection: inside a transaction for the
//! writes of several rows, on its own (each statement committing by
//! itself) for the outbox updates that write one row. Several rows go to
//! the server in one statement where PostgreSQL can take them as arrays
//! (`UNNEST`), since every statement costs a round trip.

use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;

use crate::StoreError;
use crate::access::AccessRecord;
use crate::case_index::FiredWrite;
use crate::decode::{self, column, failed};
use crate::encode::{self, Append, EventRow, MessageRow, OutboxRow, RequestRow};
use crate::federation::{RefusalRecord, StoredDirectory};
use crate::hash_blocks::BlockRow;
use crate::ledger::StoredCheckpoint;
use crate::records::NodeInfo;
use crate::txn::Tx;
use crate::witness::{CosignatureRecord, WitnessedState};

/// A connection running the steps of a shared script.
#[derive(Debug)]
pub(crate) struct PgTx<'c>(pub(crate) &'c mut PgConnection);

/// Ends a transaction that ran a script: commits it if the script
/// succeeded (`commit` names the operation for a failure), else rolls it
/// back and returns the script's error.
pub(crate) async fn finish<T>(
    tx: Transaction<'_, Postgres>,
    result: Result<T, StoreError>,
    commit: &'static str,
) -> Result<T, StoreError> {
    match result {
        Ok(value) => {
            tx.commit().await.map_err(failed(commit))?;
            Ok(value)
        }
        Err(e) => Err(abandon(tx, e).await),
    }
}

/// Rolls back `tx` and returns `error`, the reason for abandoning it.
pub(crate) async fn abandon(tx: Transaction<'_, Postgres>, error: StoreError) -> StoreError {
    match tx.rollback().await {
        Ok(()) => error,
        Err(e) => failed("roll back a transaction")(e),
    }
}

/// The ledger's size as the connection sees it.
pub(crate) async fn read_ledger_size(conn: &mut PgConnection) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar("SELECT size FROM ledger_head WHERE singleton = 1")
        .fetch_optional(conn)
        .await
        .map_err(failed("read the ledger's size"))
}

/// The direction and receipt of a stored message, if one has this id.
pub(crate) async fn earlier_copy(
    conn: &mut PgConnection,
    id: &str,
) -> Result<Option<(String, Option<Vec<u8>>)>, StoreError> {
    sqlx::query_as("SELECT direction, receipt FROM messages WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(failed("look up a message"))
}

impl Tx for PgTx<'_> {
    async fn insert_access(
        &mut self,
        record: &AccessRecord,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        crate::postgres_access::insert_record(self.0, record, at)
            .await
            .map(drop)
    }

    /// Waits, if another transaction is inserting the same id, for that
    /// one to end.
    async fn insert_request(&mut self, r: &RequestRow<'_>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO requests (id, kind, direction, counterpart, draft, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(r.id)
        .bind(r.kind)
        .bind(r.direction)
        .bind(r.counterpart)
        .bind(r.draft)
        .bind(r.created_at)
        .execute(&mut *self.0)
        .await
        .map_err(failed("insert a request"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Under READ COMMITTED a waiting UPDATE sees the committed counter,
    /// so concurrent appenders to one request take numbers one after
    /// another.
    async fn next_event_seq(&mut self, request_id: &str) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar(
            "UPDATE requests SET last_event_seq = last_event_seq + 1 WHERE id = $1 \
             RETURNING last_event_seq",
        )
        .bind(request_id)
        .fetch_optional(&mut *self.0)
        .await
        .map_err(failed("number an event"))
    }

    async fn insert_event(&mut self, e: &EventRow<'_>, seq: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO request_events (request_id, seq, at, actor, kind, detail) \
             VALUES ($1, $2, $3, $4, $5, $6::json)",
        )
        .bind(e.request_id)
        .bind(seq)
        .bind(e.at)
        .bind(e.actor)
        .bind(e.kind)
        .bind(&e.detail)
        .execute(&mut *self.0)
        .await
        .map_err(failed("append an event"))?;
        Ok(())
    }

    async fn insert_message(
        &mut self,
        m: &MessageRow<'_>,
        receipt: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO messages (id, thread, direction, counterpart, kind, prev, created_at, \
             recorded_at, envelope, receipt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(m.id)
        .bind(m.thread)
        .bind(m.direction)
        .bind(m.counterpart)
        .bind(m.kind)
        .bind(m.prev)
        .bind(m.created_at)
        .bind(m.recorded_at)
        .bind(m.envelope)
        .bind(receipt)
        .execute(&mut *self.0)
        .await
        .map_err(failed("insert a message"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn earlier_copy(
        &mut self,
        id: &str,
    ) -> Result<Option<(String, Option<Vec<u8>>)>, StoreError> {
        earlier_copy(self.0, id).await
    }

    async fn in_thread(&mut self, id: &str, thread: &str) -> Result<bool, StoreError> {
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM messages WHERE id = $1 AND thread = $2")
                .bind(id)
                .bind(thread)
                .fetch_optional(&mut *self.0)
                .await
                .map_err(failed("look up the previous message"))?;
        Ok(found.is_some())
    }

    async fn insert_outbox(&mut self, o: &OutboxRow<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO outbox (message_id, thread, recipient, url, ciphertext, created_at, \
             next_attempt_at, attempts, state, last_error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9)",
        )
        .bind(o.message_id)
        .bind(o.thread)
        .bind(o.recipient)
        .bind(o.url)
        .bind(o.ciphertext)
        .bind(o.created_at)
        .bind(o.next_attempt_at)
        .bind(o.attempts)
        .bind(o.last_error)
        .execute(&mut *self.0)
        .await
        .map_err(failed("queue a message"))?;
        Ok(())
    }

    async fn queue_entries(
        &mut self,
        entries: &[&[u8]],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        // One statement for the lot; ids are drawn as the rows come, in the
        // order given.
        sqlx::query(
            "INSERT INTO ledger_pending (entry, queued_at) \
             SELECT entry, $2 FROM UNNEST($1::bytea[]) WITH ORDINALITY AS q (entry, n) ORDER BY n",
        )
        .bind(entries)
        .bind(at)
        .execute(&mut *self.0)
        .await
        .map_err(failed("queue ledger entries"))?;
        Ok(())
    }

    async fn outbox_exists(&mut self, message_id: &str) -> Result<bool, StoreError> {
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM outbox WHERE message_id = $1")
            .bind(message_id)
            .fetch_optional(&mut *self.0)
            .await
            .map_err(failed("look up an outbox item"))?;
        Ok(found.is_some())
    }

    async fn set_delivered(
        &mut self,
        message_id: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'delivered', delivered_at = $2, lease_until = NULL, \
             attempts = attempts + 1 \
             WHERE message_id = $1 AND state <> 'delivered'",
        )
        .bind(message_id)
        .bind(at)
        .execute(&mut *self.0)
        .await
        .map_err(failed("mark a delivery"))?;
        Ok(done.rows_affected() != 0)
    }

    async fn store_receipt(&mut self, message_id: &str, receipt: &[u8]) -> Result<(), StoreError> {
        sqlx::query("UPDATE messages SET receipt = $2 WHERE id = $1")
            .bind(message_id)
            .bind(receipt)
            .execute(&mut *self.0)
            .await
            .map_err(failed("store a receipt"))?;
        Ok(())
    }

    async fn replace_ciphertext(
        &mut self,
        message_id: &str,
        ciphertext: &[u8],
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET ciphertext = $2 WHERE message_id = $1 AND state = 'pending'",
        )
        .bind(message_id)
        .bind(ciphertext)
        .execute(&mut *self.0)
        .await
        .map_err(failed("replace an outbox ciphertext"))?;
        Ok(done.rows_affected() != 0)
    }

    async fn set_retry(
        &mut self,
        message_id: &str,
        attempts: i64,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET attempts = $2, next_attempt_at = $3, last_error = $4, \
             lease_until = NULL WHERE message_id = $1 AND state = 'pending'",
        )
        .bind(message_id)
        .bind(attempts)
        .bind(next_attempt_at)
        .bind(error)
        .execute(&mut *self.0)
        .await
        .map_err(failed("schedule a retry"))?;
        Ok(done.rows_affected() != 0)
    }

    async fn set_failed(
        &mut self,
        message_id: &str,
        error: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'failed', last_error = $2, failed_at = $3, \
             lease_until = NULL WHERE message_id = $1 AND state = 'pending'",
        )
        .bind(message_id)
        .bind(error)
        .bind(at)
        .execute(&mut *self.0)
        .await
        .map_err(failed("give up a delivery"))?;
        Ok(done.rows_affected() != 0)
    }

    /// A second sequencer waits on the locked row, and once the first
    /// commits (READ COMMITTED) finds the size changed and updates nothing.
    async fn advance_size(&mut self, from: i64, to: i64) -> Result<bool, StoreError> {
        let moved =
            sqlx::query("UPDATE ledger_head SET size = $2 WHERE singleton = 1 AND size = $1")
                .bind(from)
                .bind(to)
                .execute(&mut *self.0)
                .await
                .map_err(failed("advance the ledger's size"))?;
        Ok(moved.rows_affected() != 0)
    }

    async fn ledger_size(&mut self) -> Result<Option<i64>, StoreError> {
        read_ledger_size(self.0).await
    }

    async fn remove_pending(&mut self, ids: &[i64]) -> Result<u64, StoreError> {
        let removed = sqlx::query("DELETE FROM ledger_pending WHERE id = ANY($1)")
            .bind(ids)
            .execute(&mut *self.0)
            .await
            .map_err(failed("remove consumed ledger entries"))?;
        Ok(removed.rows_affected())
    }

    async fn insert_entries(&mut self, batch: &Append<'_>) -> Result<(), StoreError> {
        let (indexes, rows): (Vec<i64>, Vec<&[u8]>) = batch.indexed().unzip();
        let inserted = sqlx::query(
            "INSERT INTO ledger_entries (idx, entry, recorded_at) \
             SELECT idx, entry, $3 FROM UNNEST($1::bigint[], $2::bytea[]) AS batch (idx, entry) \
             ON CONFLICT (idx) DO NOTHING RETURNING idx",
        )
        .bind(&indexes)
        .bind(&rows)
        .bind(batch.at)
        .fetch_all(&mut *self.0)
        .await
        .map_err(failed("append ledger entries"))?;
        if inserted.len() != indexes.len() {
            let taken: std::collections::HashSet<i64> = inserted
                .iter()
                .map(|row| column::<_, i64>(row, "ledger_entries", "idx"))
                .collect::<Result<_, _>>()?;
            let idx = indexes
                .iter()
                .copied()
                .find(|i| !taken.contains(i))
                .unwrap_or(batch.expected);
            return Err(decode::entry_past_size(idx));
        }
        Ok(())
    }

    async fn last_block(&mut self) -> Result<Option<BlockRow>, StoreError> {
        sqlx::query_as("SELECT block, hashes FROM ledger_hash_blocks ORDER BY block DESC LIMIT 1")
            .fetch_optional(&mut *self.0)
            .await
            .map_err(failed("read the last block of ledger hashes"))
    }

    async fn read_blocks(&mut self, blocks: &[i64]) -> Result<Vec<BlockRow>, StoreError> {
        sqlx::query_as("SELECT block, hashes FROM ledger_hash_blocks WHERE block = ANY($1)")
            .bind(blocks)
            .fetch_all(&mut *self.0)
            .await
            .map_err(failed("read stored ledger hashes"))
    }

    async fn write_blocks(&mut self, rows: Vec<(i64, Vec<u8>)>) -> Result<(), StoreError> {
        let (blocks, values): (Vec<i64>, Vec<Vec<u8>>) = rows.into_iter().unzip();
        sqlx::query(
            "INSERT INTO ledger_hash_blocks (block, hashes) \
             SELECT block, hashes FROM UNNEST($1::bigint[], $2::bytea[]) AS batch (block, hashes) \
             ON CONFLICT (block) DO UPDATE SET hashes = excluded.hashes",
        )
        .bind(&blocks)
        .bind(&values)
        .execute(&mut *self.0)
        .await
        .map_err(failed("store ledger hashes"))?;
        Ok(())
    }

    async fn insert_fired(&mut self, f: &FiredWrite<'_>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO clock_events (case_id, clock, event, due, fired_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(f.case_id)
        .bind(f.clock)
        .bind(f.event)
        .bind(f.due)
        .bind(f.fired_at)
        .execute(&mut *self.0)
        .await
        .map_err(failed("record a clock event"))?;
        Ok(done.rows_affected() == 1)
    }
}

// -- The writes of one statement, or of a check and a statement.

pub(crate) async fn put_node_info(pool: &PgPool, info: &NodeInfo) -> Result<(), StoreError> {
    let created_at = encode::timestamp("node_info.created_at", info.created_at)?;
    sqlx::query(
        "INSERT INTO node_info (singleton, state, name, created_at) VALUES (1, $1, $2, $3) \
         ON CONFLICT (singleton) DO UPDATE SET \
         state = excluded.state, name = excluded.name, created_at = excluded.created_at",
    )
    .bind(info.state.as_str())
    .bind(encode::text("node_info.name", &info.name)?)
    .bind(created_at)
    .execute(pool)
    .await
    .map_err(failed("store the node's identity"))?;
    Ok(())
}

pub(crate) async fn put_directory(
    pool: &PgPool,
    directory: &StoredDirectory,
) -> Result<(), StoreError> {
    let version = encode::count("directory.version", directory.version)?;
    let imported_at = encode::timestamp("directory.imported_at", directory.imported_at)?;
    let done = sqlx::query(
        "INSERT INTO directory (singleton, version, signed, imported_at) \
         VALUES (1, $1, $2, $3) \
         ON CONFLICT (singleton) DO UPDATE SET version = excluded.version, \
         signed = excluded.signed, imported_at = excluded.imported_at \
         WHERE excluded.version > directory.version",
    )
    .bind(version)
    .bind(directory.signed.as_slice())
    .bind(imported_at)
    .execute(pool)
    .await
    .map_err(failed("store the directory"))?;
    if done.rows_affected() == 0 {
        let current: i64 = sqlx::query_scalar("SELECT version FROM directory WHERE singleton = 1")
            .fetch_one(pool)
            .await
            .map_err(failed("read the directory's version"))?;
        return Err(StoreError::StaleDirectory {
            current: u64::try_from(current).unwrap_or(0),
            offered: directory.version,
        });
    }
    Ok(())
}

pub(crate) async fn record_refusal(
    pool: &PgPool,
    refusal: &RefusalRecord,
) -> Result<(), StoreError> {
    let r = encode::refusal(refusal)?;
    sqlx::query(
        "INSERT INTO refusals (at, peer, claimed_sender, code, detail, body_sha256, body_len) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(r.at)
    .bind(r.peer)
    .bind(r.claimed_sender)
    .bind(r.code)
    .bind(r.detail)
    .bind(r.body_sha256)
    .bind(r.body_len)
    .execute(pool)
    .await
    .map_err(failed("record a refusal"))?;
    Ok(())
}

pub(crate) async fn put_checkpoint(
    pool: &PgPool,
    checkpoint: &StoredCheckpoint,
) -> Result<(), StoreError> {
    let cp = encode::checkpoint(checkpoint)?;
    // The size only grows, so a checkpoint within it stays within it.
    let size = ledger_size(pool).await?;
    if checkpoint.size > size {
        return Err(decode::checkpoint_too_large(checkpoint.size, size));
    }
    // A concurrent insert of the same size makes this one wait for it,
    // then do nothing; the note stored is then compared.
    let inserted = sqlx::query(
        "INSERT INTO ledger_checkpoints (size, note, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (size) DO NOTHING",
    )
    .bind(cp.size)
    .bind(cp.note)
    .bind(cp.created_at)
    .execute(pool)
    .await
    .map_err(failed("store a checkpoint"))?;
    if inserted.rows_affected() == 0 {
        let stored: String =
            sqlx::query_scalar("SELECT note FROM ledger_checkpoints WHERE size = $1")
                .bind(cp.size)
                .fetch_one(pool)
                .await
                .map_err(failed("read a stored checkpoint"))?;
        return decode::same_checkpoint(checkpoint, &stored);
    }
    Ok(())
}

/// Stores checkpoint `cp` (encoded from `checkpoint`) in `tx`, after the
/// append it covers: a checkpoint of that size stored before must be the
/// same one.
pub(crate) async fn insert_checkpoint(
    tx: &mut Transaction<'_, Postgres>,
    checkpoint: &StoredCheckpoint,
    cp: &encode::CheckpointRow<'_>,
) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO ledger_checkpoints (size, note, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (size) DO NOTHING",
    )
    .bind(cp.size)
    .bind(cp.note)
    .bind(cp.created_at)
    .execute(&mut **tx)
    .await
    .map_err(failed("store a checkpoint"))?;
    if inserted.rows_affected() == 0 {
        let stored: String =
            sqlx::query_scalar("SELECT note FROM ledger_checkpoints WHERE size = $1")
                .bind(cp.size)
                .fetch_one(&mut **tx)
                .await
                .map_err(failed("read a stored checkpoint"))?;
        return decode::same_checkpoint(checkpoint, &stored);
    }
    Ok(())
}

pub(crate) async fn put_witnessed(
    pool: &PgPool,
    state: &WitnessedState,
    expected_size: Option<u64>,
) -> Result<(), StoreError> {
    let w = encode::witnessed(state, expected_size)?;
    let mut tx = pool
        .begin()
        .await
        .map_err(failed("begin updating a witnessed checkpoint"))?;
    // The row, if any, stays locked until the end, so the size compared
    // is the size replaced; a racing writer waits, then sees the new
    // size and fails the comparison.
    let held: Option<i64> =
        sqlx::query_scalar("SELECT size FROM witnessed WHERE origin = $1 FOR UPDATE")
            .bind(w.origin)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failed("read a witnessed checkpoint"))?;
    if held != w.expected {
        let conflict = decode::witness_conflict(&state.origin, expected_size, held);
        return Err(abandon(tx, conflict).await);
    }
    let written = if held.is_some() {
        sqlx::query("UPDATE witnessed SET size = $2, note = $3, updated_at = $4 WHERE origin = $1")
    } else {
        // No row to lock: of writers inserting at once, one inserts and
        // the others, after waiting for it, insert nothing.
        sqlx::query(
            "INSERT INTO witnessed (origin, size, note, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (origin) DO NOTHING",
        )
    }
    .bind(w.origin)
    .bind(w.size)
    .bind(w.note)
    .bind(w.updated_at)
    .execute(&mut *tx)
    .await
    .map_err(failed("store a witnessed checkpoint"))?;
    if written.rows_affected() == 0 {
        let now_held: Option<i64> =
            sqlx::query_scalar("SELECT size FROM witnessed WHERE origin = $1")
                .bind(w.origin)
                .fetch_optional(&mut *tx)
                .await
                .map_err(failed("read a witnessed checkpoint"))?;
        let conflict = decode::witness_conflict(&state.origin, expected_size, now_held);
        return Err(abandon(tx, conflict).await);
    }
    tx.commit()
        .await
        .map_err(failed("commit a witnessed checkpoint"))
}

pub(crate) async fn record_fork(
    pool: &PgPool,
    origin: &str,
    evidence: &serde_json::Value,
    at: OffsetDateTime,
) -> Result<i64, StoreError> {
    let f = encode::fork(origin, evidence, at)?;
    sqlx::query_scalar(
        "INSERT INTO witness_forks (origin, detected_at, evidence) \
         VALUES ($1, $2, $3::json) RETURNING id",
    )
    .bind(f.origin)
    .bind(f.detected_at)
    .bind(f.evidence)
    .fetch_one(pool)
    .await
    .map_err(failed("record a fork"))
}

pub(crate) async fn put_cosignature(
    pool: &PgPool,
    cosignature: &CosignatureRecord,
) -> Result<(), StoreError> {
    let c = encode::cosignature(cosignature)?;
    // The same line again updates nothing, keeping its first time.
    sqlx::query(
        "INSERT INTO cosignatures (size, witness, line, at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (size, witness) DO UPDATE SET line = excluded.line, at = excluded.at \
         WHERE cosignatures.line <> excluded.line",
    )
    .bind(c.size)
    .bind(c.witness)
    .bind(c.line)
    .bind(c.at)
    .execute(pool)
    .await
    .map_err(failed("store a cosignature"))?;
    Ok(())
}

/// The ledger's size, on a connection of its own.
pub(crate) async fn ledger_size(pool: &PgPool) -> Result<u64, StoreError> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(failed("read the ledger's size"))?;
    decode::ledger_size(read_ledger_size(&mut conn).await?)
}
