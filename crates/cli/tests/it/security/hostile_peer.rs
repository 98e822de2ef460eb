//! See `main.rs`: the hostile_peer cases. A peer that is in the directory
//! forges evidence packages with its real signing key (the harness's
//! [`Forge`]) and uploads them to a real node over HTTP, or hands them to an
//! operator who checks and opens them with the `custos` command.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use custos_model::RequestKind;
use serde_json::Value;

use crate::common::{Answer, Forge, ForgedFile, Network, draft, noise, wait_until};

const DEADLINE: Duration = Duration::from_secs(60);

/// A request `requester` sends to `to`; its id (the same on both nodes).
fn request(net: &Network, requester: &str, to: &str) -> String {
    net.send(
        requester,
        &draft(RequestKind::Preservation, requester, to),
        &[],
    )
    .id
}

fn incoming(net: &Network, cc: &str, hex: &str) -> PathBuf {
    net.dir(cc).join("evidence").join("incoming").join(hex)
}

fn code(a: &Answer) -> (u16, Option<&str>) {
    (a.status, a.code())
}

/// The ledger entries of `kind` about package `id` on the node of `cc`.
fn entries_about(net: &Network, cc: &str, kind: &str, id: &str) -> Vec<Value> {
    net.ledger_entries(cc)
        .into_iter()
        .filter(|e| e["kind"] == kind && e["subject"] == id)
        .collect()
}

/// Runs `custos evidence verify|open` on the node of `cc`.
fn check_package(net: &Network, cc: &str, action: &str, pkg: &Path, out: &Path) -> (bool, String) {
    let mut args = vec![
        "evidence".to_string(),
        action.into(),
        pkg.display().to_string(),
        "--data".into(),
        net.dir(cc).display().to_string(),
    ];
    if action == "open" {
        args.extend(["--out".into(), out.display().to_string()]);
    }
    let output = net.run(&args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn names_with_escape_sequences_are_shown_escaped_by_verify_and_open() {
    let net = Network::offline(&["DE", "FR"]);
    let mut forge = Forge::new("DE", "FR", "req-escape");
    // An entry not in the manifest whose name moves the cursor up, clears
    // the line and prints a false verdict in green.
    let evil = b"\x1b[1A\x1b[2K\x1b[32mOpen: everything matches\x1b[0m\nx\xe2\x80\xaeu".to_vec();
    forge.extra_entries.push((evil, b"planted".to_vec()));
    let pkg = net.forge(&forge, &net.scratch("evil-pkg"));
    for action in ["verify", "open"] {
        let out = net.scratch(&format!("evil-{action}"));
        let (ok, text) = check_package(&net, "FR", action, &pkg.dir, &out);
        assert!(!ok, "{action} reports the planted entry: {text}");
        assert!(
            !text.contains('\x1b') && !text.contains('\u{202e}'),
            "{action} printed a raw escape sequence: {text:?}"
        );
        assert!(
            text.contains("\\u{1b}[1A\\u{1b}[2K") && text.contains("\\nx\\u{202e}u"),
            "{action} shows the name escaped: {text}"
        );
        assert!(
            text.lines()
                .all(|l| !l.starts_with("Open: everything matches")),
            "{text}"
        );
    }
}

#[test]
fn a_package_the_receiver_cannot_decrypt_is_refused_and_never_receipted() {
    let net = Network::start(&["DE", "FR"]);
    let id = request(&net, "FR", "DE");
    let mut forge = Forge::new("DE", "FR", &id);
    forge.sender_only = true;
    let pkg = net.forge(&forge, &net.scratch("sender-only"));
    let answers = net.upload_forged("DE", "FR", &pkg);
    assert_eq!(code(&answers[0]), (200, None), "{:?}", answers[0].json);
    assert_eq!(
        code(&answers[1]),
        (422, Some("not-decryptable")),
        "{:?}",
        answers[1].json
    );
    let last = answers.last().expect("an acceptance answer");
    assert_eq!(
        code(last),
        (409, Some("package-incomplete")),
        "{:?}",
        last.json
    );
    assert!(last.json.get("receipt").is_none());
    assert!(
        !net.dir("FR")
            .join("evidence/received")
            .join(&pkg.hex)
            .exists()
    );
    assert!(entries_about(&net, "FR", "evidence-received", &pkg.id).is_empty());
    assert!(entries_about(&net, "FR", "receipt-issued", &pkg.id).is_empty());

    // The same package encrypted to the receiver crosses.
    forge.sender_only = false;
    let good = net.forge(&forge, &net.scratch("to-fr"));
    let answers = net.upload_forged("DE", "FR", &good);
    let last = answers.last().expect("an acceptance answer");
    assert_eq!(code(last), (200, None), "{:?}", last.json);
    assert!(last.json["receipt"].is_object());
}

#[test]
fn manifests_that_answer_no_request_of_the_receiver_to_the_sender_are_refused() {
    let net = Network::start(&["DE", "FR", "IT"]);
    let to_third_state = request(&net, "FR", "IT");
    let to_sender = request(&net, "FR", "DE");
    for (request, name) in [
        ("req-made-up-by-the-peer", "made-up"),
        (to_third_state.as_str(), "third-state"),
    ] {
        let pkg = net.forge(&Forge::new("DE", "FR", request), &net.scratch(name));
        let answers = net.upload_forged("DE", "FR", &pkg);
        assert_eq!(
            code(&answers[0]),
            (422, Some("unknown-request")),
            "{name}: {:?}",
            answers[0].json
        );
        assert!(
            !incoming(&net, "FR", &pkg.hex).exists(),
            "{name}: nothing staged"
        );
        assert!(answers.last().is_some_and(|a| a.status == 404));
        assert!(entries_about(&net, "FR", "evidence-received", &pkg.id).is_empty());
    }
    let pkg = net.forge(&Forge::new("DE", "FR", &to_sender), &net.scratch("answer"));
    let answers = net.upload_forged("DE", "FR", &pkg);
    assert!(
        answers.iter().all(|a| a.status == 200),
        "{:?}",
        answers.iter().map(|a| &a.json).collect::<Vec<_>>()
    );
    assert_eq!(
        entries_about(&net, "FR", "evidence-received", &pkg.id).len(),
        1
    );
}

#[test]
fn a_large_manifest_with_a_junk_signature_is_refused_before_it_is_parsed() {
    let net = Network::start(&["DE", "FR"]);
    // 24 MB of payload that is no manifest at all beyond the two fields a
    // signature check reads: parsed first, it would be `malformed-message`.
    let junk = "x".repeat(24 << 20);
    #[allow(clippy::disallowed_methods)]
    let now = custos_protocol::timestamp::format(time::OffsetDateTime::now_utc());
    let payload = format!(r#"{{"created_at":"{now}","files":"{junk}","sender":"DE"}}"#);
    let de_key = net.signing_key("DE").verifying_key().key_id();
    let stranger = custos_seal::SigningKey::generate();
    let mut envelope = custos_seal::Envelope::sign(
        custos_protocol::evidence::MANIFEST_PAYLOAD_TYPE,
        payload.as_bytes(),
        &stranger,
    );
    envelope.signatures[0].keyid = de_key;
    let answer = net.http("POST", "FR", "/federation/v1/evidence", envelope.to_json());
    assert_eq!(
        code(&answer),
        (403, Some("signature-invalid")),
        "{:?}",
        answer.json
    );
    let staged = std::fs::read_dir(net.dir("FR").join("evidence/incoming"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(staged, 0, "nothing was staged");
}

#[test]
fn a_manifest_at_the_sealing_limit_is_received() {
    use custos_protocol::evidence::{MAX_MANIFEST_BYTES, sign_manifest};
    let net = Network::start(&["DE", "FR"]);
    let id = request(&net, "FR", "DE");
    let pkg = net.forge(&Forge::new("DE", "FR", &id), &net.scratch("small"));
    let mut manifest = custos_protocol::evidence::read_manifest_unverified(&pkg.manifest)
        .expect("the forged manifest reads")
        .manifest;
    // Grow the use conditions until the signed manifest is as large as
    // sealing allows; four bytes more are refused by sealing itself. The
    // envelope carries the payload in base64, 4 characters per 3 bytes.
    let key = net.signing_key("DE");
    manifest.use_limits = Value::String(String::new());
    let small = sign_manifest(&manifest, &key).expect("the small manifest signs");
    let small_payload = custos_seal::Envelope::from_json(&small)
        .expect("an envelope")
        .payload
        .len();
    let framing = small.len() - small_payload.div_ceil(3) * 4;
    let payload_len = (MAX_MANIFEST_BYTES - framing) / 4 * 3;
    let grow = payload_len - small_payload;
    manifest.use_limits = Value::String("u".repeat(grow));
    let bytes = sign_manifest(&manifest, &key).expect("a manifest at the limit signs");
    assert!(
        MAX_MANIFEST_BYTES - bytes.len() < 4,
        "{} bytes, the limit is {MAX_MANIFEST_BYTES}",
        bytes.len()
    );
    manifest.use_limits = Value::String("u".repeat(grow + 4));
    assert!(sign_manifest(&manifest, &key).is_err(), "over the limit");
    let payload = custos_seal::Envelope::from_json(&bytes)
        .expect("an envelope")
        .payload;
    let package = custos_protocol::evidence::package_id(&payload);
    let answer = net.http_with(
        "POST",
        "FR",
        "/federation/v1/evidence".into(),
        vec![("custos-upload-auth", net.upload_auth("DE", "FR", &package))],
        bytes,
    );
    assert_eq!(code(&answer), (200, None), "{:?}", answer.json);
    assert_eq!(answer.json["package"], package.as_str());
}

#[test]
fn upload_calls_from_another_peer_are_refused() {
    let net = Network::start(&["DE", "FR", "IT"]);
    let id = request(&net, "FR", "DE");
    let pkg = net.forge(&Forge::new("DE", "FR", &id), &net.scratch("pkg"));
    let base = format!("/federation/v1/evidence/{}", pkg.hex);
    let by = |cc: &str| vec![("custos-upload-auth", net.upload_auth(cc, "FR", &pkg.id))];
    // IT, a peer in the directory with its real key, offers DE's manifest.
    let answer = net.http_with(
        "POST",
        "FR",
        "/federation/v1/evidence".into(),
        by("IT"),
        pkg.manifest.clone(),
    );
    assert_eq!(code(&answer), (403, Some("upload-unauthorized")));
    assert!(!incoming(&net, "FR", &pkg.hex).exists());
    let offer = net.http_with(
        "POST",
        "FR",
        "/federation/v1/evidence".into(),
        by("DE"),
        pkg.manifest.clone(),
    );
    assert_eq!(code(&offer), (200, None), "{:?}", offer.json);
    let segment = std::fs::read(pkg.dir.join("segments/000000.age")).expect("a segment");
    for headers in [by("IT"), Vec::new()] {
        let answers = [
            net.http_with("GET", "FR", base.clone(), headers.clone(), Vec::new()),
            net.http_with(
                "PUT",
                "FR",
                format!("{base}/segments/0"),
                headers.clone(),
                segment.clone(),
            ),
            net.http_with(
                "POST",
                "FR",
                format!("{base}/complete"),
                headers.clone(),
                Vec::new(),
            ),
        ];
        for a in &answers {
            assert_eq!(code(a), (403, Some("upload-unauthorized")), "{:?}", a.json);
        }
    }
    let segments = incoming(&net, "FR", &pkg.hex).join("segments");
    assert!(!segments.join("000000.age").exists(), "nothing was kept");
    let answers = net.upload_forged("DE", "FR", &pkg);
    assert!(answers.iter().all(|a| a.status == 200));
}

#[test]
fn files_with_255_byte_and_temporary_looking_names_open() {
    let net = Network::offline(&["DE", "FR"]);
    let source = net.scratch("names");
    std::fs::create_dir_all(&source).expect("a folder");
    let long = format!("{}.txt", "n".repeat(251));
    assert_eq!(long.len(), 255);
    let files = [
        (long.as_str(), b"a long name\n".to_vec()),
        ("x", b"x itself\n".to_vec()),
        (".x.custos-part", b"named like a temporary file\n".to_vec()),
    ];
    for (name, bytes) in &files {
        std::fs::write(source.join(name), bytes).expect("a file");
    }
    let request = net.save_request("DE", &draft(RequestKind::Preservation, "DE", "FR"));
    let pkg = net.scratch("names-pkg");
    let mut args = vec![
        "evidence".to_string(),
        "seal".into(),
        "--request".into(),
        request,
        "--to".into(),
        "FR".into(),
        "--out".into(),
        pkg.display().to_string(),
        "--data".into(),
        net.dir("DE").display().to_string(),
    ];
    args.extend(
        files
            .iter()
            .map(|(n, _)| source.join(n).display().to_string()),
    );
    net.run_ok(&args);
    let out = net.scratch("names-open");
    let (ok, text) = check_package(&net, "FR", "open", &pkg, &out);
    assert!(ok, "{text}");
    for (name, bytes) in &files {
        assert_eq!(
            std::fs::read(out.join(name)).ok().as_ref(),
            Some(bytes),
            "{name}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(&out)
        .expect("the output folder")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        left.len(),
        files.len(),
        "no temporary file is left: {left:?}"
    );
}

#[test]
fn a_manifest_dated_2099_is_refused() {
    let net = Network::start(&["DE", "FR"]);
    let id = request(&net, "FR", "DE");
    let mut forge = Forge::new("DE", "FR", &id);
    forge.created_at = time::macros::datetime!(2099-01-01 00:00 UTC);
    let pkg = net.forge(&forge, &net.scratch("future"));
    let answers = net.upload_forged("DE", "FR", &pkg);
    assert_eq!(
        code(&answers[0]),
        (400, Some("from-the-future")),
        "{:?}",
        answers[0].json
    );
    assert!(!incoming(&net, "FR", &pkg.hex).exists());
}

/// A tmpfs mounted for the length of a test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).expect("a mount point");
        let done = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output();
        match done {
            Ok(o) if o.status.success() => Some(Tmpfs(at.to_owned())),
            Ok(o) => {
                custos_testkit::skipped(
                    &custos_testkit::current_test(),
                    &format!(
                        "cannot mount a tmpfs (needs root): {}",
                        String::from_utf8_lossy(&o.stderr).trim()
                    ),
                );
                None
            }
            Err(e) => {
                custos_testkit::skipped(
                    &custos_testkit::current_test(),
                    &format!("cannot run mount: {e}"),
                );
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).output();
    }
}

/// Appends `text` to the node's configuration file.
fn configure(net: &Network, cc: &str, text: &str) {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(net.dir(cc).join("custos.toml"))
        .expect("the configuration file opens");
    writeln!(f, "\n{text}").expect("the configuration is written");
}

#[test]
fn two_offers_at_once_cannot_overcommit_the_disk() {
    let mut net = Network::start(&["DE", "FR"]);
    net.stop("FR");
    // FR's evidence folder is a 20 MiB file system of its own; keeping 8 MiB
    // free leaves room for one 7 MiB package, not two.
    let Some(_fs) = Tmpfs::mount(&net.dir("FR").join("evidence"), "20m") else {
        return;
    };
    configure(&net, "FR", "[evidence]\nreserve_bytes = 8388608");
    net.start_node("FR");
    let id = request(&net, "FR", "DE");
    let packages: Vec<_> = (0..2)
        .map(|i| {
            let mut forge = Forge::new("DE", "FR", &id);
            forge.files = vec![ForgedFile::new("disk.dd", noise(6 << 20, i))];
            net.forge(&forge, &net.scratch(&format!("big-{i}")))
        })
        .collect();
    let answers = net.http_all(
        packages
            .iter()
            .map(|p| {
                (
                    "POST",
                    "FR",
                    "/federation/v1/evidence".to_string(),
                    vec![("custos-upload-auth", net.upload_auth("DE", "FR", &p.id))],
                    p.manifest.clone(),
                )
            })
            .collect(),
    );
    let codes: Vec<_> = answers.iter().map(code).collect();
    assert_eq!(
        codes.iter().filter(|c| c.0 == 200).count(),
        1,
        "one offer fits: {codes:?}"
    );
    assert!(
        codes.contains(&(507, Some("insufficient-storage"))),
        "the other is refused: {codes:?}"
    );
    // The one that fits uploads completely.
    let winner = &packages[if answers[0].status == 200 { 0 } else { 1 }];
    let all = net.upload_forged("DE", "FR", winner);
    assert!(
        all.iter().all(|a| a.status == 200),
        "{:?}",
        all.iter().map(|a| &a.json).collect::<Vec<_>>()
    );
}

#[test]
fn a_partial_upload_expires_and_its_removal_is_recorded() {
    let mut net = Network::start(&["DE", "FR"]);
    net.stop("FR");
    configure(&net, "FR", "[evidence]\npartial_expiry_secs = 2");
    net.start_node("FR");
    let id = request(&net, "FR", "DE");
    let mut forge = Forge::new("DE", "FR", &id);
    forge.files = vec![ForgedFile::new("disk.dd", noise(3 << 20, 7))];
    let pkg = net.forge(&forge, &net.scratch("partial"));
    let auth = || vec![("custos-upload-auth", net.upload_auth("DE", "FR", &pkg.id))];
    let offer = net.http_with(
        "POST",
        "FR",
        "/federation/v1/evidence".into(),
        auth(),
        pkg.manifest.clone(),
    );
    assert_eq!(code(&offer), (200, None), "{:?}", offer.json);
    let first = std::fs::read(pkg.dir.join("segments/000000.age")).expect("a segment");
    let put = net.http_with(
        "PUT",
        "FR",
        format!("/federation/v1/evidence/{}/segments/0", pkg.hex),
        auth(),
        first,
    );
    assert_eq!(put.status, 200, "{:?}", put.json);
    assert!(incoming(&net, "FR", &pkg.hex).exists());
    wait_until(DEADLINE, "the partial upload is removed", || {
        !incoming(&net, "FR", &pkg.hex).exists()
    });
    wait_until(DEADLINE, "the removal is in the custody ledger", || {
        !entries_about(&net, "FR", "evidence-expired", &pkg.id).is_empty()
    });
    let entry = &entries_about(&net, "FR", "evidence-expired", &pkg.id)[0];
    assert_eq!(entry["request"], id.as_str());
    assert_eq!(entry["detail"]["from"], "DE");
    assert!(
        entry["detail"]["bytes_removed"].as_u64() > Some(0),
        "{entry}"
    );
    assert!(
        net.log("FR").contains("removed a partial evidence upload"),
        "the removal is logged"
    );
    let status = net.http_with(
        "GET",
        "FR",
        format!("/federation/v1/evidence/{}", pkg.hex),
        auth(),
        Vec::new(),
    );
    assert_eq!(code(&status), (404, Some("unknown-package")));
}
