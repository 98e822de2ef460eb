//! The outbox worker: durable delivery with back-off, and receipt verification.
//!
//! Outgoing messages wait in the store. The worker claims the ones that are
//! due (a lease, so several processes sharing one database never send the
//! same message at once), posts each to the recipient's node, verifies the
//! signed receipt and stores it. A failure schedules the next attempt with
//! exponential back-off; after the give-up period the message is marked failed
//! and the operator is told. A message is delivered at most once into the
//! receiver's thread because the receiver is idempotent on the message id.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use custos_ledger::ProofBundle;
use custos_protocol::federation::MessageAccepted;
use custos_protocol::{ErrorCode, ErrorResponse, routes, verify_receipt};
use custos_seal::Envelope;
use custos_store::OutboxItem;
use time::{Duration, OffsetDateTime};

use crate::Node;
use crate::custody::{Entry, EntryKind};

/// How often a serving node looks for a directory or keys changed by another process.
const REFRESH_EVERY: StdDuration = StdDuration::from_secs(2);

/// How long the sequencer waits when nothing is queued.
const SEQUENCE_EVERY: StdDuration = StdDuration::from_millis(50);

/// How hard the outbox tries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// The wait after the first failure; it doubles with each attempt.
    pub first_delay: Duration,
    /// The longest wait between attempts.
    pub max_delay: Duration,
    /// How long after queuing a message is given up.
    pub give_up_after: Duration,
    /// How long a claimed message is reserved for one delivery attempt. It may be
    /// shorter than the request timeout: a second attempt racing a slow first
    /// one is harmless, since the receiver answers a duplicate with its receipt.
    /// Kept short so that a node killed mid-delivery resumes quickly.
    pub lease: Duration,
    /// How often the worker looks for due messages when nothing wakes it.
    pub poll: StdDuration,
    /// The timeout of one delivery attempt.
    pub request_timeout: StdDuration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first_delay: Duration::seconds(2),
            max_delay: Duration::hours(1),
            give_up_after: Duration::days(8),
            lease: Duration::seconds(10),
            poll: StdDuration::from_millis(500),
            request_timeout: StdDuration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt number `attempts + 1`.
    pub fn delay(&self, attempts: u32) -> Duration {
        let factor = 2i64.saturating_pow(attempts.saturating_sub(1).min(30));
        let d = self.first_delay.saturating_mul(factor as i32);
        d.min(self.max_delay)
    }
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receipt verified and is stored.
    Delivered,
    /// Will be tried again at the given time.
    Retry { at: OffsetDateTime, error: String },
    /// Given up: the receiver refused it for good, or the give-up period passed.
    Failed { error: String },
}

impl Node {
    /// Runs the outbox worker until `shutdown` resolves.
    pub async fn run_outbox(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut last_refresh = std::time::Instant::now();
        loop {
            if *shutdown.borrow() {
                return;
            }
            if last_refresh.elapsed() >= REFRESH_EVERY {
                last_refresh = std::time::Instant::now();
                if let Err(e) = self.refresh_directory().await {
                    tracing::error!(error = %e, "cannot reload the directory");
                }
                if let Err(e) = self.refresh_keys() {
                    tracing::error!(error = %e, "cannot reload the keys");
                }
            }
            let worked = match self.deliver_due(64).await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::error!(error = %e, "outbox: cannot read due messages");
                    false
                }
            };
            if worked {
                continue;
            }
            tokio::select! {
                _ = self.outbox_wake.notified() => {}
                _ = tokio::time::sleep(self.settings.retry.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Runs the ledger sequencer until `shutdown` resolves: queued custody
    /// entries are appended and a checkpoint signed every few milliseconds.
    pub async fn run_sequencer(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let pass = match self.check_custody().await {
                Ok(()) => self.sequence_ledger().await,
                Err(e) => Err(e),
            };
            let worked = match pass {
                Ok(n) => {
                    self.note_custody(None);
                    n > 0
                }
                Err(e) => {
                    self.note_custody(Some(e.to_string()));
                    false
                }
            };
            if worked {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(SEQUENCE_EVERY) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Claims the messages that are due and tries each once, concurrently; returns how many were tried.
    pub async fn deliver_due(self: &Arc<Self>, limit: u32) -> Result<usize, crate::NodeError> {
        let now = self.clock.now();
        let items = self
            .store
            .claim_due(now, self.settings.retry.lease, limit)
            .await?;
        let n = items.len();
        let mut tasks = tokio::task::JoinSet::new();
        for item in items {
            let node = Arc::clone(self);
            tasks.spawn(async move { node.attempt(item).await });
        }
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r {
                tracing::error!(error = %e, "outbox: a delivery task failed");
            }
        }
        Ok(n)
    }

    /// One delivery attempt of a claimed message, with its outcome stored.
    pub async fn attempt(&self, item: OutboxItem) -> Attempt {
        let (item, sent_envelope) = match self.reseal_if_rotated(item.clone()).await {
            Ok(resealed) => resealed,
            Err(e) => {
                tracing::error!(message = %item.message_id, error = %e, "outbox: cannot sign a queued message again with the current key");
                (item, None)
            }
        };
        let outcome = self.post(&item, sent_envelope.as_deref()).await;
        let now = self.clock.now();
        let attempts = item.attempts + 1;
        let result = match outcome {
            Ok(Delivered {
                receipt,
                custody,
                thread,
            }) => {
                let mut entry = Entry::new(
                    EntryKind::ReceiptReceived,
                    now,
                    crate::Actor::Peer(item.recipient).label(),
                );
                if let Some(thread) = thread {
                    entry = entry.request(thread);
                }
                let entry = entry
                    .subject(item.message_id.clone())
                    .envelope(&receipt)
                    .detail(serde_json::json!({ "from": item.recipient, "custody": custody }))
                    .encode();
                match entry {
                    Ok(entry) => self
                        .store
                        .mark_delivered(&item.message_id, &receipt, now, &[entry])
                        .await
                        .map(|_| Attempt::Delivered),
                    Err(e) => Ok(Attempt::Retry {
                        at: now,
                        error: e.to_string(),
                    }),
                }
            }
            Err(Failure::Permanent(error)) => {
                tracing::error!(message = %item.message_id, to = %item.recipient, error = %custos_protocol::text::escape(&error), "outbox: the receiver refused the message for good");
                self.store
                    .mark_failed(&item.message_id, &error, now)
                    .await
                    .map(|_| Attempt::Failed { error })
            }
            Err(Failure::Transient(error)) => {
                if now - item.created_at >= self.settings.retry.give_up_after {
                    let error = format!("gave up after {attempts} attempts: {error}");
                    tracing::error!(message = %item.message_id, to = %item.recipient, error = %custos_protocol::text::escape(&error), "outbox: delivery abandoned");
                    self.store
                        .mark_failed(&item.message_id, &error, now)
                        .await
                        .map(|_| Attempt::Failed { error })
                } else {
                    let at = now + self.settings.retry.delay(attempts);
                    tracing::warn!(message = %item.message_id, to = %item.recipient, error = %custos_protocol::text::escape(&error), next = %at, "outbox: delivery failed, will retry");
                    self.store
                        .mark_retry(&item.message_id, attempts, at, &error)
                        .await
                        .map(|_| Attempt::Retry { at, error })
                }
            }
        };
        result.unwrap_or_else(|e| {
            tracing::error!(error = %e, "outbox: cannot record a delivery attempt");
            Attempt::Retry {
                at: now,
                error: e.to_string(),
            }
        })
    }

    /// Signs a queued message again when the key that signed it is no longer
    /// the node's current signing key (rotated, and perhaps revoked, while it
    /// waited): the outbox holds the ciphertext, which the node can open
    /// since its own key is a recipient of everything it sends; the same
    /// payload (so the same message id) is signed with the current key,
    /// sealed again to the recipient's current keys and ours, and the new
    /// ciphertext stored with a `message-resigned` ledger entry. Returns the
    /// item to send and, when it was opened, the envelope it carries.
    ///
    /// Messages queued since the current key became valid were signed with
    /// it and are not opened at all.
    async fn reseal_if_rotated(
        &self,
        mut item: OutboxItem,
    ) -> Result<(OutboxItem, Option<Vec<u8>>), crate::NodeError> {
        let current_since = self.with_keys(|k| k.history.signing.last().map(|v| v.valid_from));
        if current_since.is_none_or(|since| item.created_at >= since) {
            return Ok((item, None));
        }
        let (current_id, identities) = self.with_keys(|k| (k.signing.key_id(), k.identities()));
        let limit = u64::try_from(self.settings.max_message_bytes).unwrap_or(u64::MAX);
        let envelope_json = custos_seal::decrypt_any(&item.ciphertext, &identities, limit)
            .map_err(|e| {
                crate::NodeError::Internal(format!("opening our own queued message: {e}"))
            })?;
        let envelope = Envelope::from_json(&envelope_json).map_err(|e| {
            crate::NodeError::Internal(format!("our own queued envelope does not parse: {e}"))
        })?;
        let signed_by = envelope.signatures.first().map(|s| s.keyid.clone());
        if signed_by.as_deref() == Some(current_id.as_str()) {
            return Ok((item, Some(envelope_json)));
        }
        let directory = self.directory().ok_or(crate::NodeError::NoDirectory)?;
        let now = self.clock.now();
        let mut recipients = directory.current_recipients(item.recipient, now);
        if recipients.is_empty() {
            return Err(crate::NodeError::NoEncryptionKey(item.recipient));
        }
        let (resigned, ciphertext) = self
            .with_keys(|k| {
                recipients.push(k.encryption.recipient());
                let json =
                    Envelope::sign(&envelope.payload_type, &envelope.payload, &k.signing).to_json();
                custos_seal::encrypt(&json, &recipients).map(|ct| (json, ct))
            })
            .map_err(|e| crate::NodeError::Internal(format!("sealing a re-signed message: {e}")))?;
        let thread = self
            .store
            .get_message(&item.message_id)
            .await?
            .map(|m| m.thread);
        let mut entry = Entry::new(
            EntryKind::MessageResigned,
            now,
            crate::Actor::Peer(self.state()).label(),
        )
        .subject(item.message_id.clone())
        .envelope(&resigned)
        .detail(serde_json::json!({ "to": item.recipient, "replaces_key": signed_by, "signed_by": current_id }));
        if let Some(thread) = thread {
            entry = entry.request(thread);
        }
        self.store
            .resign_outbox(&item.message_id, &ciphertext, now, &[entry.encode()?])
            .await?;
        tracing::info!(message = %item.message_id, to = %item.recipient, replaces_key = ?signed_by, signed_by = %current_id, "outbox: signed a queued message again with the current key");
        item.ciphertext = ciphertext;
        Ok((item, Some(resigned)))
    }

    /// Posts one message; `sent_envelope` is the envelope inside the
    /// ciphertext when it differs from the stored one (signed again).
    async fn post(
        &self,
        item: &OutboxItem,
        sent_envelope: Option<&[u8]>,
    ) -> Result<Delivered, Failure> {
        let url = routes::url(&item.url, routes::MESSAGES, &[]);
        let response = self
            .http
            .post(&url)
            .timeout(self.settings.retry.request_timeout)
            .header("content-type", "application/octet-stream")
            .header("custos-from", self.state().as_str())
            .body(item.ciphertext.clone())
            .send()
            .await
            .map_err(|e| Failure::Transient(crate::reach::cannot_reach(&url, &e)))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| Failure::Transient(format!("reading the answer of {url}: {e}")))?;
        let (receipt, custody) = match status {
            200 => {
                let accepted: MessageAccepted = serde_json::from_slice(&body).map_err(|e| {
                    Failure::Transient(format!("{url} answered 200 with an unreadable body: {e}"))
                })?;
                (accepted.receipt, accepted.custody.filter(|c| !c.is_null()))
            }
            _ => {
                let (code, message, original) = match serde_json::from_slice::<ErrorResponse>(&body)
                {
                    Ok(r) => (r.error.code, r.error.message, r.receipt),
                    Err(_) => (String::new(), String::new(), None),
                };
                match original.filter(|r| !r.is_null()) {
                    // Received before: the original receipt stands.
                    Some(original) if code == ErrorCode::DuplicateMessage.as_str() => {
                        (original, None)
                    }
                    _ => {
                        let error = format!("{url} answered {status} {code}: {message}");
                        return Err(if permanent(status, &code) {
                            Failure::Permanent(error)
                        } else {
                            Failure::Transient(error)
                        });
                    }
                }
            }
        };
        let receipt =
            serde_json::to_vec(&receipt).map_err(|e| Failure::Transient(e.to_string()))?;
        let directory = self
            .directory()
            .ok_or_else(|| Failure::Transient("no directory to verify the receipt".into()))?;
        let message_id = item
            .message_id
            .parse()
            .map_err(|e| Failure::Transient(format!("{e}")))?;
        verify_receipt(
            &receipt,
            &directory,
            &message_id,
            item.recipient,
            self.clock.now(),
        )
        .map_err(|e| {
            Failure::Transient(format!(
                "the receipt from {} does not verify: {e}",
                item.recipient
            ))
        })?;
        // The stored message gives the request the receipt belongs to, and
        // the envelope the custody proof must record.
        let stored = self.store.get_message(&item.message_id).await;
        let thread = match &stored {
            Ok(Some(m)) => Some(m.thread.clone()),
            _ => None,
        };
        // The custody proof: kept in our own ledger with the receipt, verified or not.
        let custody = match custody {
            None => serde_json::json!({ "provided": false }),
            Some(value) => {
                let checked = match ProofBundle::from_json(&value.to_string()) {
                    Err(e) => Err(e.to_string()),
                    Ok(bundle) => match stored {
                        Ok(Some(m)) => self
                            .message_envelope(&m)
                            .and_then(|stored| {
                                // A message signed again after a key rotation
                                // went out as its new envelope.
                                self.check_custody_proof(
                                    &bundle,
                                    item.recipient,
                                    &item.message_id,
                                    sent_envelope.unwrap_or(&stored),
                                )
                            })
                            .map_err(|e| e.to_string()),
                        Ok(None) => Err("the message is not stored here".into()),
                        Err(e) => Err(e.to_string()),
                    },
                };
                match checked {
                    Ok(size) => {
                        serde_json::json!({ "provided": true, "valid": true, "checkpoint_size": size, "bundle": value })
                    }
                    Err(error) => {
                        tracing::error!(message = %item.message_id, from = %item.recipient, error = %custos_protocol::text::escape(&error), "a receiver's custody proof does not verify");
                        serde_json::json!({ "provided": true, "valid": false, "error": error, "bundle": value })
                    }
                }
            }
        };
        Ok(Delivered {
            receipt,
            custody,
            thread,
        })
    }
}

/// A verified receipt and what was made of the custody proof that came with it.
struct Delivered {
    receipt: Vec<u8>,
    custody: serde_json::Value,
    /// The request (thread) of the message, as stored here.
    thread: Option<String>,
}

enum Failure {
    Transient(String),
    Permanent(String),
}

/// Refusals that no retry can change: the message itself is wrong.
fn permanent(status: u16, code: &str) -> bool {
    let code_is_final = [
        ErrorCode::TooLarge,
        ErrorCode::MalformedCiphertext,
        ErrorCode::MalformedEnvelope,
        ErrorCode::MalformedMessage,
        ErrorCode::UnsupportedVersion,
        ErrorCode::NotCanonical,
        ErrorCode::PayloadTypeMismatch,
        ErrorCode::WrongRecipient,
        ErrorCode::InvalidBody,
        ErrorCode::ThreadConflict,
        ErrorCode::MessageExpired,
        ErrorCode::ActionNotAllowed,
    ]
    .iter()
    .any(|c| c.as_str() == code);
    code_is_final || status == 413
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1), Duration::seconds(2));
        assert_eq!(p.delay(2), Duration::seconds(4));
        assert_eq!(p.delay(5), Duration::seconds(32));
        assert_eq!(p.delay(40), Duration::hours(1));
        // At most an hour apart and retried for eight days: well over a hundred attempts.
        assert!(p.give_up_after >= Duration::days(7));
    }
}
