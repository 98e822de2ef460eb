//! Oversight statistics benchmark: `custos stats` for one year of
//! 1,000,000 cases. It prints figures; it asserts nothing about speed.
//!
//! Germany's node of a two-node network of the test kit (SQLite file on
//! disk, and PostgreSQL when `CUSTOS_BENCH_POSTGRES_URL` or
//! `CUSTOS_TEST_POSTGRES_URL` names a server) holds `CUSTOS_BENCH_CASES`
//! cases (default 1,000,000) opened over 2025, as case-index rows seeded
//! with `CaseStore::bulk_put_cases` (rows without threads behind them): both
//! directions, 4 kinds, 30 counterpart States (a few with very few cases),
//! outcomes, refusal grounds, postponements and response times spread as a
//! busy node's would be. Then `Node::oversight_statistics` for 2025, as
//! `custos stats --from 2025-01-01 --to 2025-12-31` and `GET
//! /api/v1/statistics/oversight` ask, by an auditor (checked and recorded):
//! p50 and max over `CUSTOS_BENCH_RUNS` runs (default 10), against the
//! target of 2 s.
//!
//! Run it with `cargo bench -p custos-node --bench stats`. Started without
//! `--bench` (by `cargo test --benches`), it makes a quick run of 2,000
//! cases.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that fails to set up has nothing to measure

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use custos_model::{RequestKind, StateCode};
use custos_node::Actor;
use custos_node::app::{Role, StatisticsQuery};
use custos_store::{CaseFigures, CaseRow, Direction, URGENCY_ROUTINE};
use custos_testkit::bench::env_usize;
use custos_testkit::{NetworkBuilder, POSTGRES_URL_VAR};
use time::macros::{date, datetime};

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

const KINDS: [RequestKind; 4] = [
    RequestKind::Mla,
    RequestKind::Preservation,
    RequestKind::TrafficDisclosure,
    RequestKind::EmergencyData,
];
const PEERS: [&str; 30] = [
    "FR", "NL", "IT", "ES", "BE", "PL", "SE", "AT", "PT", "IE", "DK", "FI", "CZ", "SK", "HU", "RO",
    "BG", "GR", "HR", "SI", "LT", "LV", "EE", "LU", "MT", "CY", "NO", "IS", "CH", "LI",
];
const OUTCOMES: [&str; 7] = [
    "executed",
    "partly-executed",
    "refused",
    "preserved",
    "withdrawn",
    "closed",
    "open",
];
const GROUNDS: [&str; 7] = ["R1", "R2", "R3", "R4", "R5", "R6", "R7"];

fn seeded_row(i: usize, rng: &mut Rng) -> CaseRow {
    let start = datetime!(2025-01-01 0:00 UTC);
    let created_at = start + time::Duration::seconds(rng.below(365 * 86_400) as i64);
    let direction = if rng.below(2) == 0 {
        Direction::Outgoing
    } else {
        Direction::Incoming
    };
    // Most cases with a few States, a long tail with very few.
    let peer = match rng.below(100) {
        0..=79 => rng.below(8),
        _ => 8 + rng.below(22),
    } as usize;
    let outcome = OUTCOMES[rng.below(OUTCOMES.len() as u64) as usize];
    let grounds = if outcome == "refused" {
        let n = 1 + rng.below(2);
        (0..n)
            .map(|_| GROUNDS[rng.below(7) as usize].to_owned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    } else {
        Vec::new()
    };
    let ack = (rng.below(10) < 9).then(|| 600 + rng.below(3 * 86_400) as i64);
    let decided = matches!(
        outcome,
        "executed" | "partly-executed" | "refused" | "preserved"
    );
    CaseRow {
        id: format!("thr-stats-{i:08}"),
        kind: KINDS[rng.below(KINDS.len() as u64) as usize],
        direction,
        counterpart: PEERS[peer].parse::<StateCode>().unwrap(),
        side: if direction == Direction::Outgoing {
            "requesting"
        } else {
            "requested"
        }
        .to_owned(),
        state: "acknowledged".to_owned(),
        urgency: URGENCY_ROUTINE,
        open: outcome == "open",
        overdue: false,
        next_due: None,
        last_step_at: Some(created_at),
        created_at,
        allowed: Vec::new(),
        stale: false,
        figures: CaseFigures {
            outcome: outcome.to_owned(),
            grounds,
            postponed: rng.below(20) == 0,
            ack_seconds: ack,
            decision_seconds: decided
                .then(|| ack.unwrap_or(0) + 3_600 + rng.below(60 * 86_400) as i64),
        },
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

async fn run(label: &str, builder: NetworkBuilder, cases: usize, runs: usize) {
    let net = builder.build().await.unwrap();
    let de = net.node("DE");
    let started = Instant::now();
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let batch = 10_000;
    let mut rows = Vec::with_capacity(batch);
    for i in 0..cases {
        rows.push(seeded_row(i, &mut rng));
        if rows.len() == batch {
            de.store.bulk_put_cases(&rows).await.unwrap();
            rows.clear();
        }
    }
    if !rows.is_empty() {
        de.store.bulk_put_cases(&rows).await.unwrap();
    }
    eprintln!(
        "{label}: seeded {cases} index rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let auditor = Actor::Desk {
        user: "bench".to_owned(),
        roles: [Role::Auditor].into_iter().collect(),
    };
    let query = StatisticsQuery {
        from: Some(date!(2025 - 01 - 01)),
        to: Some(date!(2025 - 12 - 31)),
        threshold: None,
    };
    let mut times = Vec::with_capacity(runs);
    let mut total = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let report = de
            .node
            .oversight_statistics(&auditor, &query)
            .await
            .unwrap();
        times.push(started.elapsed());
        total = report
            .directions
            .iter()
            .map(|d| d.total.count.unwrap_or(0))
            .sum::<u64>();
    }
    assert_eq!(total as usize, cases);
    times.sort();
    let (p50, max) = (times[times.len() / 2], times[times.len() - 1]);
    println!("\n{label}: {cases} cases opened in 2025");
    println!("| metric | p50 | max | target | result |");
    println!("|---|---|---|---|---|");
    println!(
        "| oversight report for 2025, by an auditor ({runs} runs) | {} | {} | max ≤ 2 s | {} |",
        secs(p50),
        secs(max),
        if max <= Duration::from_secs(2) {
            "PASS"
        } else {
            "MISS"
        }
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
    let runs = env_usize("CUSTOS_BENCH_RUNS", if full { 10 } else { 2 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        run("SQLite", NetworkBuilder::new(&["DE", "FR"]), cases, runs).await;
        let url =
            std::env::var("CUSTOS_BENCH_POSTGRES_URL").or_else(|_| std::env::var(POSTGRES_URL_VAR));
        match url {
            Ok(url) => {
                let builder = NetworkBuilder::new(&["DE", "FR"]).postgres(url);
                run("PostgreSQL", builder, cases, runs).await;
            }
            Err(_) => println!("\nPostgreSQL: skipped ({POSTGRES_URL_VAR} is not set)"),
        }
    });
}
