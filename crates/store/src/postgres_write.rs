//! The PostgreSQL adapter's statements for the shared multi-step writes
//! ([`crate::txn`]), and how a transaction running one ends.
//!
//! [`PgTx`] runs each step on one connection: inside a transaction for the
//! writes of several rows, on its own (each statement committing by
//! itself) for the outbox updates that write one row. Several rows go to
//! the server in one statement where PostgreSQL can take them as arrays
//! (`UNNEST`), since every statement costs a round trip.

use sqlx::postgres::PgConnection;
use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;

use crate::StoreError;
use crate::decode::{self, column, failed};
use crate::encode::{Append, EventRow, MessageRow, OutboxRow, RequestRow};
use crate::hash_blocks::BlockRow;
use crate::txn::Tx;

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
            "UPDATE outbox SET state = 'delivered', delivered_at = $2, lease_until = NULL \
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
}
