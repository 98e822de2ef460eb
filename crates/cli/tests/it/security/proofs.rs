//! Proofs an outsider can check, files only the node's user can read, and
//! ledger commands that say what happened.
//!
//! An expert who trusts no node checks a proof bundle with the log's key and
//! the witnesses' keys (given one by one, or taken from the signed directory
//! the node exports); a witness that reports a fork makes `ledger witness`
//! fail; an empty ledger and a ledger without checkpoint are said to be so;
//! keys given in the wrong form are named; plain http:// is refused for
//! remote nodes; and under the usual umask every file a node writes stays
//! private, while a loosened data folder or key stops `serve`.

// Test code: a panic in a helper is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use custos_ledger::VerifierKey;
use custos_seal::SigningKey;
use serde_json::Value;

use crate::common::{Network, Sent, draft, wait_until};
use custos_model::RequestKind;

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `custos ledger verify-bundle FILE --key KEY` with `extra` arguments.
fn verify_bundle(net: &Network, bundle: &Path, key: &str, extra: &[&str]) -> Output {
    let mut args: Vec<&OsStr> = vec![
        os("ledger"),
        os("verify-bundle"),
        bundle.as_os_str(),
        os("--key"),
        os(key),
    ];
    args.extend(extra.iter().map(|a| os(a)));
    net.run(&args)
}

/// One line of output of a `custos` command run on the node of `cc`.
fn line(net: &Network, cmd: &[&str], cc: &str) -> String {
    let dir = net.dir(cc);
    let mut args: Vec<&OsStr> = cmd.iter().map(|a| os(a)).collect();
    args.extend([os("--data"), dir.as_os_str()]);
    net.run_ok(&args).trim().to_owned()
}

/// Waits until the node of `cc` holds the receipt of `sent`.
fn wait_delivered(net: &Network, cc: &str, sent: &Sent) {
    wait_until(Duration::from_secs(30), "the message is delivered", || {
        net.outbox(cc)
            .iter()
            .any(|r| r.message_id == sent.message_id && r.state == "delivered")
    });
}

/// `custos ledger witness --data DIR` for the node of `cc`.
fn witness(net: &Network, cc: &str) -> Output {
    let dir = net.dir(cc);
    net.run(&[os("ledger"), os("witness"), os("--data"), dir.as_os_str()])
}

/// Every ledger entry of the node of `cc`, as JSON, read from its store.
fn entries(net: &Network, cc: &str) -> Vec<(Vec<u8>, Value)> {
    let store = net.store(cc);
    net.block_on(async {
        let size = store.ledger_size().await.unwrap();
        let mut out = Vec::new();
        for i in 0..size {
            let e = store.ledger_entry(i).await.unwrap().unwrap();
            let v = serde_json::from_slice(&e.entry).unwrap();
            out.push((e.entry, v));
        }
        store.close().await;
        out
    })
}

#[test]
fn a_bundle_carries_cosignatures_that_an_outsider_checks_with_witness_keys() {
    let net = Network::start(&["FR", "DE", "NL"]);
    let sent = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
    wait_delivered(&net, "FR", &sent);
    net.show("FR", &sent.id);
    let out = witness(&net, "FR");
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    for cc in ["DE", "NL"] {
        assert!(
            stdout(&out).contains(&format!("{cc}: cosigned size")),
            "{}",
            stdout(&out)
        );
    }

    // The bundle's checkpoint carries both cosignatures.
    let bundle = net.scratch("entry-0.json");
    let fr = net.dir("FR");
    net.run_ok(&[
        os("ledger"),
        os("prove"),
        os("--data"),
        fr.as_os_str(),
        os("--entry"),
        os("0"),
        os("--out"),
        bundle.as_os_str(),
    ]);
    let json: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    let note = json["checkpoint"].as_str().unwrap();
    for cc in ["DE", "NL"] {
        assert!(note.contains(&format!("— custos.witness/{cc} ")), "{note}");
    }

    let log_key = line(&net, &["ledger", "key"], "FR");
    let de = line(&net, &["ledger", "witness-key"], "DE");
    let nl = line(&net, &["ledger", "witness-key"], "NL");
    let fr_witness = line(&net, &["ledger", "witness-key"], "FR");
    assert!(log_key.starts_with("custos.ledger/FR+"), "{log_key}");
    assert!(de.starts_with("custos.witness/DE+"), "{de}");

    // Two witnesses given, two required: valid, and says who cosigned.
    let ok = verify_bundle(
        &net,
        &bundle,
        &log_key,
        &[
            "--witness",
            &de,
            "--witness",
            &nl,
            "--min-cosignatures",
            "2",
        ],
    );
    assert!(ok.status.success(), "{}{}", stdout(&ok), stderr(&ok));
    assert!(stdout(&ok).contains("VALID"), "{}", stdout(&ok));
    assert!(
        stdout(&ok).contains("cosigned by custos.witness/DE")
            && stdout(&ok).contains("cosigned by custos.witness/NL"),
        "{}",
        stdout(&ok)
    );

    // Three required: exit 1, naming the witness whose cosignature is
    // missing (FR does not witness its own ledger).
    let three = verify_bundle(
        &net,
        &bundle,
        &log_key,
        &[
            "--witness",
            &de,
            "--witness",
            &nl,
            "--witness",
            &fr_witness,
            "--min-cosignatures",
            "3",
        ],
    );
    assert_eq!(three.status.code(), Some(1), "{}", stdout(&three));
    assert!(
        stdout(&three).contains("INVALID")
            && stdout(&three).contains("3 are required")
            && stdout(&three).contains("no cosignature from: custos.witness/FR"),
        "{}",
        stdout(&three)
    );

    // A wrong key for DE: its cosignature does not count, and the quorum of
    // two fails naming DE.
    let wrong =
        VerifierKey::cosignature_v1("custos.witness/DE", &SigningKey::generate().verifying_key())
            .unwrap()
            .to_text();
    let bad = verify_bundle(
        &net,
        &bundle,
        &log_key,
        &[
            "--witness",
            &wrong,
            "--witness",
            &nl,
            "--min-cosignatures",
            "2",
        ],
    );
    assert_eq!(bad.status.code(), Some(1), "{}", stdout(&bad));
    assert!(
        stdout(&bad).contains("no cosignature from: custos.witness/DE"),
        "{}",
        stdout(&bad)
    );

    // The witnesses from the signed directory FR exports: byte-identical to
    // what was imported, checked against the registry key.
    let exported = net.scratch("fr-directory.json");
    net.run_ok(&[
        os("directory"),
        os("export"),
        os("--data"),
        fr.as_os_str(),
        os("--out"),
        exported.as_os_str(),
    ]);
    assert_eq!(
        std::fs::read(&exported).unwrap(),
        std::fs::read(net.scratch("directory-v1.json")).unwrap(),
        "the exported directory is the imported file"
    );
    let registry = net.registry_key().to_text();
    let exported_text = exported.to_str().unwrap();
    let from_dir = verify_bundle(
        &net,
        &bundle,
        &log_key,
        &[
            "--witnesses-from",
            exported_text,
            "--registry-key",
            &registry,
            "--min-cosignatures",
            "2",
        ],
    );
    assert!(
        from_dir.status.success(),
        "{}{}",
        stdout(&from_dir),
        stderr(&from_dir)
    );
    let too_many = verify_bundle(
        &net,
        &bundle,
        &log_key,
        &[
            "--witnesses-from",
            exported_text,
            "--registry-key",
            &registry,
            "--min-cosignatures",
            "3",
        ],
    );
    assert_eq!(too_many.status.code(), Some(1), "{}", stdout(&too_many));
    // A directory not signed by the registry key given is refused.
    let stranger = SigningKey::generate().verifying_key().to_text();
    let unsigned = verify_bundle(
        &net,
        &bundle,
        &log_key,
        &[
            "--witnesses-from",
            exported_text,
            "--registry-key",
            &stranger,
        ],
    );
    assert_eq!(unsigned.status.code(), Some(1), "{}", stdout(&unsigned));

    // Another node takes the exported file with `directory import`.
    let fresh = net.scratch("fr-again");
    net.run_ok(&[
        os("init"),
        os("--data"),
        fresh.as_os_str(),
        os("--state"),
        os("FR"),
        os("--name"),
        os("FR again"),
        os("--registry-key"),
        os(&registry),
    ]);
    let imported = net.run_ok(&[
        os("directory"),
        os("import"),
        exported.as_os_str(),
        os("--data"),
        fresh.as_os_str(),
    ]);
    assert!(
        imported.contains("Imported directory version 1"),
        "{imported}"
    );

    // Entries: a receipt-received entry names its request like
    // receipt-issued does, and no entry writes a `detail` of null.
    let logged = entries(&net, "FR");
    let receipt = logged
        .iter()
        .find(|(_, v)| v["kind"] == "receipt-received")
        .expect("FR logged the receipt");
    assert_eq!(receipt.1["request"], sent.id.as_str(), "{}", receipt.1);
    for (bytes, v) in &logged {
        assert!(
            !String::from_utf8_lossy(bytes).contains("\"detail\":null"),
            "{v}"
        );
    }
    let read = logged
        .iter()
        .find(|(_, v)| v["kind"] == "access" && v["detail"]["operation"] == "read-case")
        .expect("FR logged the read");
    assert_eq!(read.1["request"], sent.id.as_str(), "{}", read.1);
    assert_eq!(read.1["detail"]["outcome"], "allowed", "{}", read.1);
}

/// Copies the SQLite files of a stopped node's database to `to`.
fn copy_database(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for name in ["custos.db", "custos.db-wal", "custos.db-shm"] {
        let _ = std::fs::remove_file(to.join(name));
        if from.join(name).exists() {
            std::fs::copy(from.join(name), to.join(name)).unwrap();
        }
    }
}

#[test]
fn ledger_witness_fails_when_a_witness_reports_a_fork() {
    let mut net = Network::start(&["FR", "DE", "NL"]);
    let sent = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
    wait_delivered(&net, "FR", &sent);
    let first = witness(&net, "FR");
    assert!(first.status.success(), "{}", stdout(&first));

    // Keep FR's database as it was at the first witnessed checkpoint.
    let fr = net.dir("FR");
    let saved = net.scratch("fr-db-copy");
    net.stop("FR");
    copy_database(&fr, &saved);
    net.start_node("FR");

    // The real history goes on and is witnessed.
    for _ in 0..3 {
        net.show("FR", &sent.id);
    }
    let second = witness(&net, "FR");
    assert!(second.status.success(), "{}", stdout(&second));

    // FR's database is replaced by the old copy, and a different history
    // longer than the witnessed one is written on top of it. Whoever
    // rewrites a node's history removes its mark of the latest checkpoint
    // too, or the node itself refuses to go on (custody-unavailable): the
    // witnesses are what catch it then.
    net.stop("FR");
    copy_database(&saved, &fr);
    std::fs::remove_file(fr.join("latest-checkpoint")).expect("FR kept a checkpoint mark");
    net.start_node("FR");
    for _ in 0..6 {
        net.show("FR", &sent.id);
    }
    let forked = witness(&net, "FR");
    assert_eq!(
        forked.status.code(),
        Some(1),
        "a fork must fail the command:\n{}\n{}",
        stdout(&forked),
        stderr(&forked)
    );
    for cc in ["DE", "NL"] {
        assert!(
            stdout(&forked).contains(&format!("{cc}: FORK")),
            "{}",
            stdout(&forked)
        );
    }
    assert!(
        stderr(&forked).contains("DE, NL report(s) a fork"),
        "{}",
        stderr(&forked)
    );
}

#[test]
fn an_empty_ledger_and_a_ledger_without_checkpoint_are_said_to_be_so() {
    // No node serves: DE can be asked but not reached.
    let net = Network::offline(&["FR", "DE"]);
    // A node on which no one has done anything yet (every person's
    // operation, the directory's import included, is a ledger entry).
    let lone = net.scratch("lone");
    net.run_ok(&[
        os("init"),
        os("--data"),
        lone.as_os_str(),
        os("--state"),
        os("FR"),
        os("--name"),
        os("lone node"),
        os("--registry-key"),
        os(net.registry_public()),
        // No first administrator either: adding one is recorded.
        os("--no-admin"),
    ]);
    let verify = net.run_ok(&[os("ledger"), os("verify"), os("--data"), lone.as_os_str()]);
    assert!(verify.contains("no checkpoint yet"), "{verify}");
    assert!(!verify.contains("none matches"), "{verify}");

    // (Another such node: the verification above is itself recorded.)
    let lone = net.scratch("lone-2");
    net.run_ok(&[
        os("init"),
        os("--data"),
        lone.as_os_str(),
        os("--state"),
        os("FR"),
        os("--name"),
        os("lone node"),
        os("--registry-key"),
        os(net.registry_public()),
        // No first administrator either: adding one is recorded.
        os("--no-admin"),
    ]);
    let empty = net.run(&[os("ledger"), os("witness"), os("--data"), lone.as_os_str()]);
    assert!(empty.status.success(), "{}", stderr(&empty));
    assert!(
        stdout(&empty).contains("The ledger is empty")
            && stdout(&empty).contains("nothing to witness"),
        "{}",
        stdout(&empty)
    );

    // With an entry, the witness is asked; unreachable is said as such and
    // has its own exit status.
    let id = net.save_request("FR", &draft(RequestKind::Preservation, "FR", "DE"));
    net.show("FR", &id);
    let unreachable = witness(&net, "FR");
    assert_eq!(
        unreachable.status.code(),
        Some(3),
        "{}",
        stdout(&unreachable)
    );
    assert!(
        stdout(&unreachable).contains("DE: UNREACHABLE"),
        "{}",
        stdout(&unreachable)
    );
    let fr = net.dir("FR");
    let verify = net.run_ok(&[os("ledger"), os("verify"), os("--data"), fr.as_os_str()]);
    assert!(
        verify.contains("latest signed checkpoint (size"),
        "{verify}"
    );
}

#[test]
fn keys_in_the_wrong_form_are_refused_naming_the_form_expected() {
    let net = Network::offline(&["FR", "DE"]);
    let fr = net.dir("FR");
    let node_key = SigningKey::generate().verifying_key().to_text();
    let log_key = line(&net, &["ledger", "key"], "FR");
    let witness_key = line(&net, &["ledger", "witness-key"], "FR");
    let bundle = net.scratch("no-bundle.json");

    let out = verify_bundle(&net, &bundle, &node_key, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("expected a C2SP verifier key `custos.ledger/CC+HASH+BASE64`")
            && err.contains("got an `ed25519:` public key")
            && err.contains("`custos ledger key`"),
        "{err}"
    );
    let out = verify_bundle(&net, &bundle, &witness_key, &[]);
    assert!(
        stderr(&out).contains("got a witness verifier key"),
        "{}",
        stderr(&out)
    );

    let out = verify_bundle(&net, &bundle, &log_key, &["--witness", &log_key]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("expected a C2SP witness verifier key `custos.witness/CC+HASH+BASE64`")
            && stderr(&out).contains("got a log verifier key")
            && stderr(&out).contains("`custos ledger witness-key`"),
        "{}",
        stderr(&out)
    );

    let directory = net.scratch("directory-v1.json");
    let out = net.run(&[
        os("directory"),
        os("verify"),
        directory.as_os_str(),
        os("--registry-key"),
        os(&log_key),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("expected the registry's public key `ed25519:BASE64`"),
        "{}",
        stderr(&out)
    );

    let out = net.run(&[
        os("keys"),
        os("revoke"),
        os(&node_key),
        os("--data"),
        fr.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("expected a signing key id (32 hexadecimal digits"),
        "{}",
        stderr(&out)
    );
}

#[expect(
    clippy::disallowed_methods,
    reason = "the directory is signed for nodes that run on the system clock"
)]
fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

#[test]
fn plain_http_entries_for_remote_nodes_are_refused() {
    let net = Network::offline(&["FR", "DE"]);
    let fr = net.dir("FR");
    let de = net.dir("DE");
    let entry = net.scratch("fr-http-entry.json");
    let out = net.run(&[
        os("directory"),
        os("entry"),
        os("--data"),
        fr.as_os_str(),
        os("--url"),
        os("http://custos.fr.example"),
        os("--out"),
        entry.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("not loopback"), "{}", stderr(&out));
    assert!(!entry.exists());

    // A directory whose FR entry FR signed by hand with a remote http:// URL
    // is refused on verification and on import; DE keeps version 1.
    let held = net.directory(now());
    let mut entries = Vec::new();
    for cc in ["FR", "DE"] {
        let signed = held.signed_entry(crate::common::state(cc)).unwrap().clone();
        if cc == "FR" {
            let mut value: Value = serde_json::from_slice(&signed.payload).unwrap();
            value["node_url"] = Value::String("http://10.1.2.3:8443".into());
            let payload = custos_seal::canonical_json(&value).unwrap();
            entries.push(custos_seal::Envelope::sign(
                custos_protocol::DIRECTORY_ENTRY_PAYLOAD_TYPE,
                &payload,
                &net.signing_key("FR"),
            ));
        } else {
            entries.push(signed);
        }
    }
    let list = custos_protocol::DirectoryList::new(
        2,
        "Custos network registry",
        now(),
        now() + time::Duration::days(30),
        entries,
    )
    .sign(&net.registry_signing_key())
    .unwrap();
    let file = net.scratch("directory-http.json");
    std::fs::write(&file, list).unwrap();
    let registry = net.registry_key().to_text();
    let out = net.run(&[
        os("directory"),
        os("verify"),
        file.as_os_str(),
        os("--registry-key"),
        os(&registry),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not loopback"), "{}", stderr(&out));
    let out = net.run(&[
        os("directory"),
        os("import"),
        file.as_os_str(),
        os("--data"),
        de.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not loopback"), "{}", stderr(&out));
    let shown = net.run_ok(&[os("directory"), os("show"), os("--data"), de.as_os_str()]);
    assert!(shown.contains("Directory version 1"), "{shown}");
}

/// Every path under `dir`, folders included.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for item in std::fs::read_dir(dir).unwrap() {
        let path = item.unwrap().path();
        out.push(path.clone());
        if path.is_dir() {
            walk(&path, out);
        }
    }
}

/// Runs `custos serve` on the data folder of `cc` and waits (at most 30 s)
/// for it to exit; a server that keeps running is killed and the test fails.
fn serve_must_refuse(net: &Network, cc: &str) -> Output {
    let dir = net.dir(cc);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = net
        .custos_command()
        .args([os("serve"), os("--data"), dir.as_os_str(), os("--listen")])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`custos serve` started on a data folder open to others");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn files_are_private_under_the_usual_umask_and_serve_refuses_loose_ones() {
    use std::os::unix::fs::PermissionsExt;
    // The usual umask; the nodes started below inherit it.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let mut net = Network::start(&["FR", "DE"]);
    let sent = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
    wait_delivered(&net, "FR", &sent);
    net.show("DE", &sent.id);
    for cc in ["FR", "DE"] {
        let dir = net.dir(cc);
        let mut all = vec![dir.clone()];
        walk(&dir, &mut all);
        assert!(all.iter().any(|p| p.ends_with("custos.db")), "{all:?}");
        for path in all {
            // The harness, not the node, creates the log it redirects to.
            if path.ends_with("serve.log") {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let want = if meta.is_dir() { 0o700 } else { 0o600 };
            assert_eq!(
                meta.permissions().mode() & 0o777,
                want,
                "{} is {:o}",
                path.display(),
                meta.permissions().mode() & 0o777
            );
        }
    }

    net.stop("DE");
    let de = net.dir("DE");
    let set = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    set(&de, 0o755);
    let out = serve_must_refuse(&net, "DE");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("chmod 700 {}", de.display())),
        "{}",
        stderr(&out)
    );
    set(&de, 0o700);
    let key = de.join("keys").join("signing.key");
    set(&key, 0o644);
    let out = serve_must_refuse(&net, "DE");
    assert!(
        stderr(&out).contains(&format!("chmod 600 {}", key.display())),
        "{}",
        stderr(&out)
    );
    set(&key, 0o600);
    set(&de.join("keys"), 0o750);
    let out = serve_must_refuse(&net, "DE");
    assert!(
        stderr(&out).contains(&format!("chmod 700 {}", de.join("keys").display())),
        "{}",
        stderr(&out)
    );
    set(&de.join("keys"), 0o700);
    net.start_node("DE");
}
