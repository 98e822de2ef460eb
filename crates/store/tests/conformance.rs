//! The one conformance suite every `Store` adapter must pass.
//!
//! Each case below is an async function over a [`Fixture`] (a freshly
//! opened store plus the URL it came from, for reopening and for raw SQL).
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
    StoreError, StoredDirectory, TokenRecord, storage_precision,
};
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

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
        body: json!({ "kind": kind.as_str(), "summary": format!("request {id}") }),
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
// The cases.

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
    // Keys deliberately out of alphabetical order: the draft is kept as
    // written.
    let body_text = r#"{"zeta":1,"alpha":{"nested":[1,2.5,"three",null,true]},"mid":"x"}"#;
    let record = RequestRecord {
        id: "FR-2026-0001".to_owned(),
        kind: RequestKind::Preservation,
        direction: Direction::Outgoing,
        counterpart: state("DE"),
        body: serde_json::from_str(body_text).unwrap(),
        created_at: datetime!(2026-04-01 09:00:00.123_456 UTC),
    };
    store.insert_request(&record).await.unwrap();

    let back = store.get_request("FR-2026-0001").await.unwrap().unwrap();
    assert_eq!(back, record);
    assert_eq!(serde_json::to_string(&back.body).unwrap(), body_text);
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
    assert!(matches!(err, StoreError::Migration(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("migration 9999"), "{text}");
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

    // Inside JSON a NUL is an escape sequence, which both keep; so are
    // quotes, backslashes, non-Latin scripts and astral characters.
    let odd = RequestRecord {
        body: json!({ "text": "a\u{0}b \"q\" \\ 中文 ✓ 𝄞", "quote'd": "it's" }),
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
// Federation: the directory.

async fn directory_versions_only_increase(fx: Fixture) {
    let store = &fx.store;
    assert_eq!(store.directory().await.unwrap(), None);
    let dir = |version: u64, seconds: i64| StoredDirectory {
        version,
        signed: format!(r#"{{"version":{version}}}"#).into_bytes(),
        imported_at: at(seconds),
    };

    store.put_directory(&dir(3, 0)).await.unwrap();
    assert_eq!(store.directory().await.unwrap(), Some(dir(3, 0)));

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

async fn an_outgoing_message_is_recorded_with_its_request_event_and_outbox_item(fx: Fixture) {
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

async fn recording_an_outgoing_message_is_all_or_nothing(fx: Fixture) {
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

async fn a_duplicate_incoming_message_gets_its_original_receipt(fx: Fixture) {
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

async fn concurrent_copies_of_a_message_are_accepted_once(fx: Fixture) {
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

async fn a_message_out_of_order_is_refused_and_nothing_stored(fx: Fixture) {
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

async fn a_second_submit_for_an_existing_thread_is_a_conflict(fx: Fixture) {
    let store = &fx.store;
    let original = incoming("sha256:s1", "thr-s", None, 0, "rs1");
    store.accept_incoming(&original).await.unwrap();

    // Another message claiming to open the same thread.
    let mut other = incoming("sha256:s2", "thr-s", None, 5, "rs2");
    other.new_request.as_mut().unwrap().body = json!({ "different": true });
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

async fn concurrent_claimers_never_get_the_same_item(fx: Fixture) {
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

async fn a_claim_lasts_until_its_lease_expires(fx: Fixture) {
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

async fn claims_keep_each_thread_in_order(fx: Fixture) {
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
        .mark_delivered("sha256:a1", b"receipt a1", at(201))
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

async fn outbox_items_move_between_states(fx: Fixture) {
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
        .mark_delivered("sha256:d1", b"receipt d1", at(31))
        .await
        .unwrap();
    let delivered = store.outbox_item("sha256:d1").await.unwrap().unwrap();
    assert_eq!(delivered.state, OutboxState::Delivered);
    assert_eq!(delivered.delivered_at, Some(at(31)));
    assert_eq!(delivered.attempts, 1);
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
        .mark_delivered("sha256:d1", b"receipt again", at(92))
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
        .mark_delivered("sha256:f1", b"receipt f1", at(60))
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
            store.mark_delivered(id, b"r", at(50)).await.unwrap_err()
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
// Federation: refusals and tokens.

async fn refusals_are_listed_newest_first(fx: Fixture) {
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

async fn tokens_are_found_by_the_hash_of_their_secret(fx: Fixture) {
    let store = &fx.store;
    let token = |id: &str, hash: &str, seconds: i64| TokenRecord {
        id: id.to_owned(),
        name: format!("case system {id}"),
        secret_hash: hash.to_owned(),
        created_at: at(seconds),
        revoked_at: None,
    };
    let first = token("tok-b", "hash-1", 0);
    let second = token("tok-a", "hash-2", 10);
    store.put_token(&first).await.unwrap();
    store.put_token(&second).await.unwrap();

    assert_eq!(
        store.token_by_hash("hash-1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.token_by_hash("hash-2").await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(store.token_by_hash("hash-3").await.unwrap(), None);
    assert_eq!(store.token_by_hash("nul\0").await.unwrap(), None);

    for clash in [token("tok-b", "hash-9", 20), token("tok-c", "hash-1", 20)] {
        let err = store.put_token(&clash).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::DuplicateToken(id) if *id == clash.id),
            "{err}"
        );
    }
    assert_eq!(
        store.list_tokens().await.unwrap(),
        [first.clone(), second.clone()]
    );

    let revoked = store.revoke_token("tok-b", at(30)).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(at(30)));
    // Revoking again keeps the first time.
    let again = store.revoke_token("tok-b", at(40)).await.unwrap().unwrap();
    assert_eq!(again.revoked_at, Some(at(30)));
    assert_eq!(store.token_by_hash("hash-1").await.unwrap(), Some(again));
    assert_eq!(store.revoke_token("tok-z", at(40)).await.unwrap(), None);
}

async fn federation_data_survives_reopening_and_corruption_is_reported(fx: Fixture) {
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

async fn on_postgres<F, Fut>(case: F)
where
    F: FnOnce(Fixture) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
        println!("skipping PostgreSQL conformance: {POSTGRES_URL_VAR} is not set");
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
    node_info_round_trips_and_is_overwritten,
    a_request_reads_back_exactly,
    requests_are_listed_by_filter_newest_first,
    a_duplicate_request_id_is_refused,
    events_of_an_unknown_request_are_refused,
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
    an_outgoing_message_is_recorded_with_its_request_event_and_outbox_item,
    recording_an_outgoing_message_is_all_or_nothing,
    a_duplicate_incoming_message_gets_its_original_receipt,
    concurrent_copies_of_a_message_are_accepted_once,
    a_message_out_of_order_is_refused_and_nothing_stored,
    a_second_submit_for_an_existing_thread_is_a_conflict,
    concurrent_claimers_never_get_the_same_item,
    a_claim_lasts_until_its_lease_expires,
    claims_keep_each_thread_in_order,
    outbox_items_move_between_states,
    refusals_are_listed_newest_first,
    tokens_are_found_by_the_hash_of_their_secret,
    federation_data_survives_reopening_and_corruption_is_reported,
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
