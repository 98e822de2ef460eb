//! The custody ledger through the binary: real node processes, real SQLite files edited behind the node's back.

use std::path::Path;

use crate::common::{Network, draft};
use custos_model::RequestKind;

fn verify(net: &Network, cc: &str) -> (Option<i32>, String) {
    let dir = net.dir(cc);
    let out = net.run(&[
        "ledger",
        "verify",
        "--data",
        dir.to_str().expect("UTF-8 path"),
    ]);
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn sql(db: &Path, statements: &str) {
    // Plain rusqlite is not a dependency; python3's sqlite3 module is on every machine CI runs on.
    let script = format!(
        "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.executescript({statements:?})\nc.commit()\n"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script, db.to_str().expect("UTF-8 path")])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_exchange_is_logged_proved_offline_and_tampering_is_caught() {
    let mut net = Network::start(&["FR", "DE"]);
    for _ in 0..3 {
        let sent = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
        assert_eq!(sent.delivery, "delivered");
    }
    // Reading a request is a custody event too.
    let id = net.requests("DE")[0]["id"].as_str().unwrap().to_owned();
    net.show("DE", &id);

    // Each receipt came with a proof that DE logged the message; FR checked it and keeps it in its own ledger.
    let fr_store = net.store("FR");
    let fr_entries = net
        .block_on(fr_store.ledger_entries(0, 100))
        .expect("FR's ledger");
    net.block_on(fr_store.close());
    let custody: Vec<serde_json::Value> = fr_entries
        .iter()
        .map(|e| serde_json::from_slice::<serde_json::Value>(&e.entry).expect("entries are JSON"))
        .filter(|e| e["kind"] == "receipt-received")
        .map(|e| e["detail"]["custody"].clone())
        .collect();
    assert_eq!(custody.len(), 3, "{custody:?}");
    for c in &custody {
        assert_eq!(c["valid"], true, "{c}");
        let bundle = c["bundle"].to_string();
        let key = net
            .run_ok(&[
                "ledger",
                "key",
                "--data",
                net.dir("DE").to_str().expect("UTF-8"),
            ])
            .trim()
            .to_owned();
        let file = net.scratch("custody.json");
        std::fs::write(&file, bundle).unwrap();
        let out = net.run(&[
            "ledger",
            "verify-bundle",
            file.to_str().expect("UTF-8"),
            "--key",
            &key,
        ]);
        assert!(
            out.status.success(),
            "the receiver's custody proof verifies offline: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    // Stop the nodes so that nothing else writes while we check and tamper.
    net.stop("FR");
    net.stop("DE");

    let (code, out) = verify(&net, "FR");
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("ledger OK: 7 entries"),
        "3 sent + 3 receipts received + the access check's decision to import the directory (each sending's decision names its message-sent entry): {out}"
    );
    let (code, out) = verify(&net, "DE");
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("ledger OK: 12 entries"),
        "the directory's import + 3 received + 3 receipts issued + 3 alerts raised for the urgent preservations + 1 listing + 1 read (the access check's decisions): {out}"
    );

    // A proof bundle verifies offline with the verifier key alone, and fails after any change.
    let de = net.dir("DE");
    let de = de.to_str().unwrap();
    let bundle = net.scratch("bundle.json");
    net.run_ok(&[
        "ledger",
        "prove",
        "--data",
        de,
        "--entry",
        "4",
        "--out",
        bundle.to_str().unwrap(),
    ]);
    let key = net
        .run_ok(&["ledger", "key", "--data", de])
        .trim()
        .to_owned();
    assert!(key.starts_with("custos.ledger/DE+"), "{key}");
    let ok = net.run(&[
        "ledger",
        "verify-bundle",
        bundle.to_str().unwrap(),
        "--key",
        &key,
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let text = std::fs::read_to_string(&bundle).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["index"] = serde_json::json!(3);
    let forged = net.scratch("forged.json");
    std::fs::write(&forged, value.to_string()).unwrap();
    let bad = net.run(&[
        "ledger",
        "verify-bundle",
        forged.to_str().unwrap(),
        "--key",
        &key,
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let other_key = net
        .run_ok(&["ledger", "key", "--data", net.dir("FR").to_str().unwrap()])
        .trim()
        .to_owned();
    let wrong_key = net.run(&[
        "ledger",
        "verify-bundle",
        bundle.to_str().unwrap(),
        "--key",
        &other_key,
    ]);
    assert_eq!(wrong_key.status.code(), Some(1));

    // Tampering with the stored rows is caught and the first bad entry named.
    // Each verification records the operator's decision in the ledger
    // (sequenced by the next command), so the node's mark of the last
    // checkpoint it signed is restored with the database.
    let db = net.dir("DE").join("custos.db");
    let mark = net.dir("DE").join("latest-checkpoint");
    let pristine = std::fs::read(&db).unwrap();
    let pristine_mark = std::fs::read(&mark).unwrap();
    let restore = || {
        std::fs::write(&db, &pristine).unwrap();
        std::fs::write(&mark, &pristine_mark).unwrap();
    };

    // Entry 3 is DE's record of receiving FR's second message (entry 0 is
    // the access check's decision to import the directory).
    sql(
        &db,
        "UPDATE ledger_entries SET entry = CAST(replace(CAST(entry AS TEXT), 'FR', 'IT') AS BLOB) WHERE idx = 3;",
    );
    let (code, out) = verify(&net, "DE");
    assert_eq!(code, Some(1), "a changed entry must be caught: {out}");
    assert!(out.contains("entry 3"), "{out}");
    restore();

    sql(
        &db,
        "UPDATE ledger_entries SET idx = 100 WHERE idx = 5; UPDATE ledger_entries SET idx = 5 WHERE idx = 6; UPDATE ledger_entries SET idx = 6 WHERE idx = 100;",
    );
    let (code, out) = verify(&net, "DE");
    assert_eq!(code, Some(1), "reordered entries must be caught: {out}");
    assert!(out.contains("entry 5"), "{out}");
    restore();

    sql(&db, "DELETE FROM ledger_entries WHERE idx = 3;");
    let (code, out) = verify(&net, "DE");
    assert_ne!(code, Some(0), "a removed entry must be caught: {out}");
    restore();

    let (code, out) = verify(&net, "DE");
    assert_eq!(code, Some(0), "the restored ledger verifies again: {out}");
}

#[test]
fn tampering_with_the_postgresql_tables_is_caught() {
    let Some(db) = crate::common::TempDatabase::from_env() else {
        return;
    };
    let url = db.url();
    let mut net = Network::start_with(&["FR", "DE"], &[("DE", url.as_str())]);
    for _ in 0..2 {
        let sent = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
        assert_eq!(sent.delivery, "delivered");
    }
    net.stop("DE");
    let (code, out) = verify(&net, "DE");
    assert_eq!(code, Some(0), "{out}");

    let psql = |statement: &str| {
        let out = std::process::Command::new("psql")
            .args([url.as_str(), "-v", "ON_ERROR_STOP=1", "-Atc", statement])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Entry 1 is DE's record of receiving FR's first message; it names FR
    // (entry 0 is the access check's decision to import the directory).
    let changed = psql(
        "UPDATE ledger_entries SET entry = convert_to(replace(convert_from(entry, 'UTF8'), 'node:FR', 'node:IT'), 'UTF8') \
         WHERE idx = 1 RETURNING idx",
    );
    assert!(
        changed.starts_with("1\n"),
        "the row was changed: {changed:?}"
    );
    let (code, out) = verify(&net, "DE");
    assert_eq!(
        code,
        Some(1),
        "a changed row in PostgreSQL must be caught: {out}"
    );
    assert!(out.contains("entry 1"), "{out}");
    drop(net);
}
