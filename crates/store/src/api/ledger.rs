//! [`LedgerStore`]: the custody ledger (entries, tree hashes, checkpoints)
//! and what witnessing leaves behind: the checkpoints accepted from other
//! logs, the forks found, the cosignatures returned.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::decode;
use crate::{
    CosignatureRecord, EntryDigest, ForkRecord, LedgerEntry, LedgerScan, PendingEntry, StoreError,
    StoredCheckpoint, WitnessedState,
};

/// The custody ledger (entries, tree hashes, checkpoints) and what witnessing
/// leaves behind: the checkpoints accepted from other logs, the forks found,
/// the cosignatures returned.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    // -- The custody ledger. The store keeps bytes and hashes and makes
    // each append atomic and ordered; the node computes and checks every
    // hash. Several node processes may share one ledger.

    /// Queues entries for the ledger, in this order, all or none. Operations
    /// that record an action queue its entries the same way, in the
    /// action's own transaction.
    async fn queue_ledger(&self, entries: &[Vec<u8>], at: OffsetDateTime)
    -> Result<(), StoreError>;

    /// Up to `limit` queued entries, oldest (lowest id) first. On
    /// PostgreSQL an entry may be committed after one queued later by
    /// another replica, and then shows up after it.
    async fn pending_ledger(&self, limit: u32) -> Result<Vec<PendingEntry>, StoreError>;

    /// Appends a batch to the ledger in one transaction: `entries` at
    /// indexes `expected_size`, `expected_size + 1`, …; the tree `hashes`
    /// the node computed, by storage index; and the removal of the queued
    /// entries `consumed` (by [`PendingEntry::id`]), all recorded at `at`.
    ///
    /// If the ledger's size is not `expected_size` (another sequencer
    /// appended first), or an entry of `consumed` is no longer queued, it
    /// is [`StoreError::LedgerConflict`] and nothing changes. Stored hashes
    /// are a prefix of storage indexes without gaps: the batch's new hashes
    /// must continue it exactly, else [`StoreError::InvalidValue`]. A hash
    /// for an index that already holds a different one is
    /// [`StoreError::Corrupt`] (the same hash again is accepted); an index
    /// given two different hashes in one batch is
    /// [`StoreError::InvalidValue`]; either way nothing changes.
    async fn append_ledger(
        &self,
        expected_size: u64,
        consumed: &[i64],
        entries: &[Vec<u8>],
        hashes: &[(u64, [u8; 32])],
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// [`LedgerStore::append_ledger`] and then [`LedgerStore::put_checkpoint`] of
    /// `checkpoint`, the signed checkpoint of the size the batch brings the
    /// ledger to, in one transaction: both are stored, or neither. A
    /// sequencing pass then costs one commit instead of two. The refusals
    /// are those of the two calls; a checkpoint of another size than the
    /// new one is [`StoreError::InvalidValue`].
    #[allow(clippy::too_many_arguments)]
    async fn append_ledger_checkpointed(
        &self,
        expected_size: u64,
        consumed: &[i64],
        entries: &[Vec<u8>],
        hashes: &[(u64, [u8; 32])],
        at: OffsetDateTime,
        checkpoint: &StoredCheckpoint,
    ) -> Result<(), StoreError>;

    /// The number of entries in the ledger.
    async fn ledger_size(&self) -> Result<u64, StoreError>;

    /// The tree hashes stored at these storage indexes, in the same order.
    /// An index with no hash, or whose hash is not 32 bytes, is
    /// [`StoreError::Corrupt`] naming it.
    async fn ledger_hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError>;

    /// The tree hashes stored at the `count` storage indexes from `from`
    /// on, in index order: the same answer as [`LedgerStore::ledger_hashes`] over
    /// that range, read as a range (full verification reads every stored
    /// hash this way). An index in the range with no hash, or whose hash is
    /// not 32 bytes, is [`StoreError::Corrupt`] naming it.
    async fn ledger_hash_range(&self, from: u64, count: u32) -> Result<Vec<[u8; 32]>, StoreError> {
        // Both adapters read the block rows that hold the range.
        self.ledger_hashes(&decode::range_indexes(from, count))
            .await
    }

    /// Reads the first `entries` ledger entries and the first `hashes`
    /// stored tree hashes in order, for full verification, as two streams
    /// read beside each other (see [`LedgerScan`]): each entry comes out as
    /// its `digest`, computed by the store's readers, and each stored hash
    /// as it is. Rows added meanwhile are not read; a row missing below
    /// those counts ends its stream with [`StoreError::LedgerGap`].
    async fn ledger_scan(
        &self,
        entries: u64,
        hashes: u64,
        digest: EntryDigest,
    ) -> Result<LedgerScan, StoreError>;

    /// Up to `limit` entries from index `from` on, in index order. An entry
    /// missing below the ledger's size is [`StoreError::LedgerGap`]; entries
    /// changed behind the store's back are returned as they now are, for
    /// the node to check against the tree.
    async fn ledger_entries(&self, from: u64, limit: u32) -> Result<Vec<LedgerEntry>, StoreError>;

    /// The index of the first entry at or after `from` whose bytes are
    /// exactly `entry`, or `None` if no such entry is in the ledger yet.
    async fn ledger_find(&self, entry: &[u8], from: u64) -> Result<Option<u64>, StoreError>;

    /// The entry at `index`, or `None` at or past the ledger's size.
    async fn ledger_entry(&self, index: u64) -> Result<Option<LedgerEntry>, StoreError>;

    /// Stores a signed checkpoint. Storing the same checkpoint again
    /// changes nothing; a different one of a size already stored is
    /// [`StoreError::Corrupt`]; one larger than the ledger is
    /// [`StoreError::InvalidValue`].
    async fn put_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError>;

    /// The checkpoint of the largest size stored, if any.
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// The checkpoint stored for this size, if any.
    async fn checkpoint(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError>;

    // -- Witnessing. As a witness, the node keeps the last checkpoint it
    // accepted from each log and the forks it found; as a log, the
    // cosignatures its witnesses returned. The node checks every signature
    // and proof; the store keeps the text. Several node processes may
    // witness through one database.

    /// The last checkpoint accepted from the log with this origin, if any.
    async fn witnessed(&self, origin: &str) -> Result<Option<WitnessedState>, StoreError>;

    /// Records `state` as the last checkpoint accepted from its log, if the
    /// size stored for that origin is still `expected_size` (`None`: no
    /// checkpoint held yet), the one the caller checked the new checkpoint
    /// against. Otherwise it is [`StoreError::WitnessConflict`] with the
    /// size found, and nothing changes; of writers racing from one view,
    /// exactly one succeeds.
    async fn put_witnessed(
        &self,
        state: &WitnessedState,
        expected_size: Option<u64>,
    ) -> Result<(), StoreError>;

    /// Every log's last accepted checkpoint, by origin (bytewise).
    async fn list_witnessed(&self) -> Result<Vec<WitnessedState>, StoreError>;

    /// Keeps the evidence that the log with this origin forked, detected at
    /// `at`, and returns the report's id. Reports are never merged or
    /// removed.
    async fn record_fork(
        &self,
        origin: &str,
        evidence: &serde_json::Value,
        at: OffsetDateTime,
    ) -> Result<i64, StoreError>;

    /// Up to `limit` fork reports, newest first (ties latest recorded
    /// first).
    async fn forks(&self, limit: u32) -> Result<Vec<ForkRecord>, StoreError>;

    /// Keeps a witness's cosignature on one of this node's checkpoints: one
    /// per size and witness. The same line again changes nothing (its first
    /// time is kept); a different line replaces the one held, with its time.
    async fn put_cosignature(&self, cosignature: &CosignatureRecord) -> Result<(), StoreError>;

    /// The cosignatures held for the checkpoint of this size, by witness
    /// name (bytewise).
    async fn cosignatures(&self, size: u64) -> Result<Vec<CosignatureRecord>, StoreError>;

    /// The largest checkpoint size this witness cosigned, or `None` if it
    /// has cosigned none.
    async fn latest_cosigned_size(&self, witness: &str) -> Result<Option<u64>, StoreError>;
}
