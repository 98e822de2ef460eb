//! Shared fixtures for the protocol's integration tests: three States (France,
//! Germany, Italy) with real keys, a registry key, a signed and verified
//! directory of the three, a valid request draft, and helpers that build
//! envelopes by hand for the refusal cases `seal_message` would never produce.

#![allow(dead_code)] // each test file uses a different part of the fixtures
#![allow(clippy::unwrap_used)] // a panic in a fixture is a failed test

use custos_model::RequestKind;
use custos_model::StateCode;
use custos_protocol::{
    Directory, DirectoryEntry, DirectoryList, KeyValidity, Message, MessageId, new_thread_id,
};
use custos_seal::{EncryptionIdentity, Envelope, SigningKey};
use serde_json::Value;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The receiving node's clock in every test.
pub const NOW: OffsetDateTime = datetime!(2026-11-28 10:00:00.123456 UTC);
/// When the directory entries were issued.
pub const ISSUED: OffsetDateTime = datetime!(2026-11-01 00:00 UTC);
/// When the test directory expires.
pub const EXPIRES: OffsetDateTime = datetime!(2026-12-31 00:00 UTC);
/// A generous size limit.
pub const LIMIT: usize = 1 << 20;

pub fn state(code: &str) -> StateCode {
    code.parse().unwrap()
}

/// One State's node keys.
#[derive(Clone, Debug)]
pub struct Node {
    pub state: StateCode,
    pub signing: SigningKey,
    pub encryption: EncryptionIdentity,
}

impl Node {
    pub fn new(code: &str, seed: u8) -> Self {
        Self {
            state: state(code),
            signing: SigningKey::from_seed(&[seed; 32]),
            encryption: EncryptionIdentity::generate(),
        }
    }

    /// An entry listing this node's two keys, valid from well before the tests.
    pub fn entry(&self) -> DirectoryEntry {
        DirectoryEntry {
            v: 1,
            state: self.state,
            name: format!("{} test node", self.state),
            node_url: format!(
                "https://custos.{}.example",
                self.state.as_str().to_lowercase()
            ),
            signing_keys: vec![KeyValidity::new(
                self.signing.verifying_key(),
                datetime!(2026-01-01 00:00 UTC),
            )],
            encryption_keys: vec![KeyValidity::new(
                self.encryption.recipient(),
                datetime!(2026-01-01 00:00 UTC),
            )],
            contact_24_7: Some("+00 0 00 00 00 00".into()),
            central_authority: Some("Ministry of Justice".into()),
            languages: vec!["en".into(), "fr".into()],
            treaty_status: Some("registry:ratified".into()),
            issued_at: ISSUED,
        }
    }
}

/// Three States, a registry and the directory they make.
#[derive(Debug)]
pub struct World {
    pub registry: SigningKey,
    pub fr: Node,
    pub de: Node,
    pub it: Node,
    pub signed_list: Vec<u8>,
    pub directory: Directory,
}

pub fn registry_key() -> SigningKey {
    SigningKey::from_seed(&[9; 32])
}

/// Signs each entry with the given key and the list with the registry key.
pub fn signed_list(registry: &SigningKey, entries: &[(DirectoryEntry, &SigningKey)]) -> Vec<u8> {
    let signed = entries
        .iter()
        .map(|(entry, key)| entry.sign(key).unwrap())
        .collect();
    DirectoryList::new(7, "Test registry", ISSUED, EXPIRES, signed)
        .sign(registry)
        .unwrap()
}

pub fn world() -> World {
    let registry = registry_key();
    let (fr, de, it) = (Node::new("FR", 1), Node::new("DE", 2), Node::new("IT", 3));
    world_with(registry, fr, de, it, |_, _| {})
}

/// A world whose entries `edit` may change before they are signed (the
/// closure also sees which State's entry it holds).
pub fn world_with(
    registry: SigningKey,
    fr: Node,
    de: Node,
    it: Node,
    edit: impl Fn(StateCode, &mut DirectoryEntry),
) -> World {
    let mut entries = Vec::new();
    for node in [&fr, &de, &it] {
        let mut entry = node.entry();
        edit(node.state, &mut entry);
        entries.push((entry, &node.signing));
    }
    let signed_list = signed_list(&registry, &entries);
    let directory = Directory::verify(&signed_list, &registry.verifying_key(), NOW).unwrap();
    World {
        registry,
        fr,
        de,
        it,
        signed_list,
        directory,
    }
}

/// A draft that validates, from `from` to `to`.
pub fn draft(from: &str, to: &str) -> Value {
    let text = custos_model::template::render(RequestKind::Preservation);
    let mut draft = custos_model::validate::parse(&text).unwrap();
    draft["requesting_state"] = Value::String(from.into());
    draft["requested_state"] = Value::String(to.into());
    assert!(custos_model::validate::validate(&draft).is_valid());
    draft
}

pub fn thread() -> String {
    new_thread_id(Uuid::from_u128(0x6f1c_0b7e_2d4a_4c8e_9f10_3a5b_7c9d_e1f2))
}

/// A valid `submit` from France to Germany, created a minute before `NOW`.
pub fn submit_fr_de() -> Message {
    Message::submit(
        state("FR"),
        state("DE"),
        thread(),
        None,
        NOW - Duration::minutes(1),
        draft("FR", "DE"),
    )
}

/// A valid `acknowledge` from Germany to France.
pub fn acknowledge_de_fr(prev: MessageId, created_at: OffsetDateTime) -> Message {
    Message::with_note(
        custos_protocol::MessageKind::Acknowledge,
        state("DE"),
        state("FR"),
        thread(),
        prev,
        created_at,
        Some("Received; preservation ordered.".into()),
    )
    .unwrap()
}

/// Encrypts an envelope built by hand to `recipients`' identities.
pub fn encrypt_to(envelope: &Envelope, to: &[&Node]) -> Vec<u8> {
    let recipients: Vec<_> = to.iter().map(|n| n.encryption.recipient()).collect();
    custos_seal::encrypt(&envelope.to_json(), &recipients).unwrap()
}

/// Signs arbitrary payload bytes under a payload type, as a forger or a
/// careless implementation would, and encrypts them to Germany.
pub fn hand_sealed(payload_type: &str, payload: &[u8], key: &SigningKey, w: &World) -> Vec<u8> {
    let envelope = Envelope::sign(payload_type, payload, key);
    encrypt_to(&envelope, &[&w.de, &w.fr])
}

/// The canonical bytes of a message, without the checks `seal_message` runs.
pub fn payload_of(message: &Message) -> Vec<u8> {
    message.to_canonical_json().unwrap()
}
