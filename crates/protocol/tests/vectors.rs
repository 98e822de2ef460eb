//! Known-answer vectors for independent implementations, committed under
//! `tests/data/`: a directory of two States, a message and its envelope, and
//! the receipt for it, all made from fixed test keys (Ed25519 signatures are
//! deterministic). The tests rebuild every file byte for byte and check that
//! the committed files verify; set `CUSTOS_UPDATE_VECTORS=1` to rewrite them
//! after a deliberate format change. The format documents are checked to
//! carry the current error-code table and the vector's message id.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

use std::path::PathBuf;

use custos_protocol::{
    Directory, DirectoryEntry, DirectoryList, ErrorCode, KeyValidity, Message, MessageId,
    MessageKind, Receipt, new_thread_id, sign_receipt, verify_message_envelope, verify_receipt,
};
use custos_seal::{EncryptionRecipient, Envelope, SigningKey};
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

const NOW: OffsetDateTime = datetime!(2026-11-28 10:00:01 UTC);

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn docs(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/formats")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compares `actual` with the committed file (rewriting it first when asked).
fn check(name: &str, actual: &[u8]) -> Vec<u8> {
    let path = data(name);
    if std::env::var_os("CUSTOS_UPDATE_VECTORS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        String::from_utf8_lossy(&committed),
        String::from_utf8_lossy(actual),
        "{name} differs from what the code produces; if the change is deliberate, rerun with CUSTOS_UPDATE_VECTORS=1"
    );
    committed
}

struct Keys {
    registry: SigningKey,
    fr: SigningKey,
    de: SigningKey,
}

fn keys() -> Keys {
    Keys {
        registry: SigningKey::from_seed(&[0x09; 32]),
        fr: SigningKey::from_seed(&[0x01; 32]),
        de: SigningKey::from_seed(&[0x02; 32]),
    }
}

fn entry(state: &str, signing: &SigningKey, recipient: &str) -> DirectoryEntry {
    DirectoryEntry {
        v: 1,
        state: state.parse().unwrap(),
        name: format!("{state} example node"),
        node_url: format!("https://custos.{}.example", state.to_lowercase()),
        signing_keys: vec![KeyValidity::new(
            signing.verifying_key(),
            datetime!(2026-01-01 00:00 UTC),
        )],
        encryption_keys: vec![KeyValidity::new(
            EncryptionRecipient::from_text(recipient).unwrap(),
            datetime!(2026-01-01 00:00 UTC),
        )],
        contact_24_7: Some("+00 0 00 00 00 00".into()),
        central_authority: Some("Ministry of Justice".into()),
        languages: vec!["en".into()],
        treaty_status: None,
        issued_at: datetime!(2026-11-01 00:00 UTC),
    }
}

fn directory_json(k: &Keys) -> Vec<u8> {
    let fr = entry(
        "FR",
        &k.fr,
        "age1h59t9spakd8xlha74mqlreyrgdmdg7fxpkhtryu9fpmgt5y3zgzsaetdc7",
    );
    let de = entry(
        "DE",
        &k.de,
        "age1h9ex5twkug8mdpv3hfpkuvunj5z0206hwp3ssy5mqmh6vjf22q0sdng459",
    );
    DirectoryList::new(
        1,
        "Example registry",
        datetime!(2026-11-01 00:00 UTC),
        datetime!(2027-01-01 00:00 UTC),
        vec![fr.sign(&k.fr).unwrap(), de.sign(&k.de).unwrap()],
    )
    .sign(&k.registry)
    .unwrap()
}

fn message() -> Message {
    Message::with_note(
        MessageKind::Acknowledge,
        "DE".parse().unwrap(),
        "FR".parse().unwrap(),
        new_thread_id(Uuid::from_u128(0x0f0e_0d0c_0b0a_4908_8706_0504_0302_0100)),
        MessageId::of_payload(b"example submit"),
        datetime!(2026-11-28 10:00:00.123456 UTC),
        Some("Received; preservation ordered.".into()),
    )
    .unwrap()
}

#[test]
fn the_committed_vectors_are_what_the_code_produces_and_they_verify() {
    let k = keys();
    let directory_file = check("directory.dsse.json", &directory_json(&k));
    let directory = Directory::verify(&directory_file, &k.registry.verifying_key(), NOW).unwrap();

    let message = message();
    let payload = check(
        "acknowledge.payload.json",
        &message.to_canonical_json().unwrap(),
    );
    let id = MessageId::of_payload(&payload);
    check("acknowledge.id.txt", format!("{id}\n").as_bytes());
    let envelope = Envelope::sign(MessageKind::Acknowledge.payload_type(), &payload, &k.de);
    let envelope_file = check("acknowledge.dsse.json", &envelope.to_json());
    let opened =
        verify_message_envelope(envelope_file, &directory, "FR".parse().unwrap(), NOW).unwrap();
    assert_eq!(opened.message, message);
    assert_eq!(opened.id, id);

    let receipt = Receipt::for_message(&opened, NOW);
    let receipt_file = check("receipt.dsse.json", &sign_receipt(&receipt, &k.fr).unwrap());
    let verified =
        verify_receipt(&receipt_file, &directory, &id, "FR".parse().unwrap(), NOW).unwrap();
    assert_eq!(verified, receipt);
}

#[test]
fn the_format_documents_are_current() {
    let messages = docs("messages.md");
    assert!(
        messages.contains(&ErrorCode::markdown_table()),
        "docs/formats/messages.md must contain the table printed by ErrorCode::markdown_table()"
    );
    let id = std::fs::read_to_string(data("acknowledge.id.txt")).unwrap();
    assert!(
        messages.contains(id.trim()),
        "messages.md quotes the vector's id"
    );
    let payload = std::fs::read_to_string(data("acknowledge.payload.json")).unwrap();
    assert!(
        messages.contains(&payload),
        "messages.md quotes the vector's payload"
    );
    for kind in MessageKind::ALL {
        assert!(messages.contains(kind.payload_type()), "{kind}");
    }

    let directory = docs("directory.md");
    for needle in [
        custos_protocol::DIRECTORY_PAYLOAD_TYPE,
        custos_protocol::DIRECTORY_ENTRY_PAYLOAD_TYPE,
        "tests/data/directory.dsse.json",
    ] {
        assert!(directory.contains(needle), "directory.md mentions {needle}");
    }
}
