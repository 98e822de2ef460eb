//! Upgrading: a node's data made by an earlier schema opens with this
//! binary, its migrations run once, the deep check passes and its records
//! are found.
//!
//! The fixtures under `tests/fixtures/upgrade/` are a receiving node's data
//! folder after one request arrived (keys, configuration, checkpoint mark
//! and, for SQLite, its database file; for PostgreSQL, a plain `pg_dump` of
//! its database in `dump.sql`), each with `expected.json` naming the
//! schema version and the request. They are kept as made: a later release
//! must open them as they are. `UPDATE_FIXTURES=1 cargo test -p custos-cli
//! --test it upgrade::make_fixtures -- --ignored` makes new ones (the
//! PostgreSQL one needs `CUSTOS_TEST_POSTGRES_URL` and `pg_dump`); do that
//! only to add the fixture of a new schema, in a folder of its own.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Network, TempDatabase, draft};
use custos_model::RequestKind;
use serde_json::{Value, json};

/// The schema of the fixtures kept in this release.
const FIXTURE: &str = "schema-14";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join("upgrade")
        .join(FIXTURE)
}

/// Copies `from` into `to`, files 0600 and folders 0700 as a node keeps them.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a test step");
    set_mode(to, 0o700);
    for entry in std::fs::read_dir(from).expect("a test step") {
        let entry = entry.expect("a test step");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a test step").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("a test step");
            set_mode(&target, 0o600);
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("a test step");
}

fn custos(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(args)
        .arg("--data")
        .arg(dir)
        .env("CUSTOS_OPERATOR", "upgrade-test")
        .envs(env.iter().copied())
        .output()
        .expect("custos runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Opens the node in `dir` twice with this binary and checks it: the deep
/// check passes and finds the fixture's records, and the request is listed.
fn check_upgraded(dir: &Path, env: &[(&str, &str)], expected: &Value) {
    for _ in 0..2 {
        let (ok, out, err) = custos(dir, env, &["ledger", "verify", "--deep", "--json"]);
        assert!(
            ok,
            "the deep check passes on the upgraded node: {out}\n{err}"
        );
        let report: Value = serde_json::from_str(&out).expect("a test step");
        assert_eq!(report["ok"], true, "{report}");
        assert!(report["messages"].as_u64() >= Some(1), "{report}");
        assert!(report["receipts"].as_u64() >= Some(1), "{report}");
    }
    let (ok, out, err) = custos(dir, env, &["request", "list", "--json"]);
    assert!(ok, "{err}");
    let list: Value = serde_json::from_str(&out).expect("a test step");
    let id = expected["request"].as_str().expect("a test step");
    assert!(
        list.as_array()
            .expect("a test step")
            .iter()
            .any(|r| r["id"] == id),
        "the fixture's request {id} is listed: {list}"
    );
    let (ok, out, err) = custos(dir, env, &["request", "show", id, "--json"]);
    assert!(ok, "the fixture's request opens: {err}");
    assert!(out.contains(id));
}

/// The migrations applied to the SQLite file at `db`: (version, installed_on).
fn applied(db: &Path) -> Vec<(i64, String)> {
    let conn = rusqlite::Connection::open(db).expect("a test step");
    let mut stmt = conn
        .prepare(
            "SELECT version, CAST(installed_on AS TEXT) FROM _sqlx_migrations ORDER BY version",
        )
        .expect("a test step");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("a test step")
        .collect::<Result<_, _>>()
        .expect("a test step")
}

fn newest_migration() -> i64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../store/migrations/sqlite");
    std::fs::read_dir(dir)
        .expect("a test step")
        .filter_map(|e| {
            let name = e
                .expect("a test step")
                .file_name()
                .to_string_lossy()
                .into_owned();
            name.split('_').next()?.parse::<i64>().ok()
        })
        .max()
        .expect("a test step")
}

#[test]
fn a_sqlite_node_of_the_kept_schema_opens_migrates_once_and_passes_the_deep_check() {
    let expected: Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("expected.json")).expect("the fixture's expected.json"),
    )
    .expect("a test step");
    let tmp = tempfile::tempdir().expect("a test step");
    let dir = tmp.path().join("node");
    copy_tree(&fixtures().join("sqlite"), &dir);
    let db = dir.join("custos.db");
    let kept = applied(&db);
    assert_eq!(
        kept.last().map(|(v, _)| *v),
        expected["schema_version"].as_i64()
    );

    check_upgraded(&dir, &[], &expected);

    // Migrations ran once: the ones the fixture had are untouched, each
    // newer one was added once, and a second opening added nothing.
    let after = applied(&db);
    assert_eq!(
        &after[..kept.len()],
        &kept[..],
        "applied migrations are never re-run"
    );
    assert_eq!(after.last().map(|(v, _)| *v), Some(newest_migration()));
    let versions: Vec<i64> = after.iter().map(|(v, _)| *v).collect();
    let mut unique = versions.clone();
    unique.dedup();
    assert_eq!(versions, unique);
    let (ok, _, err) = custos(&dir, &[], &["request", "list"]);
    assert!(ok, "{err}");
    assert_eq!(applied(&db), after, "a later opening applies nothing");

    // A database stamped by a newer release is refused, naming both versions.
    let conn = rusqlite::Connection::open(&db).expect("a test step");
    conn.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from a newer release', TRUE, X'00', 0)",
        [],
    )
    .expect("a test step");
    drop(conn);
    let (ok, _, err) = custos(&dir, &[], &["request", "list"]);
    assert!(!ok);
    assert!(err.contains("schema version 9999"), "{err}");
    assert!(
        err.contains(&format!("version {}", newest_migration())),
        "{err}"
    );
}

#[test]
fn a_postgresql_dump_of_the_kept_schema_loads_migrates_and_passes_the_deep_check() {
    let Some(db) = TempDatabase::from_env() else {
        eprintln!("skipped: CUSTOS_TEST_POSTGRES_URL is not set");
        return;
    };
    let expected: Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("expected-postgres.json")).expect("expected-postgres.json"),
    )
    .expect("a test step");
    let url = db.url();
    let loaded = Command::new("psql")
        .arg(&url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-f"])
        .arg(fixtures().join("postgres").join("dump.sql"))
        .output()
        .expect("psql runs");
    assert!(
        loaded.status.success(),
        "the dump loads: {}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let tmp = tempfile::tempdir().expect("a test step");
    let dir = tmp.path().join("node");
    copy_tree(&fixtures().join("postgres").join("node"), &dir);
    let env = [("CUSTOS_DATABASE_URL", url.as_str())];
    check_upgraded(&dir, &env, &expected);

    // The node does not copy a PostgreSQL database: it says to use
    // pg_dump, and backs up its own files with --files-only.
    let out = tmp.path().join("files.tar");
    let out_text = out.display().to_string();
    let (ok, _, err) = custos(&dir, &env, &["backup", "--out", &out_text]);
    assert!(!ok);
    assert!(err.contains("pg_dump"), "{err}");
    assert!(!out.exists());
    let (ok, report, err) = custos(
        &dir,
        &env,
        &["backup", "--out", &out_text, "--files-only", "--json"],
    );
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&report).expect("a test step");
    assert_eq!(report["database"], false, "{report}");
    let restored = tmp.path().join("restored");
    let out = Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(["restore", "--from", &out_text, "--data"])
        .arg(&restored)
        .output()
        .expect("custos runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(restored.join("custos.toml").exists());
    assert!(restored.join("latest-checkpoint").exists());
    assert!(!restored.join("keys").exists(), "no keys unless asked");
}

/// Makes the fixtures of the current schema (see the module's note).
#[test]
#[ignore = "makes fixtures; run with UPDATE_FIXTURES=1 only for a new schema"]
fn make_fixtures() {
    if std::env::var_os("UPDATE_FIXTURES").is_none() {
        return;
    }
    let out = fixtures();
    std::fs::create_dir_all(&out).expect("a test step");
    let keep = |from: &Path, to: &Path| {
        copy_tree(from, to);
        for name in ["serve.log", "serve.lock", "custos.db-wal", "custos.db-shm"] {
            let _ = std::fs::remove_file(to.join(name));
        }
        let _ = std::fs::remove_dir_all(to.join("evidence"));
    };

    let mut net = Network::start(&["FR", "DE"]);
    let sent = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
    assert_eq!(sent.delivery, "delivered");
    net.stop("DE");
    net.stop("FR");
    let _ = std::fs::remove_dir_all(out.join("sqlite"));
    keep(&net.dir("DE"), &out.join("sqlite"));
    let expected = json!({ "schema_version": newest_migration(), "request": sent.id });
    std::fs::write(
        out.join("expected.json"),
        serde_json::to_vec_pretty(&expected).expect("a test step"),
    )
    .expect("a test step");
    drop(net);

    let db = TempDatabase::from_env().expect("CUSTOS_TEST_POSTGRES_URL for the PostgreSQL fixture");
    let url = db.url();
    let mut net = Network::start_with(&["FR", "DE"], &[("DE", url.as_str())]);
    let sent = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
    assert_eq!(sent.delivery, "delivered");
    net.stop("DE");
    net.stop("FR");
    let pg = out.join("postgres");
    let _ = std::fs::remove_dir_all(&pg);
    keep(&net.dir("DE"), &pg.join("node"));
    let dump = Command::new("pg_dump")
        .args(["--no-owner", "--no-privileges", "--format=plain"])
        .arg(&url)
        .output()
        .expect("pg_dump runs");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    std::fs::write(pg.join("dump.sql"), &dump.stdout).expect("a test step");
    // The database's name was the test's; the test names its own.
    let config = pg.join("node").join("custos.toml");
    let text = std::fs::read_to_string(&config).expect("a test step");
    let text = text.replace(&url, "postgres://custos@localhost/custos");
    std::fs::write(&config, text).expect("a test step");
    let expected = json!({ "schema_version": newest_migration(), "request": sent.id });
    std::fs::write(
        out.join("expected-postgres.json"),
        serde_json::to_vec_pretty(&expected).expect("a test step"),
    )
    .expect("a test step");
}
