//! The records a node keeps, as the rest of Custos sees them.
//!
//! These types carry no database detail. Timestamps are kept to the
//! microsecond (the finest precision both backends hold exactly) and in UTC:
//! the store drops finer digits and the original offset when it writes, so a
//! value read back equals [`storage_precision`] of the value written.

use std::fmt;
use std::str::FromStr;

use custos_model::{RequestKind, StateCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The node's own identity: which party runs it and under what name.
/// A store holds at most one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub state: StateCode,
    pub name: String,
    /// When the node was first set up (kept to the microsecond, in UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Whether this node sent a request or received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Sent by this node to the counterpart.
    Outgoing,
    /// Received by this node from the counterpart.
    Incoming,
}

impl Direction {
    /// The stable text kept in the store and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outgoing => "outgoing",
            Direction::Incoming => "incoming",
        }
    }
}

/// A text that names no direction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a direction (expected \"outgoing\" or \"incoming\")")]
pub struct UnknownDirection(pub String);

impl FromStr for Direction {
    type Err = UnknownDirection;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "outgoing" => Ok(Direction::Outgoing),
            "incoming" => Ok(Direction::Incoming),
            other => Err(UnknownDirection(other.to_owned())),
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request this node sent or received, as first recorded. What happens to
/// it afterwards is told by its [`RequestEvent`]s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// The request's id, unique on this node.
    pub id: String,
    pub kind: RequestKind,
    pub direction: Direction,
    /// The other party: the requested State for an outgoing request, the
    /// requesting State for an incoming one.
    pub counterpart: StateCode,
    /// The draft of a request recorded without a message (saved, not
    /// sent), as the node sealed it: opaque bytes. `None` for a request
    /// opened by a message, whose draft is that message's envelope, and in
    /// every record [`crate::RequestStore::list_requests`] returns (listing reads
    /// metadata only).
    pub draft: Option<Vec<u8>>,
    /// When the request was recorded (kept to the microsecond, in UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Which requests [`crate::RequestStore::list_requests`] returns. Every field left
/// `None` matches everything; the result is ordered newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    pub direction: Option<Direction>,
    pub kind: Option<RequestKind>,
    pub counterpart: Option<StateCode>,
    /// At most this many requests (the newest ones).
    pub limit: Option<u32>,
    /// Leave out the confidential requests not assigned to this person
    /// (issue 18); `None` lists them all.
    pub hidden_from: Option<String>,
}

/// An event to add to a request's history; the store gives it its place.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub request_id: String,
    /// When it happened (kept to the microsecond, in UTC).
    pub at: OffsetDateTime,
    /// Who caused it: an officer, a peer node, the scheduler.
    pub actor: String,
    /// What happened, as a short stable name such as `sent` or `acknowledged`.
    pub kind: String,
    /// Anything further, as JSON.
    pub detail: serde_json::Value,
    /// The custody-ledger entry recording it, if any: queued in the same
    /// transaction as the event (see [`crate::LedgerStore::queue_ledger`]).
    pub ledger: Option<Vec<u8>>,
}

/// One entry in a request's history, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestEvent {
    pub request_id: String,
    /// The event's place in its request's history: 1 for the first event,
    /// then 2, 3, … with no gaps, assigned by the store.
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub kind: String,
    pub detail: serde_json::Value,
}

/// Which database a store runs on, for diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

/// The instant the store keeps for `t`: the digits below the microsecond
/// dropped (rounded towards the past). The store returns it in UTC; since
/// offsets are whole seconds, dropping digits does not depend on the offset,
/// and `OffsetDateTime` equality compares instants.
pub fn storage_precision(t: OffsetDateTime) -> OffsetDateTime {
    let nanos = t.nanosecond();
    // Rounding the nanoseconds down to a multiple of 1,000 keeps them below
    // 1,000,000,000, so `replace_nanosecond` cannot fail; `t` is the fallback
    // only to avoid an `expect`.
    t.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}
