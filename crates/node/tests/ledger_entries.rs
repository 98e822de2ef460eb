//! Ledger entries leave out the fields that do not apply: an entry with no
//! kind-specific facts has no `detail` member at all. A ledger that still
//! holds entries written the old way, with `"detail": null`, verifies as
//! before and proves them, since verification is over the stored bytes.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

use std::sync::Arc;

use custos_model::clock::FixedClock;
use custos_node::custody::{Entry, EntryKind};
use custos_node::{DEFAULT_MAX_MESSAGE_BYTES, Keystore, Node, NodeSettings, RetryPolicy};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const AT: OffsetDateTime = datetime!(2026-11-01 12:00 UTC);

#[test]
fn absent_facts_are_absent_members() {
    let read = Entry::new(EntryKind::RequestRead, AT, "cli:alice")
        .request("thr-1")
        .encode()
        .unwrap();
    let text = String::from_utf8(read).unwrap();
    assert!(!text.contains("detail"), "{text}");
    assert!(!text.contains("null"), "{text}");
    let sent = Entry::new(EntryKind::MessageSent, AT, "cli:alice")
        .detail(json!({ "to": "FR" }))
        .encode()
        .unwrap();
    let value: Value = serde_json::from_slice(&sent).unwrap();
    assert_eq!(value["detail"]["to"], "FR");
}

#[tokio::test]
async fn entries_written_with_a_null_detail_still_verify_and_prove() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = Keystore::create(&tmp.path().join("keys"), AT).unwrap();
    let url = format!("sqlite://{}", tmp.path().join("custos.db").display());
    let store = custos_store::open(&url).await.unwrap();
    let settings = NodeSettings {
        state: "DE".parse().unwrap(),
        name: "Germany".into(),
        data_dir: tmp.path().to_owned(),
        registry_key: None,
        max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        message_reserve_bytes: custos_node::DEFAULT_MESSAGE_RESERVE_BYTES,
        retry: RetryPolicy::default(),
        evidence: Default::default(),
    };
    let node: Arc<Node> = Node::new(
        settings,
        keys,
        store,
        Arc::new(FixedClock::new(AT)),
        reqwest::Client::new(),
    )
    .await
    .unwrap();
    // As the previous format wrote a read: canonical JSON with a null detail.
    let old = br#"{"actor":"cli:alice","at":"2026-10-01T12:00:00.000000Z","detail":null,"format":"custos-ledger-entry/1","kind":"request-read","request":"thr-1"}"#.to_vec();
    let new = Entry::new(EntryKind::RequestRead, AT, "cli:alice")
        .request("thr-1")
        .encode()
        .unwrap();
    node.store()
        .queue_ledger(&[old.clone(), new.clone()], AT)
        .await
        .unwrap();
    assert_eq!(node.sequence_all().await.unwrap(), 2);
    let report = node.verify_ledger(&mut |_, _| {}).await.unwrap();
    assert_eq!((report.size, report.checkpoint_size), (2, Some(2)));
    let bundle = node.prove_entry(0).await.unwrap();
    assert_eq!(bundle.entry, old);
    bundle.verify(&node.ledger_verifier_key().unwrap()).unwrap();
    assert_eq!(node.prove_entry(1).await.unwrap().entry, new);
    node.store().close().await;
}
