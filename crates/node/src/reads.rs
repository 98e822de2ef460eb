//! Checked reads: case content is shown only as it was signed and logged.
//!
//! The store holds a request's metadata columns, its messages' sealed
//! envelopes (`at_rest.rs`) and receipts, and its history. Nothing of that
//! is shown as it is: [`Node::request_detail`] opens every sealed envelope,
//! checks its signature (our own key history for what we sent, the
//! directory's key for the sender of what we received, each at the
//! message's time), its id, every summary column against the signed
//! message, and its hash against the ledger entry that logged it; the
//! request's columns against its submission (or, for a draft saved without
//! a message, against its sealed draft and the `drafted` entry). Anything
//! that fails is [`NodeError::RecordTampered`] naming the record; it is
//! logged (ids only, never content) and counted
//! ([`Node::records_tampered`]). The CLI, the client API and every later
//! face call these methods instead of reading the store.

use std::sync::atomic::Ordering;

use custos_model::StateCode;
use custos_protocol::{KeyValidity, Message, MessageId, RECEIPT_PAYLOAD_TYPE, Receipt};
use custos_seal::{Envelope, SignatureCheck, VerifyingKey};
use custos_store::{Direction, MessageRecord, RequestRecord};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

pub use crate::app::views::{HistoryEvent, MessageView, RequestView};
use crate::at_rest::{OpenedRecord, RecordKind, StorageKey};
use crate::{Node, NodeError};

/// The fields of a ledger entry that bind a record (the rest is ignored).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct LoggedEntry {
    pub kind: String,
    #[serde(with = "custos_protocol::timestamp::micros")]
    pub at: OffsetDateTime,
    #[serde(default)]
    pub request: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub envelope_sha256: Option<String>,
    #[serde(default)]
    pub detail: Value,
}

/// A message row whose sealed envelope opened and matched every column.
#[derive(Debug)]
pub(crate) struct CheckedMessage {
    pub message: Message,
    pub opened: OpenedRecord,
    pub entry: LoggedEntry,
}

/// What checking a record needs to know, taken once.
#[derive(Clone, Debug)]
pub(crate) struct Checker {
    pub me: StateCode,
    pub storage: StorageKey,
    pub own_keys: Vec<KeyValidity<VerifyingKey>>,
    pub directory: Option<std::sync::Arc<custos_protocol::Directory>>,
}

type Problem = String;

impl Checker {
    /// The key that may have signed, under `keyid`, a message or receipt of
    /// `state` made at `at`: ours from the key history, a peer's from the
    /// directory. Revocation after the fact does not undo what was accepted
    /// and logged then; validity at the time is required.
    fn key(&self, state: StateCode, keyid: &str, at: OffsetDateTime) -> Option<VerifyingKey> {
        if state == self.me {
            return self
                .own_keys
                .iter()
                .find(|k| k.key.key_id() == keyid && k.covers(at))
                .map(|k| k.key);
        }
        let directory = self.directory.as_ref()?;
        let k = directory.entry(state)?.signing_key(keyid)?;
        k.covers(at).then_some(k.key)
    }

    /// Opens and checks one message row (everything but where its ledger
    /// entry sits, which the caller finds).
    pub(crate) fn message(&self, m: &MessageRecord) -> Result<CheckedMessage, Problem> {
        let (checked, envelope) = self.message_unsigned(m)?;
        let (signer, at) = (checked.message.from, checked.message.created_at);
        envelope
            .verify(|keyid| self.key(signer, keyid, at))
            .map_err(|e| format!("the signature does not verify: {e}"))?;
        Ok(checked)
    }

    /// The signature [`Checker::message`] checks, ready for a batch
    /// ([`custos_seal::verify_batch`]): the key is the one that was valid
    /// for the signer when the message was made.
    pub(crate) fn message_signature(
        &self,
        checked: &CheckedMessage,
        envelope: &Envelope,
    ) -> Result<SignatureCheck, Problem> {
        let (signer, at) = (checked.message.from, checked.message.created_at);
        envelope
            .signature_check(|keyid| self.key(signer, keyid, at))
            .map_err(|e| format!("the signature does not verify: {e}"))
    }

    /// Opens one message row and checks everything but its signature: the
    /// signed message's id, kind, parties, thread, place and time against
    /// the row, and the ledger entry sealed with it against the envelope.
    pub(crate) fn message_unsigned(
        &self,
        m: &MessageRecord,
    ) -> Result<(CheckedMessage, Envelope), Problem> {
        let opened = self
            .storage
            .open(RecordKind::Message, &m.id, &m.envelope)
            .map_err(|e| e.to_string())?;
        let envelope = Envelope::from_json(&opened.content)
            .map_err(|e| format!("the stored envelope does not parse: {e}"))?;
        let message = Message::from_json(&envelope.payload)
            .map_err(|e| format!("the signed message does not parse: {e}"))?;
        if MessageId::of_payload(&envelope.payload).as_str() != m.id {
            return Err("the signed message's id is not the row's id".into());
        }
        if message.kind.payload_type() != envelope.payload_type {
            return Err("the envelope's payload type is not the message's kind".into());
        }
        let expected_from = match m.direction {
            Direction::Outgoing => self.me,
            Direction::Incoming => m.counterpart,
        };
        if message.from != expected_from {
            return Err(format!(
                "the message is from {}, the row says {expected_from}",
                message.from
            ));
        }
        let expected_to = match m.direction {
            Direction::Outgoing => m.counterpart,
            Direction::Incoming => self.me,
        };
        if message.to != expected_to {
            return Err(format!(
                "the message is to {}, the row says {expected_to}",
                message.to
            ));
        }
        if message.thread != m.thread {
            return Err("the row's thread is not the signed message's".into());
        }
        if message.kind.as_str() != m.kind {
            return Err(format!(
                "the row's kind {:?} is not the signed {:?}",
                m.kind,
                message.kind.as_str()
            ));
        }
        if message.prev.as_ref().map(|p| p.as_str()) != m.prev.as_deref() {
            return Err("the row's previous message is not the signed one".into());
        }
        if message.created_at != m.created_at {
            return Err("the row's time is not the signed time".into());
        }
        let entry: LoggedEntry = serde_json::from_slice(&opened.entry)
            .map_err(|e| format!("the ledger entry sealed with it does not parse: {e}"))?;
        let expected_kind = match m.direction {
            Direction::Outgoing => "message-sent",
            Direction::Incoming => "message-received",
        };
        if entry.kind != expected_kind
            || entry.subject.as_deref() != Some(m.id.as_str())
            || entry.request.as_deref() != Some(m.thread.as_str())
        {
            return Err("the ledger entry sealed with it logs another record".into());
        }
        if entry.envelope_sha256.as_deref()
            != Some(custos_seal::content_id(&opened.content).as_str())
        {
            return Err("the envelope's hash is not the one its ledger entry logged".into());
        }
        Ok((
            CheckedMessage {
                message,
                opened,
                entry,
            },
            envelope,
        ))
    }

    /// Checks a signed receipt held for message `m`: signed by the
    /// receiver (us for an incoming message, the counterpart for an
    /// outgoing one) and naming that message.
    pub(crate) fn receipt(&self, m: &MessageRecord, receipt: &[u8]) -> Result<(), Problem> {
        let (envelope, receiver, at) = self.receipt_unsigned(m, receipt)?;
        envelope
            .verify(|keyid| self.key(receiver, keyid, at))
            .map_err(|e| format!("its receipt's signature does not verify: {e}"))?;
        Ok(())
    }

    /// The signature [`Checker::receipt`] checks, ready for a batch, after
    /// every other check of the receipt.
    pub(crate) fn receipt_signature(
        &self,
        m: &MessageRecord,
        receipt: &[u8],
    ) -> Result<SignatureCheck, Problem> {
        let (envelope, receiver, at) = self.receipt_unsigned(m, receipt)?;
        envelope
            .signature_check(|keyid| self.key(receiver, keyid, at))
            .map_err(|e| format!("its receipt's signature does not verify: {e}"))
    }

    /// Parses a receipt and checks that it names message `m` and its
    /// receiver; gives the envelope, the State that must have signed it
    /// and when.
    fn receipt_unsigned(
        &self,
        m: &MessageRecord,
        receipt: &[u8],
    ) -> Result<(Envelope, StateCode, OffsetDateTime), Problem> {
        let envelope =
            Envelope::from_json(receipt).map_err(|e| format!("its receipt does not parse: {e}"))?;
        if envelope.payload_type != RECEIPT_PAYLOAD_TYPE {
            return Err("its receipt is not a receipt".into());
        }
        let r: Receipt = serde_json::from_slice(&envelope.payload)
            .map_err(|e| format!("its receipt does not parse: {e}"))?;
        let receiver = match m.direction {
            Direction::Outgoing => m.counterpart,
            Direction::Incoming => self.me,
        };
        if r.message_id.as_str() != m.id || r.receiver != receiver || r.thread != m.thread {
            return Err("its receipt is for another message".into());
        }
        Ok((envelope, receiver, r.received_at))
    }

    /// Opens and checks a draft saved without a message.
    pub(crate) fn saved_draft(
        &self,
        r: &RequestRecord,
        sealed: &[u8],
    ) -> Result<(Value, OpenedRecord, OffsetDateTime), Problem> {
        let opened = self
            .storage
            .open(RecordKind::Draft, &r.id, sealed)
            .map_err(|e| e.to_string())?;
        let draft: Value = serde_json::from_slice(&opened.content)
            .map_err(|e| format!("the sealed draft does not parse: {e}"))?;
        let entry: LoggedEntry = serde_json::from_slice(&opened.entry)
            .map_err(|e| format!("the ledger entry sealed with it does not parse: {e}"))?;
        if entry.kind != "decision" || entry.request.as_deref() != Some(r.id.as_str()) {
            return Err("the ledger entry sealed with it logs another record".into());
        }
        if entry.envelope_sha256.as_deref()
            != Some(custos_seal::content_id(&opened.content).as_str())
        {
            return Err("the draft's hash is not the one its ledger entry logged".into());
        }
        if r.direction != Direction::Outgoing {
            return Err("a saved draft is outgoing".into());
        }
        // A draft saved before drafts were sealed was logged by hash only
        // when it was sealed (`at_rest_upgrade.rs`), after the request.
        let logged_at =
            if entry.detail.get("decision").and_then(Value::as_str) == Some("sealed-at-rest") {
                r.created_at
            } else {
                entry.at
            };
        Ok((draft, opened, logged_at))
    }
}

/// The request kind a draft names, if any.
pub(crate) fn draft_kind(draft: &Value) -> Option<&str> {
    draft.get("kind").and_then(Value::as_str)
}

/// Checks the request row's columns against its draft and the entry that
/// logged its first record.
pub(crate) fn check_request_columns(
    r: &RequestRecord,
    kind: Option<&str>,
    direction: Direction,
    counterpart: StateCode,
    logged_at: OffsetDateTime,
) -> Result<(), Problem> {
    if kind != Some(r.kind.as_str()) {
        return Err(format!(
            "the row's kind {} is not the signed draft's",
            r.kind
        ));
    }
    if r.direction != direction {
        return Err(format!(
            "the row's direction {} is not the signed one",
            r.direction
        ));
    }
    if r.counterpart != counterpart {
        return Err(format!(
            "the row's counterpart {} is not the signed {counterpart}",
            r.counterpart
        ));
    }
    if r.created_at != logged_at {
        return Err("the row's time is not the time its ledger entry logged".into());
    }
    Ok(())
}

impl Node {
    /// How many tampered records reads have met since the node started.
    pub fn records_tampered(&self) -> u64 {
        self.records_tampered.load(Ordering::Relaxed)
    }

    pub(crate) fn records_tampered_add(&self, n: u64) {
        self.records_tampered.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn checker(&self) -> Checker {
        let (storage, own_keys) =
            self.with_keys(|k| (k.storage.clone(), k.history.signing.clone()));
        Checker {
            me: self.state(),
            storage,
            own_keys,
            directory: self.directory(),
        }
    }

    /// The typed error for a record that failed its check, logged and counted.
    pub(crate) fn tampered(&self, record: &str, problem: Problem) -> NodeError {
        self.records_tampered.fetch_add(1, Ordering::Relaxed);
        tracing::error!(record, %problem, "a stored record does not match what was signed and logged");
        NodeError::RecordTampered {
            record: record.to_owned(),
            problem,
        }
    }

    /// The signed envelope (DSSE JSON) of a stored message, unsealed. Only
    /// the seal is checked here (which binds it to the row's id); callers
    /// that show content use [`Node::request_detail`].
    pub fn message_envelope(&self, m: &MessageRecord) -> Result<Vec<u8>, NodeError> {
        self.with_keys(|k| k.storage.open(RecordKind::Message, &m.id, &m.envelope))
            .map(|o| o.content)
            .map_err(|e| self.tampered(&format!("message {}", m.id), e.to_string()))
    }

    /// Finds `opened`'s ledger entry in the ledger, sequencing once if it is
    /// still queued. `None`: it is in no ledger position at all. The entry
    /// is looked for again even when this pass appended nothing: a pass of
    /// another task may have appended it between the first look and this
    /// one (concurrent checked reads of records just written).
    async fn logged_index(&self, opened: &OpenedRecord) -> Result<Option<u64>, NodeError> {
        if let Some(i) = self
            .store
            .ledger_find(&opened.entry, opened.ledger_from)
            .await?
        {
            return Ok(Some(i));
        }
        self.sequence_all().await?;
        Ok(self
            .store
            .ledger_find(&opened.entry, opened.ledger_from)
            .await?)
    }

    /// One request with its messages and history, every part checked
    /// against what was signed and logged. A request not held is
    /// [`NodeError::NotFound`]; one that fails a check is
    /// [`NodeError::RecordTampered`].
    pub async fn request_detail(&self, id: &str) -> Result<RequestView, NodeError> {
        Ok(self.checked_thread(id).await?.0)
    }

    /// [`Node::request_detail`], with the thread's signed messages as they
    /// were checked, in the thread's order (the case reads them).
    pub(crate) async fn checked_thread(
        &self,
        id: &str,
    ) -> Result<(RequestView, Vec<Message>), NodeError> {
        let Some(record) = self.store.get_request(id).await? else {
            return Err(NodeError::NotFound(id.to_owned()));
        };
        let checker = self.checker();
        // The history first: a message and its history entry are written in
        // one transaction, so every message the history names is among the
        // rows read after it, even while more messages arrive in between
        // (rows read first would miss a message whose entry the history,
        // read a moment later, already holds).
        let history = self.store.events(id).await?;
        let rows = self.store.thread_messages(id).await?;
        let req_name = format!("request {id}");
        let mut messages = Vec::with_capacity(rows.len());
        let mut signed_messages = Vec::with_capacity(rows.len());
        let mut draft = None;
        for (i, m) in rows.iter().enumerate() {
            let name = format!("message {}", m.id);
            // issue 18: retention. An envelope deleted with its case's
            // content is named as deleted, not as tampered with.
            if m.envelope.is_empty()
                && let Some(deleted) = self.content_deleted(id).await?
            {
                return Err(deleted);
            }
            let checked = checker.message(m).map_err(|p| self.tampered(&name, p))?;
            if self.logged_index(&checked.opened).await?.is_none() {
                return Err(self.tampered(&name, "no ledger entry logs it".into()));
            }
            if let Some(prev) = &m.prev
                && !rows[..i].iter().any(|earlier| &earlier.id == prev)
            {
                return Err(self.tampered(
                    &name,
                    "it comes before the message it follows (rows moved or removed)".into(),
                ));
            }
            if i == 0 {
                let Some(d) = checked.message.draft() else {
                    return Err(self.tampered(
                        &req_name,
                        "its thread does not open with its signed submission".into(),
                    ));
                };
                check_request_columns(
                    &record,
                    draft_kind(d),
                    m.direction,
                    m.counterpart,
                    checked.entry.at,
                )
                .map_err(|p| self.tampered(&req_name, p))?;
                draft = Some(d.clone());
            }
            let receipt = match self.store.receipt_for(&m.id).await? {
                Some(r) => {
                    checker
                        .receipt(m, &r)
                        .map_err(|p| self.tampered(&name, p))?;
                    true
                }
                None => false,
            };
            let delivery = match m.direction {
                Direction::Outgoing => self.store.outbox_item(&m.id).await?.map(|o| o.state),
                Direction::Incoming => None,
            };
            messages.push(MessageView {
                id: m.id.clone(),
                kind: m.kind.clone(),
                direction: m.direction,
                created_at: m.created_at,
                delivery,
                receipt,
            });
            signed_messages.push(checked.message);
        }
        // Every message the history says was sent or received is held.
        for e in &history {
            if let Some(mid) = e.detail.get("message_id").and_then(Value::as_str)
                && (e.kind.starts_with("sent:") || e.kind.starts_with("received:"))
                && !rows.iter().any(|m| m.id == mid)
            {
                return Err(self.tampered(
                    &format!("message {mid}"),
                    "the request's history records it, but it is not held".into(),
                ));
            }
        }
        let signed = draft.is_some();
        let draft = match (draft, &record.draft) {
            (Some(d), _) => d,
            (None, Some(sealed)) => {
                let (d, opened, logged_at) = checker
                    .saved_draft(&record, sealed)
                    .map_err(|p| self.tampered(&req_name, p))?;
                if self.logged_index(&opened).await?.is_none() {
                    return Err(self.tampered(&req_name, "no ledger entry logs its draft".into()));
                }
                let to = d
                    .get("requested_state")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<StateCode>().ok())
                    .ok_or_else(|| {
                        self.tampered(&req_name, "its draft names no requested State".into())
                    })?;
                check_request_columns(&record, draft_kind(&d), Direction::Outgoing, to, logged_at)
                    .map_err(|p| self.tampered(&req_name, p))?;
                d
            }
            (None, None) => {
                if let Some(deleted) = self.content_deleted(id).await? {
                    return Err(deleted);
                }
                return Err(self.tampered(
                    &req_name,
                    "neither its signed submission nor a sealed draft is held".into(),
                ));
            }
        };
        let view = RequestView {
            id: record.id,
            kind: record.kind,
            direction: record.direction,
            counterpart: record.counterpart,
            created_at: record.created_at,
            draft,
            signed,
            messages,
            history: history.into_iter().map(HistoryEvent::from).collect(),
        };
        Ok((view, signed_messages))
    }
}
