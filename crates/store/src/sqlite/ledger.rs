//! The SQLite adapter's [`LedgerStore`]: the custody ledger (entries, tree
//! hashes, checkpoints) and what witnessing leaves behind: the checkpoints
//! accepted from other logs, the forks found, the cosignatures returned.

use async_trait::async_trait;
use rusqlite::params;
use time::OffsetDateTime;

use crate::decode;
use crate::encode;
use crate::hash_blocks;
use crate::ledger::{EntryDigest, LedgerEntry, LedgerScan, PendingEntry, StoredCheckpoint};
use crate::rows::{self, columns};
use crate::sqlite_db::{self as db, all, first, read_blocks, read_ledger_size, value};
use crate::sqlite_write as write;
use crate::witness::{CosignatureRecord, ForkRecord, WitnessedState};
use crate::{LedgerStore, StoreError};

use super::{SqliteStore, sql_count};

#[async_trait]
impl LedgerStore for SqliteStore {
    async fn queue_ledger(
        &self,
        entries: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return encode::timestamp("ledger_pending.queued_at", at).map(|_| ());
        }
        let entries = entries.to_vec();
        self.writer
            .write(move |conn| write::queue_ledger(conn, &entries, at))
            .await
    }

    async fn pending_ledger(&self, limit: u32) -> Result<Vec<PendingEntry>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    columns!(ledger_pending),
                    " FROM ledger_pending ORDER BY id LIMIT ?1"
                ),
                [sql_count(limit)],
                "read queued ledger entries",
                |row| rows::pending(row),
            )
        })
    }

    async fn append_ledger(
        &self,
        expected_size: u64,
        consumed: &[i64],
        entries: &[Vec<u8>],
        hashes: &[(u64, [u8; 32])],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (consumed, entries, hashes) = (consumed.to_vec(), entries.to_vec(), hashes.to_vec());
        self.writer
            .write(move |conn| {
                write::append_ledger(conn, expected_size, &consumed, &entries, &hashes, at)
            })
            .await
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
        let (consumed, entries, hashes) = (consumed.to_vec(), entries.to_vec(), hashes.to_vec());
        let checkpoint = checkpoint.clone();
        // One job: an error in either part rolls back both (the job's
        // savepoint), and both reach the disk with one commit.
        self.writer
            .write(move |conn| {
                write::append_ledger(conn, expected_size, &consumed, &entries, &hashes, at)?;
                write::put_checkpoint(conn, &checkpoint)
            })
            .await
    }

    async fn ledger_size(&self) -> Result<u64, StoreError> {
        decode::ledger_size(self.read(read_ledger_size)?)
    }

    async fn ledger_hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.read(|conn| {
            read_blocks(
                conn,
                hash_blocks::blocks_for(indexes.iter().copied()),
                "read ledger hashes",
            )
        })?;
        hash_blocks::hashes_at(indexes, &rows)
    }

    async fn ledger_scan(
        &self,
        entries: u64,
        hashes: u64,
        digest: EntryDigest,
    ) -> Result<LedgerScan, StoreError> {
        if self.shared.readers.is_closed() {
            return Err(db::closed());
        }
        Ok(crate::sqlite_scan::scan(
            self.file.clone(),
            entries,
            hashes,
            digest,
        ))
    }

    async fn ledger_entries(&self, from: u64, limit: u32) -> Result<Vec<LedgerEntry>, StoreError> {
        let Ok(start) = i64::try_from(from) else {
            // Still a read of the size, so a closed store says so.
            self.ledger_size().await?;
            return Ok(Vec::new());
        };
        let (size, rows) = self
            .read_long(move |conn| {
                // The size is read first: entries are only ever added, so
                // every index below it must be found by the read that
                // follows.
                let size = decode::ledger_size(read_ledger_size(conn)?)?;
                let rows = all(
                    conn,
                    concat!(
                        "SELECT ",
                        columns!(ledger_entries),
                        " FROM ledger_entries WHERE idx >= ?1 \
                     ORDER BY idx LIMIT ?2"
                    ),
                    [start, sql_count(limit)],
                    "read ledger entries",
                    |row| rows::ledger_entry(row),
                )?;
                Ok((size, rows))
            })
            .await?;
        decode::ledger_run(from, limit, size, rows)
    }

    async fn ledger_find(&self, entry: &[u8], from: u64) -> Result<Option<u64>, StoreError> {
        let Ok(start) = i64::try_from(from) else {
            return Ok(None);
        };
        let found: Option<i64> = self.read(|conn| {
            value(
                conn,
                "SELECT idx FROM ledger_entries WHERE idx >= ?1 AND entry = ?2 \
                 ORDER BY idx LIMIT 1",
                params![start, entry],
                "look for a ledger entry",
            )
        })?;
        found.map(decode::ledger_index).transpose()
    }

    async fn ledger_entry(&self, index: u64) -> Result<Option<LedgerEntry>, StoreError> {
        self.read(|conn| {
            // As in `ledger_entries`, the size first.
            let size = decode::ledger_size(read_ledger_size(conn)?)?;
            let Some(idx) = i64::try_from(index).ok().filter(|_| index < size) else {
                return Ok(None);
            };
            let row = first(
                conn,
                concat!(
                    "SELECT ",
                    columns!(ledger_entries),
                    " FROM ledger_entries WHERE idx = ?1"
                ),
                [idx],
                "read a ledger entry",
                |row| rows::ledger_entry(row),
            )?;
            match row {
                Some(row) => row.parse().map(Some),
                None => Err(decode::missing_entry(index)),
            }
        })
    }

    async fn put_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError> {
        let checkpoint = checkpoint.clone();
        self.writer
            .write(move |conn| write::put_checkpoint(conn, &checkpoint))
            .await
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.sqlite_latest_checkpoint().await
    }

    async fn checkpoint(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.sqlite_checkpoint(size).await
    }

    async fn witnessed(&self, origin: &str) -> Result<Option<WitnessedState>, StoreError> {
        self.sqlite_witnessed(origin).await
    }

    async fn put_witnessed(
        &self,
        state: &WitnessedState,
        expected_size: Option<u64>,
    ) -> Result<(), StoreError> {
        let state = state.clone();
        self.writer
            .write(move |conn| write::put_witnessed(conn, &state, expected_size))
            .await
    }

    async fn list_witnessed(&self) -> Result<Vec<WitnessedState>, StoreError> {
        self.sqlite_list_witnessed().await
    }

    async fn record_fork(
        &self,
        origin: &str,
        evidence: &serde_json::Value,
        at: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        let (origin, evidence) = (origin.to_owned(), evidence.clone());
        self.writer
            .write(move |conn| write::record_fork(conn, &origin, &evidence, at))
            .await
    }

    async fn forks(&self, limit: u32) -> Result<Vec<ForkRecord>, StoreError> {
        self.sqlite_forks(limit).await
    }

    async fn put_cosignature(&self, cosignature: &CosignatureRecord) -> Result<(), StoreError> {
        let cosignature = cosignature.clone();
        self.writer
            .write(move |conn| write::put_cosignature(conn, &cosignature))
            .await
    }

    async fn cosignatures(&self, size: u64) -> Result<Vec<CosignatureRecord>, StoreError> {
        self.sqlite_cosignatures(size).await
    }

    async fn latest_cosigned_size(&self, witness: &str) -> Result<Option<u64>, StoreError> {
        self.sqlite_latest_cosigned_size(witness).await
    }
}
