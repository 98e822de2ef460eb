//! Figures for the ledger's two performance targets, printed rather than
//! asserted: (1) re-verifying a whole ledger in one streaming pass compared
//! with bare SHA-256 over the same bytes, for several entry sizes; (2) the
//! time to produce inclusion and consistency proofs from stored hashes in a
//! large log. Run with `cargo bench -p custos-ledger`; set
//! `CUSTOS_BENCH_ENTRIES` (default 1,000,000) for the proof log size, e.g.
//! 10000000 for the 10M-entry target (about 640 MB of stored hashes).

use std::hint::black_box;
use std::time::{Duration, Instant};

use custos_ledger::{MemoryLog, root_of_entries};
use sha2::{Digest as _, Sha256};

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn throughput(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / time.as_secs_f64() / (1024.0 * 1024.0)
}

fn verification() {
    const TOTAL: usize = 64 << 20;
    println!(
        "full verification vs bare SHA-256 over {} MiB of entries",
        TOTAL >> 20
    );
    println!(
        "{:>10} {:>14} {:>14} {:>8}",
        "entry", "SHA-256 MiB/s", "ledger MiB/s", "ratio"
    );
    for size in [128usize, 256, 1024, 4096, 16384] {
        let count = TOTAL / size;
        let entries: Vec<Vec<u8>> = (0..count)
            .map(|i| (0..size).map(|j| (i * 31 + j) as u8).collect())
            .collect();
        let bare = best_of(3, || {
            let mut hasher = Sha256::new();
            for e in &entries {
                hasher.update(e);
            }
            hasher.finalize()
        });
        let ledger = best_of(3, || root_of_entries(&entries).map(|(_, root)| root));
        let (a, b) = (throughput(TOTAL, bare), throughput(TOTAL, ledger));
        println!("{size:>10} {a:>14.0} {b:>14.0} {:>8.2}", b / a);
    }
}

fn proofs() {
    let entries: u64 = std::env::var("CUSTOS_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let start = Instant::now();
    let mut log = MemoryLog::new();
    for i in 0..entries {
        log.append(&i.to_le_bytes()).unwrap_or_default();
    }
    println!(
        "\nproofs in a log of {entries} entries ({} stored hashes, built in {:.1?})",
        log.stored_hashes().len(),
        start.elapsed()
    );
    const ROUNDS: u64 = 10_000;
    let step = (entries / ROUNDS).max(1);
    let start = Instant::now();
    for r in 0..ROUNDS {
        black_box(log.prove_inclusion((r * step) % entries, entries).ok());
    }
    println!(
        "inclusion proof:   {:>8.2?} each",
        start.elapsed() / ROUNDS as u32
    );
    let start = Instant::now();
    for r in 0..ROUNDS {
        black_box(
            log.prove_consistency(1 + (r * step) % (entries - 1), entries)
                .ok(),
        );
    }
    println!(
        "consistency proof: {:>8.2?} each",
        start.elapsed() / ROUNDS as u32
    );
    let start = Instant::now();
    for r in 0..ROUNDS {
        black_box(log.root_at(1 + (r * step) % entries).ok());
    }
    println!(
        "root at any size:  {:>8.2?} each",
        start.elapsed() / ROUNDS as u32
    );
}

fn main() {
    verification();
    proofs();
}
