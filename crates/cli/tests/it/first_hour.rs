//! A newcomer's first hour with the binary: exit statuses that tell a
//! failure from a mistyped command line, errors that name the next step,
//! listings that say when they are empty, the data folder taken from
//! `CUSTOS_DATA`, State codes in any case, templates written as the file's
//! name asks and the invented example not sent unasked, the outbox and the
//! request list readable, a peer that is down said plainly, an evidence send
//! that retries for the whole window it was given, the demo's closing words,
//! and the README's three-node walk run twice in a row.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use custos_model::RequestKind;
use serde_json::{Value, json};

use crate::common::{Network, draft, wait_until};

const DEADLINE: Duration = Duration::from_secs(60);

/// `custos args` with no `CUSTOS_*` variable of the test's environment.
fn custos(args: &[&str]) -> Output {
    custos_with(args, &[])
}

/// `custos args` with the variables `env` set (and no others of Custos).
fn custos_with(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_custos"));
    cmd.args(args).stdin(Stdio::null());
    for var in ["CUSTOS_DATA", "CUSTOS_DATABASE_URL", "CUSTOS_HTTP_LISTEN"] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the binary runs");
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `hint:` line a failure ends with.
fn hint(o: &Output) -> String {
    let err = stderr(o);
    err.lines()
        .rev()
        .find_map(|l| l.strip_prefix("hint: "))
        .unwrap_or_else(|| panic!("no hint line in:\n{err}"))
        .to_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// A node made by `custos init` in `dir`, its State code given in lower case.
fn init(dir: &Path, state: &str) {
    let o = custos(&[
        "init",
        "--data",
        p(dir),
        "--state",
        state,
        "--name",
        "a sample node",
        "--no-admin",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A draft of `kind` from `from` to `to` whose reference is its own, not
/// the template's sample marker.
fn own_draft(kind: RequestKind, from: &str, to: &str) -> Value {
    let mut d = draft(kind, from, to);
    d["reference"] = json!("FH-2026-0001");
    d
}

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).expect("JSON")).expect("a draft file");
}

#[test]
fn runtime_errors_exit_1_and_usage_errors_2() {
    let empty = tempfile::tempdir().expect("a folder");
    // A command that runs and fails: 1, with its error and a next step.
    let o = custos(&["request", "list", "--data", p(empty.path())]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));
    assert!(!hint(&o).is_empty());
    // A command line that does not parse: clap's 2.
    for args in [
        &["request", "list", "--no-such-option"][..],
        &[
            "init",
            "--data",
            p(empty.path()),
            "--state",
            "France",
            "--name",
            "x",
        ],
        &[
            "outbox",
            "list",
            "--data",
            p(empty.path()),
            "--status",
            "lost",
        ],
        &["no-such-command"],
    ] {
        let o = custos(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn a_fresh_node_says_its_listings_are_empty_and_takes_its_folder_from_custos_data() {
    let tmp = tempfile::tempdir().expect("a folder");
    let node = tmp.path().join("fr");
    init(&node, "fr");
    let config = std::fs::read_to_string(node.join("custos.toml")).expect("custos.toml");
    assert!(config.contains("state = \"FR\""), "{config}");

    // Every command taking --data takes the folder from CUSTOS_DATA.
    let env = [("CUSTOS_DATA", node.as_path())];
    for (args, says) in [
        (&["refusals"][..], "No refusals"),
        (&["token", "list"], "No tokens."),
        (&["outbox", "list"], "The outbox is empty"),
        (&["request", "list"], "No requests."),
        (&["request", "list", "--with", "de"], "No requests."),
        (&["case", "list", "--counterpart", "de"], ""),
        (&["keys", "show"], "Signing keys"),
    ] {
        let o = custos_with(args, &env);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).contains(says), "{args:?}: {}", stdout(&o));
    }
    // --data wins over the variable.
    let elsewhere = tmp.path().join("nothing-here");
    let o = custos_with(
        &["request", "list", "--data", p(&elsewhere)],
        &[("CUSTOS_DATA", node.as_path())],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
}

#[test]
fn templates_are_written_as_the_name_asks_and_the_sample_is_not_sent_unasked() {
    let net = Network::start(&["FR", "DE"]);
    let fr = net.dir("FR");
    let commented = net.scratch("p.jsonc");
    let plain = net.scratch("p.json");
    for file in [&commented, &plain] {
        net.run_ok(&["request", "template", "preservation", "--out", p(file)]);
    }
    let commented_text = std::fs::read_to_string(&commented).expect("the .jsonc file");
    assert!(commented_text.starts_with("// Draft request: preservation"));
    assert!(serde_json::from_str::<Value>(&commented_text).is_err());
    let plain_text = std::fs::read_to_string(&plain).expect("the .json file");
    let parsed: Value = serde_json::from_str(&plain_text).expect("plain JSON, no comments");
    assert_eq!(
        parsed,
        custos_model::validate::parse(&commented_text).expect("the commented draft parses")
    );

    // The invented example is refused, nothing sent, with the way out named.
    for file in [&commented, &plain] {
        let o = net.run(&["request", "send", p(file), "--data", p(&fr)]);
        assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
        assert!(stderr(&o).contains("sample reference"), "{}", stderr(&o));
        assert!(stderr(&o).contains("nothing was sent"), "{}", stderr(&o));
        assert!(hint(&o).contains("--allow-sample"), "{}", stderr(&o));
    }
    assert!(net.requests("FR").is_empty());
    // Asked for, it goes (and the State code may be lower case).
    let o = net.run(&[
        "request",
        "send",
        p(&plain),
        "--data",
        p(&fr),
        "--to",
        "de",
        "--allow-sample",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A draft of one's own needs no flag.
    let own = net.scratch("own.json");
    write_json(&own, &own_draft(RequestKind::Mla, "FR", "DE"));
    let o = net.run(&["request", "send", p(&own), "--data", p(&fr)]);
    assert!(o.status.success(), "{}", stderr(&o));

    // The request list: aligned columns with urgency, status and time.
    let list = net.run_ok(&["request", "list", "--data", p(&fr)]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    let header = lines[0];
    for column in [
        "ID",
        "WAY",
        "WITH",
        "KIND",
        "URGENCY",
        "STATUS",
        "CREATED (UTC)",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let at = |line: &str, word: &str| {
        line.find(word)
            .unwrap_or_else(|| panic!("{word} in {line}"))
    };
    let preservation = lines
        .iter()
        .find(|l| l.contains("preservation"))
        .expect("a row");
    let mla = lines.iter().find(|l| l.contains(" mla ")).expect("a row");
    assert_eq!(
        at(header, "KIND"),
        at(preservation, "preservation"),
        "{list}"
    );
    assert_eq!(at(header, "KIND"), at(mla, "mla"), "{list}");
    assert_eq!(at(header, "URGENCY"), at(preservation, "urgent"), "{list}");
    assert_eq!(at(header, "URGENCY"), at(mla, "routine"), "{list}");
    assert_eq!(at(header, "STATUS"), at(mla, "submitted"), "{list}");
    let created = &preservation[at(header, "CREATED")..];
    assert!(
        created.len() == 19 && created.as_bytes()[13] == b':' && created.as_bytes()[16] == b':',
        "date and time: {created:?}"
    );

    // The outbox: a delivered message shows its attempt and no next one.
    wait_until(DEADLINE, "both requests are delivered", || {
        net.outbox("FR")
            .iter()
            .filter(|r| r.state == "delivered")
            .count()
            == 2
    });
    let outbox = net.run_ok(&["outbox", "list", "--data", p(&fr), "--status", "delivered"]);
    assert_eq!(outbox.lines().count(), 2, "{outbox}");
    for line in outbox.lines() {
        assert!(line.contains("attempts 1 "), "{line}");
        assert!(line.contains("delivered 20"), "{line}");
        assert!(!line.contains("next"), "{line}");
    }
    let alias = net.run_ok(&["outbox", "list", "--data", p(&fr), "--state", "delivered"]);
    assert_eq!(alias, outbox);
    let pending = net.run_ok(&["outbox", "list", "--data", p(&fr), "--status", "pending"]);
    assert!(pending.starts_with("The outbox is empty"), "{pending}");

    // Witnessing: lines to read, JSON when asked.
    let lines = net.run_ok(&["ledger", "witness", "--data", p(&fr)]);
    assert!(lines.contains("DE: "), "{lines}");
    assert!(!lines.contains('{'), "{lines}");
    let listed: Value =
        serde_json::from_str(&net.run_ok(&["ledger", "witness", "--data", p(&fr), "--json"]))
            .expect("JSON");
    assert_eq!(listed[0]["witness"], "DE", "{listed}");
}

#[test]
fn a_request_to_a_state_missing_from_the_directory_says_nothing_was_sent_and_what_to_do() {
    let net = Network::start(&["FR", "DE"]);
    let file = net.scratch("to-italy.json");
    write_json(&file, &own_draft(RequestKind::Preservation, "FR", "IT"));
    let o = net.run(&["request", "send", p(&file), "--data", p(&net.dir("FR"))]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("IT has no entry in the directory"),
        "{}",
        stderr(&o)
    );
    let next = hint(&o);
    assert!(next.starts_with("nothing was sent"), "{next}");
    assert!(next.contains("custos directory show"), "{next}");
    assert!(next.contains("custos directory import"), "{next}");
    assert!(net.requests("FR").iter().all(|r| r["counterpart"] != "IT"));
}

#[test]
fn sending_while_the_peer_is_down_says_connection_refused_once_and_that_the_message_waits() {
    let mut net = Network::start(&["FR", "DE"]);
    let de_url = net.url("DE");
    net.stop("DE");
    // No `custos serve` of France's either: the command's own attempt is the only one.
    net.stop("FR");
    let file = net.scratch("draft.json");
    write_json(&file, &own_draft(RequestKind::Preservation, "FR", "DE"));
    let o = net.run(&["request", "send", p(&file), "--data", p(&net.dir("FR"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.matches("connection refused").count(), 1, "{out}");
    assert!(out.matches(de_url.as_str()).count() <= 1, "{out}");
    assert!(!out.contains("error sending request"), "{out}");
    assert!(out.contains("stays in the outbox"), "{out}");
    assert!(out.contains("`custos serve` delivers it"), "{out}");
    assert!(!out.contains("keeps retrying"), "{out}");

    let outbox = net.run_ok(&["outbox", "list", "--data", p(&net.dir("FR"))]);
    assert!(outbox.contains("attempts 1 "), "{outbox}");
    assert!(
        outbox.contains(&format!("cannot reach {de_url}")),
        "{outbox}"
    );
    assert!(outbox.contains(": connection refused"), "{outbox}");
}

#[test]
fn a_port_in_use_names_the_address_and_how_to_choose_another() {
    let tmp = tempfile::tempdir().expect("a folder");
    let node = tmp.path().join("fr");
    init(&node, "FR");
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = taken.local_addr().expect("its address").to_string();
    let o = custos(&["serve", "--data", p(&node), "--listen", &address]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("cannot listen on {address}")),
        "{}",
        stderr(&o)
    );
    let next = hint(&o);
    assert!(next.contains("--listen"), "{next}");
    assert!(next.contains("http.listen"), "{next}");
}

#[test]
fn directory_import_without_a_registry_key_names_the_option_that_gives_it() {
    let tmp = tempfile::tempdir().expect("a folder");
    let at = |name: &str| tmp.path().join(name);
    let registry = custos(&["registry", "keygen", "--out", p(&at("registry.key"))]);
    assert!(registry.status.success(), "{}", stderr(&registry));
    let registry = stdout(&registry).trim().to_owned();
    let fr = at("fr");
    let o = custos(&[
        "init",
        "--data",
        p(&fr),
        "--state",
        "FR",
        "--name",
        "France",
        "--no-admin",
        "--registry-key",
        &registry,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = custos(&[
        "directory",
        "entry",
        "--data",
        p(&fr),
        "--url",
        "http://127.0.0.1:7701",
        "--out",
        p(&at("fr.entry.json")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = custos(&[
        "directory",
        "sign",
        "--registry-key",
        p(&at("registry.key")),
        "--directory-version",
        "1",
        "--out",
        p(&at("directory.json")),
        p(&at("fr.entry.json")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    // A node made without the registry's key cannot verify the directory.
    let de = at("de");
    init(&de, "de");
    let o = custos(&[
        "directory",
        "import",
        p(&at("directory.json")),
        "--data",
        p(&de),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("no registry key"), "{}", stderr(&o));
    assert!(hint(&o).contains("--registry-key"), "{}", stderr(&o));
}

/// Seals `files` on DE's node in answer to `request`, for FR.
fn seal(net: &Network, request: &str, name: &str) -> PathBuf {
    let files = net.scratch(&format!("{name}-files"));
    std::fs::create_dir_all(&files).expect("a folder");
    std::fs::write(files.join("record.txt"), b"subscriber record (sample)\n").expect("a file");
    let out = net.scratch(name);
    net.run_ok(&[
        "evidence",
        "seal",
        p(&files),
        "--request",
        request,
        "--to",
        "fr",
        "--out",
        p(&out),
        "--data",
        p(&net.dir("DE")),
    ]);
    out
}

#[test]
fn evidence_is_not_opened_into_a_used_folder_and_a_send_retries_for_its_whole_window() {
    let mut net = Network::start(&["FR", "DE"]);
    let request = net
        .send("FR", &own_draft(RequestKind::StoredData, "FR", "DE"), &[])
        .id;
    wait_until(DEADLINE, "DE holds the request", || {
        net.requests("DE")
            .iter()
            .any(|r| r["id"] == request.as_str())
    });
    let package = seal(&net, &request, "first");
    net.run_ok(&["evidence", "send", p(&package), "--data", p(&net.dir("DE"))]);
    let fr = net.dir("FR");
    let listed: Value =
        serde_json::from_str(&net.run_ok(&["evidence", "list", "--data", p(&fr), "--json"]))
            .expect("JSON");
    let folder = listed[0]["folder"]
        .as_str()
        .expect("a received package")
        .to_owned();

    // An output folder in use: nothing opened, nothing written, a way out.
    let used = net.scratch("used");
    std::fs::create_dir_all(&used).expect("a folder");
    std::fs::write(used.join("mine.txt"), b"mine").expect("a file");
    let o = net.run(&[
        "evidence",
        "open",
        &folder,
        "--out",
        p(&used),
        "--data",
        p(&fr),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("cannot open into {}", used.display())),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!err.contains("evidence package"), "{err}");
    assert!(!stdout(&o).contains("everything matches"), "{}", stdout(&o));
    assert!(hint(&o).contains("empty folder"), "{err}");
    let kept: Vec<_> = std::fs::read_dir(&used).expect("the folder").collect();
    assert_eq!(kept.len(), 1);
    // The same into a new folder works.
    let fresh = net.scratch("fresh");
    net.run_ok(&[
        "evidence",
        "open",
        &folder,
        "--out",
        p(&fresh),
        "--data",
        p(&fr),
    ]);

    // France is down: the send retries for the five seconds it was given.
    net.stop("FR");
    let second = seal(&net, &request, "second");
    let started = Instant::now();
    let o = net.run(&[
        "evidence",
        "send",
        p(&second),
        "--data",
        p(&net.dir("DE")),
        "--retry-for",
        "5s",
    ]);
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(took >= Duration::from_secs(5), "gave up after {took:?}");
    assert!(took < Duration::from_secs(40), "took {took:?}");
    let err = stderr(&o);
    assert!(err.contains("gave up sending to FR after 5."), "{err}");
    assert!(err.contains("connection refused"), "{err}");
}

#[test]
fn the_demo_keeps_its_files_when_asked_and_ends_with_what_to_try_next() {
    let tmp = tempfile::tempdir().expect("a folder");
    let kept = tmp.path().join("kept");
    let o = custos(&["demo", "--keep", p(&kept)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("What to try next:"), "{text}");
    assert!(
        text.contains(&format!("kept in {}", kept.display())),
        "{text}"
    );
    assert!(kept.join("network").join("fr").join("custos.toml").exists());
    let o = custos(&[
        "request",
        "list",
        "--data",
        p(&kept.join("network").join("fr")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Witnesses in words, not JSON; every request named by its thread id.
    for line in text.lines().filter(|l| l.contains("witness")) {
        assert!(!line.contains('{'), "{line}");
    }
    for (i, _) in text.match_indices("request ") {
        let next = text[i + "request ".len()..]
            .split_whitespace()
            .next()
            .unwrap_or("");
        let looks_like_an_id = next.len() > 30 && next.contains('-');
        assert!(
            !looks_like_an_id || next.starts_with("thr-"),
            "{next:?} in:\n{text}"
        );
    }
}

/// The README's shell block that starts with `first_line`.
fn readme_block(first_line: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("the README reads");
    readme
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap_or_default())
        .find(|b| b.starts_with(first_line))
        .unwrap_or_else(|| panic!("the README has a block starting {first_line:?}"))
        .to_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `bash -c script` in `dir` with the `custos` binary first on `PATH`.
fn bash(script: &str, dir: &Path) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_custos"))
        .parent()
        .expect("a folder");
    let mut paths = vec![bin.to_owned()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("PATH", std::env::join_paths(paths).expect("a PATH"))
        .stdin(Stdio::null());
    for var in ["CUSTOS_DATA", "CUSTOS_DATABASE_URL", "CUSTOS_HTTP_LISTEN"] {
        cmd.env_remove(var);
    }
    cmd.output().expect("bash runs")
}

#[test]
fn the_readmes_three_node_walk_runs_twice_in_a_row() {
    let first_line = "# A scratch folder, emptied first";
    let block = readme_block(first_line);
    let tmp = tempfile::tempdir().expect("a folder");
    let scratch = tmp.path().join("custos-net");
    // Where the walk is started from: it must write nothing here.
    let start = tmp.path().join("repository");
    std::fs::create_dir_all(&start).expect("a folder");
    // Free ports instead of the README's, and a smaller evidence file.
    let mut script = block.replace("/tmp/custos-net", p(&scratch));
    for port in ["7701", "7702", "7703"] {
        script = script.replace(
            &format!("127.0.0.1:{port}"),
            &format!("127.0.0.1:{}", free_port()),
        );
    }
    script = script.replace("head -c 50M", "head -c 2M");
    assert!(
        std::process::Command::new("jq")
            .arg("--version")
            .output()
            .is_ok(),
        "the walk uses jq, as the README says"
    );
    let twice = format!("set -e\n{script}\necho FIRST-RUN-DONE\n{script}\necho SECOND-RUN-DONE\n");
    let o = bash(&twice, &start);
    let out = stdout(&o);
    let err = stderr(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("FIRST-RUN-DONE") && out.contains("SECOND-RUN-DONE"),
        "{out}"
    );
    assert!(out.matches("delivered").count() >= 4, "{out}");
    assert_eq!(std::fs::read_dir(&start).expect("the folder").count(), 0);
    // The servers' logs are in their files, each start logged once, and
    // none of it on the walk's own output.
    for n in ["fr", "de", "nl"] {
        let log = std::fs::read_to_string(scratch.join(format!("{n}.log"))).expect("a log");
        assert_eq!(log.matches("serving on").count(), 1, "{log}");
    }
    assert!(
        !out.contains("serving on") && !err.contains("serving on"),
        "{out}\n{err}"
    );

    // A scratch folder that cannot be made or entered stops the walk before
    // it writes anything where it was started.
    let blocked = tmp.path().join("a-file");
    std::fs::write(&blocked, b"").expect("a file");
    let first = block
        .lines()
        .find(|l| l.starts_with("rm -rf"))
        .expect("the scratch line");
    let script = format!(
        "{}\ntouch left-behind\n",
        first.replace("/tmp/custos-net", p(&blocked.join("custos-net")))
    );
    let o = bash(&script, &start);
    assert!(!o.status.success());
    assert!(!start.join("left-behind").exists());
}

/// The Convention's vocabulary reaches the command line from the message
/// catalogues the desk translates: the names `request template` lists are
/// the English catalogue's, entry by entry.
#[test]
fn the_kinds_and_decisions_listed_read_as_the_catalogue_names_them() {
    let out = custos(&["request", "template"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = stdout(&out);
    let catalogue = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../desk/locales/en/vocabulary.ftl"),
    )
    .expect("the English vocabulary catalogue");
    let name = |key: &str| -> String {
        catalogue
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(" = "))
            .unwrap_or_else(|| panic!("{key} is not in the catalogue"))
            .to_owned()
    };
    for kind in RequestKind::ALL {
        let line = listed
            .lines()
            .find(|l| l.split_whitespace().next() == Some(kind.as_str()))
            .unwrap_or_else(|| panic!("{} is not listed:\n{listed}", kind.as_str()));
        let want = name(&format!("kind-{}", kind.as_str()));
        assert!(line.ends_with(&want), "{line:?} does not end with {want:?}");
    }
    for decision in custos_model::Decision::ALL {
        let want = name(&format!("action-{}", decision.as_str()));
        assert!(
            listed.lines().any(|l| {
                l.split_whitespace().next() == Some(decision.as_str()) && l.ends_with(&want)
            }),
            "{} is not listed as {want:?}:\n{listed}",
            decision.as_str()
        );
    }
}
