//! Fixtures shared by the fuzz targets: a fixed network of two States
//! (France and Germany) with real keys made from fixed seeds, a registry key
//! and the verified directory they form, a ledger log key and a witness, and
//! the fixed clock every check runs at.
//!
//! A fuzzer cannot forge a signature, so most targets run twice over their
//! input: once as bytes arriving from outside (which the signature check
//! refuses early), and once signed here with these keys, so that the parsers
//! and checks behind the signature see the fuzzer's bytes too. The first
//! byte of an input picks the mode ([`split`]).

use std::sync::OnceLock;

use custos_ledger::{VerifierKey, Witness};
use custos_model::StateCode;
use custos_protocol::{Directory, DirectoryEntry, DirectoryList, KeyValidity};
use custos_seal::{EncryptionIdentity, SigningKey};
use time::OffsetDateTime;
use time::macros::datetime;

/// The receiving node's clock in every target.
pub const NOW: OffsetDateTime = datetime!(2026-11-28 10:00:00.123456 UTC);
/// When the directory entries were issued.
pub const ISSUED: OffsetDateTime = datetime!(2026-11-01 00:00 UTC);
/// When the directory expires.
pub const EXPIRES: OffsetDateTime = datetime!(2026-12-31 00:00 UTC);
/// The size limit of a message, as a node's default.
pub const LIMIT: usize = 1 << 20;
/// The ledger origin (and log key name) of Germany's node.
pub const LOG_NAME: &str = "custos.de.example/ledger";
/// The witness name of France's node.
pub const WITNESS_NAME: &str = "custos.fr.example/witness";

/// Germany's age identity: the identity of the age test kit
/// (`crates/seal/tests/data/age-testkit`), so that the kit's files are
/// ready-made seeds for ciphertext parsers.
pub const DE_AGE_IDENTITY: &str =
    "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0";
/// France's age identity.
pub const FR_AGE_IDENTITY: &str =
    "AGE-SECRET-KEY-143WN7DCXU4G8R5AXQSSYD9AEPYDNT3HXSLWSPK36CDU6E8M59SSSAGZ3KG";

/// One State's node keys.
#[derive(Debug)]
pub struct Node {
    pub state: StateCode,
    pub signing: SigningKey,
    pub encryption: EncryptionIdentity,
}

/// The fixed network every target checks against.
#[derive(Debug)]
pub struct World {
    pub registry: SigningKey,
    pub fr: Node,
    pub de: Node,
    /// The registry-signed directory list (DSSE JSON).
    pub signed_list: Vec<u8>,
    pub directory: Directory,
    /// Germany's ledger signing key and its note verifier key.
    pub log_key: SigningKey,
    pub log_verifier: VerifierKey,
    /// France acting as witness of Germany's ledger.
    pub witness: Witness,
}

/// The fixed network, built once per process.
pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(build)
}

fn node(code: &str, seed: u8, age: &str) -> Node {
    Node {
        state: code.parse().expect("a fixed State code"),
        signing: SigningKey::from_seed(&[seed; 32]),
        encryption: EncryptionIdentity::from_secret_text(age).expect("a fixed age identity"),
    }
}

/// The directory entry of `node`, as the protocol's tests write it.
pub fn entry(node: &Node) -> DirectoryEntry {
    let lower = node.state.as_str().to_lowercase();
    DirectoryEntry {
        v: 1,
        state: node.state,
        name: format!("{} test node", node.state),
        node_url: format!("https://custos.{lower}.example"),
        signing_keys: vec![KeyValidity::new(
            node.signing.verifying_key(),
            datetime!(2026-01-01 00:00 UTC),
        )],
        encryption_keys: vec![KeyValidity::new(
            node.encryption.recipient(),
            datetime!(2026-01-01 00:00 UTC),
        )],
        contact_24_7: Some("+00 0 00 00 00 00".into()),
        central_authority: Some("Ministry of Justice".into()),
        languages: vec!["en".into(), "fr".into()],
        treaty_status: Some("registry:ratified".into()),
        issued_at: ISSUED,
    }
}

fn build() -> World {
    let registry = SigningKey::from_seed(&[9; 32]);
    let fr = node("FR", 1, FR_AGE_IDENTITY);
    let de = node("DE", 2, DE_AGE_IDENTITY);
    let signed = [&fr, &de]
        .iter()
        .map(|n| entry(n).sign(&n.signing).expect("a valid fixed entry"))
        .collect();
    let signed_list = DirectoryList::new(7, "Test registry", ISSUED, EXPIRES, signed)
        .sign(&registry)
        .expect("a valid fixed list");
    let directory = Directory::verify(&signed_list, &registry.verifying_key(), NOW)
        .expect("the fixed directory verifies");
    let log_key = SigningKey::from_seed(&[4; 32]);
    let log_verifier =
        VerifierKey::ed25519(LOG_NAME, &log_key.verifying_key()).expect("a valid log name");
    let witness =
        Witness::new(WITNESS_NAME, SigningKey::from_seed(&[5; 32])).expect("a valid witness name");
    World {
        registry,
        fr,
        de,
        signed_list,
        directory,
        log_key,
        log_verifier,
        witness,
    }
}

/// Splits an input into its mode byte and the rest (mode 0 for an empty
/// input).
pub fn split(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((mode, rest)) => (*mode, rest),
        None => (0, data),
    }
}

/// Splits `data` at the first NUL byte: two independent strings in one
/// input. Without a NUL the second part is empty.
pub fn halves(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}
