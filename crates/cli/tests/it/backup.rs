//! Backing up a serving node while messages arrive, and restoring it into
//! another folder: every record made before the backup is found again, the
//! ledger verifies, the deep check passes and the peer that witnessed the
//! node's log cosigns the restored one as the same log. A restore never
//! writes over a node's folder, serving or not, and refuses an altered
//! backup.

use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Network, draft, wait_until};
use custos_model::RequestKind;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(120);

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// DE asks FR for evidence; FR seals two small files for DE and sends them.
fn evidence_from_fr_to_de(net: &Network) -> String {
    let request = net
        .send("DE", &draft(RequestKind::Preservation, "DE", "FR"), &[])
        .id;
    wait_until(DEADLINE, "FR holds DE's request", || {
        net.requests("FR")
            .iter()
            .any(|r| r["id"] == request.as_str())
    });
    let files = net.scratch("evidence-files");
    std::fs::create_dir_all(&files).expect("a test step");
    std::fs::write(
        files.join("subscriber.txt"),
        b"subscriber record (sample)\n",
    )
    .expect("a test step");
    std::fs::write(files.join("log.txt"), vec![b'x'; 300_000]).expect("a test step");
    let pkg = net.scratch("evidence-pkg");
    let fr = net.dir("FR").display().to_string();
    let sealed = json(&net.run_ok(&[
        "evidence",
        "seal",
        &files.display().to_string(),
        "--request",
        &request,
        "--to",
        "DE",
        "--out",
        &pkg.display().to_string(),
        "--data",
        &fr,
        "--json",
    ]));
    net.run_ok(&[
        "evidence",
        "send",
        &pkg.display().to_string(),
        "--data",
        &fr,
    ]);
    sealed["package_id"]
        .as_str()
        .expect("the sealed package's id")
        .to_owned()
}

fn received_packages(net: &Network, de: &str) -> Vec<Value> {
    json(&net.run_ok(&["evidence", "list", "--data", de, "--json"]))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_backup_under_load_restores_every_record_and_the_witness_accepts_the_same_log() {
    let mut net = Network::start(&["FR", "DE"]);
    // DE asks for cosignatures only when told to, so the witness's view of
    // its log is exactly what the test makes it.
    net.set_env("CUSTOS_WITNESS_EVERY", "3600");
    net.stop("DE");
    net.start_node("DE");
    let de = net.dir("DE").display().to_string();
    let fr = net.dir("FR").display().to_string();

    // Before the load: requests delivered, an evidence package received,
    // and FR's cosignature of DE's log.
    let mut before: Vec<String> = (0..3)
        .map(|_| {
            let sent = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
            assert_eq!(sent.delivery, "delivered", "{sent:?}");
            sent.id
        })
        .collect();
    let package = evidence_from_fr_to_de(&net);
    assert!(
        received_packages(&net, &de)
            .iter()
            .any(|p| p["package_id"] == package.as_str() || p["package"] == package.as_str()),
        "DE lists the package it received: {:?}",
        received_packages(&net, &de)
    );
    let witnessed = net.run_ok(&["ledger", "witness", "--data", &de]);
    assert!(witnessed.contains("FR: cosigned size"), "{witnessed}");

    // The load: FR sends to DE without pause while DE is backed up.
    let passphrase = net.scratch("passphrase.txt");
    std::fs::write(&passphrase, "correct horse battery staple\n").expect("a test step");
    let archive = net.scratch("de-backup.tar");
    let loading = AtomicBool::new(true);
    let (during, report) = std::thread::scope(|s| {
        let load = s.spawn(|| {
            let mut delivered = Vec::new();
            while loading.load(Ordering::SeqCst) {
                let sent = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
                delivered.push((Instant::now(), sent));
            }
            delivered
        });
        // Let a few arrive first, so the backup runs among them.
        wait_until(DEADLINE, "messages arriving at DE", || {
            net.requests("DE").len() >= before.len() + 1 + 2
        });
        let started = Instant::now();
        let report = json(&net.run_ok(&[
            "backup",
            "--data",
            &de,
            "--out",
            &archive.display().to_string(),
            "--with-keys",
            "--passphrase-file",
            &passphrase.display().to_string(),
            "--json",
        ]));
        eprintln!(
            "backup under load: {} bytes in {:.2} s",
            report["bytes"],
            started.elapsed().as_secs_f64()
        );
        // And some more after it.
        let after = net.requests("DE").len() + 2;
        wait_until(DEADLINE, "more messages arriving at DE", || {
            net.requests("DE").len() >= after
        });
        loading.store(false, Ordering::SeqCst);
        let sent = load.join().expect("the load thread");
        let during: Vec<String> = sent
            .into_iter()
            .filter(|(at, s)| *at < started && s.delivery == "delivered")
            .map(|(_, s)| s.id)
            .collect();
        (during, report)
    });
    assert!(
        !during.is_empty(),
        "some messages were delivered before the backup"
    );
    before.extend(during);
    assert_eq!(report["keys"], "passphrase", "{report}");
    assert_eq!(report["database"], true, "{report}");
    let backed_up_size = report["ledger_size"].as_u64().expect("the ledger's size");

    // What the original node held, to compare with after the restore.
    let shown: Vec<Value> = before.iter().map(|id| net.show("DE", id)).collect();
    net.stop("DE");
    let original = net.store("DE");
    let entries = net
        .block_on(original.ledger_entries(0, u32::try_from(backed_up_size).expect("a test step")))
        .expect("the original ledger's entries");
    net.block_on(original.close());
    drop(original);
    assert_eq!(entries.len() as u64, backed_up_size);

    // A restore refuses a serving node's folder and a stopped node's folder.
    for (folder, why) in [(&fr, "is serving from"), (&de, "already holds a node")] {
        let refused = net.run(&restore_args(&archive, folder, &passphrase));
        assert!(!refused.status.success());
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(err.contains(why), "{err}");
    }

    // An altered backup is refused and leaves nothing behind.
    let altered = net.scratch("altered.tar");
    let mut bytes = std::fs::read(&archive).expect("a test step");
    let at = find(&bytes, b"[node]").expect("the configuration is in the archive");
    bytes[at + 1] ^= 0x20;
    std::fs::write(&altered, &bytes).expect("a test step");
    let elsewhere = net.scratch("elsewhere");
    let refused = net.run(&restore_args(&altered, &elsewhere, &passphrase));
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("does not match the SHA-256"), "{err}");
    assert!(!elsewhere.exists());
    // Into an existing empty folder (a service's state folder) likewise:
    // the folder is left as it was, empty.
    let empty = net.scratch("empty-state-folder");
    std::fs::create_dir(&empty).expect("a test step");
    let refused = net.run(&restore_args(&altered, &empty, &passphrase));
    assert!(!refused.status.success());
    assert_eq!(
        std::fs::read_dir(&empty).expect("a test step").count(),
        0,
        "a refused restore leaves the existing folder empty"
    );

    // Keys without their passphrase are refused.
    let refused = net.run(&[
        "restore",
        "--from",
        &archive.display().to_string(),
        "--data",
        &elsewhere.display().to_string(),
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--passphrase-file"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!elsewhere.exists());

    // The original moves away; the backup is restored in its place, into
    // an empty folder made beforehand as a service manager makes a
    // service's state folder: the restore fills that folder, which keeps
    // its identity and is made private (it was 0750), rather than
    // replacing it with one made beside it (its parent may not be
    // writable to the node's account).
    let moved = net.scratch("de-original");
    std::fs::rename(net.dir("DE"), &moved).expect("a test step");
    std::fs::create_dir(net.dir("DE")).expect("a test step");
    std::fs::set_permissions(net.dir("DE"), std::fs::Permissions::from_mode(0o750))
        .expect("a test step");
    let state_folder = std::fs::metadata(net.dir("DE")).expect("a test step");
    let restoring = Instant::now();
    let restored = json(&net.run_ok(&{
        let mut args = restore_args(&archive, &de, &passphrase);
        args.push("--json".into());
        args
    }));
    eprintln!(
        "restore with ledger verification and deep check: {:.2} s",
        restoring.elapsed().as_secs_f64()
    );
    assert_eq!(restored["keys_restored"], true, "{restored}");
    assert_eq!(restored["deep_check"]["ok"], true, "{restored}");
    assert!(
        restored["deep_check"]["evidence"].as_u64() >= Some(1),
        "{restored}"
    );
    assert!(
        restored["ledger"]["size"].as_u64() >= Some(backed_up_size),
        "{restored}"
    );
    let filled = std::fs::metadata(net.dir("DE")).expect("a test step");
    assert_eq!(
        (filled.ino(), filled.mode() & 0o7777),
        (state_folder.ino(), 0o700),
        "the state folder was filled in place"
    );
    assert!(!net.dir("DE").join(".custos-restoring").exists());

    // Into a folder that does not exist yet: made beside it, then renamed.
    let new_folder = net.scratch("restored-elsewhere");
    net.run_ok(&restore_args(&archive, &new_folder, &passphrase));
    assert!(new_folder.join("custos.toml").exists());
    assert!(!net.scratch("restored-elsewhere.restoring").exists());

    // Every entry logged before the backup is there, unchanged.
    let copy = net.store("DE");
    let restored_entries = net
        .block_on(copy.ledger_entries(0, u32::try_from(backed_up_size).expect("a test step")))
        .expect("the restored ledger's entries");
    net.block_on(copy.close());
    drop(copy);
    assert_eq!(
        restored_entries
            .iter()
            .map(|e| &e.entry)
            .collect::<Vec<_>>(),
        entries.iter().map(|e| &e.entry).collect::<Vec<_>>()
    );

    // The restored node serves, shows every request as before, its
    // messages and receipts, and the package.
    net.start_node("DE");
    for (id, was) in before.iter().zip(&shown) {
        let now = net.show("DE", id);
        assert_eq!(now["messages"], was["messages"], "request {id}");
        assert_eq!(now["history"], was["history"], "request {id}");
        assert!(
            !now["messages"].as_array().expect("a test step").is_empty(),
            "request {id} has its message"
        );
    }
    assert!(
        received_packages(&net, &de)
            .iter()
            .any(|p| p["package_id"] == package.as_str() || p["package"] == package.as_str()),
        "the restored node lists the package"
    );
    let verified = net.run_ok(&["ledger", "verify", "--data", &de]);
    assert!(verified.to_lowercase().contains("ok"), "{verified}");
    net.run_ok(&["ledger", "verify", "--deep", "--data", &de]);

    // FR, which cosigned DE's log before the backup, cosigns the restored
    // log as its continuation, and records no fork.
    let witnessed = net.run_ok(&["ledger", "witness", "--data", &de]);
    assert!(witnessed.contains("FR: cosigned size"), "{witnessed}");
    assert!(
        net.run(&["ledger", "forks", "--data", &fr])
            .status
            .success(),
        "FR records no fork"
    );
    // The backup itself is on record, under the operator's name.
    let audit = net.run_ok(&["audit", "--data", &de, "--json"]);
    assert!(audit.contains("back-up"), "{audit}");
    assert!(
        moved.join("custos.toml").exists(),
        "the original is kept aside"
    );
}

/// `custos restore` of the backup `from` into `data`, its keys opened
/// with the passphrase on the file `passphrase`.
fn restore_args(from: &Path, data: impl AsRef<Path>, passphrase: &Path) -> Vec<OsString> {
    vec![
        "restore".into(),
        "--from".into(),
        from.into(),
        "--data".into(),
        data.as_ref().into(),
        "--passphrase-file".into(),
        passphrase.into(),
    ]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
