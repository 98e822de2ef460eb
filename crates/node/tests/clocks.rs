//! The cases' clocks as the scheduler runs them, on two nodes of the test
//! kit whose clock the tests move: a preservation that ends on day 61 and
//! not before unless extended, one held by a pending follow-up request, an
//! emergency request whose acknowledgement target passes (the requesting
//! node escalates once, both list the case overdue), warnings fired once
//! each, nothing fired twice by a second node process on the same database
//! or by ticks racing each other, and the case index agreeing with
//! derivation after a rebuild. Every test runs on SQLite, and on
//! PostgreSQL when `CUSTOS_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

mod common;

use std::sync::Arc;

use common::{officer, step};
use custos_model::clock::Clock;
use custos_model::{RequestKind, template, validate};
use custos_node::app::{
    CaseAction as A, CaseFilter, CaseState as S, ClockKind, ClockStatus, Urgency,
};
use custos_node::{Keystore, Node};
use custos_testkit::{AT, Network, NetworkBuilder, TestNode};
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// France and Germany, on SQLite or (`postgres`) PostgreSQL; `None` when
/// PostgreSQL is asked for and not configured.
async fn network(postgres: bool) -> Option<Network> {
    let mut builder = NetworkBuilder::new(&["FR", "DE"]);
    if postgres {
        let url = custos_testkit::postgres_url()?;
        builder = builder.postgres(url);
    }
    Some(builder.build().await.unwrap())
}

/// France's request of `kind` (the template's, France to Germany), sent
/// and carried; its thread.
async fn request(net: &Network, kind: RequestKind) -> String {
    net.clock.advance(Duration::minutes(1));
    let draft = validate::parse(&template::render(kind)).unwrap();
    let sent = net.node("FR").submit(draft, &officer("FR")).await.unwrap();
    let reply = net.carry("FR", &sent.message_id, "DE").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    sent.thread
}

/// A preservation requested by France and confirmed by Germany as taking
/// effect on the day of [`AT`] for 60 days; its thread.
async fn confirmed_preservation(net: &Network) -> String {
    let thread = request(net, RequestKind::Preservation).await;
    step(net, &thread, "DE", A::Acknowledge, json!({})).await;
    let body = json!({"took_effect": "2026-11-01", "days": 60});
    step(net, &thread, "DE", A::ConfirmPreservation, body).await;
    thread
}

/// The history events of `thread` on `node` whose kind starts with `clock:`.
async fn clock_history(node: &TestNode, thread: &str) -> Vec<String> {
    node.store
        .events(thread)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind.starts_with("clock:"))
        .inspect(|e| assert_eq!(e.actor, "node:scheduler"))
        .map(|e| e.kind)
        .collect()
}

/// How many ledger entries of the kind `clock-fired` the node queued.
async fn clock_entries(node: &TestNode) -> usize {
    node.store
        .pending_ledger(10_000)
        .await
        .unwrap()
        .iter()
        .filter(|p| String::from_utf8_lossy(&p.entry).contains("\"clock-fired\""))
        .count()
}

/// One tick on each node; the events each fired.
async fn tick(net: &Network) -> (Vec<String>, Vec<String>) {
    let fr = net.node("FR").node.run_clocks().await.unwrap().fired;
    let de = net.node("DE").node.run_clocks().await.unwrap().fired;
    (fr, de)
}

fn events(fired: &[String]) -> Vec<&str> {
    fired
        .iter()
        .map(|f| f.split_once(' ').map_or("", |(_, rest)| rest))
        .collect()
}

/// The instant a preservation that took effect on 2026-11-01 for 60 days
/// ends: the start of day 61.
const END: OffsetDateTime = datetime!(2026-12-31 0:00 UTC);

async fn a_preservation_ends_on_day_61_and_not_before_unless_extended(postgres: bool) {
    let Some(net) = network(postgres).await else {
        return;
    };
    let ends = confirmed_preservation(&net).await;
    let extended = confirmed_preservation(&net).await;
    step(
        &net,
        &extended,
        "DE",
        A::ExtendPreservation,
        json!({"until": "2027-01-30"}),
    )
    .await;

    // Both nodes list the preservation's end as the next thing due, after
    // the warnings' lead times: a week before, then a day before.
    let listed = net
        .node("DE")
        .node
        .cases(&operator(), &CaseFilter::default())
        .await
        .unwrap();
    let row = listed.iter().find(|c| c.id == ends).unwrap();
    assert_eq!(row.next_due, Some(END - Duration::days(7)));
    assert_eq!(
        (row.state, row.open, row.urgency),
        (S::Preserved, true, Urgency::Urgent)
    );

    // A week before: one warning each, once.
    net.clock.set(END - Duration::days(7));
    let (fr, de) = tick(&net).await;
    assert_eq!(events(&fr), ["preservation warning:604800s"]);
    assert_eq!(events(&de), ["preservation warning:604800s"]);
    assert_eq!(tick(&net).await, (vec![], vec![]));

    // The last second of day 60: the second warning, and no end yet.
    net.clock.set(END - Duration::seconds(1));
    let (fr, de) = tick(&net).await;
    assert_eq!(events(&fr), ["preservation warning:86400s"]);
    assert_eq!(events(&de), ["preservation warning:86400s"]);
    let case = net
        .node("DE")
        .node
        .case(&ends, &officer("DE"))
        .await
        .unwrap();
    let clock = case
        .clocks
        .iter()
        .find(|c| c.kind == ClockKind::Preservation)
        .unwrap();
    assert_eq!((clock.status, clock.due), (ClockStatus::Running, Some(END)));

    // Day 61: it ended, recorded once on each node; the extended one did not.
    net.clock.set(END);
    let (fr, de) = tick(&net).await;
    assert_eq!(fr, [format!("{ends} preservation ended")]);
    assert_eq!(de, [format!("{ends} preservation ended")]);
    net.clock.advance(Duration::days(3));
    assert_eq!(tick(&net).await, (vec![], vec![]));
    for state in ["FR", "DE"] {
        let node = net.node(state);
        assert_eq!(
            clock_history(node, &ends).await,
            [
                "clock:warning:604800s",
                "clock:warning:86400s",
                "clock:ended"
            ]
        );
        // The extension moved its end before any warning was due.
        assert!(clock_history(node, &extended).await.is_empty(), "{state}");
        let case = node.node.case(&ends, &officer(state)).await.unwrap();
        let clock = case
            .clocks
            .iter()
            .find(|c| c.kind == ClockKind::Preservation)
            .unwrap();
        assert_eq!(clock.status, ClockStatus::Ended);
    }
    // Each event with its ledger entry.
    assert_eq!(clock_entries(net.node("DE")).await, 3);

    // The extended one ends at the start of its `until`; its warnings,
    // both past their lead times by then, fire once each before it.
    let until = datetime!(2027-01-30 0:00 UTC);
    net.clock.set(until - Duration::seconds(1));
    let (_, de) = tick(&net).await;
    assert_eq!(
        events(&de),
        [
            "preservation warning:604800s",
            "preservation warning:86400s"
        ]
    );
    net.clock.set(until);
    let (fr, de) = tick(&net).await;
    assert_eq!(events(&fr), ["preservation ended"]);
    assert_eq!(de, [format!("{extended} preservation ended")]);
}

async fn a_pending_follow_up_request_holds_a_preservation_past_its_end(postgres: bool) {
    let Some(net) = network(postgres).await else {
        return;
    };
    let thread = confirmed_preservation(&net).await;
    let follow_up = request(&net, RequestKind::Mla).await;
    step(
        &net,
        &thread,
        "FR",
        A::AnnounceFollowUp,
        json!({"request": follow_up}),
    )
    .await;
    net.clock.set(END + Duration::days(30));
    let (fr, de) = tick(&net).await;
    assert!(fr.is_empty() && de.is_empty(), "{fr:?} {de:?}");
    for state in ["FR", "DE"] {
        let node = &net.node(state).node;
        let case = node.case(&thread, &officer(state)).await.unwrap();
        let clock = case
            .clocks
            .iter()
            .find(|c| c.kind == ClockKind::Preservation)
            .unwrap();
        assert_eq!((clock.status, clock.due), (ClockStatus::Held, None));
        let listed = node
            .cases(&operator(), &CaseFilter::default())
            .await
            .unwrap();
        let row = listed.iter().find(|c| c.id == thread).unwrap();
        assert_eq!((row.next_due, row.overdue), (None, false));
    }
}

async fn an_emergency_request_not_acknowledged_in_time_escalates_once(postgres: bool) {
    let Some(net) = network(postgres).await else {
        return;
    };
    let routine = request(&net, RequestKind::Mla).await;
    let thread = request(&net, RequestKind::EmergencyData).await;
    let case = net
        .node("FR")
        .node
        .case(&thread, &officer("FR"))
        .await
        .unwrap();
    let ack = case
        .clocks
        .iter()
        .find(|c| c.kind == ClockKind::Acknowledgement)
        .unwrap();
    let target = ack.due.unwrap();
    assert_eq!(target, ack.started + Duration::hours(1));

    // Before the warning: nothing. A quarter of an hour before the target
    // (`[alerts] ack_warning`), the requested side alone is warned, once,
    // and its duty officer's alert is written with the event.
    net.clock
        .set(target - Duration::minutes(15) - Duration::seconds(1));
    assert_eq!(tick(&net).await, (vec![], vec![]));
    net.clock.set(target - Duration::seconds(1));
    let warned = format!("{thread} acknowledgement warning:900s");
    assert_eq!(tick(&net).await, (vec![], vec![warned]));
    assert_eq!(tick(&net).await, (vec![], vec![]));
    let alerts = net.node("DE").store.alerts(false, 10).await.unwrap();
    let near: Vec<_> = alerts
        .iter()
        .filter(|a| a.kind == "ack-target-near")
        .collect();
    assert_eq!(near.len(), 1);
    assert_eq!(
        (near[0].case_id.as_str(), near[0].deadline),
        (thread.as_str(), Some(target))
    );
    assert!(
        net.node("FR")
            .store
            .alerts(false, 10)
            .await
            .unwrap()
            .iter()
            .all(|a| a.kind != "ack-target-near"),
        "the requesting side is not warned"
    );
    // The emergency is listed first, due at its target.
    let listed = net
        .node("FR")
        .node
        .cases(&operator(), &CaseFilter::default())
        .await
        .unwrap();
    assert_eq!(listed[0].id, thread);
    assert_eq!(
        (listed[0].urgency, listed[0].next_due),
        (Urgency::Emergency, Some(target))
    );
    assert_eq!(listed[1].id, routine);

    // Past it: both record it overdue; the requesting node escalates, once.
    net.clock.set(target + Duration::minutes(1));
    let (fr, de) = tick(&net).await;
    assert_eq!(fr, [format!("{thread} acknowledgement overdue")]);
    assert_eq!(de, [format!("{thread} acknowledgement overdue")]);
    assert_eq!(tick(&net).await, (vec![], vec![]));
    let fr_node = net.node("FR");
    assert_eq!(fr_node.node.clock_counts().escalations_sent, 1);
    assert_eq!(
        clock_history(net.node("DE"), &thread).await,
        ["clock:warning:900s", "clock:overdue"]
    );

    // The escalation is a status query in the thread, marked as such, sent
    // by the scheduler; the other node takes it in, counts it and answers.
    let history = fr_node.store.events(&thread).await.unwrap();
    let sent = history
        .iter()
        .find(|e| e.kind == "sent:status-query")
        .unwrap();
    assert_eq!(sent.actor, "node:scheduler");
    assert_eq!(sent.detail["escalation"], json!(true));
    let message_id = sent.detail["message_id"].as_str().unwrap();
    let reply = net.carry("FR", message_id, "DE").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(net.node("DE").node.clock_counts().escalations_received, 1);
    let answer = net.node("DE").store.events(&thread).await.unwrap();
    let answer = answer.iter().find(|e| e.kind == "sent:status").unwrap();
    let answer = answer.detail["message_id"].as_str().unwrap();
    let reply = net.carry("DE", answer, "FR").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());

    // Both list the case overdue; the routine one is not.
    for state in ["FR", "DE"] {
        let overdue = net
            .node(state)
            .node
            .cases(
                &operator(),
                &CaseFilter {
                    overdue: Some(true),
                    ..CaseFilter::default()
                },
            )
            .await
            .unwrap();
        let ids: Vec<&str> = overdue.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, [thread.as_str()], "{state}");
        let case = net
            .node(state)
            .node
            .case(&thread, &officer(state))
            .await
            .unwrap();
        assert!(case.overdue, "{state}");
    }

    // A late acknowledgement ends it: no longer overdue, nothing more fires.
    step(&net, &thread, "DE", A::Acknowledge, json!({})).await;
    net.clock.advance(Duration::hours(5));
    assert_eq!(tick(&net).await, (vec![], vec![]));
    let listed = net
        .node("FR")
        .node
        .cases(&operator(), &CaseFilter::default())
        .await
        .unwrap();
    let row = listed.iter().find(|c| c.id == thread).unwrap();
    assert!(!row.overdue);
    assert_eq!(fr_node.node.clock_counts().escalations_sent, 1);
}

async fn a_second_process_and_racing_ticks_fire_nothing_twice(postgres: bool) {
    let Some(net) = network(postgres).await else {
        return;
    };
    let thread = confirmed_preservation(&net).await;
    let de = net.node("DE");
    // A second node process on the same database and keys, as after a
    // restart (or a replica beside the first).
    let keys = Keystore::load(&de.dir().join("keys")).unwrap();
    let clock: Arc<dyn Clock> = Arc::clone(&net.clock) as Arc<dyn Clock>;
    let again = Node::new(
        de.node.settings().clone(),
        keys,
        Arc::clone(&de.store),
        clock,
        reqwest::Client::new(),
    )
    .await
    .unwrap();

    net.clock.set(END + Duration::days(1));
    let (a, b, c) = tokio::join!(
        de.node.run_clocks(),
        again.run_clocks(),
        de.node.run_clocks()
    );
    let mut fired: Vec<String> = [a, b, c]
        .into_iter()
        .flat_map(|r| r.unwrap().fired)
        .collect();
    fired.sort();
    assert_eq!(fired, [format!("{thread} preservation ended")]);
    // Later ticks of either fire nothing more.
    assert!(again.run_clocks().await.unwrap().fired.is_empty());
    assert!(de.node.run_clocks().await.unwrap().fired.is_empty());
    assert_eq!(clock_history(de, &thread).await, ["clock:ended"]);
    assert_eq!(clock_entries(de).await, 1);
    again.close().await;
}

async fn the_index_agrees_with_derivation_and_after_a_rebuild(postgres: bool) {
    let Some(net) = network(postgres).await else {
        return;
    };
    let mla = request(&net, RequestKind::Mla).await;
    step(&net, &mla, "DE", A::Acknowledge, json!({})).await;
    let withdrawn = request(&net, RequestKind::Mla).await;
    step(&net, &withdrawn, "FR", A::Withdraw, json!({})).await;
    let preserved = confirmed_preservation(&net).await;
    let emergency = request(&net, RequestKind::EmergencyData).await;
    net.clock.set(AT + Duration::hours(2));

    for state in ["FR", "DE"] {
        let node = &net.node(state).node;
        let listed = node
            .cases(&operator(), &CaseFilter::default())
            .await
            .unwrap();
        assert_eq!(listed.len(), 4);
        for row in &listed {
            let case = node.case(&row.id, &officer(state)).await.unwrap();
            assert_eq!(
                (row.state, row.overdue, &row.allowed, row.side, row.kind),
                (
                    case.state,
                    case.overdue,
                    &case.allowed,
                    case.side,
                    case.kind
                ),
                "{state} {}",
                row.id
            );
        }
        // Open first, then the emergency, then the nearest clock (the
        // preservation's first warning), then the newest.
        let order: Vec<&str> = listed.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            order,
            [&emergency, &preserved, &mla, &withdrawn].map(String::as_str),
            "{state}"
        );
        let page = node
            .cases(
                &operator(),
                &CaseFilter {
                    open: Some(true),
                    limit: Some(2),
                    offset: Some(2),
                    ..CaseFilter::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            page.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            [mla.as_str()]
        );
        let rebuilt = node.rebuild_case_index().await.unwrap();
        assert_eq!((rebuilt.cases, rebuilt.derived), (4, 4));
        assert_eq!(
            node.cases(&operator(), &CaseFilter::default())
                .await
                .unwrap(),
            listed
        );
    }
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(false).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(true).await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_preservation_ends_on_day_61_and_not_before_unless_extended,
    a_pending_follow_up_request_holds_a_preservation_past_its_end,
    an_emergency_request_not_acknowledged_in_time_escalates_once,
    a_second_process_and_racing_ticks_fire_nothing_twice,
    the_index_agrees_with_derivation_and_after_a_rebuild,
);

/// The operator at the node's files, who may do everything (every
/// call is checked and recorded like any person's).
fn operator() -> custos_node::Actor {
    custos_node::Actor::Cli {
        user: "operator".to_owned(),
    }
}
