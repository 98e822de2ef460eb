//! Sending: a request or a reply becomes a signed, encrypted message in the outbox.
//!
//! The message, the request (for a submission), an event in the request's
//! history and the outbox entry are written in one transaction; the outbox
//! worker then delivers it. Nothing is sent that did not validate first.

use custos_model::validate;
use custos_model::{RequestKind, StateCode};
use custos_protocol::{Message, MessageId, MessageKind, seal_message, seal_submission};
use custos_store::{
    Direction, MessageRecord, NewEvent, OutboxItem, OutboxState, OutgoingMessage, RequestRecord,
};
use serde_json::{Value, json};

use crate::app::Actor;
use crate::app::audit::AllowedAction;
use crate::at_rest::RecordKind;
use crate::custody::{Entry, EntryKind};
use crate::{Node, NodeError};

/// A message queued for delivery.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Queued))]
pub struct Sent {
    /// The request's id: its thread on both nodes.
    #[serde(rename = "id")]
    pub thread: String,
    /// The id of the message (for a new request, its submission).
    pub message_id: String,
}

/// What a message queued by a person's action carries besides the message.
#[derive(Default)]
struct Sending<'a> {
    /// Added (a JSON object) to the detail of the message's history event
    /// and ledger entry.
    note: Option<Value>,
    /// The validation report of a submission's draft, already checked: the
    /// draft is then not validated again when the message is sealed.
    draft_report: Option<&'a validate::Report>,
    /// The person allowed to send it, recorded with the message, naming its
    /// `message-sent` entry.
    allowed: Option<AllowedAction>,
}

impl Node {
    /// Validates a draft and queues it as a new request to the State it names.
    pub async fn submit(&self, draft: Value, actor: &Actor) -> Result<Sent, NodeError> {
        let allowed = self
            .authorize_action(actor, crate::app::Operation::SendRequest, None)
            .await?;
        let (to, kind, report) = self.checked_draft(&draft)?;
        let basis = self.check_legal_basis(&draft)?;
        let now = self.clock.now();
        let thread = custos_protocol::thread_id_at(now);
        let request = RequestRecord {
            id: thread.clone(),
            kind,
            direction: Direction::Outgoing,
            counterpart: to,
            draft: None,
            created_at: now,
        };
        let message = Message::submit(self.state(), to, thread.clone(), None, now, draft);
        let note = basis.map(|b| json!({ "legal_basis": b }));
        let sending = Sending {
            note,
            draft_report: Some(&report),
            allowed,
        };
        self.queue_noting(message, Some(request), &actor.label(), sending)
            .await
    }

    /// Checks that a draft validates and is this node's to send; returns the
    /// State it is addressed to and its kind.
    pub(crate) fn check_draft(&self, draft: &Value) -> Result<(StateCode, RequestKind), NodeError> {
        self.checked_draft(draft).map(|(to, kind, _)| (to, kind))
    }

    /// [`Node::check_draft`], with the draft's validation report (no
    /// errors), which sealing the submission reads instead of validating
    /// the draft again.
    fn checked_draft(
        &self,
        draft: &Value,
    ) -> Result<(StateCode, RequestKind, validate::Report), NodeError> {
        let report = validate::validate(draft);
        if !report.is_valid() {
            let lines: Vec<String> = report.issues.iter().map(|i| i.to_string()).collect();
            return Err(NodeError::InvalidDraft(lines.join("\n")));
        }
        let text = |k: &str| draft.get(k).and_then(Value::as_str).unwrap_or_default();
        let from = text("requesting_state");
        if from != self.state().as_str() {
            return Err(NodeError::NotOurs(format!(
                "the draft is from {from}, but this node speaks for {}",
                self.state()
            )));
        }
        let to = text("requested_state")
            .parse()
            .map_err(|e| NodeError::InvalidDraft(format!("{e}")))?;
        let kind = text("kind")
            .parse()
            .map_err(|e| NodeError::InvalidDraft(format!("{e}")))?;
        Ok((to, kind, report))
    }

    /// Queues a message of `kind` in an existing thread, after the last
    /// message held, once the case allows it (`app/cases.rs`; a case action
    /// is better taken with [`Node::act`], which fills in what the case
    /// knows).
    pub async fn reply(
        &self,
        thread: &str,
        kind: MessageKind,
        body: Value,
        actor: &Actor,
    ) -> Result<Sent, NodeError> {
        let now = custos_protocol::timestamp::truncate(self.clock.now());
        let prev = self.check_reply(thread, kind, &body, now).await?;
        self.queue_reply(thread, kind, body, now, prev, actor).await
    }

    /// The last message held in `thread`, if any.
    pub(crate) async fn last_held(&self, thread: &str) -> Result<Option<MessageId>, NodeError> {
        match self.store.last_in_thread(thread).await? {
            Some(m) => Ok(Some(m.id.parse().map_err(|e| NodeError::Corrupt {
                what: format!("message id {:?}", m.id),
                problem: format!("{e}"),
            })?)),
            None => Ok(None),
        }
    }

    /// Queues a message of `kind` made at `created_at` in an existing
    /// thread, after `prev`; the case was asked first (and chose `prev`).
    pub(crate) async fn queue_reply(
        &self,
        thread: &str,
        kind: MessageKind,
        body: Value,
        created_at: time::OffsetDateTime,
        prev: Option<MessageId>,
        actor: &Actor,
    ) -> Result<Sent, NodeError> {
        let message = self
            .reply_message(thread, kind, body, created_at, prev)
            .await?;
        self.queue(message, None, &actor.label()).await
    }

    /// A message of `kind` made at `created_at` in the existing thread
    /// `thread`, after `prev`, to the thread's counterpart; its body
    /// checked.
    async fn reply_message(
        &self,
        thread: &str,
        kind: MessageKind,
        body: Value,
        created_at: time::OffsetDateTime,
        prev: Option<MessageId>,
    ) -> Result<Message, NodeError> {
        let Some(request) = self.store.get_request(thread).await? else {
            return Err(NodeError::NotFound(thread.to_owned()));
        };
        let message = Message {
            v: 1,
            kind,
            from: self.state(),
            to: request.counterpart,
            created_at,
            thread: thread.to_owned(),
            prev,
            body,
        };
        custos_protocol::validate_body(&message)?;
        Ok(message)
    }

    /// What [`Node::queue_reply`] records, made but not stored: for an
    /// action that records the reply in its own transaction (then
    /// [`Node::wake_outbox`]).
    pub(crate) async fn reply_records(
        &self,
        thread: &str,
        kind: MessageKind,
        body: Value,
        created_at: time::OffsetDateTime,
        prev: Option<MessageId>,
        actor: &Actor,
    ) -> Result<OutgoingMessage, NodeError> {
        let message = self
            .reply_message(thread, kind, body, created_at, prev)
            .await?;
        self.outgoing(&message, None, &actor.label(), None, None)
    }

    async fn queue(
        &self,
        message: Message,
        request: Option<RequestRecord>,
        actor: &str,
    ) -> Result<Sent, NodeError> {
        self.queue_noting(message, request, actor, Sending::default())
            .await
    }

    /// [`Node::queue`], with what [`Sending`] adds.
    async fn queue_noting(
        &self,
        message: Message,
        request: Option<RequestRecord>,
        actor: &str,
        sending: Sending<'_>,
    ) -> Result<Sent, NodeError> {
        let mut out =
            self.outgoing(&message, request, actor, sending.note, sending.draft_report)?;
        if let (Some(allowed), Some(entry)) = (sending.allowed, out.ledger.first()) {
            out.access = Some(allowed.record(message.created_at, entry, Some(&message.thread)));
        }
        self.store.record_outgoing(&out).await?;
        self.wake_outbox();
        Ok(Sent {
            thread: message.thread,
            message_id: out.message.id,
        })
    }

    /// Wakes the outbox worker after a message was recorded.
    pub(crate) fn wake_outbox(&self) {
        self.outbox_wake.notify_one();
    }

    /// The records of `message` sent: sealed and signed, its envelope
    /// sealed at rest, with its history event, outbox item and ledger
    /// entry, ready for [`custos_store::FederationStore::record_outgoing`].
    /// `draft_report`: as for [`Node::queue_noting`].
    pub(crate) fn outgoing(
        &self,
        message: &Message,
        request: Option<RequestRecord>,
        actor: &str,
        note: Option<Value>,
        draft_report: Option<&validate::Report>,
    ) -> Result<OutgoingMessage, NodeError> {
        let noted = |mut detail: Value| {
            if let (Some(Value::Object(extra)), Some(obj)) = (&note, detail.as_object_mut()) {
                obj.extend(extra.clone());
            }
            detail
        };
        let directory = self.directory().ok_or(NodeError::NoDirectory)?;
        let to = message.to;
        let entry = directory.entry(to).ok_or(NodeError::NotInDirectory(to))?;
        let now = message.created_at;
        let mut recipients = directory.current_recipients(to, now);
        if recipients.is_empty() {
            return Err(NodeError::NoEncryptionKey(to));
        }
        let sealed = self.with_keys(|k| {
            recipients.push(k.encryption.recipient());
            match draft_report {
                Some(report) => seal_submission(message, report, &k.signing, &recipients),
                None => seal_message(message, &k.signing, &recipients),
            }
        })?;
        let id = sealed.id.to_string();
        let ledger = vec![
            Entry::new(EntryKind::MessageSent, now, actor)
                .request(message.thread.clone())
                .subject(id.clone())
                .envelope(&sealed.envelope_json)
                .detail(noted(json!({ "kind": message.kind.as_str(), "to": to })))
                .encode()?,
        ];
        // At rest the envelope is sealed under the storage key, with the
        // entry that logs it and the ledger size before it (reads.rs).
        let ledger_from = self.checkpoint_mark();
        let envelope = self.with_keys(|k| {
            k.storage.seal(
                RecordKind::Message,
                &id,
                ledger_from,
                &ledger[0],
                &sealed.envelope_json,
            )
        })?;
        let out = OutgoingMessage {
            message: MessageRecord {
                id: id.clone(),
                thread: message.thread.clone(),
                direction: Direction::Outgoing,
                counterpart: to,
                kind: message.kind.as_str().to_owned(),
                prev: message.prev.as_ref().map(|p| p.to_string()),
                created_at: now,
                recorded_at: now,
                envelope,
            },
            new_request: request,
            event: NewEvent {
                request_id: message.thread.clone(),
                at: now,
                actor: actor.to_owned(),
                kind: format!("sent:{}", message.kind.as_str()),
                detail: noted(json!({ "message_id": id, "to": to })),
                ledger: None,
            },
            outbox: OutboxItem {
                message_id: id.clone(),
                recipient: to,
                url: entry.node_url.clone(),
                ciphertext: sealed.ciphertext,
                created_at: now,
                next_attempt_at: now,
                attempts: 0,
                state: OutboxState::Pending,
                last_error: None,
                delivered_at: None,
            },
            ledger,
            access: None,
        };
        Ok(out)
    }
}
