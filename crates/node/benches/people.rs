//! Sign-in and token-check benchmark: what a person's sign-in and each API
//! call's authentication cost. It prints figures; it asserts nothing about
//! speed.
//!
//! A node (SQLite file on disk, store defaults, the test kit's clock) holds
//! users added through `Node::add_user` and a token through
//! `Node::create_token`.
//!
//! 1. One sign-in (`Node::sign_in`: user read, Argon2id check with the OWASP
//!    parameters, TOTP check, session stored with its ledger entry), one
//!    after the other, the clock moved one TOTP step between them; p50 and
//!    p99 against the 150 ms target, beside a bare Argon2id hash of the same
//!    parameters (the floor).
//! 2. Twenty sign-ins at once (twenty users), the wall time and the
//!    process's peak resident memory (`VmHWM` of `/proc/self/status`)
//!    against 512 MiB; hashing is bounded to four at once.
//! 3. The token and role check of every API call (`Node::authenticate`
//!    then the role table's decision), p50 and p99 against 50 µs, beside the bare
//!    store read of a token by its hash.
//! 4. The whole of `Node::authorize` as every operation calls it: the
//!    decision and its row in the record of who saw what, with its ledger
//!    entry, written in one store transaction (no target of its own).
//!
//! Run it with `cargo bench -p custos-node --bench people`. Environment:
//! `CUSTOS_BENCH_SIGN_INS` (sequential sign-ins, default 40),
//! `CUSTOS_BENCH_CHECKS` (token checks, default 20,000). Started without
//! `--bench` (by `cargo test --benches`), it makes a quick smoke run.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that fails to set up has nothing to measure

/// The node runs in the `custos` binary, with this allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use argon2::password_hash::PasswordHasher;
use custos_node::app::secrets::{self, totp_code, totp_step};
use custos_node::app::{Actor, NewUser, Operation, Role, Roles, TokenRequest, UserSecrets};
use custos_testkit::NodeBuilder;
use custos_testkit::bench::{env_usize, micros, ms, percentile};

const PASSWORD: &str = "correct horse battery staple";

/// The process's peak resident memory so far, in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn code(secrets: &UserSecrets, unix: i64) -> String {
    let secret = data_encoding::BASE32_NOPAD
        .decode(secrets.second_factor.totp_secret.as_bytes())
        .unwrap();
    format!("{:06}", totp_code(&secret, totp_step(unix)).unwrap())
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sign_ins = if full {
        env_usize("CUSTOS_BENCH_SIGN_INS", 40)
    } else {
        3
    };
    let checks = if full {
        env_usize("CUSTOS_BENCH_CHECKS", 20_000)
    } else {
        200
    };
    let at_once = if full { 20 } else { 3 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(sign_ins, checks, at_once));
}

async fn run(sign_ins: usize, checks: usize, at_once: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let n = NodeBuilder::new("FR")
        .in_dir(tmp.path())
        .build()
        .await
        .unwrap();
    let operator = Actor::Cli {
        user: "bench".into(),
    };
    let rss_start = peak_rss_kib();

    // 0. The floor: a bare Argon2id hash with the node's parameters.
    let argon = secrets::argon2().unwrap();
    let mut bare = Vec::new();
    for _ in 0..sign_ins.min(20) {
        let salt = secrets::random::<16>().unwrap();
        let t = Instant::now();
        let _ = argon
            .hash_password_with_salt(PASSWORD.as_bytes(), &salt)
            .unwrap();
        bare.push(t.elapsed());
    }
    bare.sort();

    // 1. One sign-in after the other.
    let mut people = Vec::new();
    for i in 0..at_once {
        let added = n
            .node
            .add_user(
                &operator,
                NewUser {
                    name: format!("officer-{i}"),
                    roles: [Role::DutyOfficer].into_iter().collect(),
                    password: Some(PASSWORD.into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        people.push(added);
    }
    let mut one = Vec::new();
    for _ in 0..sign_ins {
        n.clock.advance(time::Duration::seconds(30));
        let c = code(&people[0], n.now().unix_timestamp());
        let t = Instant::now();
        n.node
            .sign_in("officer-0", PASSWORD, &c, "127.0.0.1")
            .await
            .unwrap();
        one.push(t.elapsed());
    }
    one.sort();

    // 2. Twenty at once.
    n.clock.advance(time::Duration::seconds(30));
    let now = n.now().unix_timestamp();
    let t = Instant::now();
    let attempts = people.iter().enumerate().map(|(i, p)| {
        let node = std::sync::Arc::clone(&n.node);
        let c = code(p, now);
        tokio::spawn(async move {
            node.sign_in(&format!("officer-{i}"), PASSWORD, &c, "127.0.0.1")
                .await
                .map(|_| ())
        })
    });
    let results = futures_util::future::join_all(attempts).await;
    let burst = t.elapsed();
    let ok = results
        .into_iter()
        .filter(|r| matches!(r, Ok(Ok(()))))
        .count();
    let rss_peak = peak_rss_kib();

    // 3. The token and role check of an API call.
    let scopes: Roles = [Role::DutyOfficer].into_iter().collect();
    let token = n
        .node
        .create_token(
            &operator,
            TokenRequest {
                user: "officer-0".into(),
                name: Some("desk".into()),
                scopes: Some(scopes),
                lifetime: None,
            },
        )
        .await
        .unwrap();
    let hash = custos_node::app::tokens::token_hash(&token.secret);
    let mut check = Vec::with_capacity(checks);
    let mut read = Vec::with_capacity(checks);
    for _ in 0..checks {
        let t = Instant::now();
        let actor = n.node.authenticate(&token.secret).await.unwrap().unwrap();
        let grant = custos_node::app::access::decide(&actor, Operation::ListCases);
        check.push(t.elapsed());
        assert_eq!(grant, custos_node::app::Grant::Allowed);
        let t = Instant::now();
        let _ = n.node.store().token_by_hash(&hash).await.unwrap().unwrap();
        read.push(t.elapsed());
    }
    check.sort();
    read.sort();
    // The whole of `authorize` besides: the decision and its row in the
    // record of who saw what with its ledger entry (a store transaction).
    let records = (checks / 10).max(100);
    let mut recorded = Vec::with_capacity(records);
    let actor = n.node.authenticate(&token.secret).await.unwrap().unwrap();
    for _ in 0..records {
        let t = Instant::now();
        n.node
            .authorize(&actor, Operation::ListCases, None)
            .await
            .unwrap();
        recorded.push(t.elapsed());
    }
    recorded.sort();

    println!("people benchmark (SQLite on disk, 2 worker threads)");
    println!();
    println!("| measure | figure | reference | target |");
    println!("|---|---|---|---|");
    println!(
        "| one sign-in (Argon2id + TOTP + session), p50 / p99 of {sign_ins} | {} / {} | bare Argon2id hash p50 {} | p99 ≤ 150 ms: {} |",
        ms(percentile(&one, 0.5)),
        ms(percentile(&one, 0.99)),
        ms(percentile(&bare, 0.5)),
        if percentile(&one, 0.99) <= Duration::from_millis(150) {
            "PASS"
        } else {
            "MISS"
        }
    );
    println!(
        "| {at_once} sign-ins at once: wall time, peak RSS | {}, {} MiB ({ok} signed in) | RSS before {} MiB | ≤ 512 MiB: {} |",
        ms(burst),
        rss_peak / 1024,
        rss_start / 1024,
        if rss_peak <= 512 * 1024 {
            "PASS"
        } else {
            "MISS"
        }
    );
    println!(
        "| token + role check per call, p50 / p99 of {checks} | {} / {} | bare token read p50 {} | p50 ≤ 50 µs: {} |",
        micros(percentile(&check, 0.5)),
        micros(percentile(&check, 0.99)),
        micros(percentile(&read, 0.5)),
        if percentile(&check, 0.5) <= Duration::from_micros(50) {
            "PASS"
        } else {
            "MISS"
        }
    );
    println!(
        "| the decision recorded (`authorize`: row and ledger entry), p50 / p99 of {records} | {} / {} | | (no target; the record of item 3) |",
        micros(percentile(&recorded, 0.5)),
        micros(percentile(&recorded, 0.99)),
    );
    n.close().await;
}
