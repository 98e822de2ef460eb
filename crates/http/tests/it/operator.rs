//! What an operator's monitoring reads: `/healthz`, `/readyz` and `/metrics`.

use custos_testkit::{Network, TestNode};

use crate::preservation_draft;

/// The value of the gauge or counter `name` in a Prometheus text answer.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn healthz_answers_ok_without_a_token() {
    let node = TestNode::new("DE").await.unwrap();
    let reply = node.get("/healthz", None).await.unwrap();
    assert_eq!((reply.status.as_u16(), reply.text().as_str()), (200, "ok"));
}

#[tokio::test]
async fn readyz_names_the_failing_check_until_the_node_is_ready() {
    // Without a directory, the node cannot take a message: 503, and the
    // answer says which check failed.
    let lone = TestNode::new("DE").await.unwrap();
    let reply = lone.get("/readyz", None).await.unwrap();
    assert_eq!(reply.status, 503, "{}", reply.text());
    let body: serde_json::Value = serde_json::from_str(&reply.text()).unwrap();
    assert_eq!(body["ready"], false);
    let failing: Vec<&str> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["directory"], "{body}");

    // With a directory in force, every check passes.
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let reply = net.node("DE").get("/readyz", None).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body: serde_json::Value = serde_json::from_str(&reply.text()).unwrap();
    assert_eq!(body["ready"], true);
    let names: Vec<&str> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["store", "keys", "directory", "ledger", "disk"]);
}

#[tokio::test]
async fn metrics_follow_the_nodes_state() {
    let lone = TestNode::new("DE").await.unwrap();
    // The counters are for a bearer allowed `read-metrics` (the monitoring
    // scope); without one, 401.
    let refused = lone.get("/metrics", None).await.unwrap();
    assert_eq!(refused.refusal(), (401, Some("unauthorized".into())));
    let scraper = lone.token("monitoring").await.unwrap();
    let reply = lone.get("/metrics", Some(&scraper)).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.headers["content-type"].to_str().unwrap(),
        "text/plain; version=0.0.4"
    );
    let text = reply.text();
    let names: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("# TYPE "))
        .map(|l| l.trim_start_matches("# TYPE "))
        .collect();
    expect_test::expect![[r#"
        custos_ledger_entries gauge
        custos_ledger_forks_detected gauge
        custos_outbox_pending gauge
        custos_outbox_failed gauge
        custos_refused_messages gauge
        custos_custody_unavailable gauge
        custos_directory_version gauge
        custos_disk_free_bytes gauge
        custos_disk_reserve_bytes gauge
        custos_ready gauge
        custos_records_tampered_total counter
        custos_clock_events_total counter
        custos_escalations_received_total counter"#]]
    .assert_eq(&names.join("\n"));
    assert_eq!(metric(&text, "custos_directory_version"), Some(0));
    assert_eq!(metric(&text, "custos_outbox_pending"), Some(0));

    // France queues a message, Germany receives it and refuses some junk.
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let (fr, de) = (net.node("FR"), net.node("DE"));
    let sent = fr
        .submit(
            preservation_draft(),
            &custos_node::Actor::Cli {
                user: "alice".into(),
            },
        )
        .await
        .unwrap();
    net.carry("FR", &sent.message_id, "DE").await.unwrap();
    de.post_bytes(custos_testkit::MESSAGES_PATH, b"junk".to_vec())
        .await
        .unwrap();
    fr.sequence_all().await.unwrap();
    de.sequence_all().await.unwrap();

    let (fr_scraper, de_scraper) = (
        fr.token("monitoring").await.unwrap(),
        de.token("monitoring").await.unwrap(),
    );
    let fr_text = fr.get("/metrics", Some(&fr_scraper)).await.unwrap().text();
    assert_eq!(metric(&fr_text, "custos_outbox_pending"), Some(1));
    assert_eq!(metric(&fr_text, "custos_directory_version"), Some(1));
    assert!(
        metric(&fr_text, "custos_ledger_entries").unwrap() >= 1,
        "{fr_text}"
    );
    let de_text = de.get("/metrics", Some(&de_scraper)).await.unwrap().text();
    assert_eq!(metric(&de_text, "custos_refused_messages"), Some(1));
    assert_eq!(metric(&de_text, "custos_custody_unavailable"), Some(0));
    assert!(
        metric(&de_text, "custos_ledger_entries").unwrap() >= 2,
        "{de_text}"
    );
}
