//! Inbox benchmark: the desk's inbox page, its refreshed list and the
//! emergency banner, rendered through the desk's router for a signed-in
//! duty officer while the node's case index holds `CUSTOS_BENCH_CASES`
//! cases (default 1,000,000). It prints figures; it asserts nothing about
//! speed.
//!
//! Germany's node of the test kit's two-node network (SQLite file on disk)
//! is seeded with case-index rows through `CaseStore::bulk_put_cases` (rows
//! without threads behind them, as the statistics benchmark seeds them):
//! 1 % open, spread over the open states, a few of them emergencies
//! awaiting acknowledgement, the rest finished. Each page is then asked
//! `CUSTOS_BENCH_RUNS` times (default 200) with the session cookie, and the
//! p50 and p99 server times printed against the targets (inbox 50 ms,
//! every other page 100 ms).
//!
//! Run it with `cargo bench -p custos-desk --bench inbox`. Started without
//! `--bench` (by `cargo test --benches`), it makes a quick run of 2,000
//! cases.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that fails to set up has nothing to measure

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use custos_model::{RequestKind, StateCode};
use custos_node::app::secrets::{totp_code, totp_step};
use custos_node::app::{Actor, NewUser, Role};
use custos_store::{CaseFigures, CaseRow, Direction, URGENCY_EMERGENCY, URGENCY_ROUTINE};
use custos_testkit::NetworkBuilder;
use custos_testkit::bench::{env_usize, ms};
use tower::ServiceExt;

const KINDS: [RequestKind; 4] = [
    RequestKind::Mla,
    RequestKind::Preservation,
    RequestKind::TrafficDisclosure,
    RequestKind::EmergencyData,
];
const PEERS: [&str; 8] = ["FR", "NL", "IT", "ES", "BE", "PL", "SE", "AT"];
const OPEN_STATES: [&str; 5] = [
    "submitted",
    "acknowledged",
    "awaiting-information",
    "consulting",
    "preserved",
];
const FINISHED: [&str; 4] = ["executed", "refused", "withdrawn", "closed"];

fn seeded_row(i: usize) -> CaseRow {
    let created_at = time::macros::datetime!(2025-01-01 0:00 UTC)
        + time::Duration::seconds((i % 31_000_000) as i64);
    let open = i.is_multiple_of(100);
    let emergency = open && i.is_multiple_of(10_000);
    let state = if open {
        OPEN_STATES[(i / 100) % OPEN_STATES.len()]
    } else {
        FINISHED[i % FINISHED.len()]
    };
    CaseRow {
        id: format!("thr-inbox-{i:08}"),
        kind: if emergency {
            RequestKind::EmergencyData
        } else {
            KINDS[i % KINDS.len()]
        },
        direction: Direction::Incoming,
        counterpart: PEERS[i % PEERS.len()].parse::<StateCode>().unwrap(),
        side: "requested".to_owned(),
        state: if emergency { "submitted" } else { state }.to_owned(),
        urgency: if emergency {
            URGENCY_EMERGENCY
        } else {
            URGENCY_ROUTINE
        },
        open,
        overdue: open && i.is_multiple_of(700),
        next_due: open.then(|| created_at + time::Duration::days(30)),
        last_step_at: Some(created_at),
        created_at,
        allowed: if emergency {
            vec!["acknowledge".to_owned()]
        } else {
            Vec::new()
        },
        stale: false,
        figures: CaseFigures::default(),
    }
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let cases = env_usize("CUSTOS_BENCH_CASES", if full { 1_000_000 } else { 2_000 });
    let runs = env_usize("CUSTOS_BENCH_RUNS", if full { 200 } else { 5 });
    let net = NetworkBuilder::new(&["FR", "DE"]).build().await.unwrap();
    let de = net.node("DE");
    let started = Instant::now();
    let mut rows = Vec::with_capacity(10_000);
    for i in 0..cases {
        rows.push(seeded_row(i));
        if rows.len() == 10_000 {
            de.store.bulk_put_cases(&rows).await.unwrap();
            rows.clear();
        }
    }
    if !rows.is_empty() {
        de.store.bulk_put_cases(&rows).await.unwrap();
    }
    eprintln!(
        "seeded {cases} index rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // A duty officer signs in as at the desk.
    let operator = Actor::Cli {
        user: "operator".to_owned(),
    };
    let secrets = de
        .node
        .add_user(
            &operator,
            NewUser {
                name: "dana".to_owned(),
                display_name: None,
                email: None,
                // Every role, so that every main page is open to the bench.
                roles: Role::ALL.into_iter().collect(),
                password: Some("a long bench password".to_owned()),
            },
        )
        .await
        .unwrap();
    let key = data_encoding::BASE32_NOPAD
        .decode(secrets.second_factor.totp_secret.as_bytes())
        .unwrap();
    let code = format!(
        "{:06}",
        totp_code(&key, totp_step(de.now().unix_timestamp())).unwrap()
    );
    let session = de
        .node
        .sign_in("dana", "a long bench password", &code, "127.0.0.1")
        .await
        .unwrap()
        .session;
    let router = custos_desk::router().with_state(de.node.clone());

    println!("\nDesk pages with {cases} cases in the case index ({runs} runs each)");
    println!("| page | p50 | p99 | target (p99) | result |");
    println!("|---|---|---|---|---|");
    // The inbox's pages, then the other main pages (fewer runs: the
    // statistics page reads the whole year).
    let page_runs = env_usize("CUSTOS_BENCH_PAGE_RUNS", runs.min(20));
    // The year the rows are seeded in (`seeded_row`): the statistics count
    // all 1,000,000 of them.
    let statistics = "/desk/statistics?from=2025-01-01&to=2025-12-31";
    let pages: Vec<(&str, u64, usize)> = vec![
        ("/desk", 50, runs),
        ("/desk/inbox/list", 50, runs),
        ("/desk?show=all&page=3", 50, runs),
        ("/desk?state=consulting&kind=mla", 50, runs),
        ("/desk/inbox/emergencies", 100, runs),
        ("/desk/compose", 100, page_runs),
        ("/desk/compose?kind=mla&to=FR", 100, page_runs),
        ("/desk/drafts", 100, page_runs),
        ("/desk/ledger", 100, page_runs),
        (statistics, 100, page_runs),
        ("/desk/audit", 100, page_runs),
        ("/desk/personal-data", 100, page_runs),
        ("/desk/users", 100, page_runs),
        ("/desk/rota", 100, page_runs),
        ("/desk/alerts", 100, page_runs),
    ];
    for (path, target, runs) in pages {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let request = Request::get(path)
                .header(header::HOST, "localhost")
                .header(header::COOKIE, format!("custos_session={session}"))
                .body(Body::empty())
                .unwrap();
            let started = Instant::now();
            let response = router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1 << 22)
                .await
                .unwrap();
            times.push(started.elapsed());
            assert!(!body.is_empty());
            assert!(
                status.is_success(),
                "{path} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        times.sort();
        let p50 = times[times.len() / 2];
        let p99 = times[(times.len() * 99).div_ceil(100).saturating_sub(1)];
        let target = Duration::from_millis(target);
        println!(
            "| `{path}` ({runs} runs) | {} | {} | ≤ {} | {} |",
            ms(p50),
            ms(p99),
            ms(target),
            if p99 <= target { "met" } else { "missed" }
        );
    }
}
