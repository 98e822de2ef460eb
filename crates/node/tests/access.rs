//! The access check and the record of who saw what, on two nodes of the
//! test kit: a refusal to each role is `Forbidden` and leaves an
//! access-record row and an `access` ledger entry; an allowed read leaves
//! a row; an auditor sees a case only while a grant of it is in force (not
//! after its revocation or its end); the record lists by person, case and
//! period; a failed authentication is recorded as `anonymous`; and the
//! ledger still verifies after all this recording. Every test runs on
//! SQLite, and on PostgreSQL when `CUSTOS_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

use custos_model::clock::Clock;
use custos_model::{RequestKind, template, validate};
use custos_node::app::access::{self, Grant};
use custos_node::app::{Actor, AuditFilter, CaseFilter, Operation, Role, Roles};
use custos_node::{Node, NodeError};
use custos_store::AccessFilter;
use custos_testkit::{Network, NetworkBuilder, TestNode};
use serde_json::Value;
use time::Duration;

async fn network(postgres: bool) -> Option<Network> {
    let mut builder = NetworkBuilder::new(&["FR", "DE"]);
    if postgres {
        let url = custos_testkit::postgres_url()?;
        builder = builder.postgres(url);
    }
    Some(builder.build().await.unwrap())
}

/// The operator at France's files (who may do everything).
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

/// France's preservation request, sent to Germany and carried; its thread.
async fn request(net: &Network) -> String {
    net.clock.advance(Duration::minutes(1));
    let mut draft = validate::parse(&template::render(RequestKind::Preservation)).unwrap();
    // Not confidential: these tests are about roles and grants; a
    // confidential case is for the people assigned to it
    // (`tests/confidential.rs`).
    draft["confidentiality"]["required"] = serde_json::json!(false);
    let sent = net.node("FR").submit(draft, &officer("FR")).await.unwrap();
    let reply = net.carry("FR", &sent.message_id, "DE").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    sent.thread
}

/// Calls the node's operation `op` as `actor` (a few operations stand for
/// all: each goes through the one check).
async fn call(node: &Node, actor: &Actor, op: Operation) -> Result<(), NodeError> {
    match op {
        Operation::ReadAudit => node.audit(actor, &AuditFilter::default()).await.map(drop),
        Operation::ReadMetrics => node.metrics_counts(actor, 10).await.map(drop),
        Operation::ListCases => node.cases(actor, &CaseFilter::default()).await.map(drop),
        Operation::ReadStatistics => node.statistics(actor, 10).await.map(drop),
        other => panic!("no call for {other}"),
    }
}

/// The rows of the record for `person`, newest first.
async fn rows_of(node: &TestNode, person: &str) -> Vec<custos_store::AccessRecord> {
    node.store
        .access_records(&AccessFilter {
            person: Some(person.to_owned()),
            limit: 1000,
            ..AccessFilter::default()
        })
        .await
        .unwrap()
}

/// The queued `access` ledger entries, as JSON.
async fn access_entries(node: &TestNode) -> Vec<Value> {
    node.store
        .pending_ledger(10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|p| serde_json::from_slice::<Value>(&p.entry).unwrap())
        .filter(|e| e["kind"] == "access")
        .collect()
}

async fn each_role_refused_an_operation_is_forbidden_and_recorded(postgres: bool) {
    let Some(net) = network(postgres).await else {
        return;
    };
    let fr = net.node("FR");
    for role in Role::ALL {
        let name = format!("someone-{role}");
        let actor = person(&name, &[role]);
        let op = [
            Operation::ReadAudit,
            Operation::ReadMetrics,
            Operation::ListCases,
        ]
        .into_iter()
        .find(|op| access::grant(role, *op) == Grant::Refused)
        .unwrap();
        let before = access_entries(fr).await.len();
        let err = call(fr, &actor, op).await.unwrap_err();
        assert!(
            matches!(&err, NodeError::Forbidden { operation, .. } if *operation == op.name()),
            "{role} {op}: {err}"
        );
        let rows = rows_of(fr, &name).await;
        assert_eq!(rows.len(), 1, "{role}: one row for one refusal");
        let row = &rows[0];
        assert_eq!(row.outcome, "refused");
        assert_eq!(row.operation, op.name());
        assert_eq!(row.actor, format!("desk:{name}"));
        assert!(row.reason.as_deref().unwrap().contains(role.name()));
        let entries = access_entries(fr).await;
        assert_eq!(entries.len(), before + 1, "{role}: one ledger entry");
        let entry = entries.last().unwrap();
        assert_eq!(entry["actor"], format!("desk:{name}"));
        assert_eq!(entry["detail"]["outcome"], "refused");
        assert_eq!(entry["detail"]["operation"], op.name());
        // The row names its entry by content id.
        let bytes = fr.store.pending_ledger(10_000).await.unwrap();
        assert!(
            bytes
                .iter()
                .any(|p| custos_seal::content_id(&p.entry) == row.entry_sha256)
        );
        // What the role may do works, and is recorded as allowed.
        let allowed = [Operation::ReadStatistics, Operation::ListCases]
            .into_iter()
            .find(|op| access::grant(role, *op) == Grant::Allowed)
            .unwrap();
        call(fr, &actor, allowed).await.unwrap();
        let rows = rows_of(fr, &name).await;
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].outcome, "allowed");
        assert_eq!(rows[0].operation, allowed.name());
    }
    net.stop().await;
}

async fn the_auditor_sees_a_case_only_while_granted(postgres: bool) {
    let Some(net) = network(postgres).await else {
        return;
    };
    let thread = request(&net).await;
    let de = net.node("DE");
    let auditor = person("aud", &[Role::Auditor]);
    let dpo = person("dpo", &[Role::DataProtectionOfficer]);
    let caseworker = person("cw", &[Role::Caseworker]);

    // A caseworker reads it: allowed, recorded with the case.
    de.case(&thread, &caseworker).await.unwrap();
    let rows = rows_of(de, "cw").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].case_id.as_deref(), Some(thread.as_str()));
    assert_eq!(rows[0].operation, "read-case");
    assert_eq!(rows[0].outcome, "allowed");

    // No grant: the auditor may list cases but not read this one.
    de.cases(&auditor, &CaseFilter::default()).await.unwrap();
    let err = de.case(&thread, &auditor).await.unwrap_err();
    assert!(matches!(err, NodeError::Forbidden { .. }), "{err}");
    let err = de.read_request(&thread, &auditor).await.unwrap_err();
    assert!(matches!(err, NodeError::Forbidden { .. }), "{err}");
    // A caseworker may not grant; the data-protection officer may.
    let until = net.clock.now() + Duration::hours(1);
    let err = de
        .grant_case_access(&caseworker, &thread, "aud", "review", until)
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::Forbidden { .. }), "{err}");
    let grant = de
        .grant_case_access(&dpo, &thread, "aud", "quarterly review", until)
        .await
        .unwrap();
    assert!(grant.in_force);
    assert_eq!(grant.granted_by, "desk:dpo");
    de.case(&thread, &auditor).await.unwrap();
    de.read_request(&thread, &auditor).await.unwrap();
    let listed = de.case_grants(&dpo, &thread).await.unwrap();
    assert_eq!(listed.len(), 1);
    // Revoked: refused again.
    assert_eq!(
        de.revoke_case_access(&dpo, &thread, "aud").await.unwrap(),
        1
    );
    let err = de.case(&thread, &auditor).await.unwrap_err();
    assert!(matches!(err, NodeError::Forbidden { .. }), "{err}");
    assert!(
        de.revoke_case_access(&dpo, &thread, "aud").await.is_err(),
        "nothing left to revoke"
    );
    // Granted again for an hour, then the hour passes.
    de.grant_case_access(&dpo, &thread, "aud", "follow-up", until)
        .await
        .unwrap();
    de.case(&thread, &auditor).await.unwrap();
    net.clock.advance(Duration::hours(2));
    let err = de.case(&thread, &auditor).await.unwrap_err();
    assert!(matches!(err, NodeError::Forbidden { .. }), "{err}");
    let grants = de.case_grants(&dpo, &thread).await.unwrap();
    assert_eq!(grants.len(), 2);
    assert!(grants.iter().all(|g| !g.in_force));

    // The auditor's record: list allowed, read refused, read allowed
    // twice, read refused, read allowed, read refused (newest first).
    let outcomes: Vec<(String, String)> = rows_of(de, "aud")
        .await
        .into_iter()
        .rev()
        .map(|r| (r.operation, r.outcome))
        .collect();
    let expected = [
        ("list-cases", "allowed"),
        ("read-case", "refused"),
        ("read-case", "refused"),
        ("read-case", "allowed"),
        ("read-case", "allowed"),
        ("read-case", "refused"),
        ("read-case", "allowed"),
        ("read-case", "refused"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(o, r)| ((*o).to_owned(), (*r).to_owned()))
        .collect();
    assert_eq!(outcomes, expected);
    // Grants and revocations are in the ledger too, naming no content.
    let kinds: Vec<String> = de
        .store
        .pending_ledger(10_000)
        .await
        .unwrap()
        .iter()
        .map(|p| serde_json::from_slice::<Value>(&p.entry).unwrap()["kind"].to_string())
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "\"case-access-granted\"")
            .count(),
        2
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "\"case-access-revoked\"")
            .count(),
        1
    );
    // And the ledger verifies with all of it.
    de.sequence_all().await.unwrap();
    let verdict = de.check_ledger(&dpo, &mut |_, _| {}).await.unwrap();
    assert!(
        matches!(verdict, custos_node::app::ledger::LedgerVerdict::Good(_)),
        "{verdict:?}"
    );
    net.stop().await;
}

async fn the_record_lists_by_person_case_and_period(postgres: bool) {
    let Some(net) = network(postgres).await else {
        return;
    };
    let first = request(&net).await;
    let second = request(&net).await;
    let de = net.node("DE");
    let ana = person("ana", &[Role::Caseworker]);
    let bo = person("bo", &[Role::DutyOfficer]);
    let dpo = person("dpo", &[Role::DataProtectionOfficer]);
    let start = net.clock.now();
    de.case(&first, &ana).await.unwrap();
    net.clock.advance(Duration::minutes(10));
    let middle = net.clock.now();
    de.case(&second, &ana).await.unwrap();
    de.case(&first, &bo).await.unwrap();
    net.clock.advance(Duration::minutes(10));
    de.record_authentication_failure("192.0.2.7", "no bearer token was presented")
        .await
        .unwrap();

    let list = |filter: AuditFilter| {
        let dpo = dpo.clone();
        async move { de.audit(&dpo, &filter).await.unwrap() }
    };
    let by_ana = list(AuditFilter {
        person: Some("ana".into()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(by_ana.len(), 2);
    assert!(by_ana.iter().all(|r| r.person == "ana"));
    assert_eq!(
        by_ana[0].case.as_deref(),
        Some(second.as_str()),
        "newest first"
    );
    let on_first = list(AuditFilter {
        case: Some(first.clone()),
        ..AuditFilter::default()
    })
    .await;
    // This very listing, about the case, is recorded with it first.
    let people: Vec<&str> = on_first.iter().map(|r| r.person.as_str()).collect();
    assert_eq!(people, ["dpo", "bo", "ana"]);
    assert_eq!(on_first[0].operation, "read-audit");
    let early = list(AuditFilter {
        since: Some(start),
        until: Some(middle),
        person: Some("ana".into()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(early.len(), 1);
    assert_eq!(early[0].case.as_deref(), Some(first.as_str()));
    let anonymous = list(AuditFilter {
        person: Some("anonymous".into()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(anonymous.len(), 1);
    assert_eq!(anonymous[0].operation, "authenticate");
    assert_eq!(anonymous[0].outcome, "refused");
    // The audit listings themselves are in the record, by the DPO.
    let dpo_rows = list(AuditFilter {
        person: Some("dpo".into()),
        ..AuditFilter::default()
    })
    .await;
    assert!(dpo_rows.iter().all(|r| r.operation == "read-audit"));
    assert_eq!(dpo_rows.len(), 5);
    // An empty period is a caller's mistake.
    let err = de
        .audit(
            &dpo,
            &AuditFilter {
                since: Some(middle),
                until: Some(start),
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("period"), "{err}");
    // A caseworker may not read the record; the refusal is recorded.
    assert!(matches!(
        de.audit(&ana, &AuditFilter::default()).await,
        Err(NodeError::Forbidden { .. })
    ));
    net.stop().await;
}

#[tokio::test]
async fn each_role_refused_an_operation_is_forbidden_and_recorded_on_sqlite() {
    each_role_refused_an_operation_is_forbidden_and_recorded(false).await;
}

#[tokio::test]
async fn each_role_refused_an_operation_is_forbidden_and_recorded_on_postgres() {
    each_role_refused_an_operation_is_forbidden_and_recorded(true).await;
}

#[tokio::test]
async fn the_auditor_sees_a_case_only_while_granted_on_sqlite() {
    the_auditor_sees_a_case_only_while_granted(false).await;
}

#[tokio::test]
async fn the_auditor_sees_a_case_only_while_granted_on_postgres() {
    the_auditor_sees_a_case_only_while_granted(true).await;
}

#[tokio::test]
async fn the_record_lists_by_person_case_and_period_on_sqlite() {
    the_record_lists_by_person_case_and_period(false).await;
}

#[tokio::test]
async fn the_record_lists_by_person_case_and_period_on_postgres() {
    the_record_lists_by_person_case_and_period(true).await;
}
