//! Part 3 of the ledger benchmark: full verification of a ledger, beside
//! `openssl dgst -sha256` over the same entry bytes, and where its time goes.

use super::*;
use crate::proofs::human;

/// Every entry of the ledger, read page by page.
pub(crate) async fn read_entries(store: &dyn Store, size: u64) -> Result<Vec<Vec<u8>>, BenchError> {
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    while (out.len() as u64) < size {
        let page = store.ledger_entries(out.len() as u64, 50_000).await?;
        if page.is_empty() {
            break;
        }
        out.extend(page.into_iter().map(|e| e.entry));
    }
    out.truncate(usize::try_from(size).unwrap_or(usize::MAX));
    check(out.len() as u64 == size, || {
        format!("read {} of {size} entries", out.len())
    })?;
    Ok(out)
}

/// How many threads the SQLite scan reads and digests the entries on.
const ENTRY_READERS: usize = 2;

/// A digest that looks at nothing, to time the scan's reading alone.
pub(crate) fn no_digest(_: &[u8]) -> [u8; 32] {
    [0; 32]
}

/// The leaf hash, as `verify_ledger` has the scan compute it.
pub(crate) fn leaf_digest(entry: &[u8]) -> [u8; 32] {
    leaf_hash(entry).0
}

/// The tree hashes of a whole run's subtree, as `verify_ledger` has the
/// scan compute them.
pub(crate) fn run_tree(leaves: &[[u8; 32]], out: &mut Vec<[u8; 32]>) {
    let mut tree = RootBuilder::new();
    for leaf in leaves {
        let _ = tree.push_leaf_hash_stored(Hash(*leaf), |h| out.push(h.0));
    }
}

/// Drains one stream of a ledger scan on its own (the entries' digests
/// made with `digest`, or the stored hashes); returns how many it held.
pub(crate) async fn scan_alone(
    store: &dyn Store,
    size: u64,
    entries: Option<custos_store::EntryDigest>,
) -> Result<u64, BenchError> {
    let mut read = 0u64;
    if let Some(digest) = entries {
        let mut scan = store.ledger_scan(size, 0, digest).await?;
        while let Some(run) = scan.digests.recv().await {
            let run = run?;
            read += run.hashes.len() as u64;
            scan.spent.digests(run);
        }
    } else {
        let mut scan = store
            .ledger_scan(
                0,
                stored_hash_count(size),
                custos_store::EntryDigest::each(no_digest),
            )
            .await?;
        while let Some(run) = scan.hashes.recv().await {
            let run = run?;
            read += run.hashes.len() as u64;
            scan.spent.hashes(run);
        }
    }
    Ok(read)
}

/// Times `openssl dgst -sha256` over `path`, whole process; the fastest of
/// `OPENSSL_RUNS`.
pub(crate) fn openssl_sha256(path: &Path) -> Result<Spent, BenchError> {
    let mut best: Option<Spent> = None;
    for _ in 0..OPENSSL_RUNS {
        let (out, spent) = timed(|| {
            Command::new("openssl")
                .arg("dgst")
                .arg("-sha256")
                .arg(path)
                .output()
        });
        let out = out.map_err(io("run `openssl dgst -sha256` (is openssl installed?)"))?;
        check(out.status.success(), || {
            format!(
                "openssl dgst failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
        best = Some(best.map_or(spent, |b| b.faster(spent)));
    }
    best.ok_or_else(|| BenchError::Check("openssl was not run".into()))
}

pub(crate) fn verification(
    rt: &Runtime,
    s: &Settings,
    report: &mut Report,
) -> Result<(), BenchError> {
    let size = s.verify_size;
    println!("\n== 3. Full verification (Node::verify_ledger) vs openssl dgst -sha256");
    let node = ledger_of(rt, &s.dir, size)?;
    let store = node.store.as_ref();

    // The same bytes in a file, for openssl; read once before anything is timed.
    let entries = rt.block_on(read_entries(store, size))?;
    let bytes: u64 = entries.iter().map(|e| e.len() as u64).sum();
    let file = tempfile::Builder::new()
        .prefix("entries-")
        .tempfile_in(&s.dir)
        .map_err(io(format!("create a file in {}", s.dir.display())))?;
    {
        use std::io::Write as _;
        let mut w = std::io::BufWriter::new(file.as_file());
        for e in &entries {
            w.write_all(e).map_err(io("write the entries file"))?;
        }
        w.flush().map_err(io("write the entries file"))?;
    }
    let version = Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!(
        "{size} entries, {bytes} bytes ({:.1} MiB, {:.0} bytes each); {version}",
        bytes as f64 / (1024.0 * 1024.0),
        bytes as f64 / size as f64
    );

    let openssl = openssl_sha256(file.path())?;
    let mut verify: Option<Spent> = None;
    for _ in 0..VERIFY_RUNS {
        let (found, spent) = timed(|| rt.block_on(node.verify_ledger(&mut |_, _| {})));
        let found = found?;
        check(
            found.size == size && found.checkpoint_size == Some(size),
            || format!("verify_ledger reported {found:?}"),
        )?;
        verify = Some(verify.map_or(spent, |v| v.faster(spent)));
    }
    let verify = verify.ok_or_else(|| BenchError::Check("verify_ledger was not run".into()))?;
    let ratio = openssl.wall.as_secs_f64() / verify.wall.as_secs_f64();
    let per_million = verify.wall.mul_f64(1_000_000.0 / size as f64);
    println!(
        "openssl dgst -sha256 (best of {OPENSSL_RUNS}, whole process): {}  {:>6.0} MiB/s",
        openssl.line(),
        mib_per_sec(bytes, openssl.wall)
    );
    println!(
        "Node::verify_ledger (best of {VERIFY_RUNS}):                 {}  {:>6.0} MiB/s  ({per_million:.2?} per million entries)",
        verify.line(),
        mib_per_sec(bytes, verify.wall)
    );
    println!("verify speed / openssl speed: {ratio:.3}");

    // Where the time goes: each part of verify_ledger's work on its own.
    println!("breakdown (each part alone, one run each):");
    let digest = custos_store::EntryDigest::each;
    let (reread, read_entries) =
        timed(|| rt.block_on(scan_alone(store, size, Some(digest(no_digest)))));
    check(reread? == size, || {
        "the entries changed between reads".into()
    })?;
    let with_tree = digest(leaf_digest).with_runs(run_tree);
    let (reread, read_leaves) = timed(|| rt.block_on(scan_alone(store, size, Some(with_tree))));
    check(reread? == size, || {
        "the entries changed between reads".into()
    })?;
    let (hashes, read_hashes) = timed(|| rt.block_on(scan_alone(store, size, None)));
    let hashes = hashes?;
    check(hashes == stored_hash_count(size), || {
        format!(
            "read {hashes} stored hashes, expected {}",
            stored_hash_count(size)
        )
    })?;
    let (leaves, leaf) = timed(|| entries.iter().map(|e| leaf_hash(e)).collect::<Vec<_>>());
    let (tree, nodes) = timed(|| {
        let mut tree = RootBuilder::new();
        let mut stored = 0u64;
        for leaf in &leaves {
            tree.push_leaf_hash_stored(*leaf, |h| {
                black_box(h);
                stored += 1;
            })?;
        }
        Ok::<_, LedgerError>((tree, stored))
    });
    let (tree, stored) = tree?;
    check(stored == stored_hash_count(size), || {
        "the tree computed a different number of stored hashes".into()
    })?;
    let root = tree.root();
    let (halves, leaf2) = timed(|| {
        std::thread::scope(|scope| {
            let (a, b) = entries.split_at(entries.len() / 2);
            let second = scope.spawn(|| b.iter().map(|e| leaf_hash(e)).collect::<Vec<_>>());
            let mut first: Vec<Hash> = a.iter().map(|e| leaf_hash(e)).collect();
            first.extend(second.join().unwrap_or_default());
            first
        })
    });
    check(halves == leaves, || {
        "leaf hashes on two threads differ".into()
    })?;
    let (_, bare) = timed(|| {
        let mut sha = Sha256::new();
        for e in &entries {
            sha.update(e);
        }
        black_box(sha.finalize())
    });
    let note = rt
        .block_on(node.latest_checkpoint())?
        .ok_or_else(|| BenchError::Check("no checkpoint".into()))?;
    check(peek_checkpoint(&note)?.root == root, || {
        "the recomputed root is not the checkpoint's".into()
    })?;
    let parts = read_entries.wall + read_hashes.wall + leaf.wall + nodes.wall;
    let share = |d: Duration| 100.0 * d.as_secs_f64() / parts.as_secs_f64();
    let lines = [
        (
            format!("scan the entries ({ENTRY_READERS} readers, no digest)"),
            read_entries,
        ),
        (
            format!("scan the stored hashes ({})", stored_hash_count(size)),
            read_hashes,
        ),
        ("leaf hashes (SHA-256 of 0x00 || entry)".to_owned(), leaf),
        ("node hashes (RootBuilder)".to_owned(), nodes),
    ];
    for (what, spent) in &lines {
        println!("  {what:<48} {}  {:>3.0}%", spent.line(), share(spent.wall));
    }
    println!("  {:<48} {parts:>9.2?} wall", "sum of the parts");
    println!(
        "  scan the entries with leaf hashes and each run's tree hashes, as verify does ({ENTRY_READERS} readers): {}",
        read_leaves.line()
    );
    println!(
        "  for comparison: leaf hashes on 2 threads {}; one SHA-256 over all bytes in-process {} ({:.0} MiB/s)",
        leaf2.line(),
        bare.line(),
        mib_per_sec(bytes, bare.wall)
    );
    rt.block_on(node.store.close());

    report.add(
        format!("verify_ledger time per 1M entries (at {})", human(size)),
        format!("{per_million:.2?}"),
        "-",
        None,
    );
    report.add(
        "verify speed / openssl dgst -sha256 speed",
        format!("{ratio:.2}×"),
        "≥ 0.8×",
        Some(ratio >= VERIFY_RATIO_TARGET),
    );
    Ok(())
}
