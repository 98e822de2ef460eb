//! Retention benchmark (issue 18): deleting the content of expired cases
//! with their evidence files while a second node keeps sending messages to
//! the purging node. It prints figures next to their targets; it asserts
//! nothing about speed.
//!
//! Two nodes of the test kit served over real HTTP on loopback (France and
//! Germany, SQLite files on disk, 2 tokio worker threads, the `custos`
//! binary's allocator). France holds `CUSTOS_BENCH_CASES` cases (default
//! 10,000), each a real MLA request sent by France and withdrawn (two
//! signed, sealed messages with their history and ledger entries), with a
//! received evidence package folder answering it (a manifest and one 16 KiB
//! segment: `CUSTOS_BENCH_SEGMENT_BYTES`). The clock is then moved past
//! their retention (five years after the end), a directory of the day is
//! imported, and `Node::purge_due` deletes every case's content, each case
//! in its own transaction with its `content-deleted` ledger entry, and
//! queues a signed deletion report to Germany for each.
//!
//! Meanwhile Germany sends France new requests, one after the other, each
//! posted with `reqwest` to France's federation route; the figure is each
//! post's latency (intake: open, verify, check, store with the ledger
//! entry, answer with the signed receipt). The requests are sealed on
//! Germany's node before the purge starts (`CUSTOS_BENCH_INTAKE_MESSAGES`,
//! default 8,000; more are sealed as they go should they run out): in a
//! network that is Germany's machine's work, and here both nodes share
//! the same two cores.
//!
//! Targets: at least 1,000 cases/s deleted; intake p99 at most 20 ms during
//! the purge.
//!
//! Run it with `cargo bench -p custos-node --bench retention`. Started
//! without `--bench` (by `cargo test --benches`), it makes a quick run of
//! 200 cases.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that fails to set up has nothing to measure

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use custos_model::{RequestKind, template, validate};
use custos_node::app::{Actor, CaseAction, Role, Roles};
use custos_protocol::evidence::{
    CONTENT_FORMAT, Content, MANIFEST_PAYLOAD_TYPE, MANIFEST_VERSION, Manifest, Segment, Totals,
    read_manifest_unverified,
};
use custos_seal::{Envelope, SigningKey};
use custos_testkit::bench::{env_usize, ms, percentile};
use custos_testkit::{Network, NetworkBuilder};
use futures_util::stream::{self, StreamExt};
use serde_json::json;

fn officer(state: &str) -> Actor {
    Actor::Desk {
        user: format!("officer-{}", state.to_lowercase()),
        roles: [Role::Caseworker, Role::Administrator]
            .into_iter()
            .collect::<Roles>(),
    }
}

/// A received package folder answering `request`, as the purge finds it
/// through the index of received packages (filled before the purge): a
/// manifest Germany signed (with a key of the bench's own: the purge reads
/// it without checking the signature, as the index does) describing one
/// segment of `bytes`, in the folder its package id names.
fn package_folder(net: &Network, request: &str, key: &SigningKey, bytes: usize) {
    let segment = vec![7u8; bytes];
    // What the segment, an age file, would hold in clear.
    let plain = (bytes as u64).saturating_sub(256).max(1);
    let manifest = Manifest {
        v: MANIFEST_VERSION,
        request: request.to_owned(),
        sender: "DE".parse().unwrap(),
        recipients: vec!["FR".parse().unwrap()],
        created_at: time::OffsetDateTime::UNIX_EPOCH,
        use_limits: json!({ "case": request }),
        confidentiality: serde_json::Value::Null,
        personal_data: None,
        files: Vec::new(),
        totals: Totals { files: 0, bytes: 0 },
        content: Content {
            format: CONTENT_FORMAT.to_owned(),
            size: plain,
            segment_size: custos_protocol::evidence::MIN_SEGMENT_SIZE,
        },
        segments: vec![Segment {
            index: 0,
            plain_size: plain,
            size: bytes as u64,
            blake3: Some(blake3::hash(&segment).to_hex().to_string()),
            sha256: None,
        }],
    };
    let payload = manifest.to_canonical_json().unwrap();
    let envelope = Envelope::sign(MANIFEST_PAYLOAD_TYPE, &payload, key).to_json();
    let package = read_manifest_unverified(&envelope).unwrap().package_id;
    let dir = net
        .node("FR")
        .node
        .received_evidence_dir()
        .join(package.strip_prefix("sha256:").unwrap());
    std::fs::create_dir_all(dir.join("segments")).unwrap();
    std::fs::write(custos_node::evidence::layout::manifest_path(&dir), envelope).unwrap();
    std::fs::write(
        custos_node::evidence::layout::segment_path(&dir, 0),
        segment,
    )
    .unwrap();
}

async fn expired_case(net: &Network, key: &SigningKey, segment: usize) -> String {
    let fr = &net.node("FR").node;
    let draft = validate::parse(&template::render(RequestKind::Mla)).unwrap();
    let sent = fr.submit(draft, &officer("FR")).await.unwrap();
    // The kit's clock stands still: the withdrawal comes after the request.
    net.clock.advance(time::Duration::milliseconds(1));
    fr.act(
        &sent.thread,
        CaseAction::Withdraw,
        json!({}),
        &officer("FR"),
    )
    .await
    .unwrap();
    package_folder(net, &sent.thread, key, segment);
    sent.thread
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let cases = if quick {
        200
    } else {
        env_usize("CUSTOS_BENCH_CASES", 10_000)
    };
    let segment = env_usize("CUSTOS_BENCH_SEGMENT_BYTES", 16 * 1024);
    let intake_messages = if quick {
        50
    } else {
        env_usize("CUSTOS_BENCH_INTAKE_MESSAGES", 8_000)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(cases, segment, intake_messages));
}

/// A request from Germany to France, submitted on Germany's node: the
/// sealed message its outbox holds for France.
async fn request_to_france(de: &custos_node::Node) -> Vec<u8> {
    let mut draft = validate::parse(&template::render(RequestKind::Preservation)).unwrap();
    draft["requesting_state"] = "DE".into();
    draft["requested_state"] = "FR".into();
    let sent = de.submit(draft, &officer("DE")).await.unwrap();
    de.store()
        .outbox_item(&sent.message_id)
        .await
        .unwrap()
        .unwrap()
        .ciphertext
}

async fn run(cases: usize, segment: usize, intake_messages: usize) {
    let net = NetworkBuilder::new(&["FR", "DE"])
        .served()
        .build()
        .await
        .unwrap();
    let fr = Arc::clone(&net.node("FR").node);
    let de = Arc::clone(&net.node("DE").node);

    let setup = Instant::now();
    let key = SigningKey::generate();
    let ids: Vec<String> = stream::iter(0..cases)
        .map(|_| {
            let (net, key) = (&net, &key);
            async move { expired_case(net, key, segment).await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    // The index derives every case, noting each one's end.
    fr.rebuild_case_index().await.unwrap();
    for pass in 0..5 {
        let mut unnoted = 0;
        for id in &ids {
            if fr
                .retention(id, &officer("FR"))
                .await
                .unwrap()
                .ended_at
                .is_none()
            {
                unnoted += 1;
            }
        }
        if unnoted == 0 {
            break;
        }
        println!("pass {pass}: {unnoted} cases' ends not noted yet; deriving again");
        fr.rebuild_case_index().await.unwrap();
    }
    let view = fr.retention(&ids[0], &officer("FR")).await.unwrap();
    let due = view.deletion_date.expect("the case ended");
    // A day past the first case's date is past every case's (the clock
    // moved a millisecond per case).
    net.clock.set(due + time::Duration::days(1));
    let signed = net.sign_directory(2).unwrap();
    for n in [&fr, &de] {
        n.import_directory(&officer("FR"), &signed).await.unwrap();
    }
    // A node indexes each package it receives as it arrives
    // (`evidence::receive`); the bench wrote the folders itself, so they are
    // indexed here, before the purge is timed, by one listing of a case's
    // personal data (which indexes any received folder not yet indexed).
    let dpo = Actor::Desk {
        user: "dpo-fr".to_owned(),
        roles: [Role::DataProtectionOfficer].into_iter().collect::<Roles>(),
    };
    fr.personal_data(&dpo, &ids[0]).await.unwrap();
    println!(
        "set up {cases} expired cases with one {segment}-byte segment each in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    // Germany's requests, sealed before the purge: making them is
    // Germany's work, done on Germany's machine, not France's.
    let made = Instant::now();
    let mut ready: Vec<Vec<u8>> = stream::iter(0..intake_messages)
        .map(|_| {
            let de = Arc::clone(&de);
            async move { request_to_france(&de).await }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    println!(
        "sealed {intake_messages} requests from Germany to France in {:.1} s",
        made.elapsed().as_secs_f64()
    );

    // Germany sends them to France, one after the other, while France
    // purges; should they run out, Germany seals more as it goes.
    let purging = Arc::new(AtomicBool::new(true));
    let client = reqwest::Client::new();
    let url = format!("{}{}", net.url("FR"), custos_testkit::MESSAGES_PATH);
    let sender = {
        let purging = Arc::clone(&purging);
        let de = Arc::clone(&de);
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut made_during = 0usize;
            while purging.load(Ordering::Relaxed) {
                let ciphertext = match ready.pop() {
                    Some(c) => c,
                    None => {
                        made_during += 1;
                        request_to_france(&de).await
                    }
                };
                let start = Instant::now();
                let reply = client.post(&url).body(ciphertext).send().await.unwrap();
                let status = reply.status();
                let _ = reply.bytes().await;
                latencies.push(start.elapsed());
                assert!(status.is_success(), "intake answered {status}");
            }
            (latencies, made_during)
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let written = process_write_bytes();
    let start = Instant::now();
    let report = fr.purge_due(&Actor::Scheduler).await.unwrap();
    let took = start.elapsed();
    let written = process_write_bytes().saturating_sub(written);
    purging.store(false, Ordering::Relaxed);
    let (mut latencies, made_during) = sender.await.unwrap();
    if made_during > 0 {
        println!(
            "{made_during} of Germany's requests were sealed during the purge (raise CUSTOS_BENCH_INTAKE_MESSAGES)"
        );
    }
    latencies.sort();
    assert_eq!(report.deleted.len(), cases, "every expired case is deleted");
    let files: u64 = report.deleted.iter().map(|d| d.evidence_files).sum();
    assert_eq!(files, 2 * cases as u64, "a manifest and a segment each");

    let rate = cases as f64 / took.as_secs_f64();
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    println!(
        "purge: {cases} cases ({} messages, {files} evidence files) in {:.2} s: {rate:.0} cases/s ({}, target >= 1000 cases/s)",
        report.deleted.iter().map(|d| d.messages).sum::<u64>(),
        took.as_secs_f64(),
        verdict(rate >= 1000.0)
    );
    println!(
        "written to disk during the purge (both nodes, intake included): {:.1} MiB, {:.1} KiB per case",
        written as f64 / (1024.0 * 1024.0),
        written as f64 / 1024.0 / cases as f64
    );
    if latencies.is_empty() {
        println!("intake during the purge: no message completed");
    } else {
        let p99 = percentile(&latencies, 0.99);
        println!(
            "intake during the purge: {} messages, p50 {}, p99 {} ({}, target <= 20 ms), max {}",
            latencies.len(),
            ms(percentile(&latencies, 0.5)),
            ms(p99),
            verdict(p99 <= Duration::from_millis(20)),
            ms(*latencies.last().unwrap())
        );
    }
    net.stop().await;
}

/// The bytes this process has caused to be written to the disk so far
/// (`write_bytes` of `/proc/self/io`; 0 where there is none).
fn process_write_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("write_bytes: ")?.trim().parse().ok())
        })
        .unwrap_or(0)
}
