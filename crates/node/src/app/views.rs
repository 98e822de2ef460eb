//! Plain-data views of what a node holds, and the read-only operations that
//! return them: requests, the outbox, the refusal log, detected forks, the
//! counts the metrics page shows, and every message held with its receipt.
//!
//! Views carry no secrets (no token hashes, no ciphertext) and no store
//! types beyond the plain enums re-exported by [`crate::app`]. Each view a
//! face prints or answers with is `Serialize`, with times in RFC 3339: the
//! CLI's `--json` output and the client API's bodies are these views as
//! they are, so the two faces cannot drift apart. With the `openapi`
//! feature (enabled by `custos-http`) they also describe themselves for the
//! client API's OpenAPI document.

use custos_model::{RequestKind, StateCode};
use custos_store::{
    Direction, ForkRecord, OutboxItem, OutboxState, RefusalRecord, RequestEvent, RequestFilter,
    RequestRecord,
};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::Actor;
use super::access::Operation;
use crate::{Node, NodeError};

/// How many requests a listing shows when the caller names no limit (the
/// CLI's `request list` and the client API's `GET /api/v1/requests`).
pub const DEFAULT_REQUEST_LIMIT: u32 = 100;

/// A request as listed: what it is, not what it says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestSummary {
    /// The request's id, which is also its thread id on both nodes.
    pub id: String,
    /// `outgoing` or `incoming`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub direction: Direction,
    /// The request kind's wire name, such as `preservation`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: RequestKind,
    /// The other State.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub counterpart: StateCode,
    /// RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: OffsetDateTime,
}

impl From<&RequestRecord> for RequestSummary {
    fn from(r: &RequestRecord) -> Self {
        RequestSummary {
            id: r.id.clone(),
            direction: r.direction,
            kind: r.kind,
            counterpart: r.counterpart,
            created_at: r.created_at,
        }
    }
}

/// A request as shown: its draft, its thread and its history, every part
/// checked against what was signed and logged when it is read.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = RequestDetail))]
pub struct RequestView {
    /// The request's id, which is also its thread id on both nodes.
    pub id: String,
    /// `outgoing` or `incoming`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub direction: Direction,
    /// The request kind's wire name, such as `preservation`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: RequestKind,
    /// The other State.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub counterpart: StateCode,
    /// RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: OffsetDateTime,
    /// The validated draft, as signed in the submission (or as sealed when
    /// it was saved without being sent); checked against its signature and
    /// ledger entry on every read.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub draft: Value,
    /// Whether the draft was signed and sent (`false`: saved only). Not
    /// shown: a saved draft is the request without messages.
    #[serde(skip)]
    pub signed: bool,
    pub messages: Vec<MessageView>,
    /// Every recorded step, oldest first.
    pub history: Vec<HistoryEvent>,
}

impl RequestView {
    /// What the request is, without what it says.
    pub fn summary(&self) -> RequestSummary {
        RequestSummary {
            id: self.id.clone(),
            direction: self.direction,
            kind: self.kind,
            counterpart: self.counterpart,
            created_at: self.created_at,
        }
    }
}

/// One message of a request's thread, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageView {
    pub id: String,
    /// The message kind, such as `submit`.
    pub kind: String,
    /// `outgoing` or `incoming`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub direction: Direction,
    /// RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: OffsetDateTime,
    /// For outgoing messages: `pending`, `delivered` or `failed`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub delivery: Option<OutboxState>,
    /// Whether a verified signed receipt is held for it.
    pub receipt: bool,
}

/// One recorded step of a request's history.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryEvent {
    /// The step's place in its request's history: 1, 2, 3, … without gaps.
    pub seq: u64,
    /// RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub at: OffsetDateTime,
    /// Who acted: `cli:{user}`, `api:{token}`, `desk:{user}`, `node:{State}` or
    /// `node:scheduler`.
    pub actor: String,
    /// What happened, such as `drafted`, `sent:submit` or `receipt`.
    pub kind: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: Value,
}

impl From<RequestEvent> for HistoryEvent {
    fn from(e: RequestEvent) -> Self {
        HistoryEvent {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            kind: e.kind,
            detail: e.detail,
        }
    }
}

/// An outgoing message's place in the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutboxView {
    pub message_id: String,
    pub recipient: StateCode,
    pub state: OutboxState,
    /// Attempts made so far.
    pub attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The earliest time of the next attempt.
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    /// Why the latest attempt failed, if one did (it may quote the peer).
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
}

impl From<&OutboxItem> for OutboxView {
    fn from(i: &OutboxItem) -> Self {
        OutboxView {
            message_id: i.message_id.clone(),
            recipient: i.recipient,
            state: i.state,
            attempts: i.attempts,
            created_at: i.created_at,
            next_attempt_at: i.next_attempt_at,
            last_error: i.last_error.clone(),
            delivered_at: i.delivered_at,
        }
    }
}

/// A message from a peer that the node refused. The bytes are not kept:
/// only their SHA-256 and length.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RefusalView {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The network peer it came from (an address), as seen by the node.
    pub peer: String,
    /// The sender it claimed to be, if it said (not verified: it may be
    /// anything a peer chose to write).
    pub claimed_sender: Option<String>,
    /// The stable refusal code (`signature-invalid`, `too-large`, …).
    pub code: String,
    /// The refusal's explanation (it may quote the peer).
    pub detail: String,
    /// Lowercase hex SHA-256 of the body received.
    pub body_sha256: String,
    /// Length of the body received, in bytes.
    pub body_len: u64,
}

impl From<RefusalRecord> for RefusalView {
    fn from(r: RefusalRecord) -> Self {
        RefusalView {
            at: r.at,
            peer: r.peer,
            claimed_sender: r.claimed_sender,
            code: r.code,
            detail: r.detail,
            body_sha256: r.body_sha256,
            body_len: r.body_len,
        }
    }
}

/// A fork this node, as a witness, found in a peer's ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ForkView {
    /// The origin of the log that forked.
    pub origin: String,
    #[serde(with = "time::serde::rfc3339")]
    pub detected_at: OffsetDateTime,
    /// The evidence as the node kept it: the two checkpoints that cannot
    /// both be true, and what was checked.
    pub evidence: Value,
}

impl ForkView {
    /// The kind of evidence (`evidence.kind`), if it names one.
    pub fn evidence_kind(&self) -> Option<&str> {
        self.evidence.get("kind").and_then(Value::as_str)
    }
}

impl From<ForkRecord> for ForkView {
    fn from(f: ForkRecord) -> Self {
        ForkView {
            origin: f.origin,
            detected_at: f.detected_at,
            evidence: f.evidence,
        }
    }
}

/// A client-API token as listed: never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenView {
    pub id: String,
    /// The user it belongs to.
    pub user: String,
    /// What the token is for.
    pub name: String,
    /// The roles it may use (within its user's roles at each call).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<super::Role>))]
    pub scopes: super::Roles,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: OffsetDateTime,
    /// When it stops granting anything.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub expires_at: OffsetDateTime,
    /// When it was revoked; a revoked token grants nothing.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub revoked_at: Option<OffsetDateTime>,
}

/// Counts of what the node holds, for monitoring. Counts of rows stop at
/// the cap they were asked with: a count equal to it means "at least".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeCounts {
    pub ledger_entries: u64,
    pub forks: usize,
    pub outbox_pending: usize,
    pub outbox_failed: usize,
    pub refusals: usize,
}

/// A message of a request thread as held, with what proves it.
#[derive(Clone, Debug)]
pub struct HeldMessage {
    /// The request (thread) it belongs to.
    pub request: String,
    pub id: String,
    pub kind: String,
    pub direction: Direction,
    pub counterpart: StateCode,
    pub created_at: OffsetDateTime,
    /// The signed envelope, unsealed (its seal binds it to its id).
    pub envelope: Vec<u8>,
    /// The signed receipt held for it, if any.
    pub receipt: Option<Vec<u8>>,
}

impl Node {
    /// The requests matching `filter`, newest first.
    pub async fn requests(
        &self,
        actor: &Actor,
        filter: &RequestFilter,
    ) -> Result<Vec<RequestSummary>, NodeError> {
        self.authorize(actor, Operation::ListCases, None).await?;
        // issue 18: confidential requests only for those assigned.
        let filter = RequestFilter {
            hidden_from: Self::listing_person(actor),
            ..filter.clone()
        };
        let records = self.store.list_requests(&filter).await?;
        Ok(records.iter().map(RequestSummary::from).collect())
    }

    /// The outbox, newest first: only messages in `state` if given, at most `limit`.
    pub async fn outbox(
        &self,
        actor: &Actor,
        state: Option<OutboxState>,
        limit: u32,
    ) -> Result<Vec<OutboxView>, NodeError> {
        self.authorize(actor, Operation::ReadOutbox, None).await?;
        let items = self.store.list_outbox(state, limit).await?;
        Ok(items.iter().map(OutboxView::from).collect())
    }

    /// One outgoing message's place in the outbox, if it is there.
    pub async fn outbox_entry(
        &self,
        actor: &Actor,
        message_id: &str,
    ) -> Result<Option<OutboxView>, NodeError> {
        self.authorize(actor, Operation::ReadOutbox, None).await?;
        self.outbox_view(message_id).await
    }

    /// [`Node::outbox_entry`] for an operation already checked (a request
    /// just sent shows where its message stands).
    pub(crate) async fn outbox_view(
        &self,
        message_id: &str,
    ) -> Result<Option<OutboxView>, NodeError> {
        let item = self.store.outbox_item(message_id).await?;
        Ok(item.as_ref().map(OutboxView::from))
    }

    /// Messages from peers that the node refused, newest first.
    pub async fn refusals(&self, actor: &Actor, limit: u32) -> Result<Vec<RefusalView>, NodeError> {
        self.authorize(actor, Operation::ReadOutbox, None).await?;
        let records = self.store.refusals(limit).await?;
        Ok(records.into_iter().map(RefusalView::from).collect())
    }

    /// Forks this node, as a witness, found in peers' ledgers.
    pub async fn forks(&self, actor: &Actor, limit: u32) -> Result<Vec<ForkView>, NodeError> {
        self.authorize(actor, Operation::ReadLedger, None).await?;
        let records = self.store.forks(limit).await?;
        Ok(records.into_iter().map(ForkView::from).collect())
    }

    /// The node's statistics for a person (operation `read-statistics`):
    /// [`Node::counts`], without case content.
    pub async fn statistics(&self, actor: &Actor, cap: u32) -> Result<NodeCounts, NodeError> {
        self.authorize(actor, Operation::ReadStatistics, None)
            .await?;
        self.counts(cap).await
    }

    /// [`Node::counts`] for the `/metrics` answer (operation
    /// `read-metrics`, the monitoring scope).
    pub async fn metrics_counts(&self, actor: &Actor, cap: u32) -> Result<NodeCounts, NodeError> {
        self.authorize(actor, Operation::ReadMetrics, None).await?;
        self.counts(cap).await
    }

    /// Counts for monitoring, each row count capped at `cap` (the
    /// `/metrics` answer, which checks `read-metrics` itself; a person asks
    /// [`Node::statistics`]).
    pub async fn counts(&self, cap: u32) -> Result<NodeCounts, NodeError> {
        let store = &self.store;
        Ok(NodeCounts {
            ledger_entries: store.ledger_size().await?,
            forks: store.forks(cap).await?.len(),
            outbox_pending: store
                .list_outbox(Some(OutboxState::Pending), cap)
                .await?
                .len(),
            outbox_failed: store
                .list_outbox(Some(OutboxState::Failed), cap)
                .await?
                .len(),
            refusals: store.refusals(cap).await?.len(),
        })
    }

    /// Whether custody-ledger entries wait to be sequenced (by this process
    /// or a serving one).
    pub async fn ledger_pending(&self) -> Result<bool, NodeError> {
        Ok(!self.store.pending_ledger(1).await?.is_empty())
    }

    /// Every message of every request held, with its checked envelope and
    /// its receipt, for an audit of signatures and receipts.
    pub async fn held_messages(&self, actor: &Actor) -> Result<Vec<HeldMessage>, NodeError> {
        self.authorize(actor, Operation::ReadLedger, None).await?;
        let mut out = Vec::new();
        for request in self.store.list_requests(&RequestFilter::default()).await? {
            for m in self.store.thread_messages(&request.id).await? {
                let envelope = self.message_envelope(&m)?;
                let receipt = self.store.receipt_for(&m.id).await?;
                out.push(HeldMessage {
                    request: request.id.clone(),
                    id: m.id,
                    kind: m.kind,
                    direction: m.direction,
                    counterpart: m.counterpart,
                    created_at: m.created_at,
                    envelope,
                    receipt,
                });
            }
        }
        Ok(out)
    }
}
