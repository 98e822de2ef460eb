//! The client API's operations that need no file on the node's machine:
//! drafts saved and checked, keys rotated and revoked, a signed directory
//! imported. Each answers a token of a role the access table allows, and
//! refuses one of a role it does not with `403 forbidden`, recorded.

use custos_model::{Decision, template, validate};
use custos_node::app::{Role, Roles};
use custos_testkit::{KitError, Network, Reply, TestNode, request};
use serde_json::{Value, json};

use crate::client_api::two_of_forty;
use crate::preservation_draft;

fn roles(held: &[Role]) -> Roles {
    held.iter().copied().collect()
}

/// `PUT /api/v1/directory` with `body` as it is.
async fn put_directory(node: &TestNode, token: &str, body: Vec<u8>) -> Result<Reply, KitError> {
    node.call(request(
        axum::http::Method::PUT,
        "/api/v1/directory",
        Some(token),
        body,
        Some("application/octet-stream"),
    )?)
    .await
}

/// The refusals recorded for `person`, as `(operation, outcome)`.
async fn refusals_of(node: &TestNode, person: &str) -> Vec<(String, String)> {
    let dpo = node
        .token_with("dpo", roles(&[Role::DataProtectionOfficer]))
        .await
        .unwrap();
    let record = node
        .get(&format!("/api/v1/audit?person={person}"), Some(&dpo))
        .await
        .unwrap();
    assert_eq!(record.status, 200, "{}", record.text());
    record
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "refused")
        .map(|r| {
            (
                r["operation"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_caseworker_saves_a_draft_and_an_executing_authority_may_not() {
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let fr = net.node("FR");
    let cwk = fr
        .token_with("carla", roles(&[Role::Caseworker]))
        .await
        .unwrap();
    let saved = fr
        .post_json(
            "/api/v1/drafts",
            Some(&cwk),
            &json!({ "draft": preservation_draft() }),
        )
        .await
        .unwrap();
    assert_eq!(saved.status, 201, "{}", saved.text());
    let id = saved.json()["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("thr-"), "{id}");
    // It is an outgoing request, not sent: shown, with its drafting.
    let shown = fr
        .get(&format!("/api/v1/requests/{id}"), Some(&cwk))
        .await
        .unwrap();
    assert_eq!(shown.status, 200, "{}", shown.text());
    let events: Vec<Value> = shown.json()["history"].as_array().unwrap().clone();
    assert_eq!(events[0]["kind"], "drafted", "{}", shown.text());
    let actor = events[0]["actor"].as_str().unwrap_or_default();
    assert!(actor.starts_with("api:carla/"), "{}", shown.text());

    // A draft that does not validate is refused and nothing is recorded.
    let mut bad = preservation_draft();
    bad.as_object_mut().unwrap().remove("requested_state");
    let refused = fr
        .post_json("/api/v1/drafts", Some(&cwk), &json!({ "draft": bad }))
        .await
        .unwrap();
    assert_eq!(
        refused.refusal(),
        (422, Some("invalid-draft".into())),
        "{}",
        refused.text()
    );

    let exec = fr
        .token_with("erik", roles(&[Role::ExecutingAuthority]))
        .await
        .unwrap();
    let forbidden = fr
        .post_json(
            "/api/v1/drafts",
            Some(&exec),
            &json!({ "draft": preservation_draft() }),
        )
        .await
        .unwrap();
    assert_eq!(
        forbidden.refusal(),
        (403, Some("forbidden".into())),
        "{}",
        forbidden.text()
    );
    assert_eq!(
        refusals_of(fr, "erik").await,
        [("save-draft".to_owned(), "refused".to_owned())]
    );
    let list = fr.get("/api/v1/requests", Some(&cwk)).await.unwrap();
    assert_eq!(
        list.json().as_array().unwrap().len(),
        1,
        "only the caseworker's draft is recorded: {}",
        list.text()
    );
}

#[tokio::test]
async fn any_role_checks_a_draft_and_gets_the_same_report_as_the_command_line() {
    let net = custos_testkit::NetworkBuilder::new(&["FR", "DE"])
        .treaty_registry(two_of_forty())
        .build()
        .await
        .unwrap();
    let fr = net.node("FR");
    let auditor = fr
        .token_with("aude", roles(&[Role::Auditor]))
        .await
        .unwrap();

    // A request draft on reciprocity validates.
    let mut draft = preservation_draft();
    draft["legal_basis"] = json!({ "basis": "reciprocity" });
    let ok = fr
        .post_json(
            "/api/v1/drafts/validate",
            Some(&auditor),
            &json!({ "draft": draft }),
        )
        .await
        .unwrap();
    assert_eq!(ok.status, 200, "{}", ok.text());
    let report = ok.json();
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["kind"], "preservation", "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(
        report["issues"].as_array().unwrap().len(),
        validate::validate(&draft).issues.len(),
        "the same issues as the model's check: {report}"
    );

    // The template cites the Convention, which the node's registry says is
    // not in force: the legal-basis check of a send is part of the report.
    let not_in_force = fr
        .post_json(
            "/api/v1/drafts/validate",
            Some(&auditor),
            &json!({ "draft": preservation_draft() }),
        )
        .await
        .unwrap();
    assert_eq!(not_in_force.status, 200, "{}", not_in_force.text());
    let report = not_in_force.json();
    assert_eq!(report["valid"], false, "{report}");
    let codes: Vec<&str> = report["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"convention-not-applicable"),
        "{codes:?}: {report}"
    );

    // A draft with problems: every one, in the model's words.
    let mut bad = preservation_draft();
    bad.as_object_mut().unwrap().remove("requested_state");
    let expected = validate::validate(&bad);
    let reply = fr
        .post_json(
            "/api/v1/drafts/validate",
            Some(&auditor),
            &json!({ "draft": bad }),
        )
        .await
        .unwrap();
    let report = reply.json();
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["errors"], expected.errors(), "{report}");
    assert_eq!(
        report["issues"],
        serde_json::to_value(&expected.issues).unwrap()
    );

    // A decision draft is checked as that decision.
    let decision = Decision::ALL[0];
    let text = template::render_decision(decision);
    let reply = fr
        .post_json(
            "/api/v1/drafts/validate",
            Some(&auditor),
            &json!({ "draft": validate::parse(&text).unwrap() }),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json()["decision"],
        decision.as_str(),
        "{}",
        reply.text()
    );

    // Every role may check; a token of no role may not, and no bearer is
    // unauthorized.
    let nobody = fr.token_with("nemo", Roles::NONE).await.unwrap();
    let forbidden = fr
        .post_json(
            "/api/v1/drafts/validate",
            Some(&nobody),
            &json!({ "draft": draft }),
        )
        .await
        .unwrap();
    assert_eq!(
        forbidden.refusal(),
        (403, Some("forbidden".into())),
        "{}",
        forbidden.text()
    );
    assert_eq!(
        refusals_of(fr, "nemo").await,
        [("validate-draft".to_owned(), "refused".to_owned())]
    );
    let anonymous = fr
        .post_json("/api/v1/drafts/validate", None, &json!({ "draft": draft }))
        .await
        .unwrap();
    assert_eq!(anonymous.refusal(), (401, Some("unauthorized".into())));
}

#[tokio::test]
async fn an_administrator_rotates_and_revokes_keys_and_a_caseworker_may_not() {
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let fr = net.node("FR");
    let admin = fr
        .token_with("ada", roles(&[Role::Administrator]))
        .await
        .unwrap();
    let cwk = fr
        .token_with("carla", roles(&[Role::Caseworker]))
        .await
        .unwrap();
    let before = fr.get("/api/v1/keys", Some(&admin)).await.unwrap().json();
    let old_id = before["signing"][0]["key_id"].as_str().unwrap().to_owned();

    let forbidden = fr
        .post_json("/api/v1/keys/rotate", Some(&cwk), &json!({}))
        .await
        .unwrap();
    assert_eq!(forbidden.refusal(), (403, Some("forbidden".into())));
    let forbidden = fr
        .post_json(
            &format!("/api/v1/keys/{old_id}/revoke"),
            Some(&cwk),
            &json!({}),
        )
        .await
        .unwrap();
    assert_eq!(forbidden.refusal(), (403, Some("forbidden".into())));
    assert_eq!(
        refusals_of(fr, "carla").await,
        [
            ("revoke-key".to_owned(), "refused".to_owned()),
            ("rotate-keys".to_owned(), "refused".to_owned()),
        ],
        "newest first"
    );
    let unchanged = fr.get("/api/v1/keys", Some(&admin)).await.unwrap().json();
    assert_eq!(unchanged, before, "a refused call changes nothing");

    let rotated = fr
        .post_json("/api/v1/keys/rotate", Some(&admin), &json!({}))
        .await
        .unwrap();
    assert_eq!(rotated.status, 200, "{}", rotated.text());
    let rotated = rotated.json();
    assert_eq!(rotated["previous_signing_key_id"], old_id.as_str());
    let new_id = rotated["signing_key_id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, old_id);
    let now = fr.get("/api/v1/keys", Some(&admin)).await.unwrap().json();
    assert_eq!(now, rotated["keys"], "the node uses the new keys at once");

    // The current key cannot be revoked; the old one can, once.
    let current = fr
        .post_json(
            &format!("/api/v1/keys/{new_id}/revoke"),
            Some(&admin),
            &json!({}),
        )
        .await
        .unwrap();
    assert_eq!(
        current.refusal(),
        (409, Some("key-change-refused".into())),
        "{}",
        current.text()
    );
    assert!(
        current.text().contains("rotate first"),
        "{}",
        current.text()
    );
    let revoked = fr
        .post_json(
            &format!("/api/v1/keys/{old_id}/revoke"),
            Some(&admin),
            &json!({}),
        )
        .await
        .unwrap();
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert_eq!(revoked.json()["key_id"], old_id.as_str());
    assert!(revoked.json()["keys"]["signing"][0]["revoked_at"].is_string());
    for id in [old_id.as_str(), "no-such-key"] {
        let again = fr
            .post_json(
                &format!("/api/v1/keys/{id}/revoke"),
                Some(&admin),
                &json!({}),
            )
            .await
            .unwrap();
        assert_eq!(
            again.refusal(),
            (409, Some("key-change-refused".into())),
            "{id}: {}",
            again.text()
        );
    }

    // Each change is in the custody ledger, naming the administrator.
    fr.sequence_all().await.unwrap();
    let size = fr.verify_ledger(&mut |_, _| {}).await.unwrap().size;
    let mut changes = Vec::new();
    for i in 0..size {
        let entry: Value = serde_json::from_slice(&fr.prove_entry(i).await.unwrap().entry).unwrap();
        if entry["kind"] == "keys-rotated" || entry["kind"] == "key-revoked" {
            let actor = entry["actor"].as_str().unwrap_or_default();
            let person = actor.split_once('/').map_or(actor, |(p, _)| p);
            changes.push((entry["kind"].clone(), person.to_owned()));
        }
    }
    assert_eq!(
        changes,
        [
            (json!("keys-rotated"), "api:ada".to_owned()),
            (json!("key-revoked"), "api:ada".to_owned()),
        ]
    );
}

#[tokio::test]
async fn an_administrator_imports_a_signed_directory_and_bad_ones_are_refused_by_type() {
    let mut net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let fr = net.node("FR");
    let admin = fr
        .token_with("ada", roles(&[Role::Administrator]))
        .await
        .unwrap();
    let cwk = fr
        .token_with("carla", roles(&[Role::Caseworker]))
        .await
        .unwrap();
    let v2 = net.sign_directory(2).unwrap();

    let forbidden = put_directory(fr, &cwk, v2.clone()).await.unwrap();
    assert_eq!(forbidden.refusal(), (403, Some("forbidden".into())));
    assert_eq!(
        refusals_of(fr, "carla").await,
        [("import-directory".to_owned(), "refused".to_owned())]
    );

    let imported = put_directory(fr, &admin, v2.clone()).await.unwrap();
    assert_eq!(imported.status, 200, "{}", imported.text());
    assert_eq!(imported.json()["version"], 2);
    let shown = fr.get("/api/v1/directory", Some(&admin)).await.unwrap();
    assert_eq!(shown.json()["version"], 2, "{}", shown.text());

    // The same version again is stale.
    let stale = put_directory(fr, &admin, v2).await.unwrap();
    assert_eq!(
        stale.refusal(),
        (422, Some("invalid-directory".into())),
        "{}",
        stale.text()
    );
    assert!(stale.text().contains("does not follow"), "{}", stale.text());
    // Bytes that are no signed directory at all.
    let garbage = put_directory(fr, &admin, b"{\"not\": \"a directory\"}".to_vec())
        .await
        .unwrap();
    assert_eq!(
        garbage.refusal(),
        (422, Some("invalid-directory".into())),
        "{}",
        garbage.text()
    );
    // A newer directory signed by another key than the registry's.
    let registry = std::mem::replace(&mut net.registry, custos_seal::SigningKey::generate());
    let forged = net.sign_directory(3).unwrap();
    net.registry = registry;
    let fr = net.node("FR");
    let refused = put_directory(fr, &admin, forged).await.unwrap();
    assert_eq!(
        refused.refusal(),
        (422, Some("invalid-directory".into())),
        "{}",
        refused.text()
    );
    assert!(
        refused.text().contains("no signature by the registry key"),
        "{}",
        refused.text()
    );
    let shown = fr.get("/api/v1/directory", Some(&admin)).await.unwrap();
    assert_eq!(shown.json()["version"], 2, "nothing refused was taken up");

    // A node configured without a registry key can verify no directory.
    let lone = TestNode::new("FR").await.unwrap();
    let lone_admin = lone
        .token_with("ada", roles(&[Role::Administrator]))
        .await
        .unwrap();
    let unverifiable = put_directory(&lone, &lone_admin, net.sign_directory(4).unwrap())
        .await
        .unwrap();
    assert_eq!(
        unverifiable.refusal(),
        (503, Some("no-registry-key".into())),
        "{}",
        unverifiable.text()
    );
    assert!(
        unverifiable.text().contains("directory.registry_key"),
        "the answer says what to configure: {}",
        unverifiable.text()
    );
}
