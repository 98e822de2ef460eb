//! Receipts: the receiver signs one for a message it opened, the sender
//! verifies it against the directory; altered, misdirected or forged receipts
//! are refused.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

mod common;

use common::*;
use custos_protocol::{
    ErrorCode, MessageId, ProtocolError, RECEIPT_PAYLOAD_TYPE, Receipt, open_message, seal_message,
    sign_receipt, verify_receipt,
};
use custos_seal::Envelope;
use serde_json::{Value, json};
use time::Duration;

/// France sends a submit, Germany opens it and signs a receipt.
fn delivered(w: &World) -> (MessageId, Receipt, Vec<u8>) {
    let mut recipients = w.directory.current_recipients(w.de.state, NOW);
    recipients.push(w.fr.encryption.recipient());
    let sealed = seal_message(&submit_fr_de(), &w.fr.signing, &recipients).unwrap();
    let opened = open_message(
        &sealed.ciphertext,
        std::slice::from_ref(&w.de.encryption),
        &w.directory,
        w.de.state,
        NOW,
        LIMIT,
    )
    .unwrap();
    let receipt = Receipt::for_message(&opened, NOW);
    let signed = sign_receipt(&receipt, &w.de.signing).unwrap();
    (sealed.id, receipt, signed)
}

fn verify(w: &World, signed: &[u8], id: &MessageId) -> Result<Receipt, ProtocolError> {
    verify_receipt(
        signed,
        &w.directory,
        id,
        w.de.state,
        NOW + Duration::seconds(1),
    )
}

fn resign(w: &World, signed: &[u8], edit: impl Fn(&mut Value)) -> Vec<u8> {
    let envelope = Envelope::from_json(signed).unwrap();
    let mut value: Value = serde_json::from_slice(&envelope.payload).unwrap();
    edit(&mut value);
    let payload = custos_seal::canonical_json(&value).unwrap();
    Envelope::sign(RECEIPT_PAYLOAD_TYPE, &payload, &w.de.signing).to_json()
}

#[test]
fn a_receipt_signed_by_the_receiver_verifies_for_the_sender() {
    let w = world();
    let (id, receipt, signed) = delivered(&w);
    assert_eq!(receipt.message_id, id);
    assert_eq!(receipt.sender, w.fr.state);
    assert_eq!(receipt.receiver, w.de.state);
    assert_eq!(receipt.thread, thread());
    assert_eq!(verify(&w, &signed, &id).unwrap(), receipt);

    let envelope = Envelope::from_json(&signed).unwrap();
    assert_eq!(envelope.payload_type, RECEIPT_PAYLOAD_TYPE);
    let text = String::from_utf8(envelope.payload).unwrap();
    assert_eq!(
        text,
        format!(
            r#"{{"message_id":"{id}","received_at":"2026-11-28T10:00:00.123456Z","receiver":"DE","sender":"FR","thread":"{}","v":1}}"#,
            thread()
        )
    );
}

#[test]
fn an_altered_receipt_is_refused() {
    let w = world();
    let (id, _, signed) = delivered(&w);
    let mut envelope = Envelope::from_json(&signed).unwrap();
    let text = String::from_utf8(envelope.payload.clone()).unwrap();
    envelope.payload = text
        .replace("10:00:00.123456", "09:00:00.123456")
        .into_bytes();
    let err = verify(&w, &envelope.to_json(), &id).unwrap_err();
    assert_eq!(err.code(), ErrorCode::SignatureInvalid);

    for position in (0..signed.len()).step_by(7) {
        let mut bytes = signed.clone();
        bytes[position] ^= 0x01;
        assert!(
            verify(&w, &bytes, &id).is_err(),
            "flipped byte {position} accepted"
        );
    }
}

#[test]
fn a_receipt_for_another_message_or_from_another_receiver_is_refused() {
    let w = world();
    let (id, _, signed) = delivered(&w);
    let other = MessageId::of_payload(b"another message");
    let err = verify(&w, &signed, &other).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidReceipt);
    assert!(err.to_string().contains("message_id"), "{err}");

    // Expected from Italy, signed by Germany: Germany's key is not Italy's.
    let err = verify_receipt(&signed, &w.directory, &id, w.it.state, NOW).unwrap_err();
    assert_eq!(err.code(), ErrorCode::UnknownKey);

    // Signed by Germany but naming Italy as receiver.
    let renamed = resign(&w, &signed, |v| v["receiver"] = json!("IT"));
    let err = verify(&w, &renamed, &id).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidReceipt);
    assert!(err.to_string().contains("receiver"), "{err}");
}

#[test]
fn a_receipt_the_sender_signed_itself_is_refused() {
    let w = world();
    let (id, receipt, _) = delivered(&w);
    let forged = sign_receipt(&receipt, &w.fr.signing).unwrap();
    let err = verify(&w, &forged, &id).unwrap_err();
    match err {
        ProtocolError::UnknownKey {
            state, listed_for, ..
        } => {
            assert_eq!(state, w.de.state);
            assert_eq!(listed_for, Some(w.fr.state));
        }
        other => panic!("expected unknown-key, got {other:?}"),
    }
}

#[test]
fn malformed_or_future_receipts_are_refused() {
    let w = world();
    let (id, _, signed) = delivered(&w);
    let future = resign(&w, &signed, |v| {
        v["received_at"] = json!("2026-11-28T11:00:00.000000Z");
    });
    let err = verify(&w, &future, &id).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidReceipt);
    assert!(err.to_string().contains("received_at"), "{err}");

    let extra = resign(&w, &signed, |v| v["note"] = json!("x"));
    assert_eq!(
        verify(&w, &extra, &id).unwrap_err().code(),
        ErrorCode::InvalidReceipt
    );

    let bad_thread = resign(&w, &signed, |v| v["thread"] = json!("42"));
    let err = verify(&w, &bad_thread, &id).unwrap_err();
    assert!(err.to_string().contains("thread"), "{err}");

    let newer = resign(&w, &signed, |v| v["v"] = json!(2));
    assert_eq!(
        verify(&w, &newer, &id).unwrap_err().code(),
        ErrorCode::UnsupportedVersion
    );

    let envelope = Envelope::from_json(&signed).unwrap();
    let retyped = Envelope::sign(
        "application/vnd.custos.message.acknowledge.v1+json",
        &envelope.payload,
        &w.de.signing,
    );
    let err = verify(&w, &retyped.to_json(), &id).unwrap_err();
    assert!(err.to_string().contains("payload type"), "{err}");

    assert_eq!(
        verify(&w, b"{}", &id).unwrap_err().code(),
        ErrorCode::InvalidReceipt
    );
}

#[test]
fn a_receipt_a_verifier_would_refuse_is_not_signed() {
    let w = world();
    let (_, receipt, _) = delivered(&w);
    let newer = Receipt {
        v: 2,
        ..receipt.clone()
    };
    assert_eq!(
        sign_receipt(&newer, &w.de.signing).unwrap_err().code(),
        ErrorCode::UnsupportedVersion
    );
    let bad_thread = Receipt {
        thread: "42".into(),
        ..receipt
    };
    assert_eq!(
        sign_receipt(&bad_thread, &w.de.signing).unwrap_err().code(),
        ErrorCode::InvalidReceipt
    );
}

#[test]
fn a_receipt_checked_with_an_expired_directory_is_refused() {
    let w = world();
    let (id, _, signed) = delivered(&w);
    let err = verify_receipt(&signed, &w.directory, &id, w.de.state, EXPIRES).unwrap_err();
    assert_eq!(err.code(), ErrorCode::DirectoryExpired);
}
