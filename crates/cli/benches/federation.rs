//! Federation benchmark: messages between two nodes on loopback, with and without cryptography.
//!
//! Two real nodes (France sending, Germany receiving) run in this process,
//! each with its own SQLite file on disk at the store's default durability,
//! each served by `custos_http::serve` on 127.0.0.1 with its ledger sequencer
//! running (as `custos serve` runs them), on a tokio runtime with two worker
//! threads (the machine's two cores). The benchmark measures:
//!
//! 1. throughput of a batch of preservation drafts, three ways: submitted
//!    while the sender's outbox worker delivers ("flow"); queued first, then
//!    delivered ("queue, then deliver", counted from the first submission to
//!    the last receipt stored); and the delivery of the queued batch alone.
//!    Submitting means validating, signing, encrypting and recording the
//!    message with its outbox item; delivering means posting it, the receiver
//!    opening, checking and storing it, and the sender verifying and storing
//!    the signed receipt and the custody proof that comes with it;
//! 2. latency: one message at a time, from submission to the receipt being
//!    verified and stored by the sender, as percentiles;
//! 3. the floor: the same measurements through a pipeline built here that
//!    does everything the nodes do except the cryptography: the same HTTP
//!    stack (axum served by `axum_server` on the receiver, a pooled `reqwest`
//!    client on the sender), the same validation and RFC 8785 encoding, the
//!    same store calls on both sides (`record_outgoing` with the plain
//!    canonical bytes in place of the ciphertext, `claim_due`,
//!    `accept_incoming` with an unsigned receipt, `mark_delivered`, the same
//!    custody-ledger entries, the same sequencer and the same custody proof
//!    returned with each receipt), but no DSSE signature, no age encryption
//!    and no verification of signatures or proofs. (The ledger's own
//!    checkpoint signature, one per sequencing pass, is the one signature
//!    left in the floor: it comes with the node's sequencer that the floor
//!    reuses, and costs some 20 microseconds.)
//!
//! It also times the single-threaded cost of each protocol stage and the
//! disk's fsync, and reads the process's CPU time around each phase, so a
//! missed target can be traced to where the time goes. It prints figures
//! and targets; it asserts nothing. Run it with
//! `cargo bench -p custos-cli --bench federation`. Environment variables:
//! `CUSTOS_BENCH_BATCH` and `CUSTOS_BENCH_SAMPLES` change the sizes of the
//! runs; `CUSTOS_BENCH_DIR` puts the databases in another directory (on
//! another disk, or on tmpfs to see the pipeline without fsync costs).

/// The nodes run in this process, so they get the allocator the `custos`
/// binary uses.
#[path = "federation/floor.rs"]
mod floor;
use floor::{FloorPair, FloorSender};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration as StdDuration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use custos_model::clock::Clock;
use custos_model::{RequestKind, StateCode, template, validate};
use custos_node::custody::{Entry, EntryKind};
use custos_node::{DEFAULT_MAX_MESSAGE_BYTES, Keystore, Node, RetryPolicy};
use custos_protocol::{
    ErrorCode, MAX_CLOCK_AHEAD, MAX_MESSAGE_AGE, Message, MessageId, Receipt, open_message,
    seal_message, sign_receipt, thread_id_at, validate_message, verify_receipt,
};
use custos_store::{
    AcceptOutcome, Direction, IncomingMessage, MessageRecord, NewEvent, OutboxItem, OutboxState,
    OutgoingMessage, RequestRecord, Store,
};
use custos_testkit::{Network, NetworkBuilder, NodeBuilder, TestClock, TestNode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// Drafts in each throughput run.
const DEFAULT_BATCH: usize = 3_000;
/// Single messages timed in the latency run.
const DEFAULT_SAMPLES: usize = 500;
/// Single messages sent before the latency samples, not counted.
const WARMUP: usize = 20;
/// Tasks submitting drafts at once, as several officers or scripts would
/// through the client API.
const SUBMITTERS: usize = 4;
/// How many due items one outbox pass claims (what `run_outbox` uses).
const CLAIM_LIMIT: u32 = 64;
/// Iterations of each stage in the stage timings.
const STAGE_ITERATIONS: u32 = 300;
/// Appends timed by the fsync probe.
const FSYNC_PROBES: usize = 200;
/// How long a run may go without a delivery before it is abandoned.
const STALL: StdDuration = StdDuration::from_secs(60);

// Targets of the issue.
const TARGET_RATE: f64 = 1_000.0;
const TARGET_P99_MS: f64 = 20.0;
const TARGET_RATIO: f64 = 2.0;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("federation bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("federation bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A number from the environment, or the default.
fn setting(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| anyhow!("{name} must be a positive whole number, not {text:?}")),
        Err(_) => Ok(default),
    }
}

async fn run() -> anyhow::Result<()> {
    let batch = setting("CUSTOS_BENCH_BATCH", DEFAULT_BATCH)?;
    let samples = setting("CUSTOS_BENCH_SAMPLES", DEFAULT_SAMPLES)?;
    let root = match std::env::var_os("CUSTOS_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(&dir)
            .with_context(|| format!("cannot create a directory in {}", dir.display()))?,
        None => tempfile::tempdir().context("cannot create a temporary directory")?,
    };
    // Starts at a fixed instant and then follows the monotonic clock, so
    // both nodes share one timeline without reading the wall clock.
    let clock = Arc::new(TestClock::running(datetime!(2026-11-28 10:00 UTC)));
    let draft = preservation_draft()?;

    println!("Federation benchmark: FR -> DE on 127.0.0.1, one SQLite file per node");
    println!("  machine: {} core(s), {}", cores(), cpu_model());
    println!(
        "  runtime: tokio multi-thread, 2 workers; batch {batch}, {SUBMITTERS} submitting tasks, {samples} latency samples (+{WARMUP} warm-up)"
    );
    println!("  data: {}", root.path().display());
    println!("  load average before the run: {}", load_average());
    let sync = fsync_probe(root.path())?;
    println!(
        "  disk: 4 KiB append + fsync there, {} runs: p50 {:.2} ms, mean {:.2} ms, p99 {:.2} ms",
        sync.0.len(),
        sync.percentile_ms(50.0),
        sync.mean_ms(),
        sync.percentile_ms(99.0)
    );

    // Two real nodes (France and Germany) with a directory signed by a test
    // registry, served and sequencing as `custos serve` runs them.
    let custos = NetworkBuilder::new(&["FR", "DE"])
        .served()
        .in_dir(root.path().join("custos"))
        .clock(Arc::clone(&clock))
        .http_client(http_client()?)
        // Every sender of the bench is on 127.0.0.1.
        .limits(custos_http::ServerLimits {
            max_connections_per_address: 4096,
            ..Default::default()
        })
        .build()
        .await?;
    let floor = FloorPair::start(&root.path().join("floor"), Arc::clone(&clock)).await?;
    let fr = custos.node("FR");
    let custos_sender = Sender::Custos(
        Arc::clone(&fr.node),
        Arc::clone(&fr.store),
        Arc::clone(&clock),
    );
    let floor_sender = Sender::Floor(Arc::clone(&floor.sender));

    println!("\nstage costs (one thread, mean of {STAGE_ITERATIONS} runs):");
    stage_costs(&custos, &draft, clock.now())?;

    println!("\nflow: {batch} drafts submitted while the outbox worker delivers");
    let custos_flow = flow(&custos_sender, &draft, batch, 0).await?;
    custos_flow.print("custos");
    let floor_flow = flow(&floor_sender, &draft, batch, 0).await?;
    floor_flow.print("floor");

    println!("\nbatch: {batch} drafts queued, then delivered by the outbox worker");
    let custos_batch = queue_then_deliver(&custos_sender, &draft, batch, 100_000).await?;
    custos_batch.print("custos");
    let floor_batch = queue_then_deliver(&floor_sender, &draft, batch, 100_000).await?;
    floor_batch.print("floor");

    println!("\nlatency: one message at a time, submission to receipt stored");
    let custos_latency = latency(&custos_sender, &draft, samples, 200_000).await?;
    custos_latency.print("custos");
    let floor_latency = latency(&floor_sender, &draft, samples, 200_000).await?;
    floor_latency.print("floor");

    custos.stop().await;
    floor.stop().await;

    println!();
    let rows = [
        Row::higher_better(
            "flow, submit while delivering (msg/s)",
            custos_flow.rate(),
            floor_flow.rate(),
            Some(TARGET_RATE),
        ),
        Row::higher_better(
            "batch, queue then deliver (msg/s)",
            custos_batch.end_to_end_rate(),
            floor_batch.end_to_end_rate(),
            Some(TARGET_RATE),
        ),
        Row::higher_better(
            "batch, delivery alone (msg/s)",
            custos_batch.delivery_rate(),
            floor_batch.delivery_rate(),
            Some(TARGET_RATE),
        ),
        Row::lower_better(
            "latency p50 (ms)",
            custos_latency.percentile_ms(50.0),
            floor_latency.percentile_ms(50.0),
            None,
        ),
        Row::lower_better(
            "latency p99 (ms)",
            custos_latency.percentile_ms(99.0),
            floor_latency.percentile_ms(99.0),
            Some(TARGET_P99_MS),
        ),
    ];
    print_table(&rows);
    println!("  ratio: time per message of the full pipeline over the floor's");
    println!("  load average after the run: {}", load_average());
    Ok(())
}

// ---------------------------------------------------------------------------
// Clock, machine, drafts

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Times 4 KiB appends, each followed by an fsync, in `dir`: what every
/// durable commit pays on this disk at the least.
fn fsync_probe(dir: &Path) -> anyhow::Result<Latency> {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let block = [0x5a_u8; 4096];
    let mut times = Vec::with_capacity(FSYNC_PROBES);
    for _ in 0..FSYNC_PROBES {
        let t = Instant::now();
        file.write_all(&block)?;
        file.sync_all()?;
        times.push(t.elapsed());
    }
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(Latency::new(times))
}

/// CPU time (user, system) this process has used so far, from `/proc/self/stat`.
fn cpu_time() -> Option<(StdDuration, StdDuration)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which sits in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 12th and 13th after the name.
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // Counted in USER_HZ, which is 100 on Linux.
    let tick = |t: u64| StdDuration::from_millis(t * 10);
    Some((tick(ticks(11)?), tick(ticks(12)?)))
}

/// CPU used between two readings of [`cpu_time`].
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    user: StdDuration,
    system: StdDuration,
}

impl Cpu {
    fn between(
        before: Option<(StdDuration, StdDuration)>,
        after: Option<(StdDuration, StdDuration)>,
    ) -> Self {
        match (before, after) {
            (Some((u0, s0)), Some((u1, s1))) => Cpu {
                user: u1.saturating_sub(u0),
                system: s1.saturating_sub(s0),
            },
            _ => Cpu::default(),
        }
    }

    /// "user+system" microseconds per message.
    fn per_message(&self, n: usize) -> String {
        let us = |d: StdDuration| d.as_secs_f64() * 1e6 / n.max(1) as f64;
        format!("{:.0}+{:.0} us", us(self.user), us(self.system))
    }
}

/// The preservation template (France asks Germany), which validates as it is.
fn preservation_draft() -> anyhow::Result<Value> {
    let draft = validate::parse(&template::render(RequestKind::Preservation))
        .map_err(|e| anyhow!("the preservation template does not parse: {e}"))?;
    ensure!(
        validate::validate(&draft).is_valid(),
        "the preservation template does not validate"
    );
    Ok(draft)
}

/// The draft with its own file reference, so every message is distinct.
fn numbered(draft: &Value, n: usize) -> Value {
    let mut d = draft.clone();
    d["reference"] = json!(format!("BENCH-{n:07}"));
    d
}

fn loopback_listener() -> anyhow::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).context("cannot bind 127.0.0.1:0")
}

/// The client a node uses to reach peers, configured as `custos serve` does.
fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .pool_idle_timeout(std::time::Duration::from_secs(5))
        .user_agent("custos-bench")
        .build()
        .context("cannot build the HTTP client")
}

/// A node of `state` kept in `dir`, with fresh keys, reading `clock`.
async fn node(dir: &Path, state: &str, clock: &Arc<TestClock>) -> anyhow::Result<TestNode> {
    Ok(NodeBuilder::new(state)
        .name(format!("{state} (benchmark)"))
        .in_dir(dir)
        .clock(Arc::clone(clock))
        .http_client(http_client()?)
        .build()
        .await?)
}

// ---------------------------------------------------------------------------
// The runs, the same for both pipelines

/// The sending side of either pipeline.
#[derive(Debug, Clone)]
enum Sender {
    /// A kit node (its node, store and clock).
    Custos(Arc<Node>, Arc<dyn Store>, Arc<TestClock>),
    Floor(Arc<FloorSender>),
}

impl Sender {
    fn store(&self) -> &dyn Store {
        match self {
            Sender::Custos(_, store, _) => store.as_ref(),
            Sender::Floor(f) => f.store.as_ref(),
        }
    }

    fn now(&self) -> OffsetDateTime {
        match self {
            Sender::Custos(_, _, clock) => clock.now(),
            Sender::Floor(f) => f.clock.now(),
        }
    }

    /// Queues a draft; returns the message id.
    async fn submit(&self, draft: Value) -> anyhow::Result<String> {
        match self {
            Sender::Custos(n, ..) => Ok(n
                .submit(
                    draft,
                    &custos_node::Actor::Cli {
                        user: "bench".into(),
                    },
                )
                .await?
                .message_id),
            Sender::Floor(f) => f.submit(draft).await,
        }
    }

    /// One pass of the outbox worker: claims what is due and tries it.
    async fn deliver_due(&self) -> anyhow::Result<usize> {
        match self {
            Sender::Custos(n, ..) => Ok(n.deliver_due(CLAIM_LIMIT).await?),
            Sender::Floor(f) => f.deliver_due(CLAIM_LIMIT).await,
        }
    }

    fn spawn_worker(&self, stop: watch::Receiver<bool>) -> JoinHandle<()> {
        match self {
            Sender::Custos(n, ..) => tokio::spawn(Arc::clone(n).run_outbox(stop)),
            Sender::Floor(f) => tokio::spawn(Arc::clone(f).run_outbox(stop)),
        }
    }

    /// Submits drafts numbered `first..first + n` from [`SUBMITTERS`] tasks at once.
    async fn submit_all(&self, draft: &Value, n: usize, first: usize) -> anyhow::Result<()> {
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..SUBMITTERS {
            let sender = self.clone();
            let draft = draft.clone();
            let next = Arc::clone(&next);
            tasks.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return anyhow::Ok(());
                    }
                    sender.submit(numbered(&draft, first + i)).await?;
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.context("a submitting task panicked")??;
        }
        Ok(())
    }

    /// How many of the sender's messages are delivered.
    async fn delivered(&self) -> anyhow::Result<usize> {
        Ok(self
            .store()
            .list_outbox(Some(OutboxState::Delivered), u32::MAX)
            .await?
            .len())
    }

    /// Waits until nothing is pending and `expected` messages are delivered;
    /// returns the time of the latest delivery.
    async fn wait_delivered(&self, expected: usize) -> anyhow::Result<OffsetDateTime> {
        let store = self.store();
        let mut last_progress = Instant::now();
        let mut pending_seen = String::new();
        loop {
            let pending = store.list_outbox(Some(OutboxState::Pending), 1).await?;
            let Some(item) = pending.first() else { break };
            if item.message_id != pending_seen {
                pending_seen.clone_from(&item.message_id);
                last_progress = Instant::now();
            }
            if let Some(error) = &item.last_error {
                bail!("a delivery failed: {error}");
            }
            if last_progress.elapsed() > STALL {
                bail!("no delivery for {STALL:?}; the outbox is stuck");
            }
            tokio::time::sleep(StdDuration::from_millis(2)).await;
        }
        if let Some(item) = store
            .list_outbox(Some(OutboxState::Failed), 1)
            .await?
            .first()
        {
            bail!(
                "message {} was given up: {}",
                item.message_id,
                item.last_error.as_deref().unwrap_or("no reason recorded")
            );
        }
        let delivered = store
            .list_outbox(Some(OutboxState::Delivered), u32::MAX)
            .await?;
        ensure!(
            delivered.len() >= expected,
            "only {} of {expected} messages were delivered",
            delivered.len()
        );
        delivered
            .iter()
            .filter_map(|i| i.delivered_at)
            .max()
            .ok_or_else(|| anyhow!("delivered items carry no delivery time"))
    }
}

/// Submits `n` drafts while the outbox worker runs; timed to the last receipt stored.
async fn flow(sender: &Sender, draft: &Value, n: usize, first: usize) -> anyhow::Result<Flow> {
    let expected = sender.delivered().await? + n;
    let (stop, stopped) = watch::channel(false);
    let worker = sender.spawn_worker(stopped);
    let cpu_start = cpu_time();
    let from = sender.now();
    let submitted = sender.submit_all(draft, n, first).await;
    let last = match submitted {
        Ok(()) => sender.wait_delivered(expected).await,
        Err(e) => Err(e),
    };
    let _ = stop.send(true);
    let _ = worker.await;
    let cpu = Cpu::between(cpu_start, cpu_time());
    let elapsed = StdDuration::try_from(last? - from).unwrap_or_default();
    Ok(Flow { n, elapsed, cpu })
}

/// Queues `n` drafts, then starts the outbox worker; each phase timed.
async fn queue_then_deliver(
    sender: &Sender,
    draft: &Value,
    n: usize,
    first: usize,
) -> anyhow::Result<Batch> {
    let expected = sender.delivered().await? + n;
    let cpu_start = cpu_time();
    let started = Instant::now();
    sender.submit_all(draft, n, first).await?;
    let queue = started.elapsed();
    let cpu_queued = cpu_time();

    let (stop, stopped) = watch::channel(false);
    let from = sender.now();
    let worker = sender.spawn_worker(stopped);
    let last = sender.wait_delivered(expected).await;
    let _ = stop.send(true);
    let _ = worker.await;
    let cpu_end = cpu_time();
    let deliver = StdDuration::try_from(last? - from).unwrap_or_default();
    Ok(Batch {
        n,
        queue,
        deliver,
        queue_cpu: Cpu::between(cpu_start, cpu_queued),
        deliver_cpu: Cpu::between(cpu_queued, cpu_end),
    })
}

/// Sends one message at a time: submission, then the pass of the outbox
/// worker that the submission wakes, timed until the receipt is stored.
async fn latency(
    sender: &Sender,
    draft: &Value,
    samples: usize,
    first: usize,
) -> anyhow::Result<Latency> {
    let mut times = Vec::with_capacity(samples);
    for i in 0..WARMUP + samples {
        let d = numbered(draft, first + i);
        let t = Instant::now();
        let id = sender.submit(d).await?;
        sender.deliver_due().await?;
        let took = t.elapsed();
        let item = sender
            .store()
            .outbox_item(&id)
            .await?
            .ok_or_else(|| anyhow!("message {id} is not in the outbox"))?;
        ensure!(
            item.state == OutboxState::Delivered,
            "message {id} was not delivered: {}",
            item.last_error.as_deref().unwrap_or("no error recorded")
        );
        if i >= WARMUP {
            times.push(took);
        }
    }
    Ok(Latency::new(times))
}

// ---------------------------------------------------------------------------
// Results

/// What a flow run measured.
#[derive(Debug)]
struct Flow {
    n: usize,
    elapsed: StdDuration,
    cpu: Cpu,
}

impl Flow {
    fn rate(&self) -> f64 {
        self.n as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&self, name: &str) {
        println!(
            "  {name:<7} {:.3} s: {:.0} msg/s (cpu {}/msg)",
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.cpu.per_message(self.n)
        );
    }
}

/// What a queue-then-deliver run measured.
#[derive(Debug)]
struct Batch {
    n: usize,
    queue: StdDuration,
    deliver: StdDuration,
    queue_cpu: Cpu,
    deliver_cpu: Cpu,
}

impl Batch {
    fn end_to_end_rate(&self) -> f64 {
        self.n as f64 / (self.queue + self.deliver).as_secs_f64()
    }

    fn delivery_rate(&self) -> f64 {
        self.n as f64 / self.deliver.as_secs_f64()
    }

    fn print(&self, name: &str) {
        let rate = |d: StdDuration| self.n as f64 / d.as_secs_f64();
        println!(
            "  {name:<7} queued in {:.3} s ({:.0}/s, cpu {}/msg), delivered in {:.3} s ({:.0}/s, cpu {}/msg): {:.0} msg/s overall",
            self.queue.as_secs_f64(),
            rate(self.queue),
            self.queue_cpu.per_message(self.n),
            self.deliver.as_secs_f64(),
            rate(self.deliver),
            self.deliver_cpu.per_message(self.n),
            self.end_to_end_rate()
        );
    }
}

/// Durations, sorted.
#[derive(Debug)]
struct Latency(Vec<StdDuration>);

impl Latency {
    fn new(mut samples: Vec<StdDuration>) -> Self {
        samples.sort();
        Latency(samples)
    }

    /// Nearest-rank percentile, in milliseconds.
    fn percentile_ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        let i = rank.clamp(1, self.0.len()) - 1;
        self.0[i].as_secs_f64() * 1e3
    }

    fn mean_ms(&self) -> f64 {
        let total: StdDuration = self.0.iter().sum();
        total.as_secs_f64() * 1e3 / self.0.len().max(1) as f64
    }

    fn print(&self, name: &str) {
        println!(
            "  {name:<7} n={} min {:.2} ms, p50 {:.2} ms, mean {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.0.len(),
            self.percentile_ms(0.0),
            self.percentile_ms(50.0),
            self.mean_ms(),
            self.percentile_ms(90.0),
            self.percentile_ms(99.0),
            self.percentile_ms(100.0)
        );
    }
}

/// One line of the summary table.
#[derive(Debug)]
struct Row {
    metric: &'static str,
    custos: f64,
    floor: f64,
    /// How many times costlier per message the full pipeline is than the floor.
    ratio: f64,
    target: String,
    pass: bool,
}

impl Row {
    fn higher_better(metric: &'static str, custos: f64, floor: f64, min: Option<f64>) -> Self {
        let ratio = floor / custos;
        let mut target = format!("ratio <= {TARGET_RATIO}");
        let mut pass = ratio <= TARGET_RATIO;
        if let Some(min) = min {
            target = format!(">= {min:.0}; {target}");
            pass &= custos >= min;
        }
        Row {
            metric,
            custos,
            floor,
            ratio,
            target,
            pass,
        }
    }

    fn lower_better(metric: &'static str, custos: f64, floor: f64, max: Option<f64>) -> Self {
        let ratio = custos / floor;
        let mut target = format!("ratio <= {TARGET_RATIO}");
        let mut pass = ratio <= TARGET_RATIO;
        if let Some(max) = max {
            target = format!("<= {max:.0}; {target}");
            pass &= custos <= max;
        }
        Row {
            metric,
            custos,
            floor,
            ratio,
            target,
            pass,
        }
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "| {:<38} | {:>8} | {:>8} | {:>6} | {:<20} | {:<6} |",
        "metric", "custos", "floor", "ratio", "target", "result"
    );
    println!(
        "|{:-<40}|{:->10}|{:->10}|{:->8}|{:-<22}|{:-<8}|",
        "", "", "", "", "", ""
    );
    for r in rows {
        println!(
            "| {:<38} | {:>8.2} | {:>8.2} | {:>5.2}x | {:<20} | {:<6} |",
            r.metric,
            r.custos,
            r.floor,
            r.ratio,
            r.target,
            if r.pass { "PASS" } else { "MISS" }
        );
    }
}

// ---------------------------------------------------------------------------
// The real nodes

/// Mean single-threaded cost of each protocol stage, printed in microseconds.
fn stage_costs(pair: &Network, draft: &Value, now: OffsetDateTime) -> anyhow::Result<()> {
    let (fr, de) = (pair.node("FR"), pair.node("DE"));
    let directory = fr
        .directory()
        .ok_or_else(|| anyhow!("FR has no directory"))?;
    let de_state = de.state();
    // Each node's keys as its key folder holds them.
    let fr_keys = Keystore::load(&fr.dir().join("keys"))?;
    let (signing, mut recipients) = (
        fr_keys.signing.clone(),
        vec![fr_keys.encryption.recipient()],
    );
    recipients.extend(directory.current_recipients(de_state, now));
    let de_keys = Keystore::load(&de.dir().join("keys"))?;
    let (de_signing, de_identities) = (de_keys.signing.clone(), de_keys.identities());
    let message = Message::submit(
        fr.state(),
        de_state,
        thread_id_at(now),
        None,
        now,
        draft.clone(),
    );

    fn time<T>(what: &str, f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<T> {
        let mut f = f;
        let mut last = f()?;
        let t = Instant::now();
        for _ in 0..STAGE_ITERATIONS {
            last = f()?;
        }
        let micros = t.elapsed().as_secs_f64() * 1e6 / f64::from(STAGE_ITERATIONS);
        println!("  {what:<64} {micros:>7.1} us");
        Ok(last)
    }

    time("validate the draft (model)", || {
        Ok(validate::validate(draft).is_valid())
    })?;
    time("check + RFC 8785 encode + id (floor sender)", || {
        validate_message(&message)?;
        let payload = message.to_canonical_json()?;
        Ok(MessageId::of_payload(&payload))
    })?;
    let sealed = time(
        "seal: check + encode + DSSE sign + age encrypt (2 recipients)",
        || Ok(seal_message(&message, &signing, &recipients)?),
    )?;
    let payload = message.to_canonical_json()?;
    time(
        "parse + canonical check + validate (floor receiver)",
        || {
            let m = Message::from_json(&payload)?;
            custos_seal::ensure_canonical(&payload)?;
            ensure!(m.to_canonical_json()? == payload, "not canonical");
            validate_message(&m)?;
            Ok(())
        },
    )?;
    let opened = time(
        "open: age decrypt + parse + checks + signature verify + validate",
        || {
            Ok(open_message(
                &sealed.ciphertext,
                &de_identities,
                &directory,
                de_state,
                now,
                DEFAULT_MAX_MESSAGE_BYTES,
            )?)
        },
    )?;
    let receipt = Receipt::for_message(&opened, now);
    let signed = time("sign the receipt (DSSE)", || {
        Ok(sign_receipt(&receipt, &de_signing)?)
    })?;
    time("verify the receipt", || {
        Ok(verify_receipt(
            &signed, &directory, &opened.id, de_state, now,
        )?)
    })?;
    println!(
        "  sizes: canonical message {} B, signed envelope {} B, ciphertext {} B, signed receipt {} B",
        payload.len(),
        sealed.envelope_json.len(),
        sealed.ciphertext.len(),
        signed.len()
    );
    Ok(())
}
