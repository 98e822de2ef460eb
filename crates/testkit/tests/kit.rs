//! The kit itself: what it builds is a real node, and what it serves talks.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

use std::time::{Duration, Instant};

use custos_model::{RequestKind, template, validate};
use custos_store::OutboxState;
use custos_testkit::{AT, NetworkBuilder, NodeBuilder, TempDatabase, TestNode};

fn draft() -> serde_json::Value {
    validate::parse(&template::render(RequestKind::Preservation)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_nodes_deliver_a_request_and_its_receipt_over_loopback() {
    let net = NetworkBuilder::new(&["FR", "DE"])
        .served()
        .outbox_workers()
        .build()
        .await
        .unwrap();
    assert!(
        net.url("DE").starts_with("http://127.0.0.1:"),
        "{}",
        net.url("DE")
    );
    let (fr, de) = (net.node("FR"), net.node("DE"));
    let sent = fr
        .submit(
            draft(),
            &custos_node::Actor::Cli {
                user: "alice".into(),
            },
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let item = loop {
        let item = fr
            .store
            .outbox_item(&sent.message_id)
            .await
            .unwrap()
            .unwrap();
        if item.state != OutboxState::Pending || Instant::now() > deadline {
            break item;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(item.state, OutboxState::Delivered, "{:?}", item.last_error);
    assert!(
        fr.store
            .receipt_for(&sent.message_id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        de.store.thread_messages(&sent.thread).await.unwrap().len(),
        1
    );
    net.stop().await;
}

#[tokio::test]
async fn a_node_reopened_from_its_folder_keeps_its_keys_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let first = NodeBuilder::new("DE")
        .in_dir(dir.path())
        .build()
        .await
        .unwrap();
    let key = first.ledger_verifier_key().unwrap();
    first
        .store
        .queue_ledger(&[b"{}".to_vec()], AT)
        .await
        .unwrap();
    first.sequence_all().await.unwrap();
    first.close().await;
    drop(first);
    assert!(
        dir.path().join("custos.db").exists(),
        "the folder outlives the node"
    );

    let again = NodeBuilder::new("DE")
        .in_dir(dir.path())
        .reopen()
        .build()
        .await
        .unwrap();
    assert_eq!(again.ledger_verifier_key().unwrap(), key);
    assert_eq!(again.store.ledger_size().await.unwrap(), 1);
    again.close().await;
}

#[tokio::test]
async fn a_temporary_node_cleans_up_after_itself_and_its_clock_obeys() {
    let node = TestNode::new("FR").await.unwrap();
    let dir = node.dir().to_owned();
    assert!(dir.join("keys").is_dir());
    assert_eq!(node.now(), AT);
    node.clock.advance(time::Duration::days(61));
    assert_eq!(node.now(), AT + time::Duration::days(61));
    node.close().await;
    drop(node);
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

#[tokio::test]
async fn a_postgresql_node_gets_a_database_of_its_own() {
    let Some(scratch) = TempDatabase::from_env() else {
        return;
    };
    let url = std::env::var(custos_testkit::POSTGRES_URL_VAR).unwrap();
    let a = NodeBuilder::new("DE").postgres(&url).build().await.unwrap();
    let b = NodeBuilder::new("DE").postgres(&url).build().await.unwrap();
    assert!(a.store_url().starts_with("postgres://"));
    assert_ne!(a.store_url(), b.store_url());
    a.store.queue_ledger(&[b"{}".to_vec()], AT).await.unwrap();
    a.sequence_all().await.unwrap();
    assert_eq!(a.store.ledger_size().await.unwrap(), 1);
    assert_eq!(b.store.ledger_size().await.unwrap(), 0);
    // The kit's own scratch database works as the test's.
    scratch.execute("CREATE TABLE scratch (n INTEGER)").unwrap();
    a.close().await;
    b.close().await;
}
