//! Alert latency benchmark: from the moment an emergency request reaches a
//! node to the moment a real SMTP server accepts the alert mail to the
//! person on duty. It prints figures; it asserts nothing about speed.
//!
//! Two nodes of the test kit (France and Germany, SQLite files on disk).
//! Germany's rota has a duty officer on shift; its alerts go by mail to
//! Python's `aiosmtpd` on loopback (`crates/testkit/smtp_sink.py`, which
//! names each mail on its standard output the moment it accepts it).
//! Germany runs its background workers, the alert delivery worker among
//! them. For each of `CUSTOS_BENCH_ALERTS` emergency requests (default
//! 100), France queues the request and the clock starts when its bytes are
//! posted to Germany's federation route (so intake, storage and the custody
//! ledger are inside the figure); it stops when the SMTP server says it
//! accepted the alert's mail. Beside it, the reference: the time a bare
//! `lettre` send of a mail of the same size takes to the same server.
//!
//! Target (issue 17): p99 at most 2 s, p50 well under.
//!
//! Run it with `cargo bench -p custos-node --bench alerts`. Started without
//! `--bench` (by `cargo test --benches`), it makes a quick run of 5. Without
//! aiosmtpd it says so and measures nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that fails to set up has nothing to measure

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use custos_model::{RequestKind, template, validate};
use custos_node::Actor;
use custos_node::app::alert_channels::smtp_transport;
use custos_node::app::{AlertSettings, NewUser, Role, ShiftInput, SmtpSecurity, SmtpSettings};
use custos_testkit::bench::{ms, percentile};
use custos_testkit::{AT, Network};
use lettre::AsyncTransport;

/// Starts the SMTP server; each accepted mail is a message on the channel.
fn smtp_server(port: u16, folder: &Path) -> Option<(std::process::Child, mpsc::Receiver<Instant>)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testkit/smtp_sink.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(folder)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut out = std::io::BufReader::new(child.stdout.take()?);
    let mut line = String::new();
    out.read_line(&mut line).ok()?;
    if line.trim() != "ready" {
        let _ = child.kill();
        return None;
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines() {
            let Ok(line) = line else { return };
            if line.starts_with("accepted ") && tx.send(Instant::now()).is_err() {
                return;
            }
        }
    });
    Some((child, rx))
}

fn emergency_draft() -> serde_json::Value {
    let mut d = validate::parse(&template::render(RequestKind::EmergencyData)).unwrap();
    d["requesting_state"] = "FR".into();
    d["requested_state"] = "DE".into();
    d
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("CUSTOS_BENCH_ALERTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 5 } else { 100 });
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("alerts bench: SKIPPED, Python's aiosmtpd is missing (pip install aiosmtpd)");
        return;
    }
    let folder = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (mut child, accepted) = smtp_server(port, folder.path()).expect("the SMTP server starts");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let net = Network::in_process(&["FR", "DE"]).await.unwrap();
        let de = net.node("DE");
        let smtp = SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            security: SmtpSecurity::Plain,
            username: None,
            password: None,
            from: "Custos DE <custos@de.example>".into(),
            timeout: Duration::from_secs(10),
        };
        de.node.configure_alerts(AlertSettings {
            public_url: "https://custos.de.example".into(),
            smtp: Some(smtp.clone()),
            escalate_after: time::Duration::hours(1),
            ..AlertSettings::default()
        });
        let admin = Actor::Cli { user: "bench".into() };
        // The rota names users of the node.
        for name in ["ana", "bo"] {
            de.node
                .add_user(
                    &admin,
                    NewUser {
                        name: name.into(),
                        roles: [Role::DutyOfficer].into_iter().collect(),
                        email: Some(format!("{name}@de.example")),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
        }
        let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
        de.node
            .add_shift(
                &admin,
                &ShiftInput {
                    role: Role::DutyOfficer,
                    person: "ana".into(),
                    email: Some("ana@de.example".into()),
                    deputy: "bo".into(),
                    deputy_email: Some("bo@de.example".into()),
                    starts: format!("{} UTC", (AT - time::Duration::hours(1)).format(&f).unwrap()),
                    ends: format!("{} UTC", (AT + time::Duration::days(1)).format(&f).unwrap()),
                },
            )
            .await
            .unwrap();
        let workers = de.node.start_workers(Duration::from_secs(3600));
        let fr = net.node("FR");
        let officer = Actor::Cli { user: "officer".into() };

        // The system under test: request posted -> mail accepted.
        let mut latencies = Vec::with_capacity(n);
        for _ in 0..n {
            let sent = fr.node.submit(emergency_draft(), &officer).await.unwrap();
            let started = Instant::now();
            let reply = net.carry("FR", &sent.message_id, "DE").await.unwrap();
            assert!(reply.status.is_success(), "DE refused the request");
            let at = tokio::task::block_in_place(|| accepted.recv_timeout(Duration::from_secs(30)))
                .expect("the alert mail arrives");
            latencies.push(at - started);
        }

        // The reference: a bare lettre send of a mail of the same kind.
        let transport = smtp_transport(&smtp).unwrap();
        let mut bare = Vec::with_capacity(n);
        for i in 0..n {
            let mail = lettre::Message::builder()
                .from("Custos DE <custos@de.example>".parse().unwrap())
                .to("ana@de.example".parse().unwrap())
                .subject(format!("[Custos DE] Emergency request received: FR (emergency) {i}"))
                .body("Emergency request received.\n\nCounterpart State: FR\nUrgency: emergency\nOpen: https://custos.de.example/cases/x\n".to_owned())
                .unwrap();
            let started = Instant::now();
            transport.send(mail).await.unwrap();
            let at = tokio::task::block_in_place(|| accepted.recv_timeout(Duration::from_secs(30)))
                .expect("the mail arrives");
            bare.push(at - started);
        }
        workers.shutdown().await;
        net.stop().await;

        latencies.sort();
        bare.sort();
        println!("alerts bench: {n} emergency requests, SQLite, mail to aiosmtpd on loopback");
        println!(
            "  request posted -> alert mail accepted: p50 {}  p99 {}  max {}  (target p99 <= 2000 ms: {})",
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
            ms(*latencies.last().unwrap()),
            if percentile(&latencies, 0.99) <= Duration::from_secs(2) { "PASS" } else { "MISS" }
        );
        println!(
            "  reference, a bare lettre send:        p50 {}  p99 {}",
            ms(percentile(&bare, 0.5)),
            ms(percentile(&bare, 0.99))
        );
    });
    let _ = child.kill();
    let _ = child.wait();
}
