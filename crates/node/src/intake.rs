//! Intake: what happens to a message another node posts to this one.
//!
//! The bytes are opened and checked by the protocol crate (decryption,
//! envelope, directory, signature, time, body), then stored in one
//! transaction together with the request (for a submission), an event in the
//! request's history and the signed receipt that is returned. A message that
//! fails any check is recorded as refused, with its code, and nothing of it
//! is stored as valid.

use custos_protocol::{ErrorCode, MessageKind, ProtocolError, Receipt, sign_receipt};
use custos_store::{
    AcceptOutcome, Direction, IncomingMessage, MessageRecord, NewEvent, RefusalRecord,
    RequestRecord, StoreError,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::at_rest::RecordKind;
use crate::custody::{Entry, EntryKind};
use crate::{Node, NodeError};

/// The answer to a posted message.
#[derive(Debug)]
pub enum ReceiveOutcome {
    /// Stored; the signed receipt (DSSE JSON) goes back to the sender, with
    /// the proof that the message is in this node's custody ledger (a proof
    /// bundle against a signed checkpoint), when it could be made in time.
    Accepted {
        receipt: Vec<u8>,
        custody: Option<custos_ledger::ProofBundle>,
    },
    /// Already stored earlier; the original receipt goes back, nothing changed.
    Duplicate { receipt: Vec<u8> },
    /// Not stored.
    Refused { code: ErrorCode, message: String },
}

impl Node {
    /// Receives the bytes a peer posted. `peer` names the connection (address) for the refusal log.
    pub async fn receive(&self, body: &[u8], peer: &str) -> ReceiveOutcome {
        match self.try_receive(body).await {
            Ok(outcome) => {
                if let ReceiveOutcome::Duplicate { .. } = &outcome {
                    self.refuse_record(
                        body,
                        peer,
                        None,
                        ErrorCode::DuplicateMessage,
                        "already received; the original receipt was returned",
                    )
                    .await;
                }
                outcome
            }
            Err((code, message, sender)) => {
                tracing::warn!(peer, code = code.as_str(), message = %custos_protocol::text::escape(&message), "refused a message");
                self.refuse_record(body, peer, sender.as_deref(), code, &message)
                    .await;
                ReceiveOutcome::Refused { code, message }
            }
        }
    }

    /// Records a message refused for its size before it was read.
    pub async fn refuse_oversized(&self, peer: &str, limit: usize) {
        self.refuse_record(
            b"",
            peer,
            None,
            ErrorCode::TooLarge,
            &format!("body over the {limit}-byte limit; not read"),
        )
        .await;
    }

    async fn refuse_record(
        &self,
        body: &[u8],
        peer: &str,
        sender: Option<&str>,
        code: ErrorCode,
        detail: &str,
    ) {
        let record = RefusalRecord {
            at: self.clock.now(),
            peer: peer.to_owned(),
            claimed_sender: sender.map(str::to_owned),
            code: code.as_str().to_owned(),
            detail: detail.chars().take(2000).collect(),
            body_sha256: hex(&Sha256::digest(body)),
            body_len: body.len() as u64,
        };
        if let Err(e) = self.store.record_refusal(&record).await {
            tracing::error!(error = %e, "could not record a refused message");
        }
    }

    async fn try_receive(
        &self,
        body: &[u8],
    ) -> Result<ReceiveOutcome, (ErrorCode, String, Option<String>)> {
        let fail = |e: ProtocolError| (e.code(), e.to_string(), None);
        self.intake_open()
            .await
            .map_err(|(code, message)| (code, message, None))?;
        let Some(directory) = self.directory() else {
            return Err((
                ErrorCode::NoDirectory,
                "this node has no verified directory".into(),
                None,
            ));
        };
        let now = self.clock.now();
        let identities = self.with_keys(|k| k.identities());
        let opened = custos_protocol::open_message(
            body,
            &identities,
            &directory,
            self.state(),
            now,
            self.settings.max_message_bytes,
        )
        .map_err(fail)?;
        let msg = &opened.message;
        let sender = Some(msg.from.to_string());
        // A peer's case action that the case does not allow is refused
        // before anything is stored (`app/cases.rs`).
        if msg.kind != MessageKind::Submit {
            self.check_incoming(msg, &opened.id, now)
                .await
                .map_err(|(code, message)| (code, message, sender.clone()))?;
        }

        let new_request = match msg.kind {
            MessageKind::Submit => {
                let draft = msg.body.get("draft").cloned().unwrap_or_default();
                let kind = draft
                    .get("kind")
                    .and_then(|k| k.as_str())
                    .and_then(|k| k.parse().ok())
                    .ok_or_else(|| {
                        (
                            ErrorCode::InvalidBody,
                            "the draft names no request kind".to_owned(),
                            sender.clone(),
                        )
                    })?;
                Some(RequestRecord {
                    id: msg.thread.clone(),
                    kind,
                    direction: Direction::Incoming,
                    counterpart: msg.from,
                    draft: None,
                    created_at: now,
                })
            }
            _ => None,
        };
        let receipt = Receipt {
            v: 1,
            message_id: opened.id.clone(),
            thread: msg.thread.clone(),
            sender: msg.from,
            receiver: self.state(),
            received_at: now,
        };
        let receipt = self
            .with_keys(|k| sign_receipt(&receipt, &k.signing))
            .map_err(fail)?;
        let actor = crate::Actor::Peer(msg.from).label();
        let ledger = vec![
            Entry::new(EntryKind::MessageReceived, now, actor.clone())
                .request(msg.thread.clone())
                .subject(opened.id.to_string())
                .envelope(&opened.envelope_json)
                .detail(json!({ "kind": msg.kind.as_str(), "from": msg.from, "signed_by": opened.keyid }))
                .encode()
                .map_err(|e| (ErrorCode::Internal, e.to_string(), sender.clone()))?,
            Entry::new(EntryKind::ReceiptIssued, now, crate::Actor::Peer(self.state()).label())
                .request(msg.thread.clone())
                .subject(opened.id.to_string())
                .envelope(&receipt)
                .encode()
                .map_err(|e| (ErrorCode::Internal, e.to_string(), sender.clone()))?,
        ];
        let received_entry = ledger[0].clone();
        let ledger_base = self.checkpoint_mark();
        let envelope = self
            .with_keys(|k| {
                k.storage.seal(
                    RecordKind::Message,
                    &opened.id.to_string(),
                    ledger_base,
                    &received_entry,
                    &opened.envelope_json,
                )
            })
            .map_err(|e| (ErrorCode::Internal, e.to_string(), sender.clone()))?;
        let incoming = IncomingMessage {
            message: MessageRecord {
                id: opened.id.to_string(),
                thread: msg.thread.clone(),
                direction: Direction::Incoming,
                counterpart: msg.from,
                kind: msg.kind.as_str().to_owned(),
                prev: msg.prev.as_ref().map(|p| p.to_string()),
                created_at: msg.created_at,
                recorded_at: now,
                envelope,
            },
            new_request,
            event: NewEvent {
                request_id: msg.thread.clone(),
                at: now,
                actor,
                kind: format!("received:{}", msg.kind.as_str()),
                detail: json!({ "message_id": opened.id.to_string(), "signed_by": opened.keyid }),
                ledger: None,
            },
            receipt: receipt.clone(),
            ledger,
        };
        // The alert an emergency or urgent request calls for is written in
        // the transaction that accepts it.
        let alert = match arrival_alert(msg, &opened.id.to_string(), now, &self.settings) {
            Some(cause) => Some(self.prepare_alert(cause).await.map_err(|e| {
                tracing::error!(error = %e, "the alert of an arriving request could not be prepared");
                (
                    ErrorCode::Internal,
                    "the message could not be stored; retry later".to_owned(),
                    sender.clone(),
                )
            })?),
            None => None,
        };
        // issue 18: a request or an answer its sender marked confidential
        // marks its case before it is stored, so that it is never visible
        // unmarked (a message refused after this leaves a mark that only
        // hides more).
        if let Some(source) = confidential_source(msg, &opened.id.to_string()) {
            self.mark_confidential(&msg.thread, source)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "a confidential case could not be marked");
                    (
                        ErrorCode::Internal,
                        "the message could not be stored; retry later".to_owned(),
                        sender.clone(),
                    )
                })?;
        }
        match self
            .store
            .accept_incoming_alerting(&incoming, alert.as_ref())
            .await
        {
            Ok(AcceptOutcome::Accepted) => {
                if let Some(alert) = &alert {
                    self.alert_raised(alert);
                }
                let custody = match self.custody_proof(&received_entry, ledger_base).await {
                    Ok(bundle) => bundle,
                    Err(e @ NodeError::CustodyUnavailable(_)) => {
                        // Stored, but the ledger cannot take it: no receipt
                        // goes out; the sender's retry after the repair gets
                        // the stored receipt as a duplicate.
                        self.note_custody(Some(e.to_string()));
                        return Err((ErrorCode::CustodyUnavailable, e.to_string(), sender));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "no custody proof for an accepted message");
                        None
                    }
                };
                // One line per accepted message: what kind, from whom, how
                // urgent; never a word of its content.
                tracing::info!(
                    kind = msg.kind.as_str(),
                    from = %msg.from,
                    urgency = arrival_urgency(msg),
                    message_id = %opened.id,
                    "accepted a message"
                );
                if msg.kind == MessageKind::StatusQuery {
                    let escalation = msg.body.get("escalation") == Some(&Value::Bool(true));
                    self.answer_status(&msg.thread, escalation).await;
                }
                Ok(ReceiveOutcome::Accepted { receipt, custody })
            }
            Ok(AcceptOutcome::Duplicate { receipt }) => Ok(ReceiveOutcome::Duplicate { receipt }),
            Err(StoreError::OutOfOrder { prev }) => Err((
                ErrorCode::OutOfOrder,
                format!("the previous message {prev} is not held in this thread yet; retry later"),
                sender,
            )),
            Err(StoreError::UnknownRequest(t)) => Err((
                ErrorCode::OutOfOrder,
                format!("thread {t} is not known here yet; retry later"),
                sender,
            )),
            Err(StoreError::DuplicateRequest(t)) => Err((
                ErrorCode::ThreadConflict,
                format!("thread {t} already exists with other content"),
                sender,
            )),
            Err(StoreError::StorageFull(detail)) => {
                tracing::error!(%detail, "the database is full: refusing messages");
                Err((
                    ErrorCode::InsufficientStorage,
                    "this node is out of disk space; retry later".into(),
                    sender,
                ))
            }
            Err(e) => {
                tracing::error!(error = %e, "storing an incoming message failed");
                Err((
                    ErrorCode::Internal,
                    "the message could not be stored; retry later".into(),
                    sender,
                ))
            }
        }
    }
}

impl Node {
    /// What every intake checks before it opens anything: the custody ledger
    /// can take the entry, the directory in force is the one stored (an
    /// import by another process counts at once), and the data directory's
    /// file system keeps its reserve.
    pub(crate) async fn intake_open(&self) -> Result<(), (ErrorCode, String)> {
        if let Err(e) = self.custody_open() {
            return Err((ErrorCode::CustodyUnavailable, e.to_string()));
        }
        if let Err(e) = self.ensure_directory_current().await {
            tracing::error!(error = %e, "cannot load the stored directory");
            return Err((
                ErrorCode::Internal,
                "the directory could not be loaded; retry later".into(),
            ));
        }
        let reserve = self.settings.message_reserve_bytes;
        if reserve > 0 {
            let dir = &self.settings.data_dir;
            match rustix::fs::statvfs(dir) {
                Ok(stat) => {
                    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
                    if free < reserve {
                        tracing::error!(
                            free,
                            reserve,
                            "disk space below the reserve: refusing messages"
                        );
                        return Err((
                            ErrorCode::InsufficientStorage,
                            format!(
                                "this node has {free} bytes free, below its reserve of {reserve}; retry later"
                            ),
                        ));
                    }
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot read the free disk space")
                }
            }
        }
        Ok(())
    }
}

/// The urgency an arriving request states (`routine`, `urgent` or
/// `emergency`), for the log; `-` for a message that is not a request.
fn arrival_urgency(msg: &custos_protocol::Message) -> &'static str {
    if msg.kind != MessageKind::Submit {
        return "-";
    }
    let draft = msg.body.get("draft");
    let stated = draft.and_then(|d| d.get("urgency")).and_then(Value::as_str);
    let emergency_kind =
        draft.and_then(|d| d.get("kind")).and_then(Value::as_str) == Some("emergency-data");
    match stated {
        Some("emergency") => "emergency",
        _ if emergency_kind => "emergency",
        Some("urgent") => "urgent",
        _ => "routine",
    }
}

/// The alert an arriving request calls for: an emergency (by urgency or
/// kind) or an urgent request; nothing for a routine one or a later step.
/// Only the kind, the sender, the urgency and the acknowledgement target
/// are read from the draft; the alert carries nothing else of it.
fn arrival_alert(
    msg: &custos_protocol::Message,
    message_id: &str,
    now: time::OffsetDateTime,
    settings: &crate::NodeSettings,
) -> Option<crate::app::alerts::Cause> {
    if msg.kind != MessageKind::Submit {
        return None;
    }
    let draft = msg.body.get("draft")?;
    let urgency = draft
        .get("urgency")
        .and_then(Value::as_str)
        .unwrap_or("routine");
    let emergency = urgency == "emergency"
        || draft.get("kind").and_then(Value::as_str) == Some("emergency-data");
    let (kind, deadline) = if emergency {
        (
            "emergency-request",
            Some(now + settings.clocks.emergency_ack_target),
        )
    } else if urgency == "urgent" {
        ("urgent-request", None)
    } else {
        return None;
    };
    Some(crate::app::alerts::Cause {
        key: format!("message:{message_id}"),
        kind,
        case_id: msg.thread.clone(),
        counterpart: msg.from.to_string(),
        urgency: if emergency { "emergency" } else { "urgent" }.to_owned(),
        deadline,
    })
}

/// Why a peer's message makes its case confidential, if it does: a request
/// whose draft says `confidentiality.required` (`request`), or an execution
/// whose body says `confidential.required` (`answer:<message id>`).
pub(crate) fn confidential_source(msg: &custos_protocol::Message, id: &str) -> Option<String> {
    use crate::app::assignments::{MARK_REQUEST, marked_confidential};
    match msg.kind {
        MessageKind::Submit => {
            let draft = msg.body.get("draft")?;
            marked_confidential(draft.get("confidentiality")).then(|| MARK_REQUEST.to_owned())
        }
        MessageKind::Execute | MessageKind::ExecutePartly => {
            marked_confidential(msg.body.get("confidential")).then(|| format!("answer:{id}"))
        }
        _ => None,
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
