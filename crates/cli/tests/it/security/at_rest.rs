//! See `main.rs`: the at_rest cases. An attacker with the node's database
//! (a copy of the file, or write access to its rows) must neither read a
//! case nor change what the node shows as signed without it being named.

use std::ffi::OsStr;
use std::time::Duration;

use base64::Engine as _;
use custos_model::RequestKind;
use custos_protocol::{Message, MessageId, MessageKind};
use custos_seal::Envelope;
use serde_json::{Value, json};

use crate::common::{Network, Sent, TempDatabase, draft, state, wait_until};

const DEADLINE: Duration = Duration::from_secs(60);

/// Text only the test's drafts hold: facts, a name, an identifier.
const NEEDLES: [&str; 3] = [
    "Quokka-Zanzibar laundering ring",
    "Ottilie Brannigan-Vasquez",
    "QX771-ALPHA-9934",
];

/// A valid preservation draft from FR to DE carrying the needles.
fn secret_draft() -> Value {
    let mut d = draft(RequestKind::Preservation, "FR", "DE");
    d["facts"] = json!(format!(
        "The {} moved funds for {}; account {} holds the logs.",
        NEEDLES[0], NEEDLES[1], NEEDLES[2]
    ));
    // Not confidential: the API's token here is assigned to no case, and
    // these tests are about what is stored, not who may see it.
    d["confidentiality"]["required"] = json!(false);
    assert!(custos_model::validate::validate(&d).is_valid());
    d
}

/// Every form a needle could take in stored bytes: as it is, in base64 at
/// each of the three alignments (the middle that does not depend on the
/// bytes around it), and those in lowercase hex (PostgreSQL's dump of
/// `bytea`).
fn forms(needle: &str) -> Vec<Vec<u8>> {
    let mut out = vec![needle.as_bytes().to_vec()];
    for pad in 0..3 {
        let mut bytes = vec![b'x'; pad];
        bytes.extend_from_slice(needle.as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        // Characters 4 on are fixed by the needle alone (skip the group
        // holding the padding bytes) until the last, partial group.
        let inner = &b64[4..b64.len() - 4];
        out.push(inner.as_bytes().to_vec());
    }
    let hexed: Vec<Vec<u8>> = out.iter().map(|f| hex::encode(f).into_bytes()).collect();
    out.extend(hexed);
    out
}

fn assert_no_case_content(what: &str, bytes: &[u8]) {
    for needle in NEEDLES {
        for form in forms(needle) {
            assert!(
                !bytes.windows(form.len()).any(|w| w == form.as_slice()),
                "{what} reveals {needle:?} (as {:?})",
                String::from_utf8_lossy(&form)
            );
        }
    }
}

fn wait_delivered(net: &Network, sent: &Sent) {
    wait_until(
        DEADLINE,
        "the request is delivered with its receipt",
        || {
            net.show("FR", &sent.id)["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["delivery"] == "delivered" && m["receipt"] == true)
        },
    );
}

/// The SQLite file of a node and its write-ahead log, as a copy would hold them.
fn sqlite_files(net: &Network, cc: &str) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["custos.db", "custos.db-wal"] {
        if let Ok(bytes) = std::fs::read(net.dir(cc).join(name)) {
            all.extend(bytes);
        }
    }
    assert!(all.len() > 4096, "{cc}'s database files are there");
    all
}

#[test]
fn a_copy_of_the_database_reveals_no_case_content() {
    let pg = TempDatabase::from_env();
    let urls: Vec<(&str, String)> = pg.iter().map(|db| ("DE", db.url())).collect();
    let dbs: Vec<(&str, &str)> = urls.iter().map(|(cc, u)| (*cc, u.as_str())).collect();
    let net = Network::start_with(&["FR", "DE"], &dbs);
    let sent = net.send("FR", &secret_draft(), &[]);
    wait_delivered(&net, &sent);
    // Both sides have shown the request: the needles are in what they show
    // (so the search below would find them if they were stored in clear).
    for cc in ["FR", "DE"] {
        let shown = net.show(cc, &sent.id).to_string();
        for needle in NEEDLES {
            assert!(shown.contains(needle), "{cc} shows the draft");
        }
    }
    let saved = net.save_request("FR", &secret_draft());
    assert!(net.show("FR", &saved).to_string().contains(NEEDLES[1]));

    assert_no_case_content("FR's SQLite file", &sqlite_files(&net, "FR"));
    match &pg {
        None => assert_no_case_content("DE's SQLite file", &sqlite_files(&net, "DE")),
        Some(db) => {
            let dump = std::process::Command::new("pg_dump")
                .args(["--data-only", &db.url()])
                .output()
                .expect("pg_dump runs");
            assert!(dump.status.success(), "pg_dump: {dump:?}");
            assert!(
                String::from_utf8_lossy(&dump.stdout).contains(&sent.id),
                "the dump holds DE's rows"
            );
            assert_no_case_content("DE's PostgreSQL rows", &dump.stdout);
        }
    }
}

/// Edits rows of a node's database behind its back.
enum Db {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Db {
    fn run(&self, net: &Network, sql: &str) {
        match self {
            Db::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("the SQLite file opens");
                conn.busy_timeout(Duration::from_secs(10))
                    .expect("a timeout");
                conn.execute_batch(sql)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            Db::Postgres(url) => net.block_on(async {
                use sqlx::Connection as _;
                let mut conn = sqlx::PgConnection::connect(url)
                    .await
                    .expect("PostgreSQL connects");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }),
        }
    }
}

/// A client API token for the node of `cc`, of a user holding the case
/// roles.
fn token(net: &Network, cc: &str) -> String {
    let dir = net.dir(cc);
    net.run_ok(&[
        OsStr::new("user"),
        OsStr::new("add"),
        OsStr::new("desk"),
        OsStr::new("--roles"),
        OsStr::new("duty-officer,caseworker,executing-authority"),
        OsStr::new("--data"),
        dir.as_os_str(),
    ]);
    net.run_ok(&[
        OsStr::new("token"),
        OsStr::new("create"),
        OsStr::new("--data"),
        dir.as_os_str(),
        OsStr::new("--user"),
        OsStr::new("desk"),
        OsStr::new("--name"),
        OsStr::new("auditor"),
    ])
    .trim()
    .to_owned()
}

fn api_get(net: &Network, cc: &str, path: &str, token: &str) -> (u16, String) {
    let url = format!("{}{path}", net.url(cc));
    net.block_on(async {
        let r = reqwest::Client::new()
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .expect("the node answers");
        (r.status().as_u16(), r.text().await.expect("a body"))
    })
}

/// `custos ledger verify --deep --json` on the node of `cc`: exit code and report.
fn deep(net: &Network, cc: &str) -> (i32, Value) {
    let dir = net.dir(cc);
    let out = net.run(&[
        OsStr::new("ledger"),
        OsStr::new("verify"),
        OsStr::new("--deep"),
        OsStr::new("--json"),
        OsStr::new("--data"),
        dir.as_os_str(),
    ]);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "deep check prints JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

/// FR posts a signed `correspondence` into DE's copy of the thread of
/// `sent` (an action the case allows France), so that the thread holds two
/// messages; returns its id.
fn second_message(net: &Network, sent: &Sent) -> String {
    // A real peer signs at the wall-clock time the real node checks against.
    #[allow(clippy::disallowed_methods)]
    let now = time::OffsetDateTime::now_utc();
    let prev: MessageId = sent.message_id.parse().expect("a message id");
    let message = Message::new(
        MessageKind::Correspondence,
        state("FR"),
        state("DE"),
        sent.id.clone(),
        Some(prev),
        now,
        serde_json::json!({"text": "second"}),
    );
    let payload = message.to_canonical_json().expect("canonical");
    let id = MessageId::of_payload(&payload).to_string();
    let envelope = Envelope::sign(
        message.kind.payload_type(),
        &payload,
        &net.signing_key("FR"),
    );
    let dir = net.directory(now);
    let mut recipients = dir.current_recipients(state("DE"), now);
    recipients.extend(dir.current_recipients(state("FR"), now));
    let sealed = custos_seal::encrypt(&envelope.to_json(), &recipients).expect("encrypts");
    let answer = net.post_message("DE", sealed);
    assert_eq!(
        answer.status, 200,
        "DE accepts the second message: {}",
        answer.json
    );
    id
}

/// Every tamper case against the node of DE (on `db`): each edit is refused
/// by `request show` and the client API, named by the deep check and
/// counted on `/metrics`; an untouched request still shows.
fn every_tamper_case_is_named(net: &Network, db: &Db) {
    let sends: Vec<Sent> = (0..7)
        .map(|_| net.send("FR", &secret_draft(), &[]))
        .collect();
    for s in &sends {
        wait_delivered(net, s);
    }
    let [
        edited,
        receipt,
        columns,
        deleted,
        inserted,
        reordered,
        untouched,
    ] = sends.as_slice()
    else {
        unreachable!("seven requests")
    };
    let second = second_message(net, reordered);
    let (code, clean) = deep(net, "DE");
    assert_eq!(code, 0, "before any edit, the deep check passes: {clean}");
    assert!(clean["messages"].as_u64() >= Some(8), "{clean}");
    assert!(clean["receipts"].as_u64() >= Some(8), "{clean}");

    let forged = format!("sha256:{}", "ab".repeat(32));
    let cols =
        "thread, direction, counterpart, kind, prev, created_at, recorded_at, envelope, receipt";
    db.run(
        net,
        &format!(
            "UPDATE messages SET envelope = (SELECT envelope FROM messages WHERE id = '{u}') WHERE id = '{e}';\n\
             UPDATE messages SET receipt = (SELECT receipt FROM messages WHERE id = '{u}') WHERE id = '{r}';\n\
             UPDATE requests SET counterpart = 'IT' WHERE id = '{c}';\n\
             DELETE FROM messages WHERE id = '{d}';\n\
             INSERT INTO messages (id, {cols}) SELECT '{forged}', thread, direction, counterpart, 'acknowledge', id, created_at, recorded_at, envelope, receipt FROM messages WHERE id = '{i}';\n\
             CREATE TEMP TABLE moved AS SELECT id, {cols} FROM messages WHERE thread = '{t}';\n\
             DELETE FROM messages WHERE thread = '{t}';\n\
             INSERT INTO messages (id, {cols}) SELECT id, {cols} FROM moved WHERE id = '{second}';\n\
             INSERT INTO messages (id, {cols}) SELECT id, {cols} FROM moved WHERE id = '{first}';",
            u = untouched.message_id,
            e = edited.message_id,
            r = receipt.message_id,
            c = columns.id,
            d = deleted.message_id,
            i = inserted.message_id,
            t = reordered.id,
            first = reordered.message_id,
        ),
    );

    let secret = token(net, "DE");
    let dir = net.dir("DE");
    let cases = [
        (edited, edited.message_id.clone()),
        (receipt, receipt.message_id.clone()),
        (columns, format!("request {}", columns.id)),
        (deleted, deleted.message_id.clone()),
        (inserted, forged.clone()),
        (reordered, second.clone()),
    ];
    for (sent, record) in &cases {
        let out = net.run(&[
            OsStr::new("request"),
            OsStr::new("show"),
            OsStr::new(&sent.id),
            OsStr::new("--data"),
            dir.as_os_str(),
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "show of {record} fails: {stdout}");
        assert!(
            stderr.contains("tampered") && stderr.contains(record.as_str()),
            "show names {record} as tampered: {stderr}"
        );
        for needle in NEEDLES {
            assert!(!stdout.contains(needle) && !stderr.contains(needle));
        }
        let (status, body) = api_get(net, "DE", &format!("/api/v1/requests/{}", sent.id), &secret);
        assert_eq!(status, 500, "the API refuses {record}: {body}");
        let body: Value = serde_json::from_str(&body).expect("a JSON error");
        assert_eq!(body["error"]["code"], "record-tampered", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(record.as_str())),
            "{body}"
        );
    }
    let (status, body) = api_get(
        net,
        "DE",
        &format!("/api/v1/requests/{}", untouched.id),
        &secret,
    );
    assert_eq!(status, 200, "an untouched request still shows: {body}");
    assert!(body.contains(NEEDLES[0]));

    let metrics = net.metrics("DE");
    let counted: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("custos_records_tampered_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("/metrics counts tampered records: {metrics}"));
    assert!(counted >= cases.len() as u64, "counted {counted}");

    let (code, report) = deep(net, "DE");
    assert_eq!(code, 1, "the deep check fails: {report}");
    let problems: Vec<&str> = report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let named = |what: &str, how: &str| {
        assert!(
            problems.iter().any(|p| p.contains(what) && p.contains(how)),
            "the deep check names {what} ({how}): {problems:#?}"
        )
    };
    named(&edited.message_id, "does not open");
    named(&receipt.message_id, "receipt");
    named(&format!("request {}", columns.id), "counterpart");
    named(&deleted.message_id, "not held");
    named(&forged, "");
    named(&second, "reordered");
    assert!(
        !problems.iter().any(|p| p.contains(&untouched.message_id)
            || p.contains(&format!("request {}", untouched.id))),
        "the untouched request is not named: {problems:#?}"
    );
}

#[test]
fn tampered_sqlite_rows_are_refused_and_named() {
    let net = Network::start(&["FR", "DE"]);
    let db = Db::Sqlite(net.dir("DE").join("custos.db"));
    every_tamper_case_is_named(&net, &db);
}

#[test]
fn tampered_postgresql_rows_are_refused_and_named() {
    let Some(pg) = TempDatabase::from_env() else {
        return;
    };
    let url = pg.url();
    let net = Network::start_with(&["FR", "DE"], &[("DE", url.as_str())]);
    every_tamper_case_is_named(&net, &Db::Postgres(url.clone()));
}

/// A node upgraded from a version that kept envelopes and saved drafts in
/// clear seals them when it next opens, and shows them as before.
#[test]
fn content_kept_in_clear_by_an_earlier_version_is_sealed_on_opening() {
    let mut net = Network::start(&["FR", "DE"]);
    let sent = net.send("FR", &secret_draft(), &[]);
    wait_delivered(&net, &sent);
    let saved = net.save_request("FR", &secret_draft());
    let before = [
        net.show("FR", &sent.id)["draft"].clone(),
        net.show("FR", &saved)["draft"].clone(),
        net.show("DE", &sent.id)["draft"].clone(),
    ];
    for cc in ["FR", "DE"] {
        net.stop(cc);
    }
    // What an earlier version stored: the envelope and the saved draft in clear.
    for cc in ["FR", "DE"] {
        let store = net.store(cc);
        let m = net
            .block_on(store.get_message(&sent.message_id))
            .unwrap()
            .unwrap();
        let clear = net.stored_envelope(cc, &m);
        net.block_on(store.close());
        let conn = rusqlite::Connection::open(net.dir(cc).join("custos.db")).unwrap();
        conn.execute(
            "UPDATE messages SET envelope = ?1 WHERE id = ?2",
            rusqlite::params![clear, sent.message_id],
        )
        .unwrap();
        if cc == "FR" {
            conn.execute(
                "UPDATE requests SET draft = CAST(?1 AS BLOB) WHERE id = ?2",
                rusqlite::params![secret_draft().to_string(), saved],
            )
            .unwrap();
        }
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        drop(conn);
        let bytes = sqlite_files(&net, cc);
        assert!(
            forms(NEEDLES[2])
                .iter()
                .any(|f| bytes.windows(f.len()).any(|w| w == f.as_slice())),
            "{cc}'s file holds the clear copy the upgrade must seal"
        );
    }
    for cc in ["FR", "DE"] {
        net.start_node(cc);
    }
    let after = [
        net.show("FR", &sent.id)["draft"].clone(),
        net.show("FR", &saved)["draft"].clone(),
        net.show("DE", &sent.id)["draft"].clone(),
    ];
    assert_eq!(after, before, "the drafts show as before");
    for cc in ["FR", "DE"] {
        let (code, report) = deep(&net, cc);
        assert_eq!(code, 0, "{cc}: {report}");
        assert_no_case_content(
            &format!("{cc}'s upgraded SQLite file"),
            &sqlite_files(&net, cc),
        );
    }
}
