//! Signed receipts: the receiving node's statement that it accepted a given
//! message, returned as the body of the federation answer and kept by the
//! sender as proof of delivery.

use custos_model::StateCode;
use custos_seal::{Envelope, SigningKey};
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

fn invalid(detail: impl Into<String>) -> ProtocolError {
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
    let envelope = Envelope::from_json(envelope_json)
        .map_err(|e| invalid(format!("not a DSSE envelope: {e}")))?;
    if envelope.payload_type != RECEIPT_PAYLOAD_TYPE {
        return Err(invalid(format!(
            "payload type {:?} is not {RECEIPT_PAYLOAD_TYPE:?}",
            envelope.payload_type
        )));
    }
    let receipt: Receipt =
        json::read_versioned(&envelope.payload, diagnose).map_err(|e| match e {
            ReadError::Version(found) => ProtocolError::UnsupportedVersion {
                what: "receipt".to_owned(),
                found,
            },
            ReadError::Shape(detail) => invalid(detail),
        })?;
    check_thread_id(&receipt.thread).map_err(|e| invalid(format!("field `thread`: {e}")))?;
    directory.check_current(now)?;
    directory.check_signature(expected_receiver, &envelope, receipt.received_at)?;
    if receipt.receiver != expected_receiver {
        return Err(invalid(format!(
            "field `receiver` is {}, expected {expected_receiver}",
            receipt.receiver
        )));
    }
    if receipt.message_id != *expected_message_id {
        return Err(invalid(format!(
            "field `message_id` is {}, expected {expected_message_id}",
            receipt.message_id
        )));
    }
    if receipt.received_at > now + MAX_CLOCK_AHEAD {
        return Err(invalid(format!(
            "field `received_at` ({}) is more than 5 minutes ahead of this node's clock ({})",
            timestamp::format(receipt.received_at),
            timestamp::format(now)
        )));
    }
    Ok(receipt)
}
