//! The desk's pages: the inbox's first load in headless Chromium with a
//! cold cache (a fresh browser profile given a session cookie, so that the
//! style sheet and scripts are fetched too), and every main page's server
//! time (the time to the whole answer on loopback, many requests one after
//! another with the session cookie), as p50 and p99.
//!
//! Run: `cargo bench -p custos-cli --bench desk_pages`; the cases stored
//! are `CUSTOS_BENCH_DESK_CASES` (default 20) requests received from
//! another node. Targets: first load at most 1 s, every page's p99 at most
//! 100 ms (the inbox's at most 50 ms). Prints figures and PASS/MISS;
//! asserts nothing. Needs Debian's chromium and chromium-driver.

#[path = "../tests/it/common/mod.rs"]
#[allow(dead_code, unused_imports, clippy::all)]
mod common;

use std::time::{Duration, Instant};

use common::browser::Browser;
use common::{Network, draft};
use custos_model::RequestKind;
use custos_testkit::bench::percentile;

/// The desk's main pages measured.
const PAGES: &[(&str, &str)] = &[
    ("inbox", "/desk"),
    ("inbox list (htmx)", "/desk/inbox/list"),
    ("ledger", "/desk/ledger"),
    ("ledger verify (htmx)", "/desk/ledger/verify"),
    (
        "statistics",
        "/desk/statistics?from=2000-01-01&to=2099-12-31",
    ),
    ("audit", "/desk/audit"),
    ("personal data", "/desk/personal-data"),
    ("users", "/desk/users"),
    ("rota", "/desk/rota"),
    ("alerts", "/desk/alerts"),
];

const REQUESTS_PER_PAGE: usize = 200;
const COLD_LOADS: usize = 5;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let cases: usize = std::env::var("CUSTOS_BENCH_DESK_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let net = Network::start(&["FR", "DE"]);
    let chief = net.add_person(
        "DE",
        "chief",
        "duty-officer,caseworker,executing-authority,data-protection-officer,auditor,administrator",
    );
    let kinds = [
        RequestKind::Preservation,
        RequestKind::EmergencyData,
        RequestKind::Mla,
        RequestKind::StoredData,
    ];
    for i in 0..cases {
        net.send("FR", &draft(kinds[i % kinds.len()], "FR", "DE"), &[]);
    }
    let Some(browser) = Browser::start(&net.url("DE"), "en") else {
        eprintln!("desk_pages: no browser; nothing measured");
        return;
    };
    browser.sign_in(&chief);
    let session = browser
        .block_on(browser.client.get_named_cookie("custos_session"))
        .expect("the session cookie")
        .value()
        .to_owned();

    println!("desk pages, {cases} cases stored, loopback");
    println!();
    println!("first load of the inbox, cold cache ({COLD_LOADS} fresh browsers):");
    let mut loads = Vec::new();
    for _ in 0..COLD_LOADS {
        let Some(cold) = Browser::start(&net.url("DE"), "en") else {
            return;
        };
        // A page of the origin that loads nothing, to set the cookie on
        // (without the version query the pages use: another cache entry).
        cold.goto("/desk/assets/desk.js");
        // The session as a plain cookie (the server reads it the same).
        cold.eval(
            "document.cookie = 'custos_session=' + arguments[0] + '; path=/desk; SameSite=Strict'",
            vec![serde_json::Value::String(session.clone())],
        );
        cold.goto("/desk");
        let v = cold.eval(
            "const n = performance.getEntriesByType('navigation')[0];\
             const r = performance.getEntriesByType('resource');\
             return [n.loadEventEnd, r.length, r.filter(e => e.transferSize > 0).length,\
               r.reduce((s, e) => s + e.transferSize, n.transferSize)];",
            vec![],
        );
        let load = v[0].as_f64().unwrap_or(f64::NAN);
        println!(
            "  load {load:.0} ms, {} resources ({} fetched), {} bytes transferred",
            v[1], v[2], v[3]
        );
        loads.push(load);
    }
    loads.sort_by(f64::total_cmp);
    let worst = loads.last().copied().unwrap_or(f64::NAN);
    println!(
        "  median {:.0} ms, worst {worst:.0} ms (target <= 1000 ms): {}",
        loads[loads.len() / 2],
        if worst <= 1000.0 { "PASS" } else { "MISS" }
    );

    println!();
    println!("server time per page ({REQUESTS_PER_PAGE} requests each, one at a time):");
    println!("| page | p50 (ms) | p99 (ms) | target p99 (ms) | bytes | |");
    println!("|---|---:|---:|---:|---:|---|");
    let client = reqwest::Client::new();
    let base = net.url("DE");
    for (name, path) in PAGES {
        let url = format!("{base}{path}");
        let mut times = Vec::with_capacity(REQUESTS_PER_PAGE);
        let mut bytes = 0;
        for _ in 0..REQUESTS_PER_PAGE {
            let start = Instant::now();
            let body = browser.block_on(async {
                let r = client
                    .get(&url)
                    .header("cookie", format!("custos_session={session}"))
                    .send()
                    .await
                    .expect("the page answers");
                assert!(r.status().is_success(), "{path}: {}", r.status());
                r.bytes().await.expect("the page's body")
            });
            times.push(start.elapsed());
            bytes = body.len();
        }
        times.sort();
        let target = if path.starts_with("/desk/inbox") || *path == "/desk" {
            50.0
        } else {
            100.0
        };
        let p99 = ms(percentile(&times, 0.99));
        println!(
            "| {name} | {:.1} | {p99:.1} | {target:.0} | {bytes} | {} |",
            ms(percentile(&times, 0.5)),
            if p99 <= target { "PASS" } else { "MISS" }
        );
    }
}
