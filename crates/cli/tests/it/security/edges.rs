//! A peer or client that races an operator's change, holds the server's
//! resources, or finds the node in a bad state: a revocation imported while
//! the revoked key keeps sending, headers sent one byte at a time, hundreds
//! of idle connections from one address, a disk below its reserve, and a
//! database rolled back behind the checkpoint the node already signed.
//!
//! Every case runs against real `custos serve` processes. Raw connections
//! are made with the standard library (and tokio's socket, to pick the
//! source address), so the test controls every byte and every timing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use custos_model::RequestKind;
use custos_protocol::{ErrorCode, Message, new_thread_id};
use custos_seal::{EncryptionRecipient, Envelope, SigningKey};
use serde_json::Value;
use time::OffsetDateTime;

use crate::common::{Network, Sent, draft, state, wait_until};

/// The deadline for anything the nodes do on their own.
const DEADLINE: Duration = Duration::from_secs(30);

#[expect(
    clippy::disallowed_methods,
    reason = "the nodes under test run on the system clock, so messages made here must carry its time"
)]
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// A valid `submit` from `from` to `to` created at `at`, in a new thread.
fn submit(from: &str, to: &str, at: OffsetDateTime) -> Message {
    Message::submit(
        state(from),
        state(to),
        new_thread_id(uuid::Uuid::new_v4()),
        None,
        at,
        draft(RequestKind::Preservation, from, to),
    )
}

/// Signs `message` with `key` and encrypts it to `recipients`, as a peer would.
fn seal(message: &Message, key: &SigningKey, recipients: &[EncryptionRecipient]) -> Vec<u8> {
    let payload = message.to_canonical_json().expect("canonical JSON");
    let envelope = Envelope::sign(message.kind.payload_type(), &payload, key);
    custos_seal::encrypt(&envelope.to_json(), recipients).expect("encrypts")
}

/// The current encryption keys of `to` in the directory published last.
fn recipients(net: &Network, to: &str) -> Vec<EncryptionRecipient> {
    let t = now();
    let r = net.directory(t).current_recipients(state(to), t);
    assert!(!r.is_empty(), "{to} has an encryption key in the directory");
    r
}

/// The node's address, from its URL.
fn addr(net: &Network, cc: &str) -> SocketAddr {
    net.url(cc)
        .trim_start_matches("http://")
        .parse()
        .expect("a loopback address")
}

/// Posts `body` to the node's federation endpoint over a fresh connection
/// (standard library only, so it can run on any thread); returns the status
/// and the JSON body.
fn raw_post(to: SocketAddr, body: &[u8]) -> (u16, Value) {
    let mut s = TcpStream::connect(to).expect("the node accepts a connection");
    s.set_read_timeout(Some(DEADLINE)).expect("a read timeout");
    let head = format!(
        "POST /federation/v1/messages HTTP/1.1\r\nHost: {to}\r\nContent-Type: application/octet-stream\r\ncustos-from: FR\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("the head is sent");
    s.write_all(body).expect("the body is sent");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).expect("the answer is read");
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP status line: {text:?}"));
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

/// Adds `line` to section `[section]` of the node's `custos.toml` (the node must be stopped).
fn configure(dir: &Path, section: &str, line: &str) {
    let path = dir.join("custos.toml");
    let text = std::fs::read_to_string(&path).expect("custos.toml reads");
    let header = format!("[{section}]\n");
    let text = if text.contains(&header) {
        text.replacen(&header, &format!("{header}{line}\n"), 1)
    } else {
        format!("{text}\n{header}{line}\n")
    };
    std::fs::write(&path, text).expect("custos.toml is written");
}

/// The value of a gauge on the node's `/metrics`.
fn gauge(net: &Network, cc: &str, name: &str) -> String {
    let text = net.metrics(cc);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} on /metrics:\n{text}"))
        .to_owned()
}

/// One post of the sending loop: when it started and ended (relative to the
/// loop's start), and what the node answered.
#[derive(Debug)]
struct Post {
    started: Duration,
    ended: Duration,
    status: u16,
    code: String,
}

#[test]
fn a_revocation_is_in_force_when_its_import_returns() {
    let mut net = Network::start(&["FR", "DE"]);
    let fr_dir = net.dir("FR").display().to_string();
    let de_dir = net.dir("DE").display().to_string();
    let old_key = net.signing_key("FR");
    let old_id = old_key.key_id();
    let signed_before_rotation = now();
    net.run_ok(&["keys", "rotate", "--data", &fr_dir]);
    net.publish_directory(2);
    let to_de = recipients(&net, "DE");

    // FR's old key, rotated but not revoked, keeps sending what it signed
    // before the rotation, as fast as DE answers.
    let de = addr(&net, "DE");
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let origin = Instant::now();
    let sender = {
        let stop = Arc::clone(&stop);
        let answered = Arc::clone(&answered);
        let old_key = old_key.clone();
        std::thread::spawn(move || {
            let mut posts = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let body = seal(
                    &submit("FR", "DE", signed_before_rotation),
                    &old_key,
                    &to_de,
                );
                let started = origin.elapsed();
                let (status, json) = raw_post(de, &body);
                posts.push(Post {
                    started,
                    ended: origin.elapsed(),
                    status,
                    code: json["error"]["code"].as_str().unwrap_or("").to_owned(),
                });
                answered.fetch_add(1, Ordering::SeqCst);
            }
            posts
        })
    };
    wait_until(
        DEADLINE,
        "the old key's messages are being answered",
        || answered.load(Ordering::SeqCst) >= 3,
    );

    // Revoke the old key and import the directory that says so into DE.
    net.run_ok(&["keys", "revoke", &old_id, "--data", &fr_dir]);
    let signed = net.sign_directory(3);
    let import_started = origin.elapsed();
    let out = net.run_ok(&[
        "directory",
        "import",
        signed.to_str().expect("a UTF-8 path"),
        "--data",
        &de_dir,
    ]);
    let import_returned = origin.elapsed();
    assert!(out.contains("Imported directory version 3"), "{out}");
    let at_import = answered.load(Ordering::SeqCst);
    wait_until(DEADLINE, "the loop sends on after the import", || {
        answered.load(Ordering::SeqCst) >= at_import + 20
    });
    stop.store(true, Ordering::SeqCst);
    let posts = sender.join().expect("the sending loop ends");

    let before: Vec<&Post> = posts.iter().filter(|p| p.ended < import_started).collect();
    let after: Vec<&Post> = posts
        .iter()
        .filter(|p| p.started >= import_returned)
        .collect();
    assert!(
        before.iter().any(|p| p.status == 200),
        "the old key was accepted before the revocation: {before:?}"
    );
    assert!(
        after.len() >= 10,
        "the loop kept sending after the import: {} posts",
        after.len()
    );
    let accepted_after: Vec<&&Post> = after.iter().filter(|p| p.status == 200).collect();
    assert!(
        accepted_after.is_empty(),
        "{} of {} messages sent after the import returned were accepted: {accepted_after:?}",
        accepted_after.len(),
        after.len()
    );
    for p in &after {
        assert_eq!(
            (p.status, p.code.as_str()),
            (403, ErrorCode::KeyRevoked.as_str()),
            "{p:?}"
        );
    }
}

#[test]
fn a_node_behind_its_signed_checkpoint_refuses_with_503_until_repaired() {
    let mut net = Network::start(&["FR", "DE"]);
    let de_dir = net.dir("DE");
    let fr_key = net.signing_key("FR");
    let first = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
    wait_until(DEADLINE, "the first request is delivered", || {
        delivered(&net, &first)
    });

    // An earlier copy of DE's database, taken while it is stopped.
    net.stop("DE");
    let early = net.scratch("de-early");
    copy_database(&de_dir, &early);
    net.start_node("DE");
    for _ in 0..3 {
        let sent = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
        wait_until(DEADLINE, "a later request is delivered", || {
            delivered(&net, &sent)
        });
    }
    net.stop("DE");
    let current = net.scratch("de-current");
    copy_database(&de_dir, &current);

    // Roll the database back and start: the ledger is behind the checkpoint
    // DE signed, so DE refuses, hands out no receipt and stores nothing.
    copy_database(&early, &de_dir);
    net.start_node("DE");
    let to_de = recipients(&net, "DE");
    let message = submit("FR", "DE", now());
    let body = seal(&message, &fr_key, &to_de);
    let answer = net.post_message("DE", body.clone());
    assert_eq!(
        (answer.status, answer.code()),
        (503, Some(ErrorCode::CustodyUnavailable.as_str())),
        "a rolled-back node refuses: {} {}",
        answer.status,
        answer.json
    );
    assert!(
        answer.json["receipt"].is_null(),
        "no receipt: {}",
        answer.json
    );
    assert_eq!(gauge(&net, "DE", "custos_custody_unavailable"), "1");
    assert!(
        net.log("DE").contains("custody ledger unavailable"),
        "the log says why:\n{}",
        net.log("DE")
    );
    assert_refused_unstored(&net, "DE", "custody-unavailable", &message.thread);

    // Repaired (the current copy restored), DE accepts the same message.
    net.stop("DE");
    copy_database(&current, &de_dir);
    net.start_node("DE");
    let answer = net.post_message("DE", body);
    assert_eq!(
        answer.status, 200,
        "the repaired node accepts: {}",
        answer.json
    );
    assert!(answer.json["receipt"].is_object(), "{}", answer.json);
    assert_eq!(gauge(&net, "DE", "custos_custody_unavailable"), "0");
}

/// Whether FR holds a verified receipt for `sent`.
fn delivered(net: &Network, sent: &Sent) -> bool {
    net.show("FR", &sent.id)["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|m| m["id"] == sent.message_id.as_str() && m["receipt"] == true)
}

/// Copies a stopped node's SQLite files (`custos.db` and, where present,
/// its `-wal` and `-shm`) from `from` to `to`, removing those `from` lacks.
fn copy_database(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("the copy's folder");
    for name in ["custos.db", "custos.db-wal", "custos.db-shm"] {
        let source = from.join(name);
        let target = to.join(name);
        if source.exists() {
            std::fs::copy(&source, &target).expect("a database file copies");
        } else if target.exists() {
            std::fs::remove_file(&target).expect("a stale database file is removed");
        }
    }
}

#[test]
fn headers_sent_one_byte_every_two_seconds_are_cut_off() {
    let mut net = Network::start(&["DE"]);
    net.stop("DE");
    configure(&net.dir("DE"), "http", "header_timeout_secs = 3");
    net.start_node("DE");

    let mut s = TcpStream::connect(addr(&net, "DE")).expect("a connection");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("a read timeout");
    let head = b"POST /federation/v1/messages HTTP/1.1\r\nHost: de\r\nX-Slow: aaaaaaaaaaaaaaaa\r\n";
    let started = Instant::now();
    let mut closed_after = None;
    for byte in head {
        if s.write_all(&[*byte]).is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            // The server closed the connection (possibly after a short answer).
            Ok(_) => {
                closed_after = Some(started.elapsed());
                break;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                closed_after = Some(started.elapsed());
                break;
            }
        }
    }
    let closed_after = closed_after.unwrap_or_else(|| {
        panic!(
            "the connection was still open after {:?} of headers sent one byte every 2 s",
            started.elapsed()
        )
    });
    assert!(
        closed_after < Duration::from_secs(20),
        "closed only after {closed_after:?}"
    );
    // The node serves others as before (on a new connection: the harness's
    // pooled one has been idle for longer than the header timeout too).
    let mut other = TcpStream::connect(addr(&net, "DE")).expect("a connection");
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: de\r\nConnection: close\r\n\r\n")
        .expect("a request is sent");
    let mut answer = String::new();
    other
        .read_to_string(&mut answer)
        .expect("the answer is read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn two_hundred_idle_connections_from_one_address_leave_the_node_answering() {
    let net = Network::start(&["DE"]);
    let de = addr(&net, "DE");
    let limit = 128;
    // 200 connections from 127.0.0.2 that never send a byte.
    let idle: Vec<tokio::net::TcpStream> = net.block_on(async {
        let mut held = Vec::new();
        for _ in 0..200 {
            let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
            socket
                .bind(SocketAddr::from(([127, 0, 0, 2], 0)))
                .expect("binds to 127.0.0.2");
            held.push(socket.connect(de).await.expect("connects"));
        }
        held
    });
    // Another address is answered at once.
    let started = Instant::now();
    let health = net.http("GET", "DE", "/healthz", Vec::new());
    assert_eq!(health.status, 200);
    assert!(
        started.elapsed() < DEADLINE,
        "/healthz took {:?}",
        started.elapsed()
    );
    // The server closed every connection over the per-address limit.
    let closed = net.block_on(async {
        let mut closed = 0;
        for stream in &idle {
            let mut buf = [0u8; 16];
            let read = tokio::time::timeout(Duration::from_millis(200), async {
                loop {
                    stream.readable().await?;
                    match stream.try_read(&mut buf) {
                        Ok(n) => return Ok::<usize, std::io::Error>(n),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                        Err(e) => return Err(e),
                    }
                }
            })
            .await;
            // EOF or a reset: closed by the server. A timeout: still open.
            if matches!(read, Ok(Ok(0)) | Ok(Err(_))) {
                closed += 1;
            }
        }
        closed
    });
    assert!(
        closed >= 200 - limit,
        "only {closed} of 200 idle connections from one address were closed (limit {limit})"
    );
}

#[test]
fn a_disk_below_the_reserve_refuses_messages_with_507_and_records_it() {
    let mut net = Network::start(&["FR", "DE"]);
    net.stop("DE");
    // A reserve larger than any disk: the free space is always below it.
    configure(
        &net.dir("DE"),
        "storage",
        "reserve_bytes = 1152921504606846976",
    );
    net.start_node("DE");
    let message = submit("FR", "DE", now());
    let body = seal(&message, &net.signing_key("FR"), &recipients(&net, "DE"));
    let answer = net.post_message("DE", body);
    assert_eq!(
        (answer.status, answer.code()),
        (507, Some(ErrorCode::InsufficientStorage.as_str())),
        "{}",
        answer.json
    );
    assert!(
        answer.json["receipt"].is_null(),
        "no receipt: {}",
        answer.json
    );
    assert_refused_unstored(&net, "DE", "insufficient-storage", &message.thread);
}

#[test]
fn a_message_queued_before_its_key_was_revoked_is_delivered_signed_again() {
    let mut net = Network::start(&["FR", "DE"]);
    let fr_dir = net.dir("FR").display().to_string();
    let old_id = net.signing_key("FR").key_id();
    // Queued while DE is down, signed with FR's first key.
    net.stop("DE");
    let sent = net.send(
        "FR",
        &draft(RequestKind::Preservation, "FR", "DE"),
        &["--queue-only"],
    );
    // FR rotates, revokes the key that signed the queued message, and
    // publishes that; then DE comes back.
    net.run_ok(&["keys", "rotate", "--data", &fr_dir]);
    let new_id = net.signing_key("FR").key_id();
    net.run_ok(&["keys", "revoke", &old_id, "--data", &fr_dir]);
    net.publish_directory(2);
    net.start_node("DE");

    wait_until(
        Duration::from_secs(90),
        "the queued message is delivered",
        || delivered(&net, &sent),
    );
    // DE holds the same message (same id), signed with FR's current key.
    let de_store = net.store("DE");
    let held = net
        .block_on(de_store.get_message(&sent.message_id))
        .expect("DE's store reads")
        .expect("DE holds the message under its id");
    let envelope =
        Envelope::from_json(&net.stored_envelope("DE", &held)).expect("the stored envelope parses");
    assert_eq!(envelope.signatures[0].keyid, new_id);
    net.block_on(de_store.close());
    assert!(
        net.outbox("FR")
            .iter()
            .any(|r| r.message_id == sent.message_id && r.state == "delivered"),
        "FR's outbox shows it delivered"
    );
    // FR's custody ledger records the re-signing, with the new key's id.
    let fr_store = net.store("FR");
    let entries = net
        .block_on(fr_store.ledger_entries(0, 1000))
        .expect("FR's ledger reads");
    net.block_on(fr_store.close());
    let resigned: Vec<Value> = entries
        .iter()
        .filter_map(|e| serde_json::from_slice::<Value>(&e.entry).ok())
        .filter(|e| e["kind"] == "message-resigned")
        .collect();
    assert_eq!(resigned.len(), 1, "one re-signing recorded: {resigned:?}");
    assert_eq!(resigned[0]["subject"], sent.message_id.as_str());
    assert_eq!(resigned[0]["detail"]["signed_by"], new_id.as_str());
    assert_eq!(resigned[0]["detail"]["replaces_key"], old_id.as_str());
}

#[test]
fn a_message_body_sent_one_byte_every_two_seconds_is_cut_off_at_its_deadline() {
    let net = Network::start(&["DE"]);
    let mut s = TcpStream::connect(addr(&net, "DE")).expect("a connection");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("a read timeout");
    s.write_all(
        b"POST /federation/v1/messages HTTP/1.1\r\nHost: de\r\nContent-Type: application/octet-stream\r\nContent-Length: 4096\r\n\r\n",
    )
    .expect("the head is sent");
    let started = Instant::now();
    let mut answer = Vec::new();
    // 4096 bytes at one every 2 s would take over two hours.
    while started.elapsed() < Duration::from_secs(90) {
        if s.write_all(b"x").is_err() {
            break;
        }
        let mut buf = [0u8; 1024];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                break;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(60),
        "the body was still being read after {elapsed:?}"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(
        !text.starts_with("HTTP/1.1 200"),
        "a cut-off body is not accepted: {text}"
    );
}

/// `cc` recorded a refusal with `code`, and stored nothing of the refused
/// message's thread.
fn assert_refused_unstored(net: &Network, cc: &str, code: &str, thread: &str) {
    let refusals = net.refusals(cc);
    assert!(
        refusals.contains(code),
        "the refusal is recorded:\n{refusals}"
    );
    let store = net.store(cc);
    assert!(
        net.block_on(store.get_request(thread))
            .expect("the store reads")
            .is_none(),
        "nothing of the refused message is stored"
    );
    net.block_on(store.close());
}
