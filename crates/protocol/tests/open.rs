//! Sealing and opening messages between real nodes: a full round trip in a
//! directory of three States, then every class of refusal, each checked for
//! its stable error code (and, where it matters, for what its message says).

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

mod common;

use common::*;
use custos_model::refusal::{Ground, Refusal};
use custos_protocol::{
    ErrorCode, KeyValidity, Message, MessageKind, ProtocolError, open_message, seal_message,
};
use custos_seal::{Envelope, EnvelopeSignature, SigningKey};
use serde_json::{Value, json};
use time::Duration;

fn recipients_fr_de(w: &World) -> Vec<custos_seal::EncryptionRecipient> {
    let mut r = w.directory.current_recipients(w.de.state, NOW);
    r.extend(w.directory.current_recipients(w.fr.state, NOW));
    r
}

fn open_at_de(
    w: &World,
    ciphertext: &[u8],
) -> Result<custos_protocol::OpenedMessage, ProtocolError> {
    open_message(
        ciphertext,
        std::slice::from_ref(&w.de.encryption),
        &w.directory,
        w.de.state,
        NOW,
        LIMIT,
    )
}

fn code_at_de(w: &World, ciphertext: &[u8]) -> ErrorCode {
    open_at_de(w, ciphertext).unwrap_err().code()
}

/// Hand-seals a JSON value as a message payload of `kind`, signed by France.
fn hand_sealed_value(w: &World, kind: MessageKind, value: &Value) -> Vec<u8> {
    let payload = custos_seal::canonical_json(value).unwrap();
    hand_sealed(kind.payload_type(), &payload, &w.fr.signing, w)
}

fn submit_value() -> Value {
    serde_json::from_slice(&payload_of(&submit_fr_de())).unwrap()
}

#[test]
fn a_sealed_submit_opens_at_the_receiver_with_the_same_id() {
    let w = world();
    let message = submit_fr_de();
    let sealed = seal_message(&message, &w.fr.signing, &recipients_fr_de(&w)).unwrap();
    assert_eq!(sealed.id, message.id().unwrap());

    let opened = open_at_de(&w, &sealed.ciphertext).unwrap();
    assert_eq!(opened.id, sealed.id);
    assert_eq!(opened.message, message);
    assert_eq!(opened.envelope_json, sealed.envelope_json);
    assert_eq!(opened.keyid, w.fr.signing.key_id());
    assert_eq!(opened.payload, payload_of(&message));

    // The reply travels the other way and names the submit as `prev`.
    let ack = acknowledge_de_fr(opened.id.clone(), NOW);
    let mut back = w.directory.current_recipients(w.fr.state, NOW);
    back.extend(w.directory.current_recipients(w.de.state, NOW));
    let sealed_ack = seal_message(&ack, &w.de.signing, &back).unwrap();
    let opened_ack = open_message(
        &sealed_ack.ciphertext,
        std::slice::from_ref(&w.fr.encryption),
        &w.directory,
        w.fr.state,
        NOW + Duration::seconds(1),
        LIMIT,
    )
    .unwrap();
    assert_eq!(opened_ack.message.prev, Some(opened.id));
    assert_eq!(opened_ack.message.kind, MessageKind::Acknowledge);
}

#[test]
fn the_sender_can_decrypt_its_copy_but_it_is_not_addressed_to_it() {
    let w = world();
    let sealed = seal_message(&submit_fr_de(), &w.fr.signing, &recipients_fr_de(&w)).unwrap();
    let own = custos_seal::decrypt(&sealed.ciphertext, &w.fr.encryption, LIMIT as u64).unwrap();
    assert_eq!(own, sealed.envelope_json);
    let err = open_message(
        &sealed.ciphertext,
        std::slice::from_ref(&w.fr.encryption),
        &w.directory,
        w.fr.state,
        NOW,
        LIMIT,
    )
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::WrongRecipient);
}

#[test]
fn a_message_encrypted_to_a_third_node_is_not_for_this_node() {
    let w = world();
    let to_italy = w.directory.current_recipients(w.it.state, NOW);
    let sealed = seal_message(&submit_fr_de(), &w.fr.signing, &to_italy).unwrap();
    let err = open_at_de(&w, &sealed.ciphertext).unwrap_err();
    assert_eq!(err, ProtocolError::NotForThisNode);
    assert_eq!(err.code().http_status(), 400);
}

#[test]
fn a_message_to_another_state_is_a_wrong_recipient() {
    let w = world();
    let mut message = submit_fr_de();
    message.to = w.it.state;
    message.body = json!({ "draft": draft("FR", "IT") });
    // Encrypted to Germany as well, as a misrouting or replay would be.
    let sealed = seal_message(&message, &w.fr.signing, &recipients_fr_de(&w)).unwrap();
    let err = open_at_de(&w, &sealed.ciphertext).unwrap_err();
    assert_eq!(err.code(), ErrorCode::WrongRecipient);
    assert!(
        err.to_string().contains("IT") && err.to_string().contains("DE"),
        "{err}"
    );
}

#[test]
fn a_key_the_directory_does_not_list_is_unknown() {
    let w = world();
    let stranger = SigningKey::from_seed(&[77; 32]);
    let sealed = seal_message(&submit_fr_de(), &stranger, &recipients_fr_de(&w)).unwrap();
    let err = open_at_de(&w, &sealed.ciphertext).unwrap_err();
    assert_eq!(err.code(), ErrorCode::UnknownKey);
    assert_eq!(err.code().http_status(), 403);
    assert!(err.to_string().contains(&stranger.key_id()), "{err}");
}

#[test]
fn another_states_key_does_not_speak_for_the_sender() {
    let w = world();
    // Italy signs a message that claims to come from France.
    let sealed = seal_message(&submit_fr_de(), &w.it.signing, &recipients_fr_de(&w)).unwrap();
    let err = open_at_de(&w, &sealed.ciphertext).unwrap_err();
    match &err {
        ProtocolError::UnknownKey {
            state, listed_for, ..
        } => {
            assert_eq!(*state, w.fr.state);
            assert_eq!(*listed_for, Some(w.it.state));
        }
        other => panic!("expected unknown-key, got {other:?}"),
    }
    assert!(err.to_string().contains("lists it for IT"), "{err}");
}

#[test]
fn a_sender_without_an_entry_is_unknown() {
    let w = world();
    let mut message = submit_fr_de();
    message.from = state("ES");
    message.body = json!({ "draft": draft("ES", "DE") });
    let sealed = seal_message(&message, &w.fr.signing, &recipients_fr_de(&w)).unwrap();
    assert_eq!(code_at_de(&w, &sealed.ciphertext), ErrorCode::UnknownSender);
}

#[test]
fn a_rotated_key_verifies_only_what_it_signed_before_its_end() {
    let registry = registry_key();
    let (fr, de, it) = (Node::new("FR", 1), Node::new("DE", 2), Node::new("IT", 3));
    let new_fr = SigningKey::from_seed(&[11; 32]);
    let rotated_at = NOW - Duration::hours(1);
    let new_public = new_fr.verifying_key();
    // The rotated entry lists the old key with an end and the new key, and is
    // signed with the new key.
    let mut entries = Vec::new();
    for node in [&fr, &de, &it] {
        let mut entry = node.entry();
        let mut signer = &node.signing;
        if node.state == fr.state {
            entry.signing_keys[0].valid_until = Some(rotated_at);
            entry
                .signing_keys
                .push(KeyValidity::new(new_public, rotated_at));
            entry.issued_at = rotated_at;
            signer = &new_fr;
        }
        entries.push((entry, signer));
    }
    let list = signed_list(&registry, &entries);
    let directory =
        custos_protocol::Directory::verify(&list, &registry.verifying_key(), NOW).unwrap();
    let w = World {
        registry,
        fr,
        de,
        it,
        signed_list: list,
        directory,
    };

    let before = Message::submit(
        w.fr.state,
        w.de.state,
        thread(),
        None,
        rotated_at - Duration::minutes(10),
        draft("FR", "DE"),
    );
    let sealed = seal_message(&before, &w.fr.signing, &recipients_fr_de(&w)).unwrap();
    assert!(
        open_at_de(&w, &sealed.ciphertext).is_ok(),
        "old key before its end"
    );

    let at_end = Message {
        created_at: rotated_at,
        ..before.clone()
    };
    let sealed = seal_message(&at_end, &w.fr.signing, &recipients_fr_de(&w)).unwrap();
    let err = open_at_de(&w, &sealed.ciphertext).unwrap_err();
    assert_eq!(err.code(), ErrorCode::KeyNotValidAtTime, "{err}");

    let after = Message {
        created_at: NOW - Duration::minutes(1),
        ..before.clone()
    };
    let sealed = seal_message(&after, &w.fr.signing, &recipients_fr_de(&w)).unwrap();
    assert_eq!(
        code_at_de(&w, &sealed.ciphertext),
        ErrorCode::KeyNotValidAtTime
    );

    let sealed = seal_message(&after, &new_fr, &recipients_fr_de(&w)).unwrap();
    assert!(
        open_at_de(&w, &sealed.ciphertext).is_ok(),
        "new key after rotation"
    );

    // A message made before the rotation and signed again with the new key
    // (it waited in the sender's outbox) opens: the key is current now.
    let resigned = seal_message(&before, &new_fr, &recipients_fr_de(&w)).unwrap();
    let opened = open_at_de(&w, &resigned.ciphertext).expect("re-signed with the current key");
    assert_eq!(
        opened.id,
        seal_message(&before, &w.fr.signing, &recipients_fr_de(&w))
            .unwrap()
            .id
    );
    assert_eq!(opened.keyid, new_fr.key_id());
}

#[test]
fn a_revoked_key_verifies_nothing() {
    let registry = registry_key();
    let (fr, de, it) = (Node::new("FR", 1), Node::new("DE", 2), Node::new("IT", 3));
    let new_fr = SigningKey::from_seed(&[12; 32]);
    let mut entries = Vec::new();
    for node in [&fr, &de, &it] {
        let mut entry = node.entry();
        let mut signer = &node.signing;
        if node.state == fr.state {
            entry.signing_keys[0].revoked_at = Some(NOW - Duration::days(2));
            entry.signing_keys.push(KeyValidity::new(
                new_fr.verifying_key(),
                NOW - Duration::days(2),
            ));
            entry.issued_at = NOW - Duration::days(2);
            signer = &new_fr;
        }
        entries.push((entry, signer));
    }
    let list = signed_list(&registry, &entries);
    let directory =
        custos_protocol::Directory::verify(&list, &registry.verifying_key(), NOW).unwrap();
    let w = World {
        registry,
        fr,
        de,
        it,
        signed_list: list,
        directory,
    };
    // Even a message dated long before the revocation is refused.
    let old = Message {
        created_at: NOW - Duration::days(7),
        ..submit_fr_de()
    };
    let sealed = seal_message(&old, &w.fr.signing, &recipients_fr_de(&w)).unwrap();
    let err = open_at_de(&w, &sealed.ciphertext).unwrap_err();
    assert_eq!(err.code(), ErrorCode::KeyRevoked, "{err}");
    assert!(err.to_string().contains("revoked"), "{err}");
}

#[test]
fn an_expired_directory_verifies_nothing() {
    let w = world();
    let late = EXPIRES + Duration::seconds(1);
    let message = Message {
        created_at: late - Duration::minutes(1),
        ..submit_fr_de()
    };
    let sealed = seal_message(&message, &w.fr.signing, &recipients_fr_de(&w)).unwrap();
    let err = open_message(
        &sealed.ciphertext,
        std::slice::from_ref(&w.de.encryption),
        &w.directory,
        w.de.state,
        late,
        LIMIT,
    )
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::DirectoryExpired);
    assert_eq!(err.code().http_status(), 503);
}

#[test]
fn a_message_over_the_limit_is_too_large_before_anything_else() {
    let w = world();
    let sealed = seal_message(&submit_fr_de(), &w.fr.signing, &recipients_fr_de(&w)).unwrap();
    let limit = sealed.ciphertext.len() - 1;
    let err = open_message(
        &sealed.ciphertext,
        &[],
        &w.directory,
        w.de.state,
        NOW,
        limit,
    )
    .unwrap_err();
    assert_eq!(
        err,
        ProtocolError::TooLarge {
            size: limit + 1,
            limit
        }
    );
    assert_eq!(err.code().http_status(), 413);
    let exact = open_message(
        &sealed.ciphertext,
        std::slice::from_ref(&w.de.encryption),
        &w.directory,
        w.de.state,
        NOW,
        limit + 1,
    );
    assert!(exact.is_ok(), "{exact:?}");
}

#[test]
fn messages_from_the_future_or_too_old_are_refused_at_the_edges() {
    let w = world();
    let cases = [
        (NOW + Duration::minutes(5), None),
        (
            NOW + Duration::minutes(5) + Duration::microseconds(1),
            Some(ErrorCode::FromTheFuture),
        ),
        (NOW - Duration::days(8), None),
        (
            NOW - Duration::days(8) - Duration::microseconds(1),
            Some(ErrorCode::MessageExpired),
        ),
    ];
    for (created_at, expected) in cases {
        let message = Message {
            created_at,
            ..submit_fr_de()
        };
        let sealed = seal_message(&message, &w.fr.signing, &recipients_fr_de(&w)).unwrap();
        let got = open_at_de(&w, &sealed.ciphertext).err().map(|e| e.code());
        assert_eq!(got, expected, "created_at {created_at}");
    }
}

#[test]
fn an_invalid_draft_is_refused_with_its_validation_issues() {
    let w = world();
    let mut d = draft("FR", "DE");
    d.as_object_mut().unwrap().remove("facts");
    let message = Message::submit(w.fr.state, w.de.state, thread(), None, NOW, d);

    // The sender's own seal refuses it...
    let err = seal_message(&message, &w.fr.signing, &recipients_fr_de(&w)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidBody);

    // ...and so does the receiver when a careless sender sends it anyway.
    let ciphertext = hand_sealed(
        MessageKind::Submit.payload_type(),
        &payload_of(&message),
        &w.fr.signing,
        &w,
    );
    let err = open_at_de(&w, &ciphertext).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidBody);
    assert_eq!(err.code().http_status(), 422);
    let text = err.to_string();
    assert!(
        text.contains("missing-required") && text.contains("facts"),
        "{text}"
    );
}

#[test]
fn a_draft_naming_other_states_than_the_message_is_refused() {
    let w = world();
    let message = Message::submit(
        w.fr.state,
        w.de.state,
        thread(),
        None,
        NOW,
        draft("IT", "DE"),
    );
    let ciphertext = hand_sealed(
        MessageKind::Submit.payload_type(),
        &payload_of(&message),
        &w.fr.signing,
        &w,
    );
    let err = open_at_de(&w, &ciphertext).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidBody);
    assert!(
        err.to_string().contains("requesting_state is \"IT\""),
        "{err}"
    );
}

#[test]
fn a_refusal_that_fails_its_checks_is_an_invalid_body() {
    let w = world();
    let refusal = Refusal {
        grounds: vec![Ground::FiscalMatters],
        reasons: "Tax matter.".into(),
        consulted: true,
    };
    let message = Message::refuse(
        w.fr.state,
        w.de.state,
        thread(),
        submit_fr_de().id().unwrap(),
        NOW,
        refusal,
        None,
    );
    assert_eq!(
        seal_message(&message, &w.fr.signing, &recipients_fr_de(&w))
            .unwrap_err()
            .code(),
        ErrorCode::InvalidBody
    );
    let ciphertext = hand_sealed(
        MessageKind::Refuse.payload_type(),
        &payload_of(&message),
        &w.fr.signing,
        &w,
    );
    let err = open_at_de(&w, &ciphertext).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidBody);
    assert!(err.to_string().contains("solely"), "{err}");

    // A sound refusal goes through.
    let good = Message::refuse(
        w.fr.state,
        w.de.state,
        thread(),
        submit_fr_de().id().unwrap(),
        NOW,
        Refusal {
            grounds: vec![Ground::EssentialInterests],
            reasons: "Execution would prejudice essential interests.".into(),
            consulted: true,
        },
        Some("After consultation on 20 November.".into()),
    );
    let sealed = seal_message(&good, &w.fr.signing, &recipients_fr_de(&w)).unwrap();
    assert_eq!(open_at_de(&w, &sealed.ciphertext).unwrap().message, good);
}

#[test]
fn unknown_fields_in_a_body_are_refused() {
    let w = world();
    let mut value: Value = serde_json::from_slice(&payload_of(&acknowledge_de_fr(
        submit_fr_de().id().unwrap(),
        NOW,
    )))
    .unwrap();
    // Turn it round: France acknowledges to Germany, with an extra body field.
    value["from"] = json!("FR");
    value["to"] = json!("DE");
    value["body"]["urgent"] = json!(true);
    let ciphertext = hand_sealed_value(&w, MessageKind::Acknowledge, &value);
    let err = open_at_de(&w, &ciphertext).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidBody);
    assert!(err.to_string().contains("urgent"), "{err}");
}

#[test]
fn a_note_written_as_null_is_an_invalid_body() {
    let w = world();
    let mut message = Message::with_note(
        MessageKind::Close,
        w.fr.state,
        w.de.state,
        thread(),
        submit_fr_de().id().unwrap(),
        NOW,
        None,
    )
    .unwrap();
    message.body = json!({"note": null});
    let ciphertext = hand_sealed(
        MessageKind::Close.payload_type(),
        &payload_of(&message),
        &w.fr.signing,
        &w,
    );
    assert_eq!(code_at_de(&w, &ciphertext), ErrorCode::InvalidBody);
}

#[test]
fn a_non_canonical_payload_is_refused() {
    let w = world();
    let pretty = serde_json::to_vec_pretty(&submit_value()).unwrap();
    let ciphertext = hand_sealed(
        MessageKind::Submit.payload_type(),
        &pretty,
        &w.fr.signing,
        &w,
    );
    let err = open_at_de(&w, &ciphertext).unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotCanonical);
}

#[test]
fn a_payload_type_of_another_kind_is_a_mismatch() {
    let w = world();
    let ciphertext = hand_sealed(
        MessageKind::Acknowledge.payload_type(),
        &payload_of(&submit_fr_de()),
        &w.fr.signing,
        &w,
    );
    let err = open_at_de(&w, &ciphertext).unwrap_err();
    assert_eq!(err.code(), ErrorCode::PayloadTypeMismatch);
    assert!(err.to_string().contains("submit"), "{err}");
}

#[test]
fn an_unknown_kind_is_refused_by_payload_type_and_by_field() {
    let w = world();
    let ciphertext = hand_sealed(
        "application/vnd.custos.message.frobnicate.v1+json",
        &payload_of(&submit_fr_de()),
        &w.fr.signing,
        &w,
    );
    assert_eq!(code_at_de(&w, &ciphertext), ErrorCode::UnknownPayloadType);

    let mut value = submit_value();
    value["kind"] = json!("frobnicate");
    let ciphertext = hand_sealed_value(&w, MessageKind::Submit, &value);
    let err = open_at_de(&w, &ciphertext).unwrap_err();
    assert_eq!(err.code(), ErrorCode::MalformedMessage);
    assert!(err.to_string().contains("frobnicate"), "{err}");
}

#[test]
fn other_protocol_versions_are_unsupported() {
    let w = world();
    let mut value = submit_value();
    value["v"] = json!(2);
    value["extra_in_v2"] = json!("x");
    let ciphertext = hand_sealed_value(&w, MessageKind::Submit, &value);
    assert_eq!(code_at_de(&w, &ciphertext), ErrorCode::UnsupportedVersion);

    let ciphertext = hand_sealed(
        "application/vnd.custos.message.submit.v2+json",
        &payload_of(&submit_fr_de()),
        &w.fr.signing,
        &w,
    );
    assert_eq!(code_at_de(&w, &ciphertext), ErrorCode::UnsupportedVersion);
}

#[test]
fn malformed_messages_name_the_field() {
    let w = world();
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: [(&str, Edit); 5] = [
        (
            "prev",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("prev");
            }),
        ),
        ("surprise", Box::new(|v| v["surprise"] = json!(1))),
        (
            "created_at",
            Box::new(|v| v["created_at"] = json!("2026-11-28T10:00:00Z")),
        ),
        ("thr-", Box::new(|v| v["thread"] = json!("request-1"))),
        ("sha256", Box::new(|v| v["prev"] = json!("sha256:XYZ"))),
    ];
    for (needle, edit) in cases {
        let mut value = submit_value();
        edit(&mut value);
        let ciphertext = hand_sealed_value(&w, MessageKind::Submit, &value);
        let err = open_at_de(&w, &ciphertext).unwrap_err();
        assert_eq!(err.code(), ErrorCode::MalformedMessage, "{needle}: {err}");
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    }
    let ciphertext = hand_sealed(
        MessageKind::Submit.payload_type(),
        b"[1,2]",
        &w.fr.signing,
        &w,
    );
    assert_eq!(code_at_de(&w, &ciphertext), ErrorCode::MalformedMessage);
}

#[test]
fn a_message_between_a_state_and_itself_is_malformed() {
    let w = world();
    let mut value: Value = serde_json::from_slice(&payload_of(&acknowledge_de_fr(
        submit_fr_de().id().unwrap(),
        NOW,
    )))
    .unwrap();
    value["from"] = json!("DE");
    value["to"] = json!("DE");
    let envelope = Envelope::sign(
        MessageKind::Acknowledge.payload_type(),
        &custos_seal::canonical_json(&value).unwrap(),
        &w.de.signing,
    );
    let err = open_at_de(&w, &encrypt_to(&envelope, &[&w.de])).unwrap_err();
    assert_eq!(err.code(), ErrorCode::MalformedMessage);
}

#[test]
fn prev_must_fit_the_kind() {
    let w = world();
    let id = submit_fr_de().id().unwrap();
    let submit_with_prev = Message {
        prev: Some(id.clone()),
        ..submit_fr_de()
    };
    let err = seal_message(&submit_with_prev, &w.fr.signing, &recipients_fr_de(&w)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::OutOfOrder);
    let ciphertext = hand_sealed(
        MessageKind::Submit.payload_type(),
        &payload_of(&submit_with_prev),
        &w.fr.signing,
        &w,
    );
    assert_eq!(code_at_de(&w, &ciphertext), ErrorCode::OutOfOrder);

    let reply_without_prev = Message::new(
        MessageKind::Withdraw,
        w.fr.state,
        w.de.state,
        thread(),
        None,
        NOW,
        json!({}),
    );
    let ciphertext = hand_sealed(
        MessageKind::Withdraw.payload_type(),
        &payload_of(&reply_without_prev),
        &w.fr.signing,
        &w,
    );
    assert_eq!(code_at_de(&w, &ciphertext), ErrorCode::OutOfOrder);
}

#[test]
fn malformed_envelopes_are_refused() {
    let w = world();
    let not_json =
        custos_seal::encrypt(b"not an envelope", &[w.de.encryption.recipient()]).unwrap();
    assert_eq!(code_at_de(&w, &not_json), ErrorCode::MalformedEnvelope);

    let mut twice = Envelope::sign(
        MessageKind::Submit.payload_type(),
        &payload_of(&submit_fr_de()),
        &w.fr.signing,
    );
    twice.add_signature(&w.fr.signing);
    assert_eq!(
        code_at_de(&w, &encrypt_to(&twice, &[&w.de])),
        ErrorCode::MalformedEnvelope
    );

    let mut unsigned = twice.clone();
    unsigned.signatures.clear();
    assert_eq!(
        code_at_de(&w, &encrypt_to(&unsigned, &[&w.de])),
        ErrorCode::MalformedEnvelope
    );
}

#[test]
fn a_signature_that_does_not_verify_is_refused() {
    let w = world();
    let payload = payload_of(&submit_fr_de());
    // France's key id, Italy's signature.
    let forged = Envelope {
        payload_type: MessageKind::Submit.payload_type().to_owned(),
        payload: payload.clone(),
        signatures: vec![EnvelopeSignature {
            keyid: w.fr.signing.key_id(),
            sig: w
                .it
                .signing
                .sign(&custos_seal::pae(
                    MessageKind::Submit.payload_type(),
                    &payload,
                ))
                .to_vec(),
        }],
    };
    let err = open_at_de(&w, &encrypt_to(&forged, &[&w.de])).unwrap_err();
    assert_eq!(err.code(), ErrorCode::SignatureInvalid);

    // One altered byte of the signed payload, still canonical JSON.
    let mut altered = Envelope::sign(MessageKind::Submit.payload_type(), &payload, &w.fr.signing);
    let text = String::from_utf8(altered.payload.clone()).unwrap();
    altered.payload = text.replacen("hospital", "hospitaL", 1).into_bytes();
    assert_ne!(altered.payload, payload);
    let err = open_at_de(&w, &encrypt_to(&altered, &[&w.de])).unwrap_err();
    assert_eq!(err.code(), ErrorCode::SignatureInvalid);
}

#[test]
fn a_ciphertext_that_is_not_age_is_malformed() {
    let w = world();
    assert_eq!(code_at_de(&w, b"hello"), ErrorCode::MalformedCiphertext);
    let sealed = seal_message(&submit_fr_de(), &w.fr.signing, &recipients_fr_de(&w)).unwrap();
    let truncated = &sealed.ciphertext[..sealed.ciphertext.len() - 1];
    assert_eq!(code_at_de(&w, truncated), ErrorCode::MalformedCiphertext);
}

#[test]
fn an_older_identity_still_opens_messages_sealed_to_it() {
    let w = world();
    let fresh = custos_seal::EncryptionIdentity::generate();
    let sealed = seal_message(&submit_fr_de(), &w.fr.signing, &recipients_fr_de(&w)).unwrap();
    let opened = open_message(
        &sealed.ciphertext,
        &[fresh, w.de.encryption.clone()],
        &w.directory,
        w.de.state,
        NOW,
        LIMIT,
    );
    assert!(opened.is_ok(), "{opened:?}");
}

#[test]
fn error_answers_carry_code_and_sentence() {
    let err = ProtocolError::NotForThisNode;
    let body = serde_json::to_value(err.to_response()).unwrap();
    assert_eq!(body["error"]["code"], "not-for-this-node");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not encrypted")
    );
    assert!(body.get("receipt").is_none());
    let back: custos_protocol::ErrorResponse = serde_json::from_value(body).unwrap();
    assert_eq!(back.code(), Some(ErrorCode::NotForThisNode));
}

/// A submission sealed with its draft's report (validated once, by the
/// sender) is the same message as one sealed with every check run again,
/// and is refused where `seal_message` refuses it: a report with errors, a
/// draft whose States are not the message's, a body with another member.
#[test]
fn a_submission_sealed_with_its_report_is_checked_like_any_other() {
    use custos_model::validate;
    use custos_protocol::seal_submission;
    let w = world();
    let message = submit_fr_de();
    let draft = message.draft().unwrap().clone();
    let report = validate::validate(&draft);
    assert!(report.is_valid());
    let sealed = seal_submission(&message, &report, &w.fr.signing, &recipients_fr_de(&w)).unwrap();
    assert_eq!(sealed.id, message.id().unwrap());
    let opened = open_at_de(&w, &sealed.ciphertext).unwrap();
    assert_eq!(opened.message, message);

    let mut broken = draft.clone();
    broken.as_object_mut().unwrap().remove("kind");
    let failing = validate::validate(&broken);
    let err =
        seal_submission(&message, &failing, &w.fr.signing, &recipients_fr_de(&w)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidBody, "{err}");

    let mut elsewhere = message.clone();
    elsewhere.body["draft"]["requested_state"] = json!("NL");
    let err =
        seal_submission(&elsewhere, &report, &w.fr.signing, &recipients_fr_de(&w)).unwrap_err();
    assert!(err.to_string().contains("requested_state"), "{err}");

    let mut extra = message.clone();
    extra.body["note"] = json!("hello");
    let err = seal_submission(&extra, &report, &w.fr.signing, &recipients_fr_de(&w)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidBody, "{err}");
    assert_eq!(
        seal_message(&extra, &w.fr.signing, &recipients_fr_de(&w))
            .unwrap_err()
            .code(),
        ErrorCode::InvalidBody
    );
}
