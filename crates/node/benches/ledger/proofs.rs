//! Part 2 of the ledger benchmark: inclusion proofs at each ledger size,
//! read cold and then warm.

use super::*;

/// Reads stored hashes straight from the store, one query per call.
pub(crate) struct StoreReader<'a> {
    rt: &'a Runtime,
    store: &'a dyn Store,
}

impl HashReader for StoreReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, LedgerError> {
        self.rt
            .block_on(self.store.ledger_hashes(indexes))
            .map(|hashes| hashes.into_iter().map(Hash).collect())
            .map_err(|e| LedgerError::HashRead {
                reason: e.to_string(),
            })
    }
}

/// Times `Node::prove_entry` at each index; the first `PROOF_WARMUP` are not counted.
pub(crate) fn time_bundles(
    rt: &Runtime,
    node: &TestNode,
    size: u64,
    indexes: &[u64],
) -> Result<Latency, BenchError> {
    rt.block_on(async {
        let mut times = Vec::with_capacity(indexes.len());
        for (k, &i) in indexes.iter().enumerate() {
            let t = Instant::now();
            let bundle = node.prove_entry(i).await?;
            let took = t.elapsed();
            check(bundle.index == i && bundle.tree_size == size, || {
                format!("prove_entry({i}) returned a bundle for {}", bundle.index)
            })?;
            black_box(bundle);
            if k >= PROOF_WARMUP {
                times.push(took);
            }
        }
        Ok(Latency::new(times))
    })
}

/// Times `prove_inclusion` over the store at each index; the first
/// `PROOF_WARMUP` are not counted.
pub(crate) fn time_paths(
    rt: &Runtime,
    node: &TestNode,
    size: u64,
    indexes: &[u64],
) -> Result<Latency, BenchError> {
    let reader = StoreReader {
        rt,
        store: node.store.as_ref(),
    };
    let depth = 64 - (size - 1).leading_zeros() as usize;
    let mut times = Vec::with_capacity(indexes.len());
    for (k, &i) in indexes.iter().enumerate() {
        let t = Instant::now();
        let path = prove_inclusion(i, size, &reader)?;
        let took = t.elapsed();
        check(path.len() <= depth && !path.is_empty(), || {
            format!("the proof of {i} has {} hashes", path.len())
        })?;
        black_box(path);
        if k >= PROOF_WARMUP {
            times.push(took);
        }
    }
    Ok(Latency::new(times))
}

/// How much of `file` the page cache holds, as `fincore` (util-linux)
/// reports it, when that tool is installed.
pub(crate) fn cached_share(file: &Path) -> Option<String> {
    let out = Command::new("fincore")
        .args(["--noheadings", "--output", "RES,SIZE"])
        .arg(file)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let (res, size) = (words.next()?, words.next()?);
    Some(format!("{res} of {size} in the page cache"))
}

pub(crate) fn proofs(rt: &Runtime, s: &Settings, report: &mut Report) -> Result<(), BenchError> {
    println!(
        "\n== 2. Inclusion proofs from stored hashes ({PROOF_SAMPLES} random indexes after {PROOF_WARMUP} not counted; \
         first pass with the database as found in the page cache, then the same indexes again)"
    );
    for &size in &s.proof_sizes {
        let node = ledger_of(rt, &s.dir, size)?;
        let db = s.dir.join(format!("ledger-{size}")).join("custos.db");
        let found = cached_share(&db);

        // One bundle, checked the way a court would check it.
        let key = node.ledger_verifier_key()?;
        let sample = rt.block_on(node.prove_entry(size / 3))?;
        let cp = sample.verify(&key)?;
        check(cp.size == size, || {
            format!("the bundle proves against size {}, not {size}", cp.size)
        })?;

        let mut mix = Mix(size);
        let mut pick = || -> Vec<u64> {
            (0..PROOF_WARMUP + PROOF_SAMPLES)
                .map(|_| mix.next() % size)
                .collect()
        };
        let (for_bundles, for_paths) = (pick(), pick());
        let bundles = time_bundles(rt, &node, size, &for_bundles)?;
        let paths = time_paths(rt, &node, size, &for_paths)?;
        let bundles_again = time_bundles(rt, &node, size, &for_bundles)?;
        let paths_again = time_paths(rt, &node, size, &for_paths)?;
        rt.block_on(node.store.close());

        println!("{size} entries:");
        if let Some(found) = found {
            println!("  database file: {found} at the start");
        }
        println!("  Node::prove_entry (bundle)          {}", bundles.line());
        println!(
            "    same indexes again                {}",
            bundles_again.line()
        );
        println!("  prove_inclusion over ledger_hashes  {}", paths.line());
        println!(
            "    same indexes again                {}",
            paths_again.line()
        );
        let judged = size >= PROOF_TARGET_SIZE;
        let target = if judged {
            "p99 ≤ 1 ms at 10M"
        } else {
            "(target at 10M)"
        };
        for (what, lat) in [
            ("prove_entry", &bundles),
            ("prove_entry, warm", &bundles_again),
            ("prove_inclusion", &paths),
            ("prove_inclusion, warm", &paths_again),
        ] {
            report.add(
                format!("{what} at {}, median / p99", human(size)),
                format!("{:.1?} / {:.1?}", lat.pct(50), lat.pct(99)),
                target,
                judged.then(|| lat.pct(99) <= PROOF_TARGET),
            );
        }
    }
    Ok(())
}

pub(crate) fn human(n: u64) -> String {
    if n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}
