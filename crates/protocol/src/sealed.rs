//! Sealing a message for the wire and opening one that arrives.
//!
//! Sealing: canonical bytes (whose content id is the message id), a DSSE
//! envelope signed by the sender's current key under the kind's payload type,
//! then age encryption of the envelope JSON to the receiver's keys and the
//! sender's own. Opening runs every check of the protocol in a fixed order,
//! so that a given forgery always meets the same refusal code, and trusts
//! nothing taken from the payload before the signature is checked except what
//! is needed to find the key (`from`, `created_at`) and to refuse early
//! (`to`).

use custos_model::StateCode;
use custos_seal::{EncryptionIdentity, EncryptionRecipient, Envelope, SealError, SigningKey};
use time::{Duration, OffsetDateTime};

use crate::directory::{Directory, single_signature};
use crate::error::ProtocolError;
use crate::ids::MessageId;
use crate::message::{
    Message, MessageKind, check_thread_link, validate_body, validate_message, validate_submission,
};

/// How far ahead of the receiver's clock `created_at` may be.
pub const MAX_CLOCK_AHEAD: Duration = Duration::minutes(5);
/// How old `created_at` may be when the message arrives.
pub const MAX_MESSAGE_AGE: Duration = Duration::days(8);
/// A sensible default for the `max_bytes` of [`open_message`]: 1 MiB of
/// ciphertext. Evidence travels separately, not inside messages.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1 << 20;

/// A message ready to send, with what the sender keeps.
#[derive(Clone, Debug)]
pub struct SealedMessage {
    pub id: MessageId,
    /// The signed envelope (DSSE JSON): the sender's proof of what it sent.
    pub envelope_json: Vec<u8>,
    /// The age ciphertext of `envelope_json`: the HTTP request body.
    pub ciphertext: Vec<u8>,
}

/// A message that passed every check of [`open_message`].
#[derive(Clone, Debug)]
pub struct OpenedMessage {
    pub id: MessageId,
    pub message: Message,
    /// The canonical message bytes that were signed (`id` is their hash).
    pub payload: Vec<u8>,
    /// The signed envelope as received: the receiver's proof.
    pub envelope_json: Vec<u8>,
    /// Key id of the sender's key that signed it.
    pub keyid: String,
}

/// Checks `message` ([`validate_message`]), signs it with `signer` and
/// encrypts the envelope to `recipients` (the receiver's current encryption
/// keys and the sender's own, so that the sender can read its outbox).
pub fn seal_message(
    message: &Message,
    signer: &SigningKey,
    recipients: &[EncryptionRecipient],
) -> Result<SealedMessage, ProtocolError> {
    validate_message(message)?;
    seal_checked(message, signer, recipients)
}

/// [`seal_message`] for a `submit` made from a draft the caller has just
/// validated with the model (`report`, that draft's report): checked by
/// [`validate_submission`], which does not validate the draft again.
pub fn seal_submission(
    message: &Message,
    report: &custos_model::validate::Report,
    signer: &SigningKey,
    recipients: &[EncryptionRecipient],
) -> Result<SealedMessage, ProtocolError> {
    validate_submission(message, report)?;
    seal_checked(message, signer, recipients)
}

/// Signs and encrypts a message that passed its checks.
fn seal_checked(
    message: &Message,
    signer: &SigningKey,
    recipients: &[EncryptionRecipient],
) -> Result<SealedMessage, ProtocolError> {
    let payload = message.to_canonical_json()?;
    let id = MessageId::of_payload(&payload);
    let envelope = Envelope::sign(message.kind.payload_type(), &payload, signer);
    let envelope_json = envelope.to_json();
    let ciphertext = custos_seal::encrypt(&envelope_json, recipients).map_err(|e| {
        ProtocolError::Encryption {
            detail: e.to_string(),
        }
    })?;
    Ok(SealedMessage {
        id,
        envelope_json,
        ciphertext,
    })
}

/// Opens a message received by the node of `me`, in this order: size,
/// decryption with the node's identities (current and older ones), envelope,
/// payload type, JSON and version, canonical bytes, payload type against
/// `kind`, `to`, directory expiry, sender entry and key (listed, not revoked,
/// valid at `created_at`), signature, time window around `now`, `prev`
/// against the kind, body.
///
/// Thread order, duplicates and thread conflicts need the store and are the
/// node's to check.
pub fn open_message(
    ciphertext: &[u8],
    identities: &[EncryptionIdentity],
    directory: &Directory,
    me: StateCode,
    now: OffsetDateTime,
    max_bytes: usize,
) -> Result<OpenedMessage, ProtocolError> {
    if ciphertext.len() > max_bytes {
        return Err(ProtocolError::TooLarge {
            size: ciphertext.len(),
            limit: max_bytes,
        });
    }
    let limit = u64::try_from(max_bytes).unwrap_or(u64::MAX);
    let envelope_json =
        custos_seal::decrypt_any(ciphertext, identities, limit).map_err(|e| match e {
            SealError::NoMatchingIdentity => ProtocolError::NotForThisNode,
            SealError::TooLarge { .. } => ProtocolError::TooLarge {
                size: ciphertext.len(),
                limit: max_bytes,
            },
            other => ProtocolError::MalformedCiphertext {
                detail: other.to_string(),
            },
        })?;
    verify_message_envelope(envelope_json, directory, me, now)
}

/// The checks of [`open_message`] after decryption, on the envelope JSON:
/// for a node that re-checks an envelope it holds, or a tool that verifies
/// one without the receiver's key.
pub fn verify_message_envelope(
    envelope_json: Vec<u8>,
    directory: &Directory,
    me: StateCode,
    now: OffsetDateTime,
) -> Result<OpenedMessage, ProtocolError> {
    // Envelope: DSSE JSON with exactly one signature.
    let envelope = Envelope::from_json(&envelope_json).map_err(|e| match e {
        SealError::MalformedEnvelope(detail) => ProtocolError::MalformedEnvelope { detail },
        other => ProtocolError::MalformedEnvelope {
            detail: other.to_string(),
        },
    })?;
    single_signature(&envelope).map_err(|detail| ProtocolError::MalformedEnvelope { detail })?;

    // Payload type names a kind of this version.
    let signed_kind = MessageKind::from_payload_type(&envelope.payload_type)?;

    // Parse: JSON object, version, then the members and their forms.
    let payload = envelope.payload.clone();
    let message = Message::from_json(&payload)?;

    // Canonical bytes: exactly the RFC 8785 encoding of the members read
    // (which makes them canonical JSON too). Only bytes that differ are
    // checked against the JSON they hold, to say where they go wrong.
    if message.to_canonical_json()? != payload {
        custos_seal::ensure_canonical(&payload).map_err(|e| ProtocolError::NotCanonical {
            detail: e.to_string(),
        })?;
        return Err(ProtocolError::NotCanonical {
            detail: "the payload is not the standard encoding of the message it holds".to_owned(),
        });
    }

    // The envelope's (signed) payload type and the message's kind agree.
    if message.kind != signed_kind {
        return Err(ProtocolError::PayloadTypeMismatch {
            payload_type: envelope.payload_type.clone(),
            kind: message.kind,
        });
    }

    // Addressed to us, from someone else.
    if message.to != me {
        return Err(ProtocolError::WrongRecipient { to: message.to, me });
    }
    if message.from == message.to {
        return Err(ProtocolError::MalformedMessage {
            detail: format!(
                "fields `from` and `to` both name {}; a message goes between two States",
                message.from
            ),
        });
    }

    // Sender's key in a current directory, then the signature.
    directory.check_current(now)?;
    let keyid = match directory.check_signature(message.from, &envelope, message.created_at) {
        // Signed again after its sender rotated keys (the message waited in
        // the sender's outbox): the key did not exist at `created_at`, but it
        // must speak for the sender now, unrevoked.
        Err(ProtocolError::KeyNotValidAtTime { valid_from, .. })
            if valid_from > message.created_at =>
        {
            directory.check_signature(message.from, &envelope, now)?
        }
        checked => checked?,
    };

    // Time window around the receiver's clock.
    if message.created_at > now + MAX_CLOCK_AHEAD {
        return Err(ProtocolError::FromTheFuture {
            created_at: message.created_at,
            now,
        });
    }
    if message.created_at < now - MAX_MESSAGE_AGE {
        return Err(ProtocolError::MessageExpired {
            created_at: message.created_at,
            now,
        });
    }

    // Thread link and body.
    check_thread_link(&message)?;
    validate_body(&message)?;

    Ok(OpenedMessage {
        id: MessageId::of_payload(&payload),
        message,
        payload,
        envelope_json,
        keyid,
    })
}
