//! Ledger entries leave out the fields that do not apply: an entry with no
//! kind-specific facts has no `detail` member at all. A ledger that still
//! holds entries written the old way, with `"detail": null`, verifies as
//! before and proves them, since verification is over the stored bytes.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

use custos_node::custody::{Entry, EntryKind};
use custos_testkit::{AT, TestNode};
use serde_json::{Value, json};

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
    let kit = TestNode::new("DE").await.unwrap();
    let node = &kit.node;
    // As the previous format wrote a read: canonical JSON with a null detail.
    let old = br#"{"actor":"cli:alice","at":"2026-10-01T12:00:00.000000Z","detail":null,"format":"custos-ledger-entry/1","kind":"request-read","request":"thr-1"}"#.to_vec();
    let new = Entry::new(EntryKind::RequestRead, AT, "cli:alice")
        .request("thr-1")
        .encode()
        .unwrap();
    kit.store
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
    kit.close().await;
}
