//! Oversight statistics over real cases: three nodes (France, Italy,
//! Germany) served over HTTP, requests sent and acted on through the
//! application layer with known response times, then Germany's and
//! France's reports checked figure by figure: counts, suppression below
//! the threshold (and the second count suppressed with it), percentiles
//! given or withheld, the period's bounds, and that no request id, message
//! id, person or free text of any case appears in the table, JSON, CSV or
//! signed forms. On SQLite, and on PostgreSQL when
//! `CUSTOS_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

#[allow(dead_code)] // the case steps of other tests
mod common;

use common::officer;
use custos_model::{RequestKind, template, validate};
use custos_node::NodeError;
use custos_node::app::{
    Actor, CaseAction as A, CountCell, DirectionFigures, Role, StatisticsQuery, StatisticsReport,
};
use custos_testkit::{Network, NetworkBuilder};
use serde_json::{Value, json};
use time::Duration;
use time::macros::date;

/// What the scenario left that must never appear in a report.
#[derive(Default)]
struct Secrets(Vec<String>);

impl Secrets {
    fn add(&mut self, s: impl Into<String>) {
        self.0.push(s.into());
    }

    fn absent_from(&self, what: &str, text: &str) {
        for s in &self.0 {
            assert!(!text.contains(s.as_str()), "{what} holds {s:?}:\n{text}");
        }
    }
}

/// Every string of a draft long enough not to be a kind or a code.
fn free_text(v: &Value, out: &mut Secrets) {
    match v {
        Value::String(s) if s.len() >= 16 => out.add(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| free_text(x, out)),
        Value::Object(o) => o.values().for_each(|x| free_text(x, out)),
        _ => {}
    }
}

/// `from` sends a request of `kind` to `to`; the thread.
async fn send(
    net: &Network,
    from: &str,
    to: &str,
    kind: RequestKind,
    secrets: &mut Secrets,
) -> String {
    let mut draft = validate::parse(&template::render(kind)).unwrap();
    draft["requesting_state"] = Value::from(from);
    draft["requested_state"] = Value::from(to);
    free_text(&draft, secrets);
    let sent = net.node(from).submit(draft, &officer(from)).await.unwrap();
    let reply = net.carry(from, &sent.message_id, to).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    secrets.add(sent.thread.clone());
    secrets.add(sent.message_id.clone());
    sent.thread
}

/// `state` takes `action` `after` the previous step, carried to `to`.
#[allow(clippy::too_many_arguments)]
async fn act(
    net: &Network,
    thread: &str,
    state: &str,
    to: &str,
    after: Duration,
    action: A,
    body: Value,
    secrets: &mut Secrets,
) {
    net.clock.advance(after);
    let sent = net
        .node(state)
        .act(thread, action, body, &officer(state))
        .await
        .unwrap_or_else(|e| panic!("{state} {action}: {e}"));
    let reply = net.carry(state, &sent.message_id, to).await.unwrap();
    assert_eq!(reply.status, 200, "{state} {action}: {}", reply.text());
    secrets.add(sent.message_id);
}

fn minutes(m: i64) -> Duration {
    Duration::minutes(m)
}

/// The scenario, all received by Germany (threshold 5):
/// - 6 preservations from France: acknowledged after 10..15 minutes,
///   confirmed 60 minutes later (preserved);
/// - 5 MLA requests from France: acknowledged after 30..34 minutes, then
///   withdrawn by France;
/// - 2 MLA requests from France: acknowledged after 60 and 61 minutes,
///   consulted, refused 180 and 181 minutes after submission (grounds R2;
///   R2 and R6);
/// - 1 MLA request from Italy: acknowledged after 120 minutes, consulted,
///   postponed.
///
/// Before them, two days earlier, Germany sent one request to France: it
/// falls outside the period asked.
async fn scenario(net: &Network) -> Secrets {
    let mut s = Secrets::default();
    for name in ["officer-fr", "officer-de", "officer-it"] {
        s.add(name);
    }
    send(net, "DE", "FR", RequestKind::Mla, &mut s).await;
    net.clock.advance(Duration::days(2));

    for i in 0..6 {
        let t = send(net, "FR", "DE", RequestKind::Preservation, &mut s).await;
        act(
            net,
            &t,
            "DE",
            "FR",
            minutes(10 + i),
            A::Acknowledge,
            json!({}),
            &mut s,
        )
        .await;
        let body = json!({"took_effect": "2026-11-03", "days": 90});
        act(
            net,
            &t,
            "DE",
            "FR",
            minutes(60),
            A::ConfirmPreservation,
            body,
            &mut s,
        )
        .await;
    }
    for i in 0..5 {
        let t = send(net, "FR", "DE", RequestKind::Mla, &mut s).await;
        act(
            net,
            &t,
            "DE",
            "FR",
            minutes(30 + i),
            A::Acknowledge,
            json!({}),
            &mut s,
        )
        .await;
        act(
            net,
            &t,
            "FR",
            "DE",
            minutes(5),
            A::Withdraw,
            json!({}),
            &mut s,
        )
        .await;
    }
    for (i, grounds) in [json!(["R2"]), json!(["R2", "R6"])].into_iter().enumerate() {
        let i = i as i64;
        let t = send(net, "FR", "DE", RequestKind::Mla, &mut s).await;
        act(
            net,
            &t,
            "DE",
            "FR",
            minutes(60 + i),
            A::Acknowledge,
            json!({}),
            &mut s,
        )
        .await;
        let conditions = format!("Condition-secret-{i} for the use of the records");
        s.add(conditions.clone());
        let body = json!({"conditions": [conditions]});
        act(net, &t, "DE", "FR", minutes(10), A::Consult, body, &mut s).await;
        let reasons = format!("Refusal-reasons-secret-{i} essential interests");
        s.add(reasons.clone());
        let body = json!({"refusal": {"grounds": grounds, "reasons": reasons}});
        act(net, &t, "DE", "FR", minutes(110), A::Refuse, body, &mut s).await;
    }
    let t = send(net, "IT", "DE", RequestKind::Mla, &mut s).await;
    act(
        net,
        &t,
        "DE",
        "IT",
        minutes(120),
        A::Acknowledge,
        json!({}),
        &mut s,
    )
    .await;
    let body = json!({"conditions": ["Condition-secret-it for the use of the records"]});
    s.add("Condition-secret-it");
    act(net, &t, "DE", "IT", minutes(5), A::Consult, body, &mut s).await;
    let reasons = "Postponement-secret: an investigation of our own";
    s.add(reasons);
    let body = json!({"reasons": reasons});
    act(net, &t, "DE", "IT", minutes(5), A::Postpone, body, &mut s).await;
    s
}

fn cells(row: &[CountCell]) -> Vec<(&str, Option<u64>)> {
    row.iter().map(|c| (c.key.as_str(), c.count)).collect()
}

fn times(d: &DirectionFigures) -> Vec<(String, Option<i64>, Option<i64>)> {
    d.response_times
        .iter()
        .map(|t| {
            (
                format!("{} {}", t.group, t.measure),
                t.p50_seconds,
                t.p90_seconds,
            )
        })
        .collect()
}

fn period() -> StatisticsQuery {
    // The test kit's clock starts on 2026-11-01; the scenario's period
    // starts two days later.
    StatisticsQuery {
        from: Some(date!(2026 - 11 - 03)),
        to: Some(date!(2026 - 12 - 31)),
        threshold: None,
    }
}

async fn check(net: Network) {
    let secrets = scenario(&net).await;
    let de = &net.node("DE").node;
    let auditor = Actor::Desk {
        user: "auditor-de".into(),
        roles: [Role::Auditor].into_iter().collect(),
    };
    let report = de.oversight_statistics(&auditor, &period()).await.unwrap();
    assert_eq!(
        (
            report.state.as_str(),
            report.from.as_str(),
            report.to.as_str(),
            report.threshold
        ),
        ("DE", "2026-11-03", "2026-12-31", 5)
    );
    let received = &report.directions[0];
    assert_eq!(received.direction, "received");
    assert_eq!(received.total.count, Some(14));
    assert_eq!(
        cells(&received.by_kind),
        [("mla", Some(8)), ("preservation", Some(6))]
    );
    // Italy's single request is suppressed, and France's with it (or it
    // would be the total less France's).
    assert_eq!(
        cells(&received.by_counterpart),
        [("FR", None), ("IT", None)]
    );
    assert!(received.by_counterpart.iter().all(|c| c.suppressed));
    // Refused 2 and open 1 add up to less than 5: withdrawn 5 goes too.
    assert_eq!(
        cells(&received.by_outcome),
        [
            ("refused", None),
            ("preserved", Some(6)),
            ("withdrawn", None),
            ("open", None)
        ]
    );
    assert_eq!(
        cells(&received.by_refusal_ground),
        [("R2", None), ("R6", None)]
    );
    assert_eq!(
        cells(&received.postponement),
        [("postponed", None), ("not-postponed", None)]
    );
    // Acknowledged (minutes): 10..15, 30..34, 60, 61, 120: p50 the 7th of
    // 14 (30), p90 the 13th (61). Decided: 70..75 (preservations), 180,
    // 181 (refusals): p50 the 4th of 8 (73), p90 the 8th (181).
    assert_eq!(
        times(received),
        [
            ("all acknowledgement".to_owned(), Some(1_800), Some(3_660)),
            ("all decision".to_owned(), Some(4_380), Some(10_860)),
            ("mla acknowledgement".to_owned(), Some(1_980), Some(7_200)),
            ("mla decision".to_owned(), None, None),
            (
                "preservation acknowledgement".to_owned(),
                Some(720),
                Some(900)
            ),
            ("preservation decision".to_owned(), Some(4_320), Some(4_500)),
        ]
    );
    assert!(received.response_times[3].withheld);
    // Germany's own request to France was opened before the period.
    let sent = &report.directions[1];
    assert_eq!(
        (sent.direction.as_str(), sent.total.count),
        ("sent", Some(0))
    );
    assert!(sent.by_kind.is_empty());

    // The whole year: that request counts, and alone it shows nothing.
    let year = StatisticsQuery {
        from: Some(date!(2026 - 01 - 01)),
        ..period()
    };
    let whole = de.oversight_statistics(&auditor, &year).await.unwrap();
    let sent = &whole.directions[1];
    assert_eq!((sent.total.count, sent.total.suppressed), (None, true));
    assert_eq!(cells(&sent.by_kind), [("mla", None)]);

    // France's side: 13 sent to Germany, withdrawn 5 hidden behind refused 2.
    let fr = net
        .node("FR")
        .node
        .oversight_statistics(&officer("FR"), &period())
        .await
        .unwrap();
    let sent = &fr.directions[1];
    assert_eq!(sent.total.count, Some(13));
    assert_eq!(cells(&sent.by_counterpart), [("DE", Some(13))]);
    assert_eq!(
        cells(&sent.by_outcome),
        [
            ("refused", None),
            ("preserved", Some(6)),
            ("withdrawn", None)
        ]
    );

    // A higher threshold is allowed, a lower one refused.
    let higher = StatisticsQuery {
        threshold: Some(7),
        ..period()
    };
    let r = de.oversight_statistics(&auditor, &higher).await.unwrap();
    // Preservation 6 falls below 7, and mla 8 with it.
    assert_eq!(
        cells(&r.directions[0].by_kind),
        [("mla", None), ("preservation", None)]
    );
    let lower = StatisticsQuery {
        threshold: Some(2),
        ..period()
    };
    let e = de.oversight_statistics(&auditor, &lower).await.unwrap_err();
    assert!(matches!(e, NodeError::BadStatisticsQuery(_)), "{e}");
    let backwards = StatisticsQuery {
        from: Some(date!(2026 - 12 - 31)),
        to: Some(date!(2026 - 01 - 01)),
        threshold: None,
    };
    let e = de
        .oversight_statistics(&auditor, &backwards)
        .await
        .unwrap_err();
    assert!(matches!(e, NodeError::BadStatisticsQuery(_)), "{e}");

    // Not for the duty officer.
    let duty = Actor::Desk {
        user: "duty-de".into(),
        roles: [Role::DutyOfficer].into_iter().collect(),
    };
    let e = de.oversight_statistics(&duty, &period()).await.unwrap_err();
    assert!(matches!(e, NodeError::Forbidden { .. }), "{e}");

    // No identifier or content in any form.
    let json = serde_json::to_string_pretty(&report).unwrap();
    let signed = de
        .signed_oversight_statistics(&auditor, &period())
        .await
        .unwrap();
    let envelope = custos_seal::Envelope::from_json(&signed).unwrap();
    assert_eq!(
        envelope.payload_type,
        "application/vnd.custos.statistics+json; version=1"
    );
    let payload = envelope.payload.clone();
    let signed_report: StatisticsReport = serde_json::from_slice(&payload).unwrap();
    assert_eq!(signed_report.directions, report.directions);
    for (what, text) in [
        ("the table", report.to_table()),
        ("the JSON", json),
        ("the CSV", report.to_csv()),
        (
            "the signed report",
            String::from_utf8(signed.clone()).unwrap(),
        ),
        ("the signed payload", String::from_utf8(payload).unwrap()),
    ] {
        secrets.absent_from(what, &text);
    }
    assert!(secrets.0.len() > 40, "{}", secrets.0.len());

    // The signed report verifies on France's node (Germany's key from the
    // directory); one byte changed and it does not.
    let checked = net
        .node("FR")
        .node
        .verify_statistics(&officer("FR"), &signed)
        .await
        .unwrap();
    assert!(checked.valid, "{:?}", checked.problem);
    assert_eq!(checked.report.unwrap().directions, report.directions);
    let mut forged = report.clone();
    forged.directions[0].total.count = Some(15);
    let mut tampered = envelope;
    tampered.payload = serde_json::to_vec(&forged).unwrap();
    let checked = net
        .node("FR")
        .node
        .verify_statistics(&officer("FR"), &tampered.to_json())
        .await
        .unwrap();
    assert!(!checked.valid);
    assert!(checked.problem.unwrap().contains("does not verify"));
    net.stop().await;
}

#[tokio::test]
async fn statistics_are_exact_suppressed_and_free_of_case_data_on_sqlite() {
    check(
        NetworkBuilder::new(&["FR", "DE", "IT"])
            .served()
            .build()
            .await
            .unwrap(),
    )
    .await;
}

#[tokio::test]
async fn statistics_are_exact_suppressed_and_free_of_case_data_on_postgres() {
    let Some(url) = custos_testkit::postgres_url() else {
        return;
    };
    check(
        NetworkBuilder::new(&["FR", "DE", "IT"])
            .served()
            .postgres(url)
            .build()
            .await
            .unwrap(),
    )
    .await;
}
