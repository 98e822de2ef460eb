//! Plain-data views of what a node holds, and the read-only operations that
//! return them: the outbox, the refusal log, detected forks, the counts the
//! metrics page shows, and every message held with its receipt.
//!
//! Views carry no secrets (no token hashes, no ciphertext) and no store
//! types beyond the plain enums re-exported by [`crate::app`].

use custos_model::{RequestKind, StateCode};
use custos_store::{
    Direction, ForkRecord, OutboxItem, OutboxState, RefusalRecord, RequestFilter, RequestRecord,
};
use time::OffsetDateTime;

use crate::{Node, NodeError};

/// A request as listed: what it is, not what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSummary {
    /// The request's id, which is also its thread id on both nodes.
    pub id: String,
    pub kind: RequestKind,
    pub direction: Direction,
    /// The other State.
    pub counterpart: StateCode,
    pub created_at: OffsetDateTime,
}

impl From<&RequestRecord> for RequestSummary {
    fn from(r: &RequestRecord) -> Self {
        RequestSummary {
            id: r.id.clone(),
            kind: r.kind,
            direction: r.direction,
            counterpart: r.counterpart,
            created_at: r.created_at,
        }
    }
}

/// An outgoing message's place in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxView {
    pub message_id: String,
    pub recipient: StateCode,
    pub state: OutboxState,
    /// Attempts made so far.
    pub attempts: u32,
    pub created_at: OffsetDateTime,
    /// The earliest time of the next attempt.
    pub next_attempt_at: OffsetDateTime,
    /// Why the latest attempt failed, if one did (it may quote the peer).
    pub last_error: Option<String>,
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

/// A client-API token as listed: never its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenView {
    pub id: String,
    /// Who or what the token is for.
    pub name: String,
    pub created_at: OffsetDateTime,
    /// When it was revoked; a revoked token grants nothing.
    pub revoked_at: Option<OffsetDateTime>,
}

/// Counts of what the node holds, for monitoring. Counts of rows stop at
/// the cap they were asked with: a count equal to it means "at least".
#[derive(Clone, Debug, PartialEq, Eq)]
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
    pub async fn requests(&self, filter: &RequestFilter) -> Result<Vec<RequestSummary>, NodeError> {
        let records = self.store.list_requests(filter).await?;
        Ok(records.iter().map(RequestSummary::from).collect())
    }

    /// The outbox, newest first: only messages in `state` if given, at most `limit`.
    pub async fn outbox(
        &self,
        state: Option<OutboxState>,
        limit: u32,
    ) -> Result<Vec<OutboxView>, NodeError> {
        let items = self.store.list_outbox(state, limit).await?;
        Ok(items.iter().map(OutboxView::from).collect())
    }

    /// One outgoing message's place in the outbox, if it is there.
    pub async fn outbox_entry(&self, message_id: &str) -> Result<Option<OutboxView>, NodeError> {
        let item = self.store.outbox_item(message_id).await?;
        Ok(item.as_ref().map(OutboxView::from))
    }

    /// Messages from peers that the node refused, newest first.
    pub async fn refusals(&self, limit: u32) -> Result<Vec<RefusalRecord>, NodeError> {
        Ok(self.store.refusals(limit).await?)
    }

    /// Forks this node, as a witness, found in peers' ledgers.
    pub async fn forks(&self, limit: u32) -> Result<Vec<ForkRecord>, NodeError> {
        Ok(self.store.forks(limit).await?)
    }

    /// Counts for monitoring, each row count capped at `cap`.
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
    pub async fn held_messages(&self) -> Result<Vec<HeldMessage>, NodeError> {
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
