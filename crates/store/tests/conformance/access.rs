//! Conformance cases for the record of who saw what and the case grants:
//! each write queues its ledger entry with it, all or nothing; the record
//! lists newest first by person, case and period; revoking touches only
//! grants in force and writes nothing when there are none.

use custos_store::{ALLOWED, AccessFilter, AccessRecord, CaseGrant, REFUSED};

use super::*;

/// The ten newest access records, newest first.
async fn newest_accesses(s: &Arc<dyn Store>) -> Vec<AccessRecord> {
    s.access_records(&AccessFilter {
        limit: 10,
        ..AccessFilter::default()
    })
    .await
    .unwrap()
}

fn access(seconds: i64, person: &str, case: Option<&str>, outcome: &str) -> AccessRecord {
    AccessRecord {
        id: 0,
        at: at(seconds),
        person: person.to_owned(),
        actor: format!("desk:{person}"),
        operation: "read-case".to_owned(),
        case_id: case.map(str::to_owned),
        outcome: outcome.to_owned(),
        reason: (outcome == REFUSED).then(|| "no role allows it".to_owned()),
        entry_sha256: format!("sha256:{seconds:064}"),
    }
}

pub async fn the_access_record_is_written_with_its_entry_and_listed_by_filter(f: Fixture) {
    let s = &f.store;
    let rows = [
        access(1, "ana", Some("thr-1"), ALLOWED),
        access(2, "bo", Some("thr-1"), REFUSED),
        access(3, "ana", None, ALLOWED),
        access(4, "ana", Some("thr-2"), ALLOWED),
    ];
    for (i, r) in rows.iter().enumerate() {
        let id = s
            .record_access(r, format!("entry-{i}").as_bytes())
            .await
            .unwrap();
        assert!(id > 0);
    }
    let queued = s.pending_ledger(100).await.unwrap();
    let entries: Vec<&[u8]> = queued.iter().map(|p| p.entry.as_slice()).collect();
    assert_eq!(
        entries,
        [&b"entry-0"[..], b"entry-1", b"entry-2", b"entry-3"]
    );
    let list = |filter: AccessFilter| {
        let s = Arc::clone(s);
        async move {
            s.access_records(&AccessFilter {
                limit: 100,
                ..filter
            })
            .await
            .unwrap()
        }
    };
    let all = list(AccessFilter::default()).await;
    let times: Vec<OffsetDateTime> = all.iter().map(|r| r.at).collect();
    assert_eq!(times, [at(4), at(3), at(2), at(1)], "newest first");
    let mut back = all[3].clone();
    back.id = 0;
    assert_eq!(back, rows[0], "a row reads back exactly");
    let ana = list(AccessFilter {
        person: Some("ana".into()),
        ..AccessFilter::default()
    })
    .await;
    assert_eq!(ana.len(), 3);
    let on_case = list(AccessFilter {
        case_id: Some("thr-1".into()),
        ..AccessFilter::default()
    })
    .await;
    assert_eq!(on_case.len(), 2);
    let period = list(AccessFilter {
        since: Some(at(2)),
        until: Some(at(4)),
        ..AccessFilter::default()
    })
    .await;
    assert_eq!(period.len(), 2, "since is inclusive, until exclusive");
    let page = s
        .access_records(&AccessFilter {
            limit: 1,
            offset: 1,
            ..AccessFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].at, at(3));
    // A value no backend holds is refused, and nothing is written.
    let mut bad = access(5, "ana", None, ALLOWED);
    bad.outcome = "maybe".into();
    assert!(matches!(
        s.record_access(&bad, b"entry-x").await,
        Err(StoreError::InvalidValue { .. })
    ));
    assert_eq!(s.pending_ledger(100).await.unwrap().len(), 4);
}

pub async fn access_records_written_together_are_all_or_nothing(f: Fixture) {
    let s = &f.store;
    let rows: Vec<(AccessRecord, Vec<u8>)> = (1..=3)
        .map(|i| {
            (
                access(i, "ana", Some(&format!("thr-{i}")), ALLOWED),
                format!("entry-{i}").into_bytes(),
            )
        })
        .collect();
    let ids = s.record_accesses(&rows).await.unwrap();
    assert_eq!(ids.len(), 3, "one number per row");
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "numbered in order: {ids:?}"
    );
    let queued = s.pending_ledger(100).await.unwrap();
    let entries: Vec<&[u8]> = queued.iter().map(|p| p.entry.as_slice()).collect();
    assert_eq!(entries, [&b"entry-1"[..], b"entry-2", b"entry-3"]);
    let listed = newest_accesses(s).await;
    let cases: Vec<Option<&str>> = listed.iter().map(|r| r.case_id.as_deref()).collect();
    assert_eq!(cases, [Some("thr-3"), Some("thr-2"), Some("thr-1")]);

    // One row no backend holds refuses the whole batch: no row, no entry.
    let mut bad = access(5, "ana", Some("thr-5"), ALLOWED);
    bad.outcome = "maybe".into();
    let batch = vec![
        (
            access(4, "ana", Some("thr-4"), ALLOWED),
            b"entry-4".to_vec(),
        ),
        (bad, b"entry-5".to_vec()),
    ];
    assert!(matches!(
        s.record_accesses(&batch).await,
        Err(StoreError::InvalidValue { .. })
    ));
    assert_eq!(s.pending_ledger(100).await.unwrap().len(), 3);
    let after = newest_accesses(s).await;
    assert_eq!(after.len(), 3, "nothing of the refused batch is kept");
}

pub async fn a_senders_access_record_is_written_with_the_message_or_not_at_all(f: Fixture) {
    let s = &f.store;
    let mut sent = outgoing("m-1", "thr-1", None, 1);
    sent.ledger = vec![b"message-sent m-1".to_vec()];
    let mut record = access(1, "ana", Some("thr-1"), ALLOWED);
    record.operation = "send-request".into();
    sent.access = Some(record.clone());
    s.record_outgoing(&sent).await.unwrap();
    let rows = newest_accesses(s).await;
    assert_eq!(rows.len(), 1);
    let mut back = rows[0].clone();
    back.id = 0;
    assert_eq!(back, record, "the row reads back exactly");
    let queued = s.pending_ledger(100).await.unwrap();
    assert_eq!(
        queued.len(),
        1,
        "the message's entry only: no entry of the record's own"
    );

    // A record no backend holds fails the whole sending: no request, no
    // message, no outbox item, no entry, no row.
    let mut bad = outgoing("m-2", "thr-2", None, 2);
    bad.ledger = vec![b"message-sent m-2".to_vec()];
    let mut wrong = access(2, "ana", Some("thr-2"), ALLOWED);
    wrong.outcome = "maybe".into();
    bad.access = Some(wrong);
    assert!(matches!(
        s.record_outgoing(&bad).await,
        Err(StoreError::InvalidValue { .. })
    ));
    assert!(s.get_request("thr-2").await.unwrap().is_none());
    assert!(s.get_message("m-2").await.unwrap().is_none());
    assert!(s.outbox_item("m-2").await.unwrap().is_none());
    assert_eq!(s.pending_ledger(100).await.unwrap().len(), 1);
    let rows = newest_accesses(s).await;
    assert_eq!(rows.len(), 1);
}

pub async fn case_grants_are_kept_revoked_and_listed_with_their_entries(f: Fixture) {
    let s = &f.store;
    let grant = CaseGrant {
        id: 0,
        case_id: "thr-1".into(),
        person: "aud".into(),
        reason: "annual review".into(),
        granted_by: "desk:dpo".into(),
        granted_at: at(1),
        until: at(100),
        revoked_by: None,
        revoked_at: None,
    };
    let id = s.grant_case(&grant, b"granted").await.unwrap();
    s.grant_case(
        &CaseGrant {
            person: "other".into(),
            ..grant.clone()
        },
        b"granted-2",
    )
    .await
    .unwrap();
    let listed = s.case_grants("thr-1").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed[0],
        CaseGrant {
            id,
            ..grant.clone()
        }
    );
    assert!(listed[0].in_force(at(50)));
    assert!(!listed[0].in_force(at(100)), "a grant ends at its end");
    assert!(s.case_grants("thr-2").await.unwrap().is_empty());

    assert_eq!(
        s.revoke_case_grants("thr-1", "aud", "desk:dpo", at(10), b"revoked")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.revoke_case_grants("thr-1", "aud", "desk:dpo", at(11), b"again")
            .await
            .unwrap(),
        0,
        "nothing left in force"
    );
    let listed = s.case_grants("thr-1").await.unwrap();
    assert_eq!(listed[0].revoked_at, Some(at(10)));
    assert_eq!(listed[0].revoked_by.as_deref(), Some("desk:dpo"));
    assert!(!listed[0].in_force(at(50)));
    assert!(listed[1].in_force(at(50)), "another person's grant stays");
    let entries: Vec<Vec<u8>> = s
        .pending_ledger(100)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.entry)
        .collect();
    assert_eq!(
        entries,
        [
            b"granted".to_vec(),
            b"granted-2".to_vec(),
            b"revoked".to_vec()
        ],
        "a revocation of nothing queues nothing"
    );
}
