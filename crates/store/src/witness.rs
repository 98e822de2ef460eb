//! The records of witnessing, kept on both sides of it.
//!
//! Nodes witness each other's custody ledgers in the manner of C2SP
//! tlog-witness: a log sends a peer its latest signed checkpoint with a
//! consistency proof, and the peer, its witness, checks the proof against
//! the last checkpoint it holds for that log's origin, then cosigns and
//! remembers the new one, or keeps the evidence of a fork. As a witness a
//! node keeps a [`WitnessedState`] per log and the [`ForkRecord`]s it found;
//! as a log it keeps the [`CosignatureRecord`]s it received. The node does
//! all the cryptography: the store keeps notes, lines and evidence as text
//! and never parses them. Timestamps follow the rule of the other records
//! (UTC, to the microsecond; see [`crate::storage_precision`]).

use time::OffsetDateTime;

/// The last checkpoint a witness accepted from one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessedState {
    /// The log's origin line, which names it.
    pub origin: String,
    /// The tree size of the checkpoint accepted.
    pub size: u64,
    /// The checkpoint as the log signed it.
    pub note: String,
    /// When it was accepted.
    pub updated_at: OffsetDateTime,
}

/// A witness's cosignature on one of this node's own checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureRecord {
    /// The size of the checkpoint cosigned.
    pub size: u64,
    /// The witness's name (its key name in the note).
    pub witness: String,
    /// The signature line as received.
    pub line: String,
    /// When it was received.
    pub at: OffsetDateTime,
}

/// Evidence, kept by a witness, that a log showed two inconsistent views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkRecord {
    /// The store's number for the report: ids rise in the order reports are
    /// recorded and are never reused.
    pub id: i64,
    /// The origin of the log that forked.
    pub origin: String,
    pub detected_at: OffsetDateTime,
    /// The evidence as the node wrote it, key order kept.
    pub evidence: serde_json::Value,
}
