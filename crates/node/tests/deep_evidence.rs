//! The deep check over evidence a node received: a package sent from
//! France to Germany over loopback, then, on Germany's node, each way its
//! folder can be tampered with (a segment byte, the manifest, the receipt,
//! the whole folder removed, a copy under another name), each named by the
//! check and each undone before the next; on SQLite and, when its server
//! is configured, PostgreSQL.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

#[path = "common/evidence.rs"]
mod evidence;

use evidence::{seal, sent_package};

use std::path::{Path, PathBuf};

use custos_model::{RequestKind, template, validate};
use custos_node::Actor;
use custos_node::deep_check::DeepReport;
use custos_testkit::{Network, NetworkBuilder, TestNode};
use serde_json::json;

fn actor() -> Actor {
    Actor::Cli {
        user: "alice".into(),
    }
}

/// Germany asks France for preservation; France answers with a package of
/// three segments, sent to Germany over loopback and accepted. Gives the
/// package's folder on Germany's node and the request.
async fn received_package(net: &Network, scratch: &Path) -> (PathBuf, String) {
    let de = net.node("DE");
    let mut draft = validate::parse(&template::render(RequestKind::Preservation)).unwrap();
    draft["requesting_state"] = json!("DE");
    draft["requested_state"] = json!("FR");
    let sent = de.submit(draft, &actor()).await.unwrap();
    let reply = net.carry("DE", &sent.message_id, "FR").await.unwrap();
    assert_eq!(
        reply.status,
        200,
        "France takes the request: {}",
        reply.text()
    );

    let package = sent_package(net, "FR", "DE", &sent.thread, scratch, "first", 2, &actor()).await;
    let hex = package.strip_prefix("sha256:").unwrap().to_owned();
    let folder = de.received_evidence_dir().join(&hex);
    assert!(folder.join("manifest.dsse.json").is_file());
    assert_eq!(
        std::fs::read_dir(folder.join("segments")).unwrap().count(),
        3,
        "2 MiB and a note in 1 MiB segments"
    );
    (folder, sent.thread)
}

async fn deep(node: &TestNode) -> DeepReport {
    node.verify_deep().await.unwrap()
}

/// Runs the deep check and asserts that it names only evidence, and among
/// it every one of `wanted` (each a fragment of one problem line).
async fn named(node: &TestNode, what: &str, wanted: &[&str]) -> DeepReport {
    let report = deep(node).await;
    assert!(!report.problems.is_empty(), "{what}: nothing was named");
    for p in &report.problems {
        assert!(
            p.starts_with("evidence package ") || p.starts_with("evidence folder "),
            "{what}: something else was named: {p}"
        );
    }
    for w in wanted {
        assert!(
            report.problems.iter().any(|p| p.contains(w)),
            "{what}: no problem names {w:?}: {:#?}",
            report.problems
        );
    }
    report
}

async fn clean(node: &TestNode, what: &str) -> DeepReport {
    let report = deep(node).await;
    assert!(report.problems.is_empty(), "{what}: {:#?}", report.problems);
    report
}

/// A network where France sent Germany one package, which Germany accepted.
struct Fixture {
    net: Network,
    scratch: tempfile::TempDir,
    /// The package's folder on Germany's node.
    folder: PathBuf,
    hex: String,
    request: String,
}

impl Fixture {
    async fn new(builder: NetworkBuilder) -> Fixture {
        let net = builder.served().build().await.unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let (folder, request) = received_package(&net, scratch.path()).await;
        let hex = folder.file_name().unwrap().to_string_lossy().into_owned();
        let f = Fixture {
            net,
            scratch,
            folder,
            hex,
            request,
        };
        // Untouched, the receiver's check passes and counts the package;
        // the sender holds no package (its package is its user's folder).
        let before = clean(f.de(), "untouched").await;
        assert_eq!(before.evidence, 1);
        assert_eq!(
            before.records(),
            before.messages + before.receipts + before.requests + 1
        );
        assert_eq!(clean(f.net.node("FR"), "the sender").await.evidence, 0);
        f
    }

    fn de(&self) -> &TestNode {
        self.net.node("DE")
    }

    /// The start of every line about the package.
    fn package(&self) -> String {
        format!("evidence package {}: ", self.hex)
    }

    /// After the change is undone, the check passes again.
    async fn undone(self) {
        assert_eq!(clean(self.de(), "undone").await.evidence, 1);
        self.net.stop().await;
    }
}

/// A byte of a segment changed.
async fn segment_edited(f: &Fixture) {
    let segment = f.folder.join("segments").join("000001.age");
    let original = std::fs::read(&segment).unwrap();
    let mut edited = original.clone();
    edited[1000] ^= 0x20;
    std::fs::write(&segment, &edited).unwrap();
    let wanted = format!("{}segments/000001.age: BLAKE3 is ", f.package());
    named(f.de(), "a segment edited", &[&wanted]).await;
    std::fs::write(&segment, &original).unwrap();
}

/// A segment removed, and one added.
async fn segments_moved(f: &Fixture) {
    let segment = f.folder.join("segments").join("000001.age");
    let kept = f.scratch.path().join("kept.age");
    let added = f.folder.join("segments").join("000009.age");
    std::fs::rename(&segment, &kept).unwrap();
    std::fs::write(&added, b"more").unwrap();
    let missing = format!("{}segments/000001.age: missing", f.package());
    let inserted = format!("{}segments/000009.age: not in its manifest", f.package());
    named(f.de(), "segments moved", &[&missing, &inserted]).await;
    std::fs::rename(&kept, &segment).unwrap();
    std::fs::remove_file(&added).unwrap();
}

/// The manifest replaced by another one France signed for the same request
/// (a valid signature, but not the package that was logged).
async fn manifest_replaced(f: &Fixture) {
    let other = seal(
        f.net.node("FR"),
        "DE",
        &f.request,
        f.scratch.path(),
        "second",
        1,
        &actor(),
    )
    .await;
    let manifest = f.folder.join("manifest.dsse.json");
    let original = std::fs::read(&manifest).unwrap();
    std::fs::copy(other.join("manifest.dsse.json"), &manifest).unwrap();
    let not_logged = format!("{}its manifest is not the one ledger entry", f.package());
    let other_package = format!("{}its manifest is of package sha256:", f.package());
    named(
        f.de(),
        "the manifest replaced",
        &[&not_logged, &other_package],
    )
    .await;
    std::fs::write(&manifest, &original).unwrap();
}

/// One character of the manifest's signature changed.
async fn manifest_signature_edited(f: &Fixture) {
    let manifest = f.folder.join("manifest.dsse.json");
    let original = std::fs::read(&manifest).unwrap();
    let mut envelope: serde_json::Value = serde_json::from_slice(&original).unwrap();
    let sig = envelope["signatures"][0]["sig"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = if sig.starts_with('A') { "B" } else { "A" };
    envelope["signatures"][0]["sig"] = json!(format!("{first}{}", &sig[1..]));
    std::fs::write(&manifest, serde_json::to_vec(&envelope).unwrap()).unwrap();
    let not_logged = format!("{}its manifest is not the one ledger entry", f.package());
    let unsigned = format!("{}its manifest's signature does not verify", f.package());
    named(
        f.de(),
        "the manifest's signature edited",
        &[&not_logged, &unsigned],
    )
    .await;
    std::fs::write(&manifest, &original).unwrap();
}

/// The receipt rewritten: the same signed receipt, its JSON laid out
/// otherwise (its signature still verifies; its bytes are not the ones logged).
async fn receipt_edited(f: &Fixture) {
    let receipt = f.folder.join("receipt.dsse.json");
    let original = std::fs::read(&receipt).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&original).unwrap();
    std::fs::write(&receipt, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
    let wanted = format!("{}its receipt is not the one ledger entry", f.package());
    named(f.de(), "the receipt edited", &[&wanted]).await;
    std::fs::write(&receipt, &original).unwrap();
}

/// The whole package folder removed.
async fn folder_removed(f: &Fixture) {
    let away = f.scratch.path().join("away");
    std::fs::rename(&f.folder, &away).unwrap();
    let package = f.package();
    let report = named(f.de(), "the folder removed", &[&package]).await;
    assert!(
        report.problems.iter().any(|p| p.starts_with(&package)
            && p.ends_with("logs its acceptance, but its folder is not held (removed)")),
        "{:#?}",
        report.problems
    );
    // Back in the staging folder, as an acceptance stopped between its
    // ledger entries and its move leaves it, it is checked there.
    let staged = f.de().dir().join("evidence").join("incoming").join(&f.hex);
    std::fs::create_dir_all(staged.parent().unwrap()).unwrap();
    std::fs::rename(&away, &staged).unwrap();
    assert_eq!(clean(f.de(), "the move not made yet").await.evidence, 1);
    std::fs::write(staged.join("segments").join("000002.age"), b"cut").unwrap();
    let wanted = format!("{}segments/000002.age: is 3 bytes", f.package());
    named(f.de(), "a staged segment edited", &[&wanted]).await;
    std::fs::rename(&staged, &f.folder).unwrap();
    let segment = f.folder.join("segments").join("000002.age");
    std::fs::write(
        &segment,
        std::fs::read(f.scratch.path().join("first-pkg/segments/000002.age")).unwrap(),
    )
    .unwrap();
}

/// The folder copied under another package's name, and under a name that
/// is none (with an escape sequence in it, which must not reach the report).
async fn folder_copied(f: &Fixture) {
    let last = if f.hex.ends_with('0') { '1' } else { '0' };
    let twin = format!("{}{last}", &f.hex[..63]);
    let root = f.de().received_evidence_dir();
    let odd = "copy\u{1b}[2K";
    copy_folder(&f.folder, &root.join(&twin));
    copy_folder(&f.folder, &root.join(odd));
    let inserted = format!("evidence package {twin}: no ledger entry logs its acceptance");
    let report = named(
        f.de(),
        "copies inserted",
        &[
            &inserted,
            "evidence folder entry copy\\u{1b}[2K: not a package folder",
        ],
    )
    .await;
    assert_eq!(report.evidence, 3);
    assert!(
        report.problems.iter().all(|p| !p.contains('\u{1b}')),
        "a name from the disk reaches the report raw: {:#?}",
        report.problems
    );
    std::fs::remove_dir_all(root.join(&twin)).unwrap();
    std::fs::remove_dir_all(root.join(odd)).unwrap();
}

/// France's and Germany's nodes, on SQLite.
fn sqlite() -> NetworkBuilder {
    NetworkBuilder::new(&["FR", "DE"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_evidence_passes_the_deep_check_and_sent_evidence_is_not_counted() {
    Fixture::new(sqlite()).await.undone().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_segment_is_named() {
    let f = Fixture::new(sqlite()).await;
    segment_edited(&f).await;
    f.undone().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_added_segment_file_is_named() {
    let f = Fixture::new(sqlite()).await;
    segments_moved(&f).await;
    f.undone().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_manifest_is_named() {
    let f = Fixture::new(sqlite()).await;
    manifest_replaced(&f).await;
    f.undone().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_with_an_edited_signature_is_named() {
    let f = Fixture::new(sqlite()).await;
    manifest_signature_edited(&f).await;
    f.undone().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_receipt_is_named() {
    let f = Fixture::new(sqlite()).await;
    receipt_edited(&f).await;
    f.undone().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_package_folder_is_named() {
    let f = Fixture::new(sqlite()).await;
    folder_removed(&f).await;
    f.undone().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_folder_copied_under_another_name_is_named() {
    let f = Fixture::new(sqlite()).await;
    folder_copied(&f).await;
    f.undone().await;
}

/// Every change above, one after the other, on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_every_change_to_received_evidence_is_named() {
    let Some(url) = custos_testkit::postgres_url() else {
        return;
    };
    let f = Fixture::new(NetworkBuilder::new(&["FR", "DE"]).postgres(url)).await;
    segment_edited(&f).await;
    segments_moved(&f).await;
    manifest_replaced(&f).await;
    manifest_signature_edited(&f).await;
    receipt_edited(&f).await;
    folder_removed(&f).await;
    folder_copied(&f).await;
    f.undone().await;
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            copy_folder(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), target).unwrap();
        }
    }
}
