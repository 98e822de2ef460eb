//! The client API's cases: a preservation acknowledged and confirmed
//! through `POST /api/v1/cases/{id}/actions`, shown and listed alike on both
//! nodes; actions the case does not allow answered `409 action-not-allowed`.

use custos_testkit::Network;
use serde_json::{Value, json};
use time::Duration;

use crate::{preservation_draft, sent_to_germany};

/// Takes `action` on `id` through `state`'s client API, a minute after the
/// previous step, and carries the message to the other node.
async fn act(net: &Network, state: &str, token: &str, id: &str, action: &str, body: Value) {
    net.clock.advance(Duration::minutes(1));
    let node = net.node(state);
    let path = format!("/api/v1/cases/{id}/actions");
    let reply = node
        .post_json(&path, Some(token), &json!({"action": action, "body": body}))
        .await
        .unwrap();
    assert_eq!(reply.status, 202, "{action}: {}", reply.text());
    let message = reply.json()["message_id"].as_str().unwrap().to_owned();
    let to = if state == "FR" { "DE" } else { "FR" };
    let carried = net.carry(state, &message, to).await.unwrap();
    assert_eq!(carried.status, 200, "{action}: {}", carried.text());
}

async fn case(net: &Network, state: &str, token: &str, id: &str) -> Value {
    let reply = net
        .node(state)
        .get(&format!("/api/v1/cases/{id}"), Some(token))
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

#[tokio::test]
async fn a_preservation_case_through_the_client_api() {
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let fr_token = net.node("FR").token("alice").await.unwrap();
    let de_token = net.node("DE").token("bruno").await.unwrap();
    let id = sent_to_germany(&net, &fr_token, preservation_draft()).await;

    // The request asks for confidentiality: on Germany's node only the
    // people assigned to it see it, so Germany's duty officer assigns the
    // person who handles it (here, themselves) first.
    let assigned = net
        .node("DE")
        .post_json(
            &format!("/api/v1/cases/{id}/assignees"),
            Some(&de_token),
            &json!({"person": "bruno"}),
        )
        .await
        .unwrap();
    assert_eq!(assigned.status, 201, "{}", assigned.text());
    act(&net, "DE", &de_token, &id, "acknowledge", json!({})).await;
    // A refusal before any consultation: refused, naming the state and
    // what Germany may do instead; nothing is queued.
    let refusal = json!({"action": "refuse", "body": {"refusal": {"grounds": ["R2"], "reasons": "Essential interests."}}});
    let path = format!("/api/v1/cases/{id}/actions");
    let reply = net
        .node("DE")
        .post_json(&path, Some(&de_token), &refusal)
        .await
        .unwrap();
    assert_eq!(reply.refusal(), (409, Some("action-not-allowed".into())));
    let said = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        said.contains("consultation-required") && said.contains("acknowledged"),
        "{said}"
    );
    for (body, status, code) in [
        (json!({"action": "shrug"}), 422, "invalid-draft"),
        (
            json!({"action": "confirm-preservation", "body": {"took_effect": "1 Nov"}}),
            422,
            "invalid-draft",
        ),
    ] {
        let reply = net
            .node("DE")
            .post_json(&path, Some(&de_token), &body)
            .await
            .unwrap();
        assert_eq!(reply.refusal(), (status, Some(code.into())), "{body}");
    }
    let reply = net
        .node("DE")
        .post_json(&path, None, &json!({"action": "close"}))
        .await
        .unwrap();
    assert_eq!(reply.refusal(), (401, Some("unauthorized".into())));

    // Confirmed for 30 days, the preservation still runs the Convention's
    // 60: it ends at the start of day 61.
    act(
        &net,
        "DE",
        &de_token,
        &id,
        "confirm-preservation",
        json!({"took_effect": "2026-11-01", "days": 30}),
    )
    .await;
    let fr = case(&net, "FR", &fr_token, &id).await;
    let de = case(&net, "DE", &de_token, &id).await;
    assert_eq!(fr["state"], "preserved", "{fr}");
    assert_eq!(de["state"], "preserved", "{de}");
    assert_eq!(fr["clocks"], de["clocks"]);
    let clock = fr["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "preservation")
        .unwrap();
    assert_eq!(clock["status"], "running");
    assert_eq!(clock["due"], "2026-12-31T00:00:00Z");
    assert_eq!(fr["allowed"], de["counterpart_allowed"]);
    assert_eq!(fr["timeline"].as_array().unwrap().len(), 3);
    assert_eq!(fr["timeline"][2]["actor"], "node:DE");
    assert_eq!(de["timeline"][2]["actor"], "api:bruno/bruno");

    let listed = net
        .node("FR")
        .get(
            "/api/v1/cases?state=preserved&kind=preservation&counterpart=DE",
            Some(&fr_token),
        )
        .await
        .unwrap();
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert_eq!(listed.json().as_array().unwrap().len(), 1);
    assert_eq!(listed.json()[0]["id"], id.as_str());
    let bad = net
        .node("FR")
        .get("/api/v1/cases?state=asleep", Some(&fr_token))
        .await
        .unwrap();
    assert_eq!(bad.refusal(), (400, Some("bad-query".into())));
}

/// A decision's template as printed, read as the body of an action.
fn decision_draft(decision: custos_model::Decision) -> Value {
    custos_model::validate::parse(&custos_model::template::render_decision(decision)).unwrap()
}

#[tokio::test]
async fn decisions_that_do_not_validate_are_answered_422_with_every_problem() {
    use custos_model::Decision as D;
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let fr_token = net.node("FR").token("alice").await.unwrap();
    let de_token = net.node("DE").token("bruno").await.unwrap();
    let mla = custos_model::validate::parse(&custos_model::template::render(
        custos_model::RequestKind::Mla,
    ))
    .unwrap();
    let id = sent_to_germany(&net, &fr_token, mla).await;

    // Decision drafts as printed by `custos request template`.
    act(
        &net,
        "DE",
        &de_token,
        &id,
        "acknowledge",
        decision_draft(D::Acknowledge),
    )
    .await;
    act(
        &net,
        "DE",
        &de_token,
        &id,
        "consult",
        decision_draft(D::Consult),
    )
    .await;
    let conditions = decision_draft(D::DeclineConditions);
    act(&net, "FR", &fr_token, &id, "decline-conditions", conditions).await;

    let path = format!("/api/v1/cases/{id}/actions");
    let mut fiscal = decision_draft(D::Refuse);
    fiscal["refusal"]["grounds"] = json!(["fiscal", "bank-secrecy"]);
    let groundless = json!({"refusal": {"grounds": [], "reasons": ""}});
    let mut mismatched = decision_draft(D::Postpone);
    mismatched["note"] = json!(7);
    for (body, lines) in [
        (
            fiscal,
            vec!["error excluded-grounds-only refusal.grounds [Art. 40]"],
        ),
        (
            groundless,
            vec![
                "error missing-required refusal.grounds [Art. 40]",
                "error missing-required refusal.reasons [Art. 40]",
            ],
        ),
        (
            mismatched,
            vec![
                "error decision-mismatch decision",
                "error unknown-field reasons",
                "error wrong-type note",
                "error missing-required refusal [Art. 40]",
            ],
        ),
    ] {
        let reply = net
            .node("DE")
            .post_json(
                &path,
                Some(&de_token),
                &json!({"action": "refuse", "body": body}),
            )
            .await
            .unwrap();
        assert_eq!(
            reply.refusal(),
            (422, Some("invalid-draft".into())),
            "{body}"
        );
        let said = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        for line in lines {
            assert!(said.contains(line), "{line} not in {said}");
        }
    }
    let de = case(&net, "DE", &de_token, &id).await;
    assert_eq!(de["state"], "conditions-declined", "nothing was sent: {de}");

    act(
        &net,
        "DE",
        &de_token,
        &id,
        "refuse",
        decision_draft(D::Refuse),
    )
    .await;
    let fr = case(&net, "FR", &fr_token, &id).await;
    assert_eq!(fr["state"], "refused", "{fr}");
}
