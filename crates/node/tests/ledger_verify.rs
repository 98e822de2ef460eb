//! Full verification of a ledger long enough that its entries arrive in
//! whole runs, each with the tree hashes of its own subtree computed by the
//! store's readers: a good ledger verifies (with the latest checkpoint on a
//! run's edge, inside a run, or at the end), and a changed entry or stored
//! tree hash inside a whole run is named by the entry it belongs to.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

use std::path::Path;
use std::sync::Arc;

use custos_ledger::{MemoryLog, stored_hash_index};
use custos_model::clock::FixedClock;
use custos_node::custody::LedgerReport;
use custos_node::{
    DEFAULT_MAX_MESSAGE_BYTES, Keystore, Node, NodeError, NodeSettings, RetryPolicy,
};
use custos_store::SCAN_RUN;
use time::OffsetDateTime;
use time::macros::datetime;

const AT: OffsetDateTime = datetime!(2026-11-01 12:00 UTC);
/// Two whole runs and a partial one.
const SIZE: u64 = 2 * SCAN_RUN as u64 + 3_000;

/// Germany's node over the SQLite file in `dir`, with keys made there
/// when `fresh`.
async fn node(dir: &Path, fresh: bool) -> Arc<Node> {
    let url = format!("sqlite://{}", dir.join("custos.db").display());
    node_on(dir, &url, fresh).await
}

/// Germany's node over the store at `url`, with keys in `dir`.
async fn node_on(dir: &Path, url: &str, fresh: bool) -> Arc<Node> {
    let keys = if fresh {
        Keystore::create(&dir.join("keys"), AT).unwrap()
    } else {
        Keystore::load(&dir.join("keys")).unwrap()
    };
    let store = custos_store::open(url).await.unwrap();
    let settings = NodeSettings {
        state: "DE".parse().unwrap(),
        name: "Germany".into(),
        data_dir: dir.to_owned(),
        registry_key: None,
        max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        retry: RetryPolicy::default(),
        evidence: Default::default(),
        message_reserve_bytes: custos_node::DEFAULT_MESSAGE_RESERVE_BYTES,
    };
    let clock = Arc::new(FixedClock::new(AT));
    Node::new(settings, keys, store, clock, reqwest::Client::new())
        .await
        .unwrap()
}

fn entry(i: u64) -> Vec<u8> {
    let pad = "x".repeat((i % 53) as usize);
    format!("{{\"entry\":{i},\"pad\":\"{pad}\"}}").into_bytes()
}

/// A ledger of `SIZE` entries whose latest signed checkpoint covers the
/// first `checkpoint` of them: those go through the sequencer, the rest
/// are appended behind it with their tree hashes.
async fn ledger(dir: &Path, checkpoint: u64) -> Arc<Node> {
    fill(node(dir, true).await, checkpoint).await
}

/// Gives `node`'s empty ledger its `SIZE` entries, signed up to `checkpoint`.
async fn fill(node: Arc<Node>, checkpoint: u64) -> Arc<Node> {
    let entries: Vec<Vec<u8>> = (0..SIZE).map(entry).collect();
    for chunk in entries[..checkpoint as usize].chunks(5_000) {
        node.store().queue_ledger(chunk, AT).await.unwrap();
    }
    node.sequence_all().await.unwrap();
    let log = MemoryLog::from_entries(&entries).unwrap();
    let first_hash = custos_ledger::stored_hash_count(checkpoint) as usize;
    let hashes: Vec<(u64, [u8; 32])> = log.stored_hashes()[first_hash..]
        .iter()
        .zip(first_hash as u64..)
        .map(|(h, i)| (i, h.0))
        .collect();
    if checkpoint < SIZE {
        let rest = &entries[checkpoint as usize..];
        node.store()
            .append_ledger(checkpoint, &[], rest, &hashes, AT)
            .await
            .unwrap();
    }
    assert_eq!(node.store().ledger_size().await.unwrap(), SIZE);
    node
}

async fn verify(node: &Node) -> Result<LedgerReport, NodeError> {
    node.verify_ledger(&mut |_, _| {}).await
}

/// The entry and problem a verification that must fail names.
fn tampered(result: Result<LedgerReport, NodeError>) -> (u64, String) {
    match result {
        Err(NodeError::LedgerTampered { index, problem }) => (index, problem),
        other => panic!("expected the ledger to be found tampered with, got {other:?}"),
    }
}

fn db(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("custos.db")).unwrap()
}

/// Flips one bit of the stored hash at storage `position`, in its block row
/// of 32 hashes.
fn flip_stored_hash(dir: &Path, position: u64) {
    let conn = db(dir);
    let block = (position / 32) as i64;
    let mut bytes: Vec<u8> = conn
        .query_row(
            "SELECT hashes FROM ledger_hash_blocks WHERE block = ?1",
            [block],
            |row| row.get(0),
        )
        .unwrap();
    bytes[(position % 32) as usize * 32] ^= 1;
    conn.execute(
        "UPDATE ledger_hash_blocks SET hashes = ?1 WHERE block = ?2",
        rusqlite::params![bytes, block],
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_ledger_verifies_whatever_its_checkpoint() {
    let want = MemoryLog::from_entries((0..SIZE).map(entry))
        .unwrap()
        .root();
    // On a run's edge, inside a whole run, inside the last, partial run,
    // at the end.
    for checkpoint in [SCAN_RUN as u64, SCAN_RUN as u64 + 1_234, SIZE - 10, SIZE] {
        let dir = tempfile::tempdir().unwrap();
        let node = ledger(dir.path(), checkpoint).await;
        let report = verify(&node).await.unwrap();
        assert_eq!(report.size, SIZE);
        assert_eq!(report.root, want.to_base64(), "checkpoint at {checkpoint}");
        assert_eq!(report.checkpoint_size, Some(checkpoint));
        node.store().close().await;
    }
}

/// A copy of the node folder `from` (its database files and keys) in a
/// folder of its own: each tampering starts from the same pristine node,
/// and the readers of an earlier, failed verification (which may still be
/// stopping) never see the file they read change.
fn copy_of(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for sub in ["", "keys"] {
        std::fs::create_dir_all(to.path().join(sub)).unwrap();
        for item in std::fs::read_dir(from.join(sub)).unwrap() {
            let item = item.unwrap();
            if item.file_type().unwrap().is_file() {
                std::fs::copy(item.path(), to.path().join(sub).join(item.file_name())).unwrap();
            }
        }
    }
    to
}

/// The entry and problem a verification of the node in `dir` names.
async fn caught(dir: &Path) -> (u64, String) {
    let node = node(dir, false).await;
    let found = tampered(verify(&node).await);
    node.store().close().await;
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_inside_a_whole_run_is_named_by_its_entry() {
    let pristine = tempfile::tempdir().unwrap();
    ledger(pristine.path(), SIZE).await.store().close().await;

    // A changed entry in the second whole run.
    let index = SCAN_RUN as u64 + 777;
    let dir = copy_of(pristine.path());
    db(dir.path())
        .execute(
            "UPDATE ledger_entries SET entry = ?1 WHERE idx = ?2",
            rusqlite::params![b"{\"entry\":\"forged\"}".to_vec(), index as i64],
        )
        .unwrap();
    let (at, problem) = caught(dir.path()).await;
    assert_eq!(at, index, "{problem}");
    assert!(problem.contains("entry's bytes"), "{problem}");

    // A stored tree hash inside the first run: the node over leaves
    // 96..128, which leaf 127 completes.
    let dir = copy_of(pristine.path());
    flip_stored_hash(dir.path(), stored_hash_index(5, 3));
    let (at, problem) = caught(dir.path()).await;
    assert_eq!(at, 127, "{problem}");
    assert!(problem.contains("level 5"), "{problem}");

    // A tree hash above the runs: the root of the first two, which the last
    // leaf of the second completes.
    let level = SCAN_RUN.trailing_zeros() as u8 + 1;
    let dir = copy_of(pristine.path());
    flip_stored_hash(dir.path(), stored_hash_index(level, 0));
    let (at, problem) = caught(dir.path()).await;
    assert_eq!(at, 2 * SCAN_RUN as u64 - 1, "{problem}");
    assert!(problem.contains(&format!("level {level}")), "{problem}");

    // Untouched, it verifies.
    let dir = copy_of(pristine.path());
    let node = node(dir.path(), false).await;
    assert_eq!(verify(&node).await.unwrap().size, SIZE);
    node.store().close().await;
}

/// Runs `sql` on the PostgreSQL database at `url`, behind the node's back.
async fn postgres(url: &str, sql: &str) {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_ledger_verifies_and_names_a_changed_entry() {
    let Ok(admin) = std::env::var("CUSTOS_TEST_POSTGRES_URL") else {
        println!("skipped: CUSTOS_TEST_POSTGRES_URL is not set");
        return;
    };
    let name = format!("custos_verify_{}", uuid::Uuid::new_v4().simple());
    postgres(&admin, &format!("CREATE DATABASE {name}")).await;
    let server = admin.rsplit_once('/').map_or(admin.as_str(), |(s, _)| s);
    let url = format!("{server}/{name}");

    let dir = tempfile::tempdir().unwrap();
    let node = fill(node_on(dir.path(), &url, true).await, SIZE).await;
    let want = MemoryLog::from_entries((0..SIZE).map(entry))
        .unwrap()
        .root();
    assert_eq!(verify(&node).await.unwrap().root, want.to_base64());

    let index = SCAN_RUN as u64 + 4_321;
    let forge = format!("UPDATE ledger_entries SET entry = '\\x00' WHERE idx = {index}");
    postgres(&url, &forge).await;
    let (at, problem) = tampered(verify(&node).await);
    assert_eq!(at, index, "{problem}");
    node.store().close().await;
    postgres(&admin, &format!("DROP DATABASE {name} WITH (FORCE)")).await;
}
