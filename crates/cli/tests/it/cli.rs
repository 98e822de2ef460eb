//! End-to-end tests of the `custos` binary: real processes, real files, real SQLite.

use std::path::Path;
use std::process::{Command, Output};

use custos_model::RequestKind;
use serde_json::Value;

fn custos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(args)
        .env_remove("CUSTOS_DATABASE_URL")
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_no_panic(o: &Output) {
    let err = stderr(o);
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "the binary panicked: {err}"
    );
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("test file written");
    p.display().to_string()
}

#[test]
fn every_command_has_help() {
    let commands: &[&[&str]] = &[
        &[],
        &["init"],
        &["request"],
        &["request", "template"],
        &["request", "validate"],
        &["request", "save"],
        &["request", "list"],
        &["request", "show"],
        &["treaty"],
        &["treaty", "template"],
        &["treaty", "status"],
        &["config"],
        &["config", "example"],
        &["config", "check"],
        &["demo"],
        &["keys", "show"],
        &["keys", "rotate"],
        &["keys", "revoke"],
        &["registry", "keygen"],
        &["directory", "entry"],
        &["directory", "sign"],
        &["directory", "verify"],
        &["directory", "import"],
        &["directory", "show"],
        &["serve"],
        &["request", "send"],
        &["outbox", "list"],
        &["outbox", "deliver"],
        &["refusals"],
        &["token", "create"],
        &["token", "list"],
        &["token", "revoke"],
        &["user", "add"],
        &["user", "list"],
        &["user", "disable"],
        &["user", "enable"],
        &["user", "roles"],
        &["user", "reset-second-factor"],
    ];
    for c in commands {
        let mut args = c.to_vec();
        args.push("--help");
        let o = custos(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn template_lists_every_kind_and_each_template_validates() {
    let listing = stdout(&custos(&["request", "template"]));
    let dir = tempfile::tempdir().unwrap();
    for kind in RequestKind::ALL {
        assert!(listing.contains(kind.as_str()), "{kind} not listed");
        let o = custos(&["request", "template", kind.as_str()]);
        assert!(o.status.success());
        let file = write(dir.path(), &format!("{kind}.json"), &stdout(&o));
        let v = custos(&["request", "validate", &file]);
        assert!(v.status.success(), "{kind}: {}", stdout(&v));
        assert!(stdout(&v).contains("valid"), "{}", stdout(&v));
    }
    let unknown = custos(&["request", "template", "preserve"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("preserve"));
}

#[test]
fn template_lists_every_decision_and_each_validates_as_printed() {
    let listing = stdout(&custos(&["request", "template"]));
    assert!(listing.contains("Decisions"), "{listing}");
    let dir = tempfile::tempdir().unwrap();
    for decision in custos_model::Decision::ALL {
        assert!(listing.contains(decision.as_str()), "{decision} not listed");
        let o = custos(&["request", "template", decision.as_str()]);
        assert!(o.status.success(), "{decision}: {}", stderr(&o));
        let file = write(dir.path(), &format!("{decision}.jsonc"), &stdout(&o));
        let v = custos(&["request", "validate", &file, "--json"]);
        assert!(v.status.success(), "{decision}: {}", stdout(&v));
        let report: serde_json::Value = serde_json::from_str(&stdout(&v)).unwrap();
        assert_eq!(report["valid"], true);
        assert_eq!(report["decision"], decision.as_str());
        assert_eq!(report["issues"], serde_json::json!([]), "{decision}");
    }
}

#[test]
fn a_fiscal_only_or_groundless_refusal_draft_does_not_validate() {
    let dir = tempfile::tempdir().unwrap();
    let template = stdout(&custos(&["request", "template", "refuse"]));
    let mut draft = custos_model::validate::parse(&template).unwrap();
    draft["refusal"]["grounds"] = serde_json::json!(["fiscal"]);
    let file = write(dir.path(), "fiscal.json", &draft.to_string());
    let o = custos(&["request", "validate", &file]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("error excluded-grounds-only refusal.grounds [Art. 40]"),
        "{out}"
    );
    assert!(out.contains("NOT valid: 1 error(s)"), "{out}");

    draft["refusal"].as_object_mut().unwrap().remove("grounds");
    draft["refusal"]["reasons"] = "".into();
    draft["note"] = 7.into();
    let file = write(dir.path(), "groundless.json", &draft.to_string());
    let o = custos(&["request", "validate", &file, "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let found: Vec<(String, String, String)> = report["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["code"].as_str().unwrap().to_owned(),
                i["path"].as_str().unwrap().to_owned(),
                i["article"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    let want = |c: &str, p: &str, a: &str| (c.to_owned(), p.to_owned(), a.to_owned());
    assert_eq!(
        found,
        [
            want("wrong-type", "note", "-"),
            want("missing-required", "refusal.grounds", "Art. 40"),
            want("missing-required", "refusal.reasons", "Art. 40"),
        ],
        "{report}"
    );
    assert_eq!(report["decision"], "refuse");
}

#[test]
fn a_draft_missing_items_fails_with_one_line_per_item() {
    let dir = tempfile::tempdir().unwrap();
    let template = stdout(&custos(&["request", "template", "preservation"]));
    let mut draft = custos_model::validate::parse(&template).unwrap();
    let obj = draft.as_object_mut().unwrap();
    obj.remove("facts");
    obj.remove("necessity");
    obj.insert("preservation_days".into(), 30.into());
    obj.insert("facs".into(), "typo".into());
    let file = write(
        dir.path(),
        "bad.json",
        &serde_json::to_string_pretty(&draft).unwrap(),
    );

    let o = custos(&["request", "validate", &file]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("error missing-required facts [Art. 42]"),
        "{out}"
    );
    assert!(
        out.contains("error missing-required necessity [Art. 42]"),
        "{out}"
    );
    // Asking for less than the 60 days is a warning: the minimum binds the
    // preservation the requested State carries out.
    assert!(
        out.contains("warning preservation-too-short preservation_days [Art. 42]"),
        "{out}"
    );
    assert!(
        out.contains("error unknown-field facs") && out.contains("did you mean \"facts\""),
        "{out}"
    );
    assert!(out.contains("NOT valid: 3 error(s)"), "{out}");

    let o = custos(&["request", "validate", "--json", &file]);
    assert_eq!(o.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"], 3);
    assert_eq!(report["kind"], "preservation");
    let codes: Vec<&str> = report["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"missing-required") && codes.contains(&"unknown-field"),
        "{codes:?}"
    );
}

#[test]
fn malformed_inputs_get_clear_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json").display().to_string();
    let o = custos(&["request", "validate", &missing]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nope.json"), "{}", stderr(&o));
    assert_no_panic(&o);

    let cases = [
        (
            "truncated.json",
            "{ \"format\": \"custos-draft/1\",\n  \"kind\": ",
        ),
        ("array.json", "[1,2,3]"),
        ("number.json", "42"),
        (
            "wrong-types.json",
            r#"{"format":"custos-draft/1","kind":"mla","requesting_state":7,"offences":"theft","data":[],"persons":[1]}"#,
        ),
        ("deep.json", &("[".repeat(5000) + &"]".repeat(5000))),
        ("binary.json", "\u{0}\u{1}\u{2}\u{fffd}"),
        (
            "dates.json",
            r#"{"format":"custos-draft/1","kind":"mla","deadline":{"date":"2026-02-30","reasons":"x"}}"#,
        ),
    ];
    for (name, text) in cases {
        let file = write(dir.path(), name, text);
        let o = custos(&["request", "validate", &file]);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{name}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert_no_panic(&o);
        assert!(
            stdout(&o).contains(name),
            "{name}: the report names the file"
        );
    }
    let file = write(
        dir.path(),
        "t.json",
        "{ \"format\": \"custos-draft/1\",\n  \"kind\": ",
    );
    assert!(stdout(&custos(&["request", "validate", &file])).contains("line 2"));
}

#[test]
fn init_creates_a_node_once() {
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("node");
    let n = node.display().to_string();
    let o = custos(&[
        "init",
        "--data",
        &n,
        "--state",
        "FR",
        "--name",
        "France test node",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(node.join("custos.toml").is_file());
    assert!(node.join("custos.db").is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(node.join("keys"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    let again = custos(&["init", "--data", &n, "--state", "FR", "--name", "again"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already holds a node"),
        "{}",
        stderr(&again)
    );

    let bad_state = custos(&[
        "init",
        "--data",
        &format!("{n}2"),
        "--state",
        "France",
        "--name",
        "x",
    ]);
    assert_eq!(bad_state.status.code(), Some(2));
    let unknown_state = custos(&[
        "init",
        "--data",
        &format!("{n}3"),
        "--state",
        "XX",
        "--name",
        "x",
    ]);
    assert_eq!(unknown_state.status.code(), Some(1));
    assert!(
        stderr(&unknown_state).contains("node.state"),
        "{}",
        stderr(&unknown_state)
    );
    assert!(!dir.path().join("node3").join("custos.toml").exists());

    let check = custos(&["config", "check", "--data", &n]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(stdout(&check).contains("node.state    = FR"));
}

#[test]
fn a_broken_config_names_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let n = dir.path().display().to_string();
    write(
        dir.path(),
        "custos.toml",
        "[node]\nstate = \"FR\"\nname = \"x\"\n\n[http]\nlisten = 7700\n",
    );
    let o = custos(&["config", "check", "--data", &n]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("custos.toml") && err.contains("listen"),
        "{err}"
    );
    assert_no_panic(&o);

    let empty = tempfile::tempdir().unwrap();
    let o = custos(&[
        "request",
        "list",
        "--data",
        &empty.path().display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("custos init"), "{}", stderr(&o));
}

/// A French node made by `custos init` in `dir`, and the preservation
/// template written beside it: the node's folder and the draft's path.
fn french_node_with_preservation_draft(dir: &Path) -> (String, String) {
    let n = dir.join("node").display().to_string();
    assert!(
        custos(&["init", "--data", &n, "--state", "FR", "--name", "France"])
            .status
            .success()
    );
    let draft = write(
        dir,
        "p.json",
        &stdout(&custos(&["request", "template", "preservation"])),
    );
    (n, draft)
}

#[test]
fn saved_requests_are_listed_and_shown_with_their_history() {
    let dir = tempfile::tempdir().unwrap();
    let (n, draft) = french_node_with_preservation_draft(dir.path());
    let o = custos(&["request", "save", &draft, "--data", &n]);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_owned();

    let broken = write(
        dir.path(),
        "b.json",
        "{\"format\":\"custos-draft/1\",\"kind\":\"mla\"}",
    );
    let o = custos(&["request", "save", &broken, "--data", &n]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nothing was recorded"));

    let mla = stdout(&custos(&["request", "template", "mla"])).replace(
        "\"requesting_state\": \"FR\"",
        "\"requesting_state\": \"IT\"",
    );
    let foreign = write(dir.path(), "it.json", &mla);
    let o = custos(&["request", "save", &foreign, "--data", &n]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("this node speaks for FR"),
        "{}",
        stderr(&o)
    );

    let list: Value = serde_json::from_str(&stdout(&custos(&[
        "request", "list", "--data", &n, "--json",
    ])))
    .unwrap();
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], id.as_str());
    assert_eq!(rows[0]["kind"], "preservation");
    assert_eq!(rows[0]["counterpart"], "DE");

    let show: Value = serde_json::from_str(&stdout(&custos(&[
        "request", "show", &id, "--data", &n, "--json",
    ])))
    .unwrap();
    assert_eq!(show["history"][0]["kind"], "drafted");
    assert_eq!(
        show["draft"]["facts"].as_str().map(|s| !s.is_empty()),
        Some(true)
    );

    let o = custos(&["request", "show", "no-such-id", "--data", &n]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no-such-id"));
}

/// Runs `custos` as the operator `name`.
fn custos_as(name: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(args)
        .env_remove("CUSTOS_DATABASE_URL")
        .env("CUSTOS_OPERATOR", name)
        .output()
        .expect("the binary runs")
}

#[test]
fn every_action_is_recorded_under_the_operators_name_and_an_unusable_name_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (n, draft) = french_node_with_preservation_draft(dir.path());

    let o = custos_as(
        "Ana María Pérez",
        &["request", "save", &draft, "--data", &n],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_owned();
    let o = custos_as("Bo Lind", &["request", "save", &draft, "--data", &n]);
    assert!(o.status.success(), "{}", stderr(&o));
    let other = stdout(&o).trim().to_owned();
    for (id, who) in [(&id, "cli:Ana María Pérez"), (&other, "cli:Bo Lind")] {
        let show: Value = serde_json::from_str(&stdout(&custos(&[
            "request", "show", id, "--data", &n, "--json",
        ])))
        .unwrap();
        assert_eq!(show["history"][0]["kind"], "drafted", "{show}");
        assert_eq!(show["history"][0]["actor"], who, "{show}");
    }

    for bad in ["", " ", "ana\u{1b}[2J"] {
        let o = custos_as(bad, &["request", "save", &draft, "--data", &n]);
        assert_eq!(o.status.code(), Some(1), "{bad:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("CUSTOS_OPERATOR"), "{}", stderr(&o));
        assert_no_panic(&o);
    }
    let list: Value = serde_json::from_str(&stdout(&custos(&[
        "request", "list", "--data", &n, "--json",
    ])))
    .unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
}

#[test]
fn the_demo_runs_and_cleans_up() {
    let o = custos(&["demo", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(summary["valid_draft"]["valid"], true);
    assert_eq!(summary["incomplete_draft"]["valid"], false);
    assert_eq!(summary["recorded_request"]["requests_in_node"], 1);
    let dir = summary["node"]["dir"].as_str().unwrap();
    assert!(!Path::new(dir).exists(), "the demo left {dir} behind");

    let demo_root = Path::new(dir).parent().unwrap().display().to_string();
    assert!(
        processes_mentioning(&demo_root).is_empty(),
        "the demo left node processes running"
    );

    let network = &summary["network"];
    assert_eq!(network["timeline"].as_array().map(Vec::len), Some(5));
    let evidence = &network["evidence"];
    assert_eq!(evidence["from"], "DE");
    assert_eq!(evidence["to"], "FR");
    assert_eq!(evidence["files"], 3);
    assert!(evidence["segments"].as_u64().unwrap() > 1, "{evidence}");
    assert_eq!(evidence["verified"], true, "{evidence}");
    assert_eq!(evidence["opened_files"], 3, "{evidence}");
    assert_eq!(
        evidence["request"], network["timeline"][2]["request"],
        "the package answers the MLA request"
    );
    the_demo_cases_reach_their_states_alike_on_both_nodes(network);
    // Three requests, seven steps of the first case, the second request
    // and four steps of its case: fifteen messages, each held by both nodes.
    assert_eq!(network["verification"]["signatures_checked"], 30);
    assert_eq!(network["verification"]["receipts_checked"], 30);
    assert_eq!(network["verification"]["problems"], serde_json::json!([]));
    let witnessing = network["witnessing"].as_array().unwrap();
    assert_eq!(
        witnessing.len(),
        6,
        "each of three nodes asks the two others"
    );
    assert!(
        witnessing
            .iter()
            .all(|w| w["outcome"]["cosigned"].is_object()),
        "{witnessing:?}"
    );
    assert_eq!(network["ledgers"].as_array().map(Vec::len), Some(3));
    assert_eq!(network["proof_bundle"]["verified"], true);
    assert_eq!(network["de_checkpoint_cosignatures"], 2);

    let o = custos(&["demo"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    // The files it printed are gone, and it says how to keep them.
    assert!(text.contains("custos demo --keep DIR"), "{text}");
    assert!(text.contains("What to try next:"), "{text}");
    assert!(
        text.contains("missing-required") && text.contains("SAMPLE"),
        "{text}"
    );
    for step in [
        "DE (api:desk/demo desk officer) request-info",
        "FR (api:desk/demo desk officer) provide-info",
        "-> FR: partly-executed, DE: partly-executed",
        "-> FR: closed, DE: closed",
        "NL tries to refuse: refused before sending",
        "-> FR: refused, NL: refused",
    ] {
        assert!(
            text.contains(step),
            "the narrated demo lacks {step:?}:\n{text}"
        );
    }
}

/// The demo's two cases: each step taken by the State named, and both
/// nodes showing the state the step leads to.
fn the_demo_cases_reach_their_states_alike_on_both_nodes(network: &Value) {
    let cases = network["cases"].as_array().expect("the demo's cases");
    assert_eq!(cases.len(), 2, "{cases:?}");
    let expected: [&[(&str, &str, &str)]; 2] = [
        &[
            ("DE", "acknowledge", "acknowledged"),
            ("DE", "request-info", "awaiting-information"),
            ("FR", "provide-info", "acknowledged"),
            ("DE", "consult", "consulting"),
            ("FR", "accept-conditions", "conditions-accepted"),
            ("DE", "execute-partly", "partly-executed"),
            ("FR", "close", "closed"),
        ],
        &[
            ("NL", "acknowledge", "acknowledged"),
            ("NL", "consult", "consulting"),
            ("FR", "decline-conditions", "conditions-declined"),
            ("NL", "refuse", "refused"),
        ],
    ];
    for (case, steps) in cases.iter().zip(expected) {
        let requested = case["requested"].as_str().expect("the requested State");
        let taken = case["steps"].as_array().expect("the case's steps");
        assert_eq!(taken.len(), steps.len(), "{case}");
        for (step, (by, action, state)) in taken.iter().zip(steps) {
            assert_eq!(step["by"], *by, "{step}");
            assert_eq!(step["action"], *action, "{step}");
            assert_eq!(step["states"]["FR"], *state, "{step}");
            assert_eq!(step["states"][requested], *state, "{step}");
            assert_eq!(step["actor"], "api:desk/demo desk officer", "{step}");
        }
        let (last_state, timeline) = (steps[steps.len() - 1].2, steps.len() + 1);
        for cc in ["FR", requested] {
            assert_eq!(case["final"][cc]["state"], last_state, "{case}");
            assert_eq!(case["final"][cc]["timeline"], timeline, "{case}");
        }
    }
    let executed = &cases[0];
    assert_eq!(executed["kind"], "stored-data");
    assert_eq!(executed["id"], network["timeline"][2]["request"]);
    let package = &network["evidence"]["package_id"];
    assert!(package.is_string(), "{network}");
    for cc in ["FR", "DE"] {
        assert_eq!(
            executed["final"][cc]["evidence"],
            serde_json::json!([package])
        );
    }
    let refused = &cases[1];
    assert_eq!(refused["kind"], "mla");
    assert_eq!(refused["requested"], "NL");
    let early = &refused["refused_before_sending"][0];
    assert_eq!(early["action"], "refuse");
    assert_eq!(early["status"], 409, "{early}");
    assert_eq!(early["error"]["code"], "action-not-allowed", "{early}");
    assert!(
        early["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("consultation-required") && m.contains("acknowledged")),
        "{early}"
    );
}

/// Process ids whose command line mentions `text` (Linux /proc), excluding this test process.
fn processes_mentioning(text: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(text))
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn treaty_status_reads_the_sample_and_names_bad_fields() {
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/samples/registry.sample.toml"
    );
    let o = custos(&[
        "treaty",
        "status",
        "--registry",
        sample,
        "--between",
        "FR",
        "DE",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("SAMPLE"),
        "sample data is marked: {}",
        stderr(&o)
    );
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(
        v.to_string().contains("2027-12-14"),
        "the sample's entry into force: {v}"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad_date = write(
        dir.path(),
        "bad-date.toml",
        "sample = false\nas_of = 2027-01-01\n[[party]]\ncode = \"FR\"\nsignature = 2025-13-01\n",
    );
    let o = custos(&["treaty", "status", "--registry", &bad_date]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("bad-date.toml") && stderr(&o).contains("line 5"),
        "{}",
        stderr(&o)
    );
    assert_no_panic(&o);
    let bad_code = write(
        dir.path(),
        "bad-code.toml",
        "sample = false\nas_of = 2027-01-01\n[[party]]\ncode = \"XQ\"\nsignature = 2025-10-25\n",
    );
    let o = custos(&["treaty", "status", "--registry", &bad_code]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("party[0].code"), "{}", stderr(&o));
}
