//! Conformance cases for the custody ledger: entries queued with the actions
//! they record, batches appended by competing sequencers, stored tree
//! hashes, checkpoints, and rows changed behind the store's back.
//!
//! The store does no Merkle arithmetic, so the hashes here are stand-ins
//! derived from their storage index; what is checked is that the store
//! keeps them, hands them back in order, and never lets one change.

use custos_store::{EntryDigest, LedgerEntry, StoredCheckpoint};

use super::*;

/// A stand-in for the tree hash a node would store at `index`.
fn hash_at(index: u64) -> [u8; 32] {
    let mut hash = [0xA5; 32];
    hash[..8].copy_from_slice(&index.to_be_bytes());
    hash
}

fn bytes(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

/// One step of a sequencer: reads the ledger's size and up to `batch`
/// queued entries, and appends them with a stand-in hash per new index.
/// Returns the size it appended at and the entries appended.
async fn sequence(
    store: &Arc<dyn Store>,
    batch: u32,
    at: OffsetDateTime,
) -> Result<(u64, Vec<Vec<u8>>), StoreError> {
    let size = store.ledger_size().await?;
    let pending = store.pending_ledger(batch).await?;
    let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
    let entries: Vec<Vec<u8>> = pending.into_iter().map(|p| p.entry).collect();
    let hashes: Vec<(u64, [u8; 32])> = (size..)
        .take(entries.len())
        .map(|i| (i, hash_at(i)))
        .collect();
    store
        .append_ledger(size, &ids, &entries, &hashes, at)
        .await?;
    Ok((size, entries))
}

/// The table the store keeps its tree hashes in.
const TABLE: &str = "ledger_hash_blocks";

/// SQL that changes the stored hash at `index` to the one in `hex`, in
/// place inside its block, or (`None`) cuts its block short just after it.
fn set_hash(backend: Backend, index: u64, hex: Option<&str>) -> String {
    let (block, offset) = (index / 32, index % 32 * 32);
    let value = match (backend, hex) {
        (Backend::Sqlite, Some(hex)) => format!(
            "CAST(substr(hashes, 1, {offset}) || X'{hex}' || substr(hashes, {}) AS BLOB)",
            offset + 33
        ),
        (Backend::Postgres, Some(hex)) => {
            format!(
                "overlay(hashes placing '\\x{hex}'::bytea from {} for 32)",
                offset + 1
            )
        }
        (Backend::Sqlite, None) => format!("substr(hashes, 1, {})", offset + 32),
        (Backend::Postgres, None) => format!("substring(hashes from 1 for {})", offset + 32),
    };
    format!("UPDATE ledger_hash_blocks SET hashes = {value} WHERE block = {block}")
}

/// A byte-string literal in the backend's SQL, from hex digits.
fn blob(backend: Backend, hex: &str) -> String {
    match backend {
        Backend::Sqlite => format!("X'{hex}'"),
        Backend::Postgres => format!("'\\x{hex}'::bytea"),
    }
}

/// Asserts that `err` refuses a batch's hashes as invalid.
fn assert_invalid_hashes(err: &StoreError) {
    assert!(
        matches!(
            err,
            StoreError::InvalidValue {
                field: "ledger_hash_blocks.hashes",
                ..
            }
        ),
        "{err}"
    );
}

fn assert_corrupt(err: StoreError, want_table: &str, want_column: &str, mentions: &str) {
    let text = err.to_string();
    match err {
        StoreError::Corrupt { table, column, .. } => {
            assert_eq!((table, column), (want_table, want_column), "{text}");
            assert!(
                text.contains(mentions),
                "{text} should mention {mentions:?}"
            );
        }
        other => panic!("expected corruption in {want_table}.{want_column}, got {other}"),
    }
}

pub(crate) async fn queued_entries_wait_oldest_first(fx: Fixture) {
    let store = &fx.store;
    assert_eq!(store.pending_ledger(10).await.unwrap(), []);
    let t = datetime!(2026-12-01 08:00:00.123_456_789 UTC);
    store
        .queue_ledger(&[bytes("first"), bytes("second")], t)
        .await
        .unwrap();
    store.queue_ledger(&[], at(1)).await.unwrap();
    store
        .queue_ledger(&[vec![], vec![0, 255, 0]], at(2))
        .await
        .unwrap();

    let pending = store.pending_ledger(10).await.unwrap();
    let contents: Vec<&[u8]> = pending.iter().map(|p| p.entry.as_slice()).collect();
    assert_eq!(
        contents,
        [b"first".as_slice(), b"second", b"", &[0, 255, 0]]
    );
    assert!(
        pending.windows(2).all(|w| w[0].id < w[1].id),
        "ids rise in the order queued: {pending:?}"
    );
    assert_eq!(pending[0].queued_at, storage_precision(t));
    assert_eq!(pending[3].queued_at, at(2));
    assert_eq!(store.pending_ledger(2).await.unwrap(), pending[..2]);
    assert_eq!(store.pending_ledger(0).await.unwrap(), []);
    // Queueing is not appending.
    assert_eq!(store.ledger_size().await.unwrap(), 0);

    // A time no backend holds queues nothing, not even the valid entries.
    let err = store
        .queue_ledger(&[bytes("late")], datetime!(-0001-06-01 00:00 UTC))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidValue {
                field: "ledger_pending.queued_at",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.pending_ledger(10).await.unwrap(), pending);
}

pub(crate) async fn a_batch_is_appended_with_its_hashes(fx: Fixture) {
    let store = &fx.store;
    assert_eq!(store.ledger_size().await.unwrap(), 0);
    assert_eq!(store.ledger_entries(0, 10).await.unwrap(), []);
    assert_eq!(store.ledger_entry(0).await.unwrap(), None);

    store
        .queue_ledger(&[bytes("e0"), bytes("e1"), bytes("e2")], at(0))
        .await
        .unwrap();
    let pending = store.pending_ledger(10).await.unwrap();
    let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
    let entries: Vec<Vec<u8>> = pending.iter().map(|p| p.entry.clone()).collect();
    // Leaf hashes and an interior one: the store keeps them by storage
    // index, a prefix without gaps, whatever the node numbers them.
    let hashes = [
        (0, hash_at(0)),
        (1, hash_at(1)),
        (2, hash_at(2)),
        (3, hash_at(3)),
    ];
    let when = datetime!(2026-12-01 09:00:00.000_001_9 UTC);
    store
        .append_ledger(0, &ids, &entries, &hashes, when)
        .await
        .unwrap();

    assert_eq!(store.ledger_size().await.unwrap(), 3);
    assert_eq!(store.pending_ledger(10).await.unwrap(), []);
    let expected: Vec<LedgerEntry> = (0..3)
        .map(|i| LedgerEntry {
            index: i,
            entry: format!("e{i}").into_bytes(),
            recorded_at: storage_precision(when),
        })
        .collect();
    assert_eq!(store.ledger_entries(0, 10).await.unwrap(), expected);
    assert_eq!(store.ledger_entries(1, 1).await.unwrap(), expected[1..2]);
    assert_eq!(store.ledger_entries(2, 10).await.unwrap(), expected[2..]);
    assert_eq!(store.ledger_entries(3, 10).await.unwrap(), []);
    assert_eq!(store.ledger_entries(u64::MAX, 10).await.unwrap(), []);
    assert_eq!(store.ledger_entries(0, 0).await.unwrap(), []);
    assert_eq!(
        store.ledger_entry(1).await.unwrap(),
        Some(expected[1].clone())
    );
    assert_eq!(store.ledger_entry(3).await.unwrap(), None);
    assert_eq!(store.ledger_entry(u64::MAX).await.unwrap(), None);
    assert_eq!(
        store.ledger_hashes(&[3, 0, 2, 0]).await.unwrap(),
        [hash_at(3), hash_at(0), hash_at(2), hash_at(0)]
    );
    assert_eq!(
        store.ledger_hashes(&[]).await.unwrap(),
        Vec::<[u8; 32]>::new()
    );

    // The next batch lands after it; offering a hash already stored, the
    // same, is accepted (a node may recompute one it already wrote).
    store.queue_ledger(&[bytes("e3")], at(5)).await.unwrap();
    let next = store.pending_ledger(10).await.unwrap();
    store
        .append_ledger(
            3,
            &[next[0].id],
            &[bytes("e3")],
            &[(3, hash_at(3)), (4, hash_at(4)), (4, hash_at(4))],
            at(6),
        )
        .await
        .unwrap();
    assert_eq!(store.ledger_size().await.unwrap(), 4);
    assert_eq!(
        store.ledger_entry(3).await.unwrap().unwrap().entry,
        bytes("e3")
    );
    assert_eq!(store.ledger_hashes(&[4]).await.unwrap(), [hash_at(4)]);

    // A batch need not consume queued entries, and an empty batch at the
    // right size changes nothing.
    store
        .append_ledger(4, &[], &[bytes("direct")], &[], at(7))
        .await
        .unwrap();
    store.append_ledger(5, &[], &[], &[], at(8)).await.unwrap();
    assert_eq!(store.ledger_size().await.unwrap(), 5);
    let all = store.ledger_entries(0, 100).await.unwrap();
    let indexes: Vec<u64> = all.iter().map(|e| e.index).collect();
    assert_eq!(indexes, [0, 1, 2, 3, 4]);
}

pub(crate) async fn a_refused_batch_changes_nothing(fx: Fixture) {
    let store = &fx.store;
    store
        .queue_ledger(&[bytes("a"), bytes("b")], at(0))
        .await
        .unwrap();
    let first = store.pending_ledger(10).await.unwrap();
    sequence(store, 10, at(1)).await.unwrap();
    store
        .queue_ledger(&[bytes("c"), bytes("d")], at(2))
        .await
        .unwrap();
    let pending = store.pending_ledger(10).await.unwrap();
    let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
    let entries: Vec<Vec<u8>> = pending.iter().map(|p| p.entry.clone()).collect();
    let hashes = [(2, hash_at(2)), (3, hash_at(3))];

    let unchanged = || async {
        assert_eq!(store.ledger_size().await.unwrap(), 2);
        assert_eq!(store.pending_ledger(10).await.unwrap(), pending);
        assert_eq!(store.ledger_entry(2).await.unwrap(), None);
        let err = store.ledger_hashes(&[2]).await.unwrap_err();
        assert_corrupt(err, TABLE, "hashes", "index 2");
    };

    // A sequencer whose view of the size is stale, behind or ahead.
    for stale in [0, 1, 3] {
        let err = store
            .append_ledger(stale, &ids, &entries, &hashes, at(3))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::LedgerConflict { expected, actual: 2 } if expected == stale),
            "{err}"
        );
        assert!(err.to_string().contains("another sequencer"), "{err}");
        unchanged().await;
    }

    // The right size, but a queued entry another sequencer already took
    // (here: one of the first batch's, or one never queued).
    for gone in [first[1].id, ids[1] + 1_000] {
        let err = store
            .append_ledger(2, &[ids[0], gone], &entries, &hashes, at(3))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::LedgerConflict {
                    expected: 2,
                    actual: 2
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("no longer queued"), "{err}");
        unchanged().await;
    }

    // A hash that would overwrite a different one already stored.
    let err = store
        .append_ledger(
            2,
            &ids,
            &entries,
            &[(2, hash_at(2)), (1, hash_at(9))],
            at(3),
        )
        .await
        .unwrap_err();
    assert_corrupt(err, TABLE, "hashes", "index 1");
    unchanged().await;
    assert_eq!(store.ledger_hashes(&[1]).await.unwrap(), [hash_at(1)]);

    // One index given two hashes, and sizes no backend holds.
    let err = store
        .append_ledger(
            2,
            &ids,
            &entries,
            &[(2, hash_at(2)), (2, hash_at(3))],
            at(3),
        )
        .await
        .unwrap_err();
    assert_invalid_hashes(&err);
    // A hash that would leave a gap after the stored ones.
    let err = store
        .append_ledger(2, &ids, &entries, &[(3, hash_at(3))], at(3))
        .await
        .unwrap_err();
    assert_invalid_hashes(&err);
    assert!(err.to_string().contains("next to store is 2"), "{err}");
    for (size, hashes) in [(u64::MAX, &hashes[..]), (2, &[(u64::MAX, hash_at(0))][..])] {
        let err = store
            .append_ledger(size, &ids, &entries, hashes, at(3))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidValue { .. }), "{err}");
    }
    unchanged().await;

    // The same batch at the right size then goes through.
    store
        .append_ledger(2, &ids, &entries, &hashes, at(4))
        .await
        .unwrap();
    assert_eq!(store.ledger_size().await.unwrap(), 4);
    assert_eq!(store.pending_ledger(10).await.unwrap(), []);
}

pub(crate) async fn concurrent_sequencers_append_each_entry_once(fx: Fixture) {
    const ENTRIES: usize = 60;
    const SEQUENCERS: usize = 4;
    const BATCH: u32 = 7;
    let store = &fx.store;
    let queued: Vec<Vec<u8>> = (0..ENTRIES)
        .map(|i| format!("entry {i:03}").into_bytes())
        .collect();
    for chunk in queued.chunks(5) {
        store.queue_ledger(chunk, at(0)).await.unwrap();
    }

    let mut tasks = Vec::new();
    for _ in 0..SEQUENCERS {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            let mut wins = Vec::new();
            loop {
                match sequence(&store, BATCH, at(10)).await {
                    Ok((_, entries)) if entries.is_empty() => return wins,
                    Ok((size, entries)) => wins.push((size, entries.len())),
                    Err(StoreError::LedgerConflict { .. }) => {}
                    Err(other) => panic!("a sequencer failed: {other}"),
                }
            }
        }));
    }
    let mut wins = Vec::new();
    for task in tasks {
        wins.extend(task.await.unwrap());
    }

    // Exactly one batch won at each size, and each started where the one
    // before ended.
    wins.sort();
    let mut size = 0;
    for (at_size, n) in &wins {
        assert_eq!(*at_size, size, "batches won: {wins:?}");
        size += *n as u64;
    }
    assert_eq!(size, ENTRIES as u64, "batches won: {wins:?}");

    // Gapless, every entry once, in the order queued, with every hash.
    assert_eq!(store.ledger_size().await.unwrap(), ENTRIES as u64);
    let ledger = store.ledger_entries(0, 1_000).await.unwrap();
    let indexes: Vec<u64> = ledger.iter().map(|e| e.index).collect();
    assert_eq!(indexes, (0..ENTRIES as u64).collect::<Vec<_>>());
    let contents: Vec<Vec<u8>> = ledger.into_iter().map(|e| e.entry).collect();
    assert_eq!(contents, queued);
    assert_eq!(store.pending_ledger(10).await.unwrap(), []);
    let all: Vec<u64> = (0..ENTRIES as u64).collect();
    let expected: Vec<[u8; 32]> = all.iter().map(|&i| hash_at(i)).collect();
    assert_eq!(store.ledger_hashes(&all).await.unwrap(), expected);
}

pub(crate) async fn of_sequencers_with_one_view_exactly_one_wins(fx: Fixture) {
    const SEQUENCERS: usize = 4;
    const ROUNDS: usize = 5;
    const BATCH: u32 = 3;
    let store = &fx.store;
    let queued: Vec<Vec<u8>> = (0..ROUNDS * BATCH as usize)
        .map(|i| format!("entry {i:03}").into_bytes())
        .collect();
    store.queue_ledger(&queued, at(0)).await.unwrap();

    // In each round every sequencer reads the ledger and the queue while
    // nobody appends, so all hold the same view; then all try to append.
    let barrier = Arc::new(tokio::sync::Barrier::new(SEQUENCERS));
    let mut tasks = Vec::new();
    for _ in 0..SEQUENCERS {
        let store = Arc::clone(store);
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                barrier.wait().await;
                let size = store.ledger_size().await.unwrap();
                let pending = store.pending_ledger(BATCH).await.unwrap();
                barrier.wait().await;
                if pending.is_empty() {
                    return outcomes;
                }
                let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
                let entries: Vec<Vec<u8>> = pending.into_iter().map(|p| p.entry).collect();
                let hashes: Vec<(u64, [u8; 32])> = (size..)
                    .take(entries.len())
                    .map(|i| (i, hash_at(i)))
                    .collect();
                let outcome = store
                    .append_ledger(size, &ids, &entries, &hashes, at(10))
                    .await;
                match outcome {
                    Ok(()) => outcomes.push((size, true)),
                    Err(StoreError::LedgerConflict { .. }) => outcomes.push((size, false)),
                    Err(other) => panic!("a sequencer failed: {other}"),
                }
            }
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.extend(task.await.unwrap());
    }
    for round in 0..ROUNDS as u64 {
        let size = round * u64::from(BATCH);
        let tries: Vec<bool> = outcomes
            .iter()
            .filter(|(s, _)| *s == size)
            .map(|(_, won)| *won)
            .collect();
        assert_eq!(
            tries.len(),
            SEQUENCERS,
            "round at size {size}: {outcomes:?}"
        );
        assert_eq!(
            tries.iter().filter(|won| **won).count(),
            1,
            "round at size {size}: {outcomes:?}"
        );
    }
    assert_eq!(outcomes.len(), SEQUENCERS * ROUNDS);
    let ledger = store.ledger_entries(0, 1_000).await.unwrap();
    let contents: Vec<Vec<u8>> = ledger.into_iter().map(|e| e.entry).collect();
    assert_eq!(contents, queued);
    assert_eq!(store.pending_ledger(10).await.unwrap(), []);
}

pub(crate) async fn a_missing_hash_is_named(fx: Fixture) {
    let store = &fx.store;
    let hashes: Vec<(u64, [u8; 32])> = (0..40).map(|i| (i, hash_at(i))).collect();
    store
        .append_ledger(0, &[], &[bytes("x")], &hashes, at(0))
        .await
        .unwrap();
    assert_eq!(
        store.ledger_hashes(&[39, 0, 32]).await.unwrap(),
        [hash_at(39), hash_at(0), hash_at(32)]
    );
    for (asked, missing) in [
        (vec![0, 40, 7], "index 40"),
        (vec![63], "index 63"),
        (vec![64], "index 64"),
        (vec![u64::MAX], &format!("index {}", u64::MAX)),
    ] {
        let err = store.ledger_hashes(&asked).await.unwrap_err();
        assert_corrupt(err, TABLE, "hashes", missing);
    }
}

pub(crate) async fn hashes_are_read_by_range(fx: Fixture) {
    let store = &fx.store;
    let hashes: Vec<(u64, [u8; 32])> = (0..1_200).map(|i| (i, hash_at(i))).collect();
    store
        .append_ledger(0, &[], &[bytes("x")], &hashes, at(0))
        .await
        .unwrap();
    let all: Vec<[u8; 32]> = hashes.iter().map(|(_, h)| *h).collect();
    assert_eq!(store.ledger_hash_range(0, 1_200).await.unwrap(), all);
    assert_eq!(
        store.ledger_hash_range(700, 3).await.unwrap(),
        [hash_at(700), hash_at(701), hash_at(702)]
    );
    assert!(store.ledger_hash_range(5, 0).await.unwrap().is_empty());
    for (from, count, missing) in [
        (1_199, 2, "index 1200".to_owned()),
        (5_000, 1, "index 5000".to_owned()),
        (u64::MAX, 1, format!("index {}", u64::MAX)),
    ] {
        let err = store.ledger_hash_range(from, count).await.unwrap_err();
        assert_corrupt(err, TABLE, "hashes", &missing);
    }
    // Hashes removed or cut short behind the store's back are named.
    fx.raw("DELETE FROM ledger_hash_blocks WHERE block = 1")
        .await;
    let err = store.ledger_hash_range(0, 1_200).await.unwrap_err();
    assert_corrupt(err, TABLE, "hashes", "index 32");
    fx.raw(&set_hash(store.backend(), 64, None)).await;
    let err = store.ledger_hash_range(64, 2).await.unwrap_err();
    assert_corrupt(err, TABLE, "hashes", "index 65");
    // One changed behind its back is read as it now is, for the node to
    // compare.
    fx.raw(&set_hash(store.backend(), 97, Some(&"ee".repeat(32))))
        .await;
    assert_eq!(
        store.ledger_hash_range(96, 3).await.unwrap(),
        [hash_at(96), [0xEE; 32], hash_at(98)]
    );
}

pub(crate) async fn entries_are_found_by_their_bytes(fx: Fixture) {
    let store = &fx.store;
    assert_eq!(store.ledger_find(&bytes("one"), 0).await.unwrap(), None);
    store_two_batches(store).await;
    store
        .queue_ledger(&[bytes("two"), bytes("four")], at(5))
        .await
        .unwrap();
    sequence(store, 10, at(6)).await.unwrap();
    // one two three | left two four
    assert_eq!(store.ledger_find(&bytes("one"), 0).await.unwrap(), Some(0));
    assert_eq!(store.ledger_find(&bytes("two"), 0).await.unwrap(), Some(1));
    assert_eq!(store.ledger_find(&bytes("two"), 2).await.unwrap(), Some(4));
    assert_eq!(store.ledger_find(&bytes("four"), 5).await.unwrap(), Some(5));
    assert_eq!(store.ledger_find(&bytes("one"), 1).await.unwrap(), None);
    assert_eq!(store.ledger_find(&bytes("tw"), 0).await.unwrap(), None);
    assert_eq!(
        store.ledger_find(&bytes("two"), u64::MAX).await.unwrap(),
        None
    );
}

pub(crate) async fn the_ledger_survives_reopening(fx: Fixture) {
    store_two_batches(&fx.store).await;
    let checkpoint = StoredCheckpoint {
        size: 3,
        note: "custos.example/ledger\n3\nroot\n\n— sig\n".to_owned(),
        created_at: at(20),
    };
    fx.store.put_checkpoint(&checkpoint).await.unwrap();
    let entries = fx.store.ledger_entries(0, 10).await.unwrap();
    let pending = fx.store.pending_ledger(10).await.unwrap();
    fx.store.close().await;

    let store = fx.reopen().await;
    assert_eq!(store.ledger_size().await.unwrap(), 3);
    assert_eq!(store.ledger_entries(0, 10).await.unwrap(), entries);
    assert_eq!(store.pending_ledger(10).await.unwrap(), pending);
    assert_eq!(
        store.ledger_hashes(&[0, 1, 2]).await.unwrap(),
        [hash_at(0), hash_at(1), hash_at(2)]
    );
    assert_eq!(store.latest_checkpoint().await.unwrap(), Some(checkpoint));
    // Sequencing resumes where it stopped, and queue ids keep rising.
    store.queue_ledger(&[bytes("after")], at(30)).await.unwrap();
    let now_pending = store.pending_ledger(10).await.unwrap();
    assert!(now_pending[1].id > now_pending[0].id);
    let (size, appended) = sequence(&store, 10, at(31)).await.unwrap();
    assert_eq!(size, 3);
    assert_eq!(appended, [bytes("left"), bytes("after")]);
    assert_eq!(store.ledger_size().await.unwrap(), 5);
    store.close().await;
}

/// Appends entries "one", "two" and "three" in two batches, and leaves
/// "left" queued.
async fn store_two_batches(store: &Arc<dyn Store>) {
    store
        .queue_ledger(&[bytes("one"), bytes("two")], at(0))
        .await
        .unwrap();
    sequence(store, 10, at(1)).await.unwrap();
    store.queue_ledger(&[bytes("three")], at(2)).await.unwrap();
    sequence(store, 10, at(3)).await.unwrap();
    store.queue_ledger(&[bytes("left")], at(4)).await.unwrap();
}

pub(crate) async fn actions_queue_their_ledger_entries(fx: Fixture) {
    let store = &fx.store;

    // Sending: the message's entries, then its event's.
    let mut sent = outgoing("sha256:l1", "thr-l", None, 10);
    sent.ledger = vec![bytes("sent l1"), bytes("sent l1, part two")];
    sent.event.ledger = Some(bytes("event: sent l1"));
    store.record_outgoing(&sent).await.unwrap();

    // Receiving, then the same message again: the copy queues nothing.
    let mut received = incoming("sha256:r1", "thr-r", None, 20, "receipt r1");
    received.ledger = vec![bytes("received r1")];
    assert_eq!(
        store.accept_incoming(&received).await.unwrap(),
        AcceptOutcome::Accepted
    );
    let mut again = received.clone();
    again.ledger = vec![bytes("received r1 again")];
    again.event.ledger = Some(bytes("event: again"));
    assert!(matches!(
        store.accept_incoming(&again).await.unwrap(),
        AcceptOutcome::Duplicate { .. }
    ));

    // A local event with an entry, and one without.
    let mut noted = event("thr-r", 1);
    noted.ledger = Some(bytes("decision on thr-r"));
    store.append_event(&noted).await.unwrap();
    store.append_event(&event("thr-r", 2)).await.unwrap();

    // The delivery, then the same delivery reported again.
    store
        .mark_delivered("sha256:l1", b"receipt l1", at(40), &[bytes("delivered l1")])
        .await
        .unwrap();
    store
        .mark_delivered(
            "sha256:l1",
            b"receipt l1",
            at(41),
            &[bytes("delivered twice")],
        )
        .await
        .unwrap();

    // Actions refused queue nothing either.
    let mut dup = outgoing("sha256:l1", "thr-l", Some("sha256:l1"), 50);
    dup.ledger = vec![bytes("never")];
    assert!(store.record_outgoing(&dup).await.is_err());
    let mut gap = incoming("sha256:r3", "thr-r", Some("sha256:nope"), 51, "r3");
    gap.ledger = vec![bytes("never")];
    assert!(store.accept_incoming(&gap).await.is_err());
    let mut unknown = event("no-such-request", 3);
    unknown.ledger = Some(bytes("never"));
    assert!(store.append_event(&unknown).await.is_err());
    assert!(
        store
            .mark_delivered("sha256:none", b"r", at(52), &[bytes("never")])
            .await
            .is_err()
    );

    let pending = store.pending_ledger(100).await.unwrap();
    let contents: Vec<&[u8]> = pending.iter().map(|p| p.entry.as_slice()).collect();
    assert_eq!(
        contents,
        [
            b"sent l1".as_slice(),
            b"sent l1, part two",
            b"event: sent l1",
            b"received r1",
            b"decision on thr-r",
            b"delivered l1",
        ]
    );
    let times: Vec<OffsetDateTime> = pending.iter().map(|p| p.queued_at).collect();
    assert_eq!(
        times,
        [
            sent.message.recorded_at,
            sent.message.recorded_at,
            sent.message.recorded_at,
            received.message.recorded_at,
            noted.at,
            at(40),
        ]
    );
}

pub(crate) async fn hand_edited_ledger_rows(fx: Fixture) {
    let store = &fx.store;
    store
        .queue_ledger(&[bytes("zero"), bytes("one"), bytes("two")], at(0))
        .await
        .unwrap();
    sequence(store, 10, at(1)).await.unwrap();

    // An entry and a hash rewritten in place still read back, as they now
    // are: telling that they no longer match is the node's job.
    let backend = store.backend();
    fx.raw(&format!(
        "UPDATE ledger_entries SET entry = {} WHERE idx = 1",
        blob(backend, "6f6e45")
    ))
    .await;
    fx.raw(&set_hash(backend, 1, Some(&format!("{:064x}", 1))))
        .await;
    assert_eq!(store.ledger_entry(1).await.unwrap().unwrap().entry, b"onE");
    let mut one = [0; 32];
    one[31] = 1;
    assert_eq!(store.ledger_hashes(&[1]).await.unwrap(), [one]);

    // A block that is no run of hashes at all is corrupt. The schema
    // refuses such values, so the tamperer first loosens it.
    let loosen = match store.backend() {
        Backend::Sqlite => {
            "CREATE TABLE loose (block INTEGER NOT NULL PRIMARY KEY, hashes BLOB); \
             INSERT INTO loose (block, hashes) SELECT block, hashes FROM ledger_hash_blocks; \
             DROP TABLE ledger_hash_blocks; \
             ALTER TABLE loose RENAME TO ledger_hash_blocks;"
        }
        Backend::Postgres => {
            "ALTER TABLE ledger_hash_blocks ALTER COLUMN hashes DROP NOT NULL; \
             ALTER TABLE ledger_hash_blocks DROP CONSTRAINT ledger_hash_blocks_hashes_check;"
        }
    };
    fx.raw(loosen).await;
    fx.raw(&format!(
        "UPDATE ledger_hash_blocks SET hashes = {} WHERE block = 0",
        blob(backend, &"01".repeat(66))
    ))
    .await;
    assert_corrupt(
        store.ledger_hashes(&[1]).await.unwrap_err(),
        TABLE,
        "hashes",
        "index 1: block 0 holds 66 bytes",
    );
    fx.raw("UPDATE ledger_hash_blocks SET hashes = NULL WHERE block = 0")
        .await;
    assert_corrupt(
        store.ledger_hashes(&[0]).await.unwrap_err(),
        TABLE,
        "hashes",
        "index 0: block 0 is NULL",
    );
    // And a batch offering a real hash there does not paper over it.
    let err = store
        .append_ledger(3, &[], &[bytes("three")], &[(3, hash_at(3))], at(2))
        .await
        .unwrap_err();
    assert_corrupt(err, TABLE, "hashes", "block 0 is NULL");
    assert_eq!(store.ledger_size().await.unwrap(), 3);

    // So does the scan, at the first hash.
    let (_, hashes) = scan_all(store, 3, 3).await;
    assert_corrupt(hashes.unwrap_err(), TABLE, "hashes", "index 0");

    // An entry removed below the ledger's size is reported, not skipped.
    fx.raw("DELETE FROM ledger_entries WHERE idx = 1").await;
    assert_gap(
        store.ledger_entry(1).await.unwrap_err(),
        "ledger_entries",
        1,
    );
    assert_gap(
        store.ledger_entries(0, 10).await.unwrap_err(),
        "ledger_entries",
        1,
    );
    assert_eq!(store.ledger_entries(2, 10).await.unwrap().len(), 1);
    let (entries, _) = scan_all(store, 3, 0).await;
    assert_gap(entries.unwrap_err(), "ledger_entries", 1);
    // So is the last one, though nothing follows it.
    fx.raw("DELETE FROM ledger_entries WHERE idx = 2").await;
    assert_gap(
        store.ledger_entries(2, 10).await.unwrap_err(),
        "ledger_entries",
        2,
    );
}

fn assert_gap(err: StoreError, want_table: &str, want_index: u64) {
    match err {
        StoreError::LedgerGap { table, index } => {
            assert_eq!((table, index), (want_table, want_index));
        }
        other => panic!("expected row {want_index} of {want_table} missing, got {other}"),
    }
}

/// What the scans here compute from each entry: its length and its first
/// bytes, enough to tell the test's entries apart.
fn tag(entry: &[u8]) -> [u8; 32] {
    let mut tag = [0u8; 32];
    tag[..8].copy_from_slice(&(entry.len() as u64).to_be_bytes());
    let n = entry.len().min(24);
    tag[8..8 + n].copy_from_slice(&entry[..n]);
    tag
}

/// A stand-in for what a node derives from a whole run of digests: their
/// XOR, then their count.
fn xor_of(digests: &[[u8; 32]], out: &mut Vec<[u8; 32]>) {
    let mut x = [0u8; 32];
    for d in digests {
        for (a, b) in x.iter_mut().zip(d) {
            *a ^= b;
        }
    }
    let mut count = [0u8; 32];
    count[..8].copy_from_slice(&(digests.len() as u64).to_be_bytes());
    out.extend([x, count]);
}

fn tags(entries: &[Vec<u8>]) -> Vec<[u8; 32]> {
    entries.iter().map(|e| tag(e)).collect()
}

/// Reads both streams of a scan to their end: the entries' digests and
/// the hashes delivered, each with the stream's error if it ended in one.
/// Checks that runs arrive in order and without overlap, and hands every
/// run back for reuse, so that refilled runs are read too.
async fn drain(
    mut scan: custos_store::LedgerScan,
) -> (
    Result<Vec<[u8; 32]>, StoreError>,
    Result<Vec<[u8; 32]>, StoreError>,
) {
    let spent = scan.spent.clone();
    let digests = drain_one(&mut scan.digests, |run, all: &mut Vec<[u8; 32]>| {
        assert_eq!(run.first, all.len() as u64, "digest runs in order");
        all.extend_from_slice(&run.hashes);
        spent.digests(run);
    })
    .await;
    let hashes = drain_one(&mut scan.hashes, |run, all: &mut Vec<[u8; 32]>| {
        assert_eq!(run.first, all.len() as u64, "hash runs in order");
        all.extend_from_slice(&run.hashes);
        spent.hashes(run);
    })
    .await;
    (digests, hashes)
}

/// Scans `entries` entries (tagged) and `hashes` stored hashes and reads
/// both streams to their ends.
async fn scan_all(
    store: &Arc<dyn Store>,
    entries: u64,
    hashes: u64,
) -> (
    Result<Vec<[u8; 32]>, StoreError>,
    Result<Vec<[u8; 32]>, StoreError>,
) {
    let digest = EntryDigest::each(tag);
    drain(store.ledger_scan(entries, hashes, digest).await.unwrap()).await
}

/// Reads one stream of a scan to its end, adding each run with `add`.
async fn drain_one<T>(
    stream: &mut custos_store::RunStream,
    mut add: impl FnMut(custos_store::HashRun, &mut Vec<T>),
) -> Result<Vec<T>, StoreError> {
    let mut all = Vec::new();
    while let Some(run) = stream.recv().await {
        add(run?, &mut all);
    }
    Ok(all)
}

pub(crate) async fn the_ledger_is_scanned_in_order(fx: Fixture) {
    let store = &fx.store;
    // An empty scan ends at once.
    let (entries, hashes) = scan_all(store, 0, 0).await;
    assert!(entries.unwrap().is_empty() && hashes.unwrap().is_empty());

    // Enough entries for several runs, of varied lengths (the empty entry
    // included): on SQLite, more than each of the two entry readers times
    // (three runs each) before both read on the faster of their two ways
    // of reading pages, so one of them usually changes its way midway.
    let total = 8 * custos_store::SCAN_RUN as u64 + 17;
    let all: Vec<Vec<u8>> = (0..total)
        .map(|i| vec![(i % 251) as u8; (i % 97) as usize])
        .collect();
    for chunk in all.chunks(4_000) {
        let size = store.ledger_size().await.unwrap();
        let hashes: Vec<(u64, [u8; 32])> = (2 * size..2 * (size + chunk.len() as u64))
            .map(|i| (i, hash_at(i)))
            .collect();
        store
            .append_ledger(size, &[], chunk, &hashes, at(1))
            .await
            .unwrap();
    }
    let want_hashes: Vec<[u8; 32]> = (0..2 * total).map(hash_at).collect();
    let (entries, hashes) = scan_all(store, total, 2 * total).await;
    assert_eq!(entries.unwrap(), tags(&all));
    assert_eq!(hashes.unwrap(), want_hashes);

    // A shorter scan stops where it was asked to.
    let (entries, hashes) = scan_all(store, 100, 7).await;
    assert_eq!(entries.unwrap(), tags(&all[..100]));
    assert_eq!(hashes.unwrap(), want_hashes[..7]);

    // Values derived per run come with the whole, aligned runs only, from
    // their digests; the last, partial run has none.
    let digest = EntryDigest::each(tag).with_runs(xor_of);
    let mut scan = store.ledger_scan(total, 0, digest).await.unwrap();
    let runs = drain_one(&mut scan.digests, |run, runs| runs.push(run))
        .await
        .unwrap();
    let run = custos_store::SCAN_RUN;
    let digests = tags(&all);
    let derived: Vec<(u64, Vec<[u8; 32]>)> =
        runs.iter().map(|r| (r.first, r.derived.clone())).collect();
    let mut want = Vec::new();
    for first in (0..=8).map(|k| k * run) {
        let mut values = Vec::new();
        if first + run <= total as usize {
            xor_of(&digests[first..first + run], &mut values);
        }
        want.push((first as u64, values));
    }
    assert_eq!(derived, want);

    // Asking for more than is stored ends in a gap after the last entry,
    // with everything before it delivered.
    let mut scan = store
        .ledger_scan(total + 5, 0, EntryDigest::each(tag))
        .await
        .unwrap();
    let mut read = 0u64;
    let end = loop {
        match scan
            .digests
            .recv()
            .await
            .expect("the stream ends in an error")
        {
            Ok(run) => read += run.hashes.len() as u64,
            Err(e) => break e,
        }
    };
    assert_eq!(read, total);
    assert_gap(end, "ledger_entries", total);

    // A scan dropped half-read stops its readers (waiting for them ends)
    // and the store stays usable.
    let custos_store::LedgerScan {
        mut digests,
        hashes,
        spent,
        readers,
    } = store
        .ledger_scan(total, 2 * total, EntryDigest::each(tag))
        .await
        .unwrap();
    assert!(digests.recv().await.unwrap().is_ok());
    drop((digests, hashes, spent));
    readers.stopped().await;
    assert_eq!(store.ledger_size().await.unwrap(), total);

    // Rows removed behind the store's back end each stream at the gap,
    // after everything before it.
    fx.raw("DELETE FROM ledger_entries WHERE idx = 9000").await;
    fx.raw("DELETE FROM ledger_hash_blocks WHERE block = 625")
        .await;
    let mut scan = store
        .ledger_scan(total, 2 * total, EntryDigest::each(tag))
        .await
        .unwrap();
    let mut read = 0u64;
    let gap = loop {
        match scan
            .digests
            .recv()
            .await
            .expect("the stream ends in an error")
        {
            Ok(run) => {
                assert_eq!(run.first, read);
                read += run.hashes.len() as u64;
            }
            Err(e) => break e,
        }
    };
    assert_eq!(read, 9000);
    assert_gap(gap, "ledger_entries", 9000);
    let (_, hashes) = drain(scan).await;
    let err = hashes.unwrap_err();
    match err {
        StoreError::LedgerGap { .. } => assert_gap(err, TABLE, 20000),
        // A backend that reads hashes by range names the index in the text.
        other => assert_corrupt(other, TABLE, "hashes", "index 20000"),
    }
    // The part before the gaps reads whole.
    let (entries, hashes) = scan_all(store, 9000, 20000).await;
    assert_eq!(entries.unwrap(), tags(&all[..9000]));
    assert_eq!(hashes.unwrap(), want_hashes[..20000]);
    // A block cut short leaves a gap after its last hash.
    fx.raw(&set_hash(store.backend(), 320, None)).await;
    let (_, hashes) = scan_all(store, 9000, 20000).await;
    match hashes.unwrap_err() {
        err @ StoreError::LedgerGap { .. } => assert_gap(err, TABLE, 321),
        other => assert_corrupt(other, TABLE, "hashes", "index 321"),
    }
}

pub(crate) async fn checkpoints_are_kept_one_per_size(fx: Fixture) {
    let store = &fx.store;
    let cp = |size: u64, note: &str, seconds: i64| StoredCheckpoint {
        size,
        note: format!("custos.example/ledger\n{size}\n{note}\n"),
        created_at: at(seconds),
    };
    assert_eq!(store.latest_checkpoint().await.unwrap(), None);
    assert_eq!(store.checkpoint(0).await.unwrap(), None);

    // The empty ledger has a checkpoint too; a larger one must wait for
    // the entries it covers.
    store.put_checkpoint(&cp(0, "empty", 0)).await.unwrap();
    let err = store.put_checkpoint(&cp(3, "r3", 1)).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidValue {
                field: "ledger_checkpoints.size",
                ..
            }
        ),
        "{err}"
    );
    store_two_batches(store).await;
    store.put_checkpoint(&cp(3, "r3", 2)).await.unwrap();
    assert_eq!(
        store.latest_checkpoint().await.unwrap(),
        Some(cp(3, "r3", 2))
    );

    // The same checkpoint again changes nothing; another of that size is
    // a contradiction.
    store.put_checkpoint(&cp(3, "r3", 9)).await.unwrap();
    assert_eq!(store.checkpoint(3).await.unwrap(), Some(cp(3, "r3", 2)));
    let err = store.put_checkpoint(&cp(3, "other", 3)).await.unwrap_err();
    assert_corrupt(err, "ledger_checkpoints", "note", "size 3");
    assert_eq!(store.checkpoint(3).await.unwrap(), Some(cp(3, "r3", 2)));

    // An older size stored later does not become the latest.
    store.put_checkpoint(&cp(2, "r2", 4)).await.unwrap();
    assert_eq!(
        store.latest_checkpoint().await.unwrap(),
        Some(cp(3, "r3", 2))
    );
    assert_eq!(store.checkpoint(2).await.unwrap(), Some(cp(2, "r2", 4)));
    assert_eq!(store.checkpoint(0).await.unwrap(), Some(cp(0, "empty", 0)));
    assert_eq!(store.checkpoint(7).await.unwrap(), None);
    assert_eq!(store.checkpoint(u64::MAX).await.unwrap(), None);

    let err = store
        .put_checkpoint(&cp(1, "nul\0inside", 5))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidValue {
                field: "ledger_checkpoints.note",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.checkpoint(1).await.unwrap(), None);
}

pub(crate) async fn an_append_and_its_checkpoint_are_stored_together(fx: Fixture) {
    let store = &fx.store;
    let cp = |size: u64, note: &str| StoredCheckpoint {
        size,
        note: format!("custos.example/ledger\n{size}\n{note}\n"),
        created_at: at(5),
    };
    store
        .queue_ledger(&[bytes("one"), bytes("two")], at(0))
        .await
        .unwrap();
    let pending = store.pending_ledger(10).await.unwrap();
    let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
    let entries: Vec<Vec<u8>> = pending.into_iter().map(|p| p.entry).collect();
    let hashes: Vec<(u64, [u8; 32])> = (0..2).map(|i| (i, hash_at(i))).collect();

    // A checkpoint of another size than the append's is refused, and the
    // append with it.
    let err = store
        .append_ledger_checkpointed(0, &ids, &entries, &hashes, at(1), &cp(1, "r1"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidValue {
                field: "ledger_checkpoints.size",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.ledger_size().await.unwrap(), 0);
    assert_eq!(store.latest_checkpoint().await.unwrap(), None);

    // The right size: both are stored.
    store
        .append_ledger_checkpointed(0, &ids, &entries, &hashes, at(1), &cp(2, "r2"))
        .await
        .unwrap();
    assert_eq!(store.ledger_size().await.unwrap(), 2);
    assert_eq!(store.latest_checkpoint().await.unwrap(), Some(cp(2, "r2")));
    assert_eq!(
        store.ledger_hashes(&[0, 1]).await.unwrap(),
        vec![hash_at(0), hash_at(1)]
    );

    store.queue_ledger(&[bytes("three")], at(6)).await.unwrap();
    let pending = store.pending_ledger(10).await.unwrap();
    let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
    let entries: Vec<Vec<u8>> = pending.into_iter().map(|p| p.entry).collect();
    let hashes = [(2, hash_at(2))];
    // Another process stored a different checkpoint of size 3 (which it
    // could not without the entry; written here behind the append's back).
    fx.raw(&format!(
        "INSERT INTO ledger_checkpoints (size, note, created_at) VALUES (3, 'other', {})",
        match store.backend() {
            Backend::Sqlite => "0",
            Backend::Postgres => "now()",
        }
    ))
    .await;
    let err = store
        .append_ledger_checkpointed(2, &ids, &entries, &hashes, at(7), &cp(3, "r3"))
        .await
        .unwrap_err();
    assert_corrupt(err, "ledger_checkpoints", "note", "size 3");
    assert_eq!(store.ledger_size().await.unwrap(), 2);
    assert_eq!(store.pending_ledger(10).await.unwrap().len(), 1);

    // A stale size is a conflict, and stores no checkpoint.
    let err = store
        .append_ledger_checkpointed(1, &ids, &entries, &hashes, at(7), &cp(2, "stale"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LedgerConflict { .. }), "{err}");
    assert_eq!(store.ledger_size().await.unwrap(), 2);
    assert_eq!(store.checkpoint(2).await.unwrap(), Some(cp(2, "r2")));
}

pub(crate) async fn stored_hashes_move_into_blocks_on_upgrade(fx: Fixture) {
    // A database as migration 4 left it: one row per stored hash.
    let backend = fx.store.backend();
    let old_table = match backend {
        Backend::Sqlite => {
            "CREATE TABLE ledger_hashes (idx INTEGER NOT NULL PRIMARY KEY, hash BLOB NOT NULL) STRICT"
        }
        Backend::Postgres => {
            "CREATE TABLE ledger_hashes (idx BIGINT NOT NULL PRIMARY KEY, hash BYTEA NOT NULL)"
        }
    };
    // Written out of order: the upgrade orders them by index.
    let rows: Vec<String> = (0..70u64)
        .rev()
        .map(|i| format!("({i}, {})", blob(backend, &hex(&hash_at(i)))))
        .collect();
    fx.raw(&format!(
        "DROP TABLE ledger_hash_blocks; {old_table}; \
         INSERT INTO ledger_hashes (idx, hash) VALUES {}; \
         DELETE FROM _sqlx_migrations WHERE version = 5;",
        rows.join(", ")
    ))
    .await;
    fx.store.close().await;

    let store = fx.reopen().await;
    let all: Vec<u64> = (0..70).collect();
    let want: Vec<[u8; 32]> = all.iter().map(|&i| hash_at(i)).collect();
    assert_eq!(store.ledger_hashes(&all).await.unwrap(), want);
    let (_, hashes) = scan_all(&store, 0, 70).await;
    assert_eq!(hashes.unwrap(), want);
    // Appends carry on after the last one moved.
    let more: Vec<(u64, [u8; 32])> = (70..75).map(|i| (i, hash_at(i))).collect();
    store
        .append_ledger(0, &[], &[bytes("after")], &more, at(1))
        .await
        .unwrap();
    let want: Vec<[u8; 32]> = (0..75).map(hash_at).collect();
    assert_eq!(store.ledger_hash_range(0, 75).await.unwrap(), want);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) async fn a_damaged_entry_ends_the_scan(fx: Fixture) {
    let store = &fx.store;
    let entries: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 40]).collect();
    store
        .append_ledger(0, &[], &entries, &[], at(0))
        .await
        .unwrap();
    // An entry that is no bytes at all; the schema refuses it, so the
    // tamperer first loosens it.
    let loosen = match store.backend() {
        Backend::Sqlite => {
            "CREATE TABLE loose (idx INTEGER NOT NULL PRIMARY KEY, entry BLOB, \
             recorded_at INTEGER NOT NULL); \
             INSERT INTO loose SELECT idx, entry, recorded_at FROM ledger_entries; \
             DROP TABLE ledger_entries; \
             ALTER TABLE loose RENAME TO ledger_entries;"
        }
        Backend::Postgres => "ALTER TABLE ledger_entries ALTER COLUMN entry DROP NOT NULL;",
    };
    fx.raw(loosen).await;
    fx.raw("UPDATE ledger_entries SET entry = NULL WHERE idx = 5")
        .await;
    let mut scan = store
        .ledger_scan(20, 0, EntryDigest::each(tag))
        .await
        .unwrap();
    let mut before = Vec::new();
    let err = loop {
        match scan
            .digests
            .recv()
            .await
            .expect("the stream ends in an error")
        {
            Ok(run) => before.extend_from_slice(&run.hashes),
            Err(e) => break e,
        }
    };
    // What came before it is delivered as it is (all of it where the
    // backend reads row by row).
    assert_eq!(before, tags(&entries[..before.len()]));
    assert!(before.len() <= 5, "{}", before.len());
    match err {
        StoreError::Corrupt { table, .. } => assert_eq!(table, "ledger_entries"),
        other => panic!("expected a damaged entry, got {other}"),
    }
    if store.backend() == Backend::Sqlite {
        assert_eq!(before.len(), 5);
    }
}
