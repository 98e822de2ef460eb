//! Signed receipts: the receiving node's statement that it accepted a given
//! message, returned as the body of the federation answer and kept by the
//! sender as proof of delivery.

use custos_model::StateCode;
use custos_seal::{Envelope, SigningKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::directory::Directory;
use crate::error::ProtocolError;
use crate::ids::{MessageId, check_thread_id};
use crate::json::{self, PROTOCOL_VERSION, ReadError};
use crate::sealed::{MAX_CLOCK_AHEAD, OpenedMessage};
use crate::timestamp;

/// DSSE payload type of a receipt.
pub const RECEIPT_PAYLOAD_TYPE: &str = "application/vnd.custos.receipt.v1+json";

/// "`receiver` accepted message `message_id` of `thread` from `sender` at
/// `received_at`."
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Format version: [`PROTOCOL_VERSION`].
    pub v: u32,
    pub message_id: MessageId,
    pub thread: String,
    pub sender: StateCode,
    pub receiver: StateCode,
    /// When the receiver accepted the message, by its clock.
    #[serde(with = "timestamp::micros")]
    pub received_at: OffsetDateTime,
}

impl Receipt {
    /// The receipt for a message the node just opened; `received_at` is cut
    /// to whole microseconds.
    pub fn for_message(opened: &OpenedMessage, received_at: OffsetDateTime) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            message_id: opened.id.clone(),
            thread: opened.message.thread.clone(),
            sender: opened.message.from,
            receiver: opened.message.to,
            received_at: timestamp::truncate(received_at),
        }
    }
}

/// Signs a receipt with the receiver's current signing key; returns the DSSE
/// envelope JSON. A receipt a verifier would refuse for its form (another
/// version, a malformed thread id) is not signed.
pub fn sign_receipt(receipt: &Receipt, key: &SigningKey) -> Result<Vec<u8>, ProtocolError> {
    if receipt.v != PROTOCOL_VERSION {
        return Err(ProtocolError::UnsupportedVersion {
            what: "receipt".to_owned(),
            found: receipt.v.to_string(),
        });
    }
    check_thread_id(&receipt.thread).map_err(|e| invalid(format!("field `thread`: {e}")))?;
    let payload = json::canonical("receipt", receipt)?;
    Ok(Envelope::sign(RECEIPT_PAYLOAD_TYPE, &payload, key).to_json())
}

fn diagnose(object: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    json::field::<MessageId>(object, "message_id")
        .or_else(|| json::field::<String>(object, "thread"))
        .or_else(|| json::field::<StateCode>(object, "sender"))
        .or_else(|| json::field::<StateCode>(object, "receiver"))
        .or_else(|| json::field_by(object, "received_at", json::timestamp))
}

pub(crate) fn invalid(detail: impl Into<String>) -> ProtocolError {
    ProtocolError::InvalidReceipt {
        detail: detail.into(),
    }
}

/// Verifies a receipt returned for `expected_message_id` by the node of
/// `expected_receiver`: envelope and payload type, receipt fields, signature
/// by a key of the receiver listed in `directory`, not revoked and valid at
/// `received_at`, a `received_at` not ahead of `now` by more than the allowed
/// clock difference, and the message id and receiver expected.
pub fn verify_receipt(
    envelope_json: &[u8],
    directory: &Directory,
    expected_message_id: &MessageId,
    expected_receiver: StateCode,
    now: OffsetDateTime,
) -> Result<Receipt, ProtocolError> {
    let (envelope, receipt): (_, Receipt) =
        open_signed(envelope_json, RECEIPT_PAYLOAD_TYPE, "receipt", diagnose)?;
    check_thread_id(&receipt.thread).map_err(|e| invalid(format!("field `thread`: {e}")))?;
    check_signer(
        &envelope,
        directory,
        expected_receiver,
        receipt.receiver,
        receipt.received_at,
        now,
    )?;
    if receipt.message_id != *expected_message_id {
        return Err(invalid(format!(
            "field `message_id` is {}, expected {expected_message_id}",
            receipt.message_id
        )));
    }
    check_not_ahead(receipt.received_at, now)?;
    Ok(receipt)
}

/// Reads a signed receipt of any kind: a DSSE envelope of `payload_type`
/// whose payload is the versioned JSON of `T` (`what` names it in errors).
pub(crate) fn open_signed<T: DeserializeOwned>(
    envelope_json: &[u8],
    payload_type: &str,
    what: &str,
    diagnose: json::Diagnose,
) -> Result<(Envelope, T), ProtocolError> {
    let envelope = Envelope::from_json(envelope_json)
        .map_err(|e| invalid(format!("not a DSSE envelope: {e}")))?;
    if envelope.payload_type != payload_type {
        return Err(invalid(format!(
            "payload type {:?} is not {payload_type:?}",
            envelope.payload_type
        )));
    }
    let body = json::read_versioned(&envelope.payload, diagnose).map_err(|e| match e {
        ReadError::Version(found) => ProtocolError::UnsupportedVersion {
            what: what.to_owned(),
            found,
        },
        ReadError::Shape(detail) => invalid(detail),
    })?;
    Ok((envelope, body))
}

/// The checks every receipt kind shares once read: the directory is current,
/// the envelope is signed by a key it lists for `expected_receiver` at
/// `received_at`, and the receipt names that receiver.
pub(crate) fn check_signer(
    envelope: &Envelope,
    directory: &Directory,
    expected_receiver: StateCode,
    receiver: StateCode,
    received_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), ProtocolError> {
    directory.check_current(now)?;
    directory.check_signature(expected_receiver, envelope, received_at)?;
    if receiver != expected_receiver {
        return Err(invalid(format!(
            "field `receiver` is {receiver}, expected {expected_receiver}"
        )));
    }
    Ok(())
}

/// A receipt's `received_at` may not be ahead of `now` by more than the
/// allowed clock difference.
pub(crate) fn check_not_ahead(
    received_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), ProtocolError> {
    if received_at > now + MAX_CLOCK_AHEAD {
        return Err(invalid(format!(
            "field `received_at` ({}) is more than 5 minutes ahead of this node's clock ({})",
            timestamp::format(received_at),
            timestamp::format(now)
        )));
    }
    Ok(())
}
