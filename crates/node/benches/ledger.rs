//! Custody-ledger benchmark: the node's ledger on a SQLite file on disk, at
//! the store's default durability (WAL, `synchronous = FULL`), measured
//! against the three targets of the ledger issue. It prints figures and a
//! PASS/MISS table; it asserts nothing about speed.
//!
//! 1. Durable appends: realistic entries (RFC 8785 JSON of
//!    [`custos_node::custody::Entry`], about 350 bytes) are queued with
//!    `LedgerStore::queue_ledger` in batches, then `Node::sequence_all` moves them
//!    into the ledger; both phases are timed.
//! 2. Inclusion proofs in large ledgers (1M and 10M entries by default):
//!    `Node::prove_entry` (the whole proof bundle, as `custos ledger prove`
//!    makes it) and `custos_ledger::prove_inclusion` over a reader on
//!    `LedgerStore::ledger_hashes`, each timed over random indexes, once with the
//!    database as the page cache holds it and once more over the same
//!    indexes (warm). The big ledgers are written with
//!    `LedgerStore::append_ledger` in large batches from hashes computed by
//!    `custos_ledger::MemoryLog` (the same tables and hashes the sequencer
//!    writes); the last entry goes through the real sequencer, which signs
//!    the checkpoint. A built ledger is kept, keyed by size, and reused by
//!    later runs.
//! 3. Full verification: `Node::verify_ledger` over one ledger compared, in
//!    the same run, with `openssl dgst -sha256` over a file holding the same
//!    entry bytes, followed by a breakdown of where verification spends its
//!    time (reading entries, reading stored hashes, leaf hashing, node
//!    hashing). Wall-clock and CPU time are both printed, so a figure taken
//!    on a busy machine can still be read.
//!
//! Run it with `cargo bench -p custos-node --bench ledger`. Environment:
//! `CUSTOS_BENCH_APPENDS` (entries in the append run, default 100,000),
//! `CUSTOS_BENCH_PROOF_SIZES` (comma-separated ledger sizes, default
//! `1000000,10000000`), `CUSTOS_BENCH_VERIFY_SIZE` (default 1,000,000) and
//! `CUSTOS_BENCH_DIR` (where ledgers are kept; default the target
//! directory's `tmp/ledger-bench`). Started without `--bench` (by
//! `cargo test --benches` or `--all-targets`), it makes a quick smoke run
//! on ledgers of a few thousand entries in a temporary directory.

#[path = "ledger/proofs.rs"]
mod proofs;
#[path = "ledger/verification.rs"]
mod verification;
use proofs::proofs;
use verification::verification;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use custos_ledger::{
    Hash, HashReader, LedgerError, MemoryLog, RootBuilder, leaf_hash, peek_checkpoint,
    prove_inclusion, stored_hash_count,
};
use custos_node::custody::{Entry, EntryKind};
use custos_node::{Keystore, NodeError};
use custos_store::{Store, StoreError, StoredCheckpoint};
use custos_testkit::{KitError, NodeBuilder, TestClock, TestNode};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::macros::datetime;
use tokio::runtime::Runtime;

/// Entries in the append run, unless `CUSTOS_BENCH_APPENDS` says otherwise.
const DEFAULT_APPENDS: u64 = 100_000;
/// Entries per `queue_ledger` call in the append run.
const QUEUE_BATCH: usize = 1_000;
/// Entries appended, and ledger sizes, in a smoke run.
const SMOKE_SIZE: u64 = 3_000;
/// Ledger sizes for the proof figures, unless `CUSTOS_BENCH_PROOF_SIZES` says otherwise.
const DEFAULT_PROOF_SIZES: &[u64] = &[1_000_000, 10_000_000];
/// Ledger size for the verification figures, unless `CUSTOS_BENCH_VERIFY_SIZE` says otherwise.
const DEFAULT_VERIFY_SIZE: u64 = 1_000_000;
/// Proofs timed per ledger and per method.
const PROOF_SAMPLES: usize = 1_000;
/// Proofs made before timing starts, not counted.
const PROOF_WARMUP: usize = 50;
/// Entries per `append_ledger` call when a big ledger is built.
const BUILD_CHUNK: u64 = 50_000;
/// Timed runs of `openssl dgst`; the fastest counts.
const OPENSSL_RUNS: usize = 3;
/// Timed runs of `verify_ledger`; the fastest counts.
const VERIFY_RUNS: usize = 3;
/// Batches appended step by step to show where the sequencer's time goes.
const BREAKDOWN_BATCHES: u32 = 20;
/// Writes followed by fsync in the disk probe.
const FSYNC_PROBES: usize = 100;

/// The targets of the ledger issue.
const APPENDS_PER_SEC_TARGET: f64 = 20_000.0;
const PROOF_TARGET: Duration = Duration::from_millis(1);
/// Ledger size at which the proof target applies.
const PROOF_TARGET_SIZE: u64 = 10_000_000;
const VERIFY_RATIO_TARGET: f64 = 0.8;

/// The instant every entry and checkpoint of the benchmark is dated from.
const BASE: OffsetDateTime = datetime!(2026-11-28 10:00 UTC);

/// What can stop the benchmark.
#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Kit(#[from] KitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{name}: {problem}")]
    Setting { name: &'static str, problem: String },
    /// A result that shows the run measured something other than intended.
    #[error("check failed: {0}")]
    Check(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
    let what = what.into();
    move |source| BenchError::Io { what, source }
}

fn check(ok: bool, problem: impl FnOnce() -> String) -> Result<(), BenchError> {
    if ok {
        Ok(())
    } else {
        Err(BenchError::Check(problem()))
    }
}

// ---------------------------------------------------------------------------
// Settings, machine, report

#[derive(Debug)]
struct Settings {
    appends: u64,
    proof_sizes: Vec<u64>,
    verify_size: u64,
    dir: PathBuf,
    /// In a smoke run, the directory that holds its small ledgers until the end.
    _scratch: Option<tempfile::TempDir>,
}

impl Settings {
    /// The sizes of a benchmark run, or of a smoke run when `smoke`.
    fn from_env(smoke: bool) -> Result<Self, BenchError> {
        let appends = match env("CUSTOS_BENCH_APPENDS") {
            Some(v) => count("CUSTOS_BENCH_APPENDS", &v)?,
            None if smoke => SMOKE_SIZE,
            None => DEFAULT_APPENDS,
        };
        let proof_sizes = match env("CUSTOS_BENCH_PROOF_SIZES") {
            Some(v) => v
                .split(',')
                .map(|s| count("CUSTOS_BENCH_PROOF_SIZES", s.trim()))
                .collect::<Result<_, _>>()?,
            None if smoke => vec![SMOKE_SIZE],
            None => DEFAULT_PROOF_SIZES.to_vec(),
        };
        let verify_size = match env("CUSTOS_BENCH_VERIFY_SIZE") {
            Some(v) => count("CUSTOS_BENCH_VERIFY_SIZE", &v)?,
            None if smoke => SMOKE_SIZE,
            None => DEFAULT_VERIFY_SIZE,
        };
        for &n in proof_sizes.iter().chain([&verify_size]) {
            if n < 2 {
                return Err(BenchError::Setting {
                    name: "ledger size",
                    problem: format!("{n} is too small (at least 2 entries)"),
                });
            }
        }
        let (dir, scratch) = match env("CUSTOS_BENCH_DIR") {
            Some(dir) => (PathBuf::from(dir), None),
            None if smoke => {
                let scratch = tempfile::Builder::new()
                    .prefix("ledger-bench-smoke-")
                    .tempdir()
                    .map_err(io("create a temporary directory"))?;
                (scratch.path().to_owned(), Some(scratch))
            }
            None => (
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("ledger-bench"),
                None,
            ),
        };
        Ok(Settings {
            appends: appends.max(1),
            proof_sizes,
            verify_size,
            dir,
            _scratch: scratch,
        })
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn count(name: &'static str, text: &str) -> Result<u64, BenchError> {
    text.replace('_', "")
        .parse()
        .map_err(|e| BenchError::Setting {
            name,
            problem: format!("{text:?} is not a whole number ({e})"),
        })
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
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// One line of the final table.
#[derive(Debug)]
struct Row {
    what: String,
    figure: String,
    target: String,
    pass: Option<bool>,
}

#[derive(Debug, Default)]
struct Report {
    rows: Vec<Row>,
}

impl Report {
    fn add(&mut self, what: impl Into<String>, figure: String, target: &str, pass: Option<bool>) {
        self.rows.push(Row {
            what: what.into(),
            figure,
            target: target.to_owned(),
            pass,
        });
    }

    fn print(&self) {
        let w = self.rows.iter().map(|r| r.what.len()).max().unwrap_or(0);
        let f = self.rows.iter().map(|r| r.figure.len()).max().unwrap_or(0);
        let t = self.rows.iter().map(|r| r.target.len()).max().unwrap_or(0);
        println!("\n== Summary");
        println!(
            "{:<w$}  {:>f$}  {:<t$}  result",
            "measure", "figure", "target"
        );
        for r in &self.rows {
            let verdict = match r.pass {
                Some(true) => "PASS",
                Some(false) => "MISS",
                None => "-",
            };
            println!(
                "{:<w$}  {:>f$}  {:<t$}  {verdict}",
                r.what, r.figure, r.target
            );
        }
    }
}

/// Sorted durations, read as percentiles.
#[derive(Debug)]
struct Latency(Vec<Duration>);

impl Latency {
    fn new(mut times: Vec<Duration>) -> Self {
        times.sort_unstable();
        Latency(times)
    }

    /// The `p`th percentile (nearest rank).
    fn pct(&self, p: usize) -> Duration {
        let rank = (self.0.len() * p).div_ceil(100).max(1);
        self.0.get(rank - 1).copied().unwrap_or_default()
    }

    fn max(&self) -> Duration {
        self.0.last().copied().unwrap_or_default()
    }

    fn line(&self) -> String {
        format!(
            "median {:>9.1?}  p90 {:>9.1?}  p99 {:>9.1?}  max {:>9.1?}",
            self.pct(50),
            self.pct(90),
            self.pct(99),
            self.max()
        )
    }
}

/// A small deterministic generator (SplitMix64) for benchmark indexes and
/// entry fields; the same run picks the same indexes every time.
#[derive(Debug)]
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        scramble(self.0)
    }
}

fn scramble(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// CPU time used so far by this process's threads and by its children
/// that have been waited for, from `/proc/self/stat` (in 10 ms ticks).
fn cpu_so_far() -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields are counted after the command name, which is in parentheses.
    let fields: Vec<u64> = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // utime, stime, cutime, cstime, in USER_HZ (100 a second on Linux).
    let ticks = |t: u64| Duration::from_millis(t * 10);
    match fields[..] {
        [utime, stime, cutime, cstime] => Some((ticks(utime + stime), ticks(cutime + cstime))),
        _ => None,
    }
}

/// Wall-clock and CPU time of one piece of work; CPU is this process's
/// threads plus any child process it waited for. CPU above wall means
/// more than one core worked.
#[derive(Debug, Clone, Copy)]
struct Spent {
    wall: Duration,
    cpu: Option<Duration>,
}

impl Spent {
    fn faster(self, other: Spent) -> Spent {
        if other.wall < self.wall { other } else { self }
    }

    fn line(&self) -> String {
        match self.cpu {
            Some(cpu) => format!("{:>9.2?} wall, {:>8.2?} CPU", self.wall, cpu),
            None => format!("{:>9.2?} wall", self.wall),
        }
    }
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Spent) {
    let before = cpu_so_far();
    let t = Instant::now();
    let out = f();
    let wall = t.elapsed();
    let cpu = match (before, cpu_so_far()) {
        (Some((own0, kids0)), Some((own1, kids1))) => {
            Some(own1.saturating_sub(own0) + kids1.saturating_sub(kids0))
        }
        _ => None,
    };
    (out, Spent { wall, cpu })
}

fn mib_per_sec(bytes: u64, time: Duration) -> f64 {
    bytes as f64 / time.as_secs_f64() / (1024.0 * 1024.0)
}

// ---------------------------------------------------------------------------
// Nodes and entries

/// The canonical bytes of the `i`th benchmark entry: what a node logs when
/// it receives a message, sends one, or a receipt comes back, with the ids
/// and hashes such events carry.
fn entry(i: u64) -> Result<Vec<u8>, NodeError> {
    let at = BASE + time::Duration::milliseconds(i64::try_from(i).unwrap_or(i64::MAX) / 4);
    let thread =
        custos_protocol::new_thread_id(uuid::Uuid::from_u64_pair(scramble(i), scramble(!i)));
    let subject = custos_seal::content_id(&i.to_le_bytes());
    let envelope = (i ^ 0x5eed).to_be_bytes();
    let e = match i % 3 {
        0 => Entry::new(EntryKind::MessageReceived, at, "node:FR")
            .request(thread)
            .subject(subject)
            .envelope(&envelope)
            .detail(json!({ "kind": "preservation", "from": "FR", "signed_by": "FR-2026-1" })),
        1 => Entry::new(EntryKind::ReceiptIssued, at, "node:DE")
            .request(thread)
            .subject(subject)
            .envelope(&envelope)
            .detail(json!({ "to": "FR" })),
        _ => Entry::new(EntryKind::MessageSent, at, "officer:de-bka-0042")
            .request(thread)
            .subject(subject)
            .envelope(&envelope)
            .detail(json!({ "kind": "production", "to": "FR" })),
    };
    e.encode()
}

/// A node of Germany over the SQLite file in `dir`, with the keys in
/// `dir/keys` (created when `fresh`).
async fn open_node(dir: &Path, fresh: bool) -> Result<TestNode, BenchError> {
    let builder = NodeBuilder::new("DE")
        .name("Germany (ledger benchmark)")
        .in_dir(dir)
        .clock(Arc::new(TestClock::fixed(BASE)));
    let builder = if fresh { builder } else { builder.reopen() };
    Ok(builder.build().await?)
}

/// A ledger of exactly `size` entries with a signed checkpoint at `size`,
/// reused from `root` when an earlier run completed it.
fn ledger_of(rt: &Runtime, root: &Path, size: u64) -> Result<TestNode, BenchError> {
    let dir = root.join(format!("ledger-{size}"));
    let done = dir.join("complete");
    if done.exists() {
        let node = rt.block_on(open_node(&dir, false))?;
        let (stored, cp) = rt.block_on(async {
            Ok::<_, BenchError>((
                node.store.ledger_size().await?,
                node.store.latest_checkpoint().await?,
            ))
        })?;
        if stored == size && cp.is_some_and(|c| c.size == size) {
            println!("reusing the {size}-entry ledger in {}", dir.display());
            return Ok(node);
        }
        println!(
            "the kept ledger in {} holds {stored} entries, not {size}; rebuilding",
            dir.display()
        );
        rt.block_on(node.store.close());
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io(format!("remove {}", dir.display())))?;
    }
    std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
    let node = rt.block_on(open_node(&dir, true))?;
    let start = Instant::now();
    let mut log = MemoryLog::new();
    let mut appended = 0u64;
    while appended < size - 1 {
        let n = BUILD_CHUNK.min(size - 1 - appended);
        let entries = (appended..appended + n)
            .map(entry)
            .collect::<Result<Vec<_>, _>>()?;
        let first_hash = log.stored_hashes().len();
        for e in &entries {
            log.append(e)?;
        }
        let hashes: Vec<(u64, [u8; 32])> = log.stored_hashes()[first_hash..]
            .iter()
            .zip(first_hash as u64..)
            .map(|(h, i)| (i, h.0))
            .collect();
        rt.block_on(
            node.store
                .append_ledger(appended, &[], &entries, &hashes, BASE),
        )?;
        appended += n;
        if appended % 1_000_000 < BUILD_CHUNK {
            println!(
                "  built {appended} of {size} entries ({:.0?})",
                start.elapsed()
            );
        }
    }
    // The last entry goes through the sequencer, which reads the stored
    // hashes it needs from the store and signs the checkpoint.
    let last = entry(size - 1)?;
    log.append(&last)?;
    let sequenced = rt.block_on(async {
        node.store.queue_ledger(&[last], BASE).await?;
        Ok::<_, BenchError>(node.sequence_all().await?)
    })?;
    check(sequenced == 1, || {
        format!("the sequencer appended {sequenced} entries, not 1")
    })?;
    let note = rt
        .block_on(node.latest_checkpoint())?
        .ok_or_else(|| BenchError::Check("the sequencer signed no checkpoint".into()))?;
    let cp = peek_checkpoint(&note)?;
    check(cp.size == size && cp.root == log.root(), || {
        format!(
            "the signed checkpoint (size {}, root {}) is not the tree built here (size {size}, root {})",
            cp.size,
            cp.root,
            log.root()
        )
    })?;
    std::fs::write(
        &done,
        format!("{size} entries, built in {:.1?}\n", start.elapsed()),
    )
    .map_err(io(format!("write {}", done.display())))?;
    println!(
        "built the {size}-entry ledger in {:.1?} ({})",
        start.elapsed(),
        dir.display()
    );
    Ok(node)
}

// ---------------------------------------------------------------------------
// 1. Durable appends

/// Times 4 KiB writes each followed by an fsync: the least a durable commit
/// costs on this disk.
fn fsync_probe(dir: &Path) -> Result<Latency, BenchError> {
    use std::io::Write as _;
    let path = dir.join("fsync-probe");
    let mut file =
        std::fs::File::create(&path).map_err(io(format!("create {}", path.display())))?;
    let block = [0x5a_u8; 4096];
    let mut times = Vec::with_capacity(FSYNC_PROBES);
    for _ in 0..FSYNC_PROBES {
        let t = Instant::now();
        file.write_all(&block)
            .map_err(io("write the fsync probe"))?;
        file.sync_all().map_err(io("fsync the probe"))?;
        times.push(t.elapsed());
    }
    drop(file);
    std::fs::remove_file(&path).map_err(io(format!("remove {}", path.display())))?;
    Ok(Latency::new(times))
}

fn appends(rt: &Runtime, s: &Settings, report: &mut Report) -> Result<(), BenchError> {
    println!("\n== 1. Durable appends: queue_ledger in batches, then Node::sequence_all");
    let tmp = tempfile::Builder::new()
        .prefix("appends-")
        .tempdir_in(&s.dir)
        .map_err(io(format!("create a directory in {}", s.dir.display())))?;
    let fsync = fsync_probe(tmp.path())?;
    println!("disk: 4 KiB write + fsync {}", fsync.line());

    let node = rt.block_on(open_node(tmp.path(), true))?;
    let entries = (0..s.appends).map(entry).collect::<Result<Vec<_>, _>>()?;
    let bytes: usize = entries.iter().map(Vec::len).sum();
    let mean = bytes as f64 / entries.len() as f64;
    println!(
        "{} entries, {mean:.0} bytes each on average ({} to {} bytes)",
        entries.len(),
        entries.iter().map(Vec::len).min().unwrap_or(0),
        entries.iter().map(Vec::len).max().unwrap_or(0)
    );

    let (queued, queue) = timed(|| {
        rt.block_on(async {
            for batch in entries.chunks(QUEUE_BATCH) {
                node.store.queue_ledger(batch, BASE).await?;
            }
            Ok::<_, StoreError>(())
        })
    });
    queued?;
    let (appended, sequence) = timed(|| rt.block_on(node.sequence_all()));
    let appended = appended?;
    let (queue_time, sequence_time) = (queue.wall, sequence.wall);
    check(appended as u64 == s.appends, || {
        format!(
            "sequence_all appended {appended} entries, not {}",
            s.appends
        )
    })?;
    let (size, cp) = rt.block_on(async {
        Ok::<_, BenchError>((
            node.store.ledger_size().await?,
            node.store.latest_checkpoint().await?,
        ))
    })?;
    check(
        size == s.appends && cp.is_some_and(|c| c.size == size),
        || {
            format!(
                "after sequencing the ledger holds {size} entries, expected {}",
                s.appends
            )
        },
    )?;
    let parts = append_parts(rt, &node, &entries)?;
    rt.block_on(node.store.close());

    let n = s.appends as f64;
    let per_sec = |t: Duration| n / t.as_secs_f64();
    let batches = s.appends.div_ceil(u64::from(custos_node::custody::BATCH));
    println!(
        "queue_ledger, {QUEUE_BATCH} per call:               {}  {:>7.0} entries/s",
        queue.line(),
        per_sec(queue_time)
    );
    println!(
        "sequence_all, {} per batch ({batches} batches): {}  {:>7.0} entries/s  ({:.2?} a batch)",
        custos_node::custody::BATCH,
        sequence.line(),
        per_sec(sequence_time),
        sequence_time / u32::try_from(batches).unwrap_or(u32::MAX)
    );
    let both = queue_time + sequence_time;
    println!(
        "queue + sequence:                        {both:>9.2?} wall                 {:>7.0} entries/s",
        per_sec(both)
    );
    let counted: Duration = parts.steps.iter().map(|(_, d)| *d).sum();
    println!(
        "where a batch of {} goes (means over {BREAKDOWN_BATCHES} more batches through sequence_ledger \
         and {BREAKDOWN_BATCHES} done step by step, alternating):",
        custos_node::custody::BATCH
    );
    println!(
        "  {:<56} {:>9.2?}",
        "sequence_ledger, whole batch", parts.whole
    );
    for (what, d) in &parts.steps {
        println!("  {what:<56} {d:>9.2?}");
    }
    println!("  {:<56} {counted:>9.2?}", "sum of the steps");
    // append_ledger inserts the entries and the hashes as multi-row
    // statements of up to 500 rows, besides a size update, a delete, a
    // check for entries past the size and a read of existing hashes.
    let rows = custos_node::custody::BATCH as usize + parts.hashes_per_batch;
    if let Some((_, append)) = parts.steps.get(2) {
        println!(
            "  append_ledger wrote {rows} rows: {:.1?} a row",
            *append / u32::try_from(rows).unwrap_or(u32::MAX)
        );
    }
    let target = "≥ 20,000 entries/s";
    report.add(
        "appends/s, sequence_all (durable)",
        format!("{:.0}", per_sec(sequence_time)),
        target,
        Some(per_sec(sequence_time) >= APPENDS_PER_SEC_TARGET),
    );
    report.add(
        "appends/s, queue + sequence (durable)",
        format!("{:.0}", per_sec(both)),
        target,
        Some(per_sec(both) >= APPENDS_PER_SEC_TARGET),
    );
    Ok(())
}

/// Times `BREAKDOWN_BATCHES` more batches through `Node::sequence_ledger`
/// and as many whose steps are done here one by one with the same store
/// calls, alternating which comes first, and returns the mean times. The
/// step-by-step batches compute their hashes from an in-memory copy of the
/// tree instead of reading the few stored hashes they need back from the
/// store.
fn append_parts(
    rt: &Runtime,
    node: &TestNode,
    appended: &[Vec<u8>],
) -> Result<AppendParts, BenchError> {
    let mut log = MemoryLog::from_entries(appended)?;
    let mut steps = [Duration::ZERO; 4];
    let mut whole = Duration::ZERO;
    let mut hashes_written = 0usize;
    for k in 0..BREAKDOWN_BATCHES {
        if k % 2 == 0 {
            whole += sequencer_batch(rt, node, &mut log)?;
            hashes_written += stepwise_batch(rt, node, &mut log, &mut steps)?;
        } else {
            hashes_written += stepwise_batch(rt, node, &mut log, &mut steps)?;
            whole += sequencer_batch(rt, node, &mut log)?;
        }
    }
    let names = [
        "pending_ledger (read the queued batch)",
        "leaf and node hashes, in memory",
        "append_ledger (one transaction, multi-row inserts)",
        "sign the checkpoint and put_checkpoint",
    ];
    Ok(AppendParts {
        steps: names
            .into_iter()
            .zip(steps)
            .map(|(what, total)| (what, total / BREAKDOWN_BATCHES))
            .collect(),
        whole: whole / BREAKDOWN_BATCHES,
        hashes_per_batch: hashes_written / BREAKDOWN_BATCHES as usize,
    })
}

/// Queues the next batch of entries after those in `log`; returns them.
fn queue_next_batch(
    rt: &Runtime,
    node: &TestNode,
    log: &MemoryLog,
) -> Result<Vec<Vec<u8>>, BenchError> {
    let from = log.size();
    let fresh = (from..from + u64::from(custos_node::custody::BATCH))
        .map(entry)
        .collect::<Result<Vec<_>, _>>()?;
    rt.block_on(node.store.queue_ledger(&fresh, BASE))?;
    Ok(fresh)
}

/// One batch through the sequencer itself; returns its time.
fn sequencer_batch(
    rt: &Runtime,
    node: &TestNode,
    log: &mut MemoryLog,
) -> Result<Duration, BenchError> {
    let fresh = queue_next_batch(rt, node, log)?;
    let t = Instant::now();
    let sequenced = rt.block_on(node.sequence_ledger())?;
    let took = t.elapsed();
    check(sequenced == fresh.len(), || {
        format!(
            "sequence_ledger appended {sequenced} entries, not {}",
            fresh.len()
        )
    })?;
    for e in &fresh {
        log.append(e)?;
    }
    Ok(took)
}

/// One batch with the sequencer's steps done one by one, each step's time
/// added to `steps`; returns how many hashes it stored.
fn stepwise_batch(
    rt: &Runtime,
    node: &TestNode,
    log: &mut MemoryLog,
    steps: &mut [Duration; 4],
) -> Result<usize, BenchError> {
    let fresh = queue_next_batch(rt, node, log)?;
    let from = log.size();

    let t = Instant::now();
    let pending = rt.block_on(node.store.pending_ledger(custos_node::custody::BATCH))?;
    steps[0] += t.elapsed();
    check(pending.len() == fresh.len(), || {
        format!("{} entries pending, not {}", pending.len(), fresh.len())
    })?;

    let t = Instant::now();
    let first_hash = log.stored_hashes().len();
    for p in &pending {
        log.append(&p.entry)?;
    }
    let hashes: Vec<(u64, [u8; 32])> = log.stored_hashes()[first_hash..]
        .iter()
        .zip(first_hash as u64..)
        .map(|(h, i)| (i, h.0))
        .collect();
    let root = log.root();
    steps[1] += t.elapsed();

    let t = Instant::now();
    let consumed: Vec<i64> = pending.iter().map(|p| p.id).collect();
    let entries: Vec<Vec<u8>> = pending.into_iter().map(|p| p.entry).collect();
    rt.block_on(
        node.store
            .append_ledger(from, &consumed, &entries, &hashes, BASE),
    )?;
    steps[2] += t.elapsed();

    // The node's signing key, read from its key folder outside the timing.
    let keys = Keystore::load(&node.dir().join("keys"))?;
    let t = Instant::now();
    let origin = node.ledger_origin();
    let checkpoint = custos_ledger::Checkpoint::new(&origin, log.size(), root)?;
    let note = custos_ledger::sign_checkpoint(&checkpoint, &origin, &keys.signing)?;
    rt.block_on(node.store.put_checkpoint(&StoredCheckpoint {
        size: log.size(),
        note,
        created_at: BASE,
    }))?;
    steps[3] += t.elapsed();
    Ok(hashes.len())
}

/// Mean times of one sequencer batch and of its steps done one by one.
#[derive(Debug)]
struct AppendParts {
    steps: Vec<(&'static str, Duration)>,
    whole: Duration,
    hashes_per_batch: usize,
}

// ---------------------------------------------------------------------------

fn run() -> Result<(), BenchError> {
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`,
    // `--all-targets`) the run is a quick smoke run on small ledgers.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let s = Settings::from_env(smoke)?;
    std::fs::create_dir_all(&s.dir).map_err(io(format!("create {}", s.dir.display())))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("custody-ledger benchmark");
    if smoke {
        println!(
            "smoke run with small ledgers (not started by `cargo bench`; figures mean little)"
        );
    }
    println!("command: cargo bench -p custos-node --bench ledger");
    for name in [
        "CUSTOS_BENCH_APPENDS",
        "CUSTOS_BENCH_PROOF_SIZES",
        "CUSTOS_BENCH_VERIFY_SIZE",
        "CUSTOS_BENCH_DIR",
    ] {
        if let Some(v) = env(name) {
            println!("  with {name}={v}");
        }
    }
    println!("machine: {cores} cores (nproc), {}", cpu_model());
    println!("load average at start: {}", load_average());
    println!(
        "store: SQLite on disk (WAL, synchronous=FULL), ledgers kept in {}",
        s.dir.display()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.min(2))
        .enable_all()
        .build()
        .map_err(io("start the tokio runtime"))?;
    let mut report = Report::default();
    appends(&rt, &s, &mut report)?;
    proofs(&rt, &s, &mut report)?;
    verification(&rt, &s, &mut report)?;
    report.print();
    println!("load average at end: {}", load_average());
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ledger benchmark failed: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}
