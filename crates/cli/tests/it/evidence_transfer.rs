//! Evidence transfer between real `custos serve` processes: a package
//! uploaded segment by segment, resumed after either side is killed, refused
//! cleanly when damaged, doubled, misaddressed or too big for the disk, and
//! accepted exactly once with a signed receipt.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use crate::common::{Network, draft, state, wait_until};
use custos_model::RequestKind;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(120);
const MIB: usize = 1 << 20;

/// A sealed package on the sending node, with the files it holds.
struct Package {
    dir: PathBuf,
    source: PathBuf,
    /// The package id's 64 hex digits.
    hex: String,
}

/// Writes `mib` MiB of pseudo-random bytes (and a small second file) under
/// a fresh folder, and seals it on `from` for `to`, in 1 MiB segments, as
/// the answer to a request that `to[0]` sent to `from` (a receiver accepts
/// only evidence answering a request of its own to the sender).
fn seal(net: &Network, from: &str, to: &[&str], mib: usize, name: &str) -> Package {
    let source = net.scratch(&format!("{name}-files"));
    std::fs::create_dir_all(source.join("disk")).expect("a test fixture step");
    let mut data = vec![0u8; mib * MIB];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ (mib as u64);
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let bytes = x.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    std::fs::write(source.join("disk").join("image.dd"), &data).expect("a test fixture step");
    std::fs::write(
        source.join("notes.txt"),
        b"seized 2026-11-28, hash checked on site\n",
    )
    .expect("a test fixture step");
    let request = net
        .send(to[0], &draft(RequestKind::Preservation, to[0], from), &[])
        .id;
    wait_until(DEADLINE, "the sender holds the request", || {
        net.requests(from)
            .iter()
            .any(|r| r["id"] == request.as_str())
    });
    let dir = net.scratch(&format!("{name}-pkg"));
    let mut args: Vec<String> = vec![
        "evidence".into(),
        "seal".into(),
        source.join("disk").display().to_string(),
        source.join("notes.txt").display().to_string(),
        "--request".into(),
        request,
        "--out".into(),
        dir.display().to_string(),
        "--data".into(),
        net.dir(from).display().to_string(),
        "--segment-size".into(),
        MIB.to_string(),
    ];
    for cc in to {
        args.push("--to".into());
        args.push((*cc).into());
    }
    net.run_ok(&args);
    let hex = package_hex(&dir);
    Package { dir, source, hex }
}

fn package_hex(pkg: &Path) -> String {
    let bytes = std::fs::read(pkg.join("manifest.dsse.json")).expect("a test fixture step");
    let envelope = custos_seal::Envelope::from_json(&bytes).expect("a test fixture step");
    custos_seal::content_id(&envelope.payload)
        .strip_prefix("sha256:")
        .expect("a test fixture step")
        .to_owned()
}

fn segment_count(pkg: &Path) -> usize {
    std::fs::read_dir(pkg.join("segments"))
        .expect("a test fixture step")
        .count()
}

/// `custos evidence send PKG --data DIR(from) --to CC extra...`, run to the end.
fn send(net: &Network, from: &str, pkg: &Path, to: &str, extra: &[&str]) -> Output {
    let mut cmd = net.custos_command();
    cmd.args(["evidence", "send"])
        .arg(pkg)
        .arg("--data")
        .arg(net.dir(from))
        .args(["--to", to])
        .args(extra);
    let out = cmd.output().expect("custos runs");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The same, as a child process writing to files in the scratch folder.
fn spawn_send(net: &Network, from: &str, pkg: &Path, to: &str, extra: &[&str], log: &str) -> Child {
    let out =
        std::fs::File::create(net.scratch(&format!("{log}.out"))).expect("a test fixture step");
    let err =
        std::fs::File::create(net.scratch(&format!("{log}.err"))).expect("a test fixture step");
    let mut cmd = net.custos_command();
    cmd.args(["evidence", "send"])
        .arg(pkg)
        .arg("--data")
        .arg(net.dir(from))
        .args(["--to", to])
        .args(extra)
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    cmd.spawn().expect("custos starts")
}

fn read_log(net: &Network, log: &str) -> (String, String) {
    let read = |ext: &str| {
        std::fs::read_to_string(net.scratch(&format!("{log}.{ext}"))).unwrap_or_default()
    };
    (read("out"), read("err"))
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The (have, of, sending) numbers of every "CC already has N of M segments; sending K" line.
fn resume_lines(output: &str, cc: &str) -> Vec<(usize, usize, usize)> {
    let prefix = format!("{cc} already has ");
    output
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let words: Vec<&str> = rest.split_whitespace().collect();
            Some((
                words.first()?.parse().ok()?,
                words.get(2)?.parse().ok()?,
                words.get(5)?.parse().ok()?,
            ))
        })
        .collect()
}

fn incoming(net: &Network, cc: &str, hex: &str) -> PathBuf {
    net.dir(cc).join("evidence").join("incoming").join(hex)
}

fn received(net: &Network, cc: &str, hex: &str) -> PathBuf {
    net.dir(cc).join("evidence").join("received").join(hex)
}

/// How many segments the receiver holds verified in its staging folder.
fn staged_verified(net: &Network, cc: &str, hex: &str) -> usize {
    std::fs::read_dir(incoming(net, cc, hex).join("segments"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".age"))
                .count()
        })
        .unwrap_or(0)
}

fn files_named(dir: &Path, suffix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(suffix))
                .collect()
        })
        .unwrap_or_default()
}

/// The kinds of the entries in the node's ledger (sequenced ones).
fn ledger_kinds(net: &Network, cc: &str) -> Vec<String> {
    let store = net.store(cc);
    let rows = net
        .block_on(store.ledger_entries(0, 100_000))
        .expect("a test fixture step");
    rows.iter()
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.entry).expect("a test fixture step");
            v["kind"].as_str().expect("a test fixture step").to_owned()
        })
        .collect()
}

fn count(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| *k == kind).count()
}

/// Checks the receipt the sender kept: signed by the receiver, for this package.
fn check_receipt(net: &Network, pkg: &Package, cc: &str) {
    let kept: Value = serde_json::from_slice(
        &std::fs::read(pkg.dir.join("receipts").join(format!("{cc}.json")))
            .expect("a test fixture step"),
    )
    .expect("a test fixture step");
    let bytes = serde_json::to_vec(&kept["receipt"]).expect("a test fixture step");
    // The test checks the receipt as a peer would now, by the wall clock.
    #[allow(clippy::disallowed_methods)]
    let now = time::OffsetDateTime::now_utc();
    let receipt = custos_protocol::evidence_transfer::verify_evidence_receipt(
        &bytes,
        &net.directory(now),
        &format!("sha256:{}", pkg.hex),
        state(cc),
        now,
    )
    .expect("the kept receipt verifies against the directory");
    assert_eq!(receipt.segments as usize, segment_count(&pkg.dir));
    assert!(
        kept["custody"].is_object(),
        "the receipt came with a custody proof: {kept}"
    );
}

/// Opens the received package on the receiver and compares the files.
fn open_on_receiver(net: &Network, pkg: &Package, cc: &str) {
    let out = net.scratch(&format!("opened-{cc}-{}", &pkg.hex[..8]));
    net.run_ok(&[
        "evidence".to_string(),
        "open".into(),
        received(net, cc, &pkg.hex).display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--data".into(),
        net.dir(cc).display().to_string(),
    ]);
    for rel in ["disk/image.dd", "notes.txt"] {
        let a = std::fs::read(pkg.source.join(rel)).expect("a test fixture step");
        let b = std::fs::read(out.join(rel)).unwrap_or_default();
        assert!(a == b, "{rel} opened on {cc} differs from the original");
    }
}

/// `ledger verify`, and its deep check, pass on the node of `cc`; gives
/// how many evidence packages the deep check found held or logged.
fn ledger_verifies(net: &Network, cc: &str) -> u64 {
    let dir = net.dir(cc);
    net.run_ok(&[
        "ledger".as_ref(),
        "verify".as_ref(),
        "--data".as_ref(),
        dir.as_os_str(),
    ]);
    let out = net.run(&[
        "ledger".as_ref(),
        "verify".as_ref(),
        "--deep".as_ref(),
        "--json".as_ref(),
        "--data".as_ref(),
        dir.as_os_str(),
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("the deep check prints JSON ({e}): {}", text(&out));
    });
    assert!(
        out.status.success() && report["ok"] == true,
        "the deep check of {cc} passes: {report}"
    );
    report["evidence"]
        .as_u64()
        .expect("the deep check counts evidence packages")
}

#[test]
fn a_package_crosses_resumes_after_either_side_is_killed_and_is_accepted_once() {
    let mut net = Network::start(&["DE", "FR", "IT"]);
    let pkg = seal(&net, "DE", &["FR"], 48, "big");
    let segments = segment_count(&pkg.dir);
    assert!(
        segments >= 48,
        "a 48 MiB package in 1 MiB segments has {segments}"
    );

    // The sender is killed mid-transfer; run again, it sends only the rest.
    let mut child = spawn_send(&net, "DE", &pkg.dir, "FR", &["--limit-rate", "4M"], "fr-1");
    wait_until(DEADLINE, "FR holds a few verified segments", || {
        staged_verified(&net, "FR", &pkg.hex) >= 6
    });
    child.kill().expect("a test fixture step");
    child.wait().expect("a test fixture step");
    let held = staged_verified(&net, "FR", &pkg.hex);
    assert!(held < segments, "the kill came before the end");
    assert!(!received(&net, "FR", &pkg.hex).exists());
    let out = send(&net, "DE", &pkg.dir, "FR", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines = resume_lines(&stdout, "FR");
    assert_eq!(lines.len(), 1, "{stdout}");
    let (have, of, sending) = lines[0];
    assert_eq!(of, segments);
    assert!(
        have >= held,
        "the rerun knew of the {held} verified segments: {stdout}"
    );
    assert_eq!(sending, segments - have, "{stdout}");
    assert!(stdout.contains("FR accepted the package"), "{stdout}");

    // Accepted: the receipt verifies, the package opens at the receiver, the
    // staging folder is gone, both ledgers verify and hold the events once.
    check_receipt(&net, &pkg, "FR");
    assert!(!incoming(&net, "FR", &pkg.hex).exists());
    assert!(files_named(&received(&net, "FR", &pkg.hex).join("segments"), ".part").is_empty());
    open_on_receiver(&net, &pkg, "FR");
    let kinds = ledger_kinds(&net, "FR");
    assert_eq!(count(&kinds, "evidence-received"), 1, "{kinds:?}");
    wait_until(DEADLINE, "DE logs the send", || {
        count(&ledger_kinds(&net, "DE"), "evidence-sent") == 1
    });
    assert_eq!(ledger_verifies(&net, "FR"), 1);
    // A package sent stays in its user's folder: not a record of the node.
    assert_eq!(ledger_verifies(&net, "DE"), 0);

    // Sending again changes nothing: the same receipt, no second acceptance.
    let kept = std::fs::read(pkg.dir.join("receipts/FR.json")).expect("a test fixture step");
    let again = send(&net, "DE", &pkg.dir, "FR", &[]);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(
        std::fs::read(pkg.dir.join("receipts/FR.json")).expect("a test fixture step"),
        kept
    );
    assert_eq!(count(&ledger_kinds(&net, "FR"), "evidence-received"), 1);
    assert_eq!(count(&ledger_kinds(&net, "DE"), "evidence-sent"), 1);

    // The receiver is killed mid-transfer and restarted: the sender's retry
    // loop resumes from what it verified, and a stale part file harms nothing.
    // (IT receives a package answering its own request.)
    let pkg = seal(&net, "DE", &["IT"], 48, "big-it");
    let mut child = spawn_send(
        &net,
        "DE",
        &pkg.dir,
        "IT",
        &["--limit-rate", "4M", "--retry-for", "3m"],
        "it-1",
    );
    wait_until(DEADLINE, "IT holds a few verified segments", || {
        staged_verified(&net, "IT", &pkg.hex) >= 6
    });
    net.kill("IT");
    let held = staged_verified(&net, "IT", &pkg.hex);
    net.start_node("IT");
    let mut status = None;
    wait_until(Duration::from_secs(300), "the send to IT ends", || {
        status = child.try_wait().expect("a test fixture step");
        status.is_some()
    });
    let (stdout, stderr) = read_log(&net, "it-1");
    assert!(
        status.expect("a test fixture step").success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let lines = resume_lines(&stdout, "IT");
    assert!(
        lines.len() >= 2,
        "the send resumed after the restart: {stdout}"
    );
    let (have, _, sending) = *lines.last().expect("a test fixture step");
    assert!(have >= held && have > 0, "{stdout}");
    assert_eq!(have + sending, segments, "{stdout}");
    check_receipt(&net, &pkg, "IT");
    assert!(files_named(&received(&net, "IT", &pkg.hex).join("segments"), ".part").is_empty());
    assert!(files_named(&received(&net, "IT", &pkg.hex).join("segments"), ".lock").is_empty());
    open_on_receiver(&net, &pkg, "IT");
    assert_eq!(count(&ledger_kinds(&net, "IT"), "evidence-received"), 1);
    assert_eq!(ledger_verifies(&net, "IT"), 1);
}

#[test]
fn damaged_packages_and_misaddressed_manifests_are_refused_with_typed_codes() {
    let net = Network::start(&["DE", "FR", "IT"]);
    let pkg = seal(&net, "DE", &["FR"], 8, "small");
    let segments = segment_count(&pkg.dir);
    let manifest = std::fs::read(pkg.dir.join("manifest.dsse.json")).expect("a test fixture step");

    // A manifest for another node, and one signed by a key nobody vouches for.
    let answer = net.http("POST", "IT", "/federation/v1/evidence", manifest.clone());
    assert_eq!(
        (answer.status, answer.code()),
        (400, Some("not-a-recipient")),
        "{:?}",
        answer.json
    );
    let envelope = custos_seal::Envelope::from_json(&manifest).expect("a test fixture step");
    let stranger = custos_seal::SigningKey::generate();
    let forged =
        custos_seal::Envelope::sign(&envelope.payload_type, &envelope.payload, &stranger).to_json();
    let answer = net.http("POST", "FR", "/federation/v1/evidence", forged);
    assert_eq!(
        (answer.status, answer.code()),
        (403, Some("unknown-key")),
        "{:?}",
        answer.json
    );
    assert!(!incoming(&net, "FR", &pkg.hex).exists());
    assert!(!incoming(&net, "IT", &pkg.hex).exists());
    let answer = net.http(
        "GET",
        "FR",
        &format!("/federation/v1/evidence/{}", pkg.hex),
        vec![],
    );
    assert_eq!(
        (answer.status, answer.code()),
        (404, Some("unknown-package"))
    );

    // A truncated segment file: a clear error before anything is uploaded.
    let truncated = net.scratch("truncated-pkg");
    copy_dir(&pkg.dir, &truncated);
    let victim = truncated.join("segments/000003.age");
    let len = std::fs::metadata(&victim)
        .expect("a test fixture step")
        .len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .expect("a test fixture step")
        .set_len(len / 2)
        .expect("a test fixture step");
    let out = send(&net, "DE", &truncated, "FR", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("segment 3") && err.contains("truncated"),
        "{err}"
    );
    assert!(
        !incoming(&net, "FR", &pkg.hex).exists(),
        "nothing was uploaded"
    );

    // A corrupted segment (same size, one byte changed): the receiver refuses
    // it with segment-mismatch, keeps the segments before it for a resume,
    // and accepts nothing.
    let corrupted = net.scratch("corrupted-pkg");
    copy_dir(&pkg.dir, &corrupted);
    flip_byte(&corrupted.join("segments/000004.age"), 1000);
    let out = send(&net, "DE", &corrupted, "FR", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("segment-mismatch") && err.contains("segment 4"),
        "{err}"
    );
    assert_eq!(staged_verified(&net, "FR", &pkg.hex), 4);
    assert!(files_named(&incoming(&net, "FR", &pkg.hex).join("segments"), ".part").is_empty());
    assert!(!received(&net, "FR", &pkg.hex).exists());
    assert_eq!(count(&ledger_kinds(&net, "FR"), "evidence-received"), 0);
    // Only the sender may ask for the acceptance; asked by it, the answer
    // lists what is missing.
    let complete = format!("/federation/v1/evidence/{}/complete", pkg.hex);
    let answer = net.http("POST", "FR", &complete, vec![]);
    assert_eq!(
        (answer.status, answer.code()),
        (403, Some("upload-unauthorized"))
    );
    let auth = net.upload_auth("DE", "FR", &format!("sha256:{}", pkg.hex));
    let answer = net.http_with(
        "POST",
        "FR",
        complete,
        vec![("custos-upload-auth", auth)],
        vec![],
    );
    assert_eq!(
        (answer.status, answer.code()),
        (409, Some("package-incomplete"))
    );
    assert_eq!(
        answer.json["missing"].as_array().map(Vec::len),
        Some(segments - 4)
    );

    // The intact package resumes from the four verified segments.
    let out = send(&net, "DE", &pkg.dir, "FR", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        resume_lines(&stdout, "FR"),
        vec![(4, segments, segments - 4)],
        "{stdout}"
    );
    check_receipt(&net, &pkg, "FR");
    open_on_receiver(&net, &pkg, "FR");
}

#[test]
fn concurrent_sends_of_one_package_end_in_one_acceptance() {
    let net = Network::start(&["DE", "FR"]);
    let pkg = seal(&net, "DE", &["FR"], 16, "twice");
    let mut a = spawn_send(&net, "DE", &pkg.dir, "FR", &["--limit-rate", "8M"], "a");
    let mut b = spawn_send(&net, "DE", &pkg.dir, "FR", &["--limit-rate", "8M"], "b");
    let a_status = a.wait().expect("a test fixture step");
    let b_status = b.wait().expect("a test fixture step");
    let (a_out, a_err) = read_log(&net, "a");
    let (b_out, b_err) = read_log(&net, "b");
    let all = format!("A: {a_status}\n{a_out}\n{a_err}\nB: {b_status}\n{b_out}\n{b_err}");
    assert!(a_status.success() || b_status.success(), "{all}");
    for (ok, err) in [(a_status.success(), &a_err), (b_status.success(), &b_err)] {
        if !ok {
            assert!(err.contains("upload-in-progress"), "{all}");
        }
    }
    assert_eq!(
        count(&ledger_kinds(&net, "FR"), "evidence-received"),
        1,
        "{all}"
    );
    assert!(!incoming(&net, "FR", &pkg.hex).exists());
    check_receipt(&net, &pkg, "FR");
    open_on_receiver(&net, &pkg, "FR");
}

#[test]
fn a_receiver_without_room_refuses_with_insufficient_storage() {
    let mut net = Network::start(&["DE", "FR"]);
    let pkg = seal(&net, "DE", &["FR"], 4, "full");
    net.stop("FR");
    let config = net.dir("FR").join("custos.toml");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&config)
        .expect("a test fixture step");
    // A reserve far above any free space: the disk is "full" for evidence.
    writeln!(f, "\n[evidence]\nreserve_bytes = 1152921504606846976").expect("a test fixture step");
    drop(f);
    net.start_node("FR");
    let out = send(&net, "DE", &pkg.dir, "FR", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("insufficient-storage"), "{err}");
    assert!(!received(&net, "FR", &pkg.hex).exists());
    assert_eq!(
        staged_verified(&net, "FR", &pkg.hex),
        0,
        "no segment was kept"
    );
    assert_eq!(count(&ledger_kinds(&net, "FR"), "evidence-received"), 0);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a test fixture step");
    for entry in std::fs::read_dir(from)
        .expect("a test fixture step")
        .flatten()
    {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a test fixture step").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("a test fixture step");
        }
    }
}

fn flip_byte(path: &Path, at: u64) {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("a test fixture step");
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(at)).expect("a test fixture step");
    f.read_exact(&mut b).expect("a test fixture step");
    b[0] ^= 0xff;
    f.seek(SeekFrom::Start(at)).expect("a test fixture step");
    f.write_all(&b).expect("a test fixture step");
}
