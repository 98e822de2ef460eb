//! Whose fault a failure is, checked where it arises: two nodes in process
//! (Germany and France, SQLite files, a directory signed by a test registry)
//! and the damage or the bad input that makes each failure. Our own stored
//! data that does not read back is ours; a peer's checkpoint that does not
//! verify is the peer's; a recipient with no current encryption key is
//! named as such.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

use std::path::Path;
use std::sync::Arc;

use custos_ledger::AddCheckpoint;
use custos_model::RequestKind;
use custos_node::directory::EntryDetails;
use custos_node::{CheckpointRefusal, Fault, LedgerFailure, Node, NodeError};
use custos_protocol::{DirectoryList, MessageKind};
use custos_seal::SigningKey;
use custos_testkit::{NodeBuilder, TestClock};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const AT: OffsetDateTime = datetime!(2026-11-01 12:00 UTC);

fn registry() -> SigningKey {
    SigningKey::from_seed(&[0x09; 32])
}

/// The node of `state` over a SQLite file in `dir`, trusting the test registry.
async fn node(dir: &Path, state: &str) -> Arc<Node> {
    node_at(dir, state, AT).await
}

/// The same, with keys made (and a clock standing) at `at`.
async fn node_at(dir: &Path, state: &str, at: OffsetDateTime) -> Arc<Node> {
    NodeBuilder::new(state)
        .name(format!("Node of {state}"))
        .in_dir(dir)
        .clock(Arc::new(TestClock::fixed(at)))
        .registry_key(registry().verifying_key())
        .build()
        .await
        .unwrap()
        .node
}

/// A directory of `nodes`, signed by the test registry.
fn directory(nodes: &[&Node]) -> Vec<u8> {
    let details = EntryDetails {
        node_url: "http://127.0.0.1:9".into(),
        ..Default::default()
    };
    let list = DirectoryList {
        v: 1,
        version: 1,
        registry: "test registry".into(),
        issued_at: AT,
        expires_at: AT + time::Duration::days(30),
        entries: nodes
            .iter()
            .map(|n| n.signed_entry(&details).unwrap())
            .collect(),
    };
    list.sign(&registry()).unwrap()
}

/// Germany's and France's nodes, each holding a directory of both.
async fn pair(de_dir: &Path, fr_dir: &Path) -> (Arc<Node>, Arc<Node>) {
    let de = node(de_dir, "DE").await;
    let fr = node(fr_dir, "FR").await;
    let signed = directory(&[&de, &fr]);
    de.import_directory(&operator(), &signed).await.unwrap();
    fr.import_directory(&operator(), &signed).await.unwrap();
    (de, fr)
}

/// Germany's latest checkpoint (after it queued one request to France),
/// offered to a witness for the first time.
async fn checkpoint_of(de: &Node) -> AddCheckpoint {
    de.submit(draft(RequestKind::TechnicalAdvice), &tester())
        .await
        .unwrap();
    de.sequence_all().await.unwrap();
    AddCheckpoint {
        old_size: 0,
        proof: Vec::new(),
        note: de.latest_checkpoint().await.unwrap().unwrap(),
    }
}

#[tokio::test]
async fn a_damaged_note_of_our_own_is_our_fault_and_a_bad_checkpoint_the_peers() {
    let (de_dir, fr_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (de, fr) = pair(de_dir.path(), fr_dir.path()).await;
    let request = checkpoint_of(&de).await;
    // A good checkpoint is cosigned.
    let answer = fr.witness_checkpoint(&request).await.unwrap();
    assert_eq!(answer.http_status(), 200, "{answer:?}");

    // A note that does not parse is the peer's fault.
    let garbage = AddCheckpoint {
        note: "not a checkpoint".into(),
        ..request.clone()
    };
    let refused = fr.witness_checkpoint(&garbage).await.unwrap_err();
    assert!(
        matches!(
            refused,
            NodeError::CheckpointRefused(CheckpointRefusal::Unreadable(_))
        ),
        "{refused:?}"
    );
    assert_eq!(refused.fault(), Fault::Peer);

    // France's own record of Germany's checkpoint is damaged: that is
    // France's fault, whoever asks.
    let db = rusqlite::Connection::open(fr_dir.path().join("custos.db")).unwrap();
    let changed = db
        .execute(
            "UPDATE witnessed SET note = 'damaged' WHERE origin = 'custos.ledger/DE'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let ours = fr.witness_checkpoint(&request).await.unwrap_err();
    assert!(
        matches!(ours, NodeError::Ledger(LedgerFailure::StoredNote(_))),
        "{ours:?}"
    );
    assert_eq!(ours.fault(), Fault::Ours);
}

/// A valid draft of `kind` from Germany to France.
fn draft(kind: RequestKind) -> Value {
    let mut draft = custos_model::validate::parse(&custos_model::template::render(kind)).unwrap();
    draft["requesting_state"] = json!("DE");
    draft["requested_state"] = json!("FR");
    draft
}

#[tokio::test]
async fn a_stored_message_id_that_does_not_parse_is_our_fault() {
    let (de_dir, fr_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (de, _fr) = pair(de_dir.path(), fr_dir.path()).await;
    let sent = de
        .submit(draft(RequestKind::TechnicalAdvice), &tester())
        .await
        .unwrap();
    let db = rusqlite::Connection::open(de_dir.path().join("custos.db")).unwrap();
    // The outbox refers to the message by its id; the damage is to the id alone.
    db.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    let changed = db
        .execute(
            "UPDATE messages SET id = 'not-a-message-id' WHERE thread = ?1",
            [&sent.thread],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let e = de
        .reply(&sent.thread, MessageKind::Withdraw, json!({}), &tester())
        .await
        .unwrap_err();
    // The case is asked first, over the thread as the checked reads give
    // it, and they name the damaged record.
    assert!(
        matches!(&e, NodeError::RecordTampered { record, .. } if record.contains("not-a-message-id")),
        "{e:?}"
    );
    assert_eq!(e.fault(), Fault::Ours, "{e}");
}

#[tokio::test]
async fn a_recipient_without_a_current_encryption_key_is_named_as_such() {
    let (de_dir, fr_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let de = node(de_dir.path(), "DE").await;
    // France's keys take effect an hour after Germany's clock.
    let fr = node_at(fr_dir.path(), "FR", AT + time::Duration::hours(1)).await;
    de.import_directory(&operator(), &directory(&[&de, &fr]))
        .await
        .unwrap();
    let e = de
        .submit(draft(RequestKind::TechnicalAdvice), &tester())
        .await
        .unwrap_err();
    assert!(
        matches!(e, NodeError::NoEncryptionKey(s) if s.as_str() == "FR"),
        "{e:?}"
    );
}

/// Who acts in these tests.
fn tester() -> custos_node::Actor {
    custos_node::Actor::Cli {
        user: "test".into(),
    }
}

/// The operator at the node's files, who may do everything (every
/// call is checked and recorded like any person's).
fn operator() -> custos_node::Actor {
    custos_node::Actor::Cli {
        user: "operator".to_owned(),
    }
}
