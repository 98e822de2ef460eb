//! The signed directory: a list of three self-signed entries countersigned by
//! the registry verifies and answers questions about keys; every way of
//! breaking it (wrong registry key, expiry, an entry signed by a key it does
//! not list, a State twice, an altered byte, a newer format) is refused.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

mod common;

use common::*;
use custos_protocol::{
    DIRECTORY_ENTRY_PAYLOAD_TYPE, DIRECTORY_PAYLOAD_TYPE, Directory, DirectoryList, ErrorCode,
    KeyValidity, ProtocolError,
};
use custos_seal::{Envelope, SigningKey};
use serde_json::{Value, json};
use time::Duration;

fn detail(err: &ProtocolError) -> String {
    match err {
        ProtocolError::InvalidDirectory { detail } => detail.clone(),
        other => panic!("expected invalid-directory, got {other:?}"),
    }
}

#[test]
fn a_signed_list_verifies_and_answers_questions() {
    let w = world();
    let d = &w.directory;
    assert_eq!(d.version(), 7);
    assert_eq!(d.registry(), "Test registry");
    assert_eq!(d.expires_at(), EXPIRES);
    assert_eq!(d.issued_at(), ISSUED);
    assert_eq!(d.entries().len(), 3);
    assert_eq!(d.node_url(w.de.state), Some("https://custos.de.example"));
    assert_eq!(d.node_url(state("ES")), None);
    assert_eq!(
        d.current_recipients(w.it.state, NOW),
        vec![w.it.encryption.recipient()]
    );
    assert!(d.current_recipients(state("ES"), NOW).is_empty());
    let key = d.sender_key(w.fr.state, &w.fr.signing.key_id()).unwrap();
    assert_eq!(key.key, w.fr.signing.verifying_key());
    assert!(d.sender_key(w.de.state, &w.fr.signing.key_id()).is_none());
    assert_eq!(d.key_owner(&w.it.signing.key_id()), Some(w.it.state));
    assert_eq!(d.entry(w.fr.state).unwrap(), &w.fr.entry());
    let signed = d.signed_entry(w.fr.state).unwrap();
    assert_eq!(
        custos_protocol::DirectoryEntry::from_signed(signed).unwrap(),
        w.fr.entry()
    );
    assert!(!d.is_expired_at(NOW));
    assert!(d.is_expired_at(EXPIRES));
}

#[test]
fn the_list_file_is_a_dsse_envelope_of_canonical_json() {
    let w = world();
    let envelope = Envelope::from_json(&w.signed_list).unwrap();
    assert_eq!(envelope.payload_type, DIRECTORY_PAYLOAD_TYPE);
    assert_eq!(envelope.signatures[0].keyid, w.registry.key_id());
    custos_seal::ensure_canonical(&envelope.payload).unwrap();
    let list: Value = serde_json::from_slice(&envelope.payload).unwrap();
    assert_eq!(list["v"], 1);
    assert_eq!(list["version"], 7);
    assert_eq!(list["expires_at"], "2026-12-31T00:00:00.000000Z");
    let entry = &list["entries"][0];
    assert_eq!(entry["payloadType"], DIRECTORY_ENTRY_PAYLOAD_TYPE);
}

#[test]
fn a_list_signed_by_another_key_is_refused() {
    let w = world();
    let other = SigningKey::from_seed(&[42; 32]);
    let err = Directory::verify(&w.signed_list, &other.verifying_key(), NOW).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidDirectory);
    assert!(detail(&err).contains("registry key"), "{err}");
}

#[test]
fn an_expired_list_is_refused() {
    let w = world();
    let key = w.registry.verifying_key();
    assert!(Directory::verify(&w.signed_list, &key, EXPIRES - Duration::microseconds(1)).is_ok());
    let err = Directory::verify(&w.signed_list, &key, EXPIRES).unwrap_err();
    assert_eq!(err.code(), ErrorCode::DirectoryExpired);
}

#[test]
fn an_entry_signed_by_a_key_it_does_not_list_is_refused() {
    let w = world();
    let fr_entry = w.fr.entry();
    // `sign` itself refuses to make such an entry.
    let err = fr_entry.sign(&w.it.signing).unwrap_err();
    assert!(detail(&err).contains("does not list"), "{err}");

    // Built by hand (as a registry forging France's entry would).
    let payload = custos_seal::canonical_json(&fr_entry).unwrap();
    let forged = Envelope::sign(DIRECTORY_ENTRY_PAYLOAD_TYPE, &payload, &w.it.signing);
    let list = DirectoryList::new(
        8,
        "Test registry",
        ISSUED,
        EXPIRES,
        vec![forged, w.de.entry().sign(&w.de.signing).unwrap()],
    )
    .sign(&w.registry)
    .unwrap();
    let err = Directory::verify(&list, &w.registry.verifying_key(), NOW).unwrap_err();
    let text = detail(&err);
    assert!(
        text.contains("entries[0]") && text.contains("FR") && text.contains("does not list"),
        "{text}"
    );
}

#[test]
fn an_entry_signed_by_a_revoked_or_not_yet_valid_key_is_refused() {
    let w = world();
    let mut revoked = w.fr.entry();
    revoked.signing_keys[0].revoked_at = Some(ISSUED);
    assert!(detail(&revoked.sign(&w.fr.signing).unwrap_err()).contains("revoked"));

    let mut early = w.fr.entry();
    early.signing_keys[0].valid_from = ISSUED + Duration::days(1);
    assert!(detail(&early.sign(&w.fr.signing).unwrap_err()).contains("not valid"));
}

#[test]
fn a_state_listed_twice_is_refused() {
    let w = world();
    let second_fr = {
        let mut e = w.fr.entry();
        e.node_url = "https://elsewhere.example".into();
        e.sign(&w.fr.signing).unwrap()
    };
    let list = DirectoryList::new(
        8,
        "Test registry",
        ISSUED,
        EXPIRES,
        vec![w.fr.entry().sign(&w.fr.signing).unwrap(), second_fr],
    )
    .sign(&w.registry)
    .unwrap();
    let err = Directory::verify(&list, &w.registry.verifying_key(), NOW).unwrap_err();
    assert!(detail(&err).contains("FR has more than one entry"), "{err}");
}

#[test]
fn a_signing_key_listed_for_two_states_is_refused() {
    let w = world();
    let mut de = w.de.entry();
    de.signing_keys
        .push(KeyValidity::new(w.fr.signing.verifying_key(), ISSUED));
    let list = DirectoryList::new(
        8,
        "Test registry",
        ISSUED,
        EXPIRES,
        vec![
            w.fr.entry().sign(&w.fr.signing).unwrap(),
            de.sign(&w.de.signing).unwrap(),
        ],
    )
    .sign(&w.registry)
    .unwrap();
    let err = Directory::verify(&list, &w.registry.verifying_key(), NOW).unwrap_err();
    assert!(detail(&err).contains("both FR and DE"), "{err}");
}

#[test]
fn an_altered_byte_in_the_signed_list_is_refused() {
    let w = world();
    let key = w.registry.verifying_key();
    // Change one byte of the signed payload and keep the signature.
    let mut envelope = Envelope::from_json(&w.signed_list).unwrap();
    let at = envelope
        .payload
        .windows(8)
        .position(|s| s == b"registry")
        .unwrap();
    envelope.payload[at] = b'R';
    let err = Directory::verify(&envelope.to_json(), &key, NOW).unwrap_err();
    assert!(detail(&err).contains("registry signature"), "{err}");

    // One byte of the file, anywhere in a spread of positions.
    let len = w.signed_list.len();
    for position in (0..len).step_by(len / 97 + 1) {
        let mut bytes = w.signed_list.clone();
        bytes[position] ^= 0x01;
        assert!(
            Directory::verify(&bytes, &key, NOW).is_err(),
            "flipping byte {position} was accepted"
        );
    }
}

#[test]
fn an_altered_entry_inside_a_validly_countersigned_list_is_refused() {
    let w = world();
    let mut signed_fr = w.fr.entry().sign(&w.fr.signing).unwrap();
    let text = String::from_utf8(signed_fr.payload.clone()).unwrap();
    signed_fr.payload = text
        .replace("https://custos.fr.example", "https://attacker.example")
        .into_bytes();
    let list = DirectoryList::new(8, "Test registry", ISSUED, EXPIRES, vec![signed_fr])
        .sign(&w.registry)
        .unwrap();
    let err = Directory::verify(&list, &w.registry.verifying_key(), NOW).unwrap_err();
    assert!(
        detail(&err).contains("self-signature does not verify"),
        "{err}"
    );
}

#[test]
fn malformed_entries_name_the_field() {
    let w = world();
    let base = serde_json::to_value(w.fr.entry()).unwrap();
    let cases: [(&str, Value); 5] = [
        (
            "signing_keys[0]",
            json!([{"key": "ed25519:nope", "valid_from": "2026-01-01T00:00:00.000000Z"}]),
        ),
        ("issued_at", json!("yesterday")),
        ("node_url", json!("ftp://custos.fr.example")),
        ("name", json!("  ")),
        ("web_site", json!("https://example.org")),
    ];
    for (field, value) in cases {
        let mut entry = base.clone();
        let name = field.split('[').next().unwrap();
        entry[name] = value;
        let payload = custos_seal::canonical_json(&entry).unwrap();
        let signed = Envelope::sign(DIRECTORY_ENTRY_PAYLOAD_TYPE, &payload, &w.fr.signing);
        let err = custos_protocol::DirectoryEntry::from_signed(&signed).unwrap_err();
        assert!(detail(&err).contains(field), "{field}: {err}");
    }
}

#[test]
fn a_newer_list_format_is_an_unsupported_version() {
    let w = world();
    let envelope = Envelope::from_json(&w.signed_list).unwrap();
    let mut list: Value = serde_json::from_slice(&envelope.payload).unwrap();
    list["v"] = json!(2);
    let payload = custos_seal::canonical_json(&list).unwrap();
    let resigned = Envelope::sign(DIRECTORY_PAYLOAD_TYPE, &payload, &w.registry).to_json();
    let err = Directory::verify(&resigned, &w.registry.verifying_key(), NOW).unwrap_err();
    assert_eq!(err.code(), ErrorCode::UnsupportedVersion);
}

#[test]
fn a_list_of_another_payload_type_or_a_bad_header_is_refused() {
    let w = world();
    let envelope = Envelope::from_json(&w.signed_list).unwrap();
    let other = Envelope::sign(
        "application/vnd.custos.receipt.v1+json",
        &envelope.payload,
        &w.registry,
    );
    let err = Directory::verify(&other.to_json(), &w.registry.verifying_key(), NOW).unwrap_err();
    assert!(detail(&err).contains("payload type"), "{err}");

    let backwards = DirectoryList::new(8, "Test registry", EXPIRES, ISSUED, vec![]);
    assert!(detail(&backwards.sign(&w.registry).unwrap_err()).contains("expires_at"));
    let huge = DirectoryList::new(1 << 53, "Test registry", ISSUED, EXPIRES, vec![]);
    assert!(detail(&huge.sign(&w.registry).unwrap_err()).contains("version"));
}

#[test]
fn a_new_list_must_follow_the_one_held() {
    let w = world();
    let key = w.registry.verifying_key();
    let same = Directory::verify(&w.signed_list, &key, NOW).unwrap();
    assert!(detail(&same.check_succession(&w.directory).unwrap_err()).contains("version"));

    // A rotation that keeps the old key listed is a valid successor.
    let new_fr = SigningKey::from_seed(&[21; 32]);
    let mut rotated = w.fr.entry();
    rotated.signing_keys[0].valid_until = Some(NOW);
    rotated
        .signing_keys
        .push(KeyValidity::new(new_fr.verifying_key(), NOW));
    rotated.issued_at = NOW;
    let make = |fr_entry: custos_protocol::DirectoryEntry| {
        let list = DirectoryList::new(
            8,
            "Test registry",
            NOW,
            EXPIRES,
            vec![
                fr_entry.sign(&new_fr).unwrap(),
                w.de.entry().sign(&w.de.signing).unwrap(),
            ],
        )
        .sign(&w.registry)
        .unwrap();
        Directory::verify(&list, &key, NOW).unwrap()
    };
    make(rotated.clone())
        .check_succession(&w.directory)
        .unwrap();

    // Dropping the old key would leave old messages unverifiable.
    let mut dropped = rotated;
    dropped.signing_keys.remove(0);
    let err = make(dropped).check_succession(&w.directory).unwrap_err();
    assert!(detail(&err).contains("no longer lists"), "{err}");
}

/// Plain http:// is for a node on the same machine only: an entry naming
/// another host over http:// is refused when it is signed and when a signed
/// one is read (as importing or verifying a directory does).
#[test]
fn plain_http_is_allowed_only_to_loopback() {
    let w = world();
    for url in [
        "http://127.0.0.1:8443",
        "http://127.8.9.10/custos",
        "http://[::1]:8080",
        "http://localhost",
        "http://LOCALHOST:1/",
        "https://custos.fr.example",
    ] {
        let mut entry = w.fr.entry();
        entry.node_url = url.into();
        let signed = entry.sign(&w.fr.signing).unwrap();
        custos_protocol::DirectoryEntry::from_signed(&signed).unwrap();
    }
    let base = serde_json::to_value(w.fr.entry()).unwrap();
    for url in [
        "http://custos.fr.example",
        "http://10.0.0.1:8443",
        "http://128.0.0.1",
        "http://[::2]:80",
        "http://localhost.example.org",
        "http://localhost@evil.example",
        "http://127.0.0.1@evil.example/",
        "http://127.0.0.1:80x",
        "http://[::1",
    ] {
        let mut entry = w.fr.entry();
        entry.node_url = url.into();
        let err = entry.sign(&w.fr.signing).unwrap_err();
        assert!(detail(&err).contains("not loopback"), "{url}: {err}");
        // Signed by hand, as a careless or hostile State might: refused on reading.
        let mut value = base.clone();
        value["node_url"] = json!(url);
        let payload = custos_seal::canonical_json(&value).unwrap();
        let signed = Envelope::sign(DIRECTORY_ENTRY_PAYLOAD_TYPE, &payload, &w.fr.signing);
        let err = custos_protocol::DirectoryEntry::from_signed(&signed).unwrap_err();
        assert!(detail(&err).contains("not loopback"), "{url}: {err}");
    }
}
