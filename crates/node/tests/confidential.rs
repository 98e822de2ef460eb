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

use std::sync::Arc;

use custos_model::{RequestKind, StateCode, template, validate};
use custos_node::app::assignments::CONFIDENTIAL_NOT_ASSIGNED;
use custos_node::app::evidence::SealMarks;
use custos_node::app::{Actor, CaseAction, CaseFilter, RequestFilter, Role, Roles};
use custos_node::evidence::pipeline::NoProgress;
use custos_node::evidence::transfer::{SendObserver, SendOptions};
use custos_node::{Node, NodeError};
use custos_protocol::case_bodies::PersonalData;
use custos_protocol::evidence::MIN_SEGMENT_SIZE;
use custos_store::AccessFilter;
use custos_testkit::{Network, NetworkBuilder, TestNode};
use serde_json::{Value, json};
use time::Duration;

async fn network(postgres: bool) -> Option<Network> {
    // Served on 127.0.0.1: messages and evidence go over real HTTP.
    let mut builder = NetworkBuilder::new(&["FR", "DE"]).served();
    if postgres {
        let url = custos_testkit::postgres_url()?;
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

/// The ledger entries of `kind`, queued or appended (the sequencer runs),
/// as JSON with their content ids.
async fn logged(node: &TestNode, kind: &str) -> Vec<(String, Value)> {
    // Queued first: an entry appended in between is then read appended.
    let mut raw: Vec<Vec<u8>> = node
        .store
        .pending_ledger(100_000)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.entry)
        .collect();
    for e in node.store.ledger_entries(0, 100_000).await.unwrap() {
        if !raw.contains(&e.entry) {
            raw.push(e.entry);
        }
    }
    raw.into_iter()
        .map(|bytes| {
            (
                custos_seal::content_id(&bytes),
                serde_json::from_slice::<Value>(&bytes).unwrap(),
            )
        })
        .filter(|(_, e)| e["kind"] == kind)
        .collect()
}

/// The ledger entries of `kind`, as JSON.
async fn entries(node: &TestNode, kind: &str) -> Vec<Value> {
    logged(node, kind)
        .await
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

async fn exported_ids(node: &TestNode) -> Vec<String> {
    logged(node, "case-exported")
        .await
        .into_iter()
        .map(|(id, _)| id)
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
    assert!(refused.iter().all(|r| {
        r.case_id.as_deref() == Some(&thread)
            && r.reason
                .as_deref()
                .unwrap()
                .contains(CONFIDENTIAL_NOT_ASSIGNED)
    }));
    // On the requesting node the request is not confidential.
    assert_eq!(
        listed(
            net.node("FR"),
            &person("fabien", &[Role::Caseworker]),
            &thread
        )
        .await,
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
    // The export names the entry that records it.
    let ids: Vec<String> = exported_ids(de).await;
    assert!(ids.contains(&export.ledger_entry), "{ids:?}");

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
    // The register of every case lists it too, and records the officer's
    // decision for each case it read, each row with its ledger entry.
    let rows = |node: &TestNode| {
        let store = std::sync::Arc::clone(&node.store);
        let case = thread.clone();
        async move {
            store
                .access_records(&AccessFilter {
                    person: Some("dora".to_owned()),
                    case_id: Some(case),
                    limit: 1000,
                    ..AccessFilter::default()
                })
                .await
                .unwrap()
        }
    };
    let before = rows(fr).await.len();
    let register = fr.personal_data_register(&dpo, 50).await.unwrap();
    assert_eq!(register.len(), 1, "{register:?}");
    assert_eq!(register[0].items, held.items);
    let after = rows(fr).await;
    assert_eq!(
        after.len(),
        before + 1,
        "one decision for the one case listed"
    );
    let row = &after[0];
    assert_eq!(
        (row.operation.as_str(), row.outcome.as_str()),
        ("list-personal-data", "allowed")
    );
    let entries = logged(fr, "access").await;
    assert!(
        entries.iter().any(|(id, _)| *id == row.entry_sha256),
        "the row's ledger entry is queued or appended"
    );
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

struct Quiet;

impl SendObserver for Quiet {
    fn say(&self, _line: &str) {}
    fn start(&self, _total: u64, _label: &str) {}
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
}

async fn a_package_marked_confidential_hides_its_case_and_carries_its_personal_data(
    postgres: bool,
) {
    let Some(net) = network(postgres).await else {
        return;
    };
    let thread = send(&net, template_of(RequestKind::Mla)).await;
    let (fr, de) = (net.node("FR"), net.node("DE"));
    let fabien = person("fabien", &[Role::Caseworker]);
    let dpo = person("dora", &[Role::DataProtectionOfficer]);
    assert_eq!(listed(fr, &fabien, &thread).await, (true, true));

    // Germany seals a package it marks confidential, with the conditions
    // of the personal data in it, and sends it to France.
    let scratch = tempfile::tempdir().unwrap();
    let log = scratch.path().join("log.txt");
    std::fs::write(&log, b"2026-11-20 10:00 203.0.113.7 subscriber 4711\n").unwrap();
    let fr_code: StateCode = "FR".parse().unwrap();
    let marks = SealMarks {
        confidential: Some("An informant is named.".into()),
        conditions: vec![],
        personal_data: Some(PersonalData {
            categories: vec![" traffic data ".into(), " ".into()],
            conditions: vec!["Not to be passed on without our consent.".into()],
            delete_by: Some(time::Date::from_calendar_date(2027, time::Month::March, 31).unwrap()),
        }),
    };
    // Personal data of no category is refused before anything is sealed.
    let blank = SealMarks {
        personal_data: Some(PersonalData {
            categories: vec![" ".into()],
            ..PersonalData::default()
        }),
        ..SealMarks::default()
    };
    let err = de
        .evidence_seal_options(
            &thread,
            &[fr_code],
            MIN_SEGMENT_SIZE,
            &blank,
            &officer("DE"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::EvidenceInput { .. }), "{err}");
    let options = de
        .evidence_seal_options(
            &thread,
            &[fr_code],
            MIN_SEGMENT_SIZE,
            &marks,
            &officer("DE"),
        )
        .await
        .unwrap();
    assert_eq!(options.confidentiality["required"], true);
    assert_eq!(
        options.confidentiality["provider_reasons"],
        "An informant is named."
    );
    assert_eq!(
        options.personal_data.as_ref().map(|p| p.categories.clone()),
        Some(vec!["traffic data".to_owned()]),
        "texts trimmed, blank ones dropped"
    );
    let out = scratch.path().join("pkg");
    de.seal_evidence(
        vec![log],
        options,
        out.clone(),
        Arc::new(NoProgress),
        &officer("DE"),
    )
    .await
    .unwrap();
    let local = de.check_package_for_send(&out).unwrap();
    let send_options = SendOptions {
        retry_for: std::time::Duration::from_secs(30),
        ..SendOptions::default()
    };
    let sent = de
        .send_evidence(&local, fr_code, &send_options, &Quiet, &officer("DE"))
        .await
        .unwrap();

    // On France's node the case and the package are for those assigned.
    assert_eq!(listed(fr, &fabien, &thread).await, (false, false));
    let packages = |actor: Actor| async move {
        fr.received_packages(&actor)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|p| p.manifest.map(|m| m.package_id))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        packages(officer("FR")).await,
        std::slice::from_ref(&sent.package)
    );
    assert!(packages(fabien.clone()).await.is_empty());
    let why = fr.case_assignees(&officer("FR"), &thread).await.unwrap();
    assert_eq!(
        why.confidential_because,
        [format!("package:{}", sent.package)]
    );

    // The DPO lists the package's personal data, conditions and date.
    let held = fr.personal_data(&dpo, &thread).await.unwrap();
    assert_eq!(held.items.len(), 1, "{held:?}");
    let item = &held.items[0];
    assert_eq!(
        (item.source.as_str(), item.id.as_str()),
        ("package", sent.package.as_str())
    );
    assert_eq!(item.categories, ["traffic data"]);
    assert_eq!(
        item.conditions,
        ["Not to be passed on without our consent."]
    );
    assert!(item.confidential);
    assert_eq!(held.deletion_date.as_deref(), Some("2027-03-31"));

    // Assigned, the caseworker sees both again.
    add_user(fr, "fabien", Role::Caseworker).await;
    fr.assign_case(&officer("FR"), &thread, "fabien")
        .await
        .unwrap();
    assert_eq!(listed(fr, &fabien, &thread).await, (true, true));
    assert_eq!(
        packages(fabien.clone()).await,
        std::slice::from_ref(&sent.package)
    );

    // The deep check finds the marks the signed content calls for; a mark
    // removed behind the node's back (which would show the case to
    // everyone) is named.
    let deep = fr.verify_deep().await.unwrap();
    assert!(deep.problems.is_empty(), "{:?}", deep.problems);
    if !postgres {
        let db = rusqlite::Connection::open(net.node("FR").dir().join("custos.db")).unwrap();
        let removed = db
            .execute(
                "DELETE FROM confidential_cases WHERE case_id = ?1",
                [&thread],
            )
            .unwrap();
        assert!(removed >= 1);
        let deep = fr.verify_deep().await.unwrap();
        let named = format!(
            "({}) marks it confidential",
            format_args!("package:{}", sent.package)
        );
        assert!(
            deep.problems
                .iter()
                .any(|p| p.contains(&named) && p.contains(&thread)),
            "{:?}",
            deep.problems
        );
    }
}

#[tokio::test]
async fn a_package_marked_confidential_hides_its_case_and_carries_its_personal_data_on_sqlite() {
    a_package_marked_confidential_hides_its_case_and_carries_its_personal_data(false).await;
}

#[tokio::test]
async fn a_package_marked_confidential_hides_its_case_and_carries_its_personal_data_on_postgres() {
    a_package_marked_confidential_hides_its_case_and_carries_its_personal_data(true).await;
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
