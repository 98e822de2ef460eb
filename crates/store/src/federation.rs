//! The records of federation that a node keeps: the directory it trusts,
//! the signed messages of each request thread, the outbox that delivers
//! outgoing messages, and the incoming messages it refused.
//!
//! The store knows nothing of the protocol: message ids, kinds and threads
//! are text, and envelopes, receipts and ciphertexts are opaque bytes kept
//! exactly as given. Timestamps follow the rule of the other records (UTC,
//! to the microsecond; see [`crate::storage_precision`]).

use std::fmt;
use std::str::FromStr;

use custos_model::StateCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::records::{Direction, NewEvent, RequestRecord};

/// Shows a byte field by its length only: envelopes and ciphertexts run to
/// kilobytes and mean nothing in a log line.
struct Bytes<'a>(&'a [u8]);

impl fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

/// The signed directory list the node trusts, as imported after its
/// signatures were verified. A store holds one; a newer version replaces it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredDirectory {
    /// The list's version number, which only ever increases. At most
    /// `i64::MAX`, which every backend holds.
    pub version: u64,
    /// The signed list exactly as received (the registry's envelope JSON).
    pub signed: Vec<u8>,
    pub imported_at: OffsetDateTime,
}

impl fmt::Debug for StoredDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredDirectory")
            .field("version", &self.version)
            .field("signed", &Bytes(&self.signed))
            .field("imported_at", &self.imported_at)
            .finish()
    }
}

/// One signed message of a request thread, sent or received.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// The message's content-derived id, unique on this node.
    pub id: String,
    /// The request thread it belongs to: the id of a stored request.
    pub thread: String,
    pub direction: Direction,
    /// The other node's party: the recipient of an outgoing message, the
    /// sender of an incoming one.
    pub counterpart: StateCode,
    /// The message kind's wire name (`submit`, `acknowledge`, …).
    pub kind: String,
    /// The message before it in the thread, if any.
    pub prev: Option<String>,
    /// When the sender says it made the message.
    pub created_at: OffsetDateTime,
    /// When this node recorded it.
    pub recorded_at: OffsetDateTime,
    /// The signed envelope (DSSE JSON), exactly as signed.
    pub envelope: Vec<u8>,
}

impl fmt::Debug for MessageRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageRecord")
            .field("id", &self.id)
            .field("thread", &self.thread)
            .field("direction", &self.direction)
            .field("counterpart", &self.counterpart)
            .field("kind", &self.kind)
            .field("prev", &self.prev)
            .field("created_at", &self.created_at)
            .field("recorded_at", &self.recorded_at)
            .field("envelope", &Bytes(&self.envelope))
            .finish()
    }
}

/// A message as a whole-store pass reads it: its place in the recording
/// order, the row and its receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// The recording order (`messages.seq`), rising, never reused.
    pub seq: u64,
    pub message: MessageRecord,
    /// The signed receipt held for it, if any (see
    /// [`crate::FederationStore::receipt_for`]).
    pub receipt: Option<Vec<u8>>,
}

/// Where an outgoing message stands in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    /// Not yet delivered; retried until delivered or given up.
    Pending,
    /// The recipient answered with a receipt.
    Delivered,
    /// Given up: no further attempt will be made.
    Failed,
}

impl OutboxState {
    /// The stable text kept in the store and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Failed => "failed",
        }
    }
}

/// A text that names no outbox state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an outbox state (expected \"pending\", \"delivered\" or \"failed\")")]
pub struct UnknownOutboxState(pub String);

impl FromStr for OutboxState {
    type Err = UnknownOutboxState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(OutboxState::Pending),
            "delivered" => Ok(OutboxState::Delivered),
            "failed" => Ok(OutboxState::Failed),
            other => Err(UnknownOutboxState(other.to_owned())),
        }
    }
}

impl fmt::Display for OutboxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An outgoing message waiting for, or past, delivery.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// The message delivered, which is stored beside it.
    pub message_id: String,
    pub recipient: StateCode,
    /// Where to deliver it (the recipient node's federation endpoint).
    pub url: String,
    /// The encrypted envelope, sent as it is on every attempt.
    pub ciphertext: Vec<u8>,
    pub created_at: OffsetDateTime,
    /// The earliest time of the next attempt.
    pub next_attempt_at: OffsetDateTime,
    /// Attempts made so far.
    pub attempts: u32,
    pub state: OutboxState,
    /// Why the latest attempt failed, if one did.
    pub last_error: Option<String>,
    pub delivered_at: Option<OffsetDateTime>,
}

impl fmt::Debug for OutboxItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxItem")
            .field("message_id", &self.message_id)
            .field("recipient", &self.recipient)
            .field("url", &self.url)
            .field("ciphertext", &Bytes(&self.ciphertext))
            .field("created_at", &self.created_at)
            .field("next_attempt_at", &self.next_attempt_at)
            .field("attempts", &self.attempts)
            .field("state", &self.state)
            .field("last_error", &self.last_error)
            .field("delivered_at", &self.delivered_at)
            .finish()
    }
}

/// Everything recorded, together or not at all, when the node sends a
/// message: see [`crate::FederationStore::record_outgoing`].
///
/// The parts must agree: `message` is outgoing; `new_request`, if any, has
/// the thread's id, the same direction and counterpart; `event` belongs to
/// the thread; `outbox` carries the message's id and counterpart and is
/// pending with no delivery time.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    pub message: MessageRecord,
    /// The request the message opens, when it is the first of its thread.
    pub new_request: Option<RequestRecord>,
    /// The entry added to the request's history.
    pub event: NewEvent,
    pub outbox: OutboxItem,
    /// Custody-ledger entries recording the sending, queued in the same
    /// transaction, in this order and then the event's own entry if it has
    /// one.
    pub ledger: Vec<Vec<u8>>,
    /// The record of the person allowed to send it, written in the same
    /// transaction; its entry is one of `ledger` (the action's own entry
    /// stands for the decision), so a sending adds no entry of its own.
    pub access: Option<crate::AccessRecord>,
}

/// Everything recorded, together or not at all, when the node accepts a
/// verified message: see [`crate::FederationStore::accept_incoming`].
///
/// The parts must agree: `message` is incoming; `new_request`, if any, has
/// the thread's id, the same direction and counterpart; `event` belongs to
/// the thread.
#[derive(Clone, PartialEq)]
pub struct IncomingMessage {
    pub message: MessageRecord,
    /// The request the message opens, when it is the first of its thread.
    pub new_request: Option<RequestRecord>,
    /// The entry added to the request's history.
    pub event: NewEvent,
    /// The signed receipt this node returns for the message.
    pub receipt: Vec<u8>,
    /// Custody-ledger entries recording the receipt of the message, queued
    /// in the same transaction, in this order and then the event's own
    /// entry if it has one. A duplicate queues nothing.
    pub ledger: Vec<Vec<u8>>,
}

impl fmt::Debug for IncomingMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingMessage")
            .field("message", &self.message)
            .field("new_request", &self.new_request)
            .field("event", &self.event)
            .field("receipt", &Bytes(&self.receipt))
            .field(
                "ledger",
                &self.ledger.iter().map(|e| Bytes(e)).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What [`crate::FederationStore::accept_incoming`] did with a message.
#[derive(Clone, PartialEq, Eq)]
pub enum AcceptOutcome {
    /// Newly recorded, with its receipt.
    Accepted,
    /// Already recorded earlier; nothing changed. `receipt` is the one
    /// stored then, to be returned to the sender again.
    Duplicate { receipt: Vec<u8> },
}

impl fmt::Debug for AcceptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcceptOutcome::Accepted => f.write_str("Accepted"),
            AcceptOutcome::Duplicate { receipt } => f
                .debug_struct("Duplicate")
                .field("receipt", &Bytes(receipt))
                .finish(),
        }
    }
}

/// An incoming message the node refused. The bytes refused are not kept:
/// only their SHA-256 and length, to match them against a peer's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalRecord {
    pub at: OffsetDateTime,
    /// The network peer it came from (an address), as seen by the node.
    pub peer: String,
    /// The sender it claimed to be (the advisory header), if any.
    pub claimed_sender: Option<String>,
    /// The stable refusal code (`signature-invalid`, `too-large`, …).
    pub code: String,
    /// The refusal's explanation.
    pub detail: String,
    /// Lowercase hex SHA-256 of the body received.
    pub body_sha256: String,
    /// Length of the body received, in bytes (at most `i64::MAX`).
    pub body_len: u64,
}
