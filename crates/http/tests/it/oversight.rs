//! The client API's oversight: failed authentications recorded, the
//! record of who saw what and a case's grants through the API, and the
//! node's reads (statistics, keys, directory, ledger, outbox, refusals,
//! evidence) each answering a bearer and recorded.

use custos_testkit::{Network, TEST_PEER};
use serde_json::json;

use crate::preservation_draft;

#[tokio::test]
async fn a_caller_without_a_good_bearer_is_refused_and_recorded_without_its_secret() {
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let fr = net.node("FR");
    let token = fr.token("dpo-desk").await.unwrap();

    let none = fr.get("/api/v1/audit", None).await.unwrap();
    assert_eq!(none.refusal(), (401, Some("unauthorized".into())));
    let bad = fr
        .get("/api/v1/cases", Some("not-a-token-hunter2"))
        .await
        .unwrap();
    assert_eq!(bad.refusal(), (401, Some("unauthorized".into())));
    let scrape = fr.get("/metrics", None).await.unwrap();
    assert_eq!(scrape.refusal(), (401, Some("unauthorized".into())));

    let record = fr
        .get("/api/v1/audit?person=anonymous", Some(&token))
        .await
        .unwrap();
    assert_eq!(record.status, 200, "{}", record.text());
    let rows = record.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let ip = TEST_PEER.rsplit_once(':').unwrap().0;
    for row in rows {
        assert_eq!(row["operation"], "authenticate");
        assert_eq!(row["outcome"], "refused");
        assert_eq!(row["actor"], "anonymous");
    }
    let reasons: Vec<&str> = rows.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        [
            "no bearer token was presented",
            "the bearer token presented is not one the node accepts",
            "no bearer token was presented",
        ]
    );
    assert!(!record.text().contains("hunter2"), "no secret is kept");
    // The ledger holds the same decisions, with the caller's address.
    fr.sequence_all().await.unwrap();
    let size = fr.verify_ledger(&mut |_, _| {}).await.unwrap().size;
    let mut from = Vec::new();
    for i in 0..size {
        let entry: serde_json::Value =
            serde_json::from_slice(&fr.prove_entry(i).await.unwrap().entry).unwrap();
        if entry["detail"]["operation"] == "authenticate" {
            from.push(entry["detail"]["from"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(from, [ip, ip, ip]);
}

#[tokio::test]
async fn the_oversight_reads_answer_a_bearer_and_are_recorded() {
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let fr = net.node("FR");
    let token = fr.token("alice").await.unwrap();
    let sent = fr
        .post_json(
            "/api/v1/requests",
            Some(&token),
            &json!({ "draft": preservation_draft(), "allow_sample": true }),
        )
        .await
        .unwrap();
    assert_eq!(sent.status, 202, "{}", sent.text());
    let id = sent.json()["id"].as_str().unwrap().to_owned();
    fr.sequence_all().await.unwrap();

    let reads = [
        ("/api/v1/statistics", "read-statistics"),
        ("/api/v1/keys", "read-keys"),
        ("/api/v1/directory", "read-directory"),
        ("/api/v1/ledger/checkpoint", "read-ledger"),
        ("/api/v1/ledger/entries/0/proof", "read-ledger"),
        ("/api/v1/outbox?state=pending", "read-outbox"),
        ("/api/v1/refusals", "read-outbox"),
        ("/api/v1/evidence", "list-evidence"),
        ("/metrics", "read-metrics"),
    ];
    for (path, _) in reads {
        let reply = fr.get(path, Some(&token)).await.unwrap();
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    }
    let stats = fr.get("/api/v1/statistics", Some(&token)).await.unwrap();
    assert_eq!(stats.json()["outbox_pending"], 1);
    let verify = fr
        .post_json("/api/v1/ledger/verify", Some(&token), &json!({}))
        .await
        .unwrap();
    assert_eq!(verify.status, 200, "{}", verify.text());
    // A good ledger's verdict is its report (a tampered one has `ok: false`).
    assert!(verify.json()["ok"].is_null(), "{}", verify.text());
    assert!(
        verify.json()["size"].as_u64().unwrap() > 0,
        "{}",
        verify.text()
    );
    let bad = fr
        .get("/api/v1/outbox?state=lost", Some(&token))
        .await
        .unwrap();
    assert_eq!(bad.refusal(), (400, Some("bad-query".into())));

    // A case granted and revoked through the API.
    let until = "2026-11-02T12:00:00Z";
    let granted = fr
        .post_json(
            &format!("/api/v1/cases/{id}/grants"),
            Some(&token),
            &json!({ "person": "aud", "reason": "annual audit", "until": until }),
        )
        .await
        .unwrap();
    assert_eq!(granted.status, 201, "{}", granted.text());
    assert_eq!(granted.json()["in_force"], true);
    let listed = fr
        .get(&format!("/api/v1/cases/{id}/grants"), Some(&token))
        .await
        .unwrap();
    assert_eq!(listed.json().as_array().unwrap().len(), 1);
    let revoke = axum::http::Request::builder()
        .method("DELETE")
        .uri(format!("/api/v1/cases/{id}/grants/aud"))
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(fr.call(revoke).await.unwrap().status, 204);
    let late = fr
        .post_json(
            &format!("/api/v1/cases/{id}/grants"),
            Some(&token),
            &json!({ "person": "aud", "reason": "r", "until": "2020-01-01T00:00:00Z" }),
        )
        .await
        .unwrap();
    assert_eq!(late.refusal(), (422, Some("invalid-draft".into())));

    // Every read is in the record under the token's person.
    let record = fr
        .get("/api/v1/audit?person=alice&limit=1000", Some(&token))
        .await
        .unwrap();
    let ops: Vec<String> = record
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["operation"].as_str().unwrap().to_owned())
        .collect();
    for (path, op) in reads {
        assert!(ops.iter().any(|o| o == op), "{path}: no {op} in {ops:?}");
    }
    for op in [
        "send-request",
        "verify-ledger",
        "grant-case-access",
        "read-audit",
    ] {
        assert!(ops.iter().any(|o| o == op), "no {op} in {ops:?}");
    }
    let on_case = fr
        .get(&format!("/api/v1/audit?case={id}"), Some(&token))
        .await
        .unwrap();
    assert!(
        on_case
            .json()
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["case"] == id.as_str())
    );
    let bad_time = fr
        .get("/api/v1/audit?since=yesterday", Some(&token))
        .await
        .unwrap();
    assert_eq!(bad_time.refusal(), (400, Some("bad-query".into())));
}
