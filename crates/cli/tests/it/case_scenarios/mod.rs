//! The case scenarios of a request between two real nodes (`custos serve`
//! processes on loopback), driven only with the commands an operator types:
//! `custos request send`, `custos case act`, `custos case show`, `custos
//! evidence seal` and `send`, `custos refusals`.
//!
//! After every step both nodes must show the same case: the same state, the
//! same timeline (message ids, times, sides, States, actions and the states
//! they led to), the same clocks (kind, status, start, and due instant unless
//! paused, whose due instant moves with the time of asking), each the other's
//! allowed actions, the same conditions and evidence, and nothing refused.
//!
//! Four groups, one network each (the refusals in `refused.rs`):
//! - an MLA request through acknowledgement, more information asked and
//!   given, consultation with conditions accepted, partial execution linking
//!   an evidence package sealed and sent, and closure;
//! - an MLA request through consultation (conditions declined) to a refusal
//!   with grounds and reasons, with Germany's node on PostgreSQL when
//!   `CUSTOS_TEST_POSTGRES_URL` names a server;
//! - refusals the Convention forbids, stopped by the acting node before
//!   anything is sent (one without a prior consultation as an action the
//!   case does not allow yet; one on fiscal matters or bank secrecy alone,
//!   without grounds or without reasons as a decision that does not
//!   validate), and the same refusals forged by a hostile peer refused at
//!   intake;
//! - illegal transitions refused on both sides.
//!
//! "Every illegal transition" is, at this level, a representative set per
//! state reached by an MLA case (the exhaustive (state, action, side) table
//! is `crates/case/tests/table.rs`): in `submitted`, the requested State's
//! consultation and execution and the requesting State's acceptance of
//! conditions and acknowledgement (the other side's action); in
//! `acknowledged`, a postponement without consultation, a preservation
//! confirmed for an MLA request and the requesting State's answer to no
//! question and closure; in `awaiting-information`, execution and an
//! acceptance of conditions never proposed; in `consulting`, execution before
//! the answer and an answer to no question; in `conditions-accepted`, a
//! refusal the accepted conditions exclude and a second answer; in
//! `partly-executed`, a second acknowledgement and an acceptance of
//! conditions; in `closed`, correspondence, withdrawal and execution. Each is
//! refused by the acting node before sending (exit status 1, the case's
//! refusal code, the state and the actions allowed; nothing queued), and,
//! forged with the acting node's real signing key and posted to the other
//! node, refused there with `action-not-allowed` and the same code, logged in
//! `custos refusals`, and not taken into either node's case: a refused
//! message is not stored, so the receiver's case neither moves nor lists it.
//!
//! `readme.rs` runs the README's "A case between two nodes" as written.

use std::process::Output;
use std::time::Duration;

use custos_model::RequestKind;
use serde_json::{Value, json};

use crate::case::{act, args, show};
use crate::common::{Network, TempDatabase, draft, wait_until};

mod consent;
mod readme;
mod refused;

const DEADLINE: Duration = Duration::from_secs(30);

/// The other node of the pair.
fn other(cc: &str) -> &'static str {
    if cc == "FR" { "DE" } else { "FR" }
}

fn texts(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn timeline(view: &Value) -> &Vec<Value> {
    view["timeline"]
        .as_array()
        .unwrap_or_else(|| panic!("a case view has a timeline: {view}"))
}

/// What both nodes must agree on about each step, its signed body
/// included.
fn steps(view: &Value) -> Vec<[Value; 7]> {
    timeline(view)
        .iter()
        .map(|s| {
            [
                s["message_id"].clone(),
                s["at"].clone(),
                s["side"].clone(),
                s["state_code"].clone(),
                s["action"].clone(),
                s["state"].clone(),
                s["body"].clone(),
            ]
        })
        .collect()
}

/// The clocks as both nodes must show them: a paused clock's due instant
/// is where it would fall if the answer came at the instant of asking, so
/// it is left out.
fn clocks(view: &Value) -> Vec<Value> {
    view["clocks"]
        .as_array()
        .unwrap_or_else(|| panic!("a case view has clocks: {view}"))
        .iter()
        .map(|c| {
            let due = if c["status"] == "paused" {
                Value::Null
            } else {
                c["due"].clone()
            };
            json!([c["kind"], c["status"], c["started"], due])
        })
        .collect()
}

/// The statuses of the case's clocks, by kind.
fn clock_statuses(view: &Value) -> Vec<(String, String)> {
    view["clocks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["kind"].as_str().unwrap_or_default().to_owned(),
                c["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Both nodes' view of case `id` once they hold the same steps; asserts
/// that they show the same case, each from its own side.
fn agree(net: &Network, id: &str) -> (Value, Value) {
    let mut views = (Value::Null, Value::Null);
    wait_until(DEADLINE, "both nodes hold the same steps", || {
        views = (show(net, "FR", id), show(net, "DE", id));
        steps(&views.0) == steps(&views.1)
    });
    let (fr, de) = views;
    assert_eq!(fr["id"], de["id"]);
    assert_eq!(fr["kind"], de["kind"]);
    assert_eq!(
        (&fr["side"], &de["side"]),
        (&json!("requesting"), &json!("requested"))
    );
    assert_eq!(
        (&fr["direction"], &de["direction"]),
        (&json!("outgoing"), &json!("incoming"))
    );
    assert_eq!(
        (&fr["counterpart"], &de["counterpart"]),
        (&json!("DE"), &json!("FR"))
    );
    assert_eq!(fr["state"], de["state"], "FR: {fr}\nDE: {de}");
    assert_eq!(clocks(&fr), clocks(&de), "FR: {fr}\nDE: {de}");
    assert_eq!(fr["overdue"], de["overdue"]);
    assert_eq!(fr["allowed"], de["counterpart_allowed"]);
    assert_eq!(de["allowed"], fr["counterpart_allowed"]);
    assert_eq!(fr["conditions"], de["conditions"]);
    assert_eq!(fr["evidence"], de["evidence"]);
    for view in [&fr, &de] {
        assert_eq!(view["refused"], json!([]), "{view}");
        for s in timeline(view) {
            assert!(s["actor"].is_string(), "a step without its actor: {s}");
        }
    }
    (fr, de)
}

/// `cc` takes `action` with `custos case act`; the message must be
/// delivered (the other node's signed receipt verified), and both nodes
/// then show the case in state `expect` with the step last on the timeline.
fn step(
    net: &Network,
    id: &str,
    cc: &str,
    action: &str,
    body: Option<&Value>,
    expect: &str,
) -> (Value, Value) {
    let out = act(net, cc, id, action, body);
    assert!(
        out.status.success(),
        "{cc} {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).expect("`case act --json` prints JSON");
    assert_eq!(answer["action"], action);
    let mut delivery = answer["delivery"].as_str().unwrap_or_default().to_owned();
    if delivery == "pending" && answer["last_error"].is_null() {
        let message = answer["message_id"].as_str().unwrap_or_default();
        if let Some((state, _)) = net.servers_attempt(cc, message) {
            delivery = state;
        }
    }
    assert_eq!(delivery, "delivered", "{cc} {action}: {answer}");
    let (fr, de) = agree(net, id);
    assert_eq!(fr["state"], expect, "after {cc} {action}: {fr}");
    let last = timeline(&fr).last().cloned().unwrap_or_default();
    assert_eq!(last["message_id"], answer["message_id"], "{fr}");
    assert_eq!(last["action"], action);
    assert_eq!(last["state_code"], cc);
    // The acting node names its operator; the other names the peer node.
    let mine = if cc == "FR" { &fr } else { &de };
    let theirs = if cc == "FR" { &de } else { &fr };
    let actor = |v: &Value| timeline(v).last().map(|s| s["actor"].clone());
    assert!(
        actor(mine).is_some_and(|a| a.as_str().is_some_and(|a| a.starts_with("cli:"))),
        "{mine}"
    );
    assert_eq!(actor(theirs), Some(json!(format!("node:{cc}"))), "{theirs}");
    (fr, de)
}

/// An MLA draft from France to Germany proposing a deadline 60 days ahead,
/// sent with `custos request send`; returns the case id once both nodes
/// show it submitted.
fn mla_request(net: &Network) -> String {
    let mut d = draft(RequestKind::Mla, "FR", "DE");
    // The date a real requester would write: the wall clock's.
    #[allow(clippy::disallowed_methods)]
    let due = time::OffsetDateTime::now_utc().date() + time::Duration::days(60);
    d["deadline"] = json!({
        "date": due.to_string(),
        "reasons": "The trial opens the week after."
    });
    assert!(custos_model::validate::validate(&d).is_valid());
    let sent = net.send("FR", &d, &[]);
    assert_eq!(sent.delivery, "delivered", "{sent:?}");
    let (fr, _) = agree(net, &sent.id);
    assert_eq!(fr["state"], "submitted");
    assert_eq!(timeline(&fr)[0]["action"], "submit");
    assert_eq!(
        clock_statuses(&fr),
        vec![("deadline".to_owned(), "running".to_owned())]
    );
    sent.id
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A refusal as `custos case act refuse` takes it.
fn refusal(grounds: &[&str], reasons: &str) -> Value {
    json!({"refusal": {"grounds": grounds, "reasons": reasons}})
}

/// Seals `files` on Germany's node as its answer to request `id` and sends
/// the package to France with `custos evidence seal` and `send`; returns the
/// package id once France lists it as received.
fn evidence_for(net: &Network, id: &str) -> String {
    let files = net.scratch("account-export");
    std::fs::create_dir_all(&files).expect("a test fixture step");
    std::fs::write(
        files.join("subscriber.txt"),
        b"account 4711, opened 2026-03-02\n",
    )
    .expect("a test fixture step");
    std::fs::write(
        files.join("logins.csv"),
        b"2026-11-02T03:04:05Z,203.0.113.9\n",
    )
    .expect("a test fixture step");
    let package = net.scratch("account-export.pkg");
    let de = net.dir("DE");
    let sealed: Value = serde_json::from_str(&net.run_ok(&[
        "evidence".as_ref(),
        "seal".as_ref(),
        files.as_os_str(),
        "--request".as_ref(),
        id.as_ref(),
        "--to".as_ref(),
        "FR".as_ref(),
        "--out".as_ref(),
        package.as_os_str(),
        "--data".as_ref(),
        de.as_os_str(),
        "--json".as_ref(),
    ]))
    .expect("`evidence seal --json` prints JSON");
    let package_id = sealed["package_id"]
        .as_str()
        .unwrap_or_else(|| panic!("`evidence seal --json` names the package: {sealed}"))
        .to_owned();
    net.run_ok(&[
        "evidence".as_ref(),
        "send".as_ref(),
        package.as_os_str(),
        "--data".as_ref(),
        de.as_os_str(),
    ]);
    let fr = net.dir("FR");
    let listed: Value = serde_json::from_str(&net.run_ok(&[
        "evidence".as_ref(),
        "list".as_ref(),
        "--data".as_ref(),
        fr.as_os_str(),
        "--json".as_ref(),
    ]))
    .expect("`evidence list --json` prints JSON");
    let received = listed
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["package_id"] == package_id.as_str())
        .unwrap_or_else(|| panic!("FR lists package {package_id}: {listed}"));
    assert_eq!(received["request"], id, "{received}");
    package_id
}

/// The cases `custos case list --state STATE --json` lists on `cc`.
fn listed(net: &Network, cc: &str, state: &str) -> Vec<String> {
    let dir = net.dir(cc);
    let out = net.run_ok(&args(&["case", "list", "--state", state, "--json"], &dir));
    let list: Value = serde_json::from_str(&out).expect("`case list --json` prints JSON");
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn an_mla_case_runs_from_acknowledgement_to_closure_alike_on_both_nodes() {
    let net = Network::start(&["FR", "DE"]);
    let id = mla_request(&net);

    step(&net, &id, "DE", "acknowledge", None, "acknowledged");
    let question =
        json!({"note": "Which accounts: the subscriber's only, or also the reseller's?"});
    let (fr, _) = step(
        &net,
        &id,
        "DE",
        "request-info",
        Some(&question),
        "awaiting-information",
    );
    assert_eq!(
        clock_statuses(&fr),
        vec![("deadline".to_owned(), "paused".to_owned())],
        "asking for information pauses the deadline"
    );
    assert_eq!(
        texts(&fr["allowed"]),
        ["provide-info", "withdraw", "ask-status", "correspond"]
    );
    let answer = json!({"note": "The subscriber's account only."});
    let (fr, _) = step(
        &net,
        &id,
        "FR",
        "provide-info",
        Some(&answer),
        "acknowledged",
    );
    assert_eq!(
        clock_statuses(&fr),
        vec![("deadline".to_owned(), "running".to_owned())]
    );

    let conditions = json!({
        "conditions": ["Use only in the proceedings named in the request.", "No onward transfer."],
        "note": "We can assist on these conditions."
    });
    let (fr, _) = step(&net, &id, "DE", "consult", Some(&conditions), "consulting");
    assert_eq!(fr["conditions"], conditions["conditions"]);
    step(
        &net,
        &id,
        "FR",
        "accept-conditions",
        None,
        "conditions-accepted",
    );

    // Germany answers with a real package, sealed and sent to France, and
    // links it to the partial execution.
    let package = evidence_for(&net, &id);
    let execution = json!({"evidence": [package], "note": "Subscriber data; the logs follow."});
    let (fr, de) = step(
        &net,
        &id,
        "DE",
        "execute-partly",
        Some(&execution),
        "partly-executed",
    );
    assert_eq!(fr["evidence"], json!([package]));
    assert_eq!(de["evidence"], json!([package]));
    assert!(texts(&fr["allowed"]).contains(&"close".to_owned()), "{fr}");

    let (fr, _) = step(&net, &id, "FR", "close", None, "closed");
    assert_eq!(
        clock_statuses(&fr),
        vec![("deadline".to_owned(), "stopped".to_owned())]
    );
    // Over, the case takes only an ask for consent to use what was
    // provided (issue 18).
    assert_eq!(texts(&fr["allowed"]), ["ask-consent"]);
    assert!(texts(&fr["counterpart_allowed"]).is_empty());
    let actions: Vec<String> = timeline(&fr)
        .iter()
        .filter_map(|s| s["action"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        actions,
        [
            "submit",
            "acknowledge",
            "request-info",
            "provide-info",
            "consult",
            "accept-conditions",
            "execute-partly",
            "close"
        ]
    );
    assert_eq!(listed(&net, "FR", "closed"), std::slice::from_ref(&id));
    assert_eq!(listed(&net, "DE", "closed"), [id]);
}

#[test]
fn an_mla_case_is_refused_with_grounds_after_consultation_alike_on_both_nodes() {
    // Germany keeps its data in PostgreSQL when a server is given, so the
    // two nodes derive the case from two kinds of store.
    let db = TempDatabase::from_env();
    let url = db.as_ref().map(|d| d.url());
    let databases: Vec<(&str, &str)> = url.iter().map(|u| ("DE", u.as_str())).collect();
    let net = Network::start_with(&["FR", "DE"], &databases);
    assert_eq!(net.dir("DE").join("custos.db").exists(), db.is_none());
    let id = mla_request(&net);
    step(&net, &id, "DE", "acknowledge", None, "acknowledged");
    let conditions = json!({"conditions": ["The evidence is not used in proceedings that may lead to the death penalty."]});
    step(&net, &id, "DE", "consult", Some(&conditions), "consulting");
    step(
        &net,
        &id,
        "FR",
        "decline-conditions",
        Some(&json!({"note": "We cannot give that assurance."})),
        "conditions-declined",
    );

    let decision = refusal(
        &["R2", "R6"],
        "Without the assurance, execution would prejudice essential interests; the conduct is not an offence here.",
    );
    let (fr, _) = step(&net, &id, "DE", "refuse", Some(&decision), "refused");
    assert_eq!(
        clock_statuses(&fr),
        vec![("deadline".to_owned(), "stopped".to_owned())]
    );
    assert_eq!(texts(&fr["allowed"]), ["ask-status", "close", "correspond"]);
    assert_eq!(
        texts(&fr["counterpart_allowed"]),
        ["answer-status", "correspond"]
    );

    // Both nodes show the refusal as it was signed: the grounds, the
    // reasons and the consultation Germany's node recorded.
    let (fr, de) = agree(&net, &id);
    for view in [&fr, &de] {
        let last = timeline(view).last().cloned().unwrap_or_default();
        let body = &last["body"]["refusal"];
        assert_eq!(body["grounds"], json!(["R2", "R6"]), "{last}");
        assert_eq!(body["reasons"], decision["refusal"]["reasons"]);
        assert_eq!(body["consulted"], true);
    }
    let text = net.run_ok(&args(&["case", "show", &id], &net.dir("FR")));
    assert!(text.contains("\"grounds\":[\"R2\",\"R6\"]"), "{text}");

    step(&net, &id, "FR", "close", None, "closed");
    assert_eq!(listed(&net, "DE", "closed"), [id]);
}
