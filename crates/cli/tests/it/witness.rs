//! Witnessing between real node processes: a peer cosigns a consistent
//! checkpoint, and catches a node that rewrote its history.
//!
//! The rewrite is done the way a dishonest operator would: stop the node, change
//! an old ledger entry in its SQLite file and recompute every stored hash so
//! that the node's own `ledger verify` passes, then carry on. The witness, which
//! cosigned the earlier checkpoint, must refuse and keep the evidence.

use std::fmt::Write as _;

use crate::common::{Network, draft};
use custos_ledger::MemoryLog;
use custos_model::RequestKind;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[test]
fn a_witness_cosigns_consistent_checkpoints_and_catches_a_rewritten_ledger() {
    let mut net = Network::start(&["FR", "DE"]);
    for _ in 0..2 {
        assert_eq!(
            net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[])
                .delivery,
            "delivered"
        );
    }
    let de = net.dir("DE").display().to_string();
    let fr = net.dir("FR").display().to_string();

    // DE asks FR (and any other peer) to cosign; FR cosigns.
    let out = net.run_ok(&["ledger", "witness", "--data", &de]);
    assert!(out.contains("FR: cosigned size"), "{out}");
    let note = net.run_ok(&["ledger", "checkpoint", "--data", &de]);
    assert!(note.contains("— custos.ledger/DE "), "{note}");
    assert!(
        note.contains("— custos.witness/FR "),
        "the checkpoint carries FR's cosignature: {note}"
    );
    // Witnessed again, FR cosigns the grown ledger (the reads and
    // witnessing just done are recorded in it) as consistent with the last.
    let size = |out: &str| -> u64 {
        out.split("cosigned size ")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a cosigned size in {out:?}"))
    };
    let again = net.run_ok(&["ledger", "witness", "--data", &de]);
    assert!(again.contains("FR: cosigned size"), "{again}");
    assert!(size(&again) > size(&out), "{out} then {again}");
    assert!(
        net.run(&["ledger", "forks", "--data", &fr])
            .status
            .success(),
        "no fork yet"
    );

    // DE's operator rewrites an old entry and every stored hash, behind the node's back.
    net.stop("DE");
    let store = net.store("DE");
    let entries = net
        .block_on(store.ledger_entries(0, 1000))
        .expect("entries");
    net.block_on(store.close());
    drop(store);
    let mut rewritten: Vec<Vec<u8>> = entries.iter().map(|e| e.entry.clone()).collect();
    // The first entry that names FR (the first ones may be the access
    // check's decisions, which name no State).
    let first = rewritten
        .iter()
        .position(|e| String::from_utf8_lossy(e).contains("\"FR\""))
        .expect("an entry names FR");
    let text = String::from_utf8(rewritten[first].clone()).expect("entries are JSON text");
    rewritten[first] = text.replacen("\"FR\"", "\"IT\"", 1).into_bytes();
    assert_ne!(
        rewritten[first], entries[first].entry,
        "the rewrite changed something"
    );
    let log = MemoryLog::from_entries(rewritten.iter()).expect("a tree");
    let mut script = format!(
        "UPDATE ledger_entries SET entry = X'{}' WHERE idx = {first};\n",
        hex(&rewritten[first])
    );
    // The store keeps its tree hashes 32 to a row, by storage index.
    for (block, hashes) in log.stored_hashes().chunks(32).enumerate() {
        let bytes: Vec<u8> = hashes.iter().flat_map(|h| h.0).collect();
        let _ = writeln!(
            script,
            "UPDATE ledger_hash_blocks SET hashes = X'{}' WHERE block = {block};",
            hex(&bytes)
        );
    }
    let db = net.dir("DE").join("custos.db");
    let py = "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.executescript(sys.stdin.read())\nc.commit()\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", py, db.to_str().expect("UTF-8 path")])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), script.as_bytes())
        .expect("script written");
    assert!(child.wait().expect("python3 finishes").success());

    // The node carries on: a new message, a new checkpoint over the rewritten history.
    net.start_node("DE");
    assert_eq!(
        net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[])
            .delivery,
        "delivered"
    );
    let witnessed = net.run(&["ledger", "witness", "--data", &de]);
    let out = String::from_utf8_lossy(&witnessed.stdout);
    assert!(
        !out.contains("FR: cosigned"),
        "FR must not cosign a rewritten history: {out}"
    );
    assert!(out.contains("FR: FORK"), "{out}");
    assert_eq!(
        witnessed.status.code(),
        Some(1),
        "a witness reporting a fork fails the command: {out}"
    );

    // FR kept the evidence and raised the alarm.
    let forks = net.run(&["ledger", "forks", "--data", &fr, "--json"]);
    assert_eq!(
        forks.status.code(),
        Some(1),
        "forks exits 1 when a fork is on record"
    );
    let rows: serde_json::Value = serde_json::from_slice(&forks.stdout).expect("JSON");
    assert_eq!(rows[0]["origin"], "custos.ledger/DE");
    assert_eq!(rows[0]["evidence"]["kind"], "consistency_proof_failed");
    assert!(
        rows[0]["evidence"]["earlier_note"]
            .as_str()
            .is_some_and(|n| n.contains("custos.ledger/DE"))
    );
    assert!(
        net.log("FR").contains("FORK DETECTED"),
        "the operator is alerted in the log"
    );
}
