//! The case index and the clock events fired: rows marked stale in the
//! transaction that changes their thread, written back only over the
//! revision they were derived from, listed in urgency order, found by their
//! next due instant, and each clock event fired once.

use super::*;
use custos_store::{
    CaseFigures, CaseRow, CaseRowFilter, ClockFired, URGENCY_EMERGENCY, URGENCY_ROUTINE,
};

/// A derived row for request `id`, as a node would write it.
pub(crate) fn derived(id: &str, urgency: u8, next_due: Option<OffsetDateTime>) -> CaseRow {
    CaseRow {
        id: id.to_owned(),
        kind: RequestKind::Mla,
        direction: Direction::Outgoing,
        counterpart: state("DE"),
        side: "requesting".to_owned(),
        state: "submitted".to_owned(),
        urgency,
        open: true,
        overdue: false,
        next_due,
        last_step_at: Some(at(1)),
        created_at: at(0),
        allowed: vec!["withdraw".to_owned(), "ask-status".to_owned()],
        stale: false,
        // What statistics count, read back as written (`get_case` below).
        figures: CaseFigures {
            outcome: "refused".to_owned(),
            grounds: vec!["R2".to_owned(), "R6".to_owned()],
            postponed: true,
            ack_seconds: Some(60),
            decision_seconds: Some(7_200),
        },
    }
}

fn key(case: &str, event: &str) -> ClockFired {
    ClockFired {
        case_id: case.to_owned(),
        clock: "preservation".to_owned(),
        event: event.to_owned(),
        due: at(86_400),
        fired_at: at(86_400),
    }
}

pub(crate) async fn a_case_is_stale_until_derived_and_again_when_its_thread_changes(fx: Fixture) {
    let s = &fx.store;
    s.record_outgoing(&outgoing("sha256:c1", "thr-c", None, 0))
        .await
        .unwrap();
    let row = s.get_case("thr-c").await.unwrap().unwrap();
    assert!(row.stale);
    assert_eq!((row.state.as_str(), row.urgency), ("new", URGENCY_ROUTINE));
    let revision = s.case_revision("thr-c").await.unwrap().unwrap();
    let stale = s.stale_cases("", 10).await.unwrap();
    assert_eq!(stale.len(), 1);
    assert_eq!(
        (stale[0].id.as_str(), stale[0].revision),
        ("thr-c", revision)
    );

    let fresh = CaseRow {
        // The request's own creation time stays the row's.
        created_at: row.created_at,
        ..derived("thr-c", URGENCY_EMERGENCY, Some(at(3600)))
    };
    assert!(s.put_case(&fresh, revision).await.unwrap());
    assert_eq!(s.get_case("thr-c").await.unwrap().unwrap(), fresh);
    assert!(s.stale_cases("", 10).await.unwrap().is_empty());

    // A message in the thread marks it stale again, in its transaction; a
    // row derived before it is not written over the change.
    s.record_outgoing(&outgoing("sha256:c2", "thr-c", Some("sha256:c1"), 5))
        .await
        .unwrap();
    assert!(s.get_case("thr-c").await.unwrap().unwrap().stale);
    assert!(!s.put_case(&fresh, revision).await.unwrap());
    let newer = s.case_revision("thr-c").await.unwrap().unwrap();
    assert!(newer > revision);
    assert!(s.put_case(&fresh, newer).await.unwrap());

    // A message received in a thread counts the same.
    s.accept_incoming(&incoming("sha256:i1", "thr-i", None, 9, "r"))
        .await
        .unwrap();
    assert_eq!(s.stale_cases("", 10).await.unwrap()[0].id, "thr-i");
    assert_eq!(s.stale_cases("thr-i", 10).await.unwrap(), vec![]);
    // A row for a request that has none is not invented by a write.
    assert!(!s.put_case(&derived("nowhere", 2, None), 1).await.unwrap());
}

pub(crate) async fn cases_are_listed_open_first_by_urgency_then_due_then_newest(fx: Fixture) {
    let s = &fx.store;
    let mut rows = Vec::new();
    for (id, urgency, due, created, open) in [
        ("a-routine-late", 2, Some(7200), 10, true),
        ("b-routine-soon", 2, Some(60), 20, true),
        ("c-routine-none-old", 2, None, 30, true),
        ("d-routine-none-new", 2, None, 40, true),
        ("e-emergency", 0, None, 50, true),
        ("f-urgent", 1, Some(99_999), 60, true),
        ("g-closed-emergency", 0, None, 70, false),
    ] {
        let mut row = derived(id, urgency, due.map(at));
        row.created_at = at(created);
        row.open = open;
        if id == "f-urgent" {
            row.overdue = true;
            row.counterpart = state("NL");
            row.state = "acknowledged".to_owned();
        }
        rows.push(row);
    }
    s.bulk_put_cases(&rows).await.unwrap();
    let list = |filter: CaseRowFilter| async move {
        s.list_cases(&filter)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    let all = CaseRowFilter {
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        list(all.clone()).await,
        [
            "e-emergency",
            "f-urgent",
            "b-routine-soon",
            "a-routine-late",
            "d-routine-none-new",
            "c-routine-none-old",
            "g-closed-emergency",
        ]
    );
    let page = |limit, offset| CaseRowFilter {
        open: Some(true),
        limit,
        offset,
        ..Default::default()
    };
    assert_eq!(list(page(2, 0)).await, ["e-emergency", "f-urgent"]);
    assert_eq!(list(page(2, 2)).await, ["b-routine-soon", "a-routine-late"]);
    assert_eq!(list(page(10, 6)).await, Vec::<String>::new());
    for filter in [
        CaseRowFilter {
            overdue: Some(true),
            ..all.clone()
        },
        CaseRowFilter {
            counterpart: Some(state("NL")),
            ..all.clone()
        },
        CaseRowFilter {
            state: Some("acknowledged".to_owned()),
            ..all.clone()
        },
        CaseRowFilter {
            urgency: Some(1),
            ..all.clone()
        },
    ] {
        assert_eq!(list(filter).await, ["f-urgent"]);
    }
    let closed = CaseRowFilter {
        open: Some(false),
        ..all.clone()
    };
    assert_eq!(list(closed).await, ["g-closed-emergency"]);
    let kind = CaseRowFilter {
        kind: Some(RequestKind::Preservation),
        ..all
    };
    assert!(list(kind).await.is_empty());

    // The scheduler's range read: due at or before the instant, earliest first.
    assert_eq!(s.due_cases(at(60), 10).await.unwrap(), ["b-routine-soon"]);
    assert_eq!(
        s.due_cases(at(100_000), 10).await.unwrap(),
        ["b-routine-soon", "a-routine-late", "f-urgent"]
    );
    assert_eq!(
        s.due_cases(at(100_000), 1).await.unwrap(),
        ["b-routine-soon"]
    );
    assert!(s.due_cases(at(59), 10).await.unwrap().is_empty());
}

pub(crate) async fn a_clock_event_fires_once_with_its_history_event(fx: Fixture) {
    let s = &fx.store;
    s.insert_request(&request(
        "p-1",
        Direction::Incoming,
        RequestKind::Preservation,
        "FR",
    ))
    .await
    .unwrap();
    let revision = s.case_revision("p-1").await.unwrap().unwrap();
    assert!(
        s.put_case(&derived("p-1", 2, Some(at(86_400))), revision)
            .await
            .unwrap()
    );

    let mut ended = event("p-1", 1);
    ended.kind = "clock:ended".to_owned();
    ended.ledger = Some(b"entry: preservation ended".to_vec());
    assert!(
        s.record_clock_event(&key("p-1", "ended"), &ended)
            .await
            .unwrap()
    );
    assert!(
        !s.record_clock_event(&key("p-1", "ended"), &ended)
            .await
            .unwrap()
    );
    assert_eq!(s.events("p-1").await.unwrap().len(), 1);
    assert_eq!(s.pending_ledger(10).await.unwrap().len(), 1);
    assert_eq!(
        s.fired_events("p-1").await.unwrap(),
        vec![key("p-1", "ended")]
    );
    // Firing changes what is due next, so the row is derived again.
    assert!(s.get_case("p-1").await.unwrap().unwrap().stale);

    // Another event of the same clock and due instant is its own key.
    assert!(
        s.record_clock_event(&key("p-1", "warning:86400s"), &ended)
            .await
            .unwrap()
    );
    assert_eq!(s.fired_events("p-1").await.unwrap().len(), 2);

    // A key and an event of different cases are refused; nothing is kept.
    let err = s
        .record_clock_event(&key("p-2", "ended"), &ended)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidValue { .. }), "{err}");
    // An event of a request not stored undoes its key too.
    let mut lost = event("p-3", 1);
    lost.kind = "clock:ended".to_owned();
    let err = s
        .record_clock_event(&key("p-3", "ended"), &lost)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownRequest(_)), "{err}");
    assert!(s.fired_events("p-3").await.unwrap().is_empty());
}

pub(crate) async fn a_message_a_clock_sends_is_recorded_once(fx: Fixture) {
    let s = &fx.store;
    s.record_outgoing(&outgoing("sha256:e1", "thr-e", None, 0))
        .await
        .unwrap();
    let escalation = outgoing("sha256:e2", "thr-e", Some("sha256:e1"), 3600);
    let fired = ClockFired {
        clock: "acknowledgement".to_owned(),
        ..key("thr-e", "overdue")
    };
    assert!(s.record_outgoing_once(&fired, &escalation).await.unwrap());
    let again = outgoing("sha256:e3", "thr-e", Some("sha256:e1"), 3601);
    assert!(!s.record_outgoing_once(&fired, &again).await.unwrap());
    assert_eq!(s.thread_messages("thr-e").await.unwrap().len(), 2);
    assert!(s.outbox_item("sha256:e3").await.unwrap().is_none());
    assert_eq!(s.fired_events("thr-e").await.unwrap(), vec![fired]);
}

pub(crate) async fn a_reset_marks_every_case_stale_under_a_new_format(fx: Fixture) {
    let s = &fx.store;
    assert_eq!(s.case_index_format().await.unwrap(), 0);
    s.insert_request(&request("r-1", Direction::Outgoing, RequestKind::Mla, "DE"))
        .await
        .unwrap();
    let revision = s.case_revision("r-1").await.unwrap().unwrap();
    assert!(
        s.put_case(&derived("r-1", 2, None), revision)
            .await
            .unwrap()
    );
    // A row lost behind the store's back comes back with the reset.
    fx.raw("DELETE FROM case_index").await;
    s.insert_request(&request("r-2", Direction::Outgoing, RequestKind::Mla, "DE"))
        .await
        .unwrap();
    assert_eq!(s.reset_case_index(3).await.unwrap(), 2);
    assert_eq!(s.case_index_format().await.unwrap(), 3);
    let stale: Vec<String> = s
        .stale_cases("", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(stale, ["r-1", "r-2"]);
    let reopened = fx.reopen().await;
    assert_eq!(reopened.case_index_format().await.unwrap(), 3);
    reopened.close().await;
}

pub(crate) async fn open_cases_are_counted_by_state_with_those_overdue(fx: Fixture) {
    let s = &fx.store;
    let row = |id: &str, state: &str, open: bool, overdue: bool| CaseRow {
        state: state.to_owned(),
        open,
        overdue,
        ..derived(id, URGENCY_ROUTINE, None)
    };
    s.bulk_put_cases(&[
        row("thr-1", "submitted", true, true),
        row("thr-2", "submitted", true, false),
        row("thr-3", "acknowledged", true, false),
        row("thr-4", "refused", false, false),
    ])
    .await
    .unwrap();
    let counts: Vec<(String, u64, u64)> = s
        .count_open_cases(None)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.state, c.cases, c.overdue))
        .collect();
    assert_eq!(
        counts,
        [
            ("acknowledged".to_owned(), 1, 0),
            ("submitted".to_owned(), 2, 1)
        ]
    );
}
