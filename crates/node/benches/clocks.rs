//! Case index benchmark: listing cases by urgency and one scheduler tick
//! with a million cases stored. It prints figures; it asserts nothing about
//! speed.
//!
//! France's node of a two-node network of the test kit (SQLite file on
//! disk, and PostgreSQL when `CUSTOS_TEST_POSTGRES_URL` names a server)
//! holds `CUSTOS_BENCH_CASES` cases (default 1,000,000). All but a few are
//! index rows seeded with `CaseStore::bulk_put_cases` (a bulk store method for
//! benchmarks: rows without threads behind them), spread as a busy node's
//! would be: 1 % emergency and 10 % urgent requests, 70 % open, open cases
//! with a next due instant spread over 90 days from three hours on (none
//! due during the run) or
//! none, creation times over the past year. The few others are real
//! emergency requests sent through the node (`CUSTOS_BENCH_DUE`, default
//! 5), whose acknowledgement target has passed when the clock is moved, so
//! the first tick derives each, escalates each (a signed, sealed status
//! query queued with its fired key) and writes its row.
//!
//! 1. Listing: `Node::cases` for the first page of 50 open cases by
//!    urgency (emergencies first, then the nearest clock, then the newest),
//!    as `custos case list --open --limit 50` and `GET /api/v1/cases?open=true&limit=50`
//!    ask, by a caseworker (each listing checked and recorded in the access
//!    record and the ledger); p50 and p99 over `CUSTOS_BENCH_LISTS` runs
//!    (default 200).
//! 2. Tick: `Node::run_clocks`, the scheduler's tick: the first one with
//!    the due cases to fire, then p50 and p99 of `CUSTOS_BENCH_TICKS` idle
//!    ticks (default 50): the stale rows' read and the due cases' range
//!    read of the index.
//!
//! Run it with `cargo bench -p custos-node --bench clocks`. Started without
//! `--bench` (by `cargo test --benches`), it makes a quick run of 2,000
//! cases.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that fails to set up has nothing to measure

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use custos_model::{RequestKind, StateCode, template, validate};
use custos_node::Actor;
use custos_node::app::{CaseFilter, Role};
use custos_store::{CaseRow, Direction, URGENCY_EMERGENCY, URGENCY_ROUTINE, URGENCY_URGENT};
use custos_testkit::bench::{env_usize, ms, percentile};
use custos_testkit::{AT, Network, NetworkBuilder, POSTGRES_URL_VAR};
use time::OffsetDateTime;

fn verdict(d: Duration, target_ms: f64) -> &'static str {
    if d.as_secs_f64() * 1e3 <= target_ms {
        "PASS"
    } else {
        "MISS"
    }
}

/// A small deterministic generator (xorshift), so every run seeds the same
/// rows.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const STATES: [&str; 6] = [
    "submitted",
    "acknowledged",
    "consulting",
    "postponed",
    "preserved",
    "closed",
];
const KINDS: [RequestKind; 4] = [
    RequestKind::Mla,
    RequestKind::Preservation,
    RequestKind::TrafficDisclosure,
    RequestKind::EmergencyData,
];
const PEERS: [&str; 8] = ["DE", "NL", "IT", "ES", "BE", "PL", "SE", "AT"];

fn seeded_row(i: usize, rng: &mut Rng, now: OffsetDateTime) -> CaseRow {
    let urgency = match rng.below(100) {
        0 => URGENCY_EMERGENCY,
        1..=10 => URGENCY_URGENT,
        _ => URGENCY_ROUTINE,
    };
    let open = rng.below(10) < 7;
    let next_due = (open && rng.below(10) < 6)
        .then(|| now + time::Duration::seconds(3 * 3_600 + rng.below(90 * 86_400) as i64));
    let created_at = now - time::Duration::seconds(rng.below(365 * 86_400) as i64);
    let direction = if rng.below(2) == 0 {
        Direction::Outgoing
    } else {
        Direction::Incoming
    };
    CaseRow {
        id: format!("thr-bench-{i:08}"),
        kind: KINDS[rng.below(KINDS.len() as u64) as usize],
        direction,
        counterpart: PEERS[rng.below(PEERS.len() as u64) as usize]
            .parse::<StateCode>()
            .unwrap(),
        side: if direction == Direction::Outgoing {
            "requesting"
        } else {
            "requested"
        }
        .to_owned(),
        state: if open {
            STATES[rng.below(5) as usize]
        } else {
            STATES[5]
        }
        .to_owned(),
        urgency,
        open,
        overdue: false,
        next_due,
        last_step_at: Some(created_at + time::Duration::hours(1)),
        created_at,
        allowed: vec!["correspond".to_owned(), "ask-status".to_owned()],
        stale: false,
        figures: Default::default(),
    }
}

async fn run(label: &str, net: Network, cases: usize, due: usize, lists: usize, ticks: usize) {
    let fr = net.node("FR");
    let officer = Actor::Cli {
        user: "bench".into(),
    };

    // The few real cases: emergency requests sent now, due in an hour.
    let draft = validate::parse(&template::render(RequestKind::EmergencyData)).unwrap();
    for _ in 0..due {
        fr.node.submit(draft.clone(), &officer).await.unwrap();
    }

    // The rest: index rows seeded in batches.
    let started = Instant::now();
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let batch = 10_000;
    let mut rows = Vec::with_capacity(batch);
    for i in 0..cases.saturating_sub(due) {
        rows.push(seeded_row(i, &mut rng, AT));
        if rows.len() == batch {
            fr.store.bulk_put_cases(&rows).await.unwrap();
            rows.clear();
        }
    }
    if !rows.is_empty() {
        fr.store.bulk_put_cases(&rows).await.unwrap();
    }
    eprintln!(
        "{label}: seeded {} index rows in {:.1} s",
        cases.saturating_sub(due),
        started.elapsed().as_secs_f64()
    );

    // The clock past the emergencies' acknowledgement target.
    net.clock.set(AT + time::Duration::minutes(61));

    let started = Instant::now();
    let first = fr.node.run_clocks().await.unwrap();
    let first_tick = started.elapsed();
    assert_eq!(first.fired.len(), due, "{first:?}");

    let mut idle = Vec::with_capacity(ticks);
    for _ in 0..ticks {
        let started = Instant::now();
        let report = fr.node.run_clocks().await.unwrap();
        idle.push(started.elapsed());
        assert!(report.fired.is_empty());
    }
    idle.sort();

    let filter = CaseFilter {
        open: Some(true),
        limit: Some(50),
        ..CaseFilter::default()
    };
    // A caseworker at the desk: each listing is checked against the role
    // table and recorded (an access-record row and a ledger entry), as
    // every person's listing is.
    let officer = Actor::Desk {
        user: "bench".to_owned(),
        roles: [Role::Caseworker].into_iter().collect(),
    };
    let mut listing = Vec::with_capacity(lists);
    let mut first_page = Vec::new();
    for _ in 0..lists {
        let started = Instant::now();
        first_page = fr.node.cases(&officer, &filter).await.unwrap();
        listing.push(started.elapsed());
    }
    listing.sort();
    assert_eq!(first_page.len(), 50.min(cases));
    assert!(first_page.iter().all(|c| c.open));

    println!("\n{label}: {cases} cases, {due} due at the first tick");
    println!("| metric | p50 | p99 | target | result |");
    println!("|---|---|---|---|---|");
    let (p50, p99) = (percentile(&listing, 0.5), percentile(&listing, 0.99));
    println!(
        "| first page of 50 open cases by urgency, each listing recorded ({lists} runs) | {} | {} | p99 ≤ 50 ms | {} |",
        ms(p50),
        ms(p99),
        verdict(p99, 50.0)
    );
    println!(
        "| scheduler tick, {due} due (fired, escalated) | {} | — | ≤ 100 ms | {} |",
        ms(first_tick),
        verdict(first_tick, 100.0)
    );
    let (p50, p99) = (percentile(&idle, 0.5), percentile(&idle, 0.99));
    println!(
        "| scheduler tick, none due ({ticks} ticks) | {} | {} | ≤ 100 ms | {} |",
        ms(p50),
        ms(p99),
        verdict(p99, 100.0)
    );
    net.stop().await;
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let cases = if full {
        env_usize("CUSTOS_BENCH_CASES", 1_000_000)
    } else {
        2_000
    };
    let due = env_usize("CUSTOS_BENCH_DUE", 5);
    let lists = env_usize("CUSTOS_BENCH_LISTS", if full { 200 } else { 5 });
    let ticks = env_usize("CUSTOS_BENCH_TICKS", if full { 50 } else { 3 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let net = NetworkBuilder::new(&["FR", "DE"]).build().await.unwrap();
        run("SQLite", net, cases, due, lists, ticks).await;
        match std::env::var(POSTGRES_URL_VAR) {
            Ok(url) => {
                let net = NetworkBuilder::new(&["FR", "DE"])
                    .postgres(url)
                    .build()
                    .await
                    .unwrap();
                run("PostgreSQL", net, cases, due, lists, ticks).await;
            }
            Err(_) => println!("\nPostgreSQL: skipped ({POSTGRES_URL_VAR} is not set)"),
        }
    });
}
