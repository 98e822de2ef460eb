//! Checked reads and deep verification benchmark: what binding shown content
//! to its signature and ledger entry costs. It prints figures; it asserts
//! nothing about speed.
//!
//! A node (SQLite file on disk, store defaults) holds outgoing requests,
//! each a real signed submission (the preservation template, about 3 KB of
//! envelope), sealed at rest under the node's storage key with its ledger
//! entry, recorded through `FederationStore::record_outgoing` (request, message,
//! event, outbox item and ledger entry in one transaction, many at once)
//! and sequenced into the ledger. Every message is signed on its own, so
//! every row verifies on its own.
//!
//! 1. Reads: for a sample of requests, `Node::request_detail` (the checked
//!    read behind `custos request show` and `GET /api/v1/requests/{id}`)
//!    against the unchecked read it replaced (the same store calls:
//!    request, thread, receipts, outbox items, history), interleaved in one
//!    run; p50 and p99 of each and of the difference.
//! 2. Deep verification: `Node::verify_deep` (`custos ledger verify
//!    --deep`) over every record, in records per second.
//!
//! Run it with `cargo bench -p custos-node --bench at_rest`. Environment:
//! `CUSTOS_BENCH_DEEP_MESSAGES` (messages held, default 100,000; the
//! target is stated for 1,000,000), `CUSTOS_BENCH_READS` (sampled reads,
//! default 2,000), `CUSTOS_BENCH_DIR` (where the database goes; default a
//! temporary directory), `CUSTOS_BENCH_STORE` (a folder to keep the built
//! node in: built there and kept when absent, reused as it is when present,
//! so that a later run measures without building the messages again).
//! Started without `--bench` (by `cargo test
//! --benches`), it makes a quick smoke run of 500 messages.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that fails to set up has nothing to measure

/// `custos ledger verify --deep` and `custos request show` run in the
/// `custos` binary, so the node here gets the allocator that binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use custos_model::{RequestKind, StateCode, template, validate};
use custos_node::Keystore;
use custos_node::at_rest::RecordKind;
use custos_node::custody::{Entry, EntryKind};
use custos_protocol::{Message, new_thread_id, seal_message};
use custos_store::{
    Direction, MessageRecord, NewEvent, OutboxItem, OutboxState, OutgoingMessage, RequestRecord,
    Store,
};
use custos_testkit::bench::{env_usize, micros, percentile};
use custos_testkit::{AT, NodeBuilder};
use serde_json::json;

/// One signed, sealed outgoing submission of the node whose `keys` these
/// are, ready for the store.
fn outgoing(keys: &Keystore, draft: &serde_json::Value, n: usize, base: u64) -> OutgoingMessage {
    let me: StateCode = "FR".parse().unwrap();
    let to: StateCode = "DE".parse().unwrap();
    let thread = new_thread_id(uuid::Uuid::new_v4());
    let mut draft = draft.clone();
    draft["reference"] = json!(format!("BENCH-{n:08}"));
    let message = Message::submit(me, to, thread.clone(), None, AT, draft);
    let sealed = seal_message(&message, &keys.signing, &[keys.encryption.recipient()]).unwrap();
    let id = sealed.id.to_string();
    let entry = Entry::new(EntryKind::MessageSent, AT, "bench")
        .request(thread.clone())
        .subject(id.clone())
        .envelope(&sealed.envelope_json)
        .detail(json!({ "kind": "submit", "to": to }))
        .encode()
        .unwrap();
    // The ledger size before the batch: a lower bound of the entry's index,
    // as the node seals it.
    let envelope = keys
        .storage
        .seal(
            RecordKind::Message,
            &id,
            base,
            &entry,
            &sealed.envelope_json,
        )
        .unwrap();
    OutgoingMessage {
        message: MessageRecord {
            id: id.clone(),
            thread: thread.clone(),
            direction: Direction::Outgoing,
            counterpart: to,
            kind: "submit".into(),
            prev: None,
            created_at: AT,
            recorded_at: AT,
            envelope,
        },
        new_request: Some(RequestRecord {
            id: thread.clone(),
            kind: RequestKind::Preservation,
            direction: Direction::Outgoing,
            counterpart: to,
            draft: None,
            created_at: AT,
        }),
        event: NewEvent {
            request_id: thread,
            at: AT,
            actor: "bench".into(),
            kind: "sent:submit".into(),
            detail: json!({ "message_id": id, "to": to }),
            ledger: None,
        },
        outbox: OutboxItem {
            message_id: id,
            recipient: to,
            url: "http://127.0.0.1:1/".into(),
            ciphertext: sealed.ciphertext,
            created_at: AT,
            next_attempt_at: AT + time::Duration::days(365),
            attempts: 0,
            state: OutboxState::Pending,
            last_error: None,
            delivered_at: None,
        },
        ledger: vec![entry],
        access: None,
    }
}

/// The unchecked read that `GET /api/v1/requests/{id}` made before reads were checked.
async fn unchecked(store: &dyn Store, id: &str) -> usize {
    let record = store.get_request(id).await.unwrap().unwrap();
    let mut n = record.id.len();
    for m in store.thread_messages(id).await.unwrap() {
        n += store.outbox_item(&m.id).await.unwrap().is_some() as usize;
        n += store
            .receipt_for(&m.id)
            .await
            .unwrap()
            .map_or(0, |r| r.len());
        n += m.envelope.len();
    }
    n + store.events(id).await.unwrap().len()
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let messages = if smoke {
        500
    } else {
        env_usize("CUSTOS_BENCH_DEEP_MESSAGES", 100_000)
    };
    let reads = if smoke {
        50
    } else {
        env_usize("CUSTOS_BENCH_READS", 2_000)
    };
    let tmp = tempfile::tempdir().unwrap();
    let kept = std::env::var("CUSTOS_BENCH_STORE")
        .ok()
        .map(std::path::PathBuf::from);
    let reuse = kept.as_ref().is_some_and(|d| d.join("keys").is_dir());
    let dir = kept.clone().unwrap_or_else(|| {
        std::env::var("CUSTOS_BENCH_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| tmp.path().to_owned())
            .join(format!("at-rest-{}", uuid::Uuid::new_v4().simple()))
    });
    std::fs::create_dir_all(&dir).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let builder = NodeBuilder::new("FR").name("bench").in_dir(&dir);
        let builder = if reuse { builder.reopen() } else { builder };
        let node = builder.build().await.unwrap();
        // The node's keys as its folder holds them, shared by the sealing threads.
        let keys = Arc::new(Keystore::load(&node.dir().join("keys")).unwrap());
        let draft = validate::parse(&template::render(RequestKind::Preservation)).unwrap();

        let started = Instant::now();
        let mut ids = Vec::with_capacity(messages);
        if reuse {
            let held = node.store.list_requests(&Default::default()).await.unwrap();
            ids.extend(held.into_iter().map(|r| r.id));
            println!(
                "at-rest benchmark: {} signed, sealed messages on SQLite, kept in {}",
                ids.len(),
                dir.display()
            );
        } else {
            println!("at-rest benchmark: {messages} signed, sealed messages on SQLite in {}", dir.display());
        }
        let batch = 2_000;
        let mut n = if reuse { messages } else { 0 };
        while n < messages {
            let count = batch.min(messages - n);
            let base = node.store.ledger_size().await.unwrap();
            // Sealing on the blocking pool, two at a time (the two cores).
            let made: Vec<OutgoingMessage> = {
                let half = count / 2;
                let (a, b) = (n, n + half);
                let (na, nb) = (Arc::clone(&keys), Arc::clone(&keys));
                let (da, db) = (draft.clone(), draft.clone());
                let ja = tokio::task::spawn_blocking(move || {
                    (a..a + half).map(|i| outgoing(&na, &da, i, base)).collect::<Vec<_>>()
                });
                let jb = tokio::task::spawn_blocking(move || {
                    (b..n + count).map(|i| outgoing(&nb, &db, i, base)).collect::<Vec<_>>()
                });
                let mut v = ja.await.unwrap();
                v.extend(jb.await.unwrap());
                v
            };
            let mut tasks = tokio::task::JoinSet::new();
            for chunk in made.chunks(count.div_ceil(64)) {
                let chunk = chunk.to_vec();
                let store = Arc::clone(&node.store);
                tasks.spawn(async move {
                    for out in &chunk {
                        store.record_outgoing(out).await.unwrap();
                    }
                    chunk.into_iter().map(|o| o.message.thread).collect::<Vec<_>>()
                });
            }
            while let Some(done) = tasks.join_next().await {
                ids.extend(done.unwrap());
            }
            node.sequence_all().await.unwrap();
            n += count;
        }
        println!(
            "  built in {:.1} s ({} ledger entries)",
            started.elapsed().as_secs_f64(),
            node.store.ledger_size().await.unwrap()
        );

        // 1. Reads. A first, untimed pass over the sample brings its pages
        // into memory (a reused node starts cold), so that both reads are
        // timed from memory and the difference is the checking alone.
        for i in 0..reads {
            let id = &ids[(i * 7919) % ids.len()];
            std::hint::black_box(unchecked(node.store.as_ref(), id).await);
            std::hint::black_box(node.request_detail(id).await.unwrap());
        }
        let (mut plain, mut checked, mut extra) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..reads {
            let id = &ids[(i * 7919) % ids.len()];
            let t = Instant::now();
            std::hint::black_box(unchecked(node.store.as_ref(), id).await);
            let a = t.elapsed();
            let t = Instant::now();
            std::hint::black_box(node.request_detail(id).await.unwrap());
            let b = t.elapsed();
            plain.push(a);
            checked.push(b);
            extra.push(b.saturating_sub(a));
        }
        for v in [&mut plain, &mut checked, &mut extra] {
            v.sort();
        }
        println!("\n1. Reads ({reads} sampled requests, interleaved)");
        println!("   {:<44} {:>12} {:>12}", "", "p50", "p99");
        for (name, v) in [
            ("unchecked store reads", &plain),
            ("Node::request_detail (checked)", &checked),
            ("difference per request", &extra),
        ] {
            println!(
                "   {name:<44} {:>12} {:>12}",
                micros(percentile(v, 0.5)),
                micros(percentile(v, 0.99))
            );
        }
        println!(
            "   target: at most 1 ms more per request (p50): {}",
            if percentile(&extra, 0.5) <= Duration::from_millis(1) { "PASS" } else { "MISS" }
        );

        // 2. Deep verification.
        let cpu = cpu_seconds();
        let t = Instant::now();
        let report = node.verify_deep().await.unwrap();
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu;
        assert!(report.problems.is_empty(), "{:?}", &report.problems[..report.problems.len().min(5)]);
        let rate = report.records() as f64 / secs;
        println!("\n2. Deep verification (ledger verify --deep)");
        println!(
            "   {} records ({} messages, {} requests, {} receipts; {} ledger entries read) in {secs:.2} s, {cpu:.2} s CPU",
            report.records(),
            report.messages,
            report.requests,
            report.receipts,
            report.ledger_entries
        );
        println!(
            "   {rate:.0} records/s; target at least 50,000 records/s: {}",
            if rate >= 50_000.0 { "PASS" } else { "MISS" }
        );
        node.store.close().await;
    });
    if kept.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The process's user and system CPU time, in seconds (Linux `/proc`).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
