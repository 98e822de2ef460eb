//! Conformance cases for witnessing: the last checkpoint a witness accepted
//! per log, moved only by compare-and-set (also under racing writers); fork
//! evidence, newest first; and the cosignatures a log received, one per
//! size and witness.
//!
//! Notes, lines and evidence are stand-in text: the store never parses
//! them, so what is checked is that they come back exactly as given.

use custos_store::{CosignatureRecord, ForkRecord, WitnessedState};

use super::*;

const LOG_DE: &str = "custos.de.example/ledger";
const LOG_FR: &str = "custos.fr.example/ledger";

/// The state a witness holds after accepting `origin`'s checkpoint of
/// `size`, `seconds` after [`T0`].
fn accepted(origin: &str, size: u64, seconds: i64) -> WitnessedState {
    WitnessedState {
        origin: origin.to_owned(),
        size,
        note: format!("{origin}\n{size}\nroot-{size}=\n\n— {origin} sig{size}\n"),
        updated_at: at(seconds),
    }
}

fn cosig(size: u64, witness: &str, line: &str, seconds: i64) -> CosignatureRecord {
    CosignatureRecord {
        size,
        witness: witness.to_owned(),
        line: line.to_owned(),
        at: at(seconds),
    }
}

/// Evidence as a node might write it, with keys out of alphabetical order
/// so that a store re-sorting them would be caught.
fn evidence(origin: &str, n: u32) -> serde_json::Value {
    let text = format!(
        r#"{{"v":1,"kind":"consistency_proof_failed","origin":"{origin}","earlier_note":"a\nb {n}","later_note":"c \"d\" {n}","proof":["AAA=","BBB="],"extra":{{"z":null,"a":[1.5,-2,true]}}}}"#
    );
    serde_json::from_str(&text).unwrap()
}

fn assert_conflict(
    err: StoreError,
    want_origin: &str,
    want_expected: Option<u64>,
    want_actual: Option<u64>,
) {
    let text = err.to_string();
    match err {
        StoreError::WitnessConflict {
            origin,
            expected,
            actual,
        } => {
            assert_eq!(
                (origin.as_str(), expected, actual),
                (want_origin, want_expected, want_actual),
                "{text}"
            );
            assert!(text.contains(want_origin), "{text}");
        }
        other => panic!("expected a witness conflict, got {other}"),
    }
}

pub(crate) async fn witnessed_checkpoints_move_only_by_compare_and_set(fx: Fixture) {
    let store = &fx.store;
    assert_eq!(store.witnessed(LOG_DE).await.unwrap(), None);
    assert_eq!(store.list_witnessed().await.unwrap(), []);

    // Nothing is held yet, so expecting a size is a conflict.
    let err = store
        .put_witnessed(&accepted(LOG_DE, 5, 0), Some(3))
        .await
        .unwrap_err();
    assert_conflict(err, LOG_DE, Some(3), None);
    assert_eq!(store.witnessed(LOG_DE).await.unwrap(), None);

    // The first checkpoint of a log, with a time below storage precision.
    let first = WitnessedState {
        updated_at: datetime!(2026-12-02 08:00:00.123_456_789 UTC),
        ..accepted(LOG_DE, 5, 0)
    };
    store.put_witnessed(&first, None).await.unwrap();
    let held = store.witnessed(LOG_DE).await.unwrap().unwrap();
    assert_eq!(
        held,
        WitnessedState {
            updated_at: storage_precision(first.updated_at),
            ..first.clone()
        }
    );

    // Expecting no row, or another size, is a conflict naming the size held;
    // nothing changes.
    let err = store
        .put_witnessed(&accepted(LOG_DE, 7, 1), None)
        .await
        .unwrap_err();
    assert_conflict(err, LOG_DE, None, Some(5));
    let err = store
        .put_witnessed(&accepted(LOG_DE, 7, 1), Some(4))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("size 5"), "{err}");
    assert_conflict(err, LOG_DE, Some(4), Some(5));
    assert_eq!(store.witnessed(LOG_DE).await.unwrap(), Some(held));

    // From the size held, the checkpoint moves on.
    store
        .put_witnessed(&accepted(LOG_DE, 9, 2), Some(5))
        .await
        .unwrap();
    assert_eq!(
        store.witnessed(LOG_DE).await.unwrap(),
        Some(accepted(LOG_DE, 9, 2))
    );
    // The store takes the node's word on what follows what: the same size
    // again (a refreshed note) is a plain compare-and-set too.
    store
        .put_witnessed(&accepted(LOG_DE, 9, 3), Some(9))
        .await
        .unwrap();
    assert_eq!(
        store.witnessed(LOG_DE).await.unwrap().unwrap().updated_at,
        at(3)
    );

    // Each origin has its own checkpoint; the list is by origin.
    store
        .put_witnessed(&accepted(LOG_FR, 2, 4), None)
        .await
        .unwrap();
    store
        .put_witnessed(&accepted("A-log/ledger", 0, 5), None)
        .await
        .unwrap();
    let origins: Vec<String> = store
        .list_witnessed()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.origin)
        .collect();
    assert_eq!(origins, ["A-log/ledger", LOG_DE, LOG_FR]);
    assert_eq!(
        store.list_witnessed().await.unwrap()[2],
        accepted(LOG_FR, 2, 4)
    );

    // Values no backend keeps are refused before anything is compared.
    assert_eq!(store.witnessed("bad\0origin").await.unwrap(), None);
    let err = store
        .put_witnessed(
            &WitnessedState {
                note: "a\0b".to_owned(),
                ..accepted(LOG_FR, 3, 6)
            },
            Some(2),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidValue {
                field: "witnessed.note",
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .put_witnessed(&accepted(LOG_FR, u64::MAX, 6), Some(2))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidValue {
                field: "witnessed.size",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        store.witnessed(LOG_FR).await.unwrap(),
        Some(accepted(LOG_FR, 2, 4))
    );
}

/// Writers that all saw `expected` race to replace it, each with its own
/// size; returns the sizes of those that succeeded, after checking that
/// every other one got a conflict naming the winner's size.
async fn race(store: &Arc<dyn Store>, expected: Option<u64>, base: u64) -> Vec<u64> {
    const WRITERS: u64 = 6;
    let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS as usize));
    let mut tasks = Vec::new();
    for n in 0..WRITERS {
        let store = Arc::clone(store);
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let state = accepted(LOG_DE, base + n, 10);
            barrier.wait().await;
            (base + n, store.put_witnessed(&state, expected).await)
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let winners: Vec<u64> = outcomes
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(size, _)| *size)
        .collect();
    let Some(&winner) = winners.first() else {
        return winners;
    };
    for (size, outcome) in outcomes {
        if size != winner {
            assert_conflict(outcome.unwrap_err(), LOG_DE, expected, Some(winner));
        }
    }
    winners
}

pub(crate) async fn of_concurrent_witness_writers_exactly_one_wins(fx: Fixture) {
    let store = &fx.store;
    // The first checkpoint of a log: all insert at once.
    let winners = race(store, None, 100).await;
    assert_eq!(winners.len(), 1, "{winners:?}");
    let first = winners[0];
    assert_eq!(
        store.witnessed(LOG_DE).await.unwrap(),
        Some(accepted(LOG_DE, first, 10))
    );

    // Then a few rounds of updates from the size each round starts with.
    let mut held = first;
    for round in 1..=3 {
        let winners = race(store, Some(held), 100 * (round + 1)).await;
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        held = winners[0];
        assert_eq!(
            store.witnessed(LOG_DE).await.unwrap(),
            Some(accepted(LOG_DE, held, 10))
        );
    }
    assert_eq!(store.list_witnessed().await.unwrap().len(), 1);
}

pub(crate) async fn forks_are_listed_newest_first_with_their_evidence(fx: Fixture) {
    let store = &fx.store;
    assert_eq!(store.forks(10).await.unwrap(), []);

    // Recorded out of time order, two at the same instant.
    let t = datetime!(2026-12-03 07:00:00.000_001_9 UTC);
    let a = store
        .record_fork(LOG_DE, &evidence(LOG_DE, 1), at(20))
        .await
        .unwrap();
    let b = store
        .record_fork(LOG_FR, &evidence(LOG_FR, 2), t)
        .await
        .unwrap();
    let c = store
        .record_fork(LOG_DE, &evidence(LOG_DE, 3), at(20))
        .await
        .unwrap();
    let d = store
        .record_fork(LOG_DE, &evidence(LOG_DE, 4), at(5))
        .await
        .unwrap();
    assert!(a < b && b < c && c < d, "ids rise: {a} {b} {c} {d}");

    let forks = store.forks(10).await.unwrap();
    let record = |id, origin: &str, n, detected_at| ForkRecord {
        id,
        origin: origin.to_owned(),
        detected_at,
        evidence: evidence(origin, n),
    };
    assert_eq!(
        forks,
        [
            record(b, LOG_FR, 2, storage_precision(t)),
            record(c, LOG_DE, 3, at(20)),
            record(a, LOG_DE, 1, at(20)),
            record(d, LOG_DE, 4, at(5)),
        ]
    );
    // The evidence comes back as written, key order included.
    assert_eq!(
        serde_json::to_string(&forks[1].evidence).unwrap(),
        serde_json::to_string(&evidence(LOG_DE, 3)).unwrap()
    );
    let keys: Vec<&str> = forks[1]
        .evidence
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "v",
            "kind",
            "origin",
            "earlier_note",
            "later_note",
            "proof",
            "extra"
        ]
    );
    assert_eq!(store.forks(2).await.unwrap(), forks[..2]);
    assert_eq!(store.forks(0).await.unwrap(), []);

    // A report that cannot be kept is refused, and none is added.
    let err = store
        .record_fork("x\0y", &evidence(LOG_DE, 5), at(30))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidValue {
                field: "witness_forks.origin",
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .record_fork(
            LOG_DE,
            &evidence(LOG_DE, 5),
            datetime!(-0001-01-01 0:00 UTC),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidValue {
                field: "witness_forks.detected_at",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.forks(10).await.unwrap(), forks);
}

pub(crate) async fn cosignatures_are_kept_one_per_size_and_witness(fx: Fixture) {
    let store = &fx.store;
    assert_eq!(store.cosignatures(8).await.unwrap(), []);

    store
        .put_cosignature(&cosig(8, "witness.it", "— witness.it AAA", 1))
        .await
        .unwrap();
    store
        .put_cosignature(&cosig(8, "witness.de", "— witness.de BBB", 2))
        .await
        .unwrap();
    store
        .put_cosignature(&cosig(9, "witness.de", "— witness.de CCC", 3))
        .await
        .unwrap();
    assert_eq!(
        store.cosignatures(8).await.unwrap(),
        [
            cosig(8, "witness.de", "— witness.de BBB", 2),
            cosig(8, "witness.it", "— witness.it AAA", 1),
        ]
    );

    // The same line again changes nothing, not even its time.
    store
        .put_cosignature(&cosig(8, "witness.it", "— witness.it AAA", 50))
        .await
        .unwrap();
    assert_eq!(
        store.cosignatures(8).await.unwrap()[1],
        cosig(8, "witness.it", "— witness.it AAA", 1)
    );

    // A different line for the same size and witness replaces it.
    let fresh = CosignatureRecord {
        at: datetime!(2026-12-04 12:00:00.999_999_999 UTC),
        ..cosig(8, "witness.it", "— witness.it ZZZ", 0)
    };
    store.put_cosignature(&fresh).await.unwrap();
    assert_eq!(
        store.cosignatures(8).await.unwrap(),
        [
            cosig(8, "witness.de", "— witness.de BBB", 2),
            CosignatureRecord {
                at: storage_precision(fresh.at),
                ..fresh.clone()
            },
        ]
    );
    assert_eq!(
        store.cosignatures(9).await.unwrap(),
        [cosig(9, "witness.de", "— witness.de CCC", 3)]
    );
    assert_eq!(store.cosignatures(7).await.unwrap(), []);
    assert_eq!(store.cosignatures(u64::MAX).await.unwrap(), []);

    let err = store
        .put_cosignature(&cosig(10, "witness.de", "— \0", 4))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidValue {
                field: "cosignatures.line",
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .put_cosignature(&cosig(u64::MAX, "witness.de", "— x", 4))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidValue {
                field: "cosignatures.size",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.cosignatures(10).await.unwrap(), []);
}

pub(crate) async fn the_latest_cosigned_size_is_per_witness(fx: Fixture) {
    let store = &fx.store;
    assert_eq!(
        store.latest_cosigned_size("witness.de").await.unwrap(),
        None
    );

    // Received out of order: the largest size counts, not the latest.
    for (size, witness) in [
        (12, "witness.de"),
        (30, "witness.it"),
        (4, "witness.de"),
        (20, "witness.de"),
        (7, "witness.de"),
    ] {
        store
            .put_cosignature(&cosig(size, witness, &format!("— {witness} {size}"), 1))
            .await
            .unwrap();
    }
    assert_eq!(
        store.latest_cosigned_size("witness.de").await.unwrap(),
        Some(20)
    );
    assert_eq!(
        store.latest_cosigned_size("witness.it").await.unwrap(),
        Some(30)
    );
    // Names are compared exactly.
    assert_eq!(
        store.latest_cosigned_size("Witness.de").await.unwrap(),
        None
    );
    assert_eq!(store.latest_cosigned_size("witness").await.unwrap(), None);
    assert_eq!(store.latest_cosigned_size("w\0").await.unwrap(), None);
    // Size 0 is a size like any other.
    store
        .put_cosignature(&cosig(0, "witness.jp", "— witness.jp 0", 1))
        .await
        .unwrap();
    assert_eq!(
        store.latest_cosigned_size("witness.jp").await.unwrap(),
        Some(0)
    );
}

pub(crate) async fn witnessing_survives_reopening(fx: Fixture) {
    let store = &fx.store;
    store
        .put_witnessed(&accepted(LOG_DE, 5, 1), None)
        .await
        .unwrap();
    store
        .put_witnessed(&accepted(LOG_FR, 3, 2), None)
        .await
        .unwrap();
    let fork = store
        .record_fork(LOG_FR, &evidence(LOG_FR, 1), at(3))
        .await
        .unwrap();
    store
        .put_cosignature(&cosig(4, "witness.de", "— witness.de 4", 4))
        .await
        .unwrap();
    store
        .put_cosignature(&cosig(6, "witness.de", "— witness.de 6", 5))
        .await
        .unwrap();
    let witnessed = store.list_witnessed().await.unwrap();
    let forks = store.forks(10).await.unwrap();
    store.close().await;

    let store = fx.reopen().await;
    assert_eq!(store.list_witnessed().await.unwrap(), witnessed);
    assert_eq!(store.forks(10).await.unwrap(), forks);
    assert_eq!(
        store.cosignatures(6).await.unwrap(),
        [cosig(6, "witness.de", "— witness.de 6", 5)]
    );
    assert_eq!(
        store.latest_cosigned_size("witness.de").await.unwrap(),
        Some(6)
    );

    // Compare-and-set goes on from what was held before closing, and
    // report ids keep rising.
    let err = store
        .put_witnessed(&accepted(LOG_DE, 8, 6), None)
        .await
        .unwrap_err();
    assert_conflict(err, LOG_DE, None, Some(5));
    store
        .put_witnessed(&accepted(LOG_DE, 8, 6), Some(5))
        .await
        .unwrap();
    let next = store
        .record_fork(LOG_DE, &evidence(LOG_DE, 2), at(7))
        .await
        .unwrap();
    assert!(next > fork, "{next} after {fork}");
    store.close().await;
}
