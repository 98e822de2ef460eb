//! Retention and deletion (issue 18) on two nodes of the test kit, with the
//! kit's clock jumped ahead instead of waiting: a case that ended is
//! deleted once its retention passes (its content no longer readable, a
//! read naming the deletion as `ContentDeleted`), while the ledger still
//! verifies, the deep check still passes and the listing keeps the case's
//! metadata; a legal hold stops the deletion and lifting it lets it
//! proceed; a changed retention is recorded with its reason and person.
//! Every test runs on SQLite, and on PostgreSQL when
//! `CUSTOS_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

mod common;
#[path = "common/evidence.rs"]
#[allow(dead_code)] // the sending helpers of other tests
mod evidence;

use common::{officer, step};
use custos_model::{RequestKind, template, validate};
use custos_node::NodeError;
use custos_node::app::{Actor, CaseAction as A, CaseFilter, RetentionPeriod, Role, Roles};
use custos_testkit::{Network, NetworkBuilder};
use serde_json::json;
use time::Duration;

async fn network(postgres: bool) -> Option<Network> {
    let mut builder = NetworkBuilder::new(&["FR", "DE"]);
    if postgres {
        let url = custos_testkit::postgres_url()?;
        builder = builder.postgres(url);
    }
    Some(builder.build().await.unwrap())
}

/// France's MLA request to Germany, withdrawn by France (the case ends).
async fn ended_case(net: &Network) -> String {
    net.clock.advance(Duration::minutes(1));
    let draft = validate::parse(&template::render(RequestKind::Mla)).unwrap();
    let sent = net.node("FR").submit(draft, &officer("FR")).await.unwrap();
    let reply = net.carry("FR", &sent.message_id, "DE").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    step(net, &sent.thread, "FR", A::Withdraw, json!({})).await;
    sent.thread
}

async fn ledger_and_deep_check_pass(net: &Network, state: &str) {
    let node = &net.node(state).node;
    node.sequence_all().await.unwrap();
    node.verify_ledger(&mut |_, _| {}).await.unwrap();
    let deep = node.verify_deep().await.unwrap();
    assert!(deep.problems.is_empty(), "{state}: {:?}", deep.problems);
}

fn dpo() -> Actor {
    Actor::Desk {
        user: "dora".into(),
        roles: [Role::DataProtectionOfficer].into_iter().collect::<Roles>(),
    }
}

async fn retention_ends_and_deletes_the_content_while_the_ledger_verifies(postgres: bool) {
    let Some(net) = network(postgres).await else {
        return;
    };
    let id = ended_case(&net).await;
    let fr = &net.node("FR").node;
    let de = &net.node("DE").node;
    // The index is derived: the case's end is noted on both sides.
    fr.run_clocks().await.unwrap();
    de.run_clocks().await.unwrap();
    let view = fr.retention(&id, &officer("FR")).await.unwrap();
    assert!(view.ended_at.is_some(), "{view:?}");
    assert_eq!(view.days, 1826);
    let due = view.deletion_date.unwrap();

    // Not due yet: nothing is deleted.
    assert!(
        fr.purge_due(&Actor::Scheduler)
            .await
            .unwrap()
            .deleted
            .is_empty()
    );
    fr.case(&id, &officer("FR")).await.unwrap();

    net.clock.set(due + Duration::seconds(1));
    // Five years on, a directory of the day.
    let signed = net.sign_directory(2).unwrap();
    for n in [fr, de] {
        n.import_directory(&officer("FR"), &signed).await.unwrap();
    }
    let purged = fr.purge_due(&Actor::Scheduler).await.unwrap();
    assert_eq!(purged.deleted.len(), 1, "{purged:?}");
    let d = &purged.deleted[0];
    assert_eq!(
        (d.case.as_str(), d.by.as_str()),
        (id.as_str(), "node:scheduler")
    );
    assert_eq!(d.messages, 2);
    // Once only.
    assert!(
        fr.purge_due(&Actor::Scheduler)
            .await
            .unwrap()
            .deleted
            .is_empty()
    );

    // The content is gone; a read names the deletion.
    // Every message but the deletion report queued after the deletion.
    let held = fr.store().thread_messages(&id).await.unwrap();
    assert_eq!(held.len(), 3);
    for m in &held[..2] {
        assert!(m.envelope.is_empty(), "message {} still held", m.id);
    }
    let err = fr.case(&id, &officer("FR")).await.unwrap_err();
    assert!(
        matches!(&err, NodeError::ContentDeleted { entry, .. } if *entry == d.entry),
        "{err}"
    );
    assert!(matches!(
        fr.request_detail(&id).await.unwrap_err(),
        NodeError::ContentDeleted { .. }
    ));
    // The listing keeps the metadata.
    fr.run_clocks().await.unwrap();
    let listed = fr
        .cases(&officer("FR"), &CaseFilter::default())
        .await
        .unwrap();
    let row = listed.iter().find(|c| c.id == id).unwrap();
    assert_eq!(row.kind, RequestKind::Mla);
    let view = fr.retention(&id, &officer("FR")).await.unwrap();
    assert_eq!(view.deleted.as_ref().unwrap().entry, d.entry);
    assert!(view.deletion_date.is_none());

    // The ledger logs the deletion and still verifies; the deep check
    // accepts the deleted records as deleted.
    ledger_and_deep_check_pass(&net, "FR").await;
    ledger_and_deep_check_pass(&net, "DE").await;

    // A proof of an entry that logged the deleted content still checks,
    // and names the content deleted with the deletion's entry; the
    // deletion's own entry is no deleted content.
    fr.sequence_all().await.unwrap();
    let entries = fr.store().ledger_entries(0, 10_000).await.unwrap();
    let of_case = |e: &custos_store::LedgerEntry| {
        let v: serde_json::Value = serde_json::from_slice(&e.entry).unwrap();
        (v["request"] == id.as_str()).then(|| v["kind"].as_str().unwrap_or("").to_owned())
    };
    let logged = entries.iter().find(|e| of_case(e).is_some()).unwrap();
    let proof = fr.ledger_proof(&officer("FR"), logged.index).await.unwrap();
    proof
        .bundle
        .verify(&fr.ledger_verifier_key().unwrap())
        .unwrap();
    assert_eq!(proof.content.as_deref(), Some("deleted"));
    assert_eq!(proof.deletion.as_ref().unwrap().entry, d.entry);
    let shown = serde_json::to_value(&proof).unwrap();
    assert_eq!(shown["content"], "deleted");
    assert_eq!(shown["index"], logged.index);
    let deletion = entries
        .iter()
        .find(|e| of_case(e).as_deref() == Some("content-deleted"))
        .unwrap();
    let proof = fr
        .ledger_proof(&officer("FR"), deletion.index)
        .await
        .unwrap();
    assert!(proof.content.is_none() && proof.deletion.is_none());

    // Germany is told by a signed deletion report, which it records
    // without deleting its copy or restarting its retention.
    let de_before = de.retention(&id, &officer("DE")).await.unwrap();
    let report = report_of(fr, &id).await;
    let reply = net.carry("FR", &report, "DE").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let de_case = de.case(&id, &officer("DE")).await.unwrap();
    assert_eq!(de_case.state.as_str(), "withdrawn");
    let told = de_case.retention.unwrap();
    let peer = told.peer_deleted.as_ref().unwrap();
    assert_eq!(
        (peer.entry.as_str(), peer.deleted_at),
        (d.entry.as_str(), d.at)
    );
    assert!(told.deleted.is_none());
    assert!(!de_case.allowed.contains(&A::ReportDeletion));
    de.run_clocks().await.unwrap();
    let de_after = de.retention(&id, &officer("DE")).await.unwrap();
    assert_eq!(de_after.ended_at, de_before.ended_at);
    assert_eq!(de_after.peer_deleted.unwrap().entry, d.entry);
    ledger_and_deep_check_pass(&net, "FR").await;
    ledger_and_deep_check_pass(&net, "DE").await;

    // Germany's copy is its own: it is deleted by Germany's clock, and
    // France, its content deleted already, takes Germany's report in.
    let de_purged = de.purge_due(&Actor::Scheduler).await.unwrap();
    assert_eq!(de_purged.deleted.len(), 1);
    let report = report_of(de, &id).await;
    let reply = net.carry("DE", &report, "FR").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    ledger_and_deep_check_pass(&net, "DE").await;
    ledger_and_deep_check_pass(&net, "FR").await;
}

/// The id of the deletion report a node queued last in thread `id`.
async fn report_of(node: &custos_node::Node, id: &str) -> String {
    let last = node.store().thread_messages(id).await.unwrap();
    let m = last.last().unwrap();
    assert!(!m.envelope.is_empty(), "the report is held");
    m.id.clone()
}

async fn a_legal_hold_stops_deletion_until_lifted(postgres: bool) {
    let Some(net) = network(postgres).await else {
        return;
    };
    let id = ended_case(&net).await;
    let fr = &net.node("FR").node;
    fr.run_clocks().await.unwrap();
    // A retention changed by the data-protection officer, with a reason.
    let view = fr
        .set_retention(&id, RetentionPeriod::Days(30), "court order 12", &dpo())
        .await
        .unwrap();
    assert_eq!(view.days, 30);
    assert!(view.set_for_case);
    let change = view.changes.last().unwrap();
    assert_eq!(
        (
            change.by.as_str(),
            change.change.as_str(),
            change.reason.as_str()
        ),
        ("desk:dora", "retention", "court order 12")
    );
    // An executing authority may not.
    let exec = Actor::Desk {
        user: "xavier".into(),
        roles: [Role::ExecutingAuthority].into_iter().collect::<Roles>(),
    };
    assert!(matches!(
        fr.set_retention(&id, RetentionPeriod::Days(1), "x", &exec)
            .await,
        Err(NodeError::Forbidden { .. })
    ));
    let held = fr
        .legal_hold(&id, true, "litigation", &dpo())
        .await
        .unwrap();
    assert!(held.legal_hold && held.deletion_date.is_none());

    net.clock.advance(Duration::days(31));
    let purged = fr.purge_due(&Actor::Scheduler).await.unwrap();
    assert!(purged.deleted.is_empty(), "{purged:?}");
    fr.case(&id, &officer("FR")).await.unwrap();

    let lifted = fr
        .legal_hold(&id, false, "litigation over", &dpo())
        .await
        .unwrap();
    assert!(!lifted.legal_hold && lifted.deletion_date.is_some());
    assert_eq!(lifted.changes.len(), 3);
    let purged = fr.purge_due(&officer("FR")).await.unwrap();
    assert_eq!(purged.deleted.len(), 1);
    assert_eq!(purged.deleted[0].by, "cli:officer-fr");
    // A deleted case's retention cannot be changed any more.
    assert!(matches!(
        fr.legal_hold(&id, true, "too late", &dpo()).await,
        Err(NodeError::ContentDeleted { .. })
    ));
    ledger_and_deep_check_pass(&net, "FR").await;
}

/// The files under `dir`, relative, sorted.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// The copies the node wrote of a case's evidence outside its store of
/// received packages (a package sealed into a person's folder, its files
/// opened into another, and opened on the desk into the node's own) are
/// deleted with the case's content; an opened file changed since is left
/// and counted, and what else a person put in those folders stays.
#[tokio::test]
async fn copies_of_a_cases_evidence_are_deleted_when_its_retention_ends() {
    let net = network(false).await.unwrap();
    let id = ended_case(&net).await;
    let de = net.node("DE");
    let scratch = tempfile::tempdir().unwrap();
    let pkg = evidence::seal(de, "FR", &id, scratch.path(), "disk", 1, &officer("DE")).await;
    assert!(pkg.join("manifest.dsse.json").is_file());
    let opened = scratch.path().join("opened");
    let report = de
        .open_evidence(
            pkg.clone(),
            opened.clone(),
            std::sync::Arc::new(custos_node::evidence::pipeline::NoProgress),
            &officer("DE"),
        )
        .await
        .unwrap();
    assert!(report.is_ok());
    assert_eq!(files_under(&opened), ["image.dd", "notes.txt"]);
    std::fs::write(opened.join("notes.txt"), b"annotated by hand\n").unwrap();
    std::fs::write(pkg.join("README.txt"), b"mine\n").unwrap();

    de.run_clocks().await.unwrap();
    let due = de
        .retention(&id, &officer("DE"))
        .await
        .unwrap()
        .deletion_date
        .unwrap();
    net.clock.set(due + Duration::seconds(1));
    let signed = net.sign_directory(2).unwrap();
    de.import_directory(&officer("DE"), &signed).await.unwrap();
    let purged = de.purge_due(&Actor::Scheduler).await.unwrap();
    assert_eq!(purged.deleted.len(), 1, "{purged:?}");
    let d = &purged.deleted[0];
    // The package's manifest and segment, and the opened image.
    assert!(d.evidence_files >= 3, "{d:?}");
    assert!(d.evidence_bytes > 1 << 20, "{d:?}");
    assert_eq!(
        files_under(&pkg),
        ["README.txt"],
        "only what the node wrote"
    );
    assert_eq!(
        files_under(&opened),
        ["notes.txt"],
        "a changed file is left"
    );
    let entries = de.store().pending_ledger(10_000).await.unwrap();
    let deleted: Vec<serde_json::Value> = entries
        .iter()
        .filter_map(|e| serde_json::from_slice::<serde_json::Value>(&e.entry).ok())
        .filter(|v| v["kind"] == "content-deleted")
        .collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["detail"]["copies_kept"], 1, "{deleted:?}");
    ledger_and_deep_check_pass(&net, "DE").await;
}

#[tokio::test]
async fn retention_ends_and_deletes_the_content_while_the_ledger_verifies_on_sqlite() {
    retention_ends_and_deletes_the_content_while_the_ledger_verifies(false).await;
}

#[tokio::test]
async fn retention_ends_and_deletes_the_content_while_the_ledger_verifies_on_postgres() {
    retention_ends_and_deletes_the_content_while_the_ledger_verifies(true).await;
}

#[tokio::test]
async fn a_legal_hold_stops_deletion_until_lifted_on_sqlite() {
    a_legal_hold_stops_deletion_until_lifted(false).await;
}

#[tokio::test]
async fn a_legal_hold_stops_deletion_until_lifted_on_postgres() {
    a_legal_hold_stops_deletion_until_lifted(true).await;
}
