//! The node as the Debian package installs it: the systemd unit's
//! `ExecStart` command line, read from `packaging/custos.service` and run as
//! written (the binary under test for `/usr/bin/custos`, a scratch node made
//! by `custos init` for `/var/lib/custos`, the unit's `Environment=`), must
//! serve a node that answers `/readyz`, logs its start once and one JSON
//! line per arriving message; and `custos --version` names the formats.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use custos_model::RequestKind;
use serde_json::Value;

use crate::common::{Network, draft, wait_until};

const UNIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../packaging/custos.service"
);
/// Where the package installs the binary (crates/cli/Cargo.toml, `[package.metadata.deb]`).
const INSTALLED_BINARY: &str = "/usr/bin/custos";
/// The data folder systemd makes for `StateDirectory=custos`.
const STATE_DIRECTORY: &str = "/var/lib/custos";

/// The unit's `[Service]` settings, each key with its values in order.
fn service_section(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut section = "";
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            section = line;
            continue;
        }
        if section == "[Service]" {
            let (key, value) = line.split_once('=').expect("a key=value line");
            out.entry(key.to_owned())
                .or_default()
                .push(value.to_owned());
        }
    }
    out
}

/// Kills the node when the test ends, passed or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_units_exec_start_serves_a_ready_node_that_logs_each_arrival() {
    let text = std::fs::read_to_string(UNIT).expect("the unit file");
    let service = service_section(&text);
    let one = |key: &str| -> &str {
        let values = service
            .get(key)
            .unwrap_or_else(|| panic!("the unit sets {key}"));
        assert_eq!(values.len(), 1, "{key} is set once");
        &values[0]
    };
    // The hardening the package promises.
    for (key, value) in [
        ("User", "custos"),
        ("StateDirectory", "custos"),
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("ProtectHome", "yes"),
    ] {
        assert_eq!(one(key), value, "{key}");
    }

    // The command line as written: plain words, no quoting or variables
    // this test would have to interpret differently from systemd.
    let exec = one("ExecStart");
    assert!(
        !exec.contains(['"', '\'', '$', '%', '\\']),
        "ExecStart uses quoting or specifiers this test does not run: {exec}"
    );
    let words: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(words[0], INSTALLED_BINARY, "{exec}");
    assert!(words.contains(&STATE_DIRECTORY), "{exec}");

    let mut net = Network::offline(&["FR", "DE"]);
    let data = net.dir("FR");
    let port = net.url("FR").rsplit(':').next().unwrap().to_owned();
    let mut cmd = net.custos_command();
    cmd.args(words[1..].iter().map(|w| {
        if *w == STATE_DIRECTORY {
            data.as_os_str().to_owned()
        } else {
            w.into()
        }
    }));
    for assignment in service.get("Environment").into_iter().flatten() {
        let (k, v) = assignment.split_once('=').expect("Environment=KEY=VALUE");
        cmd.env(k, v);
    }
    // What an administrator puts in an override (systemctl edit custos):
    // the node's address; the test's port stands for the default 7700.
    cmd.env("CUSTOS_HTTP_LISTEN", format!("127.0.0.1:{port}"));
    let log_path = data.join("service.log");
    let log = std::fs::File::create(&log_path).expect("the log file");
    cmd.stdout(log.try_clone().expect("the log handle"))
        .stderr(log);
    let _node = Running(cmd.spawn().expect("the unit's command starts"));

    // Ready: every check passed (store, keys, directory, ledger, disk).
    let ready = wait_ready(&format!("127.0.0.1:{port}"), &log_path);
    assert_eq!(ready["ready"], true, "{ready}");

    // A request from Germany arrives: one log line with its kind,
    // counterpart and urgency, no content.
    net.start_node("DE");
    let mut request = draft(RequestKind::Preservation, "DE", "FR");
    request["urgency"] = serde_json::json!("urgent");
    request["facts"] = serde_json::json!("SERVICE-FACTS-7701 servers abroad");
    let sent = net.send("DE", &request, &[]);
    assert_eq!(sent.delivery, "delivered", "{:?}", sent.last_error);
    let lines = || -> Vec<Value> {
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {l}"))
            })
            .collect()
    };
    wait_until(Duration::from_secs(20), "the arrival is logged", || {
        lines().iter().any(|l| l["message"] == "accepted a message")
    });
    let lines = lines();
    let arrival = lines
        .iter()
        .find(|l| l["message"] == "accepted a message")
        .expect("the arrival line");
    assert_eq!(arrival["kind"], "submit", "{arrival}");
    assert_eq!(arrival["from"], "DE", "{arrival}");
    assert_eq!(arrival["urgency"], "urgent", "{arrival}");
    assert_eq!(arrival["level"], "INFO", "{arrival}");
    let starts = lines
        .iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("serving on"))
        })
        .count();
    assert_eq!(starts, 1, "the start is logged once: {lines:?}");
    let whole = std::fs::read_to_string(&log_path).unwrap();
    assert!(!whole.contains("SERVICE-FACTS-7701"), "{whole}");
}

/// `GET /readyz` over a plain HTTP/1.1 connection: the status and body,
/// or `None` while nothing listens.
fn get_readyz(address: &str) -> Option<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET /readyz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let (_, body) = answer.split_once("\r\n\r\n")?;
    Some((status, body.to_owned()))
}

/// Polls `/readyz` until it answers 200; its answer.
fn wait_ready(address: &str, log: &Path) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = get_readyz(address);
        if let Some((200, body)) = &answer {
            return serde_json::from_str(body).expect("/readyz answers JSON");
        }
        assert!(
            Instant::now() < deadline,
            "{address}/readyz never answered 200 (last: {answer:?}); log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn version_names_the_schema_and_the_formats() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_custos"))
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .expect("custos runs");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("custos {}", env!("CARGO_PKG_VERSION")),
        "{text}"
    );
    let schema = custos_store::schema_version();
    assert!(
        lines.contains(&format!("database schema {schema}").as_str()),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "protocol {} (messages, receipts, directory)",
            custos_protocol::PROTOCOL_VERSION
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "evidence manifest {}",
            custos_protocol::evidence::MANIFEST_VERSION
        )),
        "{text}"
    );
    // The number is the newest migration's, the one a fresh database reaches.
    let newest = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../store/migrations/sqlite"
    ))
    .unwrap()
    .filter_map(|e| {
        e.unwrap()
            .file_name()
            .to_str()?
            .split('_')
            .next()?
            .parse::<i64>()
            .ok()
    })
    .max()
    .unwrap();
    assert_eq!(schema, newest);
}
