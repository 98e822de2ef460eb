//! The federation test harness: a small network of real `custos` nodes on loopback.
//!
//! [`Network::start`] builds everything the way an operator would, with the
//! `custos` binary itself: a registry key, one data directory per State
//! (`custos init`), each State's signed entry pointing at a free port on
//! 127.0.0.1, a directory signed by the registry and imported by every node,
//! and one `custos serve` child process per node (its log in `serve.log` in
//! the node's directory). The tests then drive the nodes through the same
//! commands (`request send`, `request list`, `outbox list`, `refusals`, ...),
//! post raw bytes to a node's federation endpoint, or read a node's store.
//!
//! Waiting is always polling against a generous deadline, never a fixed
//! sleep. Every child process is killed when the [`Network`] is dropped,
//! also when a test panics; a failing test prints the tail of each log.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs::File;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use custos_model::{RequestKind, StateCode};
use custos_protocol::Directory;
use custos_seal::{SigningKey, VerifyingKey};
use custos_store::Store;
use serde_json::{Value, json};

pub mod browser;
mod forge;
mod people;

// The benches that include this module use neither.
#[allow(unused_imports)]
pub use custos_testkit::TempDatabase;
#[allow(unused_imports)]
pub use forge::{Forge, ForgedFile};
#[allow(unused_imports)]
pub use people::{Person, totp_now, totp_unused};

/// How long a node may take to answer `/healthz` after it was started.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long a node may take to exit after SIGTERM.
const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// Environment variables that would change what the child processes do.
const SCRUBBED_ENV: [&str; 10] = [
    "CUSTOS_DATA",
    "CUSTOS_DATABASE_URL",
    "CUSTOS_NODE_NAME",
    "CUSTOS_HTTP_LISTEN",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// One node of the network.
#[derive(Debug)]
pub struct TestNode {
    pub state: String,
    pub dir: PathBuf,
    pub port: u16,
    /// `http://127.0.0.1:<port>`, as published in the node's directory entry.
    pub url: String,
    child: Option<Child>,
}

/// What `custos request send --json` reported.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The request's id, which is also its thread id on both nodes.
    pub id: String,
    pub message_id: String,
    /// `pending`, `delivered` or `failed`, as the sending command saw it.
    pub delivery: String,
    pub last_error: Option<String>,
}

/// One line of `custos outbox list`.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub message_id: String,
    pub state: String,
    pub recipient: String,
    pub attempts: u32,
    /// The last attempt's error; empty when there was none.
    pub error: String,
}

/// An answer of a node's HTTP API.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: Value,
    pub bytes: Vec<u8>,
}

impl Answer {
    /// The signed receipt of an accepted message (DSSE JSON bytes).
    pub fn receipt(&self) -> Vec<u8> {
        serde_json::to_vec(&self.json["receipt"]).expect("JSON")
    }

    /// The stable error code of an error answer, if any.
    pub fn code(&self) -> Option<&str> {
        self.json["error"]["code"].as_str()
    }
}

/// A network of `custos` nodes on loopback, torn down on drop.
#[derive(Debug)]
pub struct Network {
    tmp: tempfile::TempDir,
    registry_key_file: PathBuf,
    registry_public: String,
    nodes: Vec<TestNode>,
    directory_file: PathBuf,
    directory_version: u64,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    /// Variables set for every `custos` process started from now on.
    env: Vec<(String, std::ffi::OsString)>,
}

impl Network {
    /// Creates a registry and one node per State, publishes directory
    /// version 1 to all of them and starts every node.
    pub fn start(states: &[&str]) -> Network {
        Network::start_with(states, &[])
    }

    /// Like `start`, with some States' nodes on the given database URLs
    /// (`postgres://...`) instead of their own SQLite file.
    pub fn start_with(states: &[&str], databases: &[(&str, &str)]) -> Network {
        let mut net = Network::prepare(states, databases);
        for &state in states {
            net.spawn_node(state);
        }
        for &state in states {
            net.wait_healthy(state);
        }
        net
    }

    /// A registry and one initialised node per State (on the given database
    /// URLs where listed), every one holding directory version 1; nothing
    /// is started.
    fn prepare(states: &[&str], databases: &[(&str, &str)]) -> Network {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            // Nodes close connections idle for their header timeout (10 s).
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client");
        let registry_key_file = tmp.path().join("registry.key");
        let mut net = Network {
            registry_key_file,
            registry_public: String::new(),
            nodes: Vec::new(),
            directory_file: PathBuf::new(),
            directory_version: 0,
            runtime,
            client,
            tmp,
            env: Vec::new(),
        };
        let key_file = net.registry_key_file.clone();
        net.registry_public = net
            .run_ok(&[
                OsStr::new("registry"),
                OsStr::new("keygen"),
                OsStr::new("--out"),
                key_file.as_os_str(),
            ])
            .trim()
            .to_owned();
        assert!(
            net.registry_public.starts_with("ed25519:"),
            "registry keygen printed {:?}",
            net.registry_public
        );
        for &state in states {
            let dir = net.tmp.path().join(state);
            let port = free_port();
            net.run_ok(
                &[
                    OsStr::new("init"),
                    OsStr::new("--data"),
                    dir.as_os_str(),
                    OsStr::new("--state"),
                    OsStr::new(state),
                    OsStr::new("--name"),
                    OsStr::new(&format!("{state} test node")),
                    OsStr::new("--registry-key"),
                    OsStr::new(&net.registry_public),
                    // The nodes' ledgers start empty: a test adds the
                    // people it needs (`people` tests the first
                    // administrator `init` makes).
                    OsStr::new("--no-admin"),
                ]
                .into_iter()
                .chain(
                    databases
                        .iter()
                        .filter(|(cc, _)| *cc == state)
                        .flat_map(|(_, url)| [OsStr::new("--database"), OsStr::new(*url)]),
                )
                .collect::<Vec<_>>(),
            );
            net.nodes.push(TestNode {
                state: state.to_owned(),
                dir,
                port,
                url: format!("http://127.0.0.1:{port}"),
                child: None,
            });
        }
        net.publish_directory(1);
        net
    }

    // ---- the nodes and their processes ----

    fn node(&self, cc: &str) -> &TestNode {
        self.nodes
            .iter()
            .find(|n| n.state == cc)
            .unwrap_or_else(|| panic!("no node {cc} in this network"))
    }

    fn node_mut(&mut self, cc: &str) -> &mut TestNode {
        self.nodes
            .iter_mut()
            .find(|n| n.state == cc)
            .unwrap_or_else(|| panic!("no node {cc} in this network"))
    }

    /// The node's data directory.
    pub fn dir(&self, cc: &str) -> PathBuf {
        self.node(cc).dir.clone()
    }

    /// The node's base URL.
    pub fn url(&self, cc: &str) -> String {
        self.node(cc).url.clone()
    }

    /// Starts the node's server on its port and waits until it answers `/healthz`.
    pub fn start_node(&mut self, cc: &str) {
        self.spawn_node(cc);
        self.wait_healthy(cc);
    }

    /// Starts the node's server process without waiting for it to answer.
    pub fn spawn_node(&mut self, cc: &str) {
        let node = self.node_mut(cc);
        assert!(node.child.is_none(), "node {cc} is already running");
        let log_path = node.dir.join("serve.log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("the node's log file opens");
        let out = log.try_clone().expect("the log file handle clones");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_custos"));
        cmd.args(["serve", "--data"])
            .arg(&node.dir)
            .args(["--listen", &format!("127.0.0.1:{}", node.port)])
            .env("CUSTOS_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(log);
        for var in SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let node = self.node_mut(cc);
        node.child = Some(cmd.spawn().expect("`custos serve` starts"));
    }

    /// Waits until the node answers `/healthz`; panics with its log if it exits or stays silent.
    pub fn wait_healthy(&mut self, cc: &str) {
        let url = format!("{}/healthz", self.url(cc));
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let exited = {
                let node = self.node_mut(cc);
                let child = node.child.as_mut().expect("the node was started");
                child.try_wait().expect("the child's status is readable")
            };
            if let Some(status) = exited {
                self.node_mut(cc).child = None;
                panic!(
                    "node {cc} exited during start-up ({status}); log:\n{}",
                    self.log(cc)
                );
            }
            let probe = self.client.get(&url).timeout(Duration::from_secs(2));
            let healthy = self
                .runtime
                .block_on(async { probe.send().await.is_ok_and(|r| r.status().is_success()) });
            if healthy {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {cc} did not answer {url} within {START_DEADLINE:?}; log:\n{}",
                self.log(cc)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the node's server with SIGTERM and waits for it; a clean stop exits 0.
    pub fn stop(&mut self, cc: &str) {
        let mut child = self
            .node_mut(cc)
            .child
            .take()
            .unwrap_or_else(|| panic!("node {cc} is not running"));
        let status = terminate(&mut child);
        assert!(
            status.is_some_and(|s| s.success()),
            "node {cc} did not stop cleanly on SIGTERM ({status:?}); log:\n{}",
            self.log(cc)
        );
    }

    /// Kills the node's server with SIGKILL (no chance to finish anything) and reaps it.
    pub fn kill(&mut self, cc: &str) {
        let mut child = self
            .node_mut(cc)
            .child
            .take()
            .unwrap_or_else(|| panic!("node {cc} is not running"));
        child.kill().expect("SIGKILL is delivered");
        child.wait().expect("the killed node is reaped");
    }

    /// The node's server log so far.
    pub fn log(&self, cc: &str) -> String {
        std::fs::read_to_string(self.node(cc).dir.join("serve.log")).unwrap_or_default()
    }

    // ---- the directory ----

    /// Collects every node's signed entry afresh (so rotations and revocations
    /// are included), has the registry sign them as `version` and imports the
    /// result into every node with `custos directory import`. Returns the
    /// signed directory file.
    ///
    /// Running nodes are not restarted: a serving node reads the stored
    /// directory's version at every intake, so the import is in force there
    /// when this returns.
    pub fn publish_directory(&mut self, version: u64) -> PathBuf {
        let signed = self.sign_directory(version);
        for node in &self.nodes {
            let out = self.run_ok(&[
                OsStr::new("directory"),
                OsStr::new("import"),
                signed.as_os_str(),
                OsStr::new("--data"),
                node.dir.as_os_str(),
            ]);
            assert!(
                out.contains(&format!("Imported directory version {version}")),
                "{}: {out}",
                node.state
            );
        }
        signed
    }

    /// The registry's public key, as nodes are configured with it.
    pub fn registry_key(&self) -> VerifyingKey {
        VerifyingKey::from_text(&self.registry_public).expect("the registry key parses")
    }

    /// The registry's secret key, for tests that sign a directory by hand.
    pub fn registry_signing_key(&self) -> SigningKey {
        let text =
            std::fs::read_to_string(&self.registry_key_file).expect("the registry key file reads");
        SigningKey::from_secret_text(&text).expect("the registry key parses")
    }

    /// A path in the network's temporary directory.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// The registry's public key the nodes were made to trust.
    pub fn registry_public(&self) -> &str {
        &self.registry_public
    }

    /// The directory published last, verified against the registry key at `now`.
    pub fn directory(&self, now: time::OffsetDateTime) -> Directory {
        let bytes = std::fs::read(&self.directory_file).expect("the directory file reads");
        Directory::verify(&bytes, &self.registry_key(), now).expect("the directory verifies")
    }

    /// The node's current signing secret, read from its key file.
    pub fn signing_key(&self, cc: &str) -> SigningKey {
        let path = self.node(cc).dir.join("keys").join("signing.key");
        let text = std::fs::read_to_string(&path).expect("the signing key file reads");
        SigningKey::from_secret_text(&text).expect("the signing key parses")
    }

    // ---- the command line ----

    /// Runs `custos` with `args` in a clean environment.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_custos"));
        cmd.args(args).stdin(Stdio::null());
        for var in SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let out = cmd.output().expect("the custos binary runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("panicked"),
            "custos {:?} panicked: {err}",
            args.iter().map(|a| a.as_ref()).collect::<Vec<_>>()
        );
        out
    }

    /// Runs `custos` with `args`, requires exit status 0 and returns standard output.
    pub fn run_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "custos {:?} failed ({}):\nstdout: {}\nstderr: {}",
            args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("the output is UTF-8")
    }

    /// Sends a draft from the node of `from` with `custos request send --json
    /// --allow-sample` (plus `extra` arguments such as `--queue-only`); the
    /// command must exit 0.
    pub fn send(&self, from: &str, draft: &Value, extra: &[&str]) -> Sent {
        let file = self
            .tmp
            .path()
            .join(format!("draft-{}.json", uuid::Uuid::new_v4().simple()));
        std::fs::write(
            &file,
            serde_json::to_vec_pretty(draft).expect("a draft serialises"),
        )
        .expect("the draft file is written");
        let dir = self.dir(from);
        let mut args: Vec<&OsStr> = vec![
            OsStr::new("request"),
            OsStr::new("send"),
            file.as_os_str(),
            OsStr::new("--data"),
            dir.as_os_str(),
            OsStr::new("--json"),
            // The test drafts are the templates' invented example.
            OsStr::new("--allow-sample"),
        ];
        args.extend(extra.iter().map(OsStr::new));
        let out: Value =
            serde_json::from_str(&self.run_ok(&args)).expect("`request send --json` prints JSON");
        let text = |k: &str| {
            out[k]
                .as_str()
                .unwrap_or_else(|| panic!("`request send --json` has no {k:?}: {out}"))
                .to_owned()
        };
        let mut sent = Sent {
            id: text("id"),
            message_id: text("message_id"),
            delivery: text("delivery"),
            last_error: out["last_error"].as_str().map(str::to_owned),
        };
        if sent.delivery == "pending"
            && sent.last_error.is_none()
            && let Some((state, error)) = self.servers_attempt(from, &sent.message_id)
        {
            sent.delivery = state;
            sent.last_error = error;
        }
        sent
    }

    /// When the node of `from` serves, its outbox worker may claim a new
    /// message before the sending command's own first attempt does; the
    /// command then reports it pending, untried. This waits for the
    /// server's attempt and gives its outcome (state, error), or `None`
    /// when no server runs or the message is not in the outbox.
    pub fn servers_attempt(
        &self,
        from: &str,
        message_id: &str,
    ) -> Option<(String, Option<String>)> {
        self.pid(from)?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let row = self
                .outbox(from)
                .into_iter()
                .find(|r| r.message_id == message_id)?;
            if row.attempts == 0 && row.state == "pending" {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            return Some((row.state, (!row.error.is_empty()).then_some(row.error)));
        }
        None
    }

    /// The node's requests, from `custos request list --json`.
    pub fn requests(&self, cc: &str) -> Vec<Value> {
        let dir = self.dir(cc);
        let out = self.run_ok(&[
            OsStr::new("request"),
            OsStr::new("list"),
            OsStr::new("--data"),
            dir.as_os_str(),
            OsStr::new("--limit"),
            OsStr::new("10000"),
            OsStr::new("--json"),
        ]);
        serde_json::from_str(&out).expect("`request list --json` prints a JSON list")
    }

    /// One request with its messages and history, from `custos request show --json`.
    pub fn show(&self, cc: &str, id: &str) -> Value {
        let dir = self.dir(cc);
        let out = self.run_ok(&[
            OsStr::new("request"),
            OsStr::new("show"),
            OsStr::new(id),
            OsStr::new("--data"),
            dir.as_os_str(),
            OsStr::new("--json"),
        ]);
        serde_json::from_str(&out).expect("`request show --json` prints JSON")
    }

    /// What `custos refusals` prints for the node: one line per refusal
    /// (empty when it says there are none).
    pub fn refusals(&self, cc: &str) -> String {
        let dir = self.dir(cc);
        let out = self.run_ok(&[
            OsStr::new("refusals"),
            OsStr::new("--data"),
            dir.as_os_str(),
            OsStr::new("--limit"),
            OsStr::new("10000"),
        ]);
        if out.starts_with("No refusals") {
            String::new()
        } else {
            out
        }
    }

    /// The node's outbox, from `custos outbox list`.
    pub fn outbox(&self, cc: &str) -> Vec<OutboxRow> {
        let dir = self.dir(cc);
        let out = self.run_ok(&[
            OsStr::new("outbox"),
            OsStr::new("list"),
            OsStr::new("--data"),
            dir.as_os_str(),
            OsStr::new("--limit"),
            OsStr::new("10000"),
        ]);
        out.lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("The outbox is empty"))
            .map(|line| parse_outbox_line(line).unwrap_or_else(|| panic!("outbox line {line:?}")))
            .collect()
    }

    // ---- HTTP and the store ----

    /// Runs a future on the harness's runtime.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// Posts raw bytes to the node's federation endpoint, as a peer would.
    pub fn post_message(&self, to: &str, body: Vec<u8>) -> Answer {
        let url = format!("{}/federation/v1/messages", self.url(to));
        let request = self
            .client
            .post(&url)
            .header("content-type", "application/octet-stream")
            .header("custos-from", "FR")
            .body(body);
        self.block_on(send(request))
    }

    /// Opens the node's database (SQLite, shared safely with the running node).
    pub fn store(&self, cc: &str) -> Arc<dyn Store> {
        let url = format!("sqlite://{}", self.node(cc).dir.join("custos.db").display());
        self.block_on(custos_store::open(&url))
            .expect("the node's database opens")
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let failing = std::thread::panicking();
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if failing {
            for node in &self.nodes {
                let log = std::fs::read_to_string(node.dir.join("serve.log")).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                let tail = &lines[lines.len().saturating_sub(40)..];
                eprintln!(
                    "---- last lines of {}'s serve.log ----\n{}",
                    node.state,
                    tail.join("\n")
                );
            }
        }
    }
}

/// Sends SIGTERM and waits for the exit; on a hang, SIGKILL and `None`.
fn terminate(child: &mut Child) -> Option<ExitStatus> {
    let sent = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .is_ok_and(|s| s.success());
    if sent {
        let deadline = Instant::now() + STOP_DEADLINE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .and_then(|l| l.local_addr())
        .expect("a free port on loopback")
        .port()
}

/// Reads `ID  STATE  to CC  attempts N  next TIME  ERROR...`.
fn parse_outbox_line(line: &str) -> Option<OutboxRow> {
    let mut words = line.split_whitespace();
    let message_id = words.next()?.to_owned();
    let state = words.next()?.to_owned();
    (words.next()? == "to").then_some(())?;
    let recipient = words.next()?.to_owned();
    (words.next()? == "attempts").then_some(())?;
    let attempts = words.next()?.parse().ok()?;
    // `next TIME`, `next none` (failed) or `delivered TIME`.
    matches!(words.next()?, "next" | "delivered").then_some(())?;
    words.next()?;
    let error = words.collect::<Vec<_>>().join(" ");
    Some(OutboxRow {
        message_id,
        state,
        recipient,
        attempts,
        error,
    })
}

/// A valid draft of `kind` from `from` to `to`: the kind's template with the States replaced.
pub fn draft(kind: RequestKind, from: &str, to: &str) -> Value {
    let mut draft = custos_model::validate::parse(&custos_model::template::render(kind))
        .expect("the template parses");
    draft["requesting_state"] = json!(from);
    draft["requested_state"] = json!(to);
    let report = custos_model::validate::validate(&draft);
    assert!(report.is_valid(), "the test draft is not valid: {report:?}");
    draft
}

/// `len` deterministic bytes from `seed` that do not compress (a xorshift
/// sequence), for evidence files of a given size.
#[allow(dead_code)] // not every binary built from the harness seals files
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Polls `cond` every 50 ms until it holds; panics naming `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Parses a State code (the tests name States as text).
pub fn state(cc: &str) -> StateCode {
    cc.parse().expect("a State code")
}

impl Network {
    /// Like [`Network::start`], but serves nothing: every State's data
    /// directory is initialised and has imported the signed directory, for
    /// tests that only run local commands (sealing and opening evidence).
    pub fn offline(states: &[&str]) -> Network {
        Network::prepare(states, &[])
    }

    /// Records `draft` on the node of `cc` with `custos request save`; returns the request id.
    pub fn save_request(&self, cc: &str, draft: &Value) -> String {
        let file = self
            .tmp
            .path()
            .join(format!("draft-{}.json", uuid::Uuid::new_v4().simple()));
        std::fs::write(
            &file,
            serde_json::to_vec_pretty(draft).expect("a draft serialises"),
        )
        .expect("the draft file is written");
        let dir = self.dir(cc);
        self.run_ok(&[
            OsStr::new("request"),
            OsStr::new("save"),
            file.as_os_str(),
            OsStr::new("--data"),
            dir.as_os_str(),
        ])
        .trim()
        .to_owned()
    }
}

impl Network {
    /// A `custos` command in a clean environment (for tests that start a
    /// command as a child process, to kill it or to run several at once).
    pub fn custos_command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_custos"));
        cmd.stdin(Stdio::null());
        for var in SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Sets `key` for every `custos` process started from now on (the
    /// development clock file of debug builds, for one).
    pub fn set_env(&mut self, key: &str, value: impl Into<std::ffi::OsString>) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.into()));
    }

    /// Sends a raw HTTP request to the node of `to` (`path` starts with `/`).
    pub fn http(&self, method: &str, to: &str, path: &str, body: Vec<u8>) -> Answer {
        let url = format!("{}{path}", self.url(to));
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let request = self
            .client
            .request(method, &url)
            .header("content-type", "application/json")
            .body(body);
        self.block_on(send(request))
    }

    /// The node's `/metrics` text, read with a client token made for it
    /// (the counters answer a bearer allowed `read-metrics`: a token of
    /// the `monitor` user, an administrator, added the first time).
    pub fn metrics(&self, cc: &str) -> String {
        let answer = self.get_as_monitor(cc, "/metrics");
        assert_eq!(answer.status, 200, "/metrics answers a monitoring token");
        String::from_utf8_lossy(&answer.bytes).into_owned()
    }

    /// `GET path` on the node of `cc` with a new token of the `monitor`
    /// user, an administrator (added the first time).
    pub fn get_as_monitor(&self, cc: &str, path: &str) -> Answer {
        let dir = self.dir(cc);
        let known = self.run(&[
            OsStr::new("user"),
            OsStr::new("list"),
            OsStr::new("--json"),
            OsStr::new("--data"),
            dir.as_os_str(),
        ]);
        if !String::from_utf8_lossy(&known.stdout).contains("\"monitor\"") {
            self.run_ok(&[
                OsStr::new("user"),
                OsStr::new("add"),
                OsStr::new("monitor"),
                OsStr::new("--roles"),
                OsStr::new("administrator"),
                OsStr::new("--data"),
                dir.as_os_str(),
            ]);
        }
        let token = self.run_ok(&[
            OsStr::new("token"),
            OsStr::new("create"),
            OsStr::new("--data"),
            dir.as_os_str(),
            OsStr::new("--user"),
            OsStr::new("monitor"),
            OsStr::new("--name"),
            OsStr::new("monitoring"),
        ]);
        let url = format!("{}{path}", self.url(cc));
        let request = self.client.get(&url).bearer_auth(token.trim());
        self.block_on(send(request))
    }
}

impl Network {
    /// The process id of the node's running server, if it runs.
    pub fn pid(&self, cc: &str) -> Option<u32> {
        self.node(cc).child.as_ref().map(Child::id)
    }
}

impl Network {
    /// The signed envelope of a message as the node of `cc` stores it,
    /// unsealed with that node's storage key (the database holds it sealed).
    pub fn stored_envelope(&self, cc: &str, message: &custos_store::MessageRecord) -> Vec<u8> {
        let key = custos_node::at_rest::StorageKey::load_or_create(&self.dir(cc).join("keys"))
            .expect("the node's storage key loads");
        key.open(
            custos_node::at_rest::RecordKind::Message,
            &message.id,
            &message.envelope,
        )
        .expect("the stored envelope unseals")
        .content
    }
}

impl Network {
    /// Collects every node's signed entry afresh and has the registry sign
    /// them as `version`, like [`Network::publish_directory`], but imports
    /// nothing: the test imports the returned file where and when it needs.
    pub fn sign_directory(&mut self, version: u64) -> PathBuf {
        let base = self.tmp.path().to_owned();
        let mut entries = Vec::new();
        for node in &self.nodes {
            let out = base.join(format!("entry-{}-v{version}.json", node.state));
            self.run_ok(&[
                OsStr::new("directory"),
                OsStr::new("entry"),
                OsStr::new("--data"),
                node.dir.as_os_str(),
                OsStr::new("--url"),
                OsStr::new(&node.url),
                OsStr::new("--contact"),
                OsStr::new(&format!("24/7 desk of {} (test)", node.state)),
                OsStr::new("--language"),
                OsStr::new("en"),
                OsStr::new("--out"),
                out.as_os_str(),
            ]);
            entries.push(out);
        }
        let signed = base.join(format!("directory-v{version}.json"));
        let version_text = version.to_string();
        let mut args: Vec<&OsStr> = vec![
            OsStr::new("directory"),
            OsStr::new("sign"),
            OsStr::new("--registry-key"),
            self.registry_key_file.as_os_str(),
            OsStr::new("--directory-version"),
            OsStr::new(&version_text),
            OsStr::new("--out"),
            signed.as_os_str(),
        ];
        args.extend(entries.iter().map(|e| e.as_os_str()));
        self.run_ok(&args);
        self.directory_file = signed.clone();
        self.directory_version = version;
        signed
    }
}

/// Sends one request and reads the node's answer (its JSON, when it is JSON).
async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the node answers");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("the answer is read").to_vec();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        json,
        bytes,
    }
}

impl Network {
    /// `bash -c script` in `dir`, in the same clean environment as the
    /// `custos` commands, with the `custos` binary first on `PATH`: how an
    /// operator runs the README's shell walks.
    pub fn shell(&self, script: &str, dir: &std::path::Path) -> Output {
        let bin = std::path::Path::new(env!("CARGO_BIN_EXE_custos"))
            .parent()
            .expect("the binary is in a folder");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![bin.to_owned()];
        paths.extend(std::env::split_paths(&path));
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(script)
            .current_dir(dir)
            .env("PATH", std::env::join_paths(paths).expect("a PATH"))
            .stdin(Stdio::null());
        for var in SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        cmd.output().expect("bash runs")
    }
}
