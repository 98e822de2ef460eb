//! The PostgreSQL adapter's [`LedgerStore`]: the custody ledger (entries,
//! tree hashes, checkpoints) and what witnessing leaves behind: the
//! checkpoints accepted from other logs, the forks found, the cosignatures
//! returned.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::decode::{self, failed};
use crate::encode;
use crate::hash_blocks::{self, BlockRow};
use crate::ledger::{EntryDigest, LedgerEntry, LedgerScan, PendingEntry, StoredCheckpoint};
use crate::postgres_write::{self as write, PgTx, finish};
use crate::rows::{self, columns};
use crate::txn::{self, Tx};
use crate::witness::{CosignatureRecord, ForkRecord, WitnessedState};
use crate::{LedgerStore, StoreError};

use super::PgStore;

#[async_trait]
impl LedgerStore for PgStore {
    async fn queue_ledger(
        &self,
        entries: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let at = encode::timestamp("ledger_pending.queued_at", at)?;
        if entries.is_empty() {
            return Ok(());
        }
        let entries: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin queueing ledger entries"))?;
        let done = PgTx(&mut tx).queue_entries(&entries, at).await;
        finish(tx, done, "commit queued ledger entries").await
    }

    async fn pending_ledger(&self, limit: u32) -> Result<Vec<PendingEntry>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(ledger_pending),
            " FROM ledger_pending ORDER BY id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read queued ledger entries"))?;
        rows.iter().map(rows::pending).collect()
    }

    async fn append_ledger(
        &self,
        expected_size: u64,
        consumed: &[i64],
        entries: &[Vec<u8>],
        hashes: &[(u64, [u8; 32])],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let batch = encode::append(expected_size, consumed, entries, hashes, at)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin appending to the ledger"))?;
        let done = txn::append_ledger(&mut PgTx(&mut tx), expected_size, &batch).await;
        finish(tx, done, "commit a ledger append").await
    }

    async fn append_ledger_checkpointed(
        &self,
        expected_size: u64,
        consumed: &[i64],
        entries: &[Vec<u8>],
        hashes: &[(u64, [u8; 32])],
        at: OffsetDateTime,
        checkpoint: &StoredCheckpoint,
    ) -> Result<(), StoreError> {
        if expected_size.checked_add(entries.len() as u64) != Some(checkpoint.size) {
            return Err(decode::checkpoint_not_appended(
                checkpoint.size,
                expected_size,
                entries.len(),
            ));
        }
        let batch = encode::append(expected_size, consumed, entries, hashes, at)?;
        let cp = encode::checkpoint(checkpoint)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin appending to the ledger"))?;
        let done = match txn::append_ledger(&mut PgTx(&mut tx), expected_size, &batch).await {
            Ok(()) => write::insert_checkpoint(&mut tx, checkpoint, &cp).await,
            Err(e) => Err(e),
        };
        finish(tx, done, "commit a ledger append").await
    }

    async fn ledger_size(&self) -> Result<u64, StoreError> {
        write::ledger_size(&self.pool).await
    }

    async fn ledger_hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<BlockRow> =
            sqlx::query_as("SELECT block, hashes FROM ledger_hash_blocks WHERE block = ANY($1)")
                .bind(hash_blocks::blocks_for(indexes.iter().copied()))
                .fetch_all(&self.pool)
                .await
                .map_err(failed("read ledger hashes"))?;
        hash_blocks::hashes_at(indexes, &rows)
    }

    async fn ledger_scan(
        &self,
        entries: u64,
        hashes: u64,
        digest: EntryDigest,
    ) -> Result<LedgerScan, StoreError> {
        // Rows cross the network page by page either way; two tasks keep
        // both streams moving.
        Ok(crate::ledger::scan_in_pages(
            self.clone(),
            entries,
            hashes,
            digest,
        ))
    }

    async fn ledger_entries(&self, from: u64, limit: u32) -> Result<Vec<LedgerEntry>, StoreError> {
        // The size is read first: entries are only ever added, so every
        // index below it must be found by the read that follows.
        let size = self.ledger_size().await?;
        let Ok(start) = i64::try_from(from) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(ledger_entries),
            " FROM ledger_entries WHERE idx >= $1 \
             ORDER BY idx LIMIT $2"
        ))
        .bind(start)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read ledger entries"))?;
        let rows = rows
            .iter()
            .map(rows::ledger_entry)
            .collect::<Result<_, _>>()?;
        decode::ledger_run(from, limit, size, rows)
    }

    async fn ledger_find(&self, entry: &[u8], from: u64) -> Result<Option<u64>, StoreError> {
        let Ok(start) = i64::try_from(from) else {
            return Ok(None);
        };
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT idx FROM ledger_entries WHERE idx >= $1 AND entry = $2 ORDER BY idx LIMIT 1",
        )
        .bind(start)
        .bind(entry)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("look for a ledger entry"))?;
        found.map(decode::ledger_index).transpose()
    }

    async fn ledger_entry(&self, index: u64) -> Result<Option<LedgerEntry>, StoreError> {
        // As in `ledger_entries`, the size first.
        let size = self.ledger_size().await?;
        let Some(idx) = i64::try_from(index).ok().filter(|_| index < size) else {
            return Ok(None);
        };
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(ledger_entries),
            " FROM ledger_entries WHERE idx = $1"
        ))
        .bind(idx)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read a ledger entry"))?;
        match row {
            Some(row) => rows::ledger_entry(&row)?.parse().map(Some),
            None => Err(decode::missing_entry(index)),
        }
    }

    async fn put_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError> {
        write::put_checkpoint(&self.pool, checkpoint).await
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(ledger_checkpoints),
            " FROM ledger_checkpoints ORDER BY size DESC LIMIT 1"
        ))
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read the latest checkpoint"))?;
        row.as_ref().map(rows::checkpoint).transpose()
    }

    async fn checkpoint(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(None);
        };
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(ledger_checkpoints),
            " FROM ledger_checkpoints WHERE size = $1"
        ))
        .bind(size)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read a checkpoint"))?;
        row.as_ref().map(rows::checkpoint).transpose()
    }

    async fn witnessed(&self, origin: &str) -> Result<Option<WitnessedState>, StoreError> {
        if !encode::storable(origin) {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(witnessed),
            " FROM witnessed WHERE origin = $1"
        ))
        .bind(origin)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read a witnessed checkpoint"))?;
        row.as_ref().map(rows::witnessed).transpose()
    }

    async fn put_witnessed(
        &self,
        state: &WitnessedState,
        expected_size: Option<u64>,
    ) -> Result<(), StoreError> {
        write::put_witnessed(&self.pool, state, expected_size).await
    }

    async fn list_witnessed(&self) -> Result<Vec<WitnessedState>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(witnessed),
            " FROM witnessed ORDER BY origin"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list witnessed checkpoints"))?;
        rows.iter().map(rows::witnessed).collect()
    }

    async fn record_fork(
        &self,
        origin: &str,
        evidence: &serde_json::Value,
        at: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        write::record_fork(&self.pool, origin, evidence, at).await
    }

    async fn forks(&self, limit: u32) -> Result<Vec<ForkRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(witness_forks),
            " FROM witness_forks \
             ORDER BY detected_at DESC, id DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list forks"))?;
        rows.iter().map(rows::fork).collect()
    }

    async fn put_cosignature(&self, cosignature: &CosignatureRecord) -> Result<(), StoreError> {
        write::put_cosignature(&self.pool, cosignature).await
    }

    async fn cosignatures(&self, size: u64) -> Result<Vec<CosignatureRecord>, StoreError> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(cosignatures),
            " FROM cosignatures WHERE size = $1 ORDER BY witness"
        ))
        .bind(size)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read cosignatures"))?;
        rows.iter().map(rows::cosignature).collect()
    }

    async fn latest_cosigned_size(&self, witness: &str) -> Result<Option<u64>, StoreError> {
        if !encode::storable(witness) {
            return Ok(None);
        }
        let largest: Option<i64> =
            sqlx::query_scalar("SELECT MAX(size) FROM cosignatures WHERE witness = $1")
                .bind(witness)
                .fetch_one(&self.pool)
                .await
                .map_err(failed("read the latest cosignature"))?;
        decode::latest_cosigned(witness, largest)
    }
}
