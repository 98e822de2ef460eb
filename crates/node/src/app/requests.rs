//! Requests at the application layer: saving a draft without sending it,
//! and reading a request, which is itself a recorded custody event.
//!
//! Sending is [`Node::submit`] (`send.rs`); listing is [`Node::requests`]
//! (`views.rs`).

use custos_store::{Direction, NewEvent, RequestRecord};
use serde_json::{Value, json};

use super::Actor;
use crate::at_rest::RecordKind;
use crate::custody::{Entry, EntryKind};
use crate::reads::RequestView;
use crate::{Node, NodeError};

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
        let (to, kind) = self.check_draft(&draft)?;
        let id = custos_protocol::new_thread_id(uuid::Uuid::new_v4());
        let now = self.clock.now();
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

    /// Reads request `id` for `actor`: the checked view
    /// ([`Node::request_detail`]), and the read logged in the custody ledger.
    /// A request that cannot be shown is not logged as read.
    pub async fn read_request(&self, id: &str, actor: &Actor) -> Result<RequestView, NodeError> {
        let view = self.request_detail(id).await?;
        self.record_read(id, actor).await?;
        Ok(view)
    }
}
