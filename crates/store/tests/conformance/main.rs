//! The one conformance suite every `Store` adapter must pass.
//!
//! Each case is an async function over a [`Fixture`] (a freshly opened
//! store plus the URL it came from, for reopening and for raw SQL): the
//! cases on a node's own records are below, those on federation in
//! `federation.rs`, those on the custody ledger in `ledger.rs` and those
//! on witnessing in `witness.rs`, those on users, sessions and tokens in
//! `people.rs`, those on the access record and case grants in `access.rs`,
//! those on the oversight statistics in `stats.rs`.
//! `conformance!` runs every case against a new SQLite file in a temporary
//! directory, and against PostgreSQL when `CUSTOS_TEST_POSTGRES_URL` names
//! a server: there each case gets its own database with a random name,
//! dropped afterwards, so parallel tests and reruns never share data.

// The cases are test bodies reached through the generated `#[tokio::test]`
// wrappers, which clippy's `allow-unwrap-in-tests` cannot see through; as in
// any test, an unwrap that fails is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use custos_model::{RequestKind, StateCode};
use custos_store::{
    AcceptOutcome, Backend, Direction, IncomingMessage, MessageRecord, NewEvent, NodeInfo,
    OutboxItem, OutboxState, OutgoingMessage, RefusalRecord, RequestFilter, RequestRecord, Store,
    StoreError, StoredDirectory, storage_precision,
};
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

mod access;
mod alerts;
mod assignments;
mod cases;
mod federation;
mod joined;
mod ledger;
mod people;
mod received;
mod stats;
mod witness;

use access::*;
use alerts::*;
use assignments::*;
use cases::*;
use federation::*;
use joined::*;
use ledger::*;
use people::*;
use received::*;
use stats::*;
use witness::*;

const POSTGRES_URL_VAR: &str = "CUSTOS_TEST_POSTGRES_URL";

/// What a case gets: a store freshly opened on an empty database, and the
/// URL it was opened from.
struct Fixture {
    store: Arc<dyn Store>,
    url: String,
}

impl Fixture {
    /// Opens the same database again, as a restarted node would.
    async fn reopen(&self) -> Arc<dyn Store> {
        custos_store::open(&self.url)
            .await
            .expect("the store reopens")
    }

    /// Runs SQL behind the store's back, as an operator with a database
    /// shell might. The statements used here are valid on both backends.
    async fn raw(&self, sql: &str) {
        let sql = AssertSqlSafe(sql.to_owned());
        match self.store.backend() {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.url)
                    .await
                    .expect("a second handle on the SQLite file");
                sqlx::raw_sql(sql)
                    .execute(&pool)
                    .await
                    .expect("the raw SQL runs");
                pool.close().await;
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.url)
                    .await
                    .expect("a second connection to the test database");
                sqlx::raw_sql(sql)
                    .execute(&pool)
                    .await
                    .expect("the raw SQL runs");
                pool.close().await;
            }
        }
    }
}

fn state(code: &str) -> StateCode {
    code.parse().expect("a well-formed party code")
}

fn request(id: &str, direction: Direction, kind: RequestKind, counterpart: &str) -> RequestRecord {
    RequestRecord {
        id: id.to_owned(),
        kind,
        direction,
        counterpart: state(counterpart),
        draft: None,
        created_at: datetime!(2026-04-01 09:00:00.000_001 UTC),
    }
}

fn event(request_id: &str, n: u32) -> NewEvent {
    NewEvent {
        request_id: request_id.to_owned(),
        at: datetime!(2026-04-01 10:00 UTC) + time::Duration::seconds(i64::from(n)),
        actor: format!("officer {n}"),
        kind: "note".to_owned(),
        detail: json!({ "n": n }),
        ledger: None,
    }
}

/// The instant federation cases count from.
const T0: OffsetDateTime = datetime!(2026-11-28 10:00 UTC);

fn at(seconds: i64) -> OffsetDateTime {
    T0 + Duration::seconds(seconds)
}

/// The party on the other side of a thread, seen from this node: we send to
/// DE and receive from FR.
fn peer(direction: Direction) -> &'static str {
    match direction {
        Direction::Outgoing => "DE",
        Direction::Incoming => "FR",
    }
}

/// A message made `seconds` after [`T0`]: a submit when it has no `prev`.
fn message(
    id: &str,
    thread: &str,
    direction: Direction,
    prev: Option<&str>,
    seconds: i64,
) -> MessageRecord {
    MessageRecord {
        id: id.to_owned(),
        thread: thread.to_owned(),
        direction,
        counterpart: state(peer(direction)),
        kind: if prev.is_none() {
            "submit"
        } else {
            "provide-info"
        }
        .to_owned(),
        prev: prev.map(str::to_owned),
        created_at: at(seconds),
        recorded_at: at(seconds) + Duration::milliseconds(1),
        envelope: format!(r#"{{"payloadType":"x","payload":"{id}","signatures":[]}}"#).into_bytes(),
    }
}

/// The event recorded with a message.
fn message_event(thread: &str, id: &str, seconds: i64, kind: &str) -> NewEvent {
    NewEvent {
        request_id: thread.to_owned(),
        at: at(seconds),
        actor: "node".to_owned(),
        kind: kind.to_owned(),
        detail: json!({ "message": id }),
        ledger: None,
    }
}

/// Sending `id` in `thread`; the first message of a thread (no `prev`)
/// opens its request. Due at once.
fn outgoing(id: &str, thread: &str, prev: Option<&str>, seconds: i64) -> OutgoingMessage {
    let message = message(id, thread, Direction::Outgoing, prev, seconds);
    OutgoingMessage {
        new_request: prev.is_none().then(|| {
            request(
                thread,
                Direction::Outgoing,
                RequestKind::Mla,
                peer(Direction::Outgoing),
            )
        }),
        event: message_event(thread, id, seconds, "sent"),
        outbox: OutboxItem {
            message_id: id.to_owned(),
            recipient: state(peer(Direction::Outgoing)),
            url: "https://node.de.example/federation/v1/messages".to_owned(),
            ciphertext: format!("age-encrypted {id}").into_bytes(),
            created_at: at(seconds),
            next_attempt_at: at(seconds),
            attempts: 0,
            state: OutboxState::Pending,
            last_error: None,
            delivered_at: None,
        },
        message,
        ledger: Vec::new(),
        access: None,
    }
}

/// Receiving `id` in `thread`, with `receipt` as our signed receipt; the
/// first message of a thread (no `prev`) opens its request.
fn incoming(
    id: &str,
    thread: &str,
    prev: Option<&str>,
    seconds: i64,
    receipt: &str,
) -> IncomingMessage {
    IncomingMessage {
        message: message(id, thread, Direction::Incoming, prev, seconds),
        new_request: prev.is_none().then(|| {
            request(
                thread,
                Direction::Incoming,
                RequestKind::Mla,
                peer(Direction::Incoming),
            )
        }),
        event: message_event(thread, id, seconds, "received"),
        receipt: receipt.as_bytes().to_vec(),
        ledger: Vec::new(),
    }
}

fn ids(items: &[OutboxItem]) -> Vec<&str> {
    items.iter().map(|i| i.message_id.as_str()).collect()
}

/// The newest migration shipped for `backend`, from the file names.
fn newest_migration(backend: Backend) -> i64 {
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(folder);
    std::fs::read_dir(dir)
        .expect("the migrations folder lists")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.split('_').next()?.parse::<i64>().ok()
        })
        .max()
        .expect("at least one migration named NNNN_description.sql")
}

// ---------------------------------------------------------------------------
// The cases on a node's own records.

async fn node_info_round_trips_and_is_overwritten(fx: Fixture) {
    let store = &fx.store;
    assert_eq!(store.node_info().await.unwrap(), None);

    let first = NodeInfo {
        state: state("FR"),
        name: "Paris node".to_owned(),
        created_at: datetime!(2026-01-02 03:04:05.678_901 UTC),
    };
    store.put_node_info(&first).await.unwrap();
    assert_eq!(store.node_info().await.unwrap(), Some(first));

    let second = NodeInfo {
        state: state("EU"),
        name: "Brussels node — ünïcode".to_owned(),
        created_at: datetime!(2026-02-03 04:05:06 UTC),
    };
    store.put_node_info(&second).await.unwrap();
    assert_eq!(store.node_info().await.unwrap(), Some(second));
}

async fn a_request_reads_back_exactly(fx: Fixture) {
    let store = &fx.store;
    // A sealed draft is opaque bytes, kept exactly (NUL and high bytes too).
    let sealed: Vec<u8> = (0..=255u8).rev().chain([0, 0, 1]).collect();
    let record = RequestRecord {
        id: "FR-2026-0001".to_owned(),
        kind: RequestKind::Preservation,
        direction: Direction::Outgoing,
        counterpart: state("DE"),
        draft: Some(sealed.clone()),
        created_at: datetime!(2026-04-01 09:00:00.123_456 UTC),
    };
    store.insert_request(&record).await.unwrap();

    let back = store.get_request("FR-2026-0001").await.unwrap().unwrap();
    assert_eq!(back, record);
    assert_eq!(back.draft.as_deref(), Some(&sealed[..]));
    // Listing reads metadata only: the draft is left out.
    let listed = store
        .list_requests(&RequestFilter::default())
        .await
        .unwrap();
    assert_eq!(
        listed,
        [RequestRecord {
            draft: None,
            ..record
        }]
    );
    assert_eq!(store.get_request("FR-2026-0002").await.unwrap(), None);
    // A fresh request has an empty history.
    assert!(store.events("FR-2026-0001").await.unwrap().is_empty());
}

async fn requests_are_listed_by_filter_newest_first(fx: Fixture) {
    let store = &fx.store;
    let at = |hour: u8| datetime!(2026-05-01 00:00 UTC).replace_hour(hour).unwrap();
    let mut all = [
        RequestRecord {
            created_at: at(1),
            ..request("a", Direction::Outgoing, RequestKind::Preservation, "DE")
        },
        RequestRecord {
            created_at: at(2),
            ..request("b", Direction::Incoming, RequestKind::Preservation, "DE")
        },
        RequestRecord {
            created_at: at(3),
            ..request("c", Direction::Outgoing, RequestKind::Mla, "IT")
        },
        RequestRecord {
            created_at: at(4),
            ..request("d", Direction::Outgoing, RequestKind::Preservation, "IT")
        },
        // Same instant as "d": ties are broken by id, descending.
        RequestRecord {
            created_at: at(4),
            ..request("e", Direction::Incoming, RequestKind::Mla, "DE")
        },
        RequestRecord {
            created_at: at(5),
            ..request("B", Direction::Outgoing, RequestKind::StoredData, "DE")
        },
    ];
    // Insertion order differs from time order, so ordering is the store's.
    for r in [&all[3], &all[0], &all[5], &all[2], &all[4], &all[1]] {
        store.insert_request(r).await.unwrap();
    }
    all.sort_by(|x, y| (y.created_at, &y.id).cmp(&(x.created_at, &x.id)));
    let everything: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(everything, ["B", "e", "d", "c", "b", "a"]);

    let any = RequestFilter::default;
    let cases: Vec<(RequestFilter, Vec<&str>)> = vec![
        (any(), everything.clone()),
        (
            RequestFilter {
                direction: Some(Direction::Incoming),
                ..any()
            },
            vec!["e", "b"],
        ),
        (
            RequestFilter {
                kind: Some(RequestKind::Preservation),
                ..any()
            },
            vec!["d", "b", "a"],
        ),
        (
            RequestFilter {
                counterpart: Some(state("IT")),
                ..any()
            },
            vec!["d", "c"],
        ),
        (
            RequestFilter {
                direction: Some(Direction::Outgoing),
                kind: Some(RequestKind::Preservation),
                counterpart: Some(state("DE")),
                limit: None,
                hidden_from: None,
            },
            vec!["a"],
        ),
        (
            RequestFilter {
                limit: Some(2),
                ..any()
            },
            vec!["B", "e"],
        ),
        (
            RequestFilter {
                direction: Some(Direction::Outgoing),
                limit: Some(2),
                ..any()
            },
            vec!["B", "d"],
        ),
        (
            RequestFilter {
                limit: Some(0),
                ..any()
            },
            vec![],
        ),
        (
            RequestFilter {
                counterpart: Some(state("JP")),
                ..any()
            },
            vec![],
        ),
    ];
    for (filter, want) in cases {
        let got = store.list_requests(&filter).await.unwrap();
        let got: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(got, want, "{filter:?}");
    }
    // Whole records come back, not just ids.
    let newest = store
        .list_requests(&RequestFilter {
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        newest,
        [RequestRecord {
            created_at: at(5),
            ..request("B", Direction::Outgoing, RequestKind::StoredData, "DE")
        }]
    );
}

async fn a_duplicate_request_id_is_refused(fx: Fixture) {
    let store = &fx.store;
    let original = request("dup-1", Direction::Outgoing, RequestKind::Mla, "ES");
    store.insert_request(&original).await.unwrap();

    let other = request(
        "dup-1",
        Direction::Incoming,
        RequestKind::Interception,
        "PT",
    );
    let err = store.insert_request(&other).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicateRequest(id) if id == "dup-1"),
        "{err}"
    );
    assert_eq!(store.get_request("dup-1").await.unwrap(), Some(original));
    assert_eq!(
        store
            .list_requests(&RequestFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn a_request_and_its_first_event_are_recorded_together_or_not_at_all(fx: Fixture) {
    let store = &fx.store;
    let mut noted = event("draft-1", 1);
    noted.ledger = Some(b"drafted draft-1".to_vec());
    let original = request(
        "draft-1",
        Direction::Outgoing,
        RequestKind::Preservation,
        "DE",
    );
    let stored = store.record_request(&original, &noted).await.unwrap();
    assert_eq!(stored.seq, 1);
    assert_eq!(
        store.get_request("draft-1").await.unwrap(),
        Some(original.clone())
    );
    assert_eq!(store.events("draft-1").await.unwrap(), [stored]);
    let pending = store.pending_ledger(10).await.unwrap();
    assert_eq!(pending.len(), 1);

    // A second request under that id changes nothing: no event, no entry.
    let mut again = event("draft-1", 2);
    again.ledger = Some(b"drafted again".to_vec());
    let err = store.record_request(&original, &again).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicateRequest(id) if id == "draft-1"),
        "{err}"
    );
    assert_eq!(store.events("draft-1").await.unwrap().len(), 1);
    assert_eq!(store.pending_ledger(10).await.unwrap().len(), 1);

    // An event of another request is refused before anything is written.
    let other = request(
        "draft-2",
        Direction::Outgoing,
        RequestKind::Preservation,
        "DE",
    );
    let err = store
        .record_request(&other, &event("draft-3", 1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidValue { .. }), "{err}");
    assert_eq!(store.get_request("draft-2").await.unwrap(), None);

    // An event the store cannot keep undoes the request as well.
    let mut bad = event("draft-4", 1);
    bad.actor = "nul\0actor".into();
    let fourth = request(
        "draft-4",
        Direction::Outgoing,
        RequestKind::Preservation,
        "DE",
    );
    assert!(store.record_request(&fourth, &bad).await.is_err());
    assert_eq!(store.get_request("draft-4").await.unwrap(), None);
    assert_eq!(store.pending_ledger(10).await.unwrap().len(), 1);
}

async fn events_of_an_unknown_request_are_refused(fx: Fixture) {
    let store = &fx.store;
    let err = store.append_event(&event("ghost", 1)).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::UnknownRequest(id) if id == "ghost"),
        "{err}"
    );
    let err = store.events("ghost").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::UnknownRequest(id) if id == "ghost"),
        "{err}"
    );

    // The refusal left nothing behind: a request created later under that
    // id starts its history at 1.
    store
        .insert_request(&request(
            "ghost",
            Direction::Incoming,
            RequestKind::Mla,
            "BR",
        ))
        .await
        .unwrap();
    assert_eq!(store.append_event(&event("ghost", 1)).await.unwrap().seq, 1);
}

async fn events_are_numbered_from_one_per_request(fx: Fixture) {
    let store = &fx.store;
    for id in ["r1", "r2"] {
        store
            .insert_request(&request(
                id,
                Direction::Outgoing,
                RequestKind::Preservation,
                "NL",
            ))
            .await
            .unwrap();
    }
    let mut appended = Vec::new();
    for (id, n) in [("r1", 1), ("r2", 2), ("r1", 3), ("r1", 4), ("r2", 5)] {
        appended.push(store.append_event(&event(id, n)).await.unwrap());
    }
    let seqs: Vec<(&str, u64)> = appended
        .iter()
        .map(|e| (e.request_id.as_str(), e.seq))
        .collect();
    assert_eq!(
        seqs,
        [("r1", 1), ("r2", 1), ("r1", 2), ("r1", 3), ("r2", 2)]
    );

    let r1 = store.events("r1").await.unwrap();
    let expected: Vec<_> = appended
        .iter()
        .filter(|e| e.request_id == "r1")
        .cloned()
        .collect();
    assert_eq!(r1, expected);
    assert_eq!(r1[2].actor, "officer 4");
    assert_eq!(r1[2].detail, json!({ "n": 4 }));
    assert_eq!(r1[2].at, datetime!(2026-04-01 10:00:04 UTC));
    assert_eq!(store.events("r2").await.unwrap().len(), 2);
}

async fn concurrent_appends_get_distinct_gapless_numbers(fx: Fixture) {
    const TASKS: u32 = 8;
    const EACH: u32 = 10;
    let store = &fx.store;
    store
        .insert_request(&request(
            "busy",
            Direction::Incoming,
            RequestKind::EmergencyData,
            "US",
        ))
        .await
        .unwrap();
    // A second request receiving appends at the same time must not disturb
    // the first one's numbering.
    store
        .insert_request(&request(
            "side",
            Direction::Incoming,
            RequestKind::EmergencyData,
            "US",
        ))
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..EACH {
                let id = if t == 0 && i % 2 == 0 { "side" } else { "busy" };
                let e = store.append_event(&event(id, t * 100 + i)).await.unwrap();
                if id == "busy" {
                    seqs.push(e.seq);
                }
            }
            seqs
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.extend(task.await.unwrap());
    }
    let busy_count = u64::try_from(seqs.len()).unwrap();
    let distinct: BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        seqs.len(),
        "a sequence number was handed out twice"
    );
    assert_eq!(distinct, (1..=busy_count).collect::<BTreeSet<_>>());

    let history = store.events("busy").await.unwrap();
    let stored: Vec<u64> = history.iter().map(|e| e.seq).collect();
    assert_eq!(stored, (1..=busy_count).collect::<Vec<_>>());
    assert_eq!(
        store.events("side").await.unwrap().len(),
        usize::try_from(EACH / 2).unwrap()
    );
}

async fn data_survives_closing_and_reopening(fx: Fixture) {
    let info = NodeInfo {
        state: state("SE"),
        name: "Stockholm".to_owned(),
        created_at: datetime!(2026-06-01 12:00:00.5 UTC),
    };
    let record = request(
        "kept",
        Direction::Outgoing,
        RequestKind::TrafficDisclosure,
        "NO",
    );
    fx.store.put_node_info(&info).await.unwrap();
    fx.store.insert_request(&record).await.unwrap();
    let first = fx.store.append_event(&event("kept", 1)).await.unwrap();
    fx.store.close().await;
    if let Some(file) = fx.url.strip_prefix("sqlite://") {
        // Once closed, the database is one settled file: the write-ahead
        // log has been copied into it and removed.
        let wal = format!("{file}-wal");
        assert!(
            !std::path::Path::new(&wal).exists(),
            "{wal} is left after close"
        );
    }

    let store = fx.reopen().await;
    assert_eq!(store.node_info().await.unwrap(), Some(info));
    assert_eq!(store.get_request("kept").await.unwrap(), Some(record));
    assert_eq!(store.events("kept").await.unwrap(), [first]);
    // Numbering continues where it stopped.
    assert_eq!(store.append_event(&event("kept", 2)).await.unwrap().seq, 2);
    store.close().await;
}

async fn a_closed_store_reports_itself_unavailable(fx: Fixture) {
    fx.store.close().await;
    let err = fx.store.get_request("any").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
}

async fn opening_again_applies_no_migration_twice(fx: Fixture) {
    let expected = newest_migration(fx.store.backend());
    assert_eq!(fx.store.schema_version().await.unwrap(), expected);
    fx.store
        .insert_request(&request(
            "before",
            Direction::Outgoing,
            RequestKind::Mla,
            "CA",
        ))
        .await
        .unwrap();

    // Opened a second and third time while the first is still open, as
    // replicas starting together would.
    let second = fx.reopen().await;
    let third = fx.reopen().await;
    for store in [&fx.store, &second, &third] {
        assert_eq!(store.schema_version().await.unwrap(), expected);
        assert!(store.get_request("before").await.unwrap().is_some());
    }
    second.close().await;
    third.close().await;
}

async fn a_database_migrated_by_a_newer_release_is_refused(fx: Fixture) {
    // A release with a migration this build does not know has been here.
    let checksum = match fx.store.backend() {
        Backend::Sqlite => "X'00'",
        Backend::Postgres => "'\\x00'::bytea",
    };
    fx.raw(&format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, {checksum}, 0)"
    ))
    .await;
    fx.store.close().await;

    let err = custos_store::open(&fx.url).await.unwrap_err();
    let known = newest_migration(fx.store.backend());
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 9999, known: k, .. } if k == known),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("schema version 9999"), "{text}");
    assert!(text.contains(&format!("version {known}")), "{text}");
    assert!(text.contains("newer Custos release"), "{text}");
}

async fn hand_corrupted_rows_are_reported_as_corrupt(fx: Fixture) {
    let store = &fx.store;
    store
        .put_node_info(&NodeInfo {
            state: state("FR"),
            name: "n".to_owned(),
            created_at: datetime!(2026-01-01 00:00 UTC),
        })
        .await
        .unwrap();
    for id in ["k", "c", "h"] {
        store
            .insert_request(&request(id, Direction::Outgoing, RequestKind::Mla, "DE"))
            .await
            .unwrap();
    }
    for n in 1..=3 {
        store.append_event(&event("h", n)).await.unwrap();
    }

    fx.raw("UPDATE requests SET kind = 'kidnapping' WHERE id = 'k'")
        .await;
    fx.raw("UPDATE requests SET counterpart = 'fr' WHERE id = 'c'")
        .await;
    fx.raw("UPDATE node_info SET state = 'France'").await;
    fx.raw("DELETE FROM request_events WHERE request_id = 'h' AND seq = 2")
        .await;

    let corrupt = |err: StoreError, want_table: &str, want_column: &str, mentions: &str| {
        let text = err.to_string();
        match err {
            StoreError::Corrupt { table, column, .. } => {
                assert_eq!((table, column), (want_table, want_column), "{text}");
                assert!(text.contains(mentions), "{text} should mention {mentions}");
            }
            other => panic!("expected corruption in {want_table}.{want_column}, got {other}"),
        }
    };
    corrupt(
        store.get_request("k").await.unwrap_err(),
        "requests",
        "kind",
        "kidnapping",
    );
    corrupt(
        store.get_request("c").await.unwrap_err(),
        "requests",
        "counterpart",
        "\"c\"",
    );
    corrupt(
        store.node_info().await.unwrap_err(),
        "node_info",
        "state",
        "France",
    );
    corrupt(
        store.events("h").await.unwrap_err(),
        "request_events",
        "seq",
        "event 3 where event 2",
    );
    // A listing that meets a corrupt row fails as a whole rather than
    // silently leaving it out.
    corrupt(
        store
            .list_requests(&RequestFilter::default())
            .await
            .unwrap_err(),
        "requests",
        "kind",
        "kidnapping",
    );
    // Rows that are intact still read.
    assert!(store.get_request("h").await.unwrap().is_some());
}

async fn timestamps_keep_microseconds_in_utc(fx: Fixture) {
    let store = &fx.store;
    let cases = [
        // Nanoseconds are dropped, the offset becomes UTC.
        ("t1", datetime!(2026-07-14 23:59:59.999_999_999 +05:30)),
        ("t2", datetime!(1969-12-31 23:59:59.000_000_1 UTC)),
        ("t3", datetime!(0001-01-01 00:00 UTC)),
        ("t4", datetime!(9999-12-31 23:59:59.999_999 UTC)),
        ("t5", datetime!(2000-01-01 00:00:00.000_001 -08:00)),
    ];
    for (id, at) in cases {
        let record = RequestRecord {
            created_at: at,
            ..request(id, Direction::Incoming, RequestKind::Mla, "JP")
        };
        store.insert_request(&record).await.unwrap();
        let back = store.get_request(id).await.unwrap().unwrap().created_at;
        assert_eq!(back, storage_precision(at), "{id}");
        assert_eq!(back.offset(), time::UtcOffset::UTC, "{id}");
        assert_eq!(back.nanosecond() % 1_000, 0, "{id}");

        let e = NewEvent { at, ..event(id, 1) };
        let appended = store.append_event(&e).await.unwrap();
        assert_eq!(appended.at, storage_precision(at), "{id}");
        assert_eq!(
            store.events(id).await.unwrap()[0].at,
            storage_precision(at),
            "{id}"
        );
    }
    assert_eq!(
        storage_precision(cases[0].1),
        datetime!(2026-07-14 18:29:59.999_999 UTC)
    );

    // Outside the years every backend holds: refused, nothing stored.
    let too_late = datetime!(9999-12-31 23:30 -01:00);
    let record = RequestRecord {
        created_at: too_late,
        ..request("late", Direction::Incoming, RequestKind::Mla, "JP")
    };
    let err = store.insert_request(&record).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidValue {
                field: "requests.created_at",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.get_request("late").await.unwrap(), None);
    let err = store
        .append_event(&NewEvent {
            at: datetime!(-0001-06-01 00:00 UTC),
            ..event("t1", 2)
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidValue {
                field: "request_events.at",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.events("t1").await.unwrap().len(), 1);
}

async fn text_is_accepted_alike_on_every_backend(fx: Fixture) {
    let store = &fx.store;
    // NUL cannot be kept by PostgreSQL text, so neither backend keeps it.
    let err = store
        .insert_request(&request(
            "nul\0id",
            Direction::Outgoing,
            RequestKind::Mla,
            "AR",
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidValue {
                field: "requests.id",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.get_request("nul\0id").await.unwrap(), None);
    assert!(matches!(
        store.events("nul\0id").await.unwrap_err(),
        StoreError::UnknownRequest(_)
    ));
    assert!(matches!(
        store.append_event(&event("nul\0id", 1)).await.unwrap_err(),
        StoreError::UnknownRequest(_)
    ));
    let err = store
        .put_node_info(&NodeInfo {
            state: state("AR"),
            name: "a\0b".to_owned(),
            created_at: datetime!(2026-01-01 0:00 UTC),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidValue {
                field: "node_info.name",
                ..
            }
        ),
        "{err}"
    );

    // Quotes in ids; inside JSON a NUL is an escape sequence, which both
    // keep; so are quotes, backslashes, non-Latin scripts and astral
    // characters.
    let odd = RequestRecord {
        draft: Some(b"a\0b".to_vec()),
        ..request("o'brien", Direction::Outgoing, RequestKind::Mla, "AR")
    };
    store.insert_request(&odd).await.unwrap();
    assert_eq!(store.get_request("o'brien").await.unwrap(), Some(odd));
    let e = NewEvent {
        actor: "Zoë \"Z\" O'Neil".to_owned(),
        detail: json!(["\u{0}", 1e300, -0.5]),
        ..event("o'brien", 1)
    };
    let appended = store.append_event(&e).await.unwrap();
    assert_eq!(store.events("o'brien").await.unwrap(), [appended]);
}

// ---------------------------------------------------------------------------
// Running the cases on each backend.

async fn on_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("node.db").display());
    let store = custos_store::open(&url).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    case(Fixture { store, url }).await;
    drop(dir);
}

/// `url` with its database name replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let (scheme, rest) = base
        .split_once("://")
        .expect("the PostgreSQL URL has a scheme");
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}/{database}{query}")
}

/// The server the PostgreSQL cases run against, or `None` after a
/// `SKIPPED:` line on standard error (written past the test runner's
/// capture, so CI counts it). Under `CUSTOS_TEST_REQUIRE_POSTGRES=1` a
/// missing server fails the case instead. (The store sits below the test
/// kit, which holds the same rule as `custos_testkit::postgres_url`.)
fn postgres_url() -> Option<String> {
    use std::io::Write as _;
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            let test = std::thread::current().name().unwrap_or("a test").to_owned();
            assert!(
                std::env::var("CUSTOS_TEST_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "{test}: CUSTOS_TEST_REQUIRE_POSTGRES=1 but {POSTGRES_URL_VAR} is not set"
            );
            let _ = writeln!(
                std::io::stderr().lock(),
                "SKIPPED: {test}: {POSTGRES_URL_VAR} is not set"
            );
            None
        }
    }
}

async fn on_postgres<F, Fut>(case: F)
where
    F: FnOnce(Fixture) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let database = format!("custos_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} names an unreachable server: {e}"));
    // The name is made here of letters, digits and underscores only.
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{database}\"")))
        .execute(&mut admin)
        .await
        .unwrap();

    let url = with_database(&admin_url, &database);
    // The case runs in its own task so that a failing assertion still lets
    // the database be dropped before the failure is reported.
    let outcome = tokio::spawn(async move {
        let store = custos_store::open(&url).await.unwrap();
        assert_eq!(store.backend(), Backend::Postgres);
        case(Fixture { store, url }).await;
    })
    .await;

    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE \"{database}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

/// Declares one test per case and backend: `sqlite::CASE` and
/// `postgres::CASE`.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::on_sqlite(super::$case).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::on_postgres(super::$case).await;
                }
            )*
        }
    };
}

conformance!(
    statistics_kept_with_every_write_equal_a_count_from_scratch,
    // issue 18: use limits
    received_files_are_indexed_once_and_found_by_hash,
    a_case_is_stale_until_derived_and_again_when_its_thread_changes,
    open_cases_are_counted_by_state_with_those_overdue,
    cases_are_listed_open_first_by_urgency_then_due_then_newest,
    a_clock_event_fires_once_with_its_history_event,
    a_message_a_clock_sends_is_recorded_once,
    a_reset_marks_every_case_stale_under_a_new_format,
    node_info_round_trips_and_is_overwritten,
    a_request_reads_back_exactly,
    requests_are_listed_by_filter_newest_first,
    a_duplicate_request_id_is_refused,
    events_of_an_unknown_request_are_refused,
    a_request_and_its_first_event_are_recorded_together_or_not_at_all,
    events_are_numbered_from_one_per_request,
    concurrent_appends_get_distinct_gapless_numbers,
    data_survives_closing_and_reopening,
    a_closed_store_reports_itself_unavailable,
    opening_again_applies_no_migration_twice,
    a_database_migrated_by_a_newer_release_is_refused,
    hand_corrupted_rows_are_reported_as_corrupt,
    timestamps_keep_microseconds_in_utc,
    text_is_accepted_alike_on_every_backend,
    directory_versions_only_increase,
    a_pending_item_is_resealed_with_its_ledger_entry,
    an_outgoing_message_is_recorded_with_its_request_event_and_outbox_item,
    recording_an_outgoing_message_is_all_or_nothing,
    a_duplicate_incoming_message_gets_its_original_receipt,
    concurrent_copies_of_a_message_are_accepted_once,
    a_message_out_of_order_is_refused_and_nothing_stored,
    a_second_submit_for_an_existing_thread_is_a_conflict,
    every_message_is_read_page_by_page_in_recording_order,
    concurrent_claimers_never_get_the_same_item,
    a_claim_lasts_until_its_lease_expires,
    claims_keep_each_thread_in_order,
    outbox_items_move_between_states,
    refusals_are_listed_newest_first,
    users_are_added_once_and_changed_with_their_ledger_entries,
    sign_in_state_changes_only_from_the_state_expected,
    a_session_opens_once_per_state_and_a_recovery_code_once,
    tokens_belong_to_users_and_are_found_by_the_hash_of_their_secret,
    federation_data_survives_reopening_and_corruption_is_reported,
    queued_entries_wait_oldest_first,
    a_batch_is_appended_with_its_hashes,
    a_refused_batch_changes_nothing,
    concurrent_sequencers_append_each_entry_once,
    of_sequencers_with_one_view_exactly_one_wins,
    a_missing_hash_is_named,
    hashes_are_read_by_range,
    the_ledger_is_scanned_in_order,
    entries_are_found_by_their_bytes,
    the_ledger_survives_reopening,
    actions_queue_their_ledger_entries,
    hand_edited_ledger_rows,
    stored_hashes_move_into_blocks_on_upgrade,
    a_damaged_entry_ends_the_scan,
    checkpoints_are_kept_one_per_size,
    an_append_and_its_checkpoint_are_stored_together,
    witnessed_checkpoints_move_only_by_compare_and_set,
    of_concurrent_witness_writers_exactly_one_wins,
    forks_are_listed_newest_first_with_their_evidence,
    cosignatures_are_kept_one_per_size_and_witness,
    the_latest_cosigned_size_is_per_witness,
    witnessing_survives_reopening,
    the_access_record_is_written_with_its_entry_and_listed_by_filter,
    access_records_written_together_are_all_or_nothing,
    a_senders_access_record_is_written_with_the_message_or_not_at_all,
    case_grants_are_kept_revoked_and_listed_with_their_entries,
    the_rota_and_alerts_are_kept_with_their_ledger_entries,
    an_alert_is_written_in_the_transaction_of_its_cause,
    sign_in_events_are_recorded_with_their_state_change,
    // issue 18: confidentiality
    assignments_and_marks_are_kept_with_their_entries_and_hide_cases_from_listings,
);

#[test]
fn postgres_urls_get_their_database_replaced() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x1"),
        "postgres://postgres@127.0.0.1:5432/x1"
    );
    assert_eq!(
        with_database("postgresql://u:p@h/db?sslmode=disable", "x2"),
        "postgresql://u:p@h/x2?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:5432", "x3"),
        "postgres://h:5432/x3"
    );
}
