//! Writes joined with what they cause, on both backends: the alert an
//! arriving message or a clock event calls for is written in the same
//! transaction (the cause stored ⇒ the alert exists; the alert's part
//! failing ⇒ nothing of the cause is stored), and sign-in events write
//! their access-record rows with the state change.

use super::*;
use custos_store::{
    ALLOWED, AccessFilter, AccessRecord, AlertRecord, ClockFired, NewAlert, NewDelivery, REFUSED,
    SessionOutcome, SessionRecord, SignInState, UserRecord,
};

fn raised(id: &str, cause: &str, case: &str) -> NewAlert {
    NewAlert {
        alert: AlertRecord {
            id: id.to_owned(),
            cause: cause.to_owned(),
            kind: "emergency-request".to_owned(),
            role: "duty-officer".to_owned(),
            case_id: case.to_owned(),
            counterpart: "FR".to_owned(),
            urgency: "emergency".to_owned(),
            deadline: Some(at(3_600)),
            raised_at: at(10),
            level: 0,
            escalate_at: Some(at(610)),
            acknowledged_at: None,
            acknowledged_by: None,
        },
        deliveries: vec![NewDelivery {
            channel: "email".to_owned(),
            target: "ana@example.org".to_owned(),
            recipient: "ana".to_owned(),
        }],
        ledger: vec![format!("alert-raised {id}").into_bytes()],
    }
}

async fn queued(s: &Arc<dyn Store>) -> Vec<Vec<u8>> {
    s.pending_ledger(1000)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.entry)
        .collect()
}

pub(crate) async fn an_alert_is_written_in_the_transaction_of_its_cause(fx: Fixture) {
    let s = &fx.store;
    // The message accepted ⇒ its alert, deliveries and entry exist.
    let a1 = raised("a1", "message:sha256:m1", "thr-1");
    let outcome = s
        .accept_incoming_alerting(&incoming("sha256:m1", "thr-1", None, 5, "r1"), Some(&a1))
        .await
        .unwrap();
    assert_eq!(outcome, AcceptOutcome::Accepted);
    assert_eq!(s.get_alert("a1").await.unwrap(), Some(a1.alert.clone()));
    assert_eq!(s.alert_deliveries("a1").await.unwrap().len(), 1);
    assert!(queued(s).await.contains(&b"alert-raised a1".to_vec()));

    // A duplicate raises nothing; a cause raised before is skipped without
    // undoing the message.
    let again = s
        .accept_incoming_alerting(
            &incoming("sha256:m1", "thr-1", None, 5, "r1"),
            Some(&raised("a9", "message:sha256:m9", "thr-1")),
        )
        .await
        .unwrap();
    assert!(
        matches!(again, AcceptOutcome::Duplicate { .. }),
        "{again:?}"
    );
    assert_eq!(s.get_alert("a9").await.unwrap(), None);
    let outcome = s
        .accept_incoming_alerting(
            &incoming("sha256:m2", "thr-1", Some("sha256:m1"), 6, "r2"),
            Some(&raised("a2", "message:sha256:m1", "thr-1")),
        )
        .await
        .unwrap();
    assert_eq!(outcome, AcceptOutcome::Accepted);
    assert_eq!(s.get_alert("a2").await.unwrap(), None);
    // Without an alert it is a plain acceptance.
    let outcome = s
        .accept_incoming_alerting(&incoming("sha256:m3", "thr-3", None, 7, "r3"), None)
        .await
        .unwrap();
    assert_eq!(outcome, AcceptOutcome::Accepted);

    // The alert's part failing inside the transaction (its id is taken by
    // another cause's alert) rolls the message back.
    let before = queued(s).await.len();
    let mut clash = raised("a1", "message:sha256:m4", "thr-4");
    clash.ledger = vec![b"never queued".to_vec()];
    s.accept_incoming_alerting(&incoming("sha256:m4", "thr-4", None, 8, "r4"), Some(&clash))
        .await
        .unwrap_err();
    assert_eq!(s.get_message("sha256:m4").await.unwrap(), None);
    assert_eq!(s.get_request("thr-4").await.unwrap(), None);
    assert_eq!(queued(s).await.len(), before);
    assert_eq!(s.alerts(false, 10).await.unwrap().len(), 1);

    // A clock event and its alert, once.
    s.insert_request(&request(
        "p-1",
        Direction::Incoming,
        RequestKind::Preservation,
        "FR",
    ))
    .await
    .unwrap();
    let key = ClockFired {
        case_id: "p-1".to_owned(),
        clock: "acknowledgement".to_owned(),
        event: "warning:900s".to_owned(),
        due: at(3_600),
        fired_at: at(2_700),
    };
    let mut warned = event("p-1", 1);
    warned.kind = "clock:warning:900s".to_owned();
    warned.ledger = Some(b"clock fired".to_vec());
    let a3 = raised("a3", "clock:p-1 acknowledgement warning:900s", "p-1");
    assert!(
        s.record_clock_event_alerting(&key, &warned, Some(&a3))
            .await
            .unwrap()
    );
    assert_eq!(s.get_alert("a3").await.unwrap(), Some(a3.alert.clone()));
    let a4 = raised("a4", "clock:p-1 acknowledgement warning:900s #2", "p-1");
    assert!(
        !s.record_clock_event_alerting(&key, &warned, Some(&a4))
            .await
            .unwrap(),
        "fired twice"
    );
    assert_eq!(
        s.get_alert("a4").await.unwrap(),
        None,
        "raised without its event"
    );

    // Its alert failing undoes the event's key and history.
    let overdue = ClockFired {
        event: "overdue".to_owned(),
        ..key.clone()
    };
    let mut late = event("p-1", 2);
    late.kind = "clock:overdue".to_owned();
    let clash = raised("a3", "clock:p-1 acknowledgement overdue", "p-1");
    s.record_clock_event_alerting(&overdue, &late, Some(&clash))
        .await
        .unwrap_err();
    assert_eq!(s.fired_events("p-1").await.unwrap(), vec![key]);
    assert_eq!(s.events("p-1").await.unwrap().len(), 1);

    // A message a clock sends, with its alert, once.
    s.record_outgoing(&outgoing("sha256:e1", "thr-e", None, 0))
        .await
        .unwrap();
    let fired = ClockFired {
        case_id: "thr-e".to_owned(),
        clock: "acknowledgement".to_owned(),
        event: "overdue".to_owned(),
        due: at(3_600),
        fired_at: at(3_600),
    };
    let a5 = raised("a5", "clock:thr-e acknowledgement overdue", "thr-e");
    let escalation = outgoing("sha256:e2", "thr-e", Some("sha256:e1"), 3600);
    assert!(
        s.record_outgoing_once_alerting(&fired, &escalation, Some(&a5))
            .await
            .unwrap()
    );
    assert!(s.get_alert("a5").await.unwrap().is_some());
    let other = outgoing("sha256:e3", "thr-e", Some("sha256:e2"), 3601);
    let fired2 = ClockFired {
        event: "warning:60s".to_owned(),
        ..fired.clone()
    };
    s.record_outgoing_once_alerting(&fired2, &other, Some(&raised("a5", "x", "thr-e")))
        .await
        .unwrap_err();
    assert!(s.get_message("sha256:e3").await.unwrap().is_none());
    assert_eq!(s.fired_events("thr-e").await.unwrap(), vec![fired]);
}

fn person(name: &str) -> UserRecord {
    UserRecord {
        name: name.to_owned(),
        display_name: name.to_owned(),
        email: None,
        roles: "auditor".to_owned(),
        enabled: true,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        totp_secret: vec![1, 2, 3],
        sign_in: SignInState::default(),
        created_at: at(0),
        changed_at: at(0),
        language: None,
    }
}

fn row(
    seconds: i64,
    name: &str,
    outcome: &str,
    reason: Option<&str>,
    entry: &[u8],
) -> AccessRecord {
    AccessRecord {
        id: 0,
        at: at(seconds),
        person: name.to_owned(),
        actor: "anonymous".to_owned(),
        operation: "sign-in".to_owned(),
        case_id: None,
        outcome: outcome.to_owned(),
        reason: reason.map(str::to_owned),
        entry_sha256: format!("sha256:{}", entry.len()),
    }
}

pub(crate) async fn sign_in_events_are_recorded_with_their_state_change(fx: Fixture) {
    let s = &fx.store;
    s.add_user(&person("ana"), &[], &[], at(0)).await.unwrap();
    let start = SignInState::default();
    let failed = SignInState {
        failed_attempts: 1,
        ..start.clone()
    };
    let entry = b"sign-in failed".to_vec();
    let rows = [row(1, "ana", REFUSED, Some("password"), &entry)];
    assert!(
        s.set_sign_in_state(
            "ana",
            &start,
            &failed,
            std::slice::from_ref(&entry),
            &rows,
            at(1)
        )
        .await
        .unwrap()
    );
    // From a state that moved meanwhile nothing is written, no row either.
    assert!(
        !s.set_sign_in_state(
            "ana",
            &start,
            &failed,
            std::slice::from_ref(&entry),
            &rows,
            at(2)
        )
        .await
        .unwrap()
    );
    let listed = |person: &str| AccessFilter {
        person: Some(person.to_owned()),
        limit: 10,
        ..AccessFilter::default()
    };
    let got = s.access_records(&listed("ana")).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].reason.as_deref(), Some("password"));
    assert_eq!(got[0].outcome, REFUSED);

    // A session opened: its row with it; refused (state moved): none.
    let session = SessionRecord {
        id: "s1".to_owned(),
        user: "ana".to_owned(),
        secret_hash: "hash-s1".to_owned(),
        from: "127.0.0.1".to_owned(),
        created_at: at(3),
        last_seen_at: at(3),
        expires_at: at(3_603),
        revoked_at: None,
    };
    let ok = b"signed in".to_vec();
    let rows = [row(3, "ana", ALLOWED, None, &ok)];
    assert_eq!(
        s.open_session(
            &start,
            &start,
            None,
            &session,
            std::slice::from_ref(&ok),
            &rows
        )
        .await
        .unwrap(),
        SessionOutcome::StateChanged
    );
    assert_eq!(s.access_records(&listed("ana")).await.unwrap().len(), 1);
    assert_eq!(
        s.open_session(
            &failed,
            &start,
            None,
            &session,
            std::slice::from_ref(&ok),
            &rows
        )
        .await
        .unwrap(),
        SessionOutcome::Opened
    );
    let got = s.access_records(&listed("ana")).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].outcome.as_str(), got[0].at), (ALLOWED, at(3)));
    // The session ended: its row with it; ended again: nothing more.
    let out = b"signed out".to_vec();
    let mut ended = row(5, "ana", ALLOWED, None, &out);
    ended.operation = "sign-out".to_owned();
    for _ in 0..2 {
        s.revoke_session(
            "s1",
            std::slice::from_ref(&out),
            std::slice::from_ref(&ended),
            at(5),
        )
        .await
        .unwrap()
        .unwrap();
    }
    let got = s.access_records(&listed("ana")).await.unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!((got[0].operation.as_str(), got[0].at), ("sign-out", at(5)));
    // A row that cannot be stored undoes the state change.
    let bad = [row(4, "ana\0", REFUSED, Some("code"), &entry)];
    s.set_sign_in_state("ana", &start, &failed, &[entry], &bad, at(4))
        .await
        .unwrap_err();
    assert_eq!(s.user("ana").await.unwrap().unwrap().sign_in, start);
}
