//! Issue 18, items 2 and 3, on two nodes of the test kit (France asks,
//! Germany answers; every message sealed and carried to the other node's
//! intake): a request France marks confidential is hidden on Germany's
//! node from a caseworker not assigned to it (not listed, refused by id
//! with `confidential-not-assigned`, the refusal recorded) and shown once
//! the duty officer assigns them; an export without a reason is refused
//! and one with a reason is recorded in the ledger before the content is
//! returned; an answer Germany marks confidential hides the case likewise
//! on France's node; and the personal-data conditions Germany attaches
//! travel with the answer and are listed by France's data-protection
//! officer with the deletion date. Every test runs on SQLite, and on
//! PostgreSQL when `CUSTOS_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

use custos_model::{RequestKind, template, validate};
use custos_node::app::assignments::CONFIDENTIAL_NOT_ASSIGNED;
use custos_node::app::{Actor, CaseAction, CaseFilter, RequestFilter, Role, Roles};
use custos_node::{Node, NodeError};
use custos_store::AccessFilter;
use custos_testkit::{Network, NetworkBuilder, POSTGRES_URL_VAR, TestNode};
use serde_json::{Value, json};
use time::Duration;

async fn network(postgres: bool) -> Option<Network> {
    let mut builder = NetworkBuilder::new(&["FR", "DE"]);
    if postgres {
        let Ok(url) = std::env::var(POSTGRES_URL_VAR) else {
            println!("skipped: {POSTGRES_URL_VAR} is not set");
            return None;
        };
        builder = builder.postgres(url);
    }
    Some(builder.build().await.unwrap())
}

fn officer(state: &str) -> Actor {
    Actor::Cli {
        user: format!("officer-{}", state.to_lowercase()),
    }
}

/// A person at the desk holding exactly `roles`.
fn person(name: &str, roles: &[Role]) -> Actor {
    Actor::Desk {
        user: name.to_owned(),
        roles: roles.iter().copied().collect::<Roles>(),
    }
}

/// Adds `name` as a user of `node` with `role` (so that it can be assigned).
async fn add_user(node: &Node, name: &str, role: Role) {
    node.add_user(
        &officer("xx"),
        custos_node::app::NewUser {
            name: name.to_owned(),
            display_name: None,
            email: None,
            roles: [role].into_iter().collect(),
            password: None,
        },
    )
    .await
    .unwrap();
}

/// France sends `draft` to Germany; its thread.
async fn send(net: &Network, draft: Value) -> String {
    net.clock.advance(Duration::minutes(1));
    let sent = net.node("FR").submit(draft, &officer("FR")).await.unwrap();
    let reply = net.carry("FR", &sent.message_id, "DE").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    sent.thread
}

fn template_of(kind: RequestKind) -> Value {
    validate::parse(&template::render(kind)).unwrap()
}

async fn listed(node: &Node, actor: &Actor, thread: &str) -> (bool, bool) {
    let cases = node.cases(actor, &CaseFilter::default()).await.unwrap();
    let requests = node
        .requests(actor, &RequestFilter::default())
        .await
        .unwrap();
    (
        cases.iter().any(|c| c.id == thread),
        requests.iter().any(|r| r.id == thread),
    )
}

async fn refused_rows(node: &TestNode, person: &str) -> Vec<custos_store::AccessRecord> {
    node.store
        .access_records(&AccessFilter {
            person: Some(person.to_owned()),
            limit: 1000,
            ..AccessFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.outcome == "refused")
        .collect()
}

/// The queued ledger entries of `kind`, as JSON.
async fn entries(node: &TestNode, kind: &str) -> Vec<Value> {
    node.store
        .pending_ledger(100_000)
        .await
        .unwrap()
        .into_iter()
        .map(|p| serde_json::from_slice::<Value>(&p.entry).unwrap())
        .filter(|e| e["kind"] == kind)
        .collect()
}

async fn a_confidential_request_is_shown_only_to_the_people_assigned(postgres: bool) {
    let Some(net) = network(postgres).await else {
        return;
    };
    // The preservation template asks for confidentiality.
    let draft = template_of(RequestKind::Preservation);
    assert_eq!(draft["confidentiality"]["required"], true);
    let thread = send(&net, draft).await;
    // A request without it stays visible to everyone allowed.
    let mut open = template_of(RequestKind::Preservation);
    open["confidentiality"]["required"] = json!(false);
    let plain = send(&net, open).await;

    let de = net.node("DE");
    add_user(de, "carla", Role::Caseworker).await;
    let carla = person("carla", &[Role::Caseworker]);
    let duty = person("dieter", &[Role::DutyOfficer]);

    // Not listed, and refused by id, the refusal recorded.
    assert_eq!(listed(de, &carla, &thread).await, (false, false));
    assert_eq!(listed(de, &carla, &plain).await, (true, true));
    let err = de.case(&thread, &carla).await.unwrap_err();
    assert!(
        matches!(&err, NodeError::Forbidden { reason, .. } if reason.contains(CONFIDENTIAL_NOT_ASSIGNED)),
        "{err}"
    );
    let err = de.read_request(&thread, &carla).await.unwrap_err();
    assert!(matches!(err, NodeError::Forbidden { .. }), "{err}");
    let err = de
        .act(&thread, CaseAction::Acknowledge, json!({}), &carla)
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::Forbidden { .. }), "{err}");
    let refused = refused_rows(de, "carla").await;
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(refused.iter().all(|r| r.case_id.as_deref() == Some(&thread)
        && r.reason.as_deref().unwrap().contains(CONFIDENTIAL_NOT_ASSIGNED)));
    // On the requesting node the request is not confidential.
    assert_eq!(
        listed(net.node("FR"), &person("fabien", &[Role::Caseworker]), &thread).await,
        (true, true)
    );

    // A caseworker cannot assign themselves; the duty officer assigns.
    let err = de.assign_case(&carla, &thread, "carla").await.unwrap_err();
    assert!(matches!(err, NodeError::Forbidden { .. }), "{err}");
    let assigned = de.assign_case(&duty, &thread, "carla").await.unwrap();
    assert!(assigned.in_force);
    assert_eq!(assigned.assigned_by, "desk:dieter");
    // Assigned twice is refused, and writes no second entry.
    assert!(de.assign_case(&duty, &thread, "carla").await.is_err());
    let logged = entries(de, "case-assigned").await;
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0]["detail"]["person"], "carla");
    assert_eq!(logged[0]["request"], thread.as_str());
    let assignees = de.case_assignees(&duty, &thread).await.unwrap();
    assert!(assignees.confidential);
    assert_eq!(assignees.confidential_because, ["request"]);

    // Now shown, listed and acted on.
    assert_eq!(listed(de, &carla, &thread).await, (true, true));
    let case = de.case(&thread, &carla).await.unwrap();
    assert_eq!(case.id, thread);
    de.read_request(&thread, &carla).await.unwrap();

    // Exporting needs a recorded reason.
    let err = de.export_case(&carla, &thread, "  ").await.unwrap_err();
    assert!(matches!(err, NodeError::InvalidDraft(_)), "{err}");
    assert!(entries(de, "case-exported").await.is_empty());
    let export = de
        .export_case(&carla, &thread, "for the prosecutor's file 12/2026")
        .await
        .unwrap();
    assert!(export.confidential);
    assert_eq!(export.request.draft["kind"], "preservation");
    let logged = entries(de, "case-exported").await;
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0]["actor"], "desk:carla");
    assert_eq!(
        logged[0]["detail"]["reason"],
        "for the prosecutor's file 12/2026"
    );
    assert_eq!(logged[0]["detail"]["confidential"], true);
    assert_eq!(
        custos_seal::content_id(&serde_json::to_vec(&logged[0]).unwrap()).len(),
        export.ledger_entry.len()
    );

    // Unassigned, hidden again.
    de.unassign_case(&duty, &thread, "carla").await.unwrap();
    assert_eq!(listed(de, &carla, &thread).await, (false, false));
    assert!(de.case(&thread, &carla).await.is_err());
    assert_eq!(entries(de, "case-unassigned").await.len(), 1);
    // The operator at the node's files is not held by assignments.
    de.case(&thread, &officer("DE")).await.unwrap();
}

async fn a_confidential_answer_hides_the_case_and_its_personal_data_conditions_are_listed(
    postgres: bool,
) {
    let Some(net) = network(postgres).await else {
        return;
    };
    let thread = send(&net, template_of(RequestKind::Mla)).await;
    let (fr, de) = (net.node("FR"), net.node("DE"));
    let fabien = person("fabien", &[Role::Caseworker]);
    let dpo = person("dora", &[Role::DataProtectionOfficer]);
    add_user(fr, "fabien", Role::Caseworker).await;
    assert_eq!(listed(fr, &fabien, &thread).await, (true, true));

    net.clock.advance(Duration::minutes(1));
    let ack = de
        .act(&thread, CaseAction::Acknowledge, json!({}), &officer("DE"))
        .await
        .unwrap();
    assert_eq!(
        net.carry("DE", &ack.message_id, "FR").await.unwrap().status,
        200
    );
    net.clock.advance(Duration::minutes(1));
    let body = json!({
        "evidence": [],
        "note": "The subscriber data is attached to this answer.",
        "confidential": {"required": true, "reasons": "A related investigation is open here."},
        "personal_data": {
            "categories": ["subscriber data"],
            "conditions": ["Used only for the offences named in the request."],
            "delete_by": "2027-06-30"
        }
    });
    let executed = de
        .act(&thread, CaseAction::ExecuteWholly, body, &officer("DE"))
        .await
        .unwrap();
    let reply = net.carry("DE", &executed.message_id, "FR").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());

    // On France's node the case is now only for the people assigned.
    assert_eq!(listed(fr, &fabien, &thread).await, (false, false));
    let err = fr.case(&thread, &fabien).await.unwrap_err();
    assert!(
        matches!(&err, NodeError::Forbidden { reason, .. } if reason.contains(CONFIDENTIAL_NOT_ASSIGNED)),
        "{err}"
    );
    let why = fr.case_assignees(&officer("FR"), &thread).await.unwrap();
    assert_eq!(
        why.confidential_because,
        [format!("answer:{}", executed.message_id)]
    );

    // The DPO lists the personal data held, its conditions and its
    // deletion date, without being assigned (no case content is shown).
    let held = fr.personal_data(&dpo, &thread).await.unwrap();
    assert_eq!(held.items.len(), 1, "{held:?}");
    let item = &held.items[0];
    assert_eq!(item.source, "answer");
    assert_eq!(item.id, executed.message_id);
    assert_eq!(item.from.as_str(), "DE");
    assert_eq!(item.categories, ["subscriber data"]);
    assert_eq!(
        item.conditions,
        ["Used only for the offences named in the request."]
    );
    assert_eq!(item.delete_by.as_deref(), Some("2027-06-30"));
    assert!(item.confidential);
    assert_eq!(held.deletion_date.as_deref(), Some("2027-06-30"));
    // A caseworker may not list it; the conditions show with the data.
    assert!(fr.personal_data(&fabien, &thread).await.is_err());
    fr.assign_case(&officer("FR"), &thread, "fabien")
        .await
        .unwrap();
    let case = fr.case(&thread, &fabien).await.unwrap();
    let step = case
        .timeline
        .iter()
        .find(|t| t.message_id == executed.message_id)
        .unwrap();
    let shown = step.body.as_ref().unwrap();
    assert_eq!(shown["personal_data"]["delete_by"], "2027-06-30");
    assert_eq!(shown["confidential"]["required"], true);
    // Germany, which sent it, holds the same conditions.
    let sent = de.personal_data(&officer("DE"), &thread).await.unwrap();
    assert_eq!(sent.items, held.items);
}

#[tokio::test]
async fn a_confidential_request_is_shown_only_to_the_people_assigned_on_sqlite() {
    a_confidential_request_is_shown_only_to_the_people_assigned(false).await;
}

#[tokio::test]
async fn a_confidential_request_is_shown_only_to_the_people_assigned_on_postgres() {
    a_confidential_request_is_shown_only_to_the_people_assigned(true).await;
}

#[tokio::test]
async fn a_confidential_answer_hides_the_case_and_its_personal_data_conditions_are_listed_on_sqlite()
 {
    a_confidential_answer_hides_the_case_and_its_personal_data_conditions_are_listed(false).await;
}

#[tokio::test]
async fn a_confidential_answer_hides_the_case_and_its_personal_data_conditions_are_listed_on_postgres()
 {
    a_confidential_answer_hides_the_case_and_its_personal_data_conditions_are_listed(true).await;
}
