//! Conformance cases for federation: the directory, the messages of
//! request threads, the outbox and refusals.

use super::*;

// ---------------------------------------------------------------------------
// Federation: the directory.

pub(crate) async fn directory_versions_only_increase(fx: Fixture) {
    let store = &fx.store;
    assert_eq!(store.directory().await.unwrap(), None);
    assert_eq!(store.directory_version().await.unwrap(), None);
    let dir = |version: u64, seconds: i64| StoredDirectory {
        version,
        signed: format!(r#"{{"version":{version}}}"#).into_bytes(),
        imported_at: at(seconds),
    };

    store.put_directory(&dir(3, 0)).await.unwrap();
    assert_eq!(store.directory().await.unwrap(), Some(dir(3, 0)));
    assert_eq!(store.directory_version().await.unwrap(), Some(3));

    for offered in [3, 2, 0] {
        let err = store.put_directory(&dir(offered, 9)).await.unwrap_err();
        assert!(
            matches!(err, StoreError::StaleDirectory { current: 3, offered: o } if o == offered),
            "{err}"
        );
    }
    assert_eq!(store.directory().await.unwrap(), Some(dir(3, 0)));

    store.put_directory(&dir(4, 60)).await.unwrap();
    assert_eq!(store.directory().await.unwrap(), Some(dir(4, 60)));
    assert_eq!(store.directory_version().await.unwrap(), Some(4));

    // Versions beyond what PostgreSQL's BIGINT holds are refused alike.
    for version in [i64::MAX as u64 + 1, u64::MAX] {
        let err = store.put_directory(&dir(version, 61)).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::InvalidValue {
                    field: "directory.version",
                    ..
                }
            ),
            "{err}"
        );
    }
    let largest = i64::MAX as u64;
    store.put_directory(&dir(largest, 62)).await.unwrap();
    assert_eq!(store.directory().await.unwrap().unwrap().version, largest);
}

// ---------------------------------------------------------------------------
// Federation: messages.

pub(crate) async fn an_outgoing_message_is_recorded_with_its_request_event_and_outbox_item(
    fx: Fixture,
) {
    let store = &fx.store;
    let first = outgoing("sha256:01", "thr-1", None, 0);
    store.record_outgoing(&first).await.unwrap();

    assert_eq!(
        store.get_request("thr-1").await.unwrap(),
        first.new_request.clone()
    );
    let history = store.events("thr-1").await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].seq, history[0].kind.as_str()), (1, "sent"));
    assert_eq!(
        store.get_message("sha256:01").await.unwrap(),
        Some(first.message.clone())
    );
    assert_eq!(
        store.outbox_item("sha256:01").await.unwrap(),
        Some(first.outbox.clone())
    );
    assert_eq!(store.receipt_for("sha256:01").await.unwrap(), None);

    // A follow-up in the same thread, after an event recorded locally.
    store.append_event(&event("thr-1", 7)).await.unwrap();
    let second = outgoing("sha256:02", "thr-1", Some("sha256:01"), 30);
    store.record_outgoing(&second).await.unwrap();
    let history = store.events("thr-1").await.unwrap();
    let kinds: Vec<&str> = history.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["sent", "note", "sent"]);

    assert_eq!(
        store.thread_messages("thr-1").await.unwrap(),
        [first.message.clone(), second.message.clone()]
    );
    assert_eq!(
        store.last_in_thread("thr-1").await.unwrap(),
        Some(second.message)
    );
    assert!(store.thread_messages("thr-9").await.unwrap().is_empty());
    assert_eq!(store.last_in_thread("thr-9").await.unwrap(), None);
    assert_eq!(store.get_message("sha256:09").await.unwrap(), None);
    assert_eq!(store.outbox_item("sha256:09").await.unwrap(), None);
}

pub(crate) async fn recording_an_outgoing_message_is_all_or_nothing(fx: Fixture) {
    let store = &fx.store;
    let first = outgoing("sha256:01", "thr-1", None, 0);
    store.record_outgoing(&first).await.unwrap();
    let nothing_else = || async {
        assert_eq!(store.events("thr-1").await.unwrap().len(), 1);
        assert_eq!(
            store.list_outbox(None, 100).await.unwrap(),
            std::slice::from_ref(&first.outbox)
        );
        assert_eq!(
            store.thread_messages("thr-1").await.unwrap(),
            std::slice::from_ref(&first.message)
        );
        assert_eq!(
            store
                .list_requests(&RequestFilter::default())
                .await
                .unwrap()
                .len(),
            1
        );
    };

    // The same message id again, opening another thread: the request
    // inserted before the clash is rolled back with it.
    let mut again = outgoing("sha256:01", "thr-2", None, 5);
    again.message.envelope = b"another envelope".to_vec();
    let err = store.record_outgoing(&again).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicateMessage(id) if id == "sha256:01"),
        "{err}"
    );
    assert_eq!(store.get_request("thr-2").await.unwrap(), None);
    nothing_else().await;

    // The same message id in the same thread: no event is added.
    let err = store
        .record_outgoing(&outgoing("sha256:01", "thr-1", Some("sha256:01"), 6))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateMessage(_)), "{err}");
    nothing_else().await;

    // Opening a thread that exists.
    let err = store
        .record_outgoing(&outgoing("sha256:02", "thr-1", None, 7))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicateRequest(id) if id == "thr-1"),
        "{err}"
    );
    assert_eq!(store.get_message("sha256:02").await.unwrap(), None);
    nothing_else().await;

    // A follow-up in a thread that does not exist.
    let err = store
        .record_outgoing(&outgoing("sha256:03", "thr-3", Some("sha256:01"), 8))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::UnknownRequest(id) if id == "thr-3"),
        "{err}"
    );
    assert_eq!(store.get_message("sha256:03").await.unwrap(), None);
    nothing_else().await;

    // Parts that disagree are refused before anything is written.
    let mut mismatched = outgoing("sha256:04", "thr-4", None, 9);
    mismatched.outbox.message_id = "sha256:05".to_owned();
    let err = store.record_outgoing(&mismatched).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidValue {
                field: "outbox.message_id",
                ..
            }
        ),
        "{err}"
    );
    let mut mismatched = outgoing("sha256:04", "thr-4", None, 9);
    mismatched.event.request_id = "thr-1".to_owned();
    let err = store.record_outgoing(&mismatched).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidValue {
                field: "request_events.request_id",
                ..
            }
        ),
        "{err}"
    );
    let mut mismatched = outgoing("sha256:04", "thr-4", None, 9);
    mismatched.message.direction = Direction::Incoming;
    assert!(matches!(
        store.record_outgoing(&mismatched).await.unwrap_err(),
        StoreError::InvalidValue {
            field: "messages.direction",
            ..
        }
    ));
    assert_eq!(store.get_request("thr-4").await.unwrap(), None);
    nothing_else().await;
}

pub(crate) async fn a_duplicate_incoming_message_gets_its_original_receipt(fx: Fixture) {
    let store = &fx.store;
    let first = incoming("sha256:a1", "thr-in", None, 0, "receipt one");
    assert_eq!(
        store.accept_incoming(&first).await.unwrap(),
        AcceptOutcome::Accepted
    );
    assert_eq!(
        store.get_request("thr-in").await.unwrap(),
        first.new_request.clone()
    );
    assert_eq!(
        store.receipt_for("sha256:a1").await.unwrap().as_deref(),
        Some(&b"receipt one"[..])
    );

    // Sent again (the sender never saw our answer): the first receipt is
    // returned and nothing is recorded twice, though the caller signed a
    // new receipt and prepared a new event.
    let mut copy = incoming("sha256:a1", "thr-in", None, 0, "receipt two");
    copy.event.at = at(100);
    copy.message.recorded_at = at(100);
    assert_eq!(
        store.accept_incoming(&copy).await.unwrap(),
        AcceptOutcome::Duplicate {
            receipt: b"receipt one".to_vec()
        }
    );
    assert_eq!(store.events("thr-in").await.unwrap().len(), 1);
    assert_eq!(
        store.thread_messages("thr-in").await.unwrap(),
        std::slice::from_ref(&first.message)
    );
    assert_eq!(
        store.receipt_for("sha256:a1").await.unwrap().as_deref(),
        Some(&b"receipt one"[..])
    );

    // A follow-up sent twice is a duplicate too.
    let next = incoming("sha256:a2", "thr-in", Some("sha256:a1"), 10, "receipt 2a");
    assert_eq!(
        store.accept_incoming(&next).await.unwrap(),
        AcceptOutcome::Accepted
    );
    let next_again = incoming("sha256:a2", "thr-in", Some("sha256:a1"), 10, "receipt 2b");
    assert_eq!(
        store.accept_incoming(&next_again).await.unwrap(),
        AcceptOutcome::Duplicate {
            receipt: b"receipt 2a".to_vec()
        }
    );
    assert_eq!(store.events("thr-in").await.unwrap().len(), 2);

    // An id of a message we sent is not a receipt to hand back.
    store
        .record_outgoing(&outgoing("sha256:b1", "thr-out", None, 20))
        .await
        .unwrap();
    let echoed = incoming("sha256:b1", "thr-in", Some("sha256:a2"), 21, "r");
    let err = store.accept_incoming(&echoed).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicateMessage(id) if id == "sha256:b1"),
        "{err}"
    );
    assert_eq!(store.events("thr-in").await.unwrap().len(), 2);
}

pub(crate) async fn concurrent_copies_of_a_message_are_accepted_once(fx: Fixture) {
    const COPIES: usize = 4;
    // Separate stores, as separate replicas behind a load balancer.
    let mut stores = vec![Arc::clone(&fx.store)];
    for _ in 1..COPIES {
        stores.push(fx.reopen().await);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(COPIES));
    let mut tasks = Vec::new();
    for (n, store) in stores.iter().enumerate() {
        let store = Arc::clone(store);
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let copy = incoming("sha256:c1", "thr-c", None, 0, &format!("receipt {n}"));
            barrier.wait().await;
            (n, store.accept_incoming(&copy).await.unwrap())
        }));
    }
    let mut accepted = Vec::new();
    let mut duplicates = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (n, AcceptOutcome::Accepted) => accepted.push(n),
            (_, AcceptOutcome::Duplicate { receipt }) => duplicates.push(receipt),
        }
    }
    assert_eq!(accepted.len(), 1, "exactly one copy is accepted");
    let kept = format!("receipt {}", accepted[0]).into_bytes();
    assert_eq!(duplicates, vec![kept.clone(); COPIES - 1]);
    assert_eq!(fx.store.receipt_for("sha256:c1").await.unwrap(), Some(kept));
    assert_eq!(fx.store.events("thr-c").await.unwrap().len(), 1);
    for store in &stores[1..] {
        store.close().await;
    }
}

pub(crate) async fn a_message_out_of_order_is_refused_and_nothing_stored(fx: Fixture) {
    let store = &fx.store;
    store
        .accept_incoming(&incoming("sha256:a1", "thr-a", None, 0, "ra1"))
        .await
        .unwrap();
    store
        .accept_incoming(&incoming("sha256:b1", "thr-b", None, 1, "rb1"))
        .await
        .unwrap();

    // Its predecessor has not arrived, or is in another thread.
    for prev in ["sha256:a0", "sha256:b1"] {
        let err = store
            .accept_incoming(&incoming("sha256:a2", "thr-a", Some(prev), 2, "ra2"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::OutOfOrder { prev: p } if p == prev),
            "{err}"
        );
        assert_eq!(store.get_message("sha256:a2").await.unwrap(), None);
        assert_eq!(store.receipt_for("sha256:a2").await.unwrap(), None);
        assert_eq!(store.events("thr-a").await.unwrap().len(), 1);
    }

    // A follow-up in a thread never opened.
    let err = store
        .accept_incoming(&incoming("sha256:z2", "thr-z", Some("sha256:a1"), 3, "rz"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::UnknownRequest(id) if id == "thr-z"),
        "{err}"
    );
    assert_eq!(store.get_message("sha256:z2").await.unwrap(), None);

    // Once in order, it is accepted.
    let a2 = incoming("sha256:a2", "thr-a", Some("sha256:a1"), 4, "ra2");
    assert_eq!(
        store.accept_incoming(&a2).await.unwrap(),
        AcceptOutcome::Accepted
    );
    assert_eq!(
        store.last_in_thread("thr-a").await.unwrap(),
        Some(a2.message)
    );
    assert_eq!(store.events("thr-a").await.unwrap().len(), 2);
}

pub(crate) async fn a_second_submit_for_an_existing_thread_is_a_conflict(fx: Fixture) {
    let store = &fx.store;
    let original = incoming("sha256:s1", "thr-s", None, 0, "rs1");
    store.accept_incoming(&original).await.unwrap();

    // Another message claiming to open the same thread.
    let mut other = incoming("sha256:s2", "thr-s", None, 5, "rs2");
    other.new_request.as_mut().unwrap().kind = RequestKind::Mla;
    let err = store.accept_incoming(&other).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicateRequest(id) if id == "thr-s"),
        "{err}"
    );
    assert_eq!(store.get_message("sha256:s2").await.unwrap(), None);
    assert_eq!(
        store.get_request("thr-s").await.unwrap(),
        original.new_request
    );
    assert_eq!(store.events("thr-s").await.unwrap().len(), 1);

    // A thread we opened ourselves cannot be opened by a peer either.
    store
        .record_outgoing(&outgoing("sha256:o1", "thr-o", None, 6))
        .await
        .unwrap();
    let mut hijack = incoming("sha256:s3", "thr-o", None, 7, "rs3");
    hijack.new_request.as_mut().unwrap().counterpart = state("FR");
    let err = store.accept_incoming(&hijack).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateRequest(_)), "{err}");
    assert_eq!(store.thread_messages("thr-o").await.unwrap().len(), 1);
}

// ---------------------------------------------------------------------------
// Federation: the outbox.

pub(crate) async fn concurrent_claimers_never_get_the_same_item(fx: Fixture) {
    const ITEMS: usize = 50;
    const CLAIMERS: usize = 4;
    for n in 0..ITEMS {
        let seconds = i64::try_from(n).unwrap();
        store_outgoing(
            &fx.store,
            &format!("sha256:{n:02}"),
            &format!("thr-{n:02}"),
            seconds,
        )
        .await;
    }
    let now = at(3_600);
    // Each claimer has its own store, as separate node processes would.
    let mut stores = vec![Arc::clone(&fx.store)];
    for _ in 1..CLAIMERS {
        stores.push(fx.reopen().await);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(CLAIMERS));
    let mut tasks = Vec::new();
    for store in &stores {
        let store = Arc::clone(store);
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_due(now, Duration::minutes(5), 3).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                assert!(batch.len() <= 3);
                mine.extend(batch.into_iter().map(|item| item.message_id));
            }
        }));
    }
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.unwrap());
    }
    let distinct: BTreeSet<&String> = claimed.iter().collect();
    assert_eq!(claimed.len(), ITEMS, "every item is claimed exactly once");
    assert_eq!(distinct.len(), ITEMS);
    // All are leased now.
    assert!(
        fx.store
            .claim_due(now, Duration::minutes(5), 100)
            .await
            .unwrap()
            .is_empty()
    );
    for store in &stores[1..] {
        store.close().await;
    }
}

/// Records a message opening `thread`, due `seconds` after [`T0`].
async fn store_outgoing(store: &Arc<dyn Store>, id: &str, thread: &str, seconds: i64) {
    store
        .record_outgoing(&outgoing(id, thread, None, seconds))
        .await
        .unwrap();
}

pub(crate) async fn a_claim_lasts_until_its_lease_expires(fx: Fixture) {
    let store = &fx.store;
    let mut later = outgoing("sha256:02", "thr-2", None, 0);
    later.outbox.next_attempt_at = at(600);
    store.record_outgoing(&later).await.unwrap();
    store_outgoing(store, "sha256:01", "thr-1", 0).await;
    let lease = Duration::seconds(60);

    // Only what is due is claimed; the claimed item is held for the lease.
    let got = store.claim_due(at(10), lease, 10).await.unwrap();
    assert_eq!(ids(&got), ["sha256:01"]);
    assert_eq!(got[0].attempts, 0);
    assert!(store.claim_due(at(10), lease, 10).await.unwrap().is_empty());
    assert!(store.claim_due(at(69), lease, 10).await.unwrap().is_empty());
    // The claimer vanished: once the lease has run out, another takes it.
    assert_eq!(
        ids(&store.claim_due(at(70), lease, 10).await.unwrap()),
        ["sha256:01"]
    );

    // A retry releases the claim at once and waits for its own time.
    store
        .mark_retry("sha256:01", 1, at(80), "connection refused")
        .await
        .unwrap();
    assert!(store.claim_due(at(79), lease, 10).await.unwrap().is_empty());
    let got = store.claim_due(at(80), lease, 10).await.unwrap();
    assert_eq!(ids(&got), ["sha256:01"]);
    assert_eq!(
        (got[0].attempts, got[0].last_error.as_deref()),
        (1, Some("connection refused"))
    );
    assert_eq!(got[0].next_attempt_at, at(80));

    // At 600 the later item falls due, and the claim on the first has run
    // out again; both were made at T0, and 02 was queued first.
    assert_eq!(
        ids(&store.claim_due(at(600), lease, 10).await.unwrap()),
        ["sha256:02", "sha256:01"]
    );
    // A limit of zero claims nothing; a lease must be positive.
    assert!(
        store
            .claim_due(at(9_999), lease, 0)
            .await
            .unwrap()
            .is_empty()
    );
    for bad in [Duration::ZERO, Duration::seconds(-5)] {
        let err = store.claim_due(at(9_999), bad, 10).await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidValue { field: "lease", .. }),
            "{err}"
        );
    }
    // The refused claims took nothing.
    assert_eq!(
        store.claim_due(at(9_999), lease, 10).await.unwrap().len(),
        2
    );
}

pub(crate) async fn claims_keep_each_thread_in_order(fx: Fixture) {
    let store = &fx.store;
    let lease = Duration::seconds(60);
    store_outgoing(store, "sha256:a1", "thr-a", 10).await;
    store
        .record_outgoing(&outgoing("sha256:a2", "thr-a", Some("sha256:a1"), 11))
        .await
        .unwrap();
    store
        .record_outgoing(&outgoing("sha256:a3", "thr-a", Some("sha256:a2"), 12))
        .await
        .unwrap();
    store_outgoing(store, "sha256:b1", "thr-b", 13).await;
    // Queued last but made first: oldest first goes by creation time.
    store_outgoing(store, "sha256:c1", "thr-c", 5).await;

    let got = store.claim_due(at(100), lease, 10).await.unwrap();
    assert_eq!(ids(&got), ["sha256:c1", "sha256:a1", "sha256:b1"]);
    // Even with every lease expired, a2 waits for a1.
    let got = store.claim_due(at(200), lease, 2).await.unwrap();
    assert_eq!(ids(&got), ["sha256:c1", "sha256:a1"]);

    store
        .mark_delivered("sha256:a1", b"receipt a1", at(201), &[])
        .await
        .unwrap();
    assert_eq!(
        ids(&store.claim_due(at(202), lease, 10).await.unwrap()),
        ["sha256:a2", "sha256:b1"]
    );
    // Given up, a2 no longer holds a3 back (the peer will judge a3).
    store
        .mark_failed("sha256:a2", "refused: invalid-body", at(203))
        .await
        .unwrap();
    assert_eq!(
        ids(&store.claim_due(at(204), lease, 10).await.unwrap()),
        ["sha256:a3"]
    );
}

pub(crate) async fn outbox_items_move_between_states(fx: Fixture) {
    let store = &fx.store;
    store_outgoing(store, "sha256:d1", "thr-d", 0).await;
    store_outgoing(store, "sha256:f1", "thr-f", 1).await;
    store_outgoing(store, "sha256:p1", "thr-p", 2).await;

    store
        .mark_retry("sha256:d1", 1, at(30), "timed out")
        .await
        .unwrap();
    let item = store.outbox_item("sha256:d1").await.unwrap().unwrap();
    assert_eq!(
        (
            item.state,
            item.attempts,
            item.next_attempt_at,
            item.last_error.as_deref()
        ),
        (OutboxState::Pending, 1, at(30), Some("timed out"))
    );

    store
        .mark_delivered("sha256:d1", b"receipt d1", at(31), &[])
        .await
        .unwrap();
    let delivered = store.outbox_item("sha256:d1").await.unwrap().unwrap();
    assert_eq!(delivered.state, OutboxState::Delivered);
    assert_eq!(delivered.delivered_at, Some(at(31)));
    // The failed attempt and the one that delivered it.
    assert_eq!(delivered.attempts, 2);
    assert_eq!(
        store.receipt_for("sha256:d1").await.unwrap().as_deref(),
        Some(&b"receipt d1"[..])
    );
    // Settled is settled: late reports from another worker change nothing,
    // and a second delivery keeps the first receipt.
    store
        .mark_retry("sha256:d1", 2, at(90), "late failure")
        .await
        .unwrap();
    store
        .mark_failed("sha256:d1", "late give-up", at(91))
        .await
        .unwrap();
    store
        .mark_delivered("sha256:d1", b"receipt again", at(92), &[])
        .await
        .unwrap();
    assert_eq!(
        store.outbox_item("sha256:d1").await.unwrap(),
        Some(delivered.clone())
    );
    assert_eq!(
        store.receipt_for("sha256:d1").await.unwrap().as_deref(),
        Some(&b"receipt d1"[..])
    );

    store
        .mark_failed("sha256:f1", "recipient unknown", at(40))
        .await
        .unwrap();
    let failed = store.outbox_item("sha256:f1").await.unwrap().unwrap();
    assert_eq!(failed.state, OutboxState::Failed);
    assert_eq!(failed.last_error.as_deref(), Some("recipient unknown"));
    assert_eq!(failed.delivered_at, None);
    store
        .mark_retry("sha256:f1", 5, at(41), "late")
        .await
        .unwrap();
    assert_eq!(store.outbox_item("sha256:f1").await.unwrap(), Some(failed));
    assert_eq!(store.receipt_for("sha256:f1").await.unwrap(), None);

    // Neither a delivered nor a failed item is claimed.
    assert_eq!(
        ids(&store
            .claim_due(at(1_000), Duration::seconds(60), 10)
            .await
            .unwrap()),
        ["sha256:p1"]
    );

    // Listings: newest first, by state, limited.
    assert_eq!(
        ids(&store.list_outbox(None, 10).await.unwrap()),
        ["sha256:p1", "sha256:f1", "sha256:d1"]
    );
    assert_eq!(
        ids(&store.list_outbox(None, 2).await.unwrap()),
        ["sha256:p1", "sha256:f1"]
    );
    for (state, want) in [
        (OutboxState::Pending, "sha256:p1"),
        (OutboxState::Delivered, "sha256:d1"),
        (OutboxState::Failed, "sha256:f1"),
    ] {
        assert_eq!(
            ids(&store.list_outbox(Some(state), 10).await.unwrap()),
            [want]
        );
    }

    // A receipt arriving for an item given up still proves the delivery.
    store
        .mark_delivered("sha256:f1", b"receipt f1", at(60), &[])
        .await
        .unwrap();
    let late = store.outbox_item("sha256:f1").await.unwrap().unwrap();
    assert_eq!(
        (late.state, late.delivered_at),
        (OutboxState::Delivered, Some(at(60)))
    );
    assert_eq!(
        store.receipt_for("sha256:f1").await.unwrap().as_deref(),
        Some(&b"receipt f1"[..])
    );

    // Messages never queued.
    for id in ["sha256:none", "nul\0id"] {
        let unknown = |err: StoreError| matches!(&err, StoreError::UnknownMessage(m) if m == id);
        assert!(unknown(
            store
                .mark_delivered(id, b"r", at(50), &[])
                .await
                .unwrap_err()
        ));
        assert!(unknown(
            store.mark_retry(id, 1, at(50), "e").await.unwrap_err()
        ));
        assert!(unknown(
            store.mark_failed(id, "e", at(50)).await.unwrap_err()
        ));
    }
}

// ---------------------------------------------------------------------------
// Federation: refusals.

pub(crate) async fn refusals_are_listed_newest_first(fx: Fixture) {
    let store = &fx.store;
    let refusal = |seconds: i64, code: &str| RefusalRecord {
        at: at(seconds),
        peer: "192.0.2.7:51234".to_owned(),
        claimed_sender: Some("FR".to_owned()),
        code: code.to_owned(),
        detail: format!("refused: {code}"),
        body_sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_owned(),
        body_len: 1_234,
    };
    assert!(store.refusals(10).await.unwrap().is_empty());
    let anonymous = RefusalRecord {
        claimed_sender: None,
        body_len: 0,
        ..refusal(20, "malformed-ciphertext")
    };
    store
        .record_refusal(&refusal(10, "signature-invalid"))
        .await
        .unwrap();
    store.record_refusal(&anonymous).await.unwrap();
    store
        .record_refusal(&refusal(5, "too-large"))
        .await
        .unwrap();
    // Same instant as the second: the one recorded later comes first.
    store
        .record_refusal(&refusal(20, "unknown-key"))
        .await
        .unwrap();

    let all = store.refusals(10).await.unwrap();
    let codes: Vec<&str> = all.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "unknown-key",
            "malformed-ciphertext",
            "signature-invalid",
            "too-large"
        ]
    );
    assert_eq!(all[1], anonymous);
    assert_eq!(store.refusals(2).await.unwrap(), all[..2]);

    let err = store
        .record_refusal(&RefusalRecord {
            body_len: u64::MAX,
            ..refusal(30, "too-large")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidValue {
                field: "refusals.body_len",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.refusals(10).await.unwrap().len(), 4);
}

pub(crate) async fn federation_data_survives_reopening_and_corruption_is_reported(fx: Fixture) {
    let directory = StoredDirectory {
        version: 7,
        signed: vec![0, 159, 146, 150, 255],
        imported_at: at(0),
    };
    fx.store.put_directory(&directory).await.unwrap();
    let sent = outgoing("sha256:k1", "thr-k", None, 1);
    fx.store.record_outgoing(&sent).await.unwrap();
    let received = incoming("sha256:k2", "thr-k2", None, 2, "rk2");
    fx.store.accept_incoming(&received).await.unwrap();
    fx.store.close().await;

    let store = fx.reopen().await;
    assert_eq!(store.directory().await.unwrap(), Some(directory));
    assert_eq!(
        store.get_message("sha256:k1").await.unwrap(),
        Some(sent.message)
    );
    assert_eq!(
        store.outbox_item("sha256:k1").await.unwrap(),
        Some(sent.outbox)
    );
    assert_eq!(
        store.receipt_for("sha256:k2").await.unwrap().as_deref(),
        Some(&b"rk2"[..])
    );

    fx.raw("UPDATE outbox SET recipient = 'de' WHERE message_id = 'sha256:k1'")
        .await;
    fx.raw("UPDATE messages SET counterpart = 'France' WHERE id = 'sha256:k2'")
        .await;
    let err = store.outbox_item("sha256:k1").await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                table: "outbox",
                column: "recipient",
                ..
            }
        ),
        "{err}"
    );
    let err = store.get_message("sha256:k2").await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                table: "messages",
                column: "counterpart",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("France"), "{err}");
    // The thread listing fails as a whole rather than skip the row.
    assert!(store.thread_messages("thr-k2").await.is_err());
    store.close().await;
}

pub(crate) async fn every_message_is_read_page_by_page_in_recording_order(fx: Fixture) {
    let store = &fx.store;
    store_outgoing(store, "sha256:p1", "thr-p", 1).await;
    store
        .accept_incoming(&incoming("sha256:p2", "thr-q", None, 2, "receipt-p2"))
        .await
        .unwrap();
    store
        .record_outgoing(&outgoing("sha256:p3", "thr-p", Some("sha256:p1"), 3))
        .await
        .unwrap();
    let first = store.messages_page(0, 2).await.unwrap();
    let ids: Vec<&str> = first.iter().map(|m| m.message.id.as_str()).collect();
    assert_eq!(ids, ["sha256:p1", "sha256:p2"]);
    assert!(first[0].seq < first[1].seq);
    assert_eq!(first[0].receipt, None);
    assert_eq!(first[1].receipt.as_deref(), Some(&b"receipt-p2"[..]));
    assert_eq!(
        Some(&first[1].message),
        store.get_message("sha256:p2").await.unwrap().as_ref()
    );
    let rest = store.messages_page(first[1].seq, 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].message.id, "sha256:p3");
    assert!(
        store
            .messages_page(rest[0].seq, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub(crate) async fn a_pending_item_is_resealed_with_its_ledger_entry(fx: Fixture) {
    let store = &fx.store;
    store_outgoing(store, "sha256:r1", "thr-r", 0).await;
    store_outgoing(store, "sha256:r2", "thr-s", 1).await;
    let queued = store.pending_ledger(100).await.unwrap().len();

    store
        .resign_outbox(
            "sha256:r1",
            b"sealed again",
            at(40),
            &[b"resigned r1".to_vec()],
        )
        .await
        .unwrap();
    let item = store.outbox_item("sha256:r1").await.unwrap().unwrap();
    assert_eq!(item.ciphertext, b"sealed again");
    assert_eq!(item.state, OutboxState::Pending);
    let pending = store.pending_ledger(100).await.unwrap();
    assert_eq!(pending.len(), queued + 1);
    assert_eq!(
        pending.last().map(|p| p.entry.as_slice()),
        Some(&b"resigned r1"[..])
    );

    // A delivered item keeps what was delivered, and nothing is queued.
    store
        .mark_delivered("sha256:r2", b"receipt r2", at(41), &[])
        .await
        .unwrap();
    let before = store.outbox_item("sha256:r2").await.unwrap().unwrap();
    store
        .resign_outbox("sha256:r2", b"too late", at(42), &[b"resigned r2".to_vec()])
        .await
        .unwrap();
    assert_eq!(store.outbox_item("sha256:r2").await.unwrap(), Some(before));
    assert_eq!(store.pending_ledger(100).await.unwrap().len(), queued + 1);

    let err = store
        .resign_outbox("sha256:never", b"x", at(43), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownMessage(_)), "{err}");
}
