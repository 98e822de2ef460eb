//! The on-call rota and alerts (`AlertStore::put_shift` to
//! `AlertStore::alert_deliveries`), on both backends: each change writes its
//! ledger entries with it, an alert is raised once per cause, deliveries
//! are leased to one claimer at a time and move between states, and an
//! escalation moves an alert only from the level it was read at.

use super::*;
use custos_store::{AlertRecord, NewDelivery, ShiftRecord};

fn shift(id: &str, starts: i64, ends: i64) -> ShiftRecord {
    ShiftRecord {
        id: id.to_owned(),
        role: "duty-officer".to_owned(),
        person: "ana".to_owned(),
        email: "ana@example.org".to_owned(),
        deputy: "bo".to_owned(),
        deputy_email: "bo@example.org".to_owned(),
        starts_at: at(starts),
        ends_at: at(ends),
        zone: "Europe/Paris".to_owned(),
        created_by: "cli:admin".to_owned(),
        created_at: at(0),
        removed_at: None,
    }
}

fn alert(id: &str, cause: &str) -> AlertRecord {
    AlertRecord {
        id: id.to_owned(),
        cause: cause.to_owned(),
        kind: "emergency-request".to_owned(),
        role: "duty-officer".to_owned(),
        case_id: "case-1".to_owned(),
        counterpart: "FR".to_owned(),
        urgency: "emergency".to_owned(),
        deadline: Some(at(3_600)),
        raised_at: at(10),
        level: 0,
        escalate_at: Some(at(610)),
        acknowledged_at: None,
        acknowledged_by: None,
    }
}

fn mail(to: &str) -> NewDelivery {
    NewDelivery {
        channel: "email".to_owned(),
        target: to.to_owned(),
        recipient: to.split('@').next().unwrap_or_default().to_owned(),
    }
}

pub(crate) async fn the_rota_and_alerts_are_kept_with_their_ledger_entries(fx: Fixture) {
    let s = &fx.store;
    let queued = |n: usize| vec![vec![n as u8; 8]];
    s.put_shift(&shift("s1", 0, 43_200), &queued(1))
        .await
        .unwrap();
    s.put_shift(&shift("s2", 43_200, 86_400), &queued(2))
        .await
        .unwrap();
    assert_eq!(s.shifts(false).await.unwrap().len(), 2);
    assert!(s.remove_shift("s2", at(5), &queued(3)).await.unwrap());
    assert!(
        !s.remove_shift("s2", at(6), &queued(9)).await.unwrap(),
        "removed twice"
    );
    assert!(!s.remove_shift("nope", at(6), &queued(9)).await.unwrap());
    let kept = s.shifts(false).await.unwrap();
    assert_eq!(kept, vec![shift("s1", 0, 43_200)]);
    let all = s.shifts(true).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].removed_at, Some(at(5)));

    // Raised once per cause, with its deliveries.
    let a = alert("a1", "message:m1");
    assert!(
        s.raise_alert(&a, &[mail("ana@example.org")], &queued(4))
            .await
            .unwrap()
    );
    assert!(
        !s.raise_alert(
            &alert("a2", "message:m1"),
            &[mail("x@example.org")],
            &queued(9)
        )
        .await
        .unwrap()
    );
    assert_eq!(s.alerts(false, 10).await.unwrap(), vec![a.clone()]);
    assert_eq!(s.get_alert("a1").await.unwrap(), Some(a.clone()));

    // Leased to one claimer until the lease ends.
    let claimed = s.claim_deliveries(at(10), at(70), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].target, "ana@example.org");
    assert!(
        s.claim_deliveries(at(20), at(80), 10)
            .await
            .unwrap()
            .is_empty()
    );
    s.delivery_retry(claimed[0].id, 1, at(30), "connection refused")
        .await
        .unwrap();
    assert!(
        s.claim_deliveries(at(25), at(85), 10)
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    let again = s.claim_deliveries(at(30), at(90), 10).await.unwrap();
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].last_error.as_deref(), Some("connection refused"));
    s.delivery_done(again[0].id, at(31), &queued(5))
        .await
        .unwrap();
    let ds = s.alert_deliveries("a1").await.unwrap();
    assert_eq!(
        (ds[0].state.as_str(), ds[0].delivered_at),
        ("delivered", Some(at(31)))
    );

    // Escalated from the level read only; acknowledged once.
    assert!(s.due_escalations(at(600), 10).await.unwrap().is_empty());
    let due = s.due_escalations(at(610), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert!(
        s.escalate_alert(
            "a1",
            0,
            Some(at(1_210)),
            &[mail("bo@example.org")],
            at(610),
            &queued(6)
        )
        .await
        .unwrap()
    );
    assert!(
        !s.escalate_alert("a1", 0, None, &[], at(611), &queued(9))
            .await
            .unwrap(),
        "escalated twice from level 0"
    );
    let now = s.get_alert("a1").await.unwrap().unwrap();
    assert_eq!((now.level, now.escalate_at), (1, Some(at(1_210))));
    assert_eq!(s.alert_deliveries("a1").await.unwrap().len(), 2);
    assert!(
        s.acknowledge_alert("a1", "cli:ana", at(700), &queued(7))
            .await
            .unwrap()
    );
    assert!(
        !s.acknowledge_alert("a1", "cli:bo", at(701), &queued(9))
            .await
            .unwrap()
    );
    assert!(s.due_escalations(at(5_000), 10).await.unwrap().is_empty());
    assert!(s.alerts(true, 10).await.unwrap().is_empty());
    let acked = s.get_alert("a1").await.unwrap().unwrap();
    assert_eq!(acked.acknowledged_by.as_deref(), Some("cli:ana"));

    // Each change that happened queued its ledger entry, and nothing else did.
    let pending: Vec<u8> = s
        .pending_ledger(100)
        .await
        .unwrap()
        .iter()
        .map(|p| p.entry[0])
        .collect();
    assert_eq!(pending, vec![1, 2, 3, 4, 5, 6, 7]);

    // Kept across a reopening.
    let again = fx.reopen().await;
    assert_eq!(again.shifts(true).await.unwrap().len(), 2);
    assert_eq!(again.get_alert("a1").await.unwrap(), Some(acked));
    again.close().await;
}
