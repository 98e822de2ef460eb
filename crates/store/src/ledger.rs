//! The records of the custody ledger that a node keeps: entries waiting to
//! be sequenced, the ledger's entries by index, the tree hashes the node
//! computed for them, and signed checkpoints.
//!
//! The store is the ledger's memory, not its logic: it keeps entries and
//! hashes as opaque bytes, makes each append atomic and ordered, and never
//! computes or checks a Merkle hash. An action queues its entry in the same
//! transaction as the action itself (see the `ledger` fields of
//! [`crate::OutgoingMessage`], [`crate::IncomingMessage`] and
//! [`crate::NewEvent`]); the node's sequencer later moves queued entries into
//! the ledger in batches with [`crate::Store::append_ledger`]. Timestamps
//! follow the rule of the other records (UTC, to the microsecond; see
//! [`crate::storage_precision`]).

use time::OffsetDateTime;

/// One entry of the ledger, at its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The entry's place: 0 for the first, then 1, 2, … without gaps.
    pub index: u64,
    /// The entry exactly as appended. Whether it still matches the tree is
    /// for the node to check.
    pub entry: Vec<u8>,
    /// When the batch holding it was appended.
    pub recorded_at: OffsetDateTime,
}

/// An entry queued for the ledger and not yet sequenced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    /// The queue's number for it: ids rise in the order entries are queued
    /// and are never reused. The sequencer hands them back to
    /// [`crate::Store::append_ledger`] as consumed.
    pub id: i64,
    pub entry: Vec<u8>,
    /// When the action that queued it was recorded.
    pub queued_at: OffsetDateTime,
}

/// A signed checkpoint of the ledger (a signed note naming the tree's size
/// and root), as the node made it. The store keeps at most one per size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The number of ledger entries it covers; at most the ledger's size
    /// when stored.
    pub size: u64,
    /// The signed note, exactly as signed.
    pub note: String,
    pub created_at: OffsetDateTime,
}
