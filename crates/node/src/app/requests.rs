//! Requests at the application layer: saving a draft without sending it,
//! sending one with a first delivery attempt, and reading a request, which
//! is itself a recorded custody event.
//!
//! Queuing is [`Node::submit`] (`send.rs`); listing is [`Node::requests`]
//! (`views.rs`).

use std::sync::Arc;

use custos_store::{Direction, NewEvent, OutboxState, RequestRecord};
use serde::Serialize;
use serde_json::{Value, json};

use super::Actor;
use super::access::Operation;
use super::views::RequestView;
use crate::at_rest::RecordKind;
use crate::custody::{Entry, EntryKind};
use crate::send::Sent;
use crate::{Node, NodeError};

/// How many due messages a send's first delivery attempt tries at once
/// (the new one among them).
const FIRST_ATTEMPT_BATCH: u32 = 16;

/// A request sent, and where its delivery stands after the first attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SendReport {
    #[serde(flatten)]
    pub sent: Sent,
    /// `pending`, `delivered` or `failed` (`None` only if the outbox lost
    /// track of it, which it does not).
    pub delivery: Option<OutboxState>,
    /// Why the latest attempt failed, if one did (it may quote the peer).
    pub last_error: Option<String>,
}

impl Node {
    /// Validates a draft and records it as an outgoing request without
    /// sending it; returns the request's id, a thread id (`thr-...`) like
    /// that of a sent request.
    ///
    /// The draft is kept sealed under the storage key, and its `drafted`
    /// ledger entry logs its hash, so it is checked on every read like a
    /// signed message. The request, its first history event and that entry
    /// are written in one transaction.
    pub async fn save_draft(&self, draft: Value, actor: &Actor) -> Result<String, NodeError> {
        self.authorize(actor, Operation::SaveDraft, None).await?;
        let (to, kind) = self.check_draft(&draft)?;
        let now = self.clock.now();
        let id = custos_protocol::thread_id_at(now);
        let label = actor.label();
        let content = custos_seal::canonical_json(&draft)
            .map_err(|e| NodeError::InvalidDraft(format!("{e}")))?;
        let entry = Entry::new(EntryKind::Decision, now, label.clone())
            .request(id.clone())
            .envelope(&content)
            .detail(json!({ "decision": "drafted", "kind": kind, "to": to }))
            .encode()?;
        let ledger_from = self.checkpoint_mark();
        let sealed = self.with_keys(|k| {
            k.storage
                .seal(RecordKind::Draft, &id, ledger_from, &entry, &content)
        })?;
        let request = RequestRecord {
            id: id.clone(),
            kind,
            direction: Direction::Outgoing,
            counterpart: to,
            draft: Some(sealed),
            created_at: now,
        };
        let event = NewEvent {
            request_id: id.clone(),
            at: now,
            actor: label,
            kind: "drafted".into(),
            detail: json!({ "validated": true }),
            ledger: Some(entry),
        };
        self.store.record_request(&request, &event).await?;
        Ok(id)
    }

    /// Queues a draft as a new request ([`Node::submit`]) and, when
    /// `attempt_now`, makes one delivery attempt at once (with whatever
    /// else is due), as `custos request send` does; `custos serve` retries.
    pub async fn send_request(
        self: &Arc<Self>,
        draft: Value,
        actor: &Actor,
        attempt_now: bool,
        allow_sample: bool,
    ) -> Result<SendReport, NodeError> {
        // A template's invented example is not sent by mistake: only when
        // asked for (to try a network with it).
        if !allow_sample && custos_model::template::holds_sample_marker(&draft) {
            return Err(NodeError::SampleDraft(
                custos_model::template::SAMPLE_REFERENCE.to_owned(),
            ));
        }
        let sent = self.submit(draft, actor).await?;
        if attempt_now {
            self.deliver_due(FIRST_ATTEMPT_BATCH).await?;
        }
        let item = self.outbox_view(&sent.message_id).await?;
        Ok(SendReport {
            sent,
            delivery: item.as_ref().map(|i| i.state),
            last_error: item.and_then(|i| i.last_error),
        })
    }

    /// Reads request `id` for `actor`: the checked view
    /// ([`Node::request_detail`]), checked and recorded first (operation
    /// `read-case`).
    pub async fn read_request(&self, id: &str, actor: &Actor) -> Result<RequestView, NodeError> {
        self.authorize(actor, Operation::ReadCase, Some(id)).await?;
        self.request_detail(id).await
    }
}
