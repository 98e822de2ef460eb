//! The client API: requests listed and shown with a bearer token; typed
//! refusals for everything else.

use custos_testkit::{AT, Network, TestNode};
use expect_test::expect;
use serde_json::{Value, json};

use crate::{preservation_draft, redacted};

/// France's node in a network with Germany, and a token of France's.
async fn france() -> (Network, String) {
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let token = net.node("FR").token("alice").await.unwrap();
    (net, token)
}

/// Sends the preservation template through the API; returns (request id, message id).
async fn send(node: &TestNode, token: &str) -> (String, String) {
    let body = json!({ "draft": preservation_draft(), "allow_sample": true });
    let reply = node
        .post_json("/api/v1/requests", Some(token), &body)
        .await
        .unwrap();
    assert_eq!(reply.status, 202, "{}", reply.text());
    let queued = reply.json();
    let id = queued["id"].as_str().unwrap().to_owned();
    let message = queued["message_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("thr-"), "{id}");
    (id, message)
}

#[tokio::test]
async fn a_request_sent_through_the_api_is_listed_and_shown() {
    let (net, token) = france().await;
    let fr = net.node("FR");
    let (id, message) = send(fr, &token).await;
    let names = [(id.as_str(), "request"), (message.as_str(), "message")];

    let list = fr.get("/api/v1/requests", Some(&token)).await.unwrap();
    assert_eq!(list.status, 200, "{}", list.text());
    expect![[r#"
        [
          {
            "id": "<request>",
            "direction": "outgoing",
            "kind": "preservation",
            "counterpart": "DE",
            "created_at": "2026-11-01T12:00:00Z"
          }
        ]"#]]
    .assert_eq(&redacted(&list.json(), &names));

    let shown = fr
        .get(&format!("/api/v1/requests/{id}"), Some(&token))
        .await
        .unwrap();
    assert_eq!(shown.status, 200, "{}", shown.text());
    let mut detail = shown.json();
    // The draft comes back as it was signed.
    assert_eq!(detail["draft"], preservation_draft());
    detail.as_object_mut().unwrap().shift_remove("draft");
    expect![[r#"
        {
          "id": "<request>",
          "direction": "outgoing",
          "kind": "preservation",
          "counterpart": "DE",
          "created_at": "2026-11-01T12:00:00Z",
          "messages": [
            {
              "id": "<message>",
              "kind": "submit",
              "direction": "outgoing",
              "created_at": "2026-11-01T12:00:00Z",
              "delivery": "pending",
              "receipt": false
            }
          ],
          "history": [
            {
              "seq": 1,
              "at": "2026-11-01T12:00:00Z",
              "actor": "api:alice/alice",
              "kind": "sent:submit",
              "detail": {
                "message_id": "<message>",
                "to": "DE",
                "legal_basis": {
                  "basis": "un-convention"
                }
              }
            }
          ]
        }"#]]
    .assert_eq(&redacted(&detail, &names));

    // Filters narrow the list.
    for (query, listed) in [
        ("?kind=preservation", 1),
        ("?kind=stored-data", 0),
        ("?with=DE", 1),
        ("?with=IT", 0),
        ("?limit=0", 0),
    ] {
        let reply = fr
            .get(&format!("/api/v1/requests{query}"), Some(&token))
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{query}: {}", reply.text());
        assert_eq!(reply.json().as_array().unwrap().len(), listed, "{query}");
    }
    assert_eq!(fr.now(), AT, "the clock stood still");
}

#[tokio::test]
async fn calls_without_a_valid_token_are_refused_as_unauthorized() {
    let (net, token) = france().await;
    let fr = net.node("FR");
    let (id, _) = send(fr, &token).await;
    let show = format!("/api/v1/requests/{id}");
    let someone_elses = TestNode::new("FR")
        .await
        .unwrap()
        .token("bob")
        .await
        .unwrap();
    for bearer in [
        None,
        Some(""),
        Some("not-a-custos-token"),
        Some("custos_0000000000000000000000000000000000000000"),
        // A real token, of another node.
        Some(someone_elses.as_str()),
    ] {
        for path in ["/api/v1/requests", show.as_str()] {
            let reply = fr.get(path, bearer).await.unwrap();
            assert_eq!(
                reply.refusal(),
                (401, Some("unauthorized".into())),
                "GET {path} with {bearer:?}"
            );
        }
        let body = json!({ "draft": preservation_draft(), "allow_sample": true });
        let reply = fr
            .post_json("/api/v1/requests", bearer, &body)
            .await
            .unwrap();
        assert_eq!(
            reply.refusal(),
            (401, Some("unauthorized".into())),
            "POST with {bearer:?}"
        );
    }
    // Nothing was queued by the refused posts.
    let list = fr.get("/api/v1/requests", Some(&token)).await.unwrap();
    assert_eq!(list.json().as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_queries_unknown_requests_and_bad_drafts_get_their_codes() {
    let (net, token) = france().await;
    let fr = net.node("FR");
    let mut from_germany = preservation_draft();
    from_germany["requesting_state"] = json!("DE");
    from_germany["requested_state"] = json!("FR");
    let mut to_nowhere = preservation_draft();
    to_nowhere["requested_state"] = json!("IT");

    let gets: [(&str, (u16, &str)); 4] = [
        ("/api/v1/requests?kind=nonsense", (400, "bad-query")),
        ("/api/v1/requests?with=France", (400, "bad-query")),
        (
            "/api/v1/requests/thr-00000000000000000000000000000000",
            (404, "not-found"),
        ),
        ("/api/v1/requests/no-such-request", (404, "not-found")),
    ];
    for (path, (status, code)) in gets {
        let reply = fr.get(path, Some(&token)).await.unwrap();
        assert_eq!(reply.refusal(), (status, Some(code.into())), "GET {path}");
    }

    let posts: [(&str, Value, (u16, &str)); 5] = [
        (
            "an empty draft",
            json!({ "draft": {} }),
            (422, "invalid-draft"),
        ),
        (
            "the template's invented example, not asked for",
            json!({ "draft": preservation_draft() }),
            (422, "invalid-draft"),
        ),
        (
            "a draft of Germany's",
            json!({ "draft": from_germany, "allow_sample": true }),
            (422, "not-this-nodes-state"),
        ),
        (
            "a draft to a State not in the directory",
            json!({ "draft": to_nowhere, "allow_sample": true }),
            (422, "not-in-directory"),
        ),
        ("a body with no draft", json!({ "drift": {} }), (422, "")),
    ];
    for (what, body, (status, code)) in posts {
        let reply = fr
            .post_json("/api/v1/requests", Some(&token), &body)
            .await
            .unwrap();
        assert_eq!(reply.status, status, "{what}: {}", reply.text());
        if !code.is_empty() {
            assert_eq!(
                reply.code().as_deref(),
                Some(code),
                "{what}: {}",
                reply.text()
            );
        }
    }
    let list = fr.get("/api/v1/requests", Some(&token)).await.unwrap();
    assert_eq!(list.json(), json!([]), "nothing was queued");
}

/// A registry in which only France and Germany have deposited: the
/// Convention is in force on no day.
pub(crate) fn two_of_forty() -> custos_model::treaty::Registry {
    use custos_model::treaty::{Deposit, InstrumentKind, PartyEntry, Registry};
    let party = |code: &str, day| PartyEntry {
        code: code.parse().unwrap(),
        signature: Some(time::macros::date!(2025 - 10 - 25)),
        deposit: Some(Deposit {
            date: day,
            instrument: InstrumentKind::Ratification,
        }),
        members: vec![],
        denunciation_notice: None,
        designations: Default::default(),
    };
    Registry {
        sample: false,
        note: None,
        as_of: time::macros::date!(2026 - 10 - 31),
        parties: vec![
            party("FR", time::macros::date!(2026 - 01 - 05)),
            party("DE", time::macros::date!(2026 - 01 - 06)),
        ],
    }
}

#[tokio::test]
async fn a_draft_on_a_convention_not_in_force_is_refused_with_its_code() {
    let net = custos_testkit::NetworkBuilder::new(&["FR", "DE"])
        .treaty_registry(two_of_forty())
        .build()
        .await
        .unwrap();
    let fr = net.node("FR");
    let token = fr.token("alice").await.unwrap();
    let reply = fr
        .post_json(
            "/api/v1/requests",
            Some(&token),
            &json!({ "draft": preservation_draft(), "allow_sample": true }),
        )
        .await
        .unwrap();
    assert_eq!(
        reply.refusal(),
        (422, Some("legal-basis-not-applicable".into())),
        "{}",
        reply.text()
    );
    assert!(
        reply
            .text()
            .contains("the Convention is not in force yet: 2 of 40 instruments deposited"),
        "{}",
        reply.text()
    );
    // On reciprocity instead, it is queued.
    let mut draft = preservation_draft();
    draft["legal_basis"] = json!({ "basis": "reciprocity" });
    let reply = fr
        .post_json(
            "/api/v1/requests",
            Some(&token),
            &json!({ "draft": draft, "allow_sample": true }),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 202, "{}", reply.text());
}
